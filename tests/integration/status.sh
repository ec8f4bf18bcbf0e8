# status.sh: `skugen status` and its progress reporter follow a run that
# another process executes (plain lines, JSON lines, the live terminal line),
# and `skugen cancel` stops a run's queued tasks.
. "$(dirname "$0")/lib.sh"
new_db status
cd "$SCRATCH"

start_fake fake_llm --latency-ms 50
pids=("$fake_pid")
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$SCRATCH"' EXIT
export OPENAI_API_KEY=sk-canary-status-81c2

mkdir -p templates/user/description
printf 'Describe {{name}}.\n' >templates/user/description/default.mustache
for i in $(seq 1 30); do
	printf '{"sku": "S-%02d", "name": "Lamp %d"}\n' "$i" "$i"
done >catalog.jsonl
# rpm paces the runs so that they can be watched.
config() {
	cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {
    "openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY", "rpm": $1,
               "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}}
  },
  "generators": {"writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini", "params": {"max_tokens": 50}}},
  "outputs": [{"name": "description", "template": "user/description", "generator": "writer"}]
}
JSON
}
config 600

# wait_run N: wait until the store has run N; echo its id.
wait_run() {
	for _ in $(seq 1 200); do
		id=$(sql "select id from skugen.runs where id = $1" 2>/dev/null)
		[ -n "$id" ] && { echo "$id"; return 0; }
		sleep 0.05
	done
	return 1
}

"$SKUGEN" run >run.out 2>run.err &
run_pid=$!
pids+=("$run_pid")
run=$(wait_run 1)
t_is "the run started in another process" "$run" 1
"$SKUGEN" status --watch --interval 0.5 "$run" >/dev/null 2>plain.log &
plain_pid=$!
"$SKUGEN" status --watch --log-json --interval 0.5 "$run" >/dev/null 2>json.log &
json_pid=$!
script -qfec "$SKUGEN status --watch $run" tty.log >/dev/null 2>&1 &
tty_pid=$!
pids+=("$plain_pid" "$json_pid" "$tty_pid")
# While it runs: status RUN in text and JSON.
for _ in $(seq 1 100); do
	n=$(sql "select count(*) from skugen.tasks_all where run_id = $run and state = 'done'")
	[ "$n" -ge 3 ] && break
	sleep 0.05
done
run_skugen status "$run"
t_is "status RUN exits 0 while the run goes on" "$RC" 0
t_match "status RUN shows the run running" "$OUT" "^run $run: running, started .* UTC, running for [0-9]+s, heartbeat"
t_match "status RUN counts tasks" "$OUT" "tasks: [0-9]+/30 finished \([0-9]+%\): [0-9]+ done"
t_match "status RUN shows a rate and an ETA" "$OUT" "rate: [0-9.]+ tasks/s over the last minute, eta ([0-9]+s|[0-9]+m[0-9]+s|-)"
t_match "status RUN shows the cost and that there is no budget" "$OUT" "cost: [0-9.]+ \(no budget\)"
t_match "status RUN shows the deadline" "$OUT" "deadline: none"
t_match "status RUN shows the workers' leases" "$OUT" "workers( holding leases:|: none holds)"

wait "$run_pid"
t_is "the run finished" "$?" 0
wait "$plain_pid"
t_is "status --watch exits 0 when the run ended done" "$?" 0
wait "$json_pid"
t_is "status --watch --log-json exits 0 too" "$?" 0
for _ in $(seq 1 100); do kill -0 "$tty_pid" 2>/dev/null || break; sleep 0.05; done

# Plain lines (stderr is not a terminal).
t_ok "plain: several lines while it ran" test "$(wc -l <plain.log)" -ge 3
t_is "plain: every line has the same shape" \
	"$(grep -cvE "^run $run: [0-9]+/30 tasks \([0-9]+%\), [0-9.]+/s, (eta [0-9a-z-]+|done after [0-9a-z]+), cost [0-9.]+, [0-9]+ failed$" plain.log)" 0
t_ok "plain: a line caught the run midway" grep -qE "^run $run: ([1-9]|[12][0-9])/30 tasks" plain.log
t_match "plain: the last line says done, 30 of 30, nothing failed" "$(tail -n 1 plain.log)" "^run $run: 30/30 tasks \(100%\), .*done after .* 0 failed$"
t_is "plain: finished counts never go down" \
	"$(sed -E 's/^run [0-9]+: ([0-9]+)\/.*/\1/' plain.log | awk 'NR > 1 && $1 < p { bad++ } { p = $1 } END { print bad + 0 }')" 0

# JSON lines.
t_ok "json: every line is one JSON object" sh -c 'jq -e -c "type == \"object\"" json.log >/dev/null'
t_ok "json: several lines" test "$(wc -l <json.log)" -ge 3
t_is "json: progress events, then one end event" \
	"$(jq -r .event json.log | uniq | tr '\n' ' ')" "progress end "
