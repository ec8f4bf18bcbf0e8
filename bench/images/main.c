/* bench/images: skugen's CPU image pipeline against a minimal hand-written
 * libvips pipeline doing the same steps on the same inputs, in one process
 * (issue 8, "Benchmarks").
 *
 * Inputs, made here: a 3000 x 3000 studio shot (a product with soft edges on
 * white, sensor noise), JPEG-encoded, and a 2400 x 1800 scene.  Per image:
 *   pixel stages   the cut-out (border-median background, Lab distance, flood
 *                  from the border, ramp, feather), a 2048 x 2048 lifestyle
 *                  shot (scene cropped to the size, product resized in linear
 *                  light, Lab harmonisation, contact shadow, composite) and
 *                  a 2048 x 2048 shopify_square channel image;
 *   decode         the 3000 x 3000 JPEG into memory;
 *   encode         the 2048 x 2048 result as JPEG q90.
 * "skugen" is media/'s API (media_cutout, media_lifestyle, media_channel,
 * media_image_load_buffer, media_save) with --device cpu.  "libvips" is the
 * same work as a libvips user would write it directly: vips_composite with a
 * shadow layer and the product in scRGB, vips_thumbnail_image for the scene,
 * vips_dE76 for the distance, no intermediate checks or copies beyond what
 * the flood needs.  Runs alternate between the two (ABAB...), and each side
 * reports its median, so load from other processes hits both alike.
 *
 * Then refs.c times gpu/'s CPU references against libvips per step (one
 * thread each), which the GPU comparison on a machine without libvips needs.
 *
 * Goal (the issue's): skugen's pixel stages at >= 0.8 of the hand-written
 * pipeline's speed.  Decode and encode are reported separately, with the
 * same goal.  The GPU side (kernels against a device copy, GPU vs CPU images
 * per second) is printed by `make -C gpu bench`.  Last lines:
 *     name: value (goal: ...) met|missed
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "media/image_int.h"

#include "refs.h"
#include "bench/common/bench_util.h"

#define SRC 3000
#define OUT 2048
#define ROUNDS 5
#define CODEC_ROUNDS 6   /* decode and encode pairs per round */

static void die(const char *what, const struct err *e) __attribute__((noreturn));

static void die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench/images: %s: %s\n", what, e ? e->msg : vips_error_buffer());
	exit(1);
}

/* The studio shot: a rounded product with a vertical shade, a soft 3 px
 * rim, on white with noise. */
