# report.sh: `skugen report` for a run made against the fake provider with
# latency and with failures: every number checked against SQL over the
# store, failures grouped by cause, the HTML page well-formed, self-contained
# and escaping a hostile SKU.
. "$(dirname "$0")/lib.sh"
new_db report
cd "$SCRATCH"

start_fake fake_llm --latency-ms 50
export OPENAI_API_KEY=sk-canary-report-5d1e

mkdir -p templates/user/description templates/title
printf 'Describe {{name}} by {{brand}}, made of {{material}}.\n' >templates/user/description/default.mustache
printf '{{brand}} {{name}}\n' >templates/title/default.mustache
{
	for i in $(seq 1 24); do
		printf '{"sku": "R-%02d", "name": "Chair %d", "brand": "Oak & Co", "material": "oak"}\n' "$i" "$i"
	done
	# Three records miss the field the description template reads: one cause.
	printf '{"sku": "M-1", "name": "Stool", "brand": "Oak & Co"}\n'
	printf '{"sku": "M-2", "name": "Bench", "brand": "Oak & Co"}\n'
	printf '{"sku": "<script>alert(1)</script>", "name": "Evil", "brand": "X"}\n'
	# A record that cannot be read: a bad record, another cause.
	printf '{"sku": "BROKEN-1", "name": \n'
} >catalog.jsonl
cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {
    "openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
               "max_attempts": 1, "backoff_ms": 10,
               "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}}
  },
  "generators": {
    "writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini", "params": {"max_tokens": 200}},
    "rules": {"type": "template"}
  },
  "outputs": [
    {"name": "description", "template": "user/description", "generator": "writer"},
    {"name": "title", "generator": "rules"}
  ]
}
JSON

run_skugen run
t_is "the run completes with failures (exit 1)" "$RC" 1
run=$(sql "select max(id) from skugen.runs")

run_skugen report "$run" --json report.json --html report.html
t_is "report exits 0" "$RC" 0
j() { jq -r "$1" report.json; }
jt() { jq -e "$@" >/dev/null; }   # jt FILTER [ARGS] FILE: the filter holds
t_ok "the JSON parses" jt . report.json
q() { sql "$1"; }

t_is "report_version" "$(j .report_version)" 1
t_is "the top-level keys are the documented ones (batch/report.h)" "$(j 'keys_unsorted | join(" ")')" \
	"report_version generated_at run timings tasks by_output by_provider cost latency_ms latency_remote_ms throughput budget deadline failures cancelled"
t_is "failures has the documented keys" "$(j '.failures | keys | join(" ")')" "grouped groups records tasks total truncated"
t_is "a failure group has the documented keys" "$(j '.failures.groups[0] | keys | join(" ")')" "cause count example example_skus kind states"
t_is "run id and status" "$(j '"\(.run.id) \(.run.status)"')" "$run $(q "select status from skugen.runs where id = $run")"
t_is "tasks.total is the run's task count" "$(j .tasks.total)" "$(q "select count(*) from skugen.tasks_all where run_id = $run")"
for s in done failed skipped; do
	t_is "tasks.by_state.$s matches SQL" "$(j ".tasks.by_state.$s // 0")" \
		"$(q "select count(*) from skugen.tasks_all where run_id = $run and state = '$s'")"
done
t_is "by_output: description done" "$(j '.by_output[] | select(.output == "description") | .by_state.done')" \
	"$(q "select count(*) from skugen.tasks_all where run_id = $run and output = 'description' and state = 'done'")"
t_is "by_output: title total" "$(j '.by_output[] | select(.output == "title") | .total')" \
	"$(q "select count(*) from skugen.tasks_all where run_id = $run and output = 'title'")"
t_is "by_provider: openai generations match provenance" \
	"$(j '.by_provider[] | select(.provider == "openai") | .generations')" \
	"$(q "select count(*) from skugen.provenance where run_id = $run and provider = 'openai'")"
