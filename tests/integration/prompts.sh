# prompts.sh: the LLM prompt library in templates/prompts.  Every system and
# user prompt renders in strict mode against every product of the sample
# catalog and against thin and odd records; no prompt carries a price; the
# de_DE prompts are German and name the product in German; the system prompts
# hold the rules for their output and category; the structured-output schema
# keeps to what OpenAI's strict mode accepts.
#
# User prompts (the product facts) are rendered one `skugen render` per file
# and product.  System prompts read no product facts (asserted from their read
# sets), so each product renders all of them at once, as partials of one
# driver template, and the driver's pieces are checked byte for byte against
# direct renders: that keeps the 58 x 60 matrix to a few seconds.
. "$(dirname "$0")/lib.sh"
prompts="$ROOT/templates/prompts"
catalog="$ROOT/examples/catalog.jsonl"
schema="$prompts/schema/product_copy.schema.json"
outputs="title bullets description seo product_copy"
categories="apparel electronics beauty outdoor"
cd "$SCRATCH" || exit 1

# render FILE DATA: one template against one JSON file; sets RC, OUT and ERR.
render() {
	"$SKUGEN" render "$1" --data - --partials "$prompts" <"$2" >r.out 2>r.err
	RC=$?
	OUT=
	ERR=
	IFS= read -r -d '' OUT <r.out
	IFS= read -r -d '' ERR <r.err
}

# has_word TEXT WORD: WORD stands as a word of its own in TEXT.
has_word() {
	local re="(^|[^[:alpha:]])$2([^[:alpha:]]|\$)"
	[[ $1 =~ $re ]]
}

# has_number TEXT N: the number N stands on its own in TEXT (80, not 180).
has_number() {
	local re="(^|[^0-9])$2([^0-9]|\$)"
	[[ $1 =~ $re ]]
}

# is_german TEXT: addresses the reader with "Sie" and has at least four of
# seven common German words.
is_german() {
	local n=0 w
	has_word "$1" Sie || return 1
	for w in und die der nicht mit ist oder; do
		has_word "$1" "$w" && n=$((n + 1))
	done
	[ "$n" -ge 4 ]
}

# price_re AMOUNT: an ERE for the amount as the data writes it (29.9, 119.0),
# with two decimals and with a decimal comma (29.90, 29,9, 29,90).
price_re() {
	local two alts
	LC_NUMERIC=C printf -v two '%.2f' "$1"
	alts="${1//./\\.}|${two//./\\.}|${1//./,}|${two//./,}"
	PRICE_RE="(^|[^0-9.,])($alts)([^0-9]|\$)"
}

# A currency code or sign next to a number.
currency_re='(EUR|USD|GBP|CHF|€|£|\$) ?[0-9]|[0-9] ?(EUR|USD|GBP|CHF|€|£)'

# leaks_price TEXT: TEXT holds the price (PRICE_RE) or a currency amount.
leaks_price() {
	[[ $1 =~ $PRICE_RE ]] || [[ $1 =~ $currency_re ]]
}

# note LIST ITEM: append ITEM to the list variable LIST (one per line).
note() {
	printf -v "$1" '%s%s\n' "${!1}" "$2"
}

# first LIST: the first five items, for a failure message.
first() {
	printf '%s' "$1" | head -n 5
}

# ---- the files -------------------------------------------------------------

missing=
for o in $outputs; do
	for role in system user; do
		for loc in "" .de_DE; do
			[ -f "$prompts/$role/$o/default$loc.mustache" ] || note missing "$role/$o/default$loc"
		done
	done
	for c in $categories; do
		for loc in "" .de_DE; do
			[ -f "$prompts/system/$o/$c$loc.mustache" ] || note missing "system/$o/$c$loc"
		done
	done
done
t_is "every output has a system and a user prompt per locale, and system prompts per category" "$missing" ""

mapfile -t templates < <(cd "$prompts" && find system user -name '*.mustache' | sed 's/\.mustache$//' | sort)
mapfile -t systems < <(printf '%s\n' "${templates[@]}" | grep '^system/')
mapfile -t users < <(printf '%s\n' "${templates[@]}" | grep '^user/')
t_is "60 prompt files: 50 system, 10 user" "${#templates[@]} ${#systems[@]} ${#users[@]}" "60 50 10"