static VipsImage *make_shot(void)
{
	uint8_t *px = malloc((size_t)SRC * SRC * 3);
	unsigned seed = 1;
	VipsImage *vi;

	for (int y = 0; y < SRC; y++)
		for (int x = 0; x < SRC; x++) {
			double dx = (x - SRC * 0.5) / (SRC * 0.32), dy = (y - SRC * 0.55) / (SRC * 0.38);
			double d = (sqrt(dx * dx + dy * dy) - 1.0) * SRC * 0.35;
			double a = d < -1.5 ? 1 : d > 1.5 ? 0 : 0.5 - d / 3.0;
			double shade = 0.6 + 0.4 * y / SRC;
			double fg[3] = { 60 * shade, 110 * shade, 170 * shade };
			uint8_t *p = px + ((size_t)y * SRC + x) * 3;

			for (int c = 0; c < 3; c++) {
				double n = (double)((seed = seed * 1103515245u + 12345u) >> 16 & 3) - 1.5;
				double v = fg[c] * a + 250 * (1 - a) + n;

				p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
		}
	vi = vips_image_new_from_memory_copy(px, (size_t)SRC * SRC * 3, SRC, SRC, 3,
					     VIPS_FORMAT_UCHAR);
	free(px);
	vi->Type = VIPS_INTERPRETATION_sRGB;
	return vi;
}

static VipsImage *make_scene(void)
{
	int w = 2400, h = 1800;
	uint8_t *px = malloc((size_t)w * h * 3);
	VipsImage *vi;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *p = px + ((size_t)y * w + x) * 3;
			bool floor = y > h * 0.7;

			p[0] = (uint8_t)(floor ? 150 + (x * 7 + y * 3) % 20 : 220 - y / 30);
			p[1] = (uint8_t)(floor ? 110 + (x * 5) % 15 : 205 - y / 40);
			p[2] = (uint8_t)(floor ? 80 : 180 - y / 50);
		}
	vi = vips_image_new_from_memory_copy(px, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
	free(px);
	vi->Type = VIPS_INTERPRETATION_sRGB;
	return vi;
}

/* ---- the hand-written libvips pipeline ------------------------------------ */

#define CHECK(x) do { if (x) die(#x, NULL); } while (0)

/* The edge measured and unmixed: F spread from the interior by a
 * normalised blur, alpha = (C-B).(F-B)/|F-B|^2 at the edge, colour
 * (C - (1-a) B) / a, all in linear light. */
static VipsImage *hand_edges(VipsImage *rgba, const uint8_t bgc[3])
{
	VipsImage *c, *a, *lin, *d, *hard, *hb, *solid, *w, *dw, *num, *den, *den2, *fmb, *dot, *dotm,
		  *nn, *nnm, *aest, *a8, *band, *kept, *edge, *a1, *alpha, *af, *ab, *sum, *af2,
		  *col, *cols, *srgb, *out;
	float l[3];
	double one[3] = { 1, 1, 1 }, mb[3], bb[3];

	vips_col_sRGB2scRGB_8(bgc[0], bgc[1], bgc[2], &l[0], &l[1], &l[2]);
	for (int i = 0; i < 3; i++)
		mb[i] = -l[i], bb[i] = l[i];
	CHECK(vips_extract_band(rgba, &c, 0, "n", 3, NULL));
	CHECK(vips_extract_band(rgba, &a, 3, NULL));
	CHECK(vips_colourspace(c, &lin, VIPS_INTERPRETATION_scRGB, NULL));
	CHECK(vips_linear(lin, &d, one, mb, 3, NULL));
	CHECK(vips_equal_const1(a, &hard, 255, NULL));
	CHECK(vips_gaussblur(hard, &hb, 2.0, "precision", VIPS_PRECISION_FLOAT, NULL));
	CHECK(vips_moreeq_const1(hb, &solid, 254, NULL));
	CHECK(vips_linear1(solid, &w, 1 / 255.0, 0, NULL));
	CHECK(vips_multiply(d, w, &dw, NULL));
	CHECK(vips_gaussblur(dw, &num, 4.0, "precision", VIPS_PRECISION_FLOAT, NULL));
	CHECK(vips_gaussblur(w, &den, 4.0, "precision", VIPS_PRECISION_FLOAT, NULL));
	{
		VipsImage *lt, *k;

		CHECK(vips_less_const1(den, &lt, 0.02, NULL));
		CHECK(vips_linear1(den, &k, 0, 0.02, NULL));
		CHECK(vips_ifthenelse(lt, k, den, &den2, NULL));
		g_object_unref(lt);
		g_object_unref(k);
	}
	CHECK(vips_divide(num, den2, &fmb, NULL));
	CHECK(vips_multiply(d, fmb, &dot, NULL));
	CHECK(vips_bandmean(dot, &dotm, NULL));
	CHECK(vips_multiply(fmb, fmb, &nn, NULL));
	CHECK(vips_bandmean(nn, &nnm, NULL));
	{
		VipsImage *lt, *k, *nn2, *q;

		CHECK(vips_less_const1(nnm, &lt, 1e-5, NULL));
		CHECK(vips_linear1(nnm, &k, 0, 1e-5, NULL));
		CHECK(vips_ifthenelse(lt, k, nnm, &nn2, NULL));
		CHECK(vips_divide(dotm, nn2, &q, NULL));
		CHECK(vips_linear1(q, &aest, 255, 0, NULL));
		g_object_unref(lt);
		g_object_unref(k);
		g_object_unref(nn2);
		g_object_unref(q);
	}
	CHECK(vips_cast(aest, &a8, VIPS_FORMAT_UCHAR, NULL));
	CHECK(vips_moreeq_const1(den, &band, 0.02, NULL));
	CHECK(vips_moreeq_const1(a, &kept, 1, NULL));
	CHECK(vips_andimage(band, kept, &edge, NULL));
	CHECK(vips_ifthenelse(edge, a8, a, &a1, NULL));
	CHECK(vips_ifthenelse(solid, a, a1, &alpha, NULL));
	/* Unmix with the new alpha. */
	CHECK(vips_linear1(alpha, &af, 1 / 255.0, 0, NULL));
	CHECK(vips_linear(af, &ab, bb, mb, 3, NULL));
	CHECK(vips_add(lin, ab, &sum, NULL));
	{
		VipsImage *lt, *k;

		CHECK(vips_less_const1(af, &lt, 0.1, NULL));
		CHECK(vips_linear1(af, &k, 0, 0.1, NULL));
		CHECK(vips_ifthenelse(lt, k, af, &af2, NULL));
		g_object_unref(lt);
		g_object_unref(k);
	}
	CHECK(vips_divide(sum, af2, &col, NULL));
	CHECK(vips_copy(col, &cols, "interpretation", VIPS_INTERPRETATION_scRGB, NULL));
	CHECK(vips_colourspace(cols, &srgb, VIPS_INTERPRETATION_sRGB, NULL));
	CHECK(vips_bandjoin2(srgb, alpha, &out, NULL));
	out->Type = VIPS_INTERPRETATION_sRGB;
	VipsImage *mem = vips_image_copy_memory(out);
	VipsImage *all[] = { c, a, lin, d, hard, hb, solid, w, dw, num, den, den2, fmb, dot, dotm,
			     nn, nnm, aest, a8, band, kept, edge, a1, alpha, af, ab, sum, af2, col,
			     cols, srgb, out };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		g_object_unref(all[i]);
	return mem;
}

static VipsImage *hand_matte(VipsImage *rgb)
{
	size_t hist[3][256] = { { 0 } }, n = 0;
	int w = rgb->Xsize, h = rgb->Ysize, b = 4;
	double bg[3], ink = 128;
	VipsImage *lab, *bgimg, *bglab, *de, *mask, *memmask, *reached, *ramp, *r8, *and, *alpha,
		  *soft, *a8, *out;
	uint8_t bgc[3];

	/* The border band's median colour. */
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			if (!(y < b || y >= h - b || x < b || x >= w - b)) {
				x = w - b - 1;
				continue;
			}
			const uint8_t *p = VIPS_IMAGE_ADDR(rgb, x, y);

			hist[0][p[0]]++, hist[1][p[1]]++, hist[2][p[2]]++, n++;
		}
	for (int c = 0; c < 3; c++) {
		size_t acc = 0;
		int v = 0;

		while (v < 255 && (acc += hist[c][v]) * 2 < n)
			v++;
		bgc[c] = (uint8_t)v;
		bg[c] = v;
	}
	/* Distance to it in Lab: dE76 against a constant Lab image (the
	 * colour converted once, then spread by vips_linear). */
	CHECK(vips_colourspace(rgb, &lab, VIPS_INTERPRETATION_LAB, NULL));
	CHECK(vips_black(&bgimg, w, h, "bands", 3, NULL));
	{
		VipsImage *one, *one_lab;
		double zero[3] = { 0, 0, 0 }, *v;
		int nv;

		one = vips_image_new_from_memory_copy(bgc, 3, 1, 1, 3, VIPS_FORMAT_UCHAR);
		one->Type = VIPS_INTERPRETATION_sRGB;
		CHECK(vips_colourspace(one, &one_lab, VIPS_INTERPRETATION_LAB, NULL));
		CHECK(vips_getpoint(one_lab, &v, &nv, 0, 0, NULL));
		for (int c = 0; c < 3; c++)
			bg[c] = v[c];
		g_free(v);
		g_object_unref(one_lab);
		g_object_unref(one);
		CHECK(vips_linear(bgimg, &bglab, zero, bg, 3, NULL));
		bglab->Type = VIPS_INTERPRETATION_LAB;
	}
	CHECK(vips_dE76(lab, bglab, &de, NULL));
	CHECK(vips_less_const1(de, &mask, 14.0, NULL));
	memmask = vips_image_copy_memory(mask);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			if (!(y == 0 || y == h - 1 || x == 0 || x == w - 1)) {
				x = w - 2;
				continue;
			}
			if (*VIPS_IMAGE_ADDR(memmask, x, y) == 255)
				CHECK(vips_draw_flood(memmask, &ink, 1, x, y, "equal", TRUE, NULL));
		}
	CHECK(vips_equal_const1(memmask, &reached, 128, NULL));
	CHECK(vips_linear1(de, &ramp, -255.0 / 8, 255.0 + 6 * 255.0 / 8, NULL));
	CHECK(vips_cast(ramp, &r8, VIPS_FORMAT_UCHAR, NULL));
	CHECK(vips_andimage(reached, r8, &and, NULL));
	CHECK(vips_invert(and, &alpha, NULL));
	CHECK(vips_gaussblur(alpha, &soft, 1.0, NULL));
	CHECK(vips_cast(soft, &a8, VIPS_FORMAT_UCHAR, NULL));
	CHECK(vips_bandjoin2(rgb, a8, &out, NULL));
	{
		VipsImage *m = vips_image_copy_memory(out);
		VipsImage *crop, *ab;
		int l, t, cw, ch;
		VipsArrayDouble *z = vips_array_double_newv(1, 0.0);

		CHECK(vips_extract_band(m, &ab, 3, NULL));
		CHECK(vips_find_trim(ab, &l, &t, &cw, &ch, "background", z, "threshold", 0.0, NULL));
		CHECK(vips_crop(m, &crop, l, t, cw, ch, NULL));
		vips_area_unref(VIPS_AREA(z));
		g_object_unref(ab);
		g_object_unref(m);
		g_object_unref(out);
		out = hand_edges(crop, bgc);
		g_object_unref(crop);
	}
	VipsImage *all[] = { lab, bgimg, bglab, de, mask, memmask, reached, ramp, r8, and, alpha,
			     soft, a8 };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		g_object_unref(all[i]);
	return out;
}

