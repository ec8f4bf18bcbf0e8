/* test_video.c: product videos end to end (media/video.h) and the CPU
 * references of their kernels (gpu/warp.h, gpu/crossfade.h).
 *
 * Clips are made from stills drawn here, encoded for real (libx264, libwebp)
 * and read back by libavformat/libavcodec, libwebp's demuxer, exiftool and
 * ffprobe where installed.  Stated tolerances:
 *  - warp: exact on identity and whole-pixel shifts; separable and general
 *    paths bit-identical; constant in, constant out;
 *  - crossfade: exact at t = 0 and 1, rounding at 0.5;
 *  - first frame vs first still (decoded back from the H.264 file): mean
 *    absolute difference <= 4 levels and PSNR >= 32 dB against libvips's own
 *    cover-crop of the still (Lanczos once; we resample twice and encode at
 *    CRF 23, so a few levels of difference are expected, not more);
 *  - durations within one frame (1/30 s), frame counts and sizes exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <vips/vips.h>

#include "common/buf.h"
#include "common/bytes.h"
#include "gpu/crossfade.h"
#include "gpu/device.h"
#include "gpu/warp.h"
#include "media/video.h"

static char tmpdir[256];

#define XMP_FMT \
	"<?xpacket begin=\"\xef\xbb\xbf\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n" \
	"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n" \
	" <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n" \
	"  <rdf:Description rdf:about=\"\"\n" \
	"    xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n" \
	"    Iptc4xmpExt:DigitalSourceType=\"http://cv.iptc.org/newscodes/digitalsourcetype/%s\"/>\n" \
	" </rdf:RDF>\n" \
	"</x:xmpmeta>\n" \
	"<?xpacket end=\"w\"?>"

static char test_xmp[1024];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/skugen-video-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(test_xmp, sizeof(test_xmp), XMP_FMT, "compositeWithTrainedAlgorithmicMedia");
	return VIPS_INIT("test_video") ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A TAP "# SKIP" for the case (tests/run counts it as skipped, not passed). */
static void skip_msg_video(const char *why)
{
	print_message("# SKIP %s\n", why);
	skip();
}

static const char *tmp_path(const char *name)
{
	static char p[8][320];
	static int k;
	k = (k + 1) % 8;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return p[k];
}

/* A smooth still with some structure: gradients, a soft disc, stripes
 * that tell left from right.  New; unref it. */
static VipsImage *make_still(int w, int h, int seed)
{
	size_t n = (size_t)w * h * 3;
	uint8_t *px = malloc(n);
	assert_non_null(px);
	double cx = w * (0.35 + 0.1 * seed), cy = h * 0.5, r = (w < h ? w : h) * 0.25;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *p = px + ((size_t)y * w + x) * 3;
			double d = sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
			double disc = d < r ? 1 : d < r + 20 ? 1 - (d - r) / 20 : 0;
			double base_r = 40 + 180.0 * x / w, base_g = 60 + 150.0 * y / h;
			double base_b = 128 + 90 * sin((x + 2 * y) / (60.0 + 20 * seed));
			p[0] = (uint8_t)(base_r * (1 - disc) + (seed % 2 ? 230 : 30) * disc);
			p[1] = (uint8_t)(base_g * (1 - disc) + 40 * disc);
			p[2] = (uint8_t)(base_b * (1 - disc) + (seed % 2 ? 40 : 200) * disc);
		}
	VipsImage *img = vips_image_new_from_memory_copy(px, n, w, h, 3, VIPS_FORMAT_UCHAR);
	free(px);
	assert_non_null(img);
	return img;
}

/* warp */

static void fill_random(struct gpu_image *img, unsigned seed)
{
	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width * img->channels; x++) {
			seed = seed * 1103515245u + 12345u;
			img->data[(size_t)y * img->stride + x] = (uint8_t)(seed >> 16);
		}
}

