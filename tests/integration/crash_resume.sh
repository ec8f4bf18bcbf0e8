# crash_resume.sh: SIGKILL `skugen run` in the middle of its work; the next
# run completes, and no generation is stored twice.
. "$(dirname "$0")/lib.sh"
new_db crash
cd "$SCRATCH"

mkdir -p templates/copy
printf '{{name}} in {{colour}}, {{#sizes}}{{.}} {{/sizes}}\n' >templates/copy/default.mustache
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US", "de_DE"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [{"name": "copy", "generator": "rules"}]
}
JSON
n=20000
for ((i = 1; i <= n; i++)); do
	printf '{"sku": "K-%06d", "name": "Item %d", "colour": "c%d", "sizes": ["S", "M", "L"]}\n' "$i" "$i" $((i % 7))
done >catalog.jsonl
expected=$((n * 2))

"$SKUGEN" run --batch-size 16 >first.out 2>first.err &
pid=$!
# Wait until generations are landing, then kill without warning.
for _ in $(seq 1 600); do
	made=$(sql "select count(*) from skugen.generations" 2>/dev/null || echo 0)
	[ "${made:-0}" -gt 500 ] && break
	sleep 0.05
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
made=$(sql "select count(*) from skugen.generations")
T_N=$((T_N + 1))
if [ "$made" -gt 0 ] && [ "$made" -lt "$expected" ]; then
	echo "ok $T_N - the run was killed mid-way ($made of $expected stored)"
else
	echo "not ok $T_N - the run was killed mid-way (stored $made of $expected)"; T_FAILED=$((T_FAILED + 1))
fi
t_is "the killed run is still marked running" "$(sql "select status from skugen.runs order by id limit 1")" running

run_skugen run
t_is "the next run completes" "$RC" 0
t_match "it makes only what was missing" "$OUT" "$((expected - made)) generated, $made unchanged, 0 failed"
t_is "every task has exactly one generation" "$(sql "select count(*) from skugen.generations")" "$expected"
t_is "no fingerprint stored twice" "$(sql "select count(distinct fingerprint) from skugen.generations")" "$expected"
t_is "no (sku, output, locale) stored twice" \
	"$(sql "select count(*) from (select 1 from skugen.generations group by sku, output, locale having count(*) > 1) d")" 0
t_is "one provenance row per generation" "$(sql "select count(*) from skugen.provenance")" "$expected"
t_is "the killed run was marked interrupted" "$(sql "select status from skugen.runs order by id limit 1")" interrupted
t_is "its unfinished tasks were cancelled" \
	"$(sql "select count(*) from skugen.tasks t join skugen.runs r on r.id = t.run_id where r.status = 'interrupted' and t.state in ('queued', 'running')")" 0

t_done