t_is "by_provider: the template generator counts as local" \
	"$(j '.by_provider[] | select(.provider == "local") | .generations')" \
	"$(q "select count(*) from skugen.provenance where run_id = $run and (provider is null or provider = 'local')")"
t_is "openai generations: 24" "$(j '.by_provider[] | select(.provider == "openai") | .generations')" 24

ledger=$(q "select sum(cost) from skugen.cost_ledger where run_id = $run")
t_ok "cost.total equals the ledger ($ledger)" jt --argjson x "$ledger" '(.cost.total - $x) | fabs < 1e-9' report.json
t_ok "cost.total is above zero" jt '.cost.total > 0' report.json
t_is "cost by provider: attempts without error match the ledger" \
	"$(j '.cost.by_provider[] | select(.provider == "openai") | "\(.ok) \(.failed)"')" \
	"$(q "select count(*) filter (where error = 'ok') || ' ' || count(*) filter (where error <> 'ok') from skugen.cost_ledger where run_id = $run and provider = 'openai'")"
t_is "cost by provider: openai calls match the ledger" "$(j '.cost.by_provider[] | select(.provider == "openai") | .calls')" \
	"$(q "select count(*) from skugen.cost_ledger where run_id = $run and provider = 'openai'")"

p50=$(q "select round((percentile_cont(0.5) within group (order by latency_ms))::numeric, 3) from skugen.provenance where run_id = $run")
p95=$(q "select round((percentile_cont(0.95) within group (order by latency_ms))::numeric, 3) from skugen.provenance where run_id = $run")
t_ok "latency p50 matches percentile_cont ($p50)" jt --argjson x "$p50" '(.latency_ms.p50 - $x) | fabs < 0.001' report.json
t_ok "latency p95 matches percentile_cont ($p95)" jt --argjson x "$p95" '(.latency_ms.p95 - $x) | fabs < 0.001' report.json
rp50=$(q "select round((percentile_cont(0.5) within group (order by latency_ms))::numeric, 3) from skugen.provenance where run_id = $run and provider <> 'local'")
t_ok "remote latency p50 leaves local generators out ($rp50)" jt --argjson x "$rp50" '((.latency_remote_ms.p50 - $x) | fabs < 0.001) and .latency_remote_ms.n == 24' report.json
t_ok "openai p50 reflects the fake's 50 ms latency" \
	jt '.by_provider[] | select(.provider == "openai") | .latency_ms.p50 >= 50 and .latency_ms.p50 < 1000' report.json
t_ok "p95 >= p50" jt '.latency_ms.p95 >= .latency_ms.p50' report.json
t_ok "throughput: worked tasks and a rate" jt '.throughput.worked > 0 and .throughput.tasks_per_s > 0' report.json
t_is "throughput.worked is done + failed + dead" "$(j .throughput.worked)" \
	"$(q "select count(*) from skugen.tasks_all where run_id = $run and state in ('done', 'failed', 'dead')")"
t_ok "timings: started, finished, a duration" jt '.timings.started_at and .timings.finished_at and .timings.duration_s > 0' report.json

fails=$(q "select (select count(*) from skugen.tasks_all where run_id = $run and state in ('failed', 'dead')) + (select count(*) from skugen.record_errors where run_id = $run)")
t_is "failures.total is failed tasks + bad records" "$(j .failures.total)" "$fails"
t_ok "there are failures of both kinds" jt '.failures.tasks >= 3 and .failures.records >= 1' report.json
t_is "the group counts add up" "$(j '[.failures.groups[].count] | add')" "$fails"
t_is "all of them were grouped" "$(j '"\(.failures.grouped) \(.failures.truncated)"')" "$fails false"
t_is "the three missing-material failures are one cause" \
	"$(j '[.failures.groups[] | select(.cause | test("missing key \"material\""))] | length')" 1
