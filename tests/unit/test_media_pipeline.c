/* test_media_pipeline.c: cut-out, placement, shadow, harmonisation,
 * compositing, channel presets and saving (media/).
 *
 * The fixtures are made here with known answers: a product drawn with a
 * known soft-edged mask on a white studio background (what the matte must
 * find again), scenes of known colour, a half-transparent square to tell
 * linear-light compositing from naive sRGB compositing.  The GPU path
 * (device.c) is run on gpu/'s CPU references and must agree with libvips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/device.h"
#include "gpu/ops.h"
#include "media/image_int.h"

#define PW 480
#define PH 400

/* The product's true alpha: an ellipse with a 3 px soft edge, plus a
 * white logo inside it (background-coloured but enclosed: product). */
static double true_alpha(int x, int y)
{
	double cx = PW / 2.0, cy = PH / 2.0 + 10, rx = 150, ry = 130;
	double dx = (x + 0.5 - cx) / rx, dy = (y + 0.5 - cy) / ry;
	double d = (sqrt(dx * dx + dy * dy) - 1.0) * 140.0;   /* ~px outside the rim */
	double a = 0.5 - d / 3.0;

	return a < 0 ? 0 : a > 1 ? 1 : a;
}

static bool in_logo(int x, int y)
{
	return abs(x - PW / 2) < 20 && abs(y - (PH / 2 + 10)) < 12;
}

/* The studio shot: a red-brown product with a vertical shade and a white
 * logo on white (with a little sensor noise), composited by its alpha. */
static struct media_image *studio_shot(uint8_t *mask_out)
{
	uint8_t *px = malloc((size_t)PW * PH * 3);
	struct media_image *img;
	unsigned seed = 7;

	for (int y = 0; y < PH; y++)
		for (int x = 0; x < PW; x++) {
			double a = true_alpha(x, y);
			double shade = 0.7 + 0.3 * y / PH;
			double fg[3] = { 170 * shade, 60 * shade, 40 * shade };
			uint8_t *p = px + ((size_t)y * PW + x) * 3;

			if (in_logo(x, y))
				fg[0] = fg[1] = fg[2] = 250;
			for (int c = 0; c < 3; c++) {
				double noise = (double)((seed = seed * 1103515245u + 12345u) >> 16 & 3) - 1.5;
				double v = fg[c] * a + 252 * (1 - a) + noise;

				p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
			}
			if (mask_out)
				mask_out[(size_t)y * PW + x] = (uint8_t)(a * 255 + 0.5);
		}
	assert_int_equal(media_image_from_pixels(px, PW, PH, 3, &img, NULL), 0);
	free(px);
	return img;
}

/* A flat image of one colour (optionally with a noise amplitude). */
static struct media_image *flat(int w, int h, int bands, const uint8_t *rgba, int noise)
{
	uint8_t *px = malloc((size_t)w * h * bands);
	struct media_image *img;
	unsigned seed = 11;

