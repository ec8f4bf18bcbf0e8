/* bench/gpu_refs: gpu/'s CPU references against libvips doing the same step
 * on the same input, one thread each, in one process.
 *
 * Why: on the GPU machine (no libvips there) the CPU side of "GPU vs CPU
 * images per second" is gpu/'s references with OpenMP; the issue accepts
 * that only if each is within 1.5x of libvips's time for the same step,
 * measured here.  Steps and what libvips is asked to do:
 *   resample  3000x3000 RGB -> 1640x1640, Lanczos3: vips_resize (kernel
 *             lanczos3); RGBA: premultiply, vips_resize, unpremultiply, cast
 *   blur      2048x2048 alpha, sigma 16, float precision, radius 3 sigma:
 *             vips_gaussblur (precision float, min_ampl exp(-4.5))
 *   stats     Lab mean/deviation of a 2048x2048 RGB: vips_colourspace (lab)
 *             then vips_stats
 *   transfer  2048x2048 RGB to Lab, per-channel v * a + b, back to sRGB:
 *             vips_colourspace, vips_linear, vips_colourspace, cast
 *   composite 1640x1640 RGBA over 2048x2048 RGB in linear light:
 *             vips_colourspace (scrgb) on both, vips_composite2 (over, x, y),
 *             vips_colourspace (srgb), cast
 * The matte has no one-call libvips equivalent (bench/images times media's
 * cut-out against a hand-written libvips one).  Runs alternate between the
 * two sides (ABAB...), each reports its median, so load from other
 * processes hits both alike.  Lines: measure: ... (goal: <= 1.5) met|missed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vips/vips.h>

#include "gpu/ops.h"
#include "bench/common/bench_util.h"

#define ROUNDS 5

static double median(double *v, int n)
{
	qsort(v, n, sizeof *v, bench_cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, const struct err *e)
{
	fprintf(stderr, "bench/gpu_refs: %s: %s\n", what, e ? e->msg : vips_error_buffer());
	exit(1);
}

static unsigned rng = 12345;

static unsigned rnd(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

/* smooth colour with noise; alpha (4 channels) a soft disc */
static struct gpu_image make(int w, int h, int ch)
{
	struct gpu_image img;
	struct err e;
	int x, y, c;

	if (gpu_image_alloc(&img, w, h, ch, &e) < 0)
		die("image", &e);
	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++) {
			uint8_t *p = gpu_image_px(&img, x, y);
			double dx = x - w / 2.0, dy = y - h / 2.0, d = sqrt(dx * dx + dy * dy);

			for (c = 0; c < ch && c < 3; c++)
				p[c] = (uint8_t)(60 + 40 * c + 50 * sin(x * 0.003 * (c + 1)) +
						 30 * cos(y * 0.002) + (rnd() % 9));
			if (ch == 4)
				p[3] = (uint8_t)fmin(255.0, fmax(0.0, (w * 0.4 - d) * 4.0));
			if (ch == 1)
				p[0] = (uint8_t)fmin(255.0, fmax(0.0, (w * 0.4 - d) * 4.0));
		}
	return img;
}

static VipsImage *wrap(const struct gpu_image *img)
{
	VipsImage *v = vips_image_new_from_memory(img->data, img->stride * img->height,
						  img->width, img->height, img->channels,
						  VIPS_FORMAT_UCHAR);

	if (!v)
		die("vips wrap", NULL);
	if (img->channels >= 3)
		v->Type = VIPS_INTERPRETATION_sRGB;
	else
		v->Type = VIPS_INTERPRETATION_B_W;
	return v;
}

/* evaluate a lazy image into memory and drop it */
static void force(VipsImage *v)
{
	size_t n;
	void *buf = vips_image_write_to_memory(v, &n);

	if (!buf)
		die("vips evaluate", NULL);
	g_free(buf);
	g_object_unref(v);
}

struct step {
	const char *name;
	void (*ref)(void);
	void (*vips)(void);
};

