/* refs.c: gpu/'s CPU references against libvips, step by step, on this
 * machine (issue 8: on the GPU machine, which has no libvips, the CPU side
 * of "GPU vs CPU" may be the references "provided they are within 1.5x of
 * libvips's speed for the same step measured here").
 *
 * Both sides get one thread: the references as linked into libskugen.a
 * (the top-level build: -O2, no OpenMP) and libvips with
 * vips_concurrency_set(1), so the ratio is per core, which is what carries
 * over to the 16-core box where the references run with OpenMP.  Sizes are
 * the pipeline's: a 3000 x 3000 source, 2048 x 2048 outputs.
 *   resample   3000^2 RGBA -> 2048^2, Lanczos3, alpha-weighted
 *              (libvips: premultiply, vips_resize, unpremultiply, cast)
 *   matte      3000^2 studio shot -> alpha (libvips: media_matte_cpu)
 *   blur       2048^2 one band, sigma 12 (vips_gaussblur)
 *   colour     Lab statistics of product and scene, bounded transfer,
 *              2048^2 RGBA (media_lab_stats, media_harmonise_vips, to sRGB)
 *   composite  2048^2 RGBA over RGB in linear light, premultiplied
 *              (media_to_linear_premul, media_composite_linear)
 * A verdict per step: libvips time / reference time, goal >= 0.67.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/ops.h"
#include "media/image_int.h"

#include "refs.h"
#include "bench/common/bench_util.h"

#define RUNS 3

static void fail(const char *what, const struct err *e) __attribute__((noreturn));

static void fail(const char *what, const struct err *e)
{
	fprintf(stderr, "bench/images refs: %s: %s\n", what, e ? e->msg : vips_error_buffer());
	exit(1);
}

static void view(VipsImage *vi, struct gpu_image *g)
{
	g->data = VIPS_IMAGE_ADDR(vi, 0, 0);
	g->width = vi->Xsize;
	g->height = vi->Ysize;
	g->channels = vi->Bands;
	g->stride = VIPS_IMAGE_SIZEOF_LINE(vi);
}

static VipsImage *mem(VipsImage *lazy)
{
	VipsImage *m = vips_image_copy_memory(lazy);

	if (!m)
		fail("compute", NULL);
	g_object_unref(lazy);
	return m;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double med(double *v)
{
	qsort(v, RUNS, sizeof *v, cmpd);
	return v[RUNS / 2];
}

/* libvips steps, each ending in memory like the reference's buffer. */
static void vips_resample(VipsImage *src)
{
	VipsImage *p, *r, *u, *c;

	if (vips_premultiply(src, &p, NULL) ||
	    vips_resize(p, &r, 2048.0 / src->Xsize, "kernel", VIPS_KERNEL_LANCZOS3, NULL) ||
	    vips_unpremultiply(r, &u, NULL) || vips_cast(u, &c, VIPS_FORMAT_UCHAR, NULL))
		fail("vips resample", NULL);
	g_object_unref(mem(c));
	g_object_unref(p);
	g_object_unref(r);
	g_object_unref(u);
}

static void vips_blur(VipsImage *a)
{
	VipsImage *b, *c;

	if (vips_gaussblur(a, &b, 12.0, NULL) || vips_cast(b, &c, VIPS_FORMAT_UCHAR, NULL))
		fail("vips blur", NULL);
	g_object_unref(mem(c));
	g_object_unref(b);
}

static void vips_colour(VipsImage *prod, VipsImage *scene)
{
	struct media_lab_stats st;
	VipsImage *h, *s;

	if (media_lab_stats(scene, &st) ||
	    media_harmonise_vips(prod, &st, 0.5, 8, 1.25, &h, NULL) ||
	    vips_colourspace(h, &s, VIPS_INTERPRETATION_sRGB, NULL))
		fail("vips colour", NULL);
	g_object_unref(mem(s));
	g_object_unref(h);
}

static void vips_composite_step(VipsImage *prod, VipsImage *scene)
{
	VipsImage *fg, *bg, *out;

	if (media_to_linear_premul(prod, &fg) ||
	    vips_colourspace(scene, &bg, VIPS_INTERPRETATION_scRGB, NULL) ||
	    media_composite_linear(fg, bg, NULL, &out))
		fail("vips composite", NULL);
	g_object_unref(mem(out));
	g_object_unref(fg);
	g_object_unref(bg);
}

