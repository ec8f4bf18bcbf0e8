# review.sh: merchandiser review end to end.  The CSV export (BOM, CRLF,
# quoting, formula cells neutralised, SKUs kept as text) goes through
# LibreOffice (csv -> xlsx -> csv) with decisions filled in, and comes back
# with nothing lost; the import checks every row first (one bad row applies
# nothing), records every decision, makes an edit a new version with human
# provenance, and applies nothing twice; publish then writes the edited
# version.  The HTML page loads in headless Chromium with hostile product data
# inert, one card per SKU, and the keyboard decisions it saves import back.
# LibreOffice and Chromium come from scripts/install-deps; without them
# those parts are skipped, and say so.
. "$(dirname "$0")/lib.sh"
new_db review
cd "$SCRATCH"
ARTEFACTS="$(cd "$(dirname "$SKUGEN")" && pwd)/artefacts"
mkdir -p "$ARTEFACTS"
PAGE_TOOL="$ROOT/tests/integration/review_page"

t_skip() { # t_skip NAME REASON
	T_N=$((T_N + 1))
	echo "ok $T_N - $1 # SKIP $2"
}

mkdir -p templates/title templates/description
printf '{{name}}' >templates/title/default.mustache
printf '{{blurb}}' >templates/description/default.mustache
# Hostile and awkward product data: markup, formulas, a bidi override
# (U+202E), quotes, commas, newlines, tabs, Unicode, numeric-looking SKUs.
cat >catalog.jsonl <<'JSONL'
{"sku": "000123", "name": "Merino Jumper", "category": "apparel", "blurb": "Soft merino wool, knitted in Portugal.", "description": "Merino Jumper: warm wool, knitted in Portugal."}
{"sku": "H-1", "name": "<script>window.pwned=true</script><img src=x onerror=\"window.pwned=true\">", "category": "<b>bold</b>", "blurb": "=HYPERLINK(\"http://evil.example/\",\"click\")", "description": "\u202eevil\u202c text with \"quotes\", a comma\nand a newline"}
{"sku": "-5", "name": "@SUM(1+1)", "category": "home", "blurb": "+49 30 1234", "description": "\tTabbed; 'quoted'"}
{"sku": "U-1", "name": "Ünïcödé ✓ 😀", "category": "home", "blurb": "naïve café — “curly” 'single' ∑\n2nd line", "description": "'=already guarded?"}
JSONL
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [
    {"name": "title", "generator": "rules",
     "target": {"path": "results.jsonl", "field": "title"}, "overwrite": "always"},
    {"name": "description", "generator": "rules",
     "target": {"path": "results.jsonl", "field": "description"}, "overwrite": "always"}
  ]
}
JSON
run_skugen run
t_is "the run exits 0" "$RC" 0
t_is "eight generations" "$(sql "select count(*) from skugen.generations")" 8
gid() { sql "select id from skugen.generations where sku = '$1' and output = '$2' and status <> 'superseded' order by id desc limit 1"; }

# --- the CSV ------------------------------------------------------------
run_skugen export --format csv --out review.csv
t_is "export csv exits 0" "$RC" 0
t_match "it says how many" "$ERR" "exported 8 generations to review.csv"
t_is "the file starts with a UTF-8 BOM" "$(head -c 3 review.csv | od -An -tx1 | tr -d ' ')" efbbbf
t_is "the header names the columns" "$(head -n 1 review.csv | tail -c +4)" \
	$'sku,product_name,output,locale,current_value,generated_value,status,decision,edited_text,comment,generation_id,model,cost,version\r'
t_is "records end in CRLF (header + 8)" "$(grep -c $'\r$' review.csv)" 9
t_ok "a SKU with leading zeros is a quoted text cell" grep -q '^"000123","Merino Jumper"' review.csv
t_ok "a formula in generated copy gets an apostrophe" grep -qF '"'"'"'=HYPERLINK(""http://evil.example/"",""click"")"' review.csv
t_ok "so do cells starting with + @ - and TAB" \
	grep -qF -e '"'"'"'-5","'"'"'@SUM(1+1)"' review.csv
