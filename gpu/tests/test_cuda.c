/* test_cuda.c: every CUDA op against its CPU reference on fresh random
 * inputs (the seed is printed; GPU_TEST_SEED repeats a run), outputs
 * poisoned with noise before each run so an unwritten pixel shows.
 *
 * Tolerances: 1 level per 8-bit sample (float sums in another order, FMA
 * contraction, a rounding at .5 may go either way); 2 levels after a
 * feather (a blur of inputs that differ by 1).  Guard bands: the colour of
 * a resampled pixel whose alpha is under 16 is not compared (colour over
 * near-zero alpha is ill-conditioned: 1 level of premultiplied error is up
 * to 16 levels of colour); matte pixels whose delta E lies within 0.001 of
 * a tolerance are not compared (float rounding may put them on either side).
 * Colour statistics: means and deviations within 2e-3 (Lab units).
 *
 * Without a device (or without CUDA compiled in) every case prints
 * "ok N - name # SKIP no CUDA device". */
#include <math.h>
#include <string.h>

#include "../colour_math.h"
#include "../device.h"
#include "../ops.h"
#include "rng.h"
#include "tap.h"

static const struct gpu_ops *ref = &gpu_ops_ref, *cu;

/* skip the cases named (one TAP line each) when there is no device */
#define NEED_GPU(...)                                                        \
	do {                                                                 \
		if (!cu) {                                                   \
			const char *names_[] = { __VA_ARGS__ };              \
			size_t i_;                                           \
			for (i_ = 0; i_ < sizeof names_ / sizeof *names_; i_++) \
				tap_skip(names_[i_], "no CUDA device");      \
			return;                                              \
		}                                                            \
	} while (0)


/* a copy with a padded stride, to exercise strides */
static struct gpu_image mk_padded(int w, int h, int ch, int pad)
{
	struct gpu_image img = rng_image(w + pad, h, ch);

	img.width = w;
	return img;
}

static void release(struct gpu_image *img)
{
	gpu_image_release(img);
}

/* largest difference between a and b; samples where skip(x, y, c) is true
 * are left out and counted in *skipped */
static int max_diff(const struct gpu_image *a, const struct gpu_image *b,
		    int (*skip)(const struct gpu_image *, int, int, int), long *skipped)
{
	int x, y, c, m = 0;

	for (y = 0; y < a->height; y++)
		for (x = 0; x < a->width; x++)
			for (c = 0; c < a->channels; c++) {
				int d = abs(gpu_image_px(a, x, y)[c] - gpu_image_px(b, x, y)[c]);

				if (skip && skip(a, x, y, c)) {
					if (skipped)
						(*skipped)++;
					continue;
				}
				if (d > m)
					m = d;
			}
	return m;
}

static void fill_any(const struct gpu_image *img)
{
	if (rng_int(0, 1))
		rng_fill(img);
	else
		rng_fill_smooth(img, rng_int(0, 20));
}

static int low_alpha_colour(const struct gpu_image *img, int x, int y, int c)
{
	return img->channels == 4 && c < 3 && gpu_image_px(img, x, y)[3] < 16;
}

static void test_resample(void)
{
	int i, worst = 0, fails = 0;
	long skipped = 0;
	char what[160] = "";
	struct err e;

	NEED_GPU("resample: GPU vs reference");
	for (i = 0; i < 10; i++) {
		int ch = rng_int(1, 4);
		int big = i == 9, steep = i == 8;   /* 3000->2048 fused; 900->~20 two-pass */
		struct gpu_image src = big ? rng_image(3000, 3000, 4)
				   : steep ? rng_image(900, 900, 4)
				   : mk_padded(rng_int(1, 700), rng_int(1, 700), ch, rng_int(0, 5));
		struct gpu_image a, b;
		enum gpu_resample_filter f = rng_int(0, 1) ? GPU_RESAMPLE_MITCHELL : GPU_RESAMPLE_LANCZOS3;
		int dw = big ? 2048 : steep ? rng_int(10, 40) : rng_int(1, 700);
		int dh = big ? 2048 : steep ? rng_int(10, 40) : rng_int(1, 700), d;

		ch = src.channels;
		a = rng_image(dw, dh, ch);
		b = rng_image(dw, dh, ch);
		fill_any(&src);
		rng_fill(&a);
		rng_fill(&b);
		if (ref->resample(&src, &a, f, &e) < 0 || cu->resample(&src, &b, f, &e) < 0) {
			tap_diag("resample %dx%dx%d -> %dx%d: %s", src.width, src.height, ch, dw, dh, e.msg);
			fails++;
		} else {
			d = max_diff(&a, &b, low_alpha_colour, &skipped);
			if (d > worst) {
				worst = d;
				snprintf(what, sizeof what, " at %dx%dx%d -> %dx%d", src.width, src.height,
					 ch, dw, dh);
			}
		}
		release(&src);
		release(&a);
		release(&b);
	}
	tap_ok(!fails && worst <= 1,
	       "resample: GPU vs reference, 8 random sizes 1..700, 900->10..40 (two passes) and 3000->2048 (fused), both filters, 1-4 channels: worst %d%s (tolerance 1; %ld low-alpha colour samples in the guard band)",
	       worst, what, skipped);
}

