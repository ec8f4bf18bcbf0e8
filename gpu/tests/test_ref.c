/* test_ref.c: the CPU references against independent known answers and
 * properties: sRGB/Lab values and round trips, a blur of a constant is that
 * constant, a resample of a constant is that constant and of an image to its
 * own size is the image, downscaling a checkerboard averages it (no
 * aliasing), transparent colour never bleeds, the matte keeps enclosed
 * background-coloured islands opaque, compositing an opaque layer yields the
 * layer, half white over black is sRGB 188 (linear light), colour statistics
 * and bounded transfer. */
#include <math.h>
#include <string.h>

#include "../ops.h"
#include "rng.h"
#include "tap.h"

static const struct gpu_ops *ops = &gpu_ops_ref;


static void fill_const(const struct gpu_image *img, const uint8_t *v)
{
	int y, x;

	for (y = 0; y < img->height; y++)
		for (x = 0; x < img->width; x++)
			memcpy(gpu_image_px(img, x, y), v, (size_t)img->channels);
}

/* largest |a - v| over every sample of img */
static int max_dev_const(const struct gpu_image *img, const uint8_t *v)
{
	int y, x, c, m = 0;

	for (y = 0; y < img->height; y++)
		for (x = 0; x < img->width; x++)
			for (c = 0; c < img->channels; c++) {
				int d = abs(gpu_image_px(img, x, y)[c] - v[c]);

				if (d > m)
					m = d;
			}
	return m;
}

static void test_colour_conversions(void)
{
	static const struct { uint8_t rgb[3]; float lab[3]; } known[] = {
		/* CIE Lab (D65) of sRGB primaries, from the published formulas */
		{ { 255, 255, 255 }, { 100.0f, 0.0f, 0.0f } },
		{ { 0, 0, 0 }, { 0.0f, 0.0f, 0.0f } },
		{ { 255, 0, 0 }, { 53.24f, 80.09f, 67.20f } },
		{ { 0, 255, 0 }, { 87.73f, -86.18f, 83.18f } },
		{ { 0, 0, 255 }, { 32.30f, 79.19f, -107.86f } },
		{ { 119, 119, 119 }, { 50.03f, 0.0f, 0.0f } },
	};
	size_t i;
	int worst = 0, exact = 0, total = 0, r, g, b, v, lut_ok = 1;
	float err_lab = 0.0f;

	for (i = 0; i < sizeof known / sizeof known[0]; i++) {
		float lab[3];
		int c;

		gpu_srgb_to_lab(known[i].rgb, lab);
		for (c = 0; c < 3; c++)
			if (fabsf(lab[c] - known[i].lab[c]) > err_lab)
				err_lab = fabsf(lab[c] - known[i].lab[c]);
	}
	tap_ok(err_lab < 0.06f, "lab: sRGB primaries, white, black, grey match published Lab (worst %.3f)",
	       err_lab);
	tap_ok(fabsf(gpu_srgb_to_linear(128) - 0.2158605f) < 1e-5f &&
	       gpu_linear_to_srgb(0.5f) == 188 && gpu_linear_to_srgb(0.0f) == 0 &&
	       gpu_linear_to_srgb(1.0f) == 255 && gpu_linear_to_srgb(2.0f) == 255,
	       "srgb: 128 is linear 0.21586, linear 0.5 is 188, ends clamp");
	for (v = 0; v < 256; v++)
		if (gpu_linear_to_srgb(gpu_srgb_to_linear((uint8_t)v)) != v)
			lut_ok = 0;
	tap_ok(lut_ok, "srgb: every byte survives decode and encode");
	for (r = 0; r < 256; r += 3)
		for (g = 0; g < 256; g += 3)
			for (b = 0; b < 256; b += 3) {
				uint8_t in[3] = { (uint8_t)r, (uint8_t)g, (uint8_t)b }, out[3];
				float lab[3];
				int c, d = 0;

				gpu_srgb_to_lab(in, lab);
				gpu_lab_to_srgb(lab, out);
				for (c = 0; c < 3; c++)
					if (abs(out[c] - in[c]) > d)
						d = abs(out[c] - in[c]);
				worst = d > worst ? d : worst;
				exact += d == 0;
				total++;
			}
	tap_ok(worst <= 1 && exact >= total * 0.99, "lab: round trip of %d colours: worst %d, %d exact",
	       total, worst, exact);
}

