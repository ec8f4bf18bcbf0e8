# fingerprint.sh: what a fingerprint must and must not merge: two products
# whose read fields are equal still get a generation each; a reviewer's
# approved edit counts as made, so an unchanged product is not generated
# (or paid for) again, and auto-publish never writes the machine draft over it.
. "$(dirname "$0")/lib.sh"
new_db fingerprint
cd "$SCRATCH"

mkdir -p templates/title
printf '{{brand}} {{name}}' >templates/title/default.mustache
cat >catalog.jsonl <<'JSONL'
{"sku": "V-RED", "name": "Hoodie", "brand": "Nordwand", "colour": "red"}
{"sku": "V-BLUE", "name": "Hoodie", "brand": "Nordwand", "colour": "blue"}
JSONL
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [{"name": "title", "generator": "rules", "publish": "auto",
               "target": {"path": "results.jsonl", "field": "title"}, "overwrite": "if_generated"}]
}
JSON

run_skugen run
t_match "two variants whose title reads the same fields get one generation each" "$OUT" "2 tasks: 2 generated"
t_is "both SKUs have their title" "$(sql "select string_agg(sku, ',' order by sku) from skugen.generations")" "V-BLUE,V-RED"

# A reviewer edits V-RED's title through the review CSV.
run_skugen export --format json --out gens.json
id=$(jq -r '.[] | select(.sku == "V-RED") | .generation_id' gens.json)
printf '{"reviewer": "Ada", "decisions": [{"generation_id": %s, "sku": "V-RED", "output": "title", "locale": "en_US", "decision": "edit", "edited_text": "Nordwand Hoodie, hand-tuned", "comment": ""}]}\n' "$id" >decisions.json
run_skugen import decisions.json
t_is "the edit is imported" "$RC" 0
run_skugen publish
t_is "the edit is published" "$(jq -r 'select(.sku == "V-RED") | .title' results.jsonl)" "Nordwand Hoodie, hand-tuned"

run_skugen run
t_match "an unchanged product with an approved edit is not generated again" "$OUT" "0 generated, 2 unchanged"
t_is "the edit survives the run's auto-publish" "$(jq -r 'select(.sku == "V-RED") | .title' results.jsonl)" "Nordwand Hoodie, hand-tuned"
t_is "no machine draft was made beside the edit" "$(sql "select count(*) from skugen.generations where sku = 'V-RED' and status = 'draft'")" 0

t_done
