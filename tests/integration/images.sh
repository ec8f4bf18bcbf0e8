# images.sh: image outputs end to end through `skugen run` and a real
# Postgres: a channel image and a lifestyle shot per SKU from studio photos
# (local files and a download), each generation with its asset's path and
# sha256 matching the file in the store, every file marked (exiftool reads
# the IPTC DigitalSourceType and the skugen fields), a second run making
# nothing new, a replaced photo made again; and bad photos (a truncated JPEG,
# a text file, a 30000x30000 PNG, a zero-byte download, an HTTP 404, an
# animated GIF, no photo at all, a device such as /dev/zero) each failing
# only their SKU, with the SKU, the field and the problem named.  The fake
# serves the downloads from 127.0.0.1, which the configurations allow
# (media.fetch.allow); without that the download is refused (SSRF guard).
. "$(dirname "$0")/lib.sh"
new_db images
cd "$SCRATCH"

photos_tool="$(dirname "$SKUGEN")/tools/example_photos"
mkdir -p web
start_fake fake_llm --static "$SCRATCH/web"

# Studio photos (and scenes) from the demo's generator.
cat >studio.jsonl <<'JSONL'
{"sku": "G-1", "image": "photos/g1.png", "category": "home", "colours": ["Rust"]}
{"sku": "G-2", "image": "photos/g2.jpg", "category": "footwear", "colours": ["White"]}
{"sku": "G-3", "image": "web/g3.png", "category": "beauty", "colours": ["Teal"]}
{"sku": "G-1b", "image": "replacement/g1.png", "category": "home", "colours": ["Navy"]}
JSONL
t_ok "the studio photos are made" "$photos_tool" studio.jsonl "$SCRATCH"

# The bad ones.
head -c "$(($(stat -c %s photos/g2.jpg) / 2))" photos/g2.jpg >photos/truncated.jpg
printf 'SKU,price\nA-1,9.99\n' >photos/notes.png
perl -MCompress::Zlib -e '
	sub chunk { my ($t, $d) = @_; pack("N", length $d) . $t . $d . pack("N", crc32($t . $d)) }
	print "\x89PNG\r\n\x1a\n", chunk("IHDR", pack("NNCCCCC", 30000, 30000, 8, 2, 0, 0, 0)),
	      chunk("IDAT", compress("\0" x 64)), chunk("IEND", "");' >photos/huge.png
: >web/empty.png
have_gif=0
if command -v ffmpeg >/dev/null 2>&1 &&
   ffmpeg -loglevel error -f lavfi -i "color=c=red:s=64x64:d=0.3" -r 10 -loop 0 photos/anim.gif </dev/null; then
	have_gif=1
fi

cat >catalog.jsonl <<JSONL
{"sku": "G-1", "name": "Mug", "brand": "Kiln", "image": "photos/g1.png"}
{"sku": "G-2", "name": "Sneaker", "brand": "Stride", "image": "photos/g2.jpg"}
{"sku": "G-3", "name": "Serum", "brand": "Dew", "image": "$base/static/g3.png"}
{"sku": "B-TRUNC", "name": "Half", "brand": "X", "image": "photos/truncated.jpg"}
{"sku": "B-TEXT", "name": "Text", "brand": "X", "image": "photos/notes.png"}
{"sku": "B-HUGE", "name": "Huge", "brand": "X", "image": "photos/huge.png"}
{"sku": "B-EMPTY", "name": "Empty", "brand": "X", "image": "$base/static/empty.png"}
{"sku": "B-404", "name": "Gone", "brand": "X", "image": "$base/static/gone.png"}
{"sku": "B-GIF", "name": "Anim", "brand": "X", "image": "photos/anim.gif"}
{"sku": "B-NONE", "name": "Nothing", "brand": "X"}
{"sku": "B-DEV", "name": "Device", "brand": "X", "image": "/dev/zero"}
JSONL
mkdir -p templates/alt templates/scene
printf '%s' '{{brand}} {{name}} on white' >templates/alt/default.mustache
printf '%s' '{{brand}} {{name}} in a room' >templates/scene/default.mustache
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US", "de_DE"],
  "assets": {"root": "store"},
  "media": {"fetch": {"allow": ["127.0.0.1"]}},
  "presets": {"small_main": {"base": "amazon_main", "long_side": 500},
              "tile": {"width": 400, "height": 300, "format": "webp", "quality": 80}},
  "generators": {"studio": {"type": "image"}},
  "outputs": [
    {"name": "main_image", "kind": "image", "template": "alt", "generator": "studio",
     "inputs": {"photo": "image"}, "preset": "small_main"},
    {"name": "lifestyle", "kind": "image", "template": "scene", "generator": "studio",
     "scenes": "scenes", "preset": "tile", "placement": {"fill": 0.4, "floor": 0.8}}
  ]
}
JSON