static void test_blur(void)
{
	int i, worst = 0;
	struct err e;

	for (i = 0; i < 6; i++) {
		int ch = 1 + i % 4, w = rng_int(1, 90), h = rng_int(1, 90);
		uint8_t v[4] = { (uint8_t)rng_u32(), (uint8_t)rng_u32(), (uint8_t)rng_u32(),
				 (uint8_t)rng_u32() };
		struct gpu_image a = rng_image(w, h, ch), b = rng_image(w, h, ch);
		float sigma = 0.3f + (float)rng_unit() * 20.0f;

		fill_const(&a, v);
		rng_fill(&b);
		if (ops->blur(&a, &b, sigma, &e) < 0)
			worst = 999;
		else if (max_dev_const(&b, v) > worst)
			worst = max_dev_const(&b, v);
		gpu_image_release(&a);
		gpu_image_release(&b);
	}
	tap_ok(worst == 0, "blur: a constant stays that constant (6 sizes, sigmas, 1-4 channels; worst %d)",
	       worst);

	{
		/* a vertical step edge 0 | 255 blurs to a symmetric ramp through ~128 */
		struct gpu_image a = rng_image(64, 8, 1), b = rng_image(64, 8, 1), al = rng_image(64, 8, 1);
		struct gpu_image rgba = rng_image(64, 8, 4);
		int x, y, sym = 1, alpha_ok;

		for (y = 0; y < 8; y++)
			for (x = 0; x < 64; x++) {
				uint8_t *p = gpu_image_px(&rgba, x, y);

				a.data[y * 64 + x] = x < 32 ? 0 : 255;
				p[0] = p[1] = p[2] = 77;
				p[3] = a.data[y * 64 + x];
			}
		ops->blur(&a, &b, 4.0f, &e);
		for (x = 0; x < 32; x++)
			if (abs(b.data[x] + b.data[63 - x] - 255) > 1)
				sym = 0;
		tap_ok(sym && b.data[0] == 0 && b.data[63] == 255 && b.data[31] < 128 &&
		       b.data[32] > 127 && b.data[28] > 0,
		       "blur: a step edge becomes a symmetric ramp (%d %d %d %d)", b.data[28],
		       b.data[31], b.data[32], b.data[35]);
		ops->blur(&rgba, &al, 4.0f, &e);
		alpha_ok = memcmp(al.data, b.data, 64 * 8) == 0;
		tap_ok(alpha_ok, "blur: a 1-channel destination receives the blurred alpha");
		{
			/* an impulse: the centre keeps 255 w0^2, w0 = 1 / sum exp(-k^2/2)
			 * over |k| <= 3 = 0.39905 for sigma 1, so 40.6 -> 41, and the
			 * total stays 255 */
			struct gpu_image im = rng_image(15, 15, 1), ib = rng_image(15, 15, 1);
			int sum = 0, k;

			memset(im.data, 0, 15 * 15);
			im.data[7 * 15 + 7] = 255;
			ops->blur(&im, &ib, 1.0f, &e);
			for (k = 0; k < 15 * 15; k++)
				sum += ib.data[k];
			tap_ok(ib.data[7 * 15 + 7] == 41 && ib.data[7 * 15 + 8] == ib.data[7 * 15 + 6] &&
			       ib.data[6 * 15 + 7] == ib.data[7 * 15 + 8] && abs(sum - 255) <= 8,
			       "blur: an impulse at sigma 1 peaks at 41 (255 x 0.39905^2) and keeps its sum (%d)",
			       sum);
			gpu_image_release(&im);
			gpu_image_release(&ib);
		}
		tap_ok(ops->blur(&a, &b, 0.0f, &e) < 0 && strstr(e.msg, "sigma"),
		       "blur: sigma 0 is refused (%s)", e.msg);
		gpu_image_release(&a);
		gpu_image_release(&b);
		gpu_image_release(&al);
		gpu_image_release(&rgba);
	}
}