t_ok "a current value starting with a TAB is guarded" grep -qF "\"'"$'\t'"Tabbed; 'quoted'\"" review.csv
t_ok "a value already starting with an apostrophe and = gets one more" grep -qF "\"''=already guarded?\"" review.csv
t_ok "markup is just text in CSV" grep -qF '"<script>window.pwned=true</script><img src=x onerror=""window.pwned=true"">"' review.csv
t_ok "the bidi override is kept byte for byte" grep -q $'\xe2\x80\xaeevil' review.csv

run_skugen export --format csv --sku 000123,U-1 --output title
t_is "--sku and --output filter" "$(printf '%s' "$OUT" | grep -c $'\r$')" 3
printf 'H-1\n-5\n' >skus.txt
run_skugen export --format json --sku @skus.txt
t_is "--sku @FILE reads one per line" "$(printf '%s' "$OUT" | jq -r 'map(.sku) | unique | join(" ")')" "-5 H-1"
run_skugen export --format json --category home --status draft
t_is "--category and --status filter" "$(printf '%s' "$OUT" | jq length)" 4
run_skugen export --format json --since '2999-01-01'
t_is "--since in the future finds nothing" "$(printf '%s' "$OUT" | jq length)" 0
run_skugen export --format json --since '2000-01-01' --run 1
t_is "--since in the past and --run find everything" "$(printf '%s' "$OUT" | jq length)" 8
run_skugen export --since yesterday-ish
t_is "a bad --since is a usage error" "$RC" 2
run_skugen export --status maybe
t_is "an unknown status is a usage error" "$RC" 2
t_match "and says which" "$ERR" '"maybe" is not draft, approved'
run_skugen export --format json
t_is "the JSON export is an array for other tools" \
	"$(printf '%s' "$OUT" | jq -r '[length, (.[0] | has("generation_id") and has("current_value") and has("generated_value") and has("checks") and (.decision == null))] | @tsv')" \
	$'8\ttrue'
run_skugen export --provenance --format csv
t_match "--provenance keeps the full provenance columns" "$(printf '%s' "$OUT" | head -n 1)" \
	'^generation_id,sku,output,locale,.*template_sha256,prompt_sha256'

# Decisions filled in by editing the CSV (as a reviewer would, in any case):
# the decision, edited_text and comment cells sit right before the id.
T1=$(gid 000123 title) D1=$(gid 000123 description) T2=$(gid H-1 title) D2=$(gid H-1 description)
T3=$(gid -5 title) D3=$(gid -5 description) T4=$(gid U-1 title) D4=$(gid U-1 description)
EDIT=$'Neu: ""Zitat"", Zeile 1\nZeile 2 ✓ café 😀 \u202eRLO'
fill() { # fill ID DECISION EDITED COMMENT (CSV-escaped already)
	sed -i "s/,\"\",\"\",\"\",$1,/,\"$2\",\"$3\",\"$4\",$1,/" "$5"
}
cp review.csv decided.csv
fill "$T1" Approve "" "" decided.csv
fill "$D1" edit "${EDIT//$'\n'/\\n}" 'reads better, ""really""' decided.csv
fill "$T2" REJECT "" "'=1+2 is not a title" decided.csv
fill "$D2" reject "" "" decided.csv
fill "$T3" approve "" "" decided.csv
fill "$D4" edit "'=SUM(A1) stays text" "" decided.csv