static void test_warp_identity_and_shift(void **state)
{
	(void)state;
	struct err e;
	struct gpu_image src, dst;
	for (int ch = 1; ch <= 4; ch++) {
		assert_int_equal(gpu_image_alloc(&src, 37, 23, ch, &e), 0);
		assert_int_equal(gpu_image_alloc(&dst, 37, 23, ch, &e), 0);
		fill_random(&src, 7u + (unsigned)ch);
		for (int f = 0; f < 2; f++) {
			double id[6] = { 1, 0, 0, 0, 1, 0 };
			memset(dst.data, 0xa5, dst.stride * dst.height);
			assert_int_equal(gpu_warp_ref(&src, &dst, id, (enum gpu_warp_filter)f, &e), 0);
			assert_memory_equal(src.data, dst.data, src.stride * src.height);
			/* one whole pixel right and two down: dst(x, y) = src(x+1, y+2) */
			double sh[6] = { 1, 0, 1, 0, 1, 2 };
			assert_int_equal(gpu_warp_ref(&src, &dst, sh, (enum gpu_warp_filter)f, &e), 0);
			for (int y = 0; y < 21; y++)
				assert_memory_equal(gpu_image_px(&dst, 0, y), gpu_image_px(&src, 1, y + 2),
						    (size_t)36 * ch);
		}
		gpu_image_release(&src);
		gpu_image_release(&dst);
	}
}

static void test_warp_half_pixel_and_constant(void **state)
{
	(void)state;
	struct err e;
	struct gpu_image src, dst;
	assert_int_equal(gpu_image_alloc(&src, 64, 8, 1, &e), 0);
	assert_int_equal(gpu_image_alloc(&dst, 63, 8, 1, &e), 0);
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 64; x++)
			src.data[y * src.stride + x] = (uint8_t)(x * 4);
	double half[6] = { 1, 0, 0.5, 0, 1, 0 };
	assert_int_equal(gpu_warp_ref(&src, &dst, half, GPU_WARP_BILINEAR, &e), 0);
	for (int x = 0; x < 63; x++) /* halfway between 4x and 4x + 4 */
		assert_int_equal(dst.data[3 * dst.stride + x], 4 * x + 2);
	/* a ramp is reproduced by Catmull-Rom too, away from the clamped edges */
	assert_int_equal(gpu_warp_ref(&src, &dst, half, GPU_WARP_BICUBIC, &e), 0);
	for (int x = 2; x < 61; x++)
		assert_int_equal(dst.data[3 * dst.stride + x], 4 * x + 2);
	gpu_image_release(&dst);
	/* constant in, constant out, under any map */
	memset(src.data, 77, src.stride * src.height);
	assert_int_equal(gpu_image_alloc(&dst, 50, 40, 1, &e), 0);
	double rot[6] = { 0.8, -0.3, 5.5, 0.3, 0.8, -2.25 };
	for (int f = 0; f < 2; f++) {
		assert_int_equal(gpu_warp_ref(&src, &dst, rot, (enum gpu_warp_filter)f, &e), 0);
		for (size_t i = 0; i < dst.stride * dst.height; i++)
			assert_int_equal(dst.data[i], 77);
	}
	gpu_image_release(&src);
	gpu_image_release(&dst);
}

static void test_warp_fast_path_matches_general(void **state)
{
	(void)state;
	struct err e;
	struct gpu_image src, a, b;
	assert_int_equal(gpu_image_alloc(&src, 211, 157, 3, &e), 0);
	assert_int_equal(gpu_image_alloc(&a, 190, 120, 3, &e), 0);
	assert_int_equal(gpu_image_alloc(&b, 190, 120, 3, &e), 0);
	fill_random(&src, 99);
	/* zoomed and panned, partly outside the source (clamped edges) */
	double m[6] = { 0.913, 0, -3.37, 0, 1.071, 12.6 };
	/* the same map with a shear too small to change any coordinate: the
	 * general path must then give the same bytes */
	double g[6] = { 0.913, 1e-300, -3.37, 1e-300, 1.071, 12.6 };
	for (int f = 0; f < 2; f++) {
		assert_int_equal(gpu_warp_ref(&src, &a, m, (enum gpu_warp_filter)f, &e), 0);
		assert_int_equal(gpu_warp_ref(&src, &b, g, (enum gpu_warp_filter)f, &e), 0);
		assert_memory_equal(a.data, b.data, a.stride * a.height);
	}
	gpu_image_release(&src);
	gpu_image_release(&a);
	gpu_image_release(&b);
}