/* The blur against its definition summed directly in double (clamped edge
 * samples, the shared weights): random sizes up to 300 x 120, 1-4 channels
 * and alpha-only, sigmas 0.3..40 (radii past the image's size too), a
 * source with a stride wider than its rows; and the same in place. */
static void test_blur_direct(void)
{
	int i, worst = 0, inplace_same = 1;
	struct err e;

	for (i = 0; i < 12; i++) {
		int sch = 1 + i % 4, dch = i % 3 == 2 ? 1 : sch;
		int w = rng_int(1, 300), h = rng_int(1, 120), pad = rng_int(0, 7);
		struct gpu_image big = rng_image(w + pad, h, sch), src = big, b = rng_image(w, h, dch);
		float sigma = 0.3f + (float)rng_unit() * (i < 8 ? 12.0f : 40.0f);
		float wt[GPU_BLUR_MAX_TAPS];
		int r = gpu_blur_weights(sigma, wt), first = sch - dch, x, y, c, k;
		double *row = malloc(sizeof *row * (size_t)w * h * dch);

		if (!row) {
			printf("Bail out! out of memory\n");
			exit(2);
		}
		rng_fill(&big);
		src.width = w;
		if (ops->blur(&src, &b, sigma, &e) < 0) {
			tap_diag("blur: %s", e.msg);
			worst = 999;
		}
		for (y = 0; y < h; y++)
			for (x = 0; x < w; x++)
				for (c = 0; c < dch; c++) {
					double v = 0.0;

					for (k = -r; k <= r; k++) {
						int sx = x + k < 0 ? 0 : (x + k >= w ? w - 1 : x + k);

						v += wt[k + r] * gpu_image_px(&src, sx, y)[first + c];
					}
					row[((size_t)y * w + x) * dch + c] = v;
				}
		for (y = 0; y < h; y++)
			for (x = 0; x < w; x++)
				for (c = 0; c < dch; c++) {
					double v = 0.0;
					int d;

					for (k = -r; k <= r; k++) {
						int sy = y + k < 0 ? 0 : (y + k >= h ? h - 1 : y + k);

						v += wt[k + r] * row[((size_t)sy * w + x) * dch + c];
					}
					v = v < 0.0 ? 0.0 : (v > 255.0 ? 255.0 : v);
					d = abs(gpu_image_px(&b, x, y)[c] - (int)floor(v + 0.5));
					if (d > worst)
						worst = d;
				}
		if (dch == sch) {
			/* in place: the source's own rows receive the blur */
			ops->blur(&src, &src, sigma, &e);
			for (y = 0; y < h; y++)
				if (memcmp(gpu_image_px(&src, 0, y), gpu_image_px(&b, 0, y),
					   (size_t)w * sch))
					inplace_same = 0;
		}
		free(row);
		gpu_image_release(&big);
		gpu_image_release(&b);
	}
	tap_ok(worst <= 1, "blur: 12 random images within 1 level of the direct double sum (worst %d)",
	       worst);
	tap_ok(inplace_same, "blur: in place gives what a separate destination gets");
}

