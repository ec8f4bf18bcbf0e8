# examples.sh: the bundled configurations work: the demo's runs clean, and
# the LLM example's whole prompt library renders for every product in both
# locales, estimated by a dry run (no key is used, nothing is called).
. "$(dirname "$0")/lib.sh"
new_db examples
cd "$ROOT/examples"
# The demo's product photos and scenes are made, not kept (gitignored).
"$(dirname "$SKUGEN")/tools/example_photos" catalog.jsonl . >/dev/null

run_skugen --config skugen.json run --dry-run
t_is "the demo configuration plans cleanly" "$RC" 0
t_match "it plans every product, output and locale, two images and a clip per photo" "$OUT" "58 records, 384 tasks: 0 unchanged, 384 to generate: 384 by local generators"

OPENAI_API_KEY=dummy ANTHROPIC_API_KEY=dummy run_skugen --config skugen-llm.json run --dry-run
t_is "the LLM example plans cleanly" "$RC" 0
t_match "every product in both locales becomes one remote call" "$OUT" "58 records, 116 tasks: 0 unchanged, 116 to generate: 0 by local generators \(free\), 116 remote calls"
t_match "the estimate is priced and within the example's budget" "$OUT" "cost 0\.[0-9]+ \(within the budget\)"
t_is "no run is left behind by dry runs" "$(sql "select count(*) from skugen.runs")" 0

run_skugen --config skugen-llm.json run --dry-run
t_is "without the key the LLM example is a configuration error" "$RC" 2
t_match "naming the variable" "$ERR" "OPENAI_API_KEY"

t_done