static void test_warp_bad_arguments(void **state)
{
	(void)state;
	struct err e;
	struct gpu_image src, dst;
	assert_int_equal(gpu_image_alloc(&src, 8, 8, 3, &e), 0);
	assert_int_equal(gpu_image_alloc(&dst, 8, 8, 1, &e), 0);
	double id[6] = { 1, 0, 0, 0, 1, 0 };
	err_clear(&e);
	assert_int_equal(gpu_warp_ref(&src, &dst, id, GPU_WARP_BILINEAR, &e), -1);
	assert_non_null(strstr(e.msg, "warp: destination"));
	double nan_map[6] = { NAN, 0, 0, 0, 1, 0 };
	assert_int_equal(gpu_warp_ref(&src, &src, nan_map, GPU_WARP_BILINEAR, &e), -1);
	assert_non_null(strstr(e.msg, "not finite"));
	assert_int_equal(gpu_warp_filter_parse("bicubic"), GPU_WARP_BICUBIC);
	assert_int_equal(gpu_warp_filter_parse("nearest"), -1);
	gpu_image_release(&src);
	gpu_image_release(&dst);
}

static void test_crossfade(void **state)
{
	(void)state;
	struct err e;
	struct gpu_image a, b, d;
	assert_int_equal(gpu_image_alloc(&a, 33, 9, 2, &e), 0);
	assert_int_equal(gpu_image_alloc(&b, 33, 9, 2, &e), 0);
	assert_int_equal(gpu_image_alloc(&d, 33, 9, 2, &e), 0);
	fill_random(&a, 1);
	fill_random(&b, 2);
	assert_int_equal(gpu_crossfade_ref(&a, &b, &d, 0, &e), 0);
	assert_memory_equal(d.data, a.data, a.stride * a.height);
	assert_int_equal(gpu_crossfade_ref(&a, &b, &d, 1, &e), 0);
	assert_memory_equal(d.data, b.data, b.stride * b.height);
	assert_int_equal(gpu_crossfade_ref(&a, &b, &d, 0.5, &e), 0);
	for (size_t i = 0; i < d.stride * d.height; i++)
		assert_int_equal(d.data[i], (a.data[i] + b.data[i] + 1) / 2);
	/* in place */
	assert_int_equal(gpu_crossfade_ref(&a, &b, &a, 1, &e), 0);
	assert_memory_equal(a.data, b.data, b.stride * b.height);
	d.width = 32;
	assert_int_equal(gpu_crossfade_ref(&a, &b, &d, 0.5, &e), -1);
	assert_non_null(strstr(e.msg, "crossfade: sizes"));
	gpu_image_release(&a);
	gpu_image_release(&b);
	gpu_image_release(&d);
}

/* clips */

static void make_clip(const char *path, int w, int h, double seconds, int n_stills,
		      const char *title, const struct media_encode_opts *eo,
		      struct media_video_stats *st)
{
	struct err e;
	struct media_video_opts o;
	media_video_opts_default(&o);
	o.width = w;
	o.height = h;
	o.duration = seconds;
	o.title = title;
	o.line = title ? "Free returns for 30 days" : NULL;
	VipsImage *stills[4];
	for (int i = 0; i < n_stills; i++)
		stills[i] = make_still(i % 2 ? 1200 : 1600, i % 2 ? 1500 : 1200, i);
	struct media_video *v = NULL;
	err_clear(&e);
	if (media_video_new(&v, stills, NULL, n_stills, &o, &e) < 0)
		fail_msg("media_video_new: %s", e.msg);
	if (media_video_write(v, path, eo, st, &e) < 0)
		fail_msg("media_video_write: %s", e.msg);
	media_video_free(v);
	for (int i = 0; i < n_stills; i++)
		g_object_unref(stills[i]);
}

static void fast_mp4(struct media_encode_opts *eo)
{
	media_encode_opts_default(eo);
	eo->x264_preset = "ultrafast";
}

static void test_presets_probe(void **state)
{
	(void)state;
	const char *names[] = { "square", "portrait", "landscape" };
	for (int i = 0; i < 3; i++) {
		int w, h;
		struct err e;
		assert_int_equal(media_video_preset(names[i], &w, &h, &e), 0);
		struct media_encode_opts eo;
		fast_mp4(&eo);
		char name[64];
		snprintf(name, sizeof(name), "%s.mp4", names[i]);
		const char *path = tmp_path(name);
		struct media_video_stats st;
		make_clip(path, w, h, 6, 2, "Trail Runner 2", &eo, &st);
		struct media_video_info info;
		if (media_video_probe(path, &info, &e) < 0)
			fail_msg("probe %s: %s", path, e.msg);
		print_message("# %s: %dx%d %s %s %.3f fps %.3f s %lld frames %lld bytes\n",
			      names[i], info.width, info.height, info.codec, info.pix_fmt, info.fps,
			      info.duration, info.frames, info.bytes);
		assert_int_equal(info.width, w);
		assert_int_equal(info.height, h);
		assert_string_equal(info.codec, "h264");
		assert_string_equal(info.pix_fmt, "yuv420p");
		assert_non_null(strstr(info.container, "mp4"));
		assert_true(fabs(info.fps - 30) < 1e-6);
		assert_int_equal(info.frames, 180);
		assert_true(fabs(info.duration - 6.0) <= 1.0 / 30 + 1e-9);
		assert_int_equal(st.frames, 180);
		assert_true(st.max_frames_held <= MEDIA_VIDEO_RING);
	}
	struct err e;
	int w, h;
	assert_int_equal(media_video_preset("1920x1080", &w, &h, &e), 0);
	assert_int_equal(w, 1920);
	assert_int_equal(media_video_preset("4k", &w, &h, &e), -1);
	assert_non_null(strstr(e.msg, "square or 1080x1080"));
}