SKUGEN_DEVICE=cpu run_skugen --config skugen.json run
t_is "a run with bad photos finishes, reporting failures (exit 1)" "$RC" 1
t_is "each good SKU has both images" \
	"$(sql "select string_agg(sku || ':' || output, ' ' order by sku, output) from skugen.generations")" \
	"G-1:lifestyle G-1:main_image G-2:lifestyle G-2:main_image G-3:lifestyle G-3:main_image"
t_is "one image per SKU and output, not per locale" \
	"$(sql "select count(distinct locale) from skugen.tasks where kind = 'image'")" 1

# The store: every generation's file exists, its sha256 is the recorded one.
bad_files=0
while IFS='|' read -r id path sha; do
	[ -f "$path" ] && [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sha" ] || bad_files=$((bad_files + 1))
	case "$path" in "$SCRATCH/store/${sha:0:2}/${sha:2:2}/$sha."*) ;; *) bad_files=$((bad_files + 1)) ;; esac
done < <(sql "select id, asset_path, asset_sha256 from skugen.generations")
t_is "each asset is in the store under its sha256, and its bytes match" "$bad_files" 0
t_is "the content describes the file" \
	"$(sql "select count(*) from skugen.generations where (content::jsonb ->> 'sha256') = asset_sha256
	        and (content::jsonb ->> 'width')::int > 0")" 6

# The marking, read back by exiftool.
g1_main=$(sql "select id || '|' || asset_path from skugen.generations where sku = 'G-1' and output = 'main_image'")
g2_life=$(sql "select id || '|' || asset_path from skugen.generations where sku = 'G-2' and output = 'lifestyle'")
xmp=$(exiftool -j -G1 -XMP:all "${g1_main#*|}")
t_is "a channel image says algorithmically enhanced (IPTC)" \
	"$(jq -r '.[0]["XMP-iptcExt:DigitalSourceType"]' <<<"$xmp")" \
	"http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced"
t_is "it names its generation" "$(jq -r '.[0]["XMP-skugen:GenerationId"]' <<<"$xmp")" "${g1_main%%|*}"
t_is "it names its SKU" "$(jq -r '.[0]["XMP-skugen:Sku"]' <<<"$xmp")" "G-1"
t_is "it names the template's sha256" "$(jq -r '.[0]["XMP-skugen:TemplateSha256"]' <<<"$xmp")" \
	"$(sql "select template_sha256 from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.id = ${g1_main%%|*}")"
t_is "it carries the alt text (the rendered template)" "$(jq -r '.[0]["XMP-iptcCore:AltTextAccessibility"]' <<<"$xmp")" "Kiln Mug on white"
t_is "it names the photo's sha256" "$(jq -r '.[0]["XMP-skugen:SourceSha256"]' <<<"$xmp")" \
	"$(sha256sum photos/g1.png | cut -d' ' -f1)"
xmp=$(exiftool -j -G1 -XMP:all "${g2_life#*|}")
t_is "a lifestyle shot on a scene from the folder says composite (IPTC)" \
	"$(jq -r '.[0]["XMP-iptcExt:DigitalSourceType"]' <<<"$xmp")" \
	"http://cv.iptc.org/newscodes/digitalsourcetype/composite"
