# queue.sh: the shared queue's guarantees, against the fake OpenAI: a dead
# worker's leases are reclaimed, retryable failures come back with backoff
# and end dead after queue.max_attempts with the last error kept, a budget
# holds across two workers, a deadline stops new calls, a cancelled run is
# noticed by the worker holding its calls, and two runs started together on
# one store never pay twice.
. "$(dirname "$0")/lib.sh"
new_db queue
cd "$SCRATCH"

start_fake fake_llm --latency-ms 20 --log fake.log
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup EXIT
stat() { curl -s "$base/_fake/stats" | jq -r "$1"; }
export OPENAI_API_KEY=sk-test-queue

mkdir -p templates/user
printf 'Describe item {{sku}}: {{name}}.\n' >templates/user/default.mustache
catalog() { # catalog PREFIX N
	for ((i = 1; i <= $2; i++)); do printf '{"sku": "%s-%04d", "name": "Thing %d"}\n' "$1" "$i" "$i"; done >catalog.jsonl
}
config() { # config QUEUE-JSON
	cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {"openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
                           "max_attempts": 1, "timeout_s": 30, "circuit": {"failures": 1000, "cooldown_s": 1},
                           "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}}},
  "generators": {"writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini",
                            "params": {"max_tokens": 300}}},
  "outputs": [{"name": "description", "template": "user", "generator": "writer"}],
  "queue": $1
}
JSON
}
requests() { grep -c '^> POST /v1/chat/completions' fake.log; }
last_run() { sql "select max(id) from skugen.runs"; }

# 0. The queue's settings are checked, naming the key.
catalog Z 1
config '{"lease_s": 0}'
run_skugen run
t_is "a lease under a second is a configuration error" "$RC" 2
t_match "it names the key" "$ERR" "queue\.lease_s: expected a number of seconds, at least 1"
config '{"max_attempt": 3}'
run_skugen worker --exit-when-idle
t_is "an unknown queue key is refused" "$RC" 2
t_match "naming it" "$ERR" "max_attempt"
run_skugen worker --outputs text,sound
t_is "an unknown output kind is a usage error" "$RC" 2
t_match "naming it" "$ERR" "unknown kind \"sound\""

# 1. Lease reclaim: a worker holding calls dies; after its lease another
# worker takes the tasks back (the attempt counted) and finishes them.
config '{"lease_s": 1, "poll_s": 0.1}'
catalog A 20
fake_config '{"latency_ms": 3000}'
"$SKUGEN" -q run --workers 0 >run1.out 2>run1.err &
run_pid=$!
pids+=("$run_pid")
"$SKUGEN" -q worker >w1.out 2>w1.err &
w1=$!
pids+=("$w1")
for _ in $(seq 1 100); do
	[ "$(sql "select count(*) from skugen.tasks where state = 'running'" 2>/dev/null)" = 20 ] && break
	sleep 0.05
done
t_is "the first worker holds all 20 tasks" "$(sql "select count(distinct worker) || ' ' || count(*) from skugen.tasks where state = 'running'")" "1 20"
kill -KILL "$w1"
wait "$w1" 2>/dev/null
fake_config '{"latency_ms": 20}'
"$SKUGEN" -q worker --exit-when-idle >w2.out 2>w2.err
t_is "a second worker finishes them once their leases expired" "$(sql "select count(*) from skugen.tasks where state = 'done'")" 20
t_is "each counted two attempts" "$(sql "select min(attempts) || ' ' || max(attempts) from skugen.tasks")" "2 2"
t_is "provenance names the second attempt" "$(sql "select count(*) from skugen.provenance where attempt = 2 and activity like 'task:%/attempt:2'")" 20
wait "$run_pid"
t_is "the run that waited for them exits 0" "$?" 0
t_is "one generation per task" "$(sql "select count(*) from skugen.generations")" 20

# 2. Retries with backoff, then dead: every call fails with a 500.
config '{"lease_s": 5, "poll_s": 0.1, "max_attempts": 3, "backoff_s": 0.3, "backoff_max_s": 5}'
catalog B 5
fake_config '{"faults": [{"kind": "500", "rate": 1}]}'
before=$(requests)
run_skugen run --full
t_is "a run whose tasks all die exits 1" "$RC" 1
t_is "its tasks are dead after three attempts" \
	"$(sql "select count(*) from skugen.tasks where run_id = $(last_run) and state = 'dead' and attempts = 3")" 5