if command -v soffice >/dev/null 2>&1; then
	LO="soffice --headless -env:UserInstallation=file://$SCRATCH/lo-profile"
	mkdir -p lo-xlsx lo-csv lo-numbers-xlsx lo-numbers-csv
	# Open as Calc does with "Format quoted field as text" ticked (token 7),
	# save as xlsx; open the xlsx and save CSV: UTF-8 (76), comma, quote
	# every text cell (token 7 of the export), raw values, no formulas.
	HOME=$SCRATCH $LO --infilter='CSV:44,34,76,1,,0,true,false' --convert-to xlsx --outdir lo-xlsx decided.csv >lo.log 2>&1
	HOME=$SCRATCH $LO --convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true,true,false,false' \
		--outdir lo-csv lo-xlsx/decided.xlsx >>lo.log 2>&1
	t_ok "LibreOffice made xlsx and CSV again" test -s lo-csv/decided.csv
	if command -v node >/dev/null 2>&1; then
		node "$PAGE_TOOL/csv_cells.mjs" decided.csv >before.json
		node "$PAGE_TOOL/csv_cells.mjs" lo-csv/decided.csv >after.json
		# cost is a number to a spreadsheet (0.000000 comes back as 0)
		t_is "every cell survived the round trip (but the cost's digits)" \
			"$(jq -n --slurpfile a before.json --slurpfile b after.json \
				'[$a[0], $b[0]] | map(map(del(.[12]))) | .[0] == .[1]')" true
		t_is "and the costs are the same numbers" \
			"$(jq -n --slurpfile a before.json --slurpfile b after.json \
				'[$a[0][1:], $b[0][1:]] | map(map(.[12] | tonumber)) | .[0] == .[1]')" true
	else
		t_skip "every cell survived the round trip" "node is not installed"
	fi
	t_is "the round trip dropped the BOM and CRLF (what the import must take)" \
		"$(head -c 1 lo-csv/decided.csv):$(grep -c $'\r' lo-csv/decided.csv)" '":0'
	cp lo-csv/decided.csv roundtrip.csv
	# The same without "quoted field as text": 000123 becomes the number 123.
	HOME=$SCRATCH $LO --infilter='CSV:44,34,76,1,,0,false,true' --convert-to xlsx --outdir lo-numbers-xlsx decided.csv >>lo.log 2>&1
	HOME=$SCRATCH $LO --convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true,true,false,false' \
		--outdir lo-numbers-csv lo-numbers-xlsx/decided.xlsx >>lo.log 2>&1
	run_skugen import lo-numbers-csv/decided.csv
	t_is "a SKU read as a number is a bad row" "$RC" 1
	t_match "named with its line and what to do" "$ERR" \
		'decided\.csv:[0-9]+: the sku here is "123" but generation [0-9]+ is sku "000123" \(the spreadsheet read it as a number: open the CSV with quoted fields as text\)'
	t_is "and nothing is applied" "$(sql "select count(*) from skugen.reviews")" 0
else
	t_skip "LibreOffice round trip" "soffice is not installed (scripts/install-deps)"
	cp decided.csv roundtrip.csv
fi

# One bad row applies nothing.
cp roundtrip.csv bad.csv
sed -i "s/,$T1,/,999999,/" bad.csv
printf '"U-1","x","title","en_US","","","draft","maybe","","",%s,"template",0,1\n' "$T4" >>bad.csv
run_skugen import bad.csv
t_is "an import with bad rows exits 1" "$RC" 1
t_match "an unknown generation is named with its line" "$ERR" "bad\\.csv:$(grep -n ',999999,' bad.csv | cut -d: -f1): generation 999999 is not in the store"
t_match "a decision not understood is named with its line" "$ERR" "bad\\.csv:$(wc -l <bad.csv): decision \"maybe\" is not understood"
t_match "it says nothing was applied" "$OUT" 'nothing applied: 2 of 9 rows are bad'
t_is "no review recorded" "$(sql "select count(*) from skugen.reviews")" 0
t_is "no status changed" "$(sql "select count(*) from skugen.generations where status <> 'draft'")" 0

