# fal_cancel_resumed.sh: a run's fal jobs that a worker has taken up again
# after their webhook wait are cancelled at fal when the run is cancelled,
# (1) also when the run had already been stopped by its deadline (the
# deadline stop kept its reason and the cancel passed those jobs over), and
# (2) also when the call is still held back by the provider's max_in_flight
# (not started, it had nothing at fal to cancel, it was thought).
. "$(dirname "$0")/lib.sh"
new_db fal_cancel_resumed
cd "$SCRATCH"

printf '{"sku": "G-1", "image": "photos/g1.png", "category": "home", "colours": ["Rust"]}\n' >studio.jsonl
"$(dirname "$SKUGEN")/tools/example_photos" studio.jsonl "$SCRATCH" >/dev/null
mkdir -p web templates/scene
printf '%s' '{{brand}} {{name}} in a room' >templates/scene/default.mustache
# Jobs that take ten minutes at fal: only a cancel ends them here.
start_fake fake_llm --static "$SCRATCH/web" --fal-image "$SCRATCH/scenes/oak-table.jpg" \
	--fal-job-ms 600000 --fal-key fal-canary-51c2
export FAL_KEY=fal-canary-51c2
stat_() { curl -s "$base/_fake/stats" | jq -r "$1"; }
polls() { stat_ '[.paths["/fal/status"] // {} | .[]] | add // 0'; }
state_of() { sql "select state from skugen.tasks where sku = '$1' and run_id = (select max(id) from skugen.runs)"; }
wait_state() { # SKU STATE: 30 s at most
	for _ in $(seq 1 300); do
		[ "$(state_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
both_in() { wait_state G-21 "$1" && wait_state G-22 "$1"; }
cancels_since() { echo $(($(stat_ .fal_cancels) - $1)); }
polled_since() { [ "$(polls)" != "$1" ] && echo yes; }

# config MAX_IN_FLIGHT
config() {
	cat >skugen.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "assets": {"root": "store"},
  "queue": {"lease_s": 3, "poll_s": 0.2},
  "presets": {"tile": {"width": 400, "height": 300, "format": "webp", "quality": 80}},
  "providers": {"fal": {"type": "fal", "base_url": "$base/fal", "api_key_env": "FAL_KEY",
                        "download_dir": "fal-files", "poll_ms": 10, "backoff_ms": 10,
                        "max_in_flight": $1,
                        "webhook_url": "http://127.0.0.1:9/v1/webhooks/fal", "webhook_timeout_s": 3,
                        "prices": {"fal-ai/bria/product-shot": {"per_image": 0.04}}}},
  "generators": {"bria": {"type": "image", "provider": "fal", "model": "fal-ai/bria/product-shot"}},
  "outputs": [{"name": "shot", "kind": "image", "template": "scene", "generator": "bria",
               "mode": "lifestyle", "preset": "tile"}]
}
JSON
}

# ---- (1) past its deadline, then cancelled
printf '{"sku": "G-12", "name": "Urn", "brand": "Kiln", "image": "photos/g1.png"}\n' >catalog.jsonl
config 8
SKUGEN_DEVICE=cpu "$SKUGEN" run --deadline 1 >run1.out 2>run1.err &
run=$!
trap 'kill "$run" 2>/dev/null; t_cleanup' EXIT
t_ok "deadline: the job is submitted and its task waits for the webhook" wait_state G-12 waiting
t_ok "deadline: after webhook_timeout_s a worker polls it again" wait_state G-12 running
p0=$(polls)
wait_is yes polled_since "$p0"
t_is "deadline: the run is past its deadline" "$(sql "select deadline < now() from skugen.runs where id = (select max(id) from skugen.runs)")" t
cancels=$(stat_ .fal_cancels)
run_skugen cancel "$(sql "select max(id) from skugen.runs")"
t_is "deadline: cancel exits 0" "$RC" 0
t_ok "deadline: the worker cancels the job it was polling at fal" \
	wait_is 1 cancels_since "$cancels"
for _ in $(seq 1 100); do kill -0 "$run" 2>/dev/null || break; sleep 0.1; done
t_is "deadline: the run process ends (not polling on for ten minutes)" \
	"$(kill -0 "$run" 2>/dev/null && echo running || echo ended)" ended
wait "$run" 2>/dev/null
t_is "deadline: the task is cancelled" "$(state_of G-12)" cancelled

# ---- (2) a resumed job held back by max_in_flight, then cancelled
printf '{"sku": "G-21", "name": "Vase", "brand": "Kiln", "image": "photos/g1.png"}\n{"sku": "G-22", "name": "Jug", "brand": "Kiln", "image": "photos/g1.png"}\n' >catalog.jsonl
config 1
SKUGEN_DEVICE=cpu "$SKUGEN" run >run2.out 2>run2.err &
run=$!
t_ok "held: both jobs submitted, one at a time, and waiting" both_in waiting
t_ok "held: after webhook_timeout_s both are taken up again" both_in running
cancels=$(stat_ .fal_cancels)
run_skugen cancel "$(sql "select max(id) from skugen.runs")"
t_ok "held: both jobs are cancelled at fal, the polled one and the one held back" \
	wait_is 2 cancels_since "$cancels"
for _ in $(seq 1 100); do kill -0 "$run" 2>/dev/null || break; sleep 0.1; done
wait "$run" 2>/dev/null
t_is "held: both tasks are cancelled" "$(sql "select string_agg(state, ' ') from skugen.tasks where run_id = (select max(id) from skugen.runs)")" "cancelled cancelled"
t_done