static void test_blur(void)
{
	int i, worst = 0, fails = 0;
	struct err e;

	NEED_GPU("blur: GPU vs reference");
	for (i = 0; i < 8; i++) {
		int ch = rng_int(1, 4), alpha_only = ch > 1 && rng_int(0, 2) == 0;
		struct gpu_image src = mk_padded(rng_int(1, 900), rng_int(1, 900), ch, rng_int(0, 3));
		struct gpu_image a = rng_image(src.width, src.height, alpha_only ? 1 : ch);
		struct gpu_image b = rng_image(src.width, src.height, alpha_only ? 1 : ch);
		float sigma = i == 0 ? 100.0f : 0.3f + (float)rng_unit() * 30.0f;
		int d;

		fill_any(&src);
		rng_fill(&a);
		rng_fill(&b);
		if (ref->blur(&src, &a, sigma, &e) < 0 || cu->blur(&src, &b, sigma, &e) < 0) {
			tap_diag("blur: %s", e.msg);
			fails++;
		} else if ((d = max_diff(&a, &b, NULL, NULL)) > worst) {
			worst = d;
		}
		release(&src);
		release(&a);
		release(&b);
	}
	tap_ok(!fails && worst <= 1,
	       "blur: GPU vs reference, 8 random sizes, sigmas 0.3..100, alpha-only and all channels: worst %d (tolerance 1)",
	       worst);
}

static void test_colour(void)
{
	int i, fails = 0, worst_px = 0;
	double worst = 0.0;
	struct err e;

	NEED_GPU("colour stats: GPU vs reference", "colour transfer: GPU vs reference");
	for (i = 0; i < 6; i++) {
		int ch = i % 3 == 0 ? 1 : (i % 3 == 1 ? 3 : 4);
		struct gpu_image src = mk_padded(rng_int(1, 1200), rng_int(1, 1200), ch, rng_int(0, 3));
		struct gpu_image mask = rng_image(src.width, src.height, 1);
		struct gpu_colour_stats sa, sb;
		int use_mask = rng_int(0, 1), c;

		fill_any(&src);
		fill_any(&mask);
		if (ref->colour_stats(&src, use_mask ? &mask : NULL, &sa, &e) < 0 ||
		    cu->colour_stats(&src, use_mask ? &mask : NULL, &sb, &e) < 0) {
			tap_diag("colour stats: %s", e.msg);
			fails++;
		} else {
			for (c = 0; c < 3; c++) {
				worst = fmax(worst, fabs(sa.mean[c] - sb.mean[c]));
				worst = fmax(worst, fabs(sa.stddev[c] - sb.stddev[c]));
			}
			if (fabs(sa.weight - sb.weight) > 1e-6 * (1.0 + sa.weight))
				fails++;
		}
		if (ch >= 3 && sa.weight > 0) {
			struct gpu_colour_stats to = sa;
			struct gpu_transfer_params p = { (float)rng_unit(), 12.0f, 8.0f, 0.7f, 1.4f };
			struct gpu_image a = rng_image(src.width, src.height, ch), b = rng_image(src.width, src.height, ch);

			for (c = 0; c < 3; c++) {
				to.mean[c] += (rng_unit() - 0.5) * 40.0;
				to.stddev[c] *= 0.5 + rng_unit();
			}
			rng_fill(&a);
			rng_fill(&b);
			if (ref->colour_transfer(&src, &a, &sa, &to, &p, &e) < 0 ||
			    cu->colour_transfer(&src, &b, &sa, &to, &p, &e) < 0) {
				tap_diag("colour transfer: %s", e.msg);
				fails++;
			} else {
				int d = max_diff(&a, &b, NULL, NULL);

				worst_px = d > worst_px ? d : worst_px;
			}
			release(&a);
			release(&b);
		}
		release(&src);
		release(&mask);
	}
	tap_ok(!fails && worst <= 2e-3,
	       "colour stats: GPU vs reference, 6 random images, masks and alpha: worst %.2e (tolerance 2e-3)",
	       worst);
	tap_ok(!fails && worst_px <= 1,
	       "colour transfer: GPU vs reference, random bounded transfers: worst %d (tolerance 1)",
	       worst_px);
}