/* Lab mean and deviation, weighted by alpha when there is one. */
static void hand_stats(VipsImage *in, double mean[3], double sd[3])
{
	VipsImage *lab, *st;
	double *v;
	int n;

	CHECK(vips_colourspace(in, &lab, VIPS_INTERPRETATION_LAB, NULL));
	if (lab->Bands == 4) {
		VipsImage *c, *a, *ca, *cca, *j1, *j2;
		double s[7];

		CHECK(vips_extract_band(lab, &c, 0, "n", 3, NULL));
		CHECK(vips_extract_band(lab, &a, 3, NULL));
		CHECK(vips_multiply(c, a, &ca, NULL));
		CHECK(vips_multiply(ca, c, &cca, NULL));
		CHECK(vips_bandjoin2(ca, cca, &j1, NULL));
		CHECK(vips_bandjoin2(j1, a, &j2, NULL));
		CHECK(vips_stats(j2, &st, NULL));
		for (int i = 0; i < 7; i++) {
			CHECK(vips_getpoint(st, &v, &n, 2, i + 1, NULL));
			s[i] = v[0];
			g_free(v);
		}
		for (int i = 0; i < 3; i++) {
			mean[i] = s[i] / s[6];
			sd[i] = sqrt(fmax(0, s[i + 3] / s[6] - mean[i] * mean[i]));
		}
		VipsImage *all[] = { c, a, ca, cca, j1, j2 };
		for (int i = 0; i < 6; i++)
			g_object_unref(all[i]);
	} else {
		CHECK(vips_stats(lab, &st, NULL));
		for (int i = 0; i < 3; i++) {
			CHECK(vips_getpoint(st, &v, &n, 4, i + 1, NULL));
			mean[i] = v[0];
			g_free(v);
			CHECK(vips_getpoint(st, &v, &n, 5, i + 1, NULL));
			sd[i] = v[0];
			g_free(v);
		}
	}
	g_object_unref(st);
	g_object_unref(lab);
}