	for (size_t i = 0; i < (size_t)w * h; i++)
		for (int c = 0; c < bands; c++) {
			int v = rgba[c];

			if (noise && c < 3)
				v += (int)((seed = seed * 1103515245u + 12345u) >> 16) % (2 * noise + 1) - noise;
			px[i * bands + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	assert_int_equal(media_image_from_pixels(px, w, h, bands, &img, NULL), 0);
	free(px);
	return img;
}

static uint8_t *pixels_of(const struct media_image *img)
{
	uint8_t *px;
	size_t len;

	assert_int_equal(media_image_pixels(img, &px, &len, NULL), 0);
	return px;
}

static void test_matte_finds_the_known_mask(void **state)
{
	uint8_t *mask = malloc((size_t)PW * PH);
	struct media_image *shot = studio_shot(mask), *cut;
	struct media_cutout_opts o;
	VipsImage *rgba;
	double abs_err = 0;
	size_t inter = 0, uni = 0;
	struct err e;

	(void)state;
	media_cutout_defaults(NULL, &o);
	assert_int_equal(media_matte_cpu(shot->vi, &o, "t", &rgba, NULL, &e), 0);
	assert_int_equal(rgba->Bands, 4);
	{
		VipsImage *mem = vips_image_copy_memory(rgba);

		for (int y = 0; y < PH; y++)
			for (int x = 0; x < PW; x++) {
				int got = VIPS_IMAGE_ADDR(mem, x, y)[3], want = mask[(size_t)y * PW + x];

				abs_err += abs(got - want);
				inter += got >= 128 && want >= 128;
				uni += got >= 128 || want >= 128;
			}
		/* The white logo is enclosed by the product: not background. */
		assert_int_equal(VIPS_IMAGE_ADDR(mem, PW / 2, PH / 2 + 10)[3], 255);
		assert_int_equal(VIPS_IMAGE_ADDR(mem, 2, 2)[3], 0);
		g_object_unref(mem);
	}
	abs_err /= (double)PW * PH;
	print_message("# matte: mean |alpha error| %.2f / 255, IoU %.4f\n", abs_err,
		      (double)inter / uni);
	assert_true(abs_err < 3.0);
	assert_true((double)inter / uni > 0.98);
	g_object_unref(rgba);

	/* With holes, the enclosed white logo is background instead. */
	o.holes = true;
	assert_int_equal(media_matte_cpu(shot->vi, &o, "t", &rgba, NULL, &e), 0);
	{
		VipsImage *mem = vips_image_copy_memory(rgba);

		assert_int_equal(VIPS_IMAGE_ADDR(mem, PW / 2, PH / 2 + 10)[3], 0);
		assert_int_equal(VIPS_IMAGE_ADDR(mem, PW / 2 + 60, PH / 2 + 10)[3], 255);
		g_object_unref(mem);
	}
	g_object_unref(rgba);

	/* The public call crops to the product's box. */
	assert_int_equal(media_cutout(shot, NULL, "t", &cut, &e), 0);
	assert_true(media_image_has_alpha(cut));
	assert_true(abs(media_image_width(cut) - 300) <= 8);
	assert_true(abs(media_image_height(cut) - 260) <= 8);
	{
		/* The refined edge keeps the enclosed white logo opaque. */
		uint8_t *px = pixels_of(cut);
		int cw = media_image_width(cut), ch = media_image_height(cut);

		assert_int_equal(px[((size_t)(ch / 2) * cw + cw / 2) * 4 + 3], 255);
		assert_int_equal(px[((size_t)(ch / 2) * cw + cw / 2 + 15) * 4 + 3], 255);
		free(px);
	}
	media_image_free(cut);
	media_image_free(shot);
	free(mask);
}

static double to_lin(double v)
{
	v /= 255.0;
	return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

static double to_srgb(double v)
{
	v = v <= 0.0031308 ? v * 12.92 : 1.055 * pow(v, 1 / 2.4) - 0.055;
	return v * 255.0;
}

/* A blue disc with a wide (8 px) soft edge on white, mixed as light mixes
 * (in linear light): the edge pixels are pale blue.  Cut out, they are the
 * product's blue again, with the softness in the alpha. */
static void test_edges_freed_of_the_background(void **state)
{
	static const double blue[3] = { 40, 60, 160 };
	int n = 240;
	uint8_t *px = malloc((size_t)n * n * 3), *out;
	struct media_image *shot, *cut;
	double err_raw = 0, err_cut = 0;
	size_t cnt_raw = 0, cnt_cut = 0;
	struct err e;

	(void)state;
	for (int y = 0; y < n; y++)
		for (int x = 0; x < n; x++) {
			double r = hypot(x + 0.5 - n / 2.0, y + 0.5 - n / 2.0);
			double a = fmin(1, fmax(0, (80 - r) / 8.0 + 0.5));

			for (int c = 0; c < 3; c++) {
				double v = to_srgb(a * to_lin(blue[c]) + (1 - a) * to_lin(252));

				px[((size_t)y * n + x) * 3 + c] = (uint8_t)lround(v);
				if (c == 2 && a > 0.25 && a < 0.75) {
					const uint8_t *p = px + ((size_t)y * n + x) * 3;

					err_raw += fabs(p[0] - blue[0]) + fabs(p[1] - blue[1]) +
						   fabs(p[2] - blue[2]);
					cnt_raw++;
				}
			}
		}
	assert_int_equal(media_image_from_pixels(px, n, n, 3, &shot, NULL), 0);
	assert_int_equal(media_cutout(shot, NULL, "t", &cut, &e), 0);
	out = pixels_of(cut);
	for (size_t i = 0; i < (size_t)media_image_width(cut) * media_image_height(cut); i++) {
		const uint8_t *p = out + i * 4;

		if (p[3] > 64 && p[3] < 191) {
			err_cut += fabs(p[0] - blue[0]) + fabs(p[1] - blue[1]) + fabs(p[2] - blue[2]);
			cnt_cut++;
		}
	}
	err_raw /= 3.0 * cnt_raw;
	err_cut /= 3.0 * cnt_cut;

	/* The alpha is measured, not ramped: against the true one (the crop's
	 * offset found by search), and against the matte's own ramp. */
	{
		int cw = media_image_width(cut), ch = media_image_height(cut);
		double best = 1e9, ramp = 0;
		struct media_cutout_opts co;
		VipsImage *m, *mm;

		for (int oy = 0; oy <= n - ch; oy++)
			for (int ox = 0; ox <= n - cw; ox++) {
				double sum = 0;

				for (int y = 0; y < ch; y++)
					for (int x = 0; x < cw; x++) {
						double r = hypot(x + ox + 0.5 - n / 2.0, y + oy + 0.5 - n / 2.0);
						double a = fmin(1, fmax(0, (80 - r) / 8.0 + 0.5));

						sum += fabs(out[((size_t)y * cw + x) * 4 + 3] - a * 255);
					}
				if (sum < best)
					best = sum;
			}
		best /= (double)cw * ch;
		media_cutout_defaults(NULL, &co);
		assert_int_equal(media_matte_cpu(shot->vi, &co, "t", &m, NULL, &e), 0);
		mm = vips_image_copy_memory(m);
		for (int y = 0; y < n; y++)
			for (int x = 0; x < n; x++) {
				double r = hypot(x + 0.5 - n / 2.0, y + 0.5 - n / 2.0);
				double a = fmin(1, fmax(0, (80 - r) / 8.0 + 0.5));

				ramp += fabs(VIPS_IMAGE_ADDR(mm, x, y)[3] - a * 255);
			}
		ramp /= (double)n * n;
		print_message("# soft edge alpha: mean |error| %.2f measured, %.2f ramped (of 255)\n",
			      best, ramp);
		assert_true(best < 2.0);
		assert_true(best < ramp);
		g_object_unref(mm);
		g_object_unref(m);
	}
	print_message("# soft edge colour vs the product's: %.1f levels in the photo, %.1f cut out "
		      "(%zu edge pixels)\n", err_raw, err_cut, cnt_cut);
	assert_true(cnt_cut > 500);
	assert_true(err_raw > 40);
	assert_true(err_cut < 10);
	free(out);
	free(px);
	media_image_free(cut);
	media_image_free(shot);
}

static void expect_cutout_fails(struct media_image *img, const char *needle)
{
	struct media_image *cut = (void *)1;
	struct err e;

	err_clear(&e);
	assert_int_equal(media_cutout(img, NULL, "sku \"N-1\"", &cut, &e), -1);
	assert_null(cut);
	assert_int_equal(e.code, ERR_GENERATE);
	if (!strstr(e.msg, needle) || strncmp(e.msg, "sku \"N-1\": cannot cut out the product: ", 39))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
}

static void test_inseparable_products_fail_with_their_reason(void **state)
{
	static const uint8_t white[4] = { 255, 255, 255, 255 }, grey[4] = { 128, 128, 128, 255 };
	static const uint8_t clear[4] = { 200, 10, 10, 0 };
	struct media_image *img;
	uint8_t *px;

	(void)state;
	/* A busy background: no uniform border. */
	img = flat(300, 200, 3, grey, 60);
	expect_cutout_fails(img, "background not uniform");
	media_image_free(img);

	/* A blank studio shot: nothing but background. */
	img = flat(300, 200, 3, white, 1);
	expect_cutout_fails(img, "nothing left after removing the background");
	media_image_free(img);

	/* A product that fills the frame but for a 4 px white border. */
	px = malloc(1000 * 1000 * 3);
	for (int y = 0; y < 1000; y++)
		for (int x = 0; x < 1000; x++) {
			bool edge = x < 4 || y < 4 || x >= 996 || y >= 996;

			memset(px + ((size_t)y * 1000 + x) * 3, edge ? 255 : 40, 3);
		}
	assert_int_equal(media_image_from_pixels(px, 1000, 1000, 3, &img, NULL), 0);
	free(px);
	expect_cutout_fails(img, "no background found");
	media_image_free(img);

	/* An alpha channel with nothing opaque in it. */
	img = flat(64, 64, 4, clear, 0);
	expect_cutout_fails(img, "alpha is fully transparent");
	media_image_free(img);
}

static void test_alpha_is_kept(void **state)
{
	uint8_t *px = calloc(200 * 100, 4);
	struct media_image *img, *cut;
	uint8_t *out;
	struct err e;

	(void)state;
	/* A 60 x 40 product at (50, 30) with a graded alpha. */
	for (int y = 30; y < 70; y++)
		for (int x = 50; x < 110; x++) {
			uint8_t *p = px + ((size_t)y * 200 + x) * 4;

			p[0] = 10, p[1] = 200, p[2] = 30, p[3] = (uint8_t)(100 + x);
		}
	assert_int_equal(media_image_from_pixels(px, 200, 100, 4, &img, NULL), 0);
	assert_int_equal(media_cutout(img, NULL, "t", &cut, &e), 0);
	assert_int_equal(media_image_width(cut), 60);
	assert_int_equal(media_image_height(cut), 40);
	out = pixels_of(cut);
	for (int x = 0; x < 60; x++)
		assert_int_equal(out[((size_t)10 * 60 + x) * 4 + 3], 150 + x);
	free(out);
	media_image_free(cut);
	media_image_free(img);
	free(px);
}

/* The box of pixels that are not pure white. */
static void non_white_box(const uint8_t *px, int w, int h, int bands, int *bw, int *bh)
{
	int x0 = w, y0 = h, x1 = -1, y1 = -1;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			const uint8_t *p = px + ((size_t)y * w + x) * bands;

			if (p[0] < 250 || p[1] < 250 || p[2] < 250) {
				x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
				y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
			}
		}
	*bw = x1 - x0 + 1;
	*bh = y1 - y0 + 1;
}

static void test_amazon_main_white_and_filled(void **state)
{
	struct media_image *shot = studio_shot(NULL), *cut, *ch, *back;
	const struct media_preset *p = media_preset_builtin("amazon_main");
	struct buf jpg = BUF_INIT;
	uint8_t *px;
	int w, h, bw, bh;
	struct err e;

	(void)state;
	assert_non_null(p);
	assert_int_equal(media_cutout(shot, NULL, "t", &cut, &e), 0);
	assert_int_equal(media_channel(cut, p, MEDIA_DEVICE_CPU, "t", &ch, &e), 0);
	assert_int_equal(media_save(ch, p->format, p->quality, NULL, 0, &jpg, &e), 0);
	assert_memory_equal(jpg.data, "\xff\xd8\xff", 3);
	assert_int_equal(media_image_load_buffer(jpg.data, jpg.len, NULL, "t", &back, &e), 0);
	w = media_image_width(back);
	h = media_image_height(back);
	assert_int_equal(w > h ? w : h, 2000);
	px = pixels_of(back);
	/* Pure white (255, not 254) all along the border, after JPEG. */
	for (int x = 0; x < w; x++)
		for (int c = 0; c < 3; c++) {
			assert_int_equal(px[(size_t)x * 3 + c], 255);
			assert_int_equal(px[((size_t)(h - 1) * w + x) * 3 + c], 255);
		}
	for (int y = 0; y < h; y++)
		for (int c = 0; c < 3; c++) {
			assert_int_equal(px[(size_t)y * w * 3 + c], 255);
			assert_int_equal(px[((size_t)y * w + w - 1) * 3 + c], 255);
		}
	non_white_box(px, w, h, 3, &bw, &bh);
	print_message("# amazon_main: %dx%d, product box %dx%d (%.1f%% x %.1f%%)\n", w, h, bw, bh,
		      100.0 * bw / w, 100.0 * bh / h);
	assert_true((double)bw / w >= 0.85 && (double)bh / h >= 0.85);
	free(px);
	buf_free(&jpg);
	media_image_free(back);
	media_image_free(ch);
	media_image_free(cut);
	media_image_free(shot);
}

static void test_preset_sizes_and_custom_presets(void **state)
{
	struct media_image *shot = studio_shot(NULL), *cut, *img;
	struct media_preset custom;
	json_error_t je;
	json_t *cfg;
	struct buf b = BUF_INIT;
	struct err e;

	(void)state;
	assert_int_equal(media_cutout(shot, NULL, "t", &cut, &e), 0);

	assert_int_equal(media_channel(cut, media_preset_builtin("shopify_square"),
				       MEDIA_DEVICE_AUTO, "t", &img, &e), 0);
	assert_int_equal(media_image_width(img), 2048);
	assert_int_equal(media_image_height(img), 2048);
	media_image_free(img);

	assert_int_equal(media_channel(cut, media_preset_builtin("google"), MEDIA_DEVICE_AUTO,
				       "t", &img, &e), 0);
	assert_true(media_image_width(img) >= 800 && media_image_height(img) >= 800);
	assert_false(media_preset_builtin("google")->overlays);
	media_image_free(img);

	cfg = json_loads("{\"width\": 1200, \"height\": 1500, \"fill\": 0.8, "
			 "\"background\": \"#f4f4f4\", \"format\": \"webp\", \"quality\": 80}",
			 0, &je);
	assert_int_equal(media_preset_from_json("pdp_tall", cfg, &custom, &e), 0);
	json_decref(cfg);
	assert_int_equal(media_channel(cut, &custom, MEDIA_DEVICE_AUTO, "t", &img, &e), 0);
	assert_int_equal(media_image_width(img), 1200);
	assert_int_equal(media_image_height(img), 1500);
	assert_int_equal(media_save(img, custom.format, custom.quality, NULL, 0, &b, &e), 0);
	assert_memory_equal(b.data, "RIFF", 4);
	assert_memory_equal(b.data + 8, "WEBP", 4);
	{
		uint8_t *px = pixels_of(img);

		assert_int_equal(px[0], 0xf4);
		free(px);
	}
	buf_free(&b);
	media_image_free(img);

	/* Configuration mistakes name the preset and the key. */
	cfg = json_loads("{\"base\": \"amazon_main\", \"qualty\": 80}", 0, &je);
	assert_int_equal(media_preset_from_json("amz", cfg, &custom, &e), -1);
	assert_non_null(strstr(e.msg, "preset \"amz\": unknown key \"qualty\""));
	json_decref(cfg);
	cfg = json_loads("{\"width\": 1200, \"background\": \"white\"}", 0, &je);
	assert_int_equal(media_preset_from_json("x", cfg, &custom, &e), -1);
	assert_non_null(strstr(e.msg, "background"));
	json_decref(cfg);

	media_image_free(cut);
	media_image_free(shot);
}

static void test_linear_light_compositing(void **state)
{
	static const uint8_t half_white[4] = { 255, 255, 255, 128 }, black[4] = { 0, 0, 0, 255 };
	struct media_image *prod = flat(100, 100, 4, half_white, 0);
	struct media_image *scene = flat(400, 400, 3, black, 0), *out;
	struct media_lifestyle_opts o = { .fill = 0.5, .shadow_opacity = -1, .harmonise = -1 };
	uint8_t *px;
	int v;
	struct err e;

	(void)state;
	assert_int_equal(media_lifestyle(prod, scene, &o, "t", &out, &e), 0);
	px = pixels_of(out);
	v = px[((size_t)200 * 400 + 200) * 3];
	/* Half of white's light over black is 0.5 linear, sRGB 188; averaging
	 * sRGB numbers (the naive way) would give 128. */
	print_message("# 50%% white over black: %d (naive sRGB: 128)\n", v);
	assert_true(abs(v - 188) <= 2);
	assert_int_equal(px[((size_t)10 * 400 + 10) * 3], 0);
	free(px);
	media_image_free(out);
	media_image_free(scene);
	media_image_free(prod);
}

static void test_lifestyle_places_shadows_and_floors(void **state)
{
	static const uint8_t wall[4] = { 200, 190, 170, 255 };
	struct media_image *shot = studio_shot(NULL), *cut, *scene = flat(800, 600, 3, wall, 0);
	struct media_image *out;
	struct media_lifestyle_opts o = { .fill = 0.5, .floor = 0.9, .harmonise = -1 };
	struct media_placement pl;
	uint8_t *px;
	struct err e;

	(void)state;
	assert_int_equal(media_cutout(shot, NULL, "t", &cut, &e), 0);
	assert_int_equal(media_lifestyle(cut, scene, &o, "t", &out, &e), 0);
	assert_int_equal(media_image_width(out), 800);
	assert_int_equal(media_image_height(out), 600);
	media_place(media_image_width(cut), media_image_height(cut), 800, 600, 0.5, 0.9, &pl);
	assert_int_equal(pl.y + pl.h, 540);           /* standing on the floor line */
	px = pixels_of(out);
	/* Under the product's base, just below the floor line, the shadow
	 * darkens the wall; far away the wall is untouched. */
	{
		const uint8_t *under = px + ((size_t)(pl.y + pl.h + 2) * 800 + 400) * 3;
		const uint8_t *far = px + ((size_t)20 * 800 + 20) * 3;

		assert_int_equal(far[0], 200);
		assert_true(under[0] < 190);
	}
	/* A contact shadow: beside the product at half its height, above the
	 * squashed shadow, the wall is untouched. */
	{
		const uint8_t *beside = px + ((size_t)(pl.y + pl.h / 2) * 800 + pl.x + pl.w + 4) * 3;

		assert_true(abs(beside[0] - 200) <= 1);
	}
	/* The product's centre is the product's colour. */
	{
		const uint8_t *mid = px + ((size_t)(pl.y + pl.h / 3) * 800 + 400 - pl.w / 4) * 3;

		assert_true(mid[0] > 100 && mid[1] < 80);
	}
	free(px);
	media_image_free(out);

	/* An output size of another aspect: the scene is cropped to fill it. */
	o.width = 512;
	o.height = 512;
	assert_int_equal(media_lifestyle(cut, scene, &o, "t", &out, &e), 0);
	assert_int_equal(media_image_width(out), 512);
	assert_int_equal(media_image_height(out), 512);
	media_image_free(out);
	media_image_free(scene);
	media_image_free(cut);
	media_image_free(shot);
}

/* The shadow is blurred small and enlarged: within a level of the full blur. */
static void test_shadow_blur_matches_full_size(void **state)
{
	static const uint8_t opaque[4] = { 0, 0, 0, 255 };
	struct media_image *disc = flat(300, 300, 4, opaque, 0);
	double sigma = 30, maxd = 0;
	int m = (int)ceil(3 * sigma) + 1, W = 600, H = 600;
	VipsImage *a, *fast, *pad, *full, *fm, *sm;

	(void)state;
	assert_int_equal(vips_extract_band(disc->vi, &a, 3, NULL), 0);
	assert_int_equal(media_shadow_vips(a, W, H, 150, 150, sigma, 1.0, &fast), 0);
	assert_int_equal(vips_embed(a, &pad, 150, 150, W, H, NULL), 0);
	assert_int_equal(vips_gaussblur(pad, &full, sigma, "precision", VIPS_PRECISION_FLOAT, NULL), 0);
	fm = vips_image_copy_memory(full);
	sm = vips_image_copy_memory(fast);
	(void)m;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			double want = *(float *)VIPS_IMAGE_ADDR(fm, x, y) / 255.0;
			double got = *(float *)VIPS_IMAGE_ADDR(sm, x, y);

			maxd = fmax(maxd, fabs(got - want));
		}
	print_message("# shadow blurred at 1/%d: largest difference %.4f of full coverage\n",
		      (int)(sigma / 4), maxd);
	assert_true(maxd < 3.0 / 255);
	VipsImage *all[] = { a, fast, pad, full, fm, sm };
	for (int i = 0; i < 6; i++)
		g_object_unref(all[i]);
	media_image_free(disc);
}

static void test_lab_transfer_bounded(void **state)
{
	static const uint8_t mid[4] = { 118, 118, 118, 255 }, bright[4] = { 200, 200, 200, 255 };
	static const uint8_t near[4] = { 124, 124, 124, 255 };
	struct media_image *prod = flat(64, 64, 4, mid, 8), *scene = flat(64, 64, 3, bright, 8);
	struct media_image *close_scene = flat(64, 64, 3, near, 8);
	struct media_lab_stats sp, ss, sa, sc;
	VipsImage *moved;

	(void)state;
	assert_int_equal(media_lab_stats(prod->vi, &sp), 0);
	assert_int_equal(media_lab_stats(scene->vi, &ss), 0);
	assert_true(ss.mean[0] - sp.mean[0] > 25);
	/* Full strength, bound 8: the mean moves 8 toward the scene, no more. */
	assert_int_equal(media_harmonise_vips(prod->vi, &ss, 1.0, 8.0, 1.25, &moved, NULL), 0);
	assert_int_equal(media_lab_stats(moved, &sa), 0);
	print_message("# L*: product %.2f, scene %.2f, after %.2f (bound 8)\n", sp.mean[0],
		      ss.mean[0], sa.mean[0]);
	assert_true(sa.mean[0] > sp.mean[0] + 7.5 && sa.mean[0] < sp.mean[0] + 8.5);
	g_object_unref(moved);

	/* A scene within the bound: the mean reaches it and does not pass it. */
	assert_int_equal(media_lab_stats(close_scene->vi, &sc), 0);
	assert_int_equal(media_harmonise_vips(prod->vi, &sc, 1.0, 8.0, 1.25, &moved, NULL), 0);
	assert_int_equal(media_lab_stats(moved, &sa), 0);
	assert_true(fabs(sa.mean[0] - sc.mean[0]) < 0.5);
	g_object_unref(moved);

	/* Half strength: half way. */
	assert_int_equal(media_harmonise_vips(prod->vi, &sc, 0.5, 8.0, 1.25, &moved, NULL), 0);
	assert_int_equal(media_lab_stats(moved, &sa), 0);
	assert_true(fabs(sa.mean[0] - (sp.mean[0] + sc.mean[0]) / 2) < 0.5);
	g_object_unref(moved);
	media_image_free(close_scene);
	media_image_free(scene);
	media_image_free(prod);
}

static void test_save_formats_embed_xmp_only(void **state)
{
	static const char xmp[] =
		"<?xpacket begin=\"\xef\xbb\xbf\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>"
		"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
		"xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description "
		"xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\" "
		"Iptc4xmpExt:DigitalSourceType=\"http://cv.iptc.org/newscodes/digitalsourcetype/composite\"/>"
		"</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>";
	static const uint8_t c[4] = { 10, 120, 230, 200 };
	struct media_image *img = flat(40, 30, 4, c, 0);
	const enum media_format fmts[] = { MEDIA_FORMAT_JPEG, MEDIA_FORMAT_WEBP, MEDIA_FORMAT_PNG };

	(void)state;
	/* Metadata an input might carry must not reach the output. */
	vips_image_set_blob_copy(img->vi, VIPS_META_ICC_NAME, "junk-profile", 12);
	vips_image_set_string(img->vi, "exif-ifd0-Artist", "someone");
	for (size_t i = 0; i < 3; i++) {
		struct buf b = BUF_INIT;
		VipsImage *back;
		const void *blob;
		size_t len;
		struct err e;

		assert_int_equal(media_save(img, fmts[i], 85, xmp, sizeof xmp - 1, &b, &e), 0);
		back = vips_image_new_from_buffer(b.data, b.len, "", NULL);
		assert_non_null(back);
		assert_int_equal(vips_image_get_blob(back, VIPS_META_XMP_NAME, &blob, &len), 0);
		assert_non_null(memmem(blob, len, "digitalsourcetype/composite", 27));
		assert_int_equal(vips_image_get_typeof(back, VIPS_META_ICC_NAME), 0);
		assert_null(memmem(b.data, b.len, "someone", 7));
		/* JPEG has no alpha: flattened; the others keep it. */
		assert_int_equal(back->Bands, fmts[i] == MEDIA_FORMAT_JPEG ? 3 : 4);
		g_object_unref(back);
		buf_free(&b);
	}
	media_image_free(img);
}

/* The GPU path's code (plain buffers through gpu/ops) on the CPU references
 * must agree with the libvips path. */
static double mean_abs_diff(const struct media_image *a, const struct media_image *b)
{
	uint8_t *pa = pixels_of(a), *pb = pixels_of(b);
	size_t n = (size_t)media_image_width(a) * media_image_height(a) * media_image_bands(a);
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += abs(pa[i] - pb[i]);
	free(pa);
	free(pb);
	return sum / (double)n;
}

static void test_buffer_path_agrees_with_libvips(void **state)
{
	static const uint8_t wall[4] = { 90, 110, 160, 255 };
	uint8_t *mask = malloc((size_t)PW * PH);
	struct media_image *shot = studio_shot(mask), *cut, *a, *b;
	struct media_image *scene = flat(640, 480, 3, wall, 6);
	struct media_lifestyle_opts lo;
	struct media_cutout_opts co;
	const struct media_preset *p = media_preset_builtin("shopify_square");
	VipsImage *m1, *m2;
	size_t inter = 0, uni = 0;
	double d;
	struct err e;

	(void)state;
	media_cutout_defaults(NULL, &co);
	assert_int_equal(media_matte_cpu(shot->vi, &co, "t", &m1, NULL, &e), 0);
	if (media_matte_ops(&gpu_ops_ref, shot->vi, &co, "t", &m2, NULL, &e))
		fail_msg("%s", e.msg);
	{
		VipsImage *x = vips_image_copy_memory(m1), *y = vips_image_copy_memory(m2);

		for (int j = 0; j < PH; j++)
			for (int i = 0; i < PW; i++) {
				bool u = VIPS_IMAGE_ADDR(x, i, j)[3] >= 128;
				bool v = VIPS_IMAGE_ADDR(y, i, j)[3] >= 128;

				inter += u && v;
				uni += u || v;
			}
		g_object_unref(x);
		g_object_unref(y);
	}
	print_message("# matte libvips vs gpu_ops_ref: IoU %.4f\n", (double)inter / uni);
	assert_true((double)inter / uni > 0.99);
	g_object_unref(m1);
	g_object_unref(m2);

	assert_int_equal(media_cutout(shot, NULL, "t", &cut, &e), 0);
	assert_int_equal(media_channel_cpu(cut->vi, p, "t", &a, &e), 0);
	assert_int_equal(media_channel_ops(&gpu_ops_ref, cut->vi, p, "t", &b, &e), 0);
	assert_int_equal(media_image_width(b), 2048);
	d = mean_abs_diff(a, b);
	print_message("# shopify_square libvips vs gpu_ops_ref: mean |diff| %.3f\n", d);
	assert_true(d < 1.0);
	media_image_free(a);
	media_image_free(b);

	media_lifestyle_defaults(&(struct media_lifestyle_opts){ .fill = 0.6, .floor = 0.85 }, &lo);
	assert_int_equal(media_lifestyle_cpu(cut->vi, scene->vi, &lo, "t", &a, &e), 0);
	if (media_lifestyle_ops(&gpu_ops_ref, cut->vi, scene->vi, &lo, "t", &b, &e))
		fail_msg("%s", e.msg);
	d = mean_abs_diff(a, b);
	print_message("# lifestyle libvips vs gpu_ops_ref: mean |diff| %.3f\n", d);
	assert_true(d < 2.0);
	media_image_free(a);
	media_image_free(b);
	media_image_free(scene);
	media_image_free(cut);
	media_image_free(shot);
	free(mask);
}

static void test_devices(void **state)
{
	enum media_device d;
	struct err e;

	(void)state;
	assert_int_equal(media_device_parse("auto", &d, &e), 0);
	assert_int_equal(d, MEDIA_DEVICE_AUTO);
	assert_int_equal(media_device_parse("GPU!", &d, &e), -1);
	assert_int_equal(e.code, ERR_USAGE);
	assert_int_equal(media_device_resolve(MEDIA_DEVICE_CPU, &d, &e), 0);
	assert_int_equal(d, MEDIA_DEVICE_CPU);
	assert_int_equal(media_device_resolve(MEDIA_DEVICE_AUTO, &d, &e), 0);
	if (gpu_device_count() == 0) {
		assert_int_equal(d, MEDIA_DEVICE_CPU);
		assert_int_equal(media_device_resolve(MEDIA_DEVICE_GPU, &d, &e), -1);
		assert_non_null(strstr(e.msg, "--device gpu: "));
	} else {
		assert_int_equal(d, MEDIA_DEVICE_GPU);
	}
}

static void test_render_one_sku(void **state)
{
	struct media_image *shot = studio_shot(NULL);
	struct media_job job = {
		.product_image = shot, .preset = media_preset_builtin("amazon_main"),
		.xmp = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"/>", .xmp_len = 34,
	};
	struct buf out = BUF_INIT;
	int w = 0, h = 0;
	struct err e;

	(void)state;
	assert_int_equal(media_render(&job, "sku \"R-1\"", &out, &w, &h, &e), 0);
	assert_int_equal(w > h ? w : h, 2000);
	assert_memory_equal(out.data, "\xff\xd8\xff", 3);
	buf_free(&out);

	job.product_image = NULL;
	job.product = "/nonexistent/photo.jpg";
	assert_int_equal(media_render(&job, "sku \"R-1\": field \"image\"", &out, &w, &h, &e), -1);
	assert_non_null(strstr(e.msg, "sku \"R-1\": field \"image\": /nonexistent/photo.jpg"));
	assert_int_equal(out.len, 0);
	media_image_free(shot);
}

/* Images are immutable and shared: four workers making the same SKU's
 * images from one decoded photo and one scene at once get what one alone
 * gets, byte for byte. */
struct worker {
	const struct media_image *shot, *scene;
	struct buf out;
	int rc;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct media_lifestyle_opts lo = { .fill = 0.5, .floor = 0.9, .device = MEDIA_DEVICE_CPU };
	struct media_image *cut = NULL, *life = NULL, *ch = NULL;
	struct err e;