t_match "the last error is kept, with the attempts" \
	"$(sql "select last_error from skugen.tasks where run_id = $(last_run) limit 1")" "500.*dead after 3 attempts"
t_is "three calls per task, no more" "$(( $(requests) - before ))" 15
t_is "each attempt is in the cost ledger" \
	"$(sql "select count(*) from skugen.cost_ledger where run_id = $(last_run) and status = '500'")" 15
gaps=$(sql "select min(gap) from (select extract(epoch from created_at - lag(created_at) over (partition by task_id order by id)) as gap from skugen.cost_ledger where run_id = $(last_run)) g where gap is not null")
t_ok "the retries waited their backoff (shortest gap ${gaps} s >= 0.15)" awk "BEGIN {exit !($gaps >= 0.15)}"
# A transient failure: the first call of each of two tasks fails, the retry succeeds.
fake_config '{"clear_faults": true}'
catalog C 2
fake_config '{"faults": [{"kind": "503", "next": 2}]}'
run_skugen run --full
t_is "transient failures are retried to success" "$RC" 0
t_is "both tasks done on their second attempt" \
	"$(sql "select count(*) from skugen.tasks where run_id = $(last_run) and state = 'done' and attempts = 2")" 2
fake_config '{"clear_faults": true}'

# 3. A budget across two workers: each call is estimated at about 0.0002;
# whichever worker spends, the run never goes past 0.002.
config '{"lease_s": 5, "poll_s": 0.1}'
catalog D 200
fake_config '{"latency_ms": 100}'
"$SKUGEN" run --full --workers 0 --budget 0.002 >run3.out 2>run3.err &
run_pid=$!
pids+=("$run_pid")
for _ in $(seq 1 100); do
	[ "$(sql "select count(*) from skugen.tasks where state = 'queued' and sku like 'D-%'")" = 200 ] && break
	sleep 0.05
done
"$SKUGEN" -q worker --batch-size 2 --exit-when-idle >b1.out 2>b1.err &
b1=$!
"$SKUGEN" -q worker --batch-size 2 --exit-when-idle >b2.out 2>b2.err &
b2=$!
pids+=("$b1" "$b2")
wait "$run_pid"
RC=$?
ERR=$(cat run3.err)
wait "$b1" "$b2"
run=$(last_run)
t_is "a run stopped by its budget exits 1" "$RC" 1
t_match "it says the budget stopped it" "$ERR" "budget reached: spent 0\.00[0-9]+ of 0\.0020"
t_is "both workers made calls for it" "$(sql "select count(distinct worker) from skugen.provenance where run_id = $run")" 2
spent=$(sql "select sum(cost) from skugen.cost_ledger where run_id = $run")
t_is "it spent most of the budget and never more ($spent)" "$(sql "select $spent <= 0.002 and $spent > 0.0015")" t
t_is "runs.spent agrees with the ledger" "$(sql "select spent = $spent from skugen.runs where id = $run")" t
t_is "the tasks it could not start are cancelled with the reason" \
	"$(sql "select count(*) > 0 and bool_and(last_error = 'budget reached before it started') from skugen.tasks where run_id = $run and state = 'cancelled'")" t

# 4. A deadline: no call starts after it; what is left is cancelled.
catalog E 3000
fake_config '{"latency_ms": 400}'
run_skugen run --full --deadline 1 --batch-size 8
run=$(last_run)
t_is "a run stopped by its deadline exits 1" "$RC" 1
t_match "it says the deadline passed" "$ERR" "deadline passed: [0-9]+ tasks not started"
t_is "every call started before the deadline" \
	"$(sql "select count(*) from skugen.provenance p join skugen.runs r on r.id = p.run_id where r.id = $run and p.started_at > r.deadline")" 0
t_is "the tasks left are cancelled with the reason" \
	"$(sql "select count(*) > 0 from skugen.tasks where run_id = $run and state = 'cancelled' and last_error = 'deadline passed before it started'")" t