static VipsImage *hand_lifestyle(VipsImage *cut, VipsImage *scene)
{
	struct media_placement pl;
	VipsImage *bg, *small_bg, *lin, *pre, *rs, *un, *lab, *moved, *lab2, *fg, *alpha, *pad, *blur,
		  *sh, *black, *shadow, *out, *bg_lin, *comp;
	double pm[3], psd[3], sm[3], ssd[3], a[4] = { 1, 1, 1, 1 }, b[4] = { 0, 0, 0, 0 };

	media_place(cut->Xsize, cut->Ysize, OUT, OUT, 0.55, 0.9, &pl);
	CHECK(vips_thumbnail_image(scene, &bg, OUT, "height", OUT, "crop", VIPS_INTERESTING_CENTRE,
				   "size", VIPS_SIZE_FORCE, NULL));
	/* The product resized in linear light, premultiplied. */
	CHECK(vips_colourspace(cut, &lin, VIPS_INTERPRETATION_scRGB, NULL));
	CHECK(vips_premultiply(lin, &pre, NULL));
	CHECK(vips_resize(pre, &rs, (double)pl.w / cut->Xsize, "vscale", (double)pl.h / cut->Ysize,
			  "kernel", VIPS_KERNEL_LANCZOS3, NULL));
	CHECK(vips_unpremultiply(rs, &un, NULL));
	{
		VipsImage *t = vips_image_copy_memory(un);

		g_object_unref(un);
		un = t;
		un->Type = VIPS_INTERPRETATION_scRGB;
	}
	/* Harmonise: Reinhard in Lab, strength 0.5, bounded by 8 and 1.25. */
	CHECK(vips_shrink(bg, &small_bg, 4, 4, NULL));
	hand_stats(small_bg, sm, ssd);
	hand_stats(un, pm, psd);
	for (int c = 0; c < 3; c++) {
		double k = 1 + 0.5 * (psd[c] > 1e-3 ? ssd[c] / psd[c] - 1 : 0);
		double s = fmax(-8, fmin(8, 0.5 * (sm[c] - pm[c])));

		k = fmax(1 / 1.25, fmin(1.25, k));
		a[c] = k;
		b[c] = pm[c] + s - pm[c] * k;
	}
	CHECK(vips_colourspace(un, &lab, VIPS_INTERPRETATION_LAB, NULL));
	CHECK(vips_linear(lab, &moved, a, b, 4, NULL));
	CHECK(vips_copy(moved, &lab2, "interpretation", VIPS_INTERPRETATION_LAB, NULL));
	CHECK(vips_colourspace(lab2, &fg, VIPS_INTERPRETATION_scRGB, NULL));
	/* The shadow: a black layer whose alpha is the product's alpha
	 * squashed to 15% of its height at its base, blurred. */
	{
		double sigma = 0.03 * pl.h;
		int m = (int)ceil(3 * sigma) + 1;
		VipsImage *full_alpha;

		CHECK(vips_extract_band(fg, &full_alpha, 3, NULL));
		CHECK(vips_resize(full_alpha, &alpha, 1.0, "vscale",
				  (double)media_shadow_height(pl.h, 0.15) / pl.h, NULL));
		g_object_unref(full_alpha);

		/* Blurred at 1/k of the size and enlarged (it is that smooth). */
		int k = sigma >= 8 ? (int)(sigma / 4) : 1;
		int pw = (pl.w + 2 * m + k - 1) / k * k, ph = (alpha->Ysize + 2 * m + k - 1) / k * k;
		VipsImage *shr, *smb;

		CHECK(vips_embed(alpha, &pad, m, m, pw, ph, NULL));
		CHECK(vips_shrink(pad, &shr, k, k, NULL));
		CHECK(vips_gaussblur(shr, &smb, sigma / k, "precision", VIPS_PRECISION_FLOAT, NULL));
		{
			VipsInterpolate *bil = vips_interpolate_new("bilinear");
			VipsArrayInt *area = vips_array_int_newv(4, 0, 0, pw, ph);

			CHECK(vips_affine(smb, &blur, k, 0, 0, k, "interpolate", bil, "odx",
					  (k - 1) / 2.0, "ody", (k - 1) / 2.0, "oarea", area, NULL));
			vips_area_unref(VIPS_AREA(area));
			g_object_unref(bil);
		}
		g_object_unref(shr);
		g_object_unref(smb);
		CHECK(vips_linear1(blur, &sh, 0.45, 0, NULL));
		CHECK(vips_black(&black, blur->Xsize, blur->Ysize, "bands", 3, NULL));
		CHECK(vips_bandjoin2(black, sh, &shadow, NULL));
		shadow->Type = VIPS_INTERPRETATION_scRGB;
		fg->Type = VIPS_INTERPRETATION_scRGB;
		CHECK(vips_colourspace(bg, &bg_lin, VIPS_INTERPRETATION_scRGB, NULL));
		VipsImage *layers[3] = { bg_lin, shadow, fg };
		int modes[2] = { VIPS_BLEND_MODE_OVER, VIPS_BLEND_MODE_OVER };
		VipsArrayInt *xs = vips_array_int_newv(2, pl.x + (int)lround(0.02 * pl.h) - m, pl.x);
		VipsArrayInt *ys = vips_array_int_newv(2, pl.y + pl.h - alpha->Ysize +
						       (int)lround(0.01 * pl.h) - m, pl.y);

		CHECK(vips_composite(layers, &comp, 3, modes, "x", xs, "y", ys,
				     "compositing_space", VIPS_INTERPRETATION_scRGB, NULL));
		vips_area_unref(VIPS_AREA(xs));
		vips_area_unref(VIPS_AREA(ys));
	}
	CHECK(vips_colourspace(comp, &out, VIPS_INTERPRETATION_sRGB, NULL));
	{
		VipsImage *t;

		CHECK(vips_extract_band(out, &t, 0, "n", 3, NULL));
		g_object_unref(out);
		out = vips_image_copy_memory(t);
		g_object_unref(t);
	}
	VipsImage *all[] = { bg, small_bg, lin, pre, rs, un, lab, moved, lab2, fg, alpha, pad, blur,
			     sh, black, shadow, bg_lin, comp };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		g_object_unref(all[i]);
	return out;
}

