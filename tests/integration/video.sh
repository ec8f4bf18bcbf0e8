# video.sh: video outputs end to end through `skugen run` and a real
# Postgres: a short clip per SKU from its studio photo and two lifestyle
# stills in the scenes folder, each generation with its asset's
# path and sha256 matching the MP4 in the store; the clip read back by
# independent tools (ffprobe: codec, size, frame count, duration, +faststart;
# exiftool: the IPTC DigitalSourceType and the skugen fields in its XMP); a
# second run making nothing new; and bad stills (a 1x1 photo, a 20000x20000
# PNG, no photo at all) each failing only their SKU, named.
. "$(dirname "$0")/lib.sh"
new_db video
cd "$SCRATCH"

photos_tool="$(dirname "$SKUGEN")/tools/example_photos"
if [ ! -x "$photos_tool" ] || ! command -v ffprobe >/dev/null || ! command -v exiftool >/dev/null; then
	echo "ok 1 - video outputs # SKIP needs $photos_tool, ffprobe and exiftool"
	echo "1..1"
	exit 0
fi

cat >studio.jsonl <<'JSONL'
{"sku": "V-1", "image": "photos/v1.png", "category": "home", "colours": ["Rust"]}
{"sku": "V-2", "image": "photos/v2.jpg", "category": "footwear", "colours": ["White"]}
JSONL
t_ok "the studio photos are made" "$photos_tool" studio.jsonl "$SCRATCH"

# The bad stills: a 1x1 photo, a PNG whose header says 20000x20000.
perl -MCompress::Zlib -e '
	sub chunk { my ($t, $d) = @_; pack("N", length $d) . $t . $d . pack("N", crc32($t . $d)) }
	sub png { my ($w, $h, $rows) = @_;
	  "\x89PNG\r\n\x1a\n" . chunk("IHDR", pack("NNCCCCC", $w, $h, 8, 2, 0, 0, 0)) .
	  chunk("IDAT", compress($rows)) . chunk("IEND", "") }
	open my $f, ">", "photos/tiny.png"; binmode $f; print $f png(1, 1, "\0\xff\x80\x10");
	open $f, ">", "photos/huge.png"; binmode $f; print $f png(20000, 20000, "\0" x 64);'

cat >catalog.jsonl <<'JSONL'
{"sku": "V-1", "name": "Stoneware Mug", "brand": "Kiln", "image": "photos/v1.png"}
{"sku": "V-2", "name": "Trail <Runner> & Co", "brand": "Stride", "image": "photos/v2.jpg"}
{"sku": "B-TINY", "name": "Speck", "brand": "X", "image": "photos/tiny.png"}
{"sku": "B-HUGE", "name": "Huge", "brand": "X", "image": "photos/huge.png"}
{"sku": "B-NONE", "name": "Nothing", "brand": "X"}
JSONL
mkdir -p templates/card
printf '%s' '{{brand}} {{name}}' >templates/card/default.mustache
cat >skugen.json <<'JSON'
{
  "source": {"type": "file", "path": "catalog.jsonl"},
  "locales": ["en_US"],
  "assets": {"root": "store"},
  "generators": {"clips": {"type": "video"}},
  "outputs": [
    {"name": "clip", "kind": "video", "template": "card", "generator": "clips",
     "inputs": {"photo": "image"}, "scenes": "scenes",
     "video": {"preset": "square", "duration": 6, "x264_preset": "ultrafast",
               "lifestyle": 2, "line": "Free returns for 30 days"}}
  ]
}
JSON

SKUGEN_DEVICE=cpu run_skugen --config skugen.json run
t_is "a run with bad stills finishes, reporting failures (exit 1)" "$RC" 1
t_is "each good SKU has its clip" \
	"$(sql "select string_agg(sku || ':' || output, ' ' order by sku) from skugen.generations")" \
	"V-1:clip V-2:clip"

bad_files=0
while IFS='|' read -r path sha; do
	[ -f "$path" ] && [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sha" ] || bad_files=$((bad_files + 1))
	case "$path" in "$SCRATCH/store/${sha:0:2}/${sha:2:2}/$sha.mp4") ;; *) bad_files=$((bad_files + 1)) ;; esac
done < <(sql "select asset_path, asset_sha256 from skugen.generations")
t_is "each clip is in the store under its sha256, and its bytes match" "$bad_files" 0
t_is "the content describes the clip" \
	"$(sql "select string_agg((content::jsonb ->> 'mime') || ' ' || (content::jsonb ->> 'frames') || ' ' || (content::jsonb ->> 'stills'), ', ') from skugen.generations")" \
	"video/mp4 180 3, video/mp4 180 3"

