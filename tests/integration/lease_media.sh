# lease_media.sh: local media jobs take seconds each, and a worker claims
# them in batches: the leases of the tasks still waiting in the batch are
# renewed between jobs (and finished ones stored), so no other worker
# reclaims work that is merely queued behind a slow image, and nothing is
# made twice.
. "$(dirname "$0")/lib.sh"
new_db lease_media
cd "$SCRATCH"

photos_tool="$(dirname "$SKUGEN")/tools/example_photos"
: >catalog.jsonl
for i in $(seq 1 20); do
	printf '{"sku": "L-%d", "name": "Lamp %d", "image": "photos/l%d.png", "category": "home", "colours": ["Rust"]}\n' \
		"$i" "$i" "$i" >>catalog.jsonl
done
t_ok "the studio photos are made" "$photos_tool" catalog.jsonl "$SCRATCH"
mkdir -p templates/alt
printf '%s' '{{name}} on white' >templates/alt/default.mustache
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "queue": {"lease_s": 2},
  "generators": {"studio": {"type": "image"}},
  "outputs": [
    {"name": "main_image", "kind": "image", "template": "alt", "generator": "studio",
     "inputs": {"photo": "image"}, "preset": "amazon_main"}
  ]
}
JSON

start=$(date +%s%N)
run_skugen run --workers 2
took_ms=$((($(date +%s%N) - start) / 1000000))
t_is "the run exits 0" "$RC" 0
t_match "every image is made" "$OUT" "20 generated, 0 unchanged, 0 failed"
# The batch (one claim of all 20) outlasts the two-second lease (a lease of
# one second was outlasted by single images when the machine was loaded).
t_ok "the images take longer than the lease (${took_ms} ms)" test "$took_ms" -gt 2000
t_is "no task was claimed twice" "$(sql "select max(attempts) from skugen.tasks_all")" 1
t_is "one generation per task" "$(sql "select count(*) from skugen.generations")" 20
t_ok "no commit was refused for a lost lease" bash -c "! grep -q 'lease was taken back' <<<\"\$1\"" _ "$ERR"

t_done
