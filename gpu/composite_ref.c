/* composite_ref.c: the CPU reference of "over" in linear light with
 * premultiplied alpha, and of a flat colour through a mask (see
 * composite.h). */
#include "composite.h"

#include <stdio.h>

#include "colour.h"
#include "colour_math.h"
#include "par.h"

int gpu_layer_prepare(const struct gpu_image *dst, const struct gpu_image *layer,
		      const char *op, const char *what, int lmin, int lmax, int x, int y,
		      float opacity, int r[4], struct err *e)
{
	char name[64];
	long x0 = x, y0 = y, x1, y1;

	snprintf(name, sizeof name, "%s: destination", op);
	if (gpu_image_check(dst, name, 3, 4, e) < 0)
		return -1;
	snprintf(name, sizeof name, "%s: %s", op, what);
	if (gpu_image_check(layer, name, lmin, lmax, e) < 0)
		return -1;
	if (!(opacity >= 0.0f && opacity <= 1.0f))
		return err_set(e, ERR_INTERNAL, "%s: opacity %g is not within 0..1", op, opacity);
	x1 = (long)x + layer->width;
	y1 = (long)y + layer->height;
	if (x0 < 0) x0 = 0;
	if (y0 < 0) y0 = 0;
	if (x1 > dst->width) x1 = dst->width;
	if (y1 > dst->height) y1 = dst->height;
	r[0] = (int)x0; r[1] = (int)y0; r[2] = (int)x1; r[3] = (int)y1;
	return x0 < x1 && y0 < y1;
}

int gpu_composite_ref(const struct gpu_image *dst, const struct gpu_image *src,
		      int x, int y, float opacity, struct err *e)
{
	const float *lin = gpu_lut_to_linear();
	const uint8_t *enc = gpu_lut_to_srgb();
	int r[4], yy, dch, rc;

	rc = gpu_layer_prepare(dst, src, "composite", "source", 4, 4, x, y, opacity, r, e);
	if (rc <= 0)
		return rc;
	dch = dst->channels;
	GPU_OMP("omp parallel for schedule(static)")
	for (yy = r[1]; yy < r[3]; yy++) {
		int xx, c;

		for (xx = r[0]; xx < r[2]; xx++) {
			const uint8_t *s = gpu_image_px(src, xx - x, yy - y);
			float sa = s[3] * (1.0f / 255.0f) * opacity, sl[3];

			if (sa <= 0.0f)
				continue;
			for (c = 0; c < 3; c++)
				sl[c] = lin[s[c]];
			gpu_over_px(lin, enc, gpu_image_px(dst, xx, yy), dch, sl, sa);
		}
	}
	return 0;
}

int gpu_shade_ref(const struct gpu_image *dst, const struct gpu_image *mask,
		  int x, int y, const uint8_t rgb[3], float opacity, struct err *e)
{
	const float *lin = gpu_lut_to_linear();
	const uint8_t *enc = gpu_lut_to_srgb();
	float sl[3];
	int r[4], yy, dch, mch, rc;

	rc = gpu_layer_prepare(dst, mask, "shade", "mask", 1, 4, x, y, opacity, r, e);
	if (rc <= 0)
		return rc;
	dch = dst->channels;
	mch = mask->channels;
	sl[0] = lin[rgb[0]];
	sl[1] = lin[rgb[1]];
	sl[2] = lin[rgb[2]];
	GPU_OMP("omp parallel for schedule(static)")
	for (yy = r[1]; yy < r[3]; yy++) {
		int xx;

		for (xx = r[0]; xx < r[2]; xx++) {
			uint8_t m = gpu_image_px(mask, xx - x, yy - y)[mch - 1];
			float sa = m * (1.0f / 255.0f) * opacity;

			if (sa > 0.0f)
				gpu_over_px(lin, enc, gpu_image_px(dst, xx, yy), dch, sl, sa);
		}
	}
	return 0;
}