	w->rc = media_cutout(w->shot, NULL, "w", &cut, &e) ||
		media_lifestyle(cut, w->scene, &lo, "w", &life, &e) ||
		media_channel(cut, media_preset_builtin("google"), MEDIA_DEVICE_CPU, "w", &ch, &e) ||
		media_save(life, MEDIA_FORMAT_PNG, 0, NULL, 0, &w->out, &e) ||
		media_save(ch, MEDIA_FORMAT_PNG, 0, NULL, 0, &w->out, &e);
	media_image_free(cut);
	media_image_free(life);
	media_image_free(ch);
	return NULL;
}

static void test_threads_share_images(void **state)
{
	static const uint8_t wall[4] = { 120, 140, 90, 255 };
	struct media_image *shot = studio_shot(NULL), *scene = flat(500, 400, 3, wall, 5);
	struct worker one = { shot, scene, BUF_INIT, 0 }, w[4];
	pthread_t t[4];

	(void)state;
	work(&one);
	assert_int_equal(one.rc, 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ shot, scene, BUF_INIT, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, 0);
		assert_int_equal(w[i].out.len, one.out.len);
		assert_memory_equal(w[i].out.data, one.out.data, one.out.len);
		buf_free(&w[i].out);
	}
	buf_free(&one.out);
	media_image_free(scene);
	media_image_free(shot);
}

static int setup(void **state)
{
	(void)state;
	return media_init(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matte_finds_the_known_mask),
		cmocka_unit_test(test_inseparable_products_fail_with_their_reason),
		cmocka_unit_test(test_alpha_is_kept),
		cmocka_unit_test(test_edges_freed_of_the_background),
		cmocka_unit_test(test_amazon_main_white_and_filled),
		cmocka_unit_test(test_preset_sizes_and_custom_presets),
		cmocka_unit_test(test_linear_light_compositing),
		cmocka_unit_test(test_lifestyle_places_shadows_and_floors),
		cmocka_unit_test(test_shadow_blur_matches_full_size),
		cmocka_unit_test(test_lab_transfer_bounded),
		cmocka_unit_test(test_save_formats_embed_xmp_only),
		cmocka_unit_test(test_buffer_path_agrees_with_libvips),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_render_one_sku),
		cmocka_unit_test(test_threads_share_images),
	};

	return cmocka_run_group_tests_name("media_pipeline", tests, setup, NULL);
}
