# publish.sh: approved generations written back through the file connector's
# sink with each overwrite policy; publishing twice writes nothing; outputs
# set to "auto" publish at the end of the run; every attempt is recorded.
. "$(dirname "$0")/lib.sh"
new_db publish
cd "$SCRATCH"

mkdir -p templates/title templates/blurb
printf '{{name}} by {{brand}}' >templates/title/default.mustache
printf '{{name}}: {{colour}}' >templates/blurb/default.mustache
cat >catalog.jsonl <<'JSONL'
{"sku": "P-1", "name": "Parka", "brand": "Nordwand", "colour": "red"}
{"sku": "P-2", "name": "Plate", "brand": "Keramik", "colour": "white"}
{"sku": "P-3", "name": "Pump", "brand": "Voltaik", "colour": "black"}
JSONL
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [
    {"name": "title", "generator": "rules", "publish": "review",
     "target": {"path": "results.jsonl", "field": "title_{locale}"}, "overwrite": "if_generated"},
    {"name": "blurb", "generator": "rules", "publish": "auto",
     "target": {"path": "results.jsonl", "field": "blurb"}, "overwrite": "never"}
  ]
}
JSON

run_skugen run
t_is "the run exits 0" "$RC" 0
t_match "auto outputs are published at the end of the run" "$OUT" "publish: 3 written, 0 already there, 0 refused"
t_is "the results file has the auto output" "$(jq -r 'select(.sku == "P-2") | .blurb' results.jsonl)" "Plate: white"
t_is "outputs under review are not published yet" "$(jq -r 'select(.sku == "P-2") | .title_en_US // "none"' results.jsonl)" none

run_skugen publish
t_match "publish with nothing approved writes nothing" "$OUT" "publish: 0 written"
sql "update skugen.generations set status = 'approved' where output = 'title'" >/dev/null
run_skugen publish
t_is "publish exits 0" "$RC" 0
t_match "approved titles are written" "$OUT" "publish: 3 written"
t_is "the title lands in the field named with its locale" "$(jq -r 'select(.sku == "P-1") | .title_en_US' results.jsonl)" "Parka by Nordwand"
t_is "written generations are published" "$(sql "select count(*) from skugen.generations where status = 'published' and published_at is not null")" 6
run_skugen publish
t_match "publishing again writes nothing" "$OUT" "publish: 0 written, 0 already there"

# A person edits P-1's title in the results; skugen's new title for P-1 must
# not trample it (if_generated), while P-2's untouched title is replaced.
jq -c 'if .sku == "P-1" then .title_en_US = "Hand-written parka title" else . end' results.jsonl >r.tmp && mv r.tmp results.jsonl
sed -i 's/"Parka"/"Parka Pro"/; s/"Plate"/"Plate XL"/' catalog.jsonl
run_skugen run
t_is "a run whose auto output is refused by the policy exits 1" "$RC" 1
t_match "the never policy keeps the blurbs already there" "$OUT" "publish: 0 written, 0 already there, 2 refused"
sql "update skugen.generations set status = 'approved' where output = 'title' and status = 'draft'" >/dev/null
run_skugen publish --output title
t_is "a publish with a refusal exits 1" "$RC" 1
t_match "if_generated writes over its own value and refuses the human's" "$OUT" "publish: 1 written, 0 already there, 1 refused"
t_is "the human's edit survives" "$(jq -r 'select(.sku == "P-1") | .title_en_US' results.jsonl)" "Hand-written parka title"
t_is "skugen's own earlier value was replaced" "$(jq -r 'select(.sku == "P-2") | .title_en_US' results.jsonl)" "Plate XL by Keramik"
t_is "the refusal is recorded with its reason" \
	"$(sql "select count(*) from skugen.publications where status = 'refused' and sku = 'P-1' and output = 'title' and message like '%did not write%'")" 1
t_is "the refused generation stays approved" \
	"$(sql "select status from skugen.generations where sku = 'P-1' and output = 'title' and content like 'Parka Pro%'")" approved

# The always policy overwrites; a second publish then finds it already there.
sed -i 's/"overwrite": "if_generated"/"overwrite": "always"/' skugen.json
run_skugen publish --output title
t_match "always overwrites the human's edit" "$OUT" "publish: 1 written"
t_is "the new title is in the results" "$(jq -r 'select(.sku == "P-1") | .title_en_US' results.jsonl)" "Parka Pro by Nordwand"

run_skugen publish --output nope
t_is "publishing an unknown output exits 2" "$RC" 2
sed -i 's/"overwrite": "always"/"overwrite": "sometimes"/' skugen.json
run_skugen publish
t_is "an unknown policy is a configuration error" "$RC" 2
t_match "it is located" "$ERR" 'skugen\.json:[0-9]+:[0-9]+: outputs\[0\]\.overwrite: expected "never", "if_generated" or "always"'

t_done
