# regen_priority.sh: a regen jumps a queue of 10,000 nightly tasks.  A
# nightly run is planned and a worker is busy with it against a fake OpenAI
# that answers in 200 ms; `skugen regen --wait` of one SKU (left to the
# running worker: --workers 0) takes over that SKU's queued nightly task at
# priority 100, prints its result as it lands and returns in under 2 s,
# while most of the nightly work is still queued.
. "$(dirname "$0")/lib.sh"
new_db regen_priority
cd "$SCRATCH"

start_fake fake_llm --latency-ms 200
cleanup() {
	kill -KILL ${worker_pid:-} ${run_pid:-} 2>/dev/null
	t_cleanup
}
trap cleanup EXIT
export OPENAI_API_KEY=sk-test-regen-priority

mkdir -p templates/user
printf 'Describe item {{sku}}: {{name}}.\n' >templates/user/default.mustache
cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {"openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
                           "rpm": 30000, "max_attempts": 1}},
  "generators": {"writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini",
                            "params": {"max_tokens": 60}}},
  "outputs": [{"name": "description", "template": "user", "generator": "writer"}],
  "queue": {"lease_s": 10, "poll_s": 0.5}
}
JSON
n=10000
for ((i = 1; i <= n; i++)); do printf '{"sku": "N-%05d", "name": "Night %d"}\n' "$i" "$i"; done >catalog.jsonl

"$SKUGEN" -q run --workers 0 >run.out 2>run.err &
run_pid=$!
for _ in $(seq 1 200); do
	[ "$(sql "select count(*) from skugen.tasks where state = 'queued'" 2>/dev/null)" = "$n" ] && break
	sleep 0.05
done
t_is "the nightly run queued its 10,000 tasks" "$(sql "select count(*) from skugen.tasks where state = 'queued'")" "$n"
"$SKUGEN" -q worker >worker.out 2>worker.err &
worker_pid=$!
for _ in $(seq 1 200); do
	[ "$(sql "select count(*) from skugen.tasks where state = 'done'")" -gt 200 ] && break
	sleep 0.05
done

sku=N-09999
t0=$(date +%s%N)
run_skugen regen --workers 0 --wait "$sku"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
queued=$(sql "select count(*) from skugen.tasks t join skugen.runs r on r.id = t.run_id where r.kind = 'run' and t.state = 'queued'")
echo "# regen took $ms ms; $queued nightly tasks still queued"
t_is "regen exits 0" "$RC" 0
t_ok "regen finished in under 2 s ($ms ms)" [ "$ms" -lt 2000 ]
t_ok "most of the nightly queue was still waiting ($queued)" [ "$queued" -gt 5000 ]
t_match "it printed the result as it landed" "$OUT" "^$sku description en_US: done \(generation [0-9]+\): [a-z]"
t_is "the nightly task of that SKU was taken over" \
	"$(sql "select last_error from skugen.tasks t join skugen.runs r on r.id = t.run_id where r.kind = 'run' and t.sku = '$sku'")" \
	"taken over by run $(sql "select max(id) from skugen.runs where kind = 'regen'") at priority 100"
t_is "the regen's task is done at priority 100" \
	"$(sql "select state || ' ' || priority from skugen.tasks t join skugen.runs r on r.id = t.run_id where r.kind = 'regen'")" "done 100"
t_is "one generation for that SKU" "$(sql "select count(*) from skugen.generations where sku = '$sku'")" 1

# Without --wait and without local workers, an unchanged SKU is left alone.
run_skugen regen --workers 0 "$sku"
t_is "a second regen of the unchanged SKU exits 0" "$RC" 0
t_match "it makes nothing" "$OUT" "0 generated, 1 unchanged, 0 failed"

kill -TERM "$worker_pid"
wait "$worker_pid"
t_is "the worker stops on SIGTERM with 0" "$?" 0
t_is "it left no task running (in flight finished, leases released)" \
	"$(sql "select count(*) from skugen.tasks where state = 'running'")" 0
kill -TERM "$run_pid"
wait "$run_pid"
t_done