last=$(tail -n 1 json.log)
t_is "json: the end event: done, 30 of 30" "$(printf '%s' "$last" | jq -r '"\(.status) \(.finished)/\(.total) \(.counts.done) \(.failures)"')" "done 30/30 30 0"
ledger=$(sql "select sum(cost) from skugen.cost_ledger where run_id = $run")
t_ok "json: the cost is the ledger's ($ledger)" sh -c "printf '%s' '$last' | jq -e --argjson x '$ledger' '(.cost - \$x) | fabs < 1e-9' >/dev/null"
t_ok "json: a line caught the run midway, with a rate and an ETA" \
	sh -c 'jq -e "select(.finished > 0 and .finished < .total and .rate > 0 and (.eta_s | type) == \"number\")" json.log | grep -q .'
t_ok "json: timestamps are UTC ISO 8601" sh -c 'jq -r .ts json.log | grep -vqE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$" && exit 1 || exit 0'
t_is "json: the run_id on every line" "$(jq -r .run_id json.log | sort -u)" "$run"

# The terminal line: redrawn in place, ended with a newline.
t_ok "tty: the line is redrawn in place (CR, erase line)" grep -q $'\r\e\\[K'"run $run: " tty.log
t_match "tty: it ends with the final numbers" "$(tr '\r' '\n' <tty.log | grep -a "run $run:" | tail -n 1)" "30/30 tasks \(100%\), .*done after"

# After the run: status RUN --json and the list.
run_skugen status "$run" --json
t_is "status RUN --json exits 0" "$RC" 0
t_is "status --json: counts" "$(printf '%s' "$OUT" | jq -r '"\(.status) \(.total) \(.counts.done) \(.remaining)"')" "done 30 30 0"
t_ok "status --json: cost is the ledger's" sh -c "printf '%s' '$OUT' | jq -e --argjson x '$ledger' '(.cost - \$x) | fabs < 1e-9' >/dev/null"
run_skugen status
t_match "status lists runs with every state and their cost" "$OUT" "waiting +done +skipped +failed +dead +cancel +bad rec +cost"
t_match "... the run itself" "$OUT" "^ +$run +run +done .* 30 .*0\.0[0-9]+"
run_skugen status --json
t_is "status --json lists runs" "$(printf '%s' "$OUT" | jq -r '.[0] | "\(.id) \(.counts.done)"')" "$run 30"
# Messages from the store cannot drive the terminal.
sql "insert into skugen.record_errors (run_id, sku, message) values ($run, 'E-1', 'catalog.jsonl:9: sku \"E-1\": bad ' || chr(27) || '[31mred')" >/dev/null
run_skugen status "$run"
t_match "a control character in a failure shows as \\x1b" "$OUT" 'bad \\x1b\[31mred'
t_is "... and is not printed raw" "$(printf '%s' "$OUT" | grep -c $'\e')" 0
run_skugen status 424242
t_is "status of an unknown run exits 2" "$RC" 2
t_match "... naming it" "$ERR" "run 424242: no such run"
run_skugen status --log-json
t_is "--log-json without --watch is a usage error" "$RC" 2

# Cancel: a slow run (one call a second) is cancelled after a few results.
config 60
"$SKUGEN" run --force --batch-size 1 >run2.out 2>run2.err &
run2_pid=$!
pids+=("$run2_pid")
run2=$(wait_run 2)
for _ in $(seq 1 200); do
	n=$(sql "select count(*) from skugen.tasks_all where run_id = $run2 and state = 'done'")
	[ "$n" -ge 2 ] && break
	sleep 0.05