# What each template reads decides a task's fingerprint: never the price.
bad_reads=
for t in "${templates[@]}"; do
	"$SKUGEN" render "$prompts/$t.mustache" --explain --partials "$prompts" >explain.out 2>&1 ||
		{ note bad_reads "$t: --explain failed: $(head -c 200 explain.out)"; continue; }
	grep -q '^reads (everything' explain.out && { note bad_reads "$t: its read set is unbounded"; continue; }
	reads=$(sed -n '/^reads /,$p' explain.out | grep -o '"[^"]*"' | tr -d '"')
	if grep -qE '^(price|sku|gtin|updated_at|weight_g)([.[]|$)' <<<"$reads"; then
		note bad_reads "$t reads $(grep -E '^(price|sku|gtin|updated_at|weight_g)' <<<"$reads" | tr '\n' ' ')"
	fi
	case $t in
	system/*)
		extra=$(grep -vxE 'audience|brand_voice' <<<"$reads")
		[ -z "$extra" ] || note bad_reads "$t (a system prompt) reads product facts: $(tr '\n' ' ' <<<"$extra")"
		;;
	user/*)
		grep -qE '(^|\.)name$' <<<"$reads" || note bad_reads "$t does not read the name"
		;;
	esac
done
t_is "no prompt reads price, sku, gtin, weight or dates; system prompts read only brand_voice and audience" "$(first "$bad_reads")" ""

json_uses=$(grep -rhoE '\{\{[^}]*\|[[:space:]]*json[^}]*\}\}' "$prompts" --include='*.mustache' | sort -u)
t_is "| json formats only the free-form attributes object" "$json_uses" "{{attributes | json}}"

# ---- every user prompt against every product -------------------------------

n=0
while IFS= read -r line; do
	n=$((n + 1))
	printf '%s\n' "$line" >"p$n.json"
	amount[n]=
	[[ $line =~ \"amount\":\ *([0-9][0-9.]*) ]] && amount[n]=${BASH_REMATCH[1]}
done <"$catalog"
mapfile -t meta < <(jq -r '[.sku, .name, (.translations.de_DE.name // ""), .category] | join("\u001f")' "$catalog")
t_ok "the catalog has products to render ($n)" test "$n" -ge 50
t_is "every product line has its facts (sku, names, category)" "${#meta[@]}" "$n"

render_fail=
leaks=
not_german=
german_in_en=
no_name=
sloppy=
renders=0
for ((i = 1; i <= n; i++)); do
	IFS=$'\x1f' read -r sku name de_name category <<<"${meta[i - 1]}"
	price_re "${amount[i]:-0.00}"
	for t in "${users[@]}"; do
		render "$prompts/$t.mustache" "p$i.json"
		renders=$((renders + 1))
		if [ "$RC" -ne 0 ]; then
			note render_fail "$t $sku: rc $RC: ${ERR%%$'\n'*}"
			continue
		fi
		leaks_price "$OUT" && note leaks "$t $sku: ${BASH_REMATCH[0]}"
		[[ $OUT == *"{{"* || $OUT == *$'\n\n\n'* || $OUT == *$' \n'* ]] && note sloppy "$t $sku"
		case $t in
		*.de_DE)
			is_german "$OUT" || note not_german "$t $sku"
			[ -n "$de_name" ] && [[ $OUT == *"Name: $de_name"* ]] || note no_name "$t $sku: no \"$de_name\""
			;;
		*)
			is_german "$OUT" && note german_in_en "$t $sku"
			[[ $OUT == *"Name: $name"* ]] || note no_name "$t $sku: no \"$name\""
			;;
		esac
	done
done
t_is "all $renders user prompt renders (${#users[@]} files x $n products) succeed in strict mode" "$(first "$render_fail")" ""
t_is "no user prompt carries the price or a currency amount" "$(first "$leaks")" ""
t_is "every de_DE user prompt is German" "$(first "$not_german")" ""
t_is "no en_US user prompt reads as German" "$(first "$german_in_en")" ""
t_is "every user prompt names the product (de_DE: translations.de_DE.name)" "$(first "$no_name")" ""
t_is "no user prompt has an unrendered tag, a run of blank lines or a trailing space" "$(first "$sloppy")" ""

# The price check can fail: a prompt that prints the price is caught.
i=0
for ((k = 1; k <= n; k++)); do [[ ${amount[k]} == *.*[1-9]* ]] && { i=$k; break; }; done
printf '{{> user/title/default}}\nList price: {{price.amount}}\n' >leaky.mustache
render leaky.mustache "p$i.json"
price_re "${amount[i]}"
t_ok "the price check catches a prompt that prints the price (${amount[i]})" leaks_price "$OUT"
printf '{{> user/title/default}}\nPrice: {{price.currency}} 12\n' >leaky.mustache
render leaky.mustache "p$i.json"
price_re 0.01
t_ok "the currency check catches a currency next to a number" leaks_price "$OUT"

# ---- every system prompt against every product -----------------------------

for t in "${systems[@]}"; do printf '@@@ %s\n{{> %s}}\n' "$t" "$t"; done >driver.mustache
render_fail=
sums=
for ((i = 1; i <= n; i++)); do
	render driver.mustache "p$i.json"
	if [ "$RC" -ne 0 ]; then
		note render_fail "${meta[i - 1]%%$'\x1f'*}: ${ERR%%$'\n'*}"
		continue
	fi
	[ "$i" -eq 1 ] && cp r.out system.all
	note sums "$(cksum <r.out)"
done
t_is "all $((n * ${#systems[@]})) system prompt renders (${#systems[@]} files x $n products) succeed in strict mode" "$(first "$render_fail")" ""
t_is "a system prompt is the same for every product without a brand voice (cacheable prefix)" "$(sort -u <<<"${sums%$'\n'}" | wc -l)" 1

mkdir -p seg
awk '/^@@@ / { f = $2; gsub("/", "_", f); f = "seg/" f; next } { print > f }' system.all
differs=
for t in "${systems[@]}"; do
	render "$prompts/$t.mustache" p1.json
	cmp -s r.out "seg/${t//\//_}" || note differs "$t"
done
t_is "each system prompt renders the same directly as in the driver" "$(first "$differs")" ""

wrong=
keys=$(jq -r '.required[]' "$schema")
for t in "${systems[@]}"; do
	IFS= read -r -d '' s <"seg/${t//\//_}"
	o=${t#system/}; o=${o%%/*}
	c=${t##*/}; c=${c%.de_DE}
	if [[ $t == *.de_DE ]]; then
		is_german "$s" || note wrong "$t is not German"
		[[ $s == *"mit „Sie“ an"* ]] || note wrong "$t lacks the Sie rule"
	else
		is_german "$s" && note wrong "$t reads as German"
	fi
	[[ $s =~ $currency_re ]] && note wrong "$t has a currency amount"
	case $o in
	title) limits="80" ;;
	bullets) limits="200" ;;
	description) limits="150" ;;
	seo) limits="60 160" ;;
	product_copy) limits="80 200 150 60 160" ;;
	esac
	for l in $limits; do has_number "$s" "$l" || note wrong "$t does not state the limit $l"; done
	if [ "$o" = product_copy ]; then
		for k in $keys; do [[ $s == *"\"$k\":"* ]] || note wrong "$t does not ask for \"$k\""; done
	fi
	heads=$(grep -cE '^## (Apparel|Electronics|Beauty|Outdoor|Bekleidung|Elektronik)' "seg/${t//\//_}")
	case $c in
	default) [ "$heads" -eq 0 ] || note wrong "$t has category rules" ;;
	*) [ "$heads" -eq 1 ] || note wrong "$t has $heads category sections, not 1" ;;
	esac
	case $c in
	beauty) [[ $s == *"No medical or therapeutic claims"* || $s == *"Keine medizinischen oder therapeutischen Aussagen"* ]] ||
		note wrong "$t does not rule out medical claims" ;;
	electronics) [[ $s == *"No compatibility claims"* || $s == *"Keine Kompatibilitätsaussagen"* ]] ||
		note wrong "$t does not rule out compatibility claims" ;;
	apparel) [[ $s == *"No sizing advice"* || $s == *"Keine Größenberatung"* ]] ||
		note wrong "$t does not rule out sizing advice" ;;
	outdoor) [[ $s == *"hydrostatic head"* || $s == *"Wassersäule in Millimetern"* ]] ||
		note wrong "$t does not explain the waterproof rating" ;;
	esac
