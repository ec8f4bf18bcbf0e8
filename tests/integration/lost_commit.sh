# lost_commit.sh: a commit whose answer the connection loses (the server
# committed; the worker saw its connection drop and cannot know) is sent
# again once the worker has reconnected.  That second commit must add
# nothing: one ledger row per call, the run's spending counted once, one
# generation per task, and no warning about leases taken back.
# tests/fakes/fake_pgproxy.c stands between the worker and Postgres and
# loses the answer to the first COMMIT of a transaction that wrote the ledger.
. "$(dirname "$0")/lib.sh"
new_db lost_commit
cd "$SCRATCH"

start_fake fake_llm --latency-ms 5
export OPENAI_API_KEY=sk-test-lost-commit

direct=$SKUGEN_DSN
upstream=$(printf '%s\n' "$SKUGEN_TEST_DSN" | sed -n 's/.*host=\([^ ]*\).*/\1/p')
port=$(printf '%s\n' "$SKUGEN_TEST_DSN" | sed -n 's/.*port=\([0-9]*\).*/\1/p')
mkdir proxy
"$SKUGEN_FAKES/fake_pgproxy" --listen "$SCRATCH/proxy" --upstream "$upstream" --port "$port" \
	>proxy.out 2>proxy.err &
proxy_pid=$!
trap 'kill $proxy_pid 2>/dev/null; t_cleanup' EXIT
wait_listening proxy.out

mkdir -p templates/user/description
printf 'Describe {{name}}.\n' >templates/user/description/default.mustache
for i in 1 2 3 4 5 6 7 8; do
	printf '{"sku": "LC-%d", "name": "Lamp %d"}\n' "$i" "$i"
done >catalog.jsonl
cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "providers": {
    "openai": {"type": "openai", "base_url": "$base/v1", "api_key_env": "OPENAI_API_KEY",
               "max_attempts": 2, "backoff_ms": 10,
               "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}}
  },
  "generators": {
    "writer": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini", "params": {"max_tokens": 100}}
  },
  "outputs": [{"name": "description", "template": "user/description", "generator": "writer"}]
}
JSON

SKUGEN_DSN="$direct host=$SCRATCH/proxy" run_skugen run
t_is "the run through the proxy exits 0" "$RC" 0
t_match "the proxy lost the answer to a commit that wrote the ledger" "$(cat proxy.out)" "^cut 1$"
t_match "every task is reported generated" "$OUT" "8 generated, 0 unchanged, 0 failed"
t_is "no answer is reported lost to a lease taken back" \
	"$(printf '%s\n' "$ERR" | grep -c 'lease was taken back')" 0

paid=$(curl -s "$base/_fake/stats" | jq -r .paid)
t_is "the provider was paid once per task" "$paid" 8
t_is "one ledger row per paid call" "$(sql "select count(*) from skugen.cost_ledger where cost > 0")" "$paid"
t_is "no call's ledger row twice" \
	"$(sql "select count(*) from (select call_key from skugen.cost_ledger group by call_key having count(*) > 1) d")" 0
t_is "every ledger row has its call key" "$(sql "select count(*) from skugen.cost_ledger where call_key is null")" 0
t_is "the run's spending is what its generations cost, counted once" \
	"$(sql "select r.spent = (select sum(cost) from skugen.provenance where run_id = r.id) and r.spent > 0 from skugen.runs r")" t
t_is "one generation and one provenance row per task" \
	"$(sql "select (select count(*) from skugen.generations) || ' ' || (select count(*) from skugen.provenance)")" "8 8"
t_is "every task is done" "$(sql "select count(*) from skugen.tasks where state = 'done'")" 8
t_done