t_match "the lifestyle shot has the preset's size and format" \
	"$(exiftool -s3 -FileType -ImageSize "${g2_life#*|}" | tr '\n' ' ')" "^(Extended )?WEBP 400x300 $"
t_is "provenance says who made it, on which device" \
	"$(sql "select generator || ' ' || model || ' ' || (params ->> 'device') from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.id = ${g2_life%%|*}")" \
	"image skugen-lifestyle-cpu cpu"

# Each bad photo fails its own SKU, saying which field and what is wrong.
failure() { sql "select string_agg(distinct last_error, ' / ') from skugen.tasks where sku = '$1' and output = 'main_image'"; }
for case in "B-TRUNC:" "B-TEXT:" "B-HUGE:pixels|30000" "B-EMPTY:empty" "B-404:404" "B-NONE:missing" \
	    "B-DEV:/dev/zero is not a regular file"; do
	sku=${case%%:*} want=${case#*:}
	msg=$(failure "$sku")
	t_match "$sku fails with the SKU and the field named" "$msg" "sku \"$sku\".*field \"image\""
	[ -n "$want" ] && t_match "$sku says what is wrong ($want)" "$msg" "$want"
done
if [ "$have_gif" = 1 ]; then
	t_match "an animated GIF fails its SKU" "$(failure B-GIF)" "sku \"B-GIF\".*field \"image\".*anim"
else
	echo "ok $((T_N += 1)) - an animated GIF fails its SKU # SKIP no ffmpeg to make one"
fi
t_is "no bad photo left a file behind" "$(find store -type f | wc -l)" 6

# Nothing changed: nothing is made again.
files_before=$(find store -type f | sort | sha256sum)
SKUGEN_DEVICE=cpu run_skugen --config skugen.json run
t_is "a second run makes no image again" "$(sql "select count(*) from skugen.generations")" 6
t_is "and writes no file" "$(find store -type f | sort | sha256sum)" "$files_before"

# A replaced photo is made again (the file's bytes are in the fingerprint).
old=$(sql "select asset_sha256 from skugen.generations where sku = 'G-1' and output = 'main_image'")
cp replacement/g1.png photos/g1.png
SKUGEN_DEVICE=cpu run_skugen --config skugen.json run
t_is "a replaced photo makes that SKU's images again, and only those" \
	"$(sql "select string_agg(sku || ':' || output, ' ' order by output) from skugen.generations where status <> 'superseded' and run_id = (select max(id) from skugen.runs)")" \
	"G-1:lifestyle G-1:main_image"
t_is "the old images are superseded" \
	"$(sql "select count(*) from skugen.generations where sku = 'G-1' and status = 'superseded'")" 2
t_ok "the new main image is another file" test "$(sql "select asset_sha256 from skugen.generations where sku = 'G-1' and output = 'main_image' and status <> 'superseded'")" != "$old"

# Configuration errors are found before anything runs, and located.
sed 's/"preset": "tile"/"preset": "nope"/' skugen.json >bad.json
run_skugen --config bad.json run
t_is "an unknown preset is a configuration error" "$RC" 2
t_match "naming the file, the key and the known presets" "$ERR" "bad.json:[0-9]+:[0-9]+: outputs\[1\]\.preset: no preset \"nope\" \(built in: amazon_main"
sed 's/"quality": 80/"quality": 80, "colour": "red"/' skugen.json >bad.json
run_skugen --config bad.json run
t_is "a custom preset with an unknown key is a configuration error" "$RC" 2
t_match "located at the preset" "$ERR" "bad.json:[0-9]+:[0-9]+: presets\.tile: .*colour"
sed 's/"scenes": "scenes"/"scenes": "no-scenes"/' skugen.json >bad.json
run_skugen --config bad.json run
t_is "a missing scene folder is a configuration error, found before planning" "$RC" 2
t_match "located, naming the folder" "$ERR" "bad.json:[0-9]+:[0-9]+: outputs\[1\]\.scenes: scene folder .*no-scenes"
sed 's/"fill": 0.4/"fill": 4/' skugen.json >bad.json
run_skugen --config bad.json run
t_match "placement out of range is located too" "$ERR" "bad.json:[0-9]+:[0-9]+: outputs\[1\]\.placement\.fill: 4 is out of range"

# Downloads from a private or internal address are refused unless allowed
# (the fake is on 127.0.0.1): that SKU fails, saying how to allow it; the
# local photos are made as before.  A bad allow-list entry is located.
jq 'del(.media)' skugen.json >deny.json
new_db images_ssrf
SKUGEN_DEVICE=cpu run_skugen --config deny.json run
t_is "without media.fetch, the run finishes reporting failures (exit 1)" "$RC" 1
t_match "the download from 127.0.0.1 is refused, naming the SKU, field, URL and how to allow it" "$(failure G-3)" \
	"sku \"G-3\": field \"image\": http://127\.0\.0\.1:[0-9]+/static/g3\.png: refusing to connect to 127\.0\.0\.1 \(a loopback address\); set media\.fetch\.allow_private or add it to media\.fetch\.allow"
t_is "the local photos are made all the same" \
	"$(sql "select string_agg(sku || ':' || output, ' ' order by sku, output) from skugen.generations")" \
	"G-1:lifestyle G-1:main_image G-2:lifestyle G-2:main_image"
jq '.media.fetch = {"allow_private": true}' deny.json >private.json
new_db images_private
SKUGEN_DEVICE=cpu run_skugen --config private.json run
t_is "media.fetch.allow_private lets it through" \
	"$(sql "select count(*) from skugen.generations where sku = 'G-3'")" 2
jq '.media.fetch.allow = ["127.0.0.1", "10.0.0.0/33"]' skugen.json >bad.json
run_skugen --config bad.json run
t_is "a bad allow-list entry is a configuration error" "$RC" 2
t_match "located at the entry" "$ERR" "bad.json:[0-9]+:[0-9]+: media\.fetch\.allow\[1\]: expected an IP address or a network"

# --device: cpu works anywhere; gpu without a CUDA device is refused up front.
new_db images_device
run_skugen --device cpu --config skugen.json run
t_is "--device cpu makes the images" "$(sql "select count(*) from skugen.generations")" 6
t_is "and provenance says so" "$(sql "select distinct params ->> 'device' from skugen.provenance")" cpu
if ! nvidia-smi -L >/dev/null 2>&1; then
	run_skugen --device gpu --config skugen.json run --force
	t_is "--device gpu without a CUDA device is a configuration error" "$RC" 2
	t_match "saying so" "$ERR" "no CUDA (device|compiled in)"
fi

# An optional photo: a record without one plans no image task.
sed 's/"inputs": {"photo": "image"}/"inputs": {"photo": "image", "optional": true}/' skugen.json >optional.json
new_db images_optional
SKUGEN_DEVICE=cpu run_skugen --config optional.json run
t_is "with the photo optional, a record without one plans no image task" \
	"$(sql "select count(*) from skugen.tasks where sku = 'B-NONE' and output = 'main_image'")" 0
t_is "while a record whose photo is bad still fails" \
	"$(sql "select state from skugen.tasks where sku = 'B-404' and output = 'main_image'")" failed

# Hosted models through fal: a product shot (the photo sent as a URL, or
# inline as a data: URI) and a FLUX scene the real product is placed on.  The
# fake answers with a real image; results go through the same preset, marking
# and store; bad photos fail before anything is paid.
start_fake fake_llm --static "$SCRATCH/web" --fal-image "$SCRATCH/scenes/oak-table.jpg" --fal-job-ms 30 \
	--fal-key fal-canary-51c2 --log fal.log
sed -i "s|http://127.0.0.1:[0-9]*/static|$base/static|" catalog.jsonl
export FAL_KEY=fal-canary-51c2
cat >hosted.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "assets": {"root": "store"},
  "media": {"fetch": {"allow": ["127.0.0.1"]}},
  "presets": {"tile": {"width": 400, "height": 300, "format": "webp", "quality": 80}},
  "providers": {"fal": {"type": "fal", "base_url": "$base/fal", "api_key_env": "FAL_KEY",
                        "download_dir": "fal-files", "poll_ms": 10, "backoff_ms": 10,
                        "prices": {"fal-ai/bria/product-shot": {"per_image": 0.04},
                                   "fal-ai/flux/schnell": {"per_image": 0.003}}}},
  "generators": {"bria": {"type": "image", "provider": "fal", "model": "fal-ai/bria/product-shot",
                          "params": {"placement_type": "automatic"}},
                 "flux": {"type": "image", "provider": "fal", "scene_model": "fal-ai/flux/schnell"}},
  "outputs": [
    {"name": "shot", "kind": "image", "template": "scene", "generator": "bria",
     "mode": "lifestyle", "preset": "tile"},
    {"name": "flux_scene", "kind": "image", "template": "scene", "generator": "flux",
     "mode": "lifestyle", "preset": "tile", "placement": {"fill": 0.4, "floor": 0.8}}
  ]
}
JSON
new_db images_hosted
SKUGEN_DEVICE=cpu run_skugen --config hosted.json run
t_is "a hosted run with bad photos finishes, reporting failures (exit 1)" "$RC" 1
t_is "each good SKU has a product shot and a FLUX-scene shot" \
	"$(sql "select string_agg(sku || ':' || output, ' ' order by sku, output) from skugen.generations")" \
	"G-1:flux_scene G-1:shot G-2:flux_scene G-2:shot G-3:flux_scene G-3:shot"
t_is "bad photos failed before any job was submitted (6 jobs for 3 good SKUs)" \
	"$(curl -s "$base/_fake/stats" | jq -r .fal_jobs)" 6
t_match "a local photo travels inline as a data: URI" "$(grep -c '"image_url": *"data:image/png;base64,' fal.log)" "^[1-9]"
t_match "a photo URL is passed as it is" "$(cat fal.log)" "\"image_url\": *\"$base/static/g3.png\""
t_match "the rendered template is the scene description" "$(cat fal.log)" "\"scene_description\": *\"Kiln Mug in a room\""
bad_files=0
while IFS='|' read -r path sha; do
	[ -f "$path" ] && [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sha" ] || bad_files=$((bad_files + 1))
done < <(sql "select asset_path, asset_sha256 from skugen.generations")
t_is "hosted results are in the asset store, sha256 matching" "$bad_files" 0
for out in shot flux_scene; do
	path=$(sql "select asset_path from skugen.generations where sku = 'G-1' and output = '$out'")
	t_is "$out: a real photo with a generated scene says compositeWithTrainedAlgorithmicMedia" \
		"$(exiftool -s3 -XMP-iptcExt:DigitalSourceType "$path")" \
		"http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
	t_match "$out: framed by the preset" "$(exiftool -s3 -ImageSize "$path")" "^400x300$"
	t_is "$out: the alt text is the rendered template" "$(exiftool -s3 -XMP-iptcCore:AltTextAccessibility "$path")" "Kiln Mug in a room"
done
t_is "provenance names the provider and the models" \
	"$(sql "select string_agg(distinct p.provider || ' ' || p.model, ', ') from skugen.provenance p")" \
	"fal fal-ai/bria/product-shot, fal fal-ai/flux/schnell"
t_is "the ledger prices each job (3 shots at 0.04, 3 scenes at 0.003)" "$(sql "select sum(cost)::float8 from skugen.cost_ledger")" "0.129"
t_is "the key is nowhere in the store" \
	"$(sql "select count(*) from skugen.provenance where params::text like '%fal-canary%'") $(grep -rl fal-canary store | wc -l)" "0 0"
SKUGEN_DEVICE=cpu run_skugen --config hosted.json run
t_is "a second hosted run pays for nothing" "$(curl -s "$base/_fake/stats" | jq -r .fal_jobs)" 6

# A big local photo travels scaled down to 2048 px (request bodies have limits).
if command -v ffmpeg >/dev/null 2>&1 &&
   ffmpeg -loglevel error -f lavfi -i "color=c=white:s=3600x2700,drawbox=x=900:y=600:w=1800:h=1500:color=navy:t=fill" \
	-frames:v 1 photos/big.png </dev/null; then
	printf '{"sku": "BIG-1", "name": "Crate", "brand": "Box", "image": "photos/big.png"}\n' >big.jsonl
	sed 's/"catalog.jsonl"/"big.jsonl"/' hosted.json >big.json
	new_db images_big
	SKUGEN_DEVICE=cpu run_skugen --config big.json run
	t_is "a 3600 px photo makes its product shot" "$(sql "select count(*) from skugen.generations where sku = 'BIG-1' and output = 'shot'")" 1
	grep -o '"image_url": *"data:image/[a-z]*;base64,[A-Za-z0-9+/=]*"' fal.log | tail -n 1 |
		sed 's/.*base64,//; s/"$//' | base64 -d >sent.img
	t_is "it was sent at 2048 px on its long side" "$(exiftool -s3 -ImageSize sent.img)" "2048x1536"
else
	echo "ok $((T_N += 1)) - a big photo is sent scaled down # SKIP no ffmpeg to make one"
fi

t_done
