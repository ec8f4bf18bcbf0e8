# workers_kill.sh: three `skugen worker`s share one queue of 10,000 tasks
# against the fake OpenAI while a loop SIGKILLs a random one every few
# seconds and starts it again.  Every task ends done exactly once (one
# generation per fingerprint, one provenance row each), and the fake's
# request log shows no paid repeat beyond the calls that dying workers left
# unanswered: a task is asked for at most once per claim, never after its
# answer was committed.
. "$(dirname "$0")/lib.sh"
new_db workers_kill
cd "$SCRATCH"

start_fake fake_llm --latency-ms 40 --jitter-ms 20 --log fake.log
declare -a wpid=()
cleanup() {
	for p in "${wpid[@]}" ${run_pid:-}; do kill -KILL "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup EXIT
export OPENAI_API_KEY=sk-test-workers-kill

mkdir -p templates/user
printf 'Describe item {{sku}}: {{name}}.\n' >templates/user/default.mustache
cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {"openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
                           "rpm": 4000, "max_attempts": 1, "timeout_s": 20}},
  "generators": {"writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini",
                            "params": {"max_tokens": 60}}},
  "outputs": [{"name": "description", "template": "user", "generator": "writer"}],
  "queue": {"lease_s": 2, "poll_s": 0.2, "backoff_s": 0.1, "max_attempts": 50}
}
JSON
n=10000
for ((i = 1; i <= n; i++)); do printf '{"sku": "W-%05d", "name": "Widget %d"}\n' "$i" "$i"; done >catalog.jsonl

start=$(date +%s)
# The run plans and waits (--workers 0): the three workers do the work, each
# held to 4,000 requests a minute, so that the 10,000 take most of a minute.
"$SKUGEN" -q run --workers 0 >run.out 2>run.err &
run_pid=$!
start_worker() { "$SKUGEN" -q worker --exit-when-idle >>"worker$1.out" 2>>"worker$1.err" & wpid[$1]=$!; }
for k in 0 1 2; do start_worker "$k"; done

kills=0
while kill -0 "$run_pid" 2>/dev/null; do
	sleep $((2 + RANDOM % 2))
	kill -0 "$run_pid" 2>/dev/null || break
	[ $(($(date +%s) - start)) -gt 110 ] && break
	k=$((RANDOM % 3))
	kill -KILL "${wpid[$k]}" 2>/dev/null && kills=$((kills + 1))
	wait "${wpid[$k]}" 2>/dev/null
	start_worker "$k"
done
wait "$run_pid"
rc=$?
for k in 0 1 2; do wait "${wpid[$k]}" 2>/dev/null; done
elapsed=$(($(date +%s) - start))
echo "# $kills workers killed; $elapsed s"

t_is "the run exits 0" "$rc" 0
t_ok "workers were killed while it ran ($kills)" [ "$kills" -ge 2 ]
t_ok "it took under two minutes ($elapsed s)" [ "$elapsed" -lt 120 ]
t_is "every task is done" "$(sql "select count(*) from skugen.tasks where state = 'done'")" "$n"
t_is "nothing failed, died or was cancelled" \
	"$(sql "select count(*) from skugen.tasks where state not in ('done')")" 0
t_is "one generation per task" "$(sql "select count(*) from skugen.generations")" "$n"
t_is "no fingerprint stored twice" "$(sql "select count(distinct fingerprint) from skugen.generations")" "$n"
t_is "one provenance row per generation" \
	"$(sql "select count(*) from skugen.provenance p join skugen.generations g on g.id = p.generation_id")" "$n"
t_is "each generation is its task's (the id reserved at its claim)" \
	"$(sql "select count(*) from skugen.tasks t join skugen.generations g on g.id = t.generation_id and g.task_id = t.id")" "$n"
reclaimed=$(sql "select coalesce(sum(attempts - 1), 0) from skugen.tasks")
t_ok "the killed workers' tasks were reclaimed and made again ($reclaimed repeats)" [ "$reclaimed" -gt 0 ]

# The fake's log: one line per generation request, with the SKU in the prompt.
grep -o 'Describe item W-[0-9]*' fake.log | sed 's/Describe item //' | sort | uniq -c |
	awk '{print $2 "," $1}' >requests.csv
requests=$(awk -F, '{s += $2} END {print s + 0}' requests.csv)
sql "select sku || ',' || attempts from skugen.tasks order by sku" >attempts.csv
echo "# $requests requests for $n tasks; $reclaimed claims lost with a worker"
t_is "every task was asked for" "$(wc -l <requests.csv)" "$n"
t_is "no task was asked for more often than it was claimed (never again once committed)" \
	"$(join -t, requests.csv attempts.csv | awk -F, '$2 > $3' | wc -l)" 0
t_ok "paid repeats ($((requests - n))) are only the calls of claims lost with a killed worker ($reclaimed)" \
	[ $((requests - n)) -le "$reclaimed" ]
t_is "the fake counted every request" "$(curl -s "$base/_fake/stats" | jq '.paths["/v1/chat/completions"]["200"] // 0')" "$requests"

t_done
