# bad_input.sh: the nasty records a real catalog has.  Each gives a clear
# error naming the file, the line and the SKU when known; the record is
# recorded as failed; every good record is still generated.
. "$(dirname "$0")/lib.sh"
new_db bad_input
cd "$SCRATCH"

mkdir -p templates/copy
printf '{{name}} by {{brand}}\n' >templates/copy/default.mustache
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [{"name": "copy", "generator": "rules"}]
}
JSON
{
	printf '{"sku": "G-1", "name": "Good one", "brand": "Acme"}\n'
	printf '{"sku": "M-2", "name": "Malformed", "brand": \n'
	printf '{"sku": "U-3", "name": "Bad \xff\xfe bytes", "brand": "Acme"}\n'
	printf '{"name": "No SKU at all", "brand": "Acme"}\n'
	printf '{"sku": "G-1", "name": "Duplicate of line 1", "brand": "Acme"}\n'
	printf '{"sku": "N-5", "name": "Nul\x00byte", "brand": "Acme"}\n'
	printf '{"sku": "B-6", "name": "Huge", "brand": "Acme", "description": "%s"}\n' "$(head -c 5242880 /dev/zero | tr '\0' 'x')"
	printf '{"sku": "S-7", "name": "Strict hole"}\n'
	printf '{"sku": "G-8", "name": "Good two \xc3\xa4\xc3\xb6\xc3\xbc", "brand": "M\xc3\xbcller & S\xc3\xb6hne"}\n'
	printf '[1, 2, 3]\n'
	printf '{"sku": "", "name": "Empty SKU", "brand": "Acme"}\n'
	printf '{"sku": "G-12", "name": "Last line, no newline", "brand": "Acme"}'
} >catalog.jsonl

run_skugen run
t_is "a run with bad records exits 1" "$RC" 1
t_match "the summary counts records and bad ones" "$OUT" "12 records \(8 bad\), 4 tasks: 3 generated, 0 unchanged, 1 failed"
t_is "every good record was generated" \
	"$(sql "select string_agg(sku, ',' order by sku) from skugen.generations")" "G-1,G-12,G-8"
t_is "the good record with umlauts is intact" \
	"$(sql "select content from skugen.generations where sku = 'G-8'")" "Good two äöü by Müller & Söhne"
t_match "malformed JSON: file and line" "$ERR" 'catalog\.jsonl:2: .*malformed JSON'
t_match "invalid UTF-8: file, line, field" "$ERR" 'catalog\.jsonl:3: .*invalid UTF-8'
t_match "a missing SKU: file and line" "$ERR" 'catalog\.jsonl:4: missing key field "sku"'
t_match "a duplicate SKU: file, line and SKU" "$ERR" 'catalog\.jsonl:5: sku "G-1": duplicate SKU'
t_match "a NUL byte: file, line and SKU" "$ERR" 'catalog\.jsonl:6: .*NUL'
t_match "a 5 MB field: file, line, SKU, field and size" "$ERR" 'catalog\.jsonl:7: sku "B-6": field "description" is 5242[0-9]+ bytes, limit 1048576'
t_match "a missing key in a strict template: SKU, template, line, column, key" "$ERR" 'catalog\.jsonl:8: sku "S-7": output "copy" \(en_US\): template "copy/default" line 1 column [0-9]+: missing key "brand"'
t_match "a line that is not an object" "$ERR" 'catalog\.jsonl:10: not a JSON object'
t_match "an empty SKU" "$ERR" 'catalog\.jsonl:11: .*key field "sku" is empty'
t_is "bad records are recorded in the store" "$(sql "select count(*) from skugen.record_errors")" 8
t_is "the failed task is recorded with its reason" \
	"$(sql "select count(*) from skugen.tasks where state = 'failed' and sku = 'S-7' and last_error like '%missing key%'")" 1

run_skugen run
t_match "a second run makes nothing twice" "$OUT" "3 unchanged, 1 failed"
t_is "still three generations" "$(sql "select count(*) from skugen.generations")" 3

# CSV: quoted commas, embedded newlines and quotes, a BOM, leading zeros, and
# an unbalanced quote at the end.
printf '\xef\xbb\xbfsku,name,brand\r\n000123,"Bowl, large","Keramik ""Blau"""\r\n000124,"Two\r\nlines",Acme\r\n000125,"Never closed,Acme\r\n' >catalog.csv
sed -i 's/catalog\.jsonl/catalog.csv/' skugen.json
run_skugen run
t_is "a CSV with an unbalanced quote exits 1" "$RC" 1
t_match "the CSV summary" "$OUT" "3 records \(1 bad\), 2 tasks: 2 generated"
t_match "the unbalanced quote names the file and the line where the record began" "$ERR" 'catalog\.csv:5: .*not closed'
t_is "leading zeros are kept and quoting is undone" \
	"$(sql "select content from skugen.generations where sku = '000123'")" 'Bowl, large by Keramik "Blau"'
t_is "an embedded newline survives" \
	"$(sql "select content from skugen.generations where sku = '000124'")" $'Two\nlines by Acme'

t_done