run_skugen import --reviewer "Maria Muster" roundtrip.csv
t_is "the round-tripped CSV imports" "$RC" 0
t_match "it counts what it did" "$OUT" '2 approved, 2 rejected, 2 edited \(new versions\), 0 already recorded, 2 without a decision; reviewer Maria Muster'
t_is "approve and reject set the status" \
	"$(sql "select string_agg(status, ' ') from (select status from skugen.generations where id in ($T1, $T3, $T2, $D2, $D3) order by array_position(array[$T1, $T3, $T2, $D2, $D3], id)) x")" \
	"approved approved rejected rejected draft"
t_is "an edit is a new version that revises the old one" \
	"$(sql "select version || ' ' || status || ' ' || (revises = $D1) from skugen.generations where revises = $D1")" "2 approved true"
t_is "the edited text came through the spreadsheet intact" \
	"$(sql "select content = E'Neu: \"Zitat\", Zeile 1\nZeile 2 ✓ café 😀 \u202eRLO' from skugen.generations where revises = $D1")" t
t_is "an edit starting with an apostrophe and = loses exactly one apostrophe" \
	"$(sql "select content from skugen.generations where revises = $D4")" "=SUM(A1) stays text"
t_is "the old version is superseded" "$(sql "select status from skugen.generations where id = $D1")" superseded
t_is "the new version's hash is of its text" \
	"$(sql "select count(*) from skugen.generations where revises is not null and content_sha256 = encode(sha256(convert_to(content, 'UTF8')), 'hex')")" 2
t_is "the new version has human provenance" \
	"$(sql "select p.generator || ' ' || (p.activity = 'review:' || r.id) || ' ' || p.worker || ' ' || (p.params->>'revises') || ' ' || (p.params->>'comment') from skugen.provenance p join skugen.generations g on g.id = p.generation_id join skugen.reviews r on r.edited_generation_id = g.id where g.revises = $D1")" \
	"human true Maria Muster $D1 reads better, \"really\""
t_is "every decision is a review row with its file and line" \
	"$(sql "select count(*) || ' ' || count(*) filter (where source like 'roundtrip.csv:%' and reviewer = 'Maria Muster') from skugen.reviews")" "6 6"
t_is "a neutralised comment comes back as typed" \
	"$(sql "select comment from skugen.reviews where generation_id = $T2")" "=1+2 is not a title"

run_skugen import --reviewer "Maria Muster" roundtrip.csv
t_is "importing the same file again exits 0" "$RC" 0
t_match "and applies nothing new, and says so" "$OUT" 'nothing new: 6 decisions were already recorded'
t_is "still six reviews" "$(sql "select count(*) from skugen.reviews")" 6
t_is "still two edits" "$(sql "select count(*) from skugen.generations where revises is not null")" 2

# Publish writes what was approved: the edited version, not the old one.
run_skugen publish
t_is "publish exits 0" "$RC" 0
t_match "it writes the approved and edited generations" "$OUT" 'publish: 4 written'
t_is "the edited description is what was published" \
	"$(jq -r 'select(.sku == "000123") | .description' results.jsonl)" "$(printf 'Neu: "Zitat", Zeile 1\nZeile 2 ✓ café 😀 \u202eRLO')"
t_is "the rejected ones were not" "$(jq -r 'select(.sku == "H-1")' results.jsonl)" ""
t_is "the edited version is published" "$(sql "select status from skugen.generations where revises = $D1")" published

# A regeneration after the export supersedes the drafts: the old file is refused.
run_skugen export --format csv --status draft --out drafts.csv
OLD=$(gid U-1 title)
run_skugen regen --force U-1
NEWU1=$(gid U-1 title)
cp drafts.csv late.csv
fill "$OLD" approve "" "" late.csv
run_skugen import late.csv
t_is "a decision on a generation superseded since the export is refused" "$RC" 1
t_match "with its line and what to do" "$ERR" "late\\.csv:[0-9]+: generation $OLD was superseded by generation $NEWU1 since the export: export again"

