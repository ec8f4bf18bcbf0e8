# failed_run.sh: a run that fails (here: its process stopped by SIGTERM)
# cancels only the tasks it has not started.  Tasks a worker elsewhere holds,
# their calls out and paid for, stay that worker's: their answers are stored
# when they come, and no call is made twice.  (Before, run_finish cancelled
# the running tasks too, and the answers that came were thrown away.)
. "$(dirname "$0")/lib.sh"
new_db failed_run
cd "$SCRATCH"

start_fake fake_llm --latency-ms 3000
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup EXIT
export OPENAI_API_KEY=sk-test-failed-run
stat() { curl -s "$base/_fake/stats" | jq -r "$1"; }
calls() { stat '[.paths["/v1/chat/completions"] // {} | .[]] | add // 0'; }

mkdir -p templates/user
printf 'Describe item {{sku}}: {{name}}.\n' >templates/user/default.mustache
for i in 1 2 3 4 5 6; do printf '{"sku": "F-%02d", "name": "Thing %d"}\n' "$i" "$i"; done >catalog.jsonl
cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {"openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
                           "max_attempts": 1, "timeout_s": 30,
                           "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}}},
  "generators": {"writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini",
                            "params": {"max_tokens": 100}}},
  "outputs": [{"name": "description", "template": "user", "generator": "writer"}],
  "queue": {"lease_s": 5, "poll_s": 0.1}
}
JSON

# The run plans six tasks and leaves them to a worker; three of them wait (a
# retry time an hour away), the worker takes the other three, their calls
# answering after 3 s.
"$SKUGEN" run --workers 0 >run.out 2>run.err &
run_pid=$!
pids+=("$run_pid")
wait_is 6 sql "select count(*) from skugen.tasks where state = 'queued'"
run=$(sql "select max(id) from skugen.runs")
sql "update skugen.tasks set not_before = now() + interval '1 hour' where run_id = $run and sku in ('F-04', 'F-05', 'F-06')" >/dev/null
"$SKUGEN" -q worker --exit-when-idle >worker.out 2>worker.err &
worker_pid=$!
pids+=("$worker_pid")
wait_is 3 stat '.concurrency - 1'
# (the fake counts the stats request itself among those in flight)
t_is "the worker has three calls out" "$(stat '.concurrency - 1')" 3
t_is "their tasks are running, the others queued" \
	"$(sql "select string_agg(state, ' ' order by sku) from skugen.tasks where run_id = $run")" \
	"running running running queued queued queued"

kill -TERM "$run_pid"
wait "$run_pid"
t_is "the run's process, stopped, exits 1" "$?" 1
t_match "it says the tasks not started are cancelled" "$(cat run.err)" "stopped by a signal"
t_is "the run is failed" "$(sql "select status from skugen.runs where id = $run")" failed
t_is "its queued tasks are cancelled at once, with the reason" \
	"$(sql "select count(*) from skugen.tasks where run_id = $run and state = 'cancelled' and last_error = 'the run failed'")" 3

wait "$worker_pid"
t_is "the worker ends when nothing is left (exit 0)" "$?" 0
t_is "the answers in flight were stored" \
	"$(sql "select string_agg(state, ' ' order by sku) from skugen.tasks where run_id = $run")" \
	"done done done cancelled cancelled cancelled"
t_is "one generation for each of them" \
	"$(sql "select count(*) from skugen.generations where run_id = $run")" 3
t_is "the provider was asked three times, once a task" "$(calls)" 3
t_is "what they cost is in the run's spent" \
	"$(sql "select spent > 0 and spent = (select sum(cost) from skugen.cost_ledger where run_id = $run) from skugen.runs where id = $run")" t

t_done