int refs_measure(VipsImage *shot, char lines[][256], int max)
{
	static const char *const names[] = { "resample", "matte", "blur", "colour", "composite" };
	double tv[5][RUNS], tr[5][RUNS];
	int threads = vips_concurrency_get(), n = 0;
	struct media_cutout_opts co;
	struct gpu_matte_params mp = { .tol_lo = 6, .tol_hi = 14, .border = 4, .feather = 1 };
	struct gpu_transfer_params tp = { .strength = 0.5f, .max_shift_l = 8, .max_shift_ab = 8,
					  .min_scale = 0.8f, .max_scale = 1.25f };
	struct gpu_image g_shot, g_rgba, g_prod, g_scene, g_a, out3 = { 0 }, out4 = { 0 },
			 out1 = { 0 }, scratch3 = { 0 };
	VipsImage *rgba, *prod, *scene, *alpha;
	struct err e;

	media_cutout_defaults(NULL, &co);
	/* Inputs: the shot with a matte (RGBA 3000^2), a 2048^2 RGBA product
	 * and RGB scene, a 2048^2 one-band alpha. */
	if (media_matte_cpu(shot, &co, "refs", &rgba, NULL, &e))
		fail("matte for inputs", &e);
	rgba = mem(rgba);
	{
		VipsImage *p, *s, *s3, *a;

		if (vips_resize(rgba, &p, 2048.0 / 3000, NULL) ||
		    vips_crop(shot, &s, 0, 0, 2048, 2048, NULL) ||
		    vips_linear1(s, &s3, 0.7, 30, NULL) ||
		    vips_extract_band(p, &a, 3, NULL))
			fail("inputs", NULL);
		prod = mem(p);
		{
			VipsImage *c;

			if (vips_cast(s3, &c, VIPS_FORMAT_UCHAR, NULL))
				fail("inputs", NULL);
			scene = mem(c);
			g_object_unref(s3);
		}
		alpha = mem(a);
		g_object_unref(s);
	}
	prod->Type = scene->Type = rgba->Type = VIPS_INTERPRETATION_sRGB;
	view(shot, &g_shot);
	view(rgba, &g_rgba);
	view(prod, &g_prod);
	view(scene, &g_scene);
	view(alpha, &g_a);
	if (gpu_image_alloc(&out4, 2048, 2048, 4, &e) || gpu_image_alloc(&out1, 3000, 3000, 1, &e) ||
	    gpu_image_alloc(&out3, 2048, 2048, 3, &e) ||
	    gpu_image_alloc(&scratch3, 2048, 2048, 3, &e))
		fail("buffers", &e);

	vips_concurrency_set(1);
	for (int r = 0; r < RUNS; r++) {
		struct gpu_image a1 = { 0 };
		struct gpu_colour_stats sp, ss;
		VipsImage *m;
		double t0;

		/* resample */
		t0 = bench_now();
		vips_resample(rgba);
		tv[0][r] = bench_now() - t0;
		t0 = bench_now();
		if (gpu_ops_ref.resample(&g_rgba, &out4, GPU_RESAMPLE_LANCZOS3, &e))
			fail("ref resample", &e);
		tr[0][r] = bench_now() - t0;
		/* matte */
		t0 = bench_now();
		if (media_matte_cpu(shot, &co, "refs", &m, NULL, &e))
			fail("vips matte", &e);
		g_object_unref(mem(m));
		tv[1][r] = bench_now() - t0;
		t0 = bench_now();
		if (gpu_ops_ref.matte(&g_shot, &out1, &mp, NULL, &e))
			fail("ref matte", &e);
		tr[1][r] = bench_now() - t0;
		/* blur */
		t0 = bench_now();
		vips_blur(alpha);
		tv[2][r] = bench_now() - t0;
		if (gpu_image_alloc(&a1, 2048, 2048, 1, &e))
			fail("buffers", &e);
		t0 = bench_now();
		if (gpu_ops_ref.blur(&g_a, &a1, 12.0f, &e))
			fail("ref blur", &e);
		tr[2][r] = bench_now() - t0;
		gpu_image_release(&a1);
		/* colour */
		t0 = bench_now();
		vips_colour(prod, scene);
		tv[3][r] = bench_now() - t0;
		t0 = bench_now();
		if (gpu_ops_ref.colour_stats(&g_scene, NULL, &ss, &e) ||
		    gpu_ops_ref.colour_stats(&g_prod, NULL, &sp, &e) ||
		    gpu_ops_ref.colour_transfer(&g_prod, &out4, &sp, &ss, &tp, &e))
			fail("ref colour", &e);
		tr[3][r] = bench_now() - t0;
		/* composite: the reference works in place, on a fresh copy */
		t0 = bench_now();
		vips_composite_step(prod, scene);
		tv[4][r] = bench_now() - t0;
		for (int y = 0; y < 2048; y++)
			memcpy(gpu_image_px(&scratch3, 0, y), gpu_image_px(&g_scene, 0, y), 2048 * 3);
		t0 = bench_now();
		if (gpu_ops_ref.composite(&scratch3, &g_prod, 0, 0, 1.0f, &e))
			fail("ref composite", &e);
		tr[4][r] = bench_now() - t0;
	}
	vips_concurrency_set(threads);

	printf("gpu/ CPU references vs libvips, one thread each, median of %d:\n", RUNS);
	for (int s = 0; s < 5 && n < max; s++) {
		double v = med(tv[s]), f = med(tr[s]);

		printf("  %-9s libvips %.3f s, reference %.3f s\n", names[s], v, f);
		snprintf(lines[n++], 256,
			 "reference %s speed vs libvips, per thread: %.2f (goal: >= 0.67, within "
			 "1.5x; %.0f vs %.0f ms) %s", names[s], v / f, f * 1e3, v * 1e3,
			 v / f >= 0.67 ? "met" : "missed");
	}
	gpu_image_release(&out1);
	gpu_image_release(&out3);
	gpu_image_release(&out4);
	gpu_image_release(&scratch3);
	g_object_unref(rgba);
	g_object_unref(prod);
	g_object_unref(scene);
	g_object_unref(alpha);
	return n;
}
