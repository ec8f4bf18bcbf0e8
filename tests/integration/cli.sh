# cli.sh: the command line's contract: help, version, exit codes, located
# configuration errors, and errors for an unreachable store or source.
. "$(dirname "$0")/lib.sh"
new_db cli
cd "$SCRATCH"

run_skugen --version
t_is "--version exits 0" "$RC" 0
t_match "--version prints the version" "$OUT" "^skugen [0-9]+\.[0-9]+\.[0-9]+$"

for cmd in run regen status export render db; do
	run_skugen "$cmd" --help
	t_is "$cmd --help exits 0" "$RC" 0
	t_match "$cmd --help shows its usage" "$OUT" "usage: skugen $cmd"
done

run_skugen frobnicate
t_is "an unknown command exits 2" "$RC" 2
t_match "an unknown command is named" "$ERR" 'unknown command "frobnicate"'

run_skugen run --bogus-flag
t_is "an unknown flag exits 2" "$RC" 2

run_skugen --config nowhere.json run
t_is "a missing configuration exits 2" "$RC" 2
t_match "a missing configuration is named" "$ERR" "nowhere.json"

printf '{\n  "source": {"type": "file", "path": "c.jsonl"},\n  "outputs": [\n    {"name": "t", "generator": 7}\n  ]\n}\n' >bad-type.json
run_skugen --config bad-type.json run
t_is "a wrong type in the configuration exits 2" "$RC" 2
t_match "the error names file, line, column and key path" "$ERR" 'bad-type\.json:4:32: outputs\[0\]\.generator: expected a string'

printf '{\n  "source": {"type": "file", "path": "c.jsonl"},\n  "sauce": 1\n}\n' >typo.json
run_skugen --config typo.json run
t_is "an unknown key exits 2" "$RC" 2
t_match "an unknown key is located" "$ERR" 'typo\.json:3:12: sauce: unknown key'

printf '{\n  "source": {"type": "file", "path": "c.jsonl",\n' >syntax.json
run_skugen --config syntax.json run
t_is "a JSON syntax error exits 2" "$RC" 2
t_match "a JSON syntax error is located" "$ERR" 'syntax\.json:[0-9]+:[0-9]+: '

printf '{"generators": {"llm": {"type": "template", "api_key": "sk-canary-123"}}}\n' >secret.json
run_skugen --config secret.json run
t_is "a secret in the configuration exits 2" "$RC" 2
t_match "a secret is refused with the way out" "$ERR" 'generators\.llm\.api_key: secrets never sit in the configuration.*api_key_env'
T_N=$((T_N + 1))
if printf '%s%s' "$OUT" "$ERR" | grep -q "sk-canary-123"; then
	echo "not ok $T_N - the secret's value is never printed"; T_FAILED=$((T_FAILED + 1))
else
	echo "ok $T_N - the secret's value is never printed"
fi

# A good configuration whose catalog is missing: the source is unreachable.
mkdir -p templates/t
printf '{{name}}\n' >templates/t/default.mustache
printf '{"source": {"type": "file", "path": "missing.jsonl"}, "locales": ["en_US"],\n "generators": {"rules": {"type": "template"}},\n "outputs": [{"name": "t", "generator": "rules"}]}\n' >good.json
run_skugen --config good.json run
t_is "a missing catalog exits 3" "$RC" 3
t_match "the missing catalog is named" "$ERR" "missing\.jsonl"

printf '{"sku": "A-1", "name": "Anorak"}\n' >missing.jsonl
SKUGEN_DSN="host=/nonexistent port=5432 dbname=x user=x connect_timeout=2" run_skugen --config good.json run
t_is "an unreachable store exits 3" "$RC" 3
t_match "the unreachable store is reported" "$ERR" "cannot connect to the store"

printf '{{#open}}never closed\n' >templates/t/default.mustache
run_skugen --config good.json run
t_is "a template that does not load exits 2 before anything runs" "$RC" 2
t_match "the template error names the template" "$ERR" 't/default'
t_is "no run was started for a broken template" "$(sql "select count(*) from skugen.runs" 2>/dev/null || echo 0)" 0

t_done
