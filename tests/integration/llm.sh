# llm.sh: remote generation end to end against the fake providers: answers
# with provenance and a cost ledger, nothing paid twice, fallbacks when a
# provider fails, the budget stop, the dry-run estimate, and no key anywhere.
. "$(dirname "$0")/lib.sh"
new_db llm
cd "$SCRATCH"

start_fake fake_llm --latency-ms 5 --log fake.log
stat() { curl -s "$base/_fake/stats" | jq -r "$1"; }

export OPENAI_API_KEY=sk-canary-openai-7f3a91
export ANTHROPIC_API_KEY=sk-ant-canary-2b8c44

mkdir -p templates/user/description templates/system/description templates/copy/description
printf 'Write a product description for {{name}} by {{brand}}, made of {{material}}.\n' >templates/user/description/default.mustache
printf 'You are a careful copywriter. Use only the facts given.\n' >templates/system/description/default.mustache
printf '{{name}} by {{brand}}: {{material}}.\n' >templates/copy/description/default.mustache
for i in 1 2 3 4 5 6; do
	printf '{"sku": "L-%d", "name": "Lamp %d", "brand": "Lumen", "material": "brass"}\n' "$i" "$i"
done >catalog.jsonl
cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {
    "openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
               "max_attempts": 2, "backoff_ms": 10, "circuit": {"failures": 3, "cooldown_s": 60},
               "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}},
    "anthropic": {"type": "anthropic", "base_url": "$base", "api_key_env": "ANTHROPIC_API_KEY",
                  "max_attempts": 2, "backoff_ms": 10,
                  "prices": {"claude-haiku": {"input_per_mtok": 0.8, "output_per_mtok": 4}}}
  },
  "generators": {
    "writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini", "params": {"max_tokens": 300}},
    "claude": {"type": "llm", "provider": "anthropic", "model": "claude-haiku", "params": {"max_tokens": 300}},
    "rules": {"type": "template", "template": "copy/description"}
  },
  "outputs": [
    {"name": "description", "template": "user/description", "system": "system/description",
     "generator": "writer", "fallback": ["claude", "rules"]}
  ]
}
JSON

run_skugen run
t_is "a run through the openai provider exits 0" "$RC" 0
t_match "six descriptions generated, with their cost" "$OUT" "6 generated, 0 unchanged, 0 failed, in [0-9.]+ s, cost 0\.0"
t_is "provenance names provider, model, version, request id, tokens and cost" \
	"$(sql "select count(*) from skugen.provenance where provider = 'openai' and model = 'gpt-4o-mini' and model_version <> '' and request_id <> '' and tokens_in > 0 and tokens_out > 0 and cost > 0 and attempts = 1 and system_template_name = 'system/description/default' and fallback_from is null")" 6
t_is "the cost ledger has one row per paid attempt" "$(sql "select count(*) from skugen.cost_ledger where provider = 'openai' and cost > 0")" 6
t_is "the ledger adds up to the provenance" \
	"$(sql "select (select sum(cost) from skugen.cost_ledger) = (select sum(cost) from skugen.provenance)")" t
paid=$(stat .paid)
t_is "the fake was paid six times" "$paid" 6

run_skugen run
t_match "a second run makes nothing" "$OUT" "0 generated, 6 unchanged"
t_is "and pays for nothing twice" "$(stat .paid)" "$paid"

run_skugen run --dry-run --force
t_is "a dry run exits 0" "$RC" 0
t_match "a dry run estimates tokens and cost" "$OUT" "6 remote calls"
t_match "with a cost above zero" "$OUT" "estimate: [1-9][0-9]* tokens in, up to 1800 tokens out, cost 0\.00[0-9]*[1-9]"
t_is "a dry run calls nothing" "$(stat .paid)" "$paid"
t_is "a dry run keeps nothing" "$(sql "select count(*) from skugen.runs")" 2

# OpenAI fails: its circuit opens and Anthropic takes over.
fake_config '{"faults": [{"kind": "500", "rate": 1.0, "path": "/v1/chat"}]}'
run_skugen run --force
t_is "a run whose first provider fails still completes" "$RC" 0
t_is "every description came from the fallback" \
	"$(sql "select count(*) from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.status <> 'superseded' and p.provider = 'anthropic' and p.fallback_from = 'writer' and p.fallback_reason <> ''")" 6
t_is "failed attempts are in the ledger too" "$(sql "select count(*) > 0 from skugen.cost_ledger where provider = 'openai' and status <> 'ok'")" t

# Both providers fail: the local template generator writes the copy.
fake_config '{"faults": [{"kind": "529", "rate": 1.0, "path": "/v1/messages"}]}'
run_skugen run --force
t_is "with both providers failing the run still completes" "$RC" 0
t_is "the rule-based copy stands in" \
	"$(sql "select content from skugen.generations g join skugen.provenance p on p.generation_id = g.id where g.sku = 'L-1' and g.status <> 'superseded'")" "Lamp 1 by Lumen: brass."
t_is "provenance says it fell back from the first provider" \
	"$(sql "select p.generator || ':' || p.fallback_from from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.sku = 'L-1' and g.status <> 'superseded'")" "template:writer"

# The budget: each call is estimated at about 0.0002 and, with 150-word
# answers, costs about 0.0001; a cap of 0.0005 stops new calls once what was
# spent and what the calls in flight may cost would pass it.
fake_config '{"clear_faults": true, "answer_words": 150}'
sed -i 's/"max_attempts": 2, "backoff_ms": 10, "circuit"/"max_attempts": 2, "backoff_ms": 10, "circuit"/' skugen.json
sed -i 's/"fallback": \["claude", "rules"\]/"fallback": []/' skugen.json
run_skugen run --force --budget 0.0005 --batch-size 1
t_is "a run stopped by its budget exits 1" "$RC" 1
t_match "it says the budget stopped it" "$ERR" "budget reached: spent 0\.000[0-9]+ of 0\.0005"
t_is "what it spent stays within the budget" \
	"$(sql "select sum(cost) <= 0.0005 from skugen.cost_ledger where run_id = (select max(id) from skugen.runs)")" t
t_is "the tasks it did not start are cancelled with the reason" \
	"$(sql "select count(*) > 0 and bool_and(last_error = 'budget reached before it started') from skugen.tasks where run_id = (select max(id) from skugen.runs) and state = 'cancelled'")" t
run_skugen run
t_match "the next run makes what the budget left, and only that" "$OUT" "[1-9] generated, [1-9] unchanged, 0 failed"

# Secrets: the keys appear nowhere skugen writes.
run_skugen export --format json --out export.json
psql -qAtX "$SKUGEN_DSN" -c "select row_to_json(x) from skugen.provenance x" >prov.dump
psql -qAtX "$SKUGEN_DSN" -c "select row_to_json(x) from skugen.cost_ledger x" >>prov.dump
psql -qAtX "$SKUGEN_DSN" -c "select row_to_json(x) from skugen.tasks x" >>prov.dump
T_N=$((T_N + 1))
if grep -rq -e "$OPENAI_API_KEY" -e "$ANTHROPIC_API_KEY" export.json prov.dump "$SCRATCH/out" "$SCRATCH/err"; then
	echo "not ok $T_N - no key in exports, store or output"; T_FAILED=$((T_FAILED + 1))
else
	echo "ok $T_N - no key in exports, store or output"
fi
t_ok "the key did reach the provider, in its header" grep -q "Bearer $OPENAI_API_KEY" fake.log

t_done
