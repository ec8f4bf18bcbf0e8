# cancel_isolation.sh: one worker holds calls of two runs; cancelling one
# run stops only that run's calls.  The other run's calls go on and are paid
# once.  (Before, every call in flight was cancelled, the live run's tasks
# went back to the queue and their requests were sent, and billed, again.)
# A short lease makes the worker look at its runs while the calls are out.
. "$(dirname "$0")/lib.sh"
new_db cancel_isolation
cd "$SCRATCH"

start_fake fake_llm --latency-ms 3000
export OPENAI_API_KEY=sk-canary-cancel-5d1e

mkdir -p templates/user/description a b
printf 'Describe {{name}}.\n' >templates/user/description/default.mustache
for i in $(seq 1 10); do printf '{"sku": "A-%02d", "name": "Chair %d"}\n' "$i" "$i"; done >a/catalog.jsonl
for i in $(seq 1 10); do printf '{"sku": "B-%02d", "name": "Table %d"}\n' "$i" "$i"; done >b/catalog.jsonl
for d in a b; do
	cat >$d/skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "templates": {"dir": "../templates"},
  "queue": {"lease_s": 1.5},
  "providers": {
    "openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
               "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}}
  },
  "generators": {"writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini", "params": {"max_tokens": 50}}},
  "outputs": [{"name": "description", "template": "user/description", "generator": "writer"}]
}
JSON
done

# Two runs plan their tasks and leave the work to one worker.
"$SKUGEN" --config a/skugen.json -q run --workers 0 >a.out 2>a.err &
a_pid=$!
"$SKUGEN" --config b/skugen.json -q run --workers 0 >b.out 2>b.err &
b_pid=$!
for _ in $(seq 1 200); do
	[ "$(sql "select count(*) from skugen.tasks" 2>/dev/null)" = 20 ] && break
	sleep 0.05
done
t_is "both runs queued their tasks" "$(sql "select count(*) from skugen.tasks where state = 'queued'")" 20
run_a=$(sql "select run_id from skugen.tasks where sku = 'A-01'")

"$SKUGEN" --config a/skugen.json -q worker --exit-when-idle >worker.out 2>worker.err &
worker_pid=$!
for _ in $(seq 1 200); do
	[ "$(curl -s "$base/_fake/stats" | jq '.concurrency - 1')" = 20 ] && break
	sleep 0.05
done
# (the fake counts the stats request itself among those in flight)
t_is "the worker has every call of both runs in flight" "$(curl -s "$base/_fake/stats" | jq '.concurrency - 1')" 20

run_skugen cancel "$run_a"
t_is "cancel exits 0" "$RC" 0
wait "$worker_pid"
t_is "the worker ends when the queue is empty" "$?" 0
wait "$a_pid" "$b_pid"

t_is "the other run's tasks are all done" \
	"$(sql "select count(*) from skugen.tasks_all where sku like 'B-%' and state = 'done'")" 10
t_is "each of them claimed once" \
	"$(sql "select max(attempts) from skugen.tasks_all where sku like 'B-%'")" 1
t_is "the cancelled run's tasks end cancelled" \
	"$(sql "select count(*) from skugen.tasks_all where sku like 'A-%' and state = 'cancelled'")" 10
t_is "the provider was asked 20 times, not again for the live run" \
	"$(curl -s "$base/_fake/stats" | jq '.paths["/v1/chat/completions"] | add')" 20

t_done