static void test_resample(void)
{
	int i, worst = 0, same = 1;
	struct err e;

	for (i = 0; i < 8; i++) {
		int ch = 1 + i % 4;
		struct gpu_image a = rng_image(rng_int(1, 300), rng_int(1, 300), ch);
		struct gpu_image b = rng_image(rng_int(1, 300), rng_int(1, 300), ch);
		uint8_t v[4] = { (uint8_t)rng_u32(), (uint8_t)rng_u32(), (uint8_t)rng_u32(), 255 };
		enum gpu_resample_filter f = i & 1 ? GPU_RESAMPLE_MITCHELL : GPU_RESAMPLE_LANCZOS3;

		if (ch == 4 && (i & 2))
			v[3] = (uint8_t)rng_int(1, 255);
		fill_const(&a, v);
		rng_fill(&b);
		if (ops->resample(&a, &b, f, &e) < 0)
			worst = 999;
		else if (max_dev_const(&b, v) > worst)
			worst = max_dev_const(&b, v);
		gpu_image_release(&a);
		gpu_image_release(&b);
	}
	tap_ok(worst == 0, "resample: a constant stays that constant (8 sizes up and down; worst %d)",
	       worst);

	for (i = 0; i < 2; i++) {
		struct gpu_image a = rng_image(rng_int(1, 200), rng_int(1, 200), 3);
		struct gpu_image b = rng_image(a.width, a.height, 3);

		rng_fill(&a);
		if (ops->resample(&a, &b, i ? GPU_RESAMPLE_MITCHELL : GPU_RESAMPLE_LANCZOS3, &e) < 0 ||
		    (i == 0 && memcmp(a.data, b.data, (size_t)a.width * a.height * 3) != 0))
			same = 0;
		gpu_image_release(&a);
		gpu_image_release(&b);
	}
	tap_ok(same, "resample: Lanczos3 to the same size returns the image unchanged");

	{
		/* a 1-pixel checkerboard shrunk 2.56x: a filter widened for the
		 * scale averages it to grey (Lanczos3's stop band leaves a few
		 * levels of ripple); an unwidened one aliases by ~100 levels */
		struct gpu_image a = rng_image(256, 256, 1), b = rng_image(100, 100, 1);
		uint8_t grey = 128;
		int x, y, dev;

		for (y = 0; y < 256; y++)
			for (x = 0; x < 256; x++)
				a.data[y * 256 + x] = (x + y) & 1 ? 255 : 0;
		ops->resample(&a, &b, GPU_RESAMPLE_LANCZOS3, &e);
		dev = max_dev_const(&b, &grey);
		tap_ok(dev <= 8, "resample: a checkerboard shrunk to 100 px is grey within %d of 128", dev);
		gpu_image_release(&a);
		gpu_image_release(&b);
	}
	{
		/* Mitchell-Netravali with B = C = 1/3 (2C + B = 1) reproduces a
		 * linear ramp exactly: upscaled 2.5x, the interior stays on the line */
		struct gpu_image a = rng_image(80, 4, 1), b = rng_image(200, 4, 1);
		int x, y, off = 0;
		double far = 0.0;

		for (y = 0; y < 4; y++)
			for (x = 0; x < 80; x++)
				a.data[y * 80 + x] = (uint8_t)(20 + 2 * x);
		ops->resample(&a, &b, GPU_RESAMPLE_MITCHELL, &e);
		for (x = 10; x < 190; x++) {
			double src_x = (x + 0.5) / 2.5 - 0.5, d = fabs(b.data[2 * 200 + x] - (20 + 2 * src_x));

			far = d > far ? d : far;
			off += d > 0.5 + 1e-3;
		}
		tap_ok(off == 0, "resample: Mitchell upscaling of a linear ramp stays on the line (worst %.3f, rounding allows 0.5)",
		       far);
		gpu_image_release(&a);
		gpu_image_release(&b);
	}
	{
		/* opaque red left half, transparent green right half: no green in
		 * any visible output pixel */
		struct gpu_image a = rng_image(200, 50, 4), b = rng_image(77, 20, 4);
		int x, y, green = 0, edge_alpha = 0;

		for (y = 0; y < 50; y++)
			for (x = 0; x < 200; x++) {
				uint8_t *p = gpu_image_px(&a, x, y);

				p[0] = x < 100 ? 200 : 0;
				p[1] = x < 100 ? 0 : 255;
				p[2] = 0;
				p[3] = x < 100 ? 255 : 0;
			}
		ops->resample(&a, &b, GPU_RESAMPLE_LANCZOS3, &e);
		for (y = 0; y < 20; y++)
			for (x = 0; x < 77; x++) {
				uint8_t *p = gpu_image_px(&b, x, y);

				if (p[3] > 0 && p[1] > 0)
					green++;
				if (p[3] > 20 && p[3] < 235)
					edge_alpha++;
			}
		tap_ok(green == 0 && edge_alpha > 0,
		       "resample: transparent colour does not bleed into the edge (%d green, %d edge pixels)",
		       green, edge_alpha);
		gpu_image_release(&a);
		gpu_image_release(&b);
	}
}