static void test_composite(void)
{
	int i, fails = 0, worst = 0, worst_shade = 0;
	struct err e;

	NEED_GPU("composite: GPU vs reference", "shade: GPU vs reference");
	for (i = 0; i < 8; i++) {
		int dch = rng_int(3, 4);
		struct gpu_image a = mk_padded(rng_int(1, 800), rng_int(1, 800), dch, rng_int(0, 3));
		struct gpu_image b = mk_padded(a.width, a.height, dch, 0);
		struct gpu_image src = mk_padded(rng_int(1, 900), rng_int(1, 900), 4, rng_int(0, 3));
		struct gpu_image mask = rng_image(src.width, src.height, rng_int(1, 4));
		int x = rng_int(-src.width, a.width), y = rng_int(-src.height, a.height), yy;
		float op = i == 0 ? 1.0f : (float)rng_unit();
		uint8_t rgb[3] = { (uint8_t)rng_u32(), (uint8_t)rng_u32(), (uint8_t)rng_u32() };

		fill_any(&a);
		for (yy = 0; yy < a.height; yy++)
			memcpy(b.data + yy * b.stride, a.data + yy * a.stride, (size_t)a.width * dch);
		fill_any(&src);
		fill_any(&mask);
		if (ref->composite(&a, &src, x, y, op, &e) < 0 ||
		    cu->composite(&b, &src, x, y, op, &e) < 0) {
			tap_diag("composite: %s", e.msg);
			fails++;
		} else {
			int d = max_diff(&a, &b, NULL, NULL);

			worst = d > worst ? d : worst;
		}
		for (yy = 0; yy < a.height; yy++)
			memcpy(b.data + yy * b.stride, a.data + yy * a.stride, (size_t)a.width * dch);
		if (ref->shade(&a, &mask, x, y, rgb, op, &e) < 0 ||
		    cu->shade(&b, &mask, x, y, rgb, op, &e) < 0) {
			tap_diag("shade: %s", e.msg);
			fails++;
		} else {
			int d = max_diff(&a, &b, NULL, NULL);

			worst_shade = d > worst_shade ? d : worst_shade;
		}
		release(&a);
		release(&b);
		release(&src);
		release(&mask);
	}
	tap_ok(!fails && worst <= 1,
	       "composite: GPU vs reference, random layers, offsets (clipped too), opacities: worst %d (tolerance 1)",
	       worst);
	tap_ok(!fails && worst_shade <= 1,
	       "shade: GPU vs reference, random masks, colours, offsets: worst %d (tolerance 1)",
	       worst_shade);
}

/* A random studio shot: a light background with noise, random products
 * (discs and boxes, some touching the edge, some rings around background
 * islands) with anti-aliased edges. */