static VipsImage *hand_channel(VipsImage *cut)
{
	struct media_placement pl;
	VipsImage *lin, *pre, *rs, *un, *canvas, *white, *comp, *srgb, *out;
	double one[3] = { 1, 1, 1 }, zero[3] = { 0, 0, 0 };

	media_place(cut->Xsize, cut->Ysize, OUT, OUT, 0.85, 0, &pl);
	CHECK(vips_colourspace(cut, &lin, VIPS_INTERPRETATION_scRGB, NULL));
	CHECK(vips_premultiply(lin, &pre, NULL));
	CHECK(vips_resize(pre, &rs, (double)pl.w / cut->Xsize, "vscale", (double)pl.h / cut->Ysize,
			  "kernel", VIPS_KERNEL_LANCZOS3, NULL));
	CHECK(vips_unpremultiply(rs, &un, NULL));
	un->Type = VIPS_INTERPRETATION_scRGB;
	CHECK(vips_black(&canvas, OUT, OUT, "bands", 3, NULL));
	CHECK(vips_linear(canvas, &white, zero, one, 3, NULL));
	white->Type = VIPS_INTERPRETATION_scRGB;
	CHECK(vips_composite2(white, un, &comp, VIPS_BLEND_MODE_OVER, "x", pl.x, "y", pl.y,
			      "compositing_space", VIPS_INTERPRETATION_scRGB, NULL));
	CHECK(vips_colourspace(comp, &srgb, VIPS_INTERPRETATION_sRGB, NULL));
	{
		VipsImage *t;

		CHECK(vips_extract_band(srgb, &t, 0, "n", 3, NULL));
		out = vips_image_copy_memory(t);
		g_object_unref(t);
	}
	VipsImage *all[] = { lin, pre, rs, un, canvas, white, comp, srgb };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		g_object_unref(all[i]);
	return out;
}