static struct gpu_image rgb3k, rgba3k, fit_rgb, fit_rgba, alpha2k, blur2k, rgb2k, out2k, fitrgba;
static struct gpu_colour_stats st;

static void ref_resample_rgb(void)
{
	struct err e;

	if (gpu_ops_ref.resample(&rgb3k, &fit_rgb, GPU_RESAMPLE_LANCZOS3, &e) < 0)
		die("resample", &e);
}

static void vips_resample_rgb(void)
{
	VipsImage *in = wrap(&rgb3k), *out;

	if (vips_resize(in, &out, 1640.0 / 3000.0, "kernel", VIPS_KERNEL_LANCZOS3, NULL))
		die("vips_resize", NULL);
	g_object_unref(in);
	force(out);
}

static void ref_resample_rgba(void)
{
	struct err e;

	if (gpu_ops_ref.resample(&rgba3k, &fit_rgba, GPU_RESAMPLE_LANCZOS3, &e) < 0)
		die("resample", &e);
}

static void vips_resample_rgba(void)
{
	VipsImage *in = wrap(&rgba3k), *t[4];

	if (vips_premultiply(in, &t[0], NULL) ||
	    vips_resize(t[0], &t[1], 1640.0 / 3000.0, "kernel", VIPS_KERNEL_LANCZOS3, NULL) ||
	    vips_unpremultiply(t[1], &t[2], NULL) || vips_cast_uchar(t[2], &t[3], NULL))
		die("vips resample rgba", NULL);
	g_object_unref(in);
	g_object_unref(t[0]);
	g_object_unref(t[1]);
	g_object_unref(t[2]);
	force(t[3]);
}

static void ref_blur(void)
{
	struct err e;

	if (gpu_ops_ref.blur(&alpha2k, &blur2k, 16.0f, &e) < 0)
		die("blur", &e);
}

static void vips_blur(void)
{
	VipsImage *in = wrap(&alpha2k), *out;

	if (vips_gaussblur(in, &out, 16.0, "precision", VIPS_PRECISION_FLOAT, "min_ampl",
			   exp(-4.5), NULL))
		die("vips_gaussblur", NULL);
	g_object_unref(in);
	force(out);
}

static void ref_stats(void)
{
	struct err e;

	if (gpu_ops_ref.colour_stats(&rgb2k, NULL, &st, &e) < 0)
		die("colour stats", &e);
}

static void vips_stats_step(void)
{
	VipsImage *in = wrap(&rgb2k), *lab, *s;

	if (vips_colourspace(in, &lab, VIPS_INTERPRETATION_LAB, NULL) || vips_stats(lab, &s, NULL))
		die("vips stats", NULL);
	g_object_unref(in);
	g_object_unref(lab);
	g_object_unref(s);
}

static void ref_transfer(void)
{
	struct gpu_colour_stats to = st;
	struct gpu_transfer_params p = { 0.6f, 10.0f, 8.0f, 0.8f, 1.25f };
	struct err e;

	to.mean[0] += 5;
	to.mean[1] -= 3;
	to.stddev[2] *= 1.1;
	if (gpu_ops_ref.colour_transfer(&rgb2k, &out2k, &st, &to, &p, &e) < 0)
		die("colour transfer", &e);
}

static void vips_transfer(void)
{
	VipsImage *in = wrap(&rgb2k), *t[4];
	double a[3] = { 1.0, 1.0, 1.06 }, b[3] = { 3.0, -1.8, 0.5 };

	if (vips_colourspace(in, &t[0], VIPS_INTERPRETATION_LAB, NULL) ||
	    vips_linear(t[0], &t[1], a, b, 3, NULL) ||
	    vips_colourspace(t[1], &t[2], VIPS_INTERPRETATION_sRGB, NULL) ||
	    vips_cast_uchar(t[2], &t[3], NULL))
		die("vips transfer", NULL);
	g_object_unref(in);
	g_object_unref(t[0]);
	g_object_unref(t[1]);
	g_object_unref(t[2]);
	force(t[3]);
}