static void studio(const struct gpu_image *img, float tol_hi)
{
	uint8_t bg[3];
	int n = rng_int(1, 6), k, x, y, c;
	float bl[3];

	for (c = 0; c < 3; c++)
		bg[c] = (uint8_t)rng_int(225, 255);
	gpu_srgb_to_lab(bg, bl);
	for (y = 0; y < img->height; y++)
		for (x = 0; x < img->width; x++) {
			uint8_t *p = gpu_image_px(img, x, y);

			for (c = 0; c < 3; c++)
				p[c] = (uint8_t)(bg[c] - rng_int(0, 2));
			if (img->channels == 4)
				p[3] = (uint8_t)rng_u32();
		}
	for (k = 0; k < n; k++) {
		uint8_t col[3];
		float cl[3];
		double cx = rng_unit() * img->width, cy = rng_unit() * img->height;
		double r = 5 + rng_unit() * img->width / 3, hole = rng_int(0, 1) ? r * 0.4 : 0;

		do {
			for (c = 0; c < 3; c++)
				col[c] = (uint8_t)rng_int(0, 255);
			gpu_srgb_to_lab(col, cl);
		} while (gpu_delta_e(cl, bl) < tol_hi + 5);
		for (y = 0; y < img->height; y++)
			for (x = 0; x < img->width; x++) {
				double d = sqrt((x + 0.5 - cx) * (x + 0.5 - cx) + (y + 0.5 - cy) * (y + 0.5 - cy));
				double cover = fmin(fmax(r - d + 0.5, 0.0), 1.0);
				uint8_t *p = gpu_image_px(img, x, y);

				if (hole > 0)
					cover = fmin(cover, fmin(fmax(d - hole + 0.5, 0.0), 1.0));
				if (cover <= 0)
					continue;
				for (c = 0; c < 3; c++)
					p[c] = (uint8_t)lround(col[c] * cover + p[c] * (1 - cover));
			}
	}
}

static const struct gpu_image *guard_src;
static struct gpu_matte_stats guard_st;
static float guard_lo, guard_hi;

static int near_tolerance(const struct gpu_image *img, int x, int y, int c)
{
	float lab[3], d;

	gpu_srgb_to_lab(gpu_image_px(guard_src, x, y), lab);
	d = gpu_delta_e(lab, guard_st.bg_lab);
	return fabsf(d - guard_lo) < 1e-3f || fabsf(d - guard_hi) < 1e-3f;
}

static void test_matte(void)
{
	int i, fails = 0, worst = 0, worst_f = 0, stats_same = 1;
	long guarded = 0;
	struct err e;

	NEED_GPU("matte: GPU vs reference", "matte: GPU and reference agree on the statistics");
	for (i = 0; i < 6; i++) {
		struct gpu_matte_params p = { 2.0f + (float)rng_unit() * 6, 0, rng_int(1, 8),
					      i % 2 ? 0.5f + (float)rng_unit() * 2 : 0.0f };
		struct gpu_image src = mk_padded(rng_int(3, 900), rng_int(3, 900), rng_int(3, 4), rng_int(0, 3));
		int dch = rng_int(0, 1) ? 1 : 4, d;
		struct gpu_image a = rng_image(src.width, src.height, dch), b = rng_image(src.width, src.height, dch);
		struct gpu_matte_stats sa, sb;

		p.tol_hi = p.tol_lo + 4.0f + (float)rng_unit() * 10;
		studio(&src, p.tol_hi);
		rng_fill(&a);
		rng_fill(&b);
		if (ref->matte(&src, &a, &p, &sa, &e) < 0 || cu->matte(&src, &b, &p, &sb, &e) < 0) {
			tap_diag("matte: %s", e.msg);
			fails++;
		} else {
			guard_src = &src;
			guard_st = sa;
			guard_lo = p.tol_lo;
			guard_hi = p.tol_hi;
			d = max_diff(&a, &b, near_tolerance, &guarded);
			if (p.feather > 0)
				worst_f = d > worst_f ? d : worst_f;
			else
				worst = d > worst ? d : worst;
			if (memcmp(sa.bg_rgb, sb.bg_rgb, 3) || sa.border_uniform != sb.border_uniform ||
			    fabs(sa.coverage - sb.coverage) > 1e-3)
				stats_same = 0;
		}
		release(&src);
		release(&a);
		release(&b);
	}
	tap_ok(!fails && worst <= 1 && worst_f <= 2,
	       "matte: GPU vs reference, 6 random studio shots: worst %d unfeathered (tolerance 1), %d feathered (tolerance 2); %ld samples in the guard band",
	       worst, worst_f, guarded);
	tap_ok(!fails && stats_same, "matte: GPU and reference agree on background, uniformity and coverage");
}

int main(void)
{
	char dev[256];

	rng_seed(tap_seed());
	cu = gpu_ops_cuda();
	printf("# device: %s\n", gpu_device_describe(dev, sizeof dev));
	test_resample();
	test_blur();
	test_colour();
	test_composite();
	test_matte();
	return tap_done();
}