/* +faststart: the moov box comes before mdat. */
static void test_faststart(void **state)
{
	(void)state;
	const char *path = tmp_path("square.mp4");
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	long off = 0, moov = -1, mdat = -1;
	uint8_t h[8];
	while (fseek(fp, off, SEEK_SET) == 0 && fread(h, 1, 8, fp) == 8) {
		long size = (long)bytes_be32(h);
		if (memcmp(h + 4, "moov", 4) == 0)
			moov = off;
		if (memcmp(h + 4, "mdat", 4) == 0)
			mdat = off;
		if (size < 8)
			break;
		off += size;
	}
	fclose(fp);
	assert_true(moov > 0 && mdat > 0);
	assert_true(moov < mdat);
}

static void psnr_mae(const uint8_t *a, const uint8_t *b, size_t n, double *psnr, double *mae)
{
	double se = 0, ae = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		se += d * d;
		ae += fabs(d);
	}
	*mae = ae / n;
	*psnr = se == 0 ? 99 : 10 * log10(255.0 * 255.0 / (se / n));
}

static void test_first_frame_is_first_still(void **state)
{
	(void)state;
	struct err e;
	struct media_video_opts o;
	media_video_opts_default(&o);
	o.width = 1920;
	o.height = 1080;
	/* markup, a control character and invalid UTF-8 are drawn as text */
	o.title = "Kettle <b>&</b> \x01 Co \xff";
	VipsImage *stills[2] = { make_still(1800, 1200, 0), make_still(1200, 1200, 1) };
	struct media_video *v = NULL;
	assert_int_equal(media_video_new(&v, stills, NULL, 2, &o, &e), 0);
	struct media_encode_opts eo;
	media_encode_opts_default(&eo); /* veryfast, CRF 23: what skugen ships */
	const char *path = tmp_path("first.mp4");
	if (media_video_write(v, path, &eo, NULL, &e) < 0)
		fail_msg("%s", e.msg);
	media_video_free(v);

	uint8_t *rgb = NULL;
	int w, h;
	if (media_video_decode_rgb(path, 0, &rgb, &w, &h, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(w, 1920);
	assert_int_equal(h, 1080);
	VipsImage *want = NULL;
	assert_int_equal(vips_thumbnail_image(stills[0], &want, 1920, "height", 1080, "crop",
					      VIPS_INTERESTING_CENTRE, NULL), 0);
	size_t len;
	uint8_t *exp = vips_image_write_to_memory(want, &len);
	assert_int_equal(len, (size_t)w * h * 3);
	double psnr, mae;
	psnr_mae(rgb, exp, len, &psnr, &mae);
	print_message("# first frame vs first still: PSNR %.2f dB, mean abs %.2f levels\n", psnr,
		      mae);
	assert_true(mae <= 4.0);
	assert_true(psnr >= 32.0);

	/* a second in, the camera has moved: no longer the same picture */
	uint8_t *later = NULL;
	assert_int_equal(media_video_decode_rgb(path, 45, &later, &w, &h, &e), 0);
	psnr_mae(later, exp, len, &psnr, &mae);
	print_message("# frame 45 vs first still: PSNR %.2f dB, mean abs %.2f levels\n", psnr, mae);
	assert_true(mae > 2.0);
	free(later);

	/* the last frame is the end card: the white background with dark text */
	uint8_t *last = NULL;
	assert_int_equal(media_video_decode_rgb(path, 179, &last, &w, &h, &e), 0);
	size_t white = 0, dark = 0;
	for (size_t i = 0; i < len; i += 3) {
		int l = (last[i] + last[i + 1] + last[i + 2]) / 3;
		white += l > 240;
		dark += l < 80;
	}
	print_message("# end card: %.1f%% white, %.2f%% dark (text)\n", 100.0 * white / (len / 3),
		      100.0 * dark / (len / 3));
	assert_true(white > len / 3 * 8 / 10);
	assert_true(dark > len / 3 / 500);
	free(last);
	free(rgb);
	g_free(exp);
	g_object_unref(want);
	g_object_unref(stills[0]);
	g_object_unref(stills[1]);
}

static void expect_error(VipsImage **stills, int n, const char *needle)
{
	struct err e;
	struct media_video_opts o;
	media_video_opts_default(&o);
	struct media_video *v = NULL;
	const char *labels[] = { "image", "lifestyle[0]" };
	err_clear(&e);
	assert_int_equal(media_video_new(&v, stills, labels, n, &o, &e), -1);
	assert_null(v);
	print_message("# %s\n", e.msg);
	if (!strstr(e.msg, needle))
		fail_msg("\"%s\" does not say \"%s\"", e.msg, needle);
}

static void test_bad_stills(void **state)
{
	(void)state;
	expect_error(NULL, 0, "no stills");
	VipsImage *tiny = make_still(1, 1, 0);
	VipsImage *stills[2] = { NULL, tiny };
	stills[0] = make_still(300, 300, 0);
	expect_error(stills, 2, "still 2 lifestyle[0]: 1x1 pixels, smaller than 64x64");
	/* 20000 x 20000, never computed: refused from its header */
	VipsImage *huge = NULL;
	assert_int_equal(vips_black(&huge, 20000, 20000, "bands", 3, NULL), 0);
	stills[1] = huge;
	expect_error(stills, 2, "still 2 lifestyle[0]: 20000x20000 pixels, over the limit");
	/* and one that can be decoded but is not an image libvips can read */
	g_object_unref(tiny);
	g_object_unref(huge);
	g_object_unref(stills[0]);

	struct err e;
	struct media_video_opts o;
	media_video_opts_default(&o);
	o.duration = 20;
	VipsImage *one = make_still(200, 200, 0);
	struct media_video *v = NULL;
	assert_int_equal(media_video_new(&v, &one, NULL, 1, &o, &e), -1);
	assert_non_null(strstr(e.msg, "duration 20 s: need 6 to 15"));
	media_video_opts_default(&o);
	o.device = MEDIA_VIDEO_DEVICE_GPU;
	assert_int_equal(media_video_new(&v, &one, NULL, 1, &o, &e), -1);
	print_message("# %s\n", e.msg);
	assert_non_null(strstr(e.msg, "gpu"));
	g_object_unref(one);
}

/* The frames come out of the threaded pipeline whole and in order: a
 * lossless clip (x264 at CRF 0), decoded frame by frame, equals what
 * media_video_render makes for the same index, byte for byte. */
static void test_pipeline_frames_in_order(void **state)
{
	(void)state;
	struct err e;
	struct media_video_opts o;
	media_video_opts_default(&o);
	o.width = 640;
	o.height = 360;
	o.title = "Lamp";
	VipsImage *stills[3] = { make_still(900, 500, 0), make_still(800, 600, 1),
				 make_still(900, 500, 2) };
	struct media_video *v = NULL;
	assert_int_equal(media_video_new(&v, stills, NULL, 3, &o, &e), 0);
	struct media_encode_opts eo;
	fast_mp4(&eo);
	eo.crf = 0;
	const char *path = tmp_path("lossless.mp4");
	struct media_video_stats st;
	if (media_video_write(v, path, &eo, &st, &e) < 0)
		fail_msg("%s", e.msg);
	print_message("# %d synthesis threads\n", st.threads);

	AVFormatContext *fmt = NULL;
	assert_int_equal(avformat_open_input(&fmt, path, NULL, NULL), 0);
	assert_true(avformat_find_stream_info(fmt, NULL) >= 0);
	const AVCodec *codec = NULL;
	int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
	assert_true(si >= 0);
	AVCodecContext *dec = avcodec_alloc_context3(codec);
	assert_int_equal(avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar), 0);
	assert_int_equal(avcodec_open2(dec, codec, NULL), 0);
	AVPacket *pkt = av_packet_alloc();
	AVFrame *fr = av_frame_alloc();
	struct media_frame want;
	assert_int_equal(media_frame_alloc(&want, 640, 360, &e), 0);
	int index = 0, compared = 0, eof = 0;
	while (!eof || avcodec_receive_frame(dec, fr) == 0) {
		if (!eof) {
			if (av_read_frame(fmt, pkt) < 0) {
				eof = 1;
				avcodec_send_packet(dec, NULL);
			} else {
				if (pkt->stream_index == si)
					avcodec_send_packet(dec, pkt);
				av_packet_unref(pkt);
			}
			if (avcodec_receive_frame(dec, fr) != 0)
				continue;
		}
		if (index % 7 == 0 || index == 179) {
			assert_int_equal(media_video_render(v, index, &want, &e), 0);
			const struct gpu_image *pl[3] = { &want.y, &want.u, &want.v };
			for (int k = 0; k < 3; k++)
				for (int y = 0; y < pl[k]->height; y++)
					if (memcmp(fr->data[k] + (size_t)y * fr->linesize[k],
						   pl[k]->data + (size_t)y * pl[k]->stride, pl[k]->width) != 0)
						fail_msg("frame %d plane %d row %d differs", index, k, y);
			compared++;
		}
		index++;
	}
	print_message("# %d frames decoded, %d compared byte for byte\n", index, compared);
	assert_int_equal(index, 180);
	media_frame_release(&want);
	av_frame_free(&fr);
	av_packet_free(&pkt);
	avcodec_free_context(&dec);
	avformat_close_input(&fmt);
	media_video_free(v);
	for (int i = 0; i < 3; i++)
		g_object_unref(stills[i]);
}

/* An unwritable destination fails with the path named; nothing is left. */
static void test_unwritable_path(void **state)
{
	(void)state;
	struct err e;
	struct media_video_opts o;
	media_video_opts_default(&o);
	VipsImage *one = make_still(200, 200, 0);
	struct media_video *v = NULL;
	assert_int_equal(media_video_new(&v, &one, NULL, 1, &o, &e), 0);
	struct media_encode_opts eo;
	fast_mp4(&eo);
	for (int f = 0; f < 2; f++) {
		eo.format = (enum media_video_format)f;
		err_clear(&e);
		assert_int_equal(media_video_write(v, "/nonexistent-dir/clip.out", &eo, NULL, &e), -1);
		print_message("# %s\n", e.msg);
		assert_non_null(strstr(e.msg, "/nonexistent-dir/clip.out"));
	}
	eo.format = MEDIA_VIDEO_MP4;
	eo.x264_preset = "warp-speed";
	assert_int_equal(media_video_write(v, tmp_path("never.mp4"), &eo, NULL, &e), -1);
	print_message("# %s\n", e.msg);
	assert_non_null(strstr(e.msg, "warp-speed"));
	assert_int_equal(access(tmp_path("never.mp4"), F_OK), -1);
	media_video_free(v);
	g_object_unref(one);
}

static int have(const char *tool)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static void read_cmd(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = 0;
	pclose(p);
}

static void test_xmp_in_mp4(void **state)
{
	(void)state;
	struct err e;
	struct media_encode_opts eo;
	fast_mp4(&eo);
	eo.xmp = test_xmp;
	eo.xmp_len = strlen(test_xmp);
	const char *path = tmp_path("xmp.mp4");
	make_clip(path, 1080, 1080, 6, 1, NULL, &eo, NULL);
	struct buf got = BUF_INIT;
	assert_int_equal(media_mp4_get_xmp(path, &got, &e), 0);
	assert_string_equal(got.data, test_xmp);
	struct media_video_info info;
	assert_int_equal(media_video_probe(path, &info, &e), 0);
	assert_int_equal(info.frames, 180);

	/* a second packet replaces the first for every reader */
	char second[1024];
	snprintf(second, sizeof(second), XMP_FMT, "trainedAlgorithmicMedia");
	assert_int_equal(media_mp4_set_xmp(path, second, strlen(second), &e), 0);
	buf_reset(&got);
	assert_int_equal(media_mp4_get_xmp(path, &got, &e), 0);
	assert_string_equal(got.data, second);
	assert_int_equal(media_video_probe(path, &info, &e), 0);
	assert_int_equal(info.frames, 180);
	buf_free(&got);

	char cmd[512], out[4096];
	if (have("exiftool")) {
		snprintf(cmd, sizeof(cmd), "exiftool -s3 -XMP-iptcExt:DigitalSourceType '%s'", path);
		read_cmd(cmd, out, sizeof(out));
		print_message("# exiftool: %s", out);
		assert_non_null(strstr(out, "digitalsourcetype/trainedAlgorithmicMedia"));
		snprintf(cmd, sizeof(cmd), "exiftool -validate -warning -s3 '%s'", path);
		read_cmd(cmd, out, sizeof(out));
		print_message("# exiftool -validate: %s", out);
	} else {
		print_message("# exiftool not installed: packet checked by our own reader only\n");
	}
	if (have("ffprobe")) {
		snprintf(cmd, sizeof(cmd),
			 "ffprobe -v error -count_packets -select_streams v:0 -show_entries "
			 "stream=codec_name,width,nb_read_packets -of csv=p=0 '%s' 2>&1", path);
		read_cmd(cmd, out, sizeof(out));
		print_message("# ffprobe: %s", out);
		assert_string_equal(out, "h264,1080,180\n");
	}
	/* not an mp4 */
	const char *txt = tmp_path("not.mp4");
	FILE *fp = fopen(txt, "w");
	fputs("<html>502 bad gateway</html>", fp);
	fclose(fp);
	assert_int_equal(media_mp4_set_xmp(txt, test_xmp, strlen(test_xmp), &e), -1);
	assert_non_null(strstr(e.msg, "not an mp4"));
	assert_int_equal(media_video_probe(txt, &info, &e), -1);
	print_message("# %s\n", e.msg);
	assert_non_null(strstr(e.msg, "not a playable video"));
}

static void test_truncated_mp4_not_playable(void **state)
{
	(void)state;
	struct err e;
	const char *src = tmp_path("xmp.mp4"), *cut = tmp_path("cut.mp4");
	FILE *in = fopen(src, "rb"), *out = fopen(cut, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char buf[2000];
	size_t n = fread(buf, 1, sizeof(buf), in); /* ftyp and part of moov */
	fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
	struct media_video_info info;
	assert_int_equal(media_video_probe(cut, &info, &e), -1);
	print_message("# %s\n", e.msg);
	assert_non_null(strstr(e.msg, "not a playable video"));
	out = fopen(cut, "wb");
	fclose(out);
	assert_int_equal(media_video_probe(cut, &info, &e), -1);
	assert_non_null(strstr(e.msg, "empty file"));
}

static void test_webp(void **state)
{
	(void)state;
	struct err e;
	struct media_encode_opts eo;
	media_encode_opts_default(&eo);
	eo.format = MEDIA_VIDEO_WEBP;
	eo.xmp = test_xmp;
	eo.xmp_len = strlen(test_xmp);
	const char *path = tmp_path("clip.webp");
	make_clip(path, 320, 320, 6, 2, "Mug", &eo, NULL);
	struct media_video_info info;
	if (media_video_probe(path, &info, &e) < 0)
		fail_msg("%s", e.msg);
	print_message("# webp: %dx%d %lld frames %.3f s %lld bytes\n", info.width, info.height,
		      info.frames, info.duration, info.bytes);
	assert_string_equal(info.container, "webp");
	assert_int_equal(info.width, 320);
	assert_int_equal(info.height, 320);
	/* WebPAnimEncoder merges frames identical to the previous one (the end
	 * card's hold) and lengthens their duration instead */
	assert_true(info.frames > 100 && info.frames <= 180);
	assert_true(fabs(info.duration - 6.0) <= 1.0 / 30 + 1e-9);
	if (have("exiftool")) {
		char cmd[512], out[1024];
		snprintf(cmd, sizeof(cmd), "exiftool -s3 -XMP-iptcExt:DigitalSourceType '%s'", path);
		read_cmd(cmd, out, sizeof(out));
		assert_non_null(strstr(out, "compositeWithTrainedAlgorithmicMedia"));
	}
}

/* The process's peak resident memory in kB (VmHWM), after resetting it
 * when reset (Linux: "5" into clear_refs); -1 when unknown. */
static long peak_kb(int reset)
{
	if (reset) {
		FILE *c = fopen("/proc/self/clear_refs", "w");
		if (!c)
			return -1;
		int ok = fputs("5", c) >= 0;
		if (fclose(c) != 0 || !ok)
			return -1;
	}
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (fp && fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	if (fp)
		fclose(fp);
	return kb;
}

/* A 15 s clip streams: the frames alive at once stay within the ring, and
 * the process's peak grows by far less than the clip's 450 frames take. */
static void test_streaming_memory(void **state)
{
	(void)state;
	long before = peak_kb(1);
	struct media_encode_opts eo;
	fast_mp4(&eo);
	struct media_video_stats st;
	make_clip(tmp_path("long.mp4"), 1080, 1080, 15, 4, "Backpack", &eo, &st);
	long after = peak_kb(0);
	double all_frames_mb = 450.0 * 1080 * 1080 * 1.5 / 1e6;
	double grew_mb = (after - before) / 1024.0;
	print_message("# 15 s clip: %d frames, at most %d held, peak RSS grew %.0f MB "
		      "(all frames: %.0f MB); synth %.2f s, encode %.2f s, wall %.2f s\n",
		      st.frames, st.max_frames_held, grew_mb, all_frames_mb, st.synth_s,
		      st.encode_s, st.wall_s);
	assert_int_equal(st.frames, 450);
	assert_true(st.max_frames_held <= MEDIA_VIDEO_RING);
	if (before < 0 || after < 0)
		print_message("# peak RSS cannot be reset here: not checked\n");
	else
		assert_true(grew_mb < all_frames_mb / 4);
	struct err e;
	struct media_video_info info;
	assert_int_equal(media_video_probe(tmp_path("long.mp4"), &info, &e), 0);
	assert_int_equal(info.frames, 450);
	assert_true(fabs(info.duration - 15.0) <= 1.0 / 30 + 1e-9);
}

/* Frames made on the GPU equal the CPU's: bilinear pan and zoom is exact
 * (gpu/warp.h), the dissolves and the card are integer blends.  Frames from
 * the start, a dissolve, the card's fade and the card itself. */
static void test_gpu_frames_match_cpu(void **state)
{
	(void)state;
	if (gpu_device_count() == 0) {
		char why[128];
		gpu_device_describe(why, sizeof(why));
		skip_msg_video(why);
		return;
	}
	struct err e;
	struct media_video_opts o;
	media_video_opts_default(&o);
	o.title = "Kettle";
	VipsImage *stills[2] = { make_still(1500, 1200, 0), make_still(1200, 1500, 1) };
	struct media_video *cpu = NULL, *gpu = NULL;
	o.device = MEDIA_VIDEO_DEVICE_CPU;
	assert_int_equal(media_video_new(&cpu, stills, NULL, 2, &o, &e), 0);
	o.device = MEDIA_VIDEO_DEVICE_GPU;
	if (media_video_new(&gpu, stills, NULL, 2, &o, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(media_video_device_name(gpu), "gpu");
	struct media_frame a, b;
	assert_int_equal(media_frame_alloc(&a, 1080, 1080, &e), 0);
	assert_int_equal(media_frame_alloc(&b, 1080, 1080, &e), 0);
	int idx[] = { 0, 37, 60, 80, 130, 140, 179 };
	for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		memset(b.mem, 0x5a, 1080 * 1080 * 3 / 2);
		assert_int_equal(media_video_render(cpu, idx[i], &a, &e), 0);
		if (media_video_render(gpu, idx[i], &b, &e) < 0)
			fail_msg("%s", e.msg);
		assert_memory_equal(a.mem, b.mem, 1080 * 1080 * 3 / 2);
	}
	media_frame_release(&a);
	media_frame_release(&b);
	media_video_free(cpu);
	media_video_free(gpu);
	g_object_unref(stills[0]);
	g_object_unref(stills[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warp_identity_and_shift),
		cmocka_unit_test(test_warp_half_pixel_and_constant),
		cmocka_unit_test(test_warp_fast_path_matches_general),
		cmocka_unit_test(test_warp_bad_arguments),
		cmocka_unit_test(test_crossfade),
		cmocka_unit_test(test_presets_probe),
		cmocka_unit_test(test_faststart),
		cmocka_unit_test(test_first_frame_is_first_still),
		cmocka_unit_test(test_bad_stills),
		cmocka_unit_test(test_unwritable_path),
		cmocka_unit_test(test_pipeline_frames_in_order),
		cmocka_unit_test(test_xmp_in_mp4),
		cmocka_unit_test(test_truncated_mp4_not_playable),
		cmocka_unit_test(test_webp),
		cmocka_unit_test(test_streaming_memory),
		cmocka_unit_test(test_gpu_frames_match_cpu),
	};
	return cmocka_run_group_tests_name("video", tests, setup, teardown);
}