# Partial: the good rows go in, the bad are listed.
printf '\xef\xbb\xbfgeneration_id;decision;sku\r\n%s;approve;U-1\r\n%s;edit;U-1\r\n' "$NEWU1" "$NEWU1" >partial.csv
run_skugen import --partial partial.csv
t_is "--partial with a bad row exits 1" "$RC" 1
t_match "semicolons are read; an edit without text is refused" "$ERR" 'partial\.csv:3: decision edit but edited_text is empty'
t_match "the good row is applied" "$OUT" '1 approved'
t_is "and is in the store" "$(sql "select status from skugen.generations where id = $NEWU1")" approved

# What a file says is quoted in messages without its control characters.
printf 'generation_id,decision,sku\n%s,approve,"X\033[31mY"\n%s,\033[2Jnope,U-1\n' "$NEWU1" "$NEWU1" >escape.csv
run_skugen import escape.csv
t_match "no terminal escape from a cell reaches the terminal (store check)" "$ERR" 'escape\.csv:2: the sku here is "X\?\[31mY"'
t_match "nor from a row check" "$ERR" 'escape\.csv:3: decision "\?\[2Jnope"'
t_is "not one ESC byte in the messages" "$(printf '%s' "$ERR" | grep -c $'\033')" 0

# --- the HTML page ------------------------------------------------------
# One generation with an image beside the page, checks that passed and failed.
mkdir -p assets page
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82' >assets/thumb.png
sql "update skugen.generations set asset_path = '$SCRATCH/assets/thumb.png' where id = $T3" >/dev/null
sql "update skugen.generations set checks = '[{\"name\": \"length\", \"ok\": true}, {\"name\": \"banned_words\", \"ok\": false, \"detail\": \"<i>cheap</i> \\u202e\"}]' where id = $T2" >/dev/null
run_skugen export --format html --out page/review.html
t_is "export html exits 0" "$RC" 0
t_match "it counts cards (regen --force superseded U-1's published edit too)" "$ERR" 'exported 8 generations of 4 SKUs to page/review.html'
t_is "no markup from the data reaches the page" "$(grep -c '<script>window\|<img\|<b>bold\|<i>cheap' page/review.html)" 0
t_is "the page has three script blocks: meta, data, app" "$(grep -o '<script' page/review.html | wc -l)" 3
t_is "and no link or URL in its markup (outside the JSON data)" \
	"$(grep -v '^<script type="application/json"' page/review.html | grep -cE '(src|href)=|https?:')" 0
t_ok "a Content-Security-Policy allows only the page's own script" \
	grep -qE "script-src 'sha256-[A-Za-z0-9+/]{43}='; style-src 'sha256-" page/review.html
t_ok "the asset link is relative to the page" grep -qF '"a":"../assets/thumb.png"' page/review.html

# playwright-core (pinned in package-lock.json) is fetched once from npm.
if command -v npm >/dev/null 2>&1 && [ -x /usr/bin/chromium ] && [ ! -d "$PAGE_TOOL/node_modules/playwright-core" ]; then
	(cd "$PAGE_TOOL" && npm ci --no-audit --no-fund --loglevel=error) >npm.log 2>&1 || sed 's/^/# npm: /' npm.log