static void ref_composite(void)
{
	struct err e;

	memcpy(out2k.data, rgb2k.data, out2k.stride * out2k.height);
	if (gpu_ops_ref.composite(&out2k, &fitrgba, 204, 300, 1.0f, &e) < 0)
		die("composite", &e);
}

static void vips_composite_step(void)
{
	VipsImage *bg = wrap(&rgb2k), *fg = wrap(&fitrgba), *t[4];

	if (vips_colourspace(bg, &t[0], VIPS_INTERPRETATION_scRGB, NULL) ||
	    vips_colourspace(fg, &t[1], VIPS_INTERPRETATION_scRGB, NULL) ||
	    vips_composite2(t[0], t[1], &t[2], VIPS_BLEND_MODE_OVER, "x", 204, "y", 300,
			    "compositing_space", VIPS_INTERPRETATION_scRGB, NULL) ||
	    vips_colourspace(t[2], &t[3], VIPS_INTERPRETATION_sRGB, NULL))
		die("vips composite", NULL);
	g_object_unref(bg);
	g_object_unref(fg);
	g_object_unref(t[0]);
	g_object_unref(t[1]);
	g_object_unref(t[2]);
	force(t[3]);
}

int main(int argc, char **argv)
{
	static const struct step steps[] = {
		{ "resample 3000x3000 -> 1640x1640 RGB, Lanczos3", ref_resample_rgb, vips_resample_rgb },
		{ "resample 3000x3000 -> 1640x1640 RGBA, premultiplied", ref_resample_rgba,
		  vips_resample_rgba },
		{ "blur 2048x2048 alpha, sigma 16", ref_blur, vips_blur },
		{ "colour stats 2048x2048 RGB in Lab", ref_stats, vips_stats_step },
		{ "colour transfer 2048x2048 RGB in Lab", ref_transfer, vips_transfer },
		{ "composite 1640x1640 RGBA over 2048x2048 RGB, linear", ref_composite,
		  vips_composite_step },
	};
	size_t i;
	int r;

	if (VIPS_INIT(argv[0]))
		die("vips init", NULL);
	(void)argc;
	vips_concurrency_set(1);
	vips_cache_set_max(0);
	rgb3k = make(3000, 3000, 3);
	rgba3k = make(3000, 3000, 4);
	fit_rgb = make(1640, 1640, 3);
	fit_rgba = make(1640, 1640, 4);
	fitrgba = make(1640, 1640, 4);
	alpha2k = make(2048, 2048, 1);
	blur2k = make(2048, 2048, 1);
	rgb2k = make(2048, 2048, 3);
	out2k = make(2048, 2048, 3);
	ref_stats();
	printf("gpu/'s CPU references (one thread, %s) against libvips %s (one thread), %d rounds, medians\n",
#ifdef __OPTIMIZE__
	       "optimised",
#else
	       "not optimised",
#endif
	       vips_version_string(), ROUNDS);
	for (i = 0; i < sizeof steps / sizeof *steps; i++) {
		double tr[ROUNDS], tv[ROUNDS], mr, mv, ratio;

		steps[i].ref();   /* warm up both */
		steps[i].vips();
		for (r = 0; r < ROUNDS; r++) {
			double t0 = bench_now();

			steps[i].ref();
			tr[r] = bench_now() - t0;
			t0 = bench_now();
			steps[i].vips();
			tv[r] = bench_now() - t0;
		}
		mr = median(tr, ROUNDS);
		mv = median(tv, ROUNDS);
		ratio = mr / mv;
		printf("measure: %s: reference %.1f ms, libvips %.1f ms, ratio %.2f (goal: <= 1.5) %s\n",
		       steps[i].name, mr * 1e3, mv * 1e3, ratio, ratio <= 1.5 ? "met" : "missed");
		fflush(stdout);
	}
	vips_shutdown();
	return 0;
}