/* ---- timing ---------------------------------------------------------------- */

static double median(double *v, int n)
{
	qsort(v, n, sizeof *v, bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double mean_abs_diff(VipsImage *a, VipsImage *b)
{
	double d;
	VipsImage *t, *u;

	if (a->Xsize != b->Xsize || a->Ysize != b->Ysize || a->Bands != b->Bands)
		return 999;
	CHECK(vips_subtract(a, b, &t, NULL));
	CHECK(vips_abs(t, &u, NULL));
	CHECK(vips_avg(u, &d, NULL));
	g_object_unref(t);
	g_object_unref(u);
	return d;
}

static char verdicts[16][256];
static int nverdicts;

static void verdict(const char *name, double ratio, const char *detail)
{
	snprintf(verdicts[nverdicts++], sizeof verdicts[0],
		 "%s: %.2f (goal: >= 0.80 of hand-written libvips; %s) %s", name, ratio, detail,
		 ratio >= 0.8 ? "met" : "missed");
}

int main(void)
{
	struct err e;
	VipsImage *shot_vi, *scene_vi;
	struct media_image *shot, *scene, *cut, *life, *chan;
	void *jpeg;
	size_t jpeg_len;
	double t_px_mine[ROUNDS], t_px_hand[ROUNDS];
	double t_dec_mine[ROUNDS * CODEC_ROUNDS], t_dec_hand[ROUNDS * CODEC_ROUNDS];
	double t_enc_mine[ROUNDS * CODEC_ROUNDS], t_enc_hand[ROUNDS * CODEC_ROUNDS];
	const struct media_preset *sq = media_preset_builtin("shopify_square");
	struct media_lifestyle_opts lo = { .fill = 0.55, .floor = 0.9, .width = OUT, .height = OUT,
					   .device = MEDIA_DEVICE_CPU };
	struct media_cutout_opts co = { .device = MEDIA_DEVICE_CPU };
	double d_life = 0, d_chan = 0;
	double st_mine[3] = { 0 }, st_hand[3] = { 0 };   /* cumulative stage ends */

	if (media_init(&e))
		die("init", &e);
	shot_vi = make_shot();
	scene_vi = make_scene();
	if (vips_jpegsave_buffer(shot_vi, &jpeg, &jpeg_len, "Q", 92, NULL))
		die("encode the source", NULL);
	if (media_image_load_buffer(jpeg, jpeg_len, NULL, "bench", &shot, &e) ||
	    media_image_from_pixels(VIPS_IMAGE_ADDR(scene_vi, 0, 0), scene_vi->Xsize,
				    scene_vi->Ysize, 3, &scene, &e))
		die("load", &e);
	printf("inputs: %dx%d studio shot (JPEG %zu bytes), %dx%d scene; outputs %dx%d; "
	       "%d rounds, alternating; libvips %s, %d threads\n",
	       SRC, SRC, jpeg_len, scene_vi->Xsize, scene_vi->Ysize, OUT, OUT, ROUNDS,
	       vips_version_string(), vips_concurrency_get());

	for (int r = 0; r < ROUNDS; r++) {
		VipsImage *hcut = NULL, *hlife = NULL, *hchan = NULL;

		/* Which goes first alternates, so neither always meets a cold
		 * cache or the other's garbage. */
		for (int k = 0; k < 2; k++) {
			double t0 = bench_now();

			if ((k == 0) == (r % 2 == 0)) {
				if (media_cutout(shot, &co, "bench", &cut, &e))
					die("skugen cut-out", &e);
				st_mine[0] += bench_now() - t0;
				if (media_lifestyle(cut, scene, &lo, "bench", &life, &e))
					die("skugen lifestyle", &e);
				st_mine[1] += bench_now() - t0;
				if (media_channel(cut, sq, MEDIA_DEVICE_CPU, "bench", &chan, &e))
					die("skugen channel", &e);
				t_px_mine[r] = bench_now() - t0;
				st_mine[2] += t_px_mine[r];
			} else {
				hcut = hand_matte(shot->vi);
				st_hand[0] += bench_now() - t0;
				hlife = hand_lifestyle(hcut, scene->vi);
				st_hand[1] += bench_now() - t0;
				hchan = hand_channel(hcut);
				t_px_hand[r] = bench_now() - t0;
				st_hand[2] += t_px_hand[r];
			}
		}
		if (r == 0) {
			d_life = mean_abs_diff(life->vi, hlife);
			d_chan = mean_abs_diff(chan->vi, hchan);
		}
		for (int k = 0; k < CODEC_ROUNDS; k++) {
			int i = r * CODEC_ROUNDS + k;
			struct buf out = BUF_INIT;
			struct media_image *dec;
			VipsImage *hdec, *m;
			void *hbuf;
			size_t hlen;
			double t0;

			for (int side = 0; side < 2; side++) {
				t0 = bench_now();
				if ((side == 0) == (i % 2 == 0)) {
					if (media_image_load_buffer(jpeg, jpeg_len, NULL, "bench", &dec, &e))
						die("decode", &e);
					t_dec_mine[i] = bench_now() - t0;
					media_image_free(dec);
				} else {
					hdec = vips_image_new_from_buffer(jpeg, jpeg_len, "", "access",
									  VIPS_ACCESS_SEQUENTIAL, NULL);
					if (!hdec || !(m = vips_image_copy_memory(hdec)))
						die("hand decode", NULL);
					t_dec_hand[i] = bench_now() - t0;
					g_object_unref(m);
					g_object_unref(hdec);
				}
			}
			for (int side = 0; side < 2; side++) {
				t0 = bench_now();
				if ((side == 0) == (i % 2 == 0)) {
					if (media_save(life, MEDIA_FORMAT_JPEG, 90, NULL, 0, &out, &e))
						die("encode", &e);
					t_enc_mine[i] = bench_now() - t0;
				} else {
					if (vips_jpegsave_buffer(hlife, &hbuf, &hlen, "Q", 90,
								 "optimize_coding", TRUE, NULL))
						die("hand encode", NULL);
					t_enc_hand[i] = bench_now() - t0;
					g_free(hbuf);
				}
			}
			buf_free(&out);
		}

		media_image_free(cut);
		media_image_free(life);
		media_image_free(chan);
		g_object_unref(hcut);
		g_object_unref(hlife);
		g_object_unref(hchan);
	}

	double px_m = median(t_px_mine, ROUNDS), px_h = median(t_px_hand, ROUNDS);
	double dec_m = median(t_dec_mine, ROUNDS * CODEC_ROUNDS);
	double dec_h = median(t_dec_hand, ROUNDS * CODEC_ROUNDS);
	double enc_m = median(t_enc_mine, ROUNDS * CODEC_ROUNDS);
	double enc_h = median(t_enc_hand, ROUNDS * CODEC_ROUNDS);
	char detail[160];

	printf("pixel stages (cut-out + 2048^2 lifestyle + 2048^2 shopify_square): skugen %.3f s "
	       "(%.2f images/s), hand-written %.3f s (%.2f images/s)\n",
	       px_m, 1 / px_m, px_h, 1 / px_h);
	printf("  per stage, mean s (skugen / hand-written): cut-out %.3f / %.3f, lifestyle "
	       "%.3f / %.3f, channel %.3f / %.3f\n",
	       st_mine[0] / ROUNDS, st_hand[0] / ROUNDS, (st_mine[1] - st_mine[0]) / ROUNDS,
	       (st_hand[1] - st_hand[0]) / ROUNDS, (st_mine[2] - st_mine[1]) / ROUNDS,
	       (st_hand[2] - st_hand[1]) / ROUNDS);
	printf("  same result: mean |difference| lifestyle %.3f, channel %.3f levels of 255\n",
	       d_life, d_chan);
	printf("decode 3000^2 JPEG: skugen %.3f s, hand-written %.3f s\n", dec_m, dec_h);
	printf("encode 2048^2 JPEG q90: skugen %.3f s, hand-written %.3f s\n", enc_m, enc_h);

	snprintf(detail, sizeof detail, "%.2f vs %.2f images/s", 1 / px_m, 1 / px_h);
	verdict("cpu pipeline speed vs libvips (pixel stages)", px_h / px_m, detail);
	snprintf(detail, sizeof detail, "%.0f vs %.0f ms", dec_m * 1e3, dec_h * 1e3);
	verdict("decode speed vs libvips", dec_h / dec_m, detail);
	snprintf(detail, sizeof detail, "%.0f vs %.0f ms", enc_m * 1e3, enc_h * 1e3);
	verdict("encode speed vs libvips", enc_h / enc_m, detail);
	nverdicts += refs_measure(shot->vi, verdicts + nverdicts, 16 - nverdicts);
	for (int i = 0; i < nverdicts; i++)
		puts(verdicts[i]);

	media_image_free(shot);
	media_image_free(scene);
	g_free(jpeg);
	g_object_unref(shot_vi);
	g_object_unref(scene_vi);
	return 0;
}