v1=$(sql "select id || '|' || asset_path from skugen.generations where sku = 'V-1'")
t_is "ffprobe: H.264, yuv420p, 1080x1080, 30 fps, 180 frames" \
	"$(ffprobe -v error -count_packets -select_streams v:0 \
		-show_entries stream=codec_name,pix_fmt,width,height,avg_frame_rate,nb_read_packets \
		-of csv=p=0 "${v1#*|}")" "h264,1080,1080,yuv420p,30/1,180"
t_match "ffprobe: 6 seconds" "$(ffprobe -v error -show_entries format=duration -of csv=p=0 "${v1#*|}")" "^6\.0"
boxes() { # the top-level ISO BMFF boxes of a file, in order
	perl -e 'open my $f, "<:raw", $ARGV[0] or die; my $off = 0; my @t;
		while (read($f, my $h, 8) == 8) { my ($n, $t) = unpack("Na4", $h); push @t, $t;
			last if $n < 8; $off += $n; seek($f, $off, 0) } print "@t\n"' "$1"
}
t_match "ftyp, moov before mdat (+faststart), the XMP box last" "$(boxes "${v1#*|}")" "^ftyp moov (free )?mdat uuid$"
xmp=$(exiftool -j -G1 -XMP:all "${v1#*|}")
t_is "the clip says composite (the photo and a real scene, no model)" \
	"$(jq -r '.[0]["XMP-iptcExt:DigitalSourceType"]' <<<"$xmp")" \
	"http://cv.iptc.org/newscodes/digitalsourcetype/composite"
t_is "it names its generation" "$(jq -r '.[0]["XMP-skugen:GenerationId"]' <<<"$xmp")" "${v1%%|*}"
t_is "it names its SKU" "$(jq -r '.[0]["XMP-skugen:Sku"]' <<<"$xmp")" "V-1"
t_is "it names the photo's sha256" "$(jq -r '.[0]["XMP-skugen:SourceSha256"]' <<<"$xmp")" \
	"$(sha256sum photos/v1.png | cut -d' ' -f1)"
t_is "provenance says who made it, on which device" \
	"$(sql "select generator || ' ' || model || ' ' || (params ->> 'device') from skugen.provenance p join skugen.generations g on g.id = p.generation_id where g.id = ${v1%%|*}")" \
	"video skugen-video-cpu cpu"
t_is "the end card carries the rendered name, markup and all" \
	"$(sql "select content::jsonb ->> 'title' from skugen.generations where sku = 'V-2'")" "Stride Trail <Runner> & Co"

failure() { sql "select string_agg(distinct last_error, ' / ') from skugen.tasks where sku = '$1'"; }
t_match "a 1x1 photo fails its SKU, saying so" "$(failure B-TINY)" 'sku "B-TINY".*1x1 pixels'
t_match "a 20000x20000 photo fails its SKU before it is decoded" "$(failure B-HUGE)" 'sku "B-HUGE".*field "image".*(pixels|20000)'
t_match "no photo fails its SKU: no stills" "$(failure B-NONE)" 'sku "B-NONE".*field "image"'
t_is "no bad SKU left a file behind" "$(find store -type f | wc -l)" 2

files_before=$(find store -type f | sort | sha256sum)
SKUGEN_DEVICE=cpu run_skugen --config skugen.json run
t_is "a second run makes no clip again" "$(sql "select count(*) from skugen.generations")" 2
t_is "and writes no file" "$(find store -type f | sort | sha256sum)" "$files_before"

# A changed end-card line is in the fingerprint: every clip is made again.
sed 's/Free returns for 30 days/Free returns for 60 days/' skugen.json >line.json
SKUGEN_DEVICE=cpu run_skugen --config line.json run
t_is "a changed line makes the clips again" \
	"$(sql "select count(*) from skugen.generations where status <> 'superseded'")" 2
t_is "the old clips are superseded" \
	"$(sql "select count(*) from skugen.generations where status = 'superseded'")" 2

# The scenes of the later lifestyle stills are in the fingerprint too.
first=$(sql "select content::jsonb -> 'scenes' ->> 0 from skugen.generations where sku = 'V-1' and status <> 'superseded'")
second=$(sql "select content::jsonb -> 'scenes' ->> 1 from skugen.generations where sku = 'V-1' and status <> 'superseded'")
t_ok "the clip names the scenes its stills used" test -n "$first" -a -n "$second" -a "$first" != "$second"
cp "scenes/$first" "scenes/$second"
SKUGEN_DEVICE=cpu run_skugen --config line.json run
t_match "a replaced scene that only V-1's second lifestyle still uses makes its clip again" \
	"$(sql "select string_agg(sku, ' ' order by sku) from skugen.generations where run_id = (select max(id) from skugen.runs)")" "V-1"

# Configuration errors are located.
sed 's/"preset": "square"/"preset": "4k"/' skugen.json >bad.json
run_skugen --config bad.json run
t_is "an unknown video preset is a configuration error" "$RC" 2
t_match "naming the file, the key and the presets" "$ERR" 'bad.json:[0-9]+:[0-9]+: outputs\[0\]\.video\.preset: .*square or 1080x1080'
sed 's/"lifestyle": 2,/"lifestyle": 2, "fps": "thirty",/' skugen.json >bad.json
run_skugen --config bad.json run
t_match "a wrong type is located" "$ERR" 'outputs\[0\]\.video\.fps'

t_done