t_is "nothing is left queued or running" \
	"$(sql "select count(*) from skugen.tasks where run_id = $run and state in ('queued', 'running')")" 0

# 5. A cancelled run: the worker holding its calls notices at its next
# heartbeat, stops them and claims no more of it.
config '{"lease_s": 1.5, "poll_s": 0.1}'
catalog F 30
fake_config '{"latency_ms": 20000}'
"$SKUGEN" -q run --full --workers 0 >run5.out 2>run5.err &
run_pid=$!
pids+=("$run_pid")
"$SKUGEN" -q worker >w5.out 2>w5.err &
w5=$!
pids+=("$w5")
for _ in $(seq 1 100); do
	[ "$(sql "select count(*) from skugen.tasks where state = 'running'")" = 30 ] && break
	sleep 0.05
done
run=$(last_run)
"$SKUGEN" -q cancel "$run" >cancel.out 2>cancel.err
sleep 1.5
t_is "the worker stopped the cancelled run's calls within a heartbeat" \
	"$(sql "select count(*) from skugen.tasks where run_id = $run and state = 'running'")" 0
t_is "its tasks are cancelled" "$(sql "select count(*) from skugen.tasks where run_id = $run and state = 'cancelled'")" 30
t_ok "the worker is still alive, waiting for work" kill -0 "$w5"
kill -TERM "$w5"
wait "$w5"
t_is "and stops on SIGTERM with 0" "$?" 0
wait "$run_pid"
t_is "the run's own process ends (1: cancelled)" "$?" 1
fake_config '{"latency_ms": 20}'

# 6. Two runs started together on one store pay for each task once (answers
# take 500 ms, so that the first run's tasks are still queued or in flight
# when the second plans).
config '{"lease_s": 5, "poll_s": 0.1}'
catalog G 300
fake_config '{"latency_ms": 500}'
before=$(requests)
"$SKUGEN" -q run --full >g1.out 2>g1.err &
g1=$!
"$SKUGEN" -q run --full >g2.out 2>g2.err &
g2=$!
wait "$g1"; r1=$?
wait "$g2"; r2=$?
t_is "both runs exit 0" "$r1 $r2" "0 0"
t_is "each task was paid for once" "$(( $(requests) - before ))" 300
t_is "one generation per SKU" "$(sql "select count(*) from skugen.generations where sku like 'G-%'")" 300
t_is "between them the two runs made each task once" \
	"$(sql "select count(*) from skugen.tasks where sku like 'G-%' and state = 'done'")" 300
t_match "what one run found queued by the other it counts unchanged" "$(cat g1.out g2.out)" "unchanged"
t_match "and says who makes them" "$(cat g1.out g2.out)" "queued by another run, which makes them"

# 6b. run --workers 3: this process and two `skugen worker --run` children.
catalog H 300
fake_config '{"latency_ms": 100}'
run_skugen run --full --workers 3 --batch-size 4
t_is "a run with three local workers exits 0" "$RC" 0
t_match "it made every task" "$OUT" "300 generated, 0 unchanged, 0 failed"
t_ok "more than one process made them ($(sql "select count(distinct worker) from skugen.provenance where run_id = $(last_run)"))" \
	[ "$(sql "select count(distinct worker) from skugen.provenance where run_id = $(last_run)")" -ge 2 ]
t_is "no worker process is left behind" "$(pgrep -f "worker --run $(last_run)" | wc -l)" 0
fake_config '{"latency_ms": 20}'

# 7. The archive: finished tasks of runs that ended move out of the queue table.
total=$(sql "select count(*) from skugen.tasks")
config '{"archive_after_s": 0}'
run_skugen run
t_is "a run with archive_after_s 0 exits 0" "$RC" 0
t_match "it says what it archived" "$ERR" "archived [0-9]+ tasks"
t_is "only the last run's tasks stay in skugen.tasks" \
	"$(sql "select count(distinct run_id) = 1 and min(run_id) = (select max(id) from skugen.runs) from skugen.tasks")" t
t_is "nothing is lost: tasks_all has them all" "$(sql "select count(*) from skugen.tasks_all")" \
	"$((total + $(sql "select count(*) from skugen.tasks where run_id = (select max(id) from skugen.runs)")))"

t_done