/* A studio shot: off-white background with noise, a dark ring (product)
 * enclosing a disc of the background's own colour, and a second product
 * touching the left edge. */
static void studio(const struct gpu_image *img, int cx, int cy, int r_out, int r_in)
{
	int x, y;

	for (y = 0; y < img->height; y++)
		for (x = 0; x < img->width; x++) {
			uint8_t *p = gpu_image_px(img, x, y);
			int d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy), c;

			for (c = 0; c < 3; c++)
				p[c] = (uint8_t)(250 + rng_int(-2, 2));
			if (d2 <= r_out * r_out && d2 > r_in * r_in) {
				p[0] = 30; p[1] = 60; p[2] = 140;
			}
			if (x < 20 && y > img->height / 3 && y < img->height / 2) {
				p[0] = 180; p[1] = 20; p[2] = 20;
			}
			if (img->channels == 4)
				p[3] = 255;
		}
}

static void test_matte(void)
{
	struct gpu_matte_params p = { .tol_lo = 6.0f, .tol_hi = 14.0f, .border = 4, .feather = 0.0f };
	struct gpu_matte_stats st;
	struct gpu_image src = rng_image(240, 180, 3), a = rng_image(240, 180, 1), rgba = rng_image(240, 180, 4);
	struct err e;
	int island, ring, bg, ok, x, y, copied = 1;
	double want;

	studio(&src, 120, 90, 60, 30);
	ok = ops->matte(&src, &a, &p, &st, &e) == 0;
	island = a.data[90 * 240 + 120];
	ring = a.data[90 * 240 + 120 + 45];
	bg = a.data[5 * 240 + 230];
	tap_ok(ok && st.bg_rgb[0] >= 249 && st.bg_rgb[0] <= 251 && st.border_uniform > 0.95 && st.border_uniform < 0.98,
	       "matte: background estimated from the border, 3.6%% of it covered by a product (%d %d %d, uniform %.3f)",
	       st.bg_rgb[0], st.bg_rgb[1], st.bg_rgb[2], st.border_uniform);
	tap_ok(island == 255 && ring == 255 && bg == 0,
	       "matte: flood from the border keeps the enclosed background-coloured island opaque (island %d, ring %d, background %d)",
	       island, ring, bg);
	want = (M_PI * 60 * 60 + 20.0 * (180 / 2 - 180 / 3 - 1)) / (240.0 * 180.0);
	tap_ok(fabs(st.coverage - want) < 0.01, "matte: coverage %.4f is the products' share %.4f",
	       st.coverage, want);
	p.feather = 1.5f;
	ops->matte(&src, &rgba, &p, &st, &e);
	for (y = 0; y < 180; y++)
		for (x = 0; x < 240; x++)
			if (memcmp(gpu_image_px(&rgba, x, y), gpu_image_px(&src, x, y), 3) != 0)
				copied = 0;
	{
		int soft = gpu_image_px(&rgba, 120 + 60, 90)[3];

		tap_ok(copied && soft > 0 && soft < 255 && gpu_image_px(&rgba, 120, 90)[3] == 255,
		       "matte: a feathered RGBA matte keeps the colour and softens the edge (edge alpha %d)",
		       soft);
	}
	/* a background of random noise is not uniform */
	rng_fill(&src);
	ops->matte(&src, &a, &p, &st, &e);
	tap_ok(st.border_uniform < 0.2, "matte: a noise background reports low uniformity (%.3f)",
	       st.border_uniform);
	p.tol_hi = 2.0f;
	tap_ok(ops->matte(&src, &a, &p, &st, &e) < 0 && strstr(e.msg, "tolerances"),
	       "matte: tolerances that do not rise are refused (%s)", e.msg);
	gpu_image_release(&src);
	gpu_image_release(&a);
	gpu_image_release(&rgba);
}