t_is "... counted three times" "$(j '.failures.groups[] | select(.cause | test("missing key \"material\"")) | .count')" 3
t_is "... with the three SKUs as examples" \
	"$(j '.failures.groups[] | select(.cause | test("material")) | .example_skus | sort | join(",")')" \
	"<script>alert(1)</script>,M-1,M-2"
t_ok "the cause has neither SKU nor line numbers in it" \
	jt '.failures.groups[] | select(.cause | test("material")) | (.cause | test("M-1|M-2|<script>|:[0-9]") | not)' report.json
t_ok "the largest group comes first" jt '.failures.groups[0].count == ([.failures.groups[].count] | max)' report.json
t_ok "no budget: budget null, not stopped" jt '.budget.budget == null and .budget.stopped == false' report.json
t_ok "no deadline: deadline null, met null" jt '.deadline.deadline == null and .deadline.met == null' report.json

# The page: well-formed, self-contained, the hostile SKU only as text.
t_ok "the page is well-formed XML" xmllint --noout report.html
html=$(cat report.html)
t_match "the hostile SKU is escaped" "$html" '&lt;script&gt;alert\(1\)&lt;/script&gt;'
t_is "no script element anywhere" "$(grep -ci '<script' report.html)" 0
t_is "no external URL (only XML namespaces)" "$(grep -oE '(https?:)?//[a-z0-9.-]+' report.html | grep -v '//www.w3.org' | wc -l)" 0
t_is "no src or href attributes" "$(grep -cE ' (src|href)=' report.html)" 0
t_match "a Content-Security-Policy with default-src 'none'" "$html" "Content-Security-Policy\" content=\"default-src 'none'; style-src 'sha256-"
t_match "the page shows the run's numbers" "$html" "Failures by cause \($fails\)"
t_match "the cost tile shows the ledger's total" "$html" "$(printf '%.4f' "$ledger")"
t_match "the page names the provider and model" "$html" '<td>openai</td><td>gpt-4o-mini</td>'
t_match "the page shows the remote latency" "$html" "<b>$(jq -r '.latency_remote_ms.p50 | round' report.json) / [0-9]+</b><span>remote latency p50 / p95 \(ms\)"
t_is "the CSP hash is the stylesheet's" \
	"$(sed -n 's/.*style-src .sha256-\([^'"'"']*\).*/\1/p' report.html)" \
	"$(sed -n '/<style>/,/<\/style>/p' report.html | sed '1s/.*<style>//; $s/<\/style>.*//' | head -c -1 | openssl dgst -sha256 -binary | base64)"

# Stdout, default run, errors.
run_skugen report
t_is "report without RUN reports the newest run" "$(printf '%s' "$OUT" | jq -r .run.id)" "$run"
run_skugen report 999999
t_is "an unknown run is a usage error (exit 2)" "$RC" 2
t_match "... saying so" "$ERR" "run 999999: no such run"
run_skugen report "$run" --html /nonexistent/dir/r.html
t_is "an unwritable file exits 3" "$RC" 3

# A budget stop shows in the report.
run_skugen run --force --budget 0.000001
run2=$(sql "select max(id) from skugen.runs")
run_skugen report "$run2" --json budget.json
t_is "the budget is the run's" "$(jq -r '.budget.budget' budget.json)" "$(q "select coalesce(budget::float8::text, 'null') from skugen.runs where id = $run2")"
t_is "tasks the budget cancelled match SQL" "$(jq -r .budget.tasks_cancelled budget.json)" \
	"$(q "select count(*) from skugen.tasks_all where run_id = $run2 and state = 'cancelled' and last_error like 'budget reached%'")"
t_ok "the budget is 0.000001" jt '.budget.budget == 0.000001' budget.json
t_ok "the budget stopped the run" jt '.budget.stopped == true and .budget.tasks_cancelled > 0' budget.json
t_ok "the cancellations are grouped by reason" jt '.cancelled.total > 0 and (.cancelled.groups[0].cause | test("budget"))' budget.json

t_done