done
t_is "system prompts: locale language, their limits, their category rules, the JSON keys" "$(first "$wrong")" ""

# ---- thin and odd records ----------------------------------------------------

# Only a name: no brand, category, lists, attributes or German overlay.
printf '{"name": "Plain Stoneware Mug"}' >thin.json
# Nulls and empties where lists and text are expected.
jq -c '.care = null | .colours = null | .sizes = [] | .features = [] | .materials = []
	| .attributes = {} | .translations.de_DE.features = [] | .translations.de_DE.care = null' p1.json >odd.json
render_fail=
wrong=
for t in "${templates[@]}"; do
	for d in thin odd; do
		render "$prompts/$t.mustache" "$d.json"
		if [ "$RC" -ne 0 ]; then
			note render_fail "$t $d: ${ERR%%$'\n'*}"
			continue
		fi
		[[ $OUT == *$'\n\n\n'* || $OUT == *"Features:"* || $OUT == *"Merkmale:"* || $OUT == *"Care:"* ]] && note wrong "$t $d"
	done
	if [[ $t == user/*.de_DE ]]; then
		render "$prompts/$t.mustache" thin.json
		[[ $OUT == *"Hinweis: Für dieses Produkt liegen keine deutschen Produktdaten vor"* && $OUT == *"Name: Plain Stoneware Mug"* ]] ||
			note wrong "$t: no note for the missing German overlay"
	fi
done
t_is "every prompt renders in strict mode for a record with only a name, and with nulls and empty lists" "$(first "$render_fail")" ""
t_is "absent facts leave no label, no blank-line run; a record without German data says so" "$(first "$wrong")" ""

# A brand voice and an audience reach every system prompt.
jq -c '.brand_voice = "Dry wit, short sentences; address the reader as du." | .audience = "First-time hill walkers"' p1.json >voice.json
render driver.mustache voice.json
t_is "the driver renders with a brand voice" "$RC" 0
printf '%s' "$OUT" | awk '/^@@@ / { f = "voice_" $2; gsub("/", "_", f); next } { print > f }'
wrong=
for t in "${systems[@]}"; do
	IFS= read -r -d '' s <"voice_${t//\//_}"
	if [[ $t == *.de_DE ]]; then
		[[ $s == *"Markenstimme: Dry wit"* && $s == *"Zielgruppe: First-time hill walkers"* && $s != *"Tonfall: sachlich"* ]] || note wrong "$t"
	else
		[[ $s == *"Brand voice: Dry wit"* && $s == *"Audience: First-time hill walkers"* && $s != *"Voice: neutral"* ]] || note wrong "$t"
	fi
done
t_is "brand_voice and audience replace the neutral voice in every system prompt" "$(first "$wrong")" ""

# ---- the structured-output schema -------------------------------------------

json_ok() { jq -e . "$1" >/dev/null 2>&1; }
t_ok "the schema is valid JSON" json_ok "$schema"
t_is "the schema is a closed object" "$(jq -c '[.type, .additionalProperties]' "$schema")" '["object",false]'
t_is "all five properties exist and are required" \
	"$(jq -c '[(.properties | keys), (.required | sort)]' "$schema")" \
	'[["bullets","description","meta_description","meta_title","title"],["bullets","description","meta_description","meta_title","title"]]'
t_is "bullets is an array of strings, the rest strings" \
	"$(jq -c '[.properties | to_entries[] | [.key, .value.type, .value.items.type]]' "$schema")" \
	'[["title","string",null],["bullets","array","string"],["description","string",null],["meta_title","string",null],["meta_description","string",null]]'
t_is "strict mode: every object is closed and requires all its properties" \
	"$(jq -c '[.. | objects | select(has("properties")) | select(.additionalProperties != false or ((.required // []) | sort) != (.properties | keys))] | length' "$schema")" 0
t_is "strict mode: only type, description, properties, required, additionalProperties, items" \
	"$(jq -c '[.. | objects | select(has("type")) | keys[]] | unique - ["additionalProperties","description","items","properties","required","type"]' "$schema")" '[]'

t_done
