# render.sh: `skugen render` from the command line: the bundled fixtures, a
# missing key in strict mode, and every case of the Mustache spec (but
# ~lambdas, which needs host-language functions) rendered through the CLI.
. "$(dirname "$0")/lib.sh"
fixtures="$ROOT/tests/fixtures/render"
spec="${SKUGEN_SPEC_DIR:?}/mustache"
cd "$SCRATCH"

for name in product_card formatters list_index; do
	"$SKUGEN" render "$fixtures/$name.mustache" --data "$fixtures/$name.json" --partials "$fixtures" >"$name.out" 2>"$name.err"
	rc=$?
	t_is "render $name exits 0" "$rc" 0
	t_ok "render $name prints exactly the expected text" cmp -s "$name.out" "$fixtures/$name.expected"
done

printf 'Hello {{name}},\nyour {{item.colour}} order.\n' >strict.mustache
printf '{"name": "Ada", "item": {}}' >strict.json
run_skugen render strict.mustache --data strict.json
t_is "a missing key in strict mode exits 2" "$RC" 2
t_match "the error names template, line, column and key path" "$ERR" 'template "strict" line 2 column 6: missing key "item\.colour"'
run_skugen render strict.mustache --data strict.json --no-strict
t_is "--no-strict renders the hole as empty" "$OUT" $'Hello Ada,\nyour  order.'

run_skugen render strict.mustache --explain
t_match "--explain lists the key paths the template reads" "$OUT" '"item\.colour"'

# Every spec case through the CLI: template, data and partials become files.
total=0
bad=0
for file in "$spec"/*.json; do
	base=$(basename "$file" .json)
	[ "$base" = "~lambdas" ] && continue
	n=$(jq '.tests | length' "$file")
	for ((i = 0; i < n; i++)); do
		dir="spec/$base/$i"
		mkdir -p "$dir"
		jq -j ".tests[$i].template" "$file" >"$dir/case.mustache"
		jq -c ".tests[$i].data" "$file" >"$dir/data.json"
		jq -j ".tests[$i].expected" "$file" >"$dir/expected"
		jq -r ".tests[$i].partials // {} | keys[]" "$file" | while IFS= read -r p; do
			jq -j --arg p "$p" ".tests[$i].partials[\$p]" "$file" >"$dir/$p.mustache"
		done
		total=$((total + 1))
		if ! "$SKUGEN" render --spec "$dir/case.mustache" --data "$dir/data.json" --partials "$dir" >"$dir/got" 2>"$dir/err" ||
		   ! cmp -s "$dir/got" "$dir/expected"; then
			bad=$((bad + 1))
			echo "# spec case failed through the CLI: $base: $(jq -r ".tests[$i].name" "$file")"
		fi
	done
done
t_ok "the spec has cases to run ($total found)" test "$total" -ge 150
t_is "every spec case outside ~lambdas renders exactly through skugen render" "$bad" 0

t_done