static void test_composite(void)
{
	struct gpu_image dst = rng_image(50, 40, 3), ref = rng_image(50, 40, 3), src = rng_image(30, 30, 4);
	struct gpu_image mask = rng_image(30, 30, 1);
	struct err e;
	uint8_t black[3] = { 0, 0, 0 };
	int x, y, ok = 1, unchanged;

	rng_fill(&dst);
	memcpy(ref.data, dst.data, 50 * 40 * 3);
	rng_fill(&src);
	for (y = 0; y < 30; y++)
		for (x = 0; x < 30; x++)
			gpu_image_px(&src, x, y)[3] = 255;
	ops->composite(&dst, &src, 35, -10, 1.0f, &e);   /* clipped right and top */
	for (y = 0; y < 40; y++)
		for (x = 0; x < 50; x++) {
			int inside = x >= 35 && y < 20;
			const uint8_t *want = inside ? gpu_image_px(&src, x - 35, y + 10)
						     : gpu_image_px(&ref, x, y);

			if (memcmp(gpu_image_px(&dst, x, y), want, 3) != 0)
				ok = 0;
		}
	tap_ok(ok, "composite: an opaque layer replaces exactly its clipped rectangle");
	memcpy(dst.data, ref.data, 50 * 40 * 3);
	ops->composite(&dst, &src, 3, 3, 0.0f, &e);
	unchanged = memcmp(dst.data, ref.data, 50 * 40 * 3) == 0;
	memset(mask.data, 0, 30 * 30);
	ops->shade(&dst, &mask, 3, 3, black, 1.0f, &e);
	tap_ok(unchanged && memcmp(dst.data, ref.data, 50 * 40 * 3) == 0,
	       "composite: opacity 0, and a shade through an empty mask, change nothing");
	{
		struct gpu_image bg = rng_image(4, 4, 3), fg = rng_image(4, 4, 4), bg4 = rng_image(4, 4, 4);
		uint8_t k[3] = { 0, 0, 0 }, w[4] = { 255, 255, 255, 128 }, t[4] = { 9, 9, 9, 0 };

		fill_const(&bg, k);
		fill_const(&fg, w);
		ops->composite(&bg, &fg, 0, 0, 1.0f, &e);
		tap_ok(bg.data[0] == 188, "composite: half white over black is sRGB %d (188 in linear light, 128 naive)",
		       bg.data[0]);
		fill_const(&bg4, t);
		ops->composite(&bg4, &fg, 0, 0, 1.0f, &e);
		tap_ok(bg4.data[0] == 255 && bg4.data[3] == 128,
		       "composite: over a transparent destination the layer keeps its colour and alpha (%d, %d)",
		       bg4.data[0], bg4.data[3]);
		memset(mask.data, 255, 30 * 30);
		fill_const(&bg, w);
		ops->shade(&bg, &mask, -2, -2, k, 0.5f, &e);
		tap_ok(bg.data[0] == 188, "shade: black at 0.5 over white is sRGB %d (188 in linear light)",
		       bg.data[0]);
		gpu_image_release(&bg);
		gpu_image_release(&fg);
		gpu_image_release(&bg4);
	}
	gpu_image_release(&dst);
	gpu_image_release(&ref);
	gpu_image_release(&src);
	gpu_image_release(&mask);
}