done
run_skugen cancel --reason "wrong prompt" "$run2"
t_is "cancel exits 0" "$RC" 0
t_match "cancel says what it did" "$OUT" "^cancelled run $run2: [0-9]+ tasks that had not started are cancelled"
t_is "the run is cancelled" "$(sql "select status from skugen.runs where id = $run2")" cancelled
t_match "the run's message names who and why" "$(sql "select message from skugen.runs where id = $run2")" "^cancelled by .* with skugen cancel: wrong prompt$"
t_is "no task of it is queued any more" "$(sql "select count(*) from skugen.tasks_all where run_id = $run2 and state = 'queued'")" 0
n_cancelled=$(sql "select count(*) from skugen.tasks_all where run_id = $run2 and state = 'cancelled' and last_error like '%wrong prompt'")
t_ok "its unstarted tasks are cancelled with the reason" test "$n_cancelled" -gt 0
t_match "cancel counts the tasks it cancelled" "$OUT" "^cancelled run $run2: $n_cancelled tasks that had not started"
# The executing process stops: it finds nothing left to claim.
for _ in $(seq 1 300); do kill -0 "$run2_pid" 2>/dev/null || break; sleep 0.1; done
t_ok "the process running it stops (within 30 s)" sh -c "! kill -0 $run2_pid 2>/dev/null"
wait "$run2_pid"
t_is "... exiting 1 (not everything was made)" "$?" 1
t_match "... saying the run was cancelled, by whom and why" "$(cat run2.err)" "run $run2 was cancelled: cancelled by .* with skugen cancel: wrong prompt"
done2=$(sql "select count(*) from skugen.tasks_all where run_id = $run2 and state = 'done'")
t_ok "it made only part of the work ($done2 of 30)" test "$done2" -lt 30
t_is "nothing is left running" "$(sql "select count(*) from skugen.tasks_all where run_id = $run2 and state = 'running'")" 0
t_is "the run is still cancelled afterwards" "$(sql "select status from skugen.runs where id = $run2")" cancelled
run_skugen cancel "$run2"
t_is "cancelling it again exits 0" "$RC" 0
t_match "... and says it was already cancelled" "$OUT" "already cancelled"
run_skugen cancel "$run"
t_is "cancelling a finished run exits 2" "$RC" 2
t_match "... saying it had ended" "$ERR" "run $run already ended \(done"
run_skugen cancel 777
t_is "cancelling an unknown run exits 2" "$RC" 2
run_skugen report "$run2" --json cancelled.json
t_ok "the report groups the cancelled tasks under the reason" \
	sh -c 'jq -e ".cancelled.groups[0].cause | test(\"wrong prompt\")" cancelled.json >/dev/null'

# Workers elsewhere: `run --workers 0` plans and waits; two workers do the
# work, and status names them with their leases.
config 120
"$SKUGEN" run --force --workers 0 >run3.out 2>run3.err &
run3_pid=$!
pids+=("$run3_pid")
run3=$(wait_run 3)
for _ in $(seq 1 200); do
	[ "$(sql "select count(*) from skugen.tasks_all where run_id = $run3")" -ge 30 ] && break
	sleep 0.05
done
"$SKUGEN" worker --exit-when-idle --batch-size 2 >w1.out 2>w1.err &
w1=$!
"$SKUGEN" worker --exit-when-idle --batch-size 2 >w2.out 2>w2.err &
w2=$!
pids+=("$w1" "$w2")
for _ in $(seq 1 200); do
	[ "$(sql "select count(*) from skugen.tasks where run_id = $run3 and state = 'running'")" -gt 0 ] && break
	sleep 0.05
done
run_skugen status "$run3" --json
t_ok "status --json lists the workers holding leases" \
	sh -c "printf '%s' '$OUT' | jq -e '(.workers | length) >= 1 and all(.workers[]; .tasks >= 1 and .lease_left_s > 0)' >/dev/null"
t_ok "... by the names of the worker processes" \
	sh -c "printf '%s' '$OUT' | jq -r '.workers[].worker' | grep -qE ':($w1|$w2)\$'"
run_skugen status "$run3"
t_match "status shows their leases and last heartbeat" "$OUT" "workers holding leases:.*"$'\n'" +[^ ]+:($w1|$w2) +[0-9]+ tasks, lease until [0-9:]+ UTC \([0-9]+s left\), last heartbeat about [0-9]+s ago"
wait "$run3_pid"
t_is "the run that waited for the workers ends done" "$(sql "select status from skugen.runs where id = $run3")" done
wait "$w1" "$w2"
t_is "the workers did all of it" "$(sql "select count(*) from skugen.tasks_all where run_id = $run3 and state = 'done' and worker similar to '%:($w1|$w2)'")" 30

# A deadline: what it left is cancelled, and status and report say so.
config 120
run_skugen run --force --deadline 2 --batch-size 1
run4=$(sql "select max(id) from skugen.runs")
t_is "a run stopped by its deadline exits 1" "$RC" 1
run_skugen status "$run4"
t_match "status shows the deadline passed" "$OUT" "deadline: [0-9-]+ [0-9:]+ UTC \(passed [0-9]+s\)"
run_skugen report "$run4" --json deadline.json
cut=$(sql "select count(*) from skugen.tasks_all where run_id = $run4 and state = 'cancelled' and last_error like 'deadline passed%'")
t_ok "some tasks were left by the deadline ($cut)" test "$cut" -gt 0
t_is "the report counts them" "$(jq -r .deadline.tasks_cancelled deadline.json)" "$cut"
t_is "the report: the deadline stopped the run and was not met" "$(jq -r '"\(.deadline.stopped) \(.deadline.met)"' deadline.json)" "true false"
t_is "the report: the deadline is the run's" "$(jq -r .deadline.deadline deadline.json)" \
	"$(sql "select to_char(deadline at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') from skugen.runs where id = $run4")"

t_done
