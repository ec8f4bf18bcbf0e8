# pipeline.sh: the vertical slice: a catalog in, templates rendered, copy
# generated, generations with provenance in Postgres, exports out; and the
# fingerprints: unchanged input makes nothing, a changed read field remakes
# exactly that SKU, a changed unread field makes nothing, --force remakes all.
. "$(dirname "$0")/lib.sh"
new_db pipeline
cd "$SCRATCH"

mkdir -p templates/title templates/blurb
printf '{{brand}} {{name}}\n' >templates/title/default.mustache
printf '{{brand}} {{name}}: {{colour}}\n' >templates/title/apparel.mustache
printf '{{brand}}-Produkt {{name}}\n' >templates/title/default.de_DE.mustache
printf '{{name}} is made of {{material}}.\n' >templates/blurb/default.mustache
cat >catalog.jsonl <<'JSONL'
{"sku": "A-1", "name": "Anorak", "brand": "Nordwand", "category": "apparel", "colour": "red", "material": "nylon", "stock": 4}
{"sku": "B-2", "name": "Bowl", "brand": "Keramik & Co", "category": "home", "colour": "white", "material": "stoneware", "stock": 9}
{"sku": "C-3", "name": "Cable", "brand": "Voltaik", "category": "electronics", "colour": "black", "material": "copper", "stock": 1}
JSONL
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [
    {"name": "title", "generator": "rules", "locales": ["en_US", "de_DE"]},
    {"name": "blurb", "generator": "rules"}
  ]
}
JSON

run_skugen run
t_is "the first run exits 0" "$RC" 0
t_match "the summary counts the work" "$OUT" "3 records \(0 bad\), 9 tasks: 9 generated, 0 unchanged, 0 failed"
t_is "nine generations stored" "$(sql "select count(*) from skugen.generations")" 9
t_is "one provenance row per generation" "$(sql "select count(*) from skugen.generations g join skugen.provenance p on p.generation_id = g.id")" 9
t_is "the category template was chosen for apparel" \
	"$(sql "select content from skugen.generations where sku = 'A-1' and output = 'title' and locale = 'en_US'")" "Nordwand Anorak: red"
t_is "the locale template was chosen for de_DE" \
	"$(sql "select content from skugen.generations where sku = 'B-2' and output = 'title' and locale = 'de_DE'")" "Keramik & Co-Produkt Bowl"
t_is "the default template for the rest" \
	"$(sql "select content from skugen.generations where sku = 'C-3' and output = 'title' and locale = 'en_US'")" "Voltaik Cable"
t_is "provenance names the template, its sha256 and the generator" \
	"$(sql "select p.template_name || ' ' || length(p.template_sha256) || ' ' || p.generator || ' ' || p.generator_version || ' ' || p.model from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.sku = 'A-1' and g.output = 'title' and g.locale = 'en_US'")" \
	"title/apparel 64 template 1 template"
t_is "provenance hashes the prompt and the inputs, and has times, run, attempt, version" \
	"$(sql "select count(*) from skugen.provenance where length(prompt_sha256) = 64 and length(input_sha256) = 64 and ended_at >= started_at and run_id is not null and attempt = 1 and skugen_version <> '' and activity like 'task:%/attempt:1'")" 9
t_is "provenance lists the fields the template read" \
	"$(sql "select input_fields::text from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.sku = 'B-2' and g.output = 'blurb'")" '["material", "name"]'
t_is "the stored content hash matches the content" \
	"$(sql "select count(*) from skugen.generations where content_sha256 = encode(sha256(convert_to(content, 'UTF8')), 'hex')")" 9

run_skugen run
t_is "a second run over the unchanged catalog exits 0" "$RC" 0
t_match "the second run makes nothing and says so" "$OUT" "9 tasks: 0 generated, 9 unchanged"
t_match "it explains why" "$OUT" "nothing new to generate"
t_is "still nine generations" "$(sql "select count(*) from skugen.generations")" 9

# A field no template reads changes: nothing to regenerate.
sed -i 's/"stock": 4/"stock": 0/' catalog.jsonl
run_skugen run
t_match "changing an unread field regenerates nothing" "$OUT" "0 generated, 9 unchanged"

# A field only the blurb reads changes for one SKU: exactly that task.
sed -i 's/"material": "stoneware"/"material": "porcelain"/' catalog.jsonl
run_skugen run
t_match "changing a read field regenerates exactly the tasks that read it" "$OUT" "1 generated, 8 unchanged"
t_is "the new blurb is there" \
	"$(sql "select content from skugen.generations where sku = 'B-2' and output = 'blurb' order by id desc limit 1")" "Bowl is made of porcelain."

# A template changes: every task using it is remade, the others are not.
printf '{{name}} ({{material}}).\n' >templates/blurb/default.mustache
run_skugen run
t_match "changing a template regenerates what uses it" "$OUT" "3 generated, 6 unchanged"

run_skugen run --force
t_match "--force makes everything again" "$OUT" "9 generated, 0 unchanged"
t_is "forced generations supersede the old ones" \
	"$(sql "select count(*) from skugen.generations where status <> 'superseded'")" 9

run_skugen regen B-2
t_is "regen of an unchanged SKU exits 0" "$RC" 0
t_match "regen without --force skips an unchanged SKU" "$OUT" "regen [0-9]+: .* 3 tasks: 0 generated, 3 unchanged"
run_skugen regen --force B-2
t_match "regen --force remakes only that SKU" "$OUT" "3 tasks: 3 generated"
run_skugen regen --force NOPE-9
t_is "regen of an unknown SKU exits 1" "$RC" 1
t_match "the unknown SKU is named" "$ERR" 'sku "NOPE-9": not found in the source'

run_skugen status
t_is "status exits 0" "$RC" 0
t_match "status lists the runs" "$OUT" "regen +done"
t_match "status counts generations by status" "$OUT" "generations: .*draft"

run_skugen export --provenance --format csv --out export.csv
t_is "export csv exits 0" "$RC" 0
t_is "the CSV has a header and one row per live generation" "$(grep -c $'\r$' export.csv)" 10
t_match "the CSV header carries provenance" "$(head -n 1 export.csv)" "^generation_id,sku,output,locale,.*template_sha256,prompt_sha256"
t_match "a value with a comma or an ampersand is quoted properly" "$(cat export.csv)" 'Keramik & Co'

run_skugen export --format json --out export.json
t_is "export json exits 0" "$RC" 0
t_is "the JSON export is an array of every live generation" \
	"$(psql -qAtX "$SKUGEN_DSN" -c "select jsonb_array_length(\$\$$(cat export.json)\$\$::jsonb)")" 9

t_done