fi
if command -v node >/dev/null 2>&1 && [ -x /usr/bin/chromium ] && [ -d "$PAGE_TOOL/node_modules/playwright-core" ]; then
	EDIT_TEXT='Edited in the browser: <b>not bold</b>' \
		node "$PAGE_TOOL/review_page.mjs" check page/review.html page 2 >page.json 2>page.err
	t_is "the page ran" "$?" 0
	cp page/review.png "$ARTEFACTS/review.png" 2>/dev/null
	t_is "no console errors, page errors, dialogs or network requests" \
		"$(jq -c '[.console_errors, .page_errors, .dialogs, .requests]' page.json)" '[[],[],[],[]]'
	t_is "one card per SKU" "$(jq -r '.card_skus | sort | join(" ")' page.json)" "-5 000123 H-1 U-1"
	t_is "the hostile name did not run" "$(jq -r .pwned page.json)" false
	t_match "it is shown as text" "$(jq -r .text page.json)" '<script>window\.pwned=true</script><img src=x'
	t_match "the bidi override is shown as a mark, not obeyed" "$(jq -r '.control_marks | join(" ")' page.json)" 'U\+202E'
	t_is "the diff marks deletions and insertions" "$(jq -r '(.del > 0) and (.ins > 0)' page.json)" true
	t_is "checks passed and failed are shown, and 'no checks'" \
		"$(jq -r '[.checks_ok, .checks_failed, (.no_checks > 0)] | @tsv' page.json)" $'1\t1\ttrue'
	t_is "the thumbnail loads" "$(jq -r .thumbnails_loaded page.json)" 1
	t_is "filters list the categories, escaped" "$(jq -r '.category_options | join("|")' page.json)" "all|<b>bold</b>|apparel|home"
	t_is "a filter shows only its cards" "$(jq -r .cards_after_filter page.json)" 1
	t_is "two cards approved with the keyboard, focus on the third" \
		"$(jq -r '[.decided_cards, .focused_card] | @tsv' page.json)" $'2\tH-1'
	t_ok "the decisions file was saved" test -s page/decisions.json
	FIRST_TWO=$(jq -r '.card_skus[0:2] | join(" ")' page.json)
	t_is "it holds the two cards' generations, approved" \
		"$(jq -r '[.decisions[] | select(.decision == "approve") | .sku] | unique | join(" ")' page/decisions.json)" \
		"$(printf '%s\n' $FIRST_TWO | sort | tr '\n' ' ' | sed 's/ $//')"
	t_is "every approval names its generation, sku, output and locale" \
		"$(jq '[.decisions[] | select(.decision == "approve") | select(.generation_id > 0 and .output != null and .locale == "en_US")] | length' page/decisions.json)" \
		"$(jq '[.decisions[] | select(.decision == "approve")] | length' page/decisions.json)"
	t_is "the edit typed in the page is in it" \
		"$(jq -r '.decisions[] | select(.decision == "edit") | .edited_text' page/decisions.json)" 'Edited in the browser: <b>not bold</b>'
	before=$(sql "select count(*) from skugen.reviews")
	run_skugen import page/decisions.json
	t_is "the page's decisions import" "$RC" 0
	# -5's title and 000123's title were approved by the CSV already
	t_match "and are counted" "$OUT" '2 approved, 0 rejected, 1 edited \(new versions\), 2 already recorded'
	t_is "one review per new decision" "$(sql "select count(*) - $before from skugen.reviews")" 3
	t_is "the browser's edit is a new version" \
		"$(sql "select count(*) from skugen.generations where content = 'Edited in the browser: <b>not bold</b>' and status = 'approved' and version > 1")" 1
	run_skugen import page/decisions.json
	t_match "importing the page's file twice applies nothing new" "$OUT" 'nothing new'
else
	t_skip "the page in headless Chromium" "node, /usr/bin/chromium or playwright-core missing (scripts/install-deps; npm ci in tests/integration/review_page)"
fi

# The page's JSON with one bad entry names the entry and its line.
printf '{"reviewer": "x", "decisions": [\n{"generation_id": %s, "sku": "U-1", "decision": "approve"},\n{"generation_id": "12x", "decision": "approve"}\n]}\n' "$NEWU1" >bad.json
run_skugen import bad.json
t_is "a bad entry in a decisions file exits 1" "$RC" 1
t_match "it names the line and the entry" "$ERR" 'bad\.json:3: decisions\[1\]: generation_id "12x" is not a generation number'

t_done