static void test_colour_stats(void)
{
	struct gpu_image img = rng_image(64, 64, 3), m = rng_image(64, 64, 1), out = rng_image(64, 64, 3);
	struct gpu_colour_stats s, t, s2;
	struct gpu_transfer_params p = { 1.0f, 10.0f, 8.0f, 0.8f, 1.25f };
	uint8_t red[3] = { 200, 40, 40 }, blue[3] = { 40, 40, 200 };
	float lr[3], lb[3];
	struct err e;
	int x, y, c, ok = 1, bounded = 1, ident;
	double dmax = 0;

	gpu_srgb_to_lab(red, lr);
	gpu_srgb_to_lab(blue, lb);
	for (y = 0; y < 64; y++)
		for (x = 0; x < 64; x++) {
			memcpy(gpu_image_px(&img, x, y), x < 32 ? red : blue, 3);
			m.data[y * 64 + x] = x < 32 ? 255 : 0;
		}
	ops->colour_stats(&img, &m, &s, &e);
	for (c = 0; c < 3; c++)
		if (fabs(s.mean[c] - lr[c]) > 1e-3 || s.stddev[c] > 1e-3)
			ok = 0;
	tap_ok(ok && fabs(s.weight - 2048) < 1e-6, "colour stats: a mask selects the red half (L %.2f)",
	       s.mean[0]);
	ops->colour_stats(&img, NULL, &s, &e);
	ok = 1;
	for (c = 0; c < 3; c++)
		if (fabs(s.mean[c] - (lr[c] + lb[c]) / 2) > 1e-3 ||
		    fabs(s.stddev[c] - fabs(lr[c] - lb[c]) / 2) > 1e-3)
			ok = 0;
	tap_ok(ok, "colour stats: half red, half blue: the mean is halfway, the deviation half the gap");

	/* transfer of a mid-tone gradient (inside the gamut, so nothing clips)
	 * toward a warm target, bounded */
	for (y = 0; y < 64; y++)
		for (x = 0; x < 64; x++) {
			uint8_t *q = gpu_image_px(&img, x, y);

			q[0] = (uint8_t)(110 + x / 3 + rng_int(-2, 2));
			q[1] = (uint8_t)(100 + y / 3 + rng_int(-2, 2));
			q[2] = (uint8_t)(95 + (x + y) / 6 + rng_int(-2, 2));
		}
	ops->colour_stats(&img, NULL, &s, &e);
	t = s;
	t.mean[0] += 30; t.mean[1] += 3; t.mean[2] -= 20;
	t.stddev[0] *= 2.0;
	ops->colour_transfer(&img, &out, &s, &t, &p, &e);
	ops->colour_stats(&out, NULL, &s2, &e);
	if (fabs(s2.mean[0] - s.mean[0] - 10) > 0.5 || fabs(s2.mean[1] - s.mean[1] - 3) > 0.5 ||
	    fabs(s2.mean[2] - s.mean[2] + 8) > 0.5 || fabs(s2.stddev[0] / s.stddev[0] - 1.25) > 0.05)
		bounded = 0;
	tap_ok(bounded, "colour transfer: the mean moves toward the target, as far as the bounds allow "
	       "(dL %.2f of 30 wanted, da %.2f of 3, db %.2f of -20, L scale %.2f of 2)",
	       s2.mean[0] - s.mean[0], s2.mean[1] - s.mean[1], s2.mean[2] - s.mean[2],
	       s2.stddev[0] / s.stddev[0]);
	p.strength = 0.0f;
	ops->colour_transfer(&img, &out, &s, &t, &p, &e);
	for (y = 0, ident = 1; y < 64 * 64 * 3; y++)
		if (abs(out.data[y] - img.data[y]) > 1)
			ident = 0;
	tap_ok(ident, "colour transfer: strength 0 returns the image (within the Lab round trip)");
	p.strength = 1.0f; p.max_shift_l = 100; p.max_shift_ab = 100; p.min_scale = 0.01f;
	p.max_scale = 99.0f;
	t = s;
	t.mean[0] = s.mean[0] + 5; t.mean[1] = s.mean[1] - 4; t.mean[2] = s.mean[2] + 4;
	t.stddev[0] = s.stddev[0] * 0.7;
	ops->colour_transfer(&img, &out, &s, &t, &p, &e);
	ops->colour_stats(&out, NULL, &s2, &e);
	for (c = 0; c < 3; c++)
		dmax = fmax(dmax, fabs(s2.mean[c] - t.mean[c]));
	tap_ok(dmax < 0.6 && fabs(s2.stddev[0] - t.stddev[0]) < 0.6,
	       "colour transfer: unbounded, the result has the target's statistics (worst mean %.3f)",
	       dmax);
	s.weight = 0;
	tap_ok(ops->colour_transfer(&img, &out, &s, &t, &p, &e) < 0 && strstr(e.msg, "no pixels"),
	       "colour transfer: a source with no pixels is refused (%s)", e.msg);
	gpu_image_release(&img);
	gpu_image_release(&m);
	gpu_image_release(&out);
}

int main(void)
{
	rng_seed(tap_seed());
	printf("# CPU references (%s)\n", ops->name);
	test_colour_conversions();
	test_blur();
	test_blur_direct();
	test_resample();
	test_matte();
	test_composite();
	test_colour_stats();
	return tap_done();
}
