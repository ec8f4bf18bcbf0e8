# video_hosted.sh: hosted image-to-video through fal (the fake speaks its
# queue API): the photo goes to the model (inline as a data: URI), the
# rendered template is the prompt, the result is downloaded, probed with
# libavformat before it is stored, marked with XMP (exiftool reads
# trainedAlgorithmicMedia from the MP4) and priced per second of video; an
# answer that is not a playable video fails its task; a bad photo fails
# before anything is paid; a second run pays for nothing.
. "$(dirname "$0")/lib.sh"
new_db video_hosted
cd "$SCRATCH"

photos_tool="$(dirname "$SKUGEN")/tools/example_photos"
if [ ! -x "$photos_tool" ] || ! command -v ffmpeg >/dev/null || ! command -v exiftool >/dev/null; then
	echo "ok 1 - hosted video # SKIP needs $photos_tool, ffmpeg and exiftool"
	echo "1..1"
	exit 0
fi
printf '{"sku": "H-1", "image": "photos/h1.png", "category": "home", "colours": ["Teal"]}\n' >studio.jsonl
"$photos_tool" studio.jsonl "$SCRATCH" >/dev/null
# What the model sends back: a real 5 s H.264 clip.
ffmpeg -loglevel error -f lavfi -i "testsrc2=s=640x360:r=24:d=5" -c:v libx264 -preset ultrafast \
	-pix_fmt yuv420p answer.mp4 </dev/null
perl -MCompress::Zlib -e '
	sub chunk { my ($t, $d) = @_; pack("N", length $d) . $t . $d . pack("N", crc32($t . $d)) }
	open my $f, ">", "photos/tiny.png"; binmode $f;
	print $f "\x89PNG\r\n\x1a\n", chunk("IHDR", pack("NNCCCCC", 1, 1, 8, 2, 0, 0, 0)),
	      chunk("IDAT", compress("\0\xff\x80\x10")), chunk("IEND", "");'

start_fal() { # start_fal ARGS...: the fake fal (start_fake), base URL in $base
	start_fake fake_llm --fal-job-ms 30 --fal-key fal-canary-77 --log fal.log "$@"
}
start_fal --fal-video "$SCRATCH/answer.mp4"
export FAL_KEY=fal-canary-77

cat >catalog.jsonl <<'JSONL'
{"sku": "H-1", "name": "Teapot", "brand": "Kiln", "image": "photos/h1.png"}
{"sku": "B-TINY", "name": "Speck", "brand": "X", "image": "photos/tiny.png"}
JSONL
mkdir -p templates/motion
printf '%s' 'The {{brand}} {{name}} turning slowly on a table' >templates/motion/default.mustache
write_config() {
	cat >hosted.json <<JSON
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "assets": {"root": "store"},
  "providers": {"fal": {"type": "fal", "base_url": "$base/fal", "api_key_env": "FAL_KEY",
                        "download_dir": "fal-files", "poll_ms": 10, "backoff_ms": 10,
                        "prices": {"fal-ai/kling-video/v2/master/image-to-video": {"per_video_second": 0.28}}}},
  "generators": {"kling": {"type": "video", "provider": "fal",
                           "model": "fal-ai/kling-video/v2/master/image-to-video",
                           "params": {"duration": "5", "negative_prompt": "blur"}}},
  "outputs": [
    {"name": "motion", "kind": "video", "template": "motion", "generator": "kling",
     "inputs": {"photo": "image"}, "video": {"duration": 6}}
  ]
}
JSON
}
write_config

SKUGEN_DEVICE=cpu run_skugen --config hosted.json run
t_is "a hosted run with a bad photo finishes, reporting the failure (exit 1)" "$RC" 1
t_is "the good SKU has its clip" "$(sql "select string_agg(sku, ' ') from skugen.generations")" "H-1"
t_is "the bad photo failed before a job was submitted" "$(curl -s "$base/_fake/stats" | jq -r .fal_jobs)" 1
t_match "the bad photo's SKU says why" \
	"$(sql "select last_error from skugen.tasks where sku = 'B-TINY'")" 'sku "B-TINY".*1x1 pixels'
t_match "the photo travels inline as a data: URI" "$(cat fal.log)" '"image_url": *"data:image/png;base64,'
t_match "the rendered template is the prompt" "$(cat fal.log)" '"prompt": *"The Kiln Teapot turning slowly on a table"'
t_match "params win over the output's duration" "$(cat fal.log)" '"duration": *"5"'
path=$(sql "select asset_path from skugen.generations where sku = 'H-1'")
t_is "the clip is in the store under its sha256" \
	"$(sha256sum "$path" | cut -d' ' -f1)" "$(sql "select asset_sha256 from skugen.generations where sku = 'H-1'")"
t_is "probed: H.264, 640x360, 120 frames" \
	"$(sql "select (content::jsonb ->> 'codec') || ' ' || (content::jsonb ->> 'width') || 'x' || (content::jsonb ->> 'height') || ' ' || (content::jsonb ->> 'frames') from skugen.generations")" \
	"h264 640x360 120"
t_is "ffprobe still reads the marked file" \
	"$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width -of csv=p=0 "$path")" "h264,640"
t_is "exiftool reads trainedAlgorithmicMedia from its XMP" \
	"$(exiftool -s3 -XMP-iptcExt:DigitalSourceType "$path")" \
	"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
t_is "and the model" "$(exiftool -s3 -XMP-skugen:Model "$path")" "fal-ai/kling-video/v2/master/image-to-video"
t_is "provenance names the provider and the model" \
	"$(sql "select generator || ' ' || provider || ' ' || model from skugen.provenance")" \
	"video fal fal-ai/kling-video/v2/master/image-to-video"
t_is "the ledger prices the video's seconds (5 s at 0.28)" "$(sql "select sum(cost)::float8 from skugen.cost_ledger")" "1.4"
t_is "the key is nowhere in the store" "$(grep -rl fal-canary store | wc -l)" 0
SKUGEN_DEVICE=cpu run_skugen --config hosted.json run
t_is "a second run pays for nothing" "$(curl -s "$base/_fake/stats" | jq -r .fal_jobs)" 1

# A model answering with bytes that are not a video: the task fails, nothing is stored.
start_fal
write_config
new_db video_hosted_bad
SKUGEN_DEVICE=cpu run_skugen --config hosted.json run
t_is "an unplayable answer fails the run's task (exit 1)" "$RC" 1
t_match "saying it is not a playable video" \
	"$(sql "select last_error from skugen.tasks where sku = 'H-1'")" 'sku "H-1".*not a playable video'
t_is "and stores nothing new" "$(sql "select count(*) from skugen.generations")" 0

t_done
