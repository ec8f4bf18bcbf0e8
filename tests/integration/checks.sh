# checks.sh: each generation carries the checks its output asks for, stored
# with it and shown to reviewers: length, banned words, numbers grounded in
# the record, and the same text as another product.  A failed check never
# fails the task: the reviewer decides.
. "$(dirname "$0")/lib.sh"
new_db checks
cd "$SCRATCH"

mkdir -p templates/blurb templates/tagline
printf '{{name}}: {{claim}}\n' >templates/blurb/default.mustache
printf 'Made to last.\n' >templates/tagline/default.mustache
cat >catalog.jsonl <<'JSONL'
{"sku": "A-1", "name": "Anorak", "claim": "waterproof to 10,000 mm", "spec_mm": 10000}
{"sku": "B-2", "name": "Bowl", "claim": "holds 5000 ml, cheap and cheerful"}
{"sku": "C-3", "name": "Cable", "claim": "2 m long"}
JSONL
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [
    {"name": "blurb", "generator": "rules",
     "checks": {"min_length": 20, "max_length": 40, "banned_words": ["cheap"], "grounded_numbers": true}},
    {"name": "tagline", "generator": "rules", "checks": {"duplicates": true}}
  ]
}
JSON

check() { # check SKU OUTPUT NAME: "ok|detail" of one check of one generation
	sql "select (c ->> 'ok') || '|' || (c ->> 'detail') from skugen.generations g,
	     jsonb_array_elements(g.checks) c
	     where g.sku = '$1' and g.output = '$2' and c ->> 'name' = '$3' and g.status <> 'superseded'"
}

run_skugen run
t_is "a failed check does not fail the run" "$RC" 0
t_match "every task made its generation" "$OUT" "6 generated, 0 unchanged, 0 failed"
t_is "length within bounds" "$(check A-1 blurb length)" "true|31 characters"
t_is "too short says so" "$(check C-3 blurb length)" "false|15 characters, fewer than the minimum of 20"
t_is "a banned word is named" "$(check B-2 blurb banned_words)" 'false|contains "cheap"'
t_is "no banned word" "$(check A-1 blurb banned_words)" "true|none of 1 banned words"
t_is "numbers in the record are grounded" "$(check A-1 blurb grounded_numbers)" "true|1 numbers, all in the inputs"
t_is "the checks run in a fixed order" \
	"$(sql "select string_agg(c ->> 'name', ',' order by o) from skugen.generations g,
		jsonb_array_elements(g.checks) with ordinality as x(c, o) where g.sku = 'A-1' and g.output = 'blurb'")" \
	"length,banned_words,grounded_numbers"
t_match "the same text as another product is flagged" "$(check B-2 tagline duplicate)" "^false\|the same text as (A-1|C-3)$"
t_is "outputs without checks have none" \
	"$(sql "select count(*) from skugen.generations where output = 'blurb' and checks = '[]'")" 0

# A template that grounds nothing: the claim now carries a number the record
# does not hold.
printf '{{name}}: {{claim}}, now 25%% lighter\n' >templates/blurb/default.mustache
run_skugen run
t_is "the changed template remakes the blurbs" "$RC" 0
t_is "an invented number is not grounded" "$(check A-1 blurb grounded_numbers)" \
	"false|1 of 2 numbers are not in the inputs: 25"

# Reviewers see them.
run_skugen export --format json --out review.json
t_is "the export exits 0" "$RC" 0
t_match "the export carries the checks" "$(jq -c '[.. | objects | select(.sku? == "B-2" and .output? == "blurb") | .checks] | first' review.json)" \
	'"name":"banned_words","ok":false'

# A check that is misconfigured is a located configuration error.
sed -i 's/"min_length": 20/"min_length": "twenty"/' skugen.json
run_skugen run
t_is "a bad check setting exits 2" "$RC" 2
t_match "it is located" "$ERR" 'skugen\.json:[0-9]+:[0-9]+: outputs\[0\]\.checks\.min_length'

t_done
