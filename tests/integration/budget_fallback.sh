# budget_fallback.sh: a run's budget when a call fails and the chain falls
# back (queue_reserve, exec_job.c's run_llm).
#  1. The fallback's reservation adds to the failed call's: that call's cost
#     is not in runs.spent until the task commits, so a fallback that fits
#     the budget alone but not beside it is not started.  (Before, it
#     replaced the first reservation and the second call went out.)
#  2. A worker whose task was reclaimed by another while its call was out
#     (stopped past its lease) lets the task go when its call fails and the
#     fallback asks for a reservation: it does not take the refusal for a
#     spent budget.  (Before, it stopped the run as if its budget were spent:
#     its queued tasks were cancelled "budget reached before it started".)
. "$(dirname "$0")/lib.sh"
new_db budget_fallback
cd "$SCRATCH"

start_fake fake_llm --latency-ms 20
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup EXIT
export OPENAI_API_KEY=sk-test-budget-fallback
stat() { curl -s "$base/_fake/stats" | jq -r "$1"; }
calls() { stat '[.paths["/v1/chat/completions"] // {} | .[]] | add // 0'; }

mkdir -p templates/user
printf 'Describe item {{sku}}: {{name}}.\n' >templates/user/default.mustache
catalog() { # catalog PREFIX N
	for ((i = 1; i <= $2; i++)); do printf '{"sku": "%s-%02d", "name": "Thing %d"}\n' "$1" "$i" "$i"; done >catalog.jsonl
}
# Two generators on the same model, the second the first's fallback; each
# call is estimated at max_tokens 1000 x 0.6/Mtok = 0.0006 (plus the prompt).
cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {"openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
                           "max_attempts": 1, "timeout_s": 30, "circuit": {"failures": 1000, "cooldown_s": 1},
                           "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}}},
  "generators": {
    "writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini", "params": {"max_tokens": 1000}},
    "spare": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini", "params": {"max_tokens": 1000}}
  },
  "outputs": [{"name": "description", "template": "user", "generator": "writer", "fallback": ["spare"]}],
  "queue": {"lease_s": 1, "poll_s": 0.1}
}
JSON

# 1. The first call is cut at max_tokens (paid, then a fallback).  With a
# budget for both calls the fallback makes the description.
catalog A 1
fake_config '{"faults": [{"kind": "length", "next": 1}]}'
before=$(calls)
run_skugen run --full --budget 0.002
t_is "with room for both calls the run exits 0" "$RC" 0
t_is "the first call and its fallback were made" "$(( $(calls) - before ))" 2
t_is "the fallback made the description" \
	"$(sql "select p.generator || ' after ' || p.fallback_from from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.sku = 'A-01'")" \
	"llm after writer"

# With room for one call only, the fallback is not started.
catalog B 1
fake_config '{"faults": [{"kind": "length", "next": 1}]}'
before=$(calls)
run_skugen run --full --budget 0.001
run=$(sql "select max(id) from skugen.runs")
t_is "only the first call was made" "$(( $(calls) - before ))" 1
t_is "the run stopped by its budget exits 1" "$RC" 1
t_match "and says so" "$ERR" "budget reached"
t_is "the task is cancelled, not made by the fallback" \
	"$(sql "select state || ': ' || last_error from skugen.tasks where run_id = $run")" \
	"cancelled: budget reached before it started"
t_is "what was spent stays within the budget" \
	"$(sql "select spent <= budget and spent > 0 from skugen.runs where id = $run")" t

# 2. A worker holds C-01's call (3 s) and is stopped past its lease; a second
# worker reclaims the task and makes it.  The first worker, continued, gets
# a 500 and falls back: the task is no longer its own.  C-02 waits (a retry
# time an hour away) as a task of the run not yet started.
catalog C 2
fake_config '{"latency_ms": 3000, "faults": [{"kind": "500", "next": 1}]}'
"$SKUGEN" -q run --full --workers 0 --budget 1 >run2.out 2>run2.err &
run_pid=$!
pids+=("$run_pid")
wait_is 2 sql "select count(*) from skugen.tasks where sku like 'C-%' and state = 'queued'"
run=$(sql "select max(id) from skugen.runs")
sql "update skugen.tasks set not_before = now() + interval '1 hour' where run_id = $run and sku = 'C-02'" >/dev/null
"$SKUGEN" -q worker --exit-when-idle >w1.out 2>w1.err &
w1=$!
pids+=("$w1")
wait_is 1 stat '.concurrency - 1'
# (the fake counts the stats request itself among those in flight)
t_is "the first worker's call is out" "$(stat '.concurrency - 1')" 1
kill -STOP "$w1"
fake_config '{"latency_ms": 200}'
sleep 1.5
"$SKUGEN" -q worker --exit-when-idle >w2.out 2>w2.err &
w2=$!
pids+=("$w2")
wait_is 2 sql "select attempts from skugen.tasks where run_id = $run and sku = 'C-01'"
t_is "the second worker reclaimed C-01" \
	"$(sql "select attempts || ' ' || (worker not like '%:$w1') from skugen.tasks where run_id = $run and sku = 'C-01'")" "2 true"
kill -CONT "$w1"
# the first worker's failed call reaches the ledger once it has handled it
# (its fallback asked for a reservation then)
wait_is 1 sql "select count(*) from skugen.cost_ledger where run_id = $run and attempt = 1 and status = '500'"
t_is "the first worker handled its failed call" \
	"$(sql "select count(*) from skugen.cost_ledger where run_id = $run and attempt = 1 and status = '500'")" 1
t_is "the run's waiting task was not cancelled for a budget" \
	"$(sql "select state || coalesce(': ' || last_error, '') from skugen.tasks where run_id = $run and sku = 'C-02'")" queued
sql "update skugen.tasks set not_before = null where run_id = $run and sku = 'C-02'; notify skugen_tasks" >/dev/null
wait "$run_pid"
t_is "the run exits 0" "$?" 0
wait "$w1" "$w2"
t_is "both of its tasks are done" \
	"$(sql "select count(*) from skugen.tasks where run_id = $run and state = 'done'")" 2
t_is "C-01 was made once, by the second worker's attempt" \
	"$(sql "select count(*) || ' ' || min(p.attempt) from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.sku = 'C-01'")" "1 2"

t_done
