/* colour_ref.c: the colour lookup tables and conversions, and the CPU
 * reference of colour statistics and transfer in Lab (see colour.h). */
#include "colour.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "colour_math.h"
#include "par.h"

static float lut_lin[256];
static uint8_t lut_srgb[GPU_LIN_LUT_SIZE];
static pthread_once_t lut_once = PTHREAD_ONCE_INIT;

static void lut_build(void)
{
	int i;

	for (i = 0; i < 256; i++) {
		double v = i / 255.0;
		lut_lin[i] = (float)(v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4));
	}
	for (i = 0; i < GPU_LIN_LUT_SIZE; i++) {
		double v = (double)i / (GPU_LIN_LUT_SIZE - 1);
		double s = v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1.0 / 2.4) - 0.055;
		lut_srgb[i] = (uint8_t)lround(fmin(fmax(s, 0.0), 1.0) * 255.0);
	}
}

const float *gpu_lut_to_linear(void)
{
	pthread_once(&lut_once, lut_build);
	return lut_lin;
}

const uint8_t *gpu_lut_to_srgb(void)
{
	pthread_once(&lut_once, lut_build);
	return lut_srgb;
}

float gpu_srgb_to_linear(uint8_t v)
{
	return gpu_lut_to_linear()[v];
}

uint8_t gpu_linear_to_srgb(float v)
{
	return gpu_lin_encode(gpu_lut_to_srgb(), v);
}

void gpu_srgb_to_lab(const uint8_t rgb[3], float lab[3])
{
	gpu_px_to_lab(gpu_lut_to_linear(), rgb, lab);
}

void gpu_lab_to_srgb(const float lab[3], uint8_t rgb[3])
{
	const uint8_t *enc = gpu_lut_to_srgb();
	float lin[3];
	int c;

	gpu_lab_to_linear(lab, lin);
	for (c = 0; c < 3; c++)
		rgb[c] = gpu_lin_encode(enc, lin[c]);
}

void gpu_srgb_row_to_lab(const uint8_t *row, int n, int ch, float *l, float *a, float *b)
{
	const float *lin = gpu_lut_to_linear();
	int x;

	/* the table lookups first (scalar), into the output arrays ... */
	if (ch == 1) {
		for (x = 0; x < n; x++)
			l[x] = a[x] = b[x] = lin[row[x]];
	} else {
		for (x = 0; x < n; x++) {
			l[x] = lin[row[(size_t)x * ch]];
			a[x] = lin[row[(size_t)x * ch + 1]];
			b[x] = lin[row[(size_t)x * ch + 2]];
		}
	}
	/* ... then the arithmetic in place, branch-free */
	for (x = 0; x < n; x++) {
		float lab[3];

		gpu_linear_to_lab(l[x], a[x], b[x], lab);
		l[x] = lab[0];
		a[x] = lab[1];
		b[x] = lab[2];
	}
}

int gpu_colour_stats_check(const struct gpu_image *src, const struct gpu_image *mask,
			   struct err *e)
{
	if (gpu_image_check(src, "colour stats: image", 1, 4, e) < 0)
		return -1;
	if (src->channels == 2)
		return err_set(e, ERR_INTERNAL, "colour stats: image: 2 channels, expected 1, 3 or 4");
	if (!mask)
		return 0;
	if (gpu_image_check(mask, "colour stats: mask", 1, 1, e) < 0)
		return -1;
	if (mask->width != src->width || mask->height != src->height)
		return err_set(e, ERR_INTERNAL, "colour stats: mask is %dx%d, image %dx%d",
			       mask->width, mask->height, src->width, src->height);
	return 0;
}

int gpu_colour_transfer_check(const struct gpu_image *src, const struct gpu_image *dst,
			      struct err *e)
{
	if (gpu_image_check(src, "colour transfer: source", 3, 4, e) < 0 ||
	    gpu_image_check(dst, "colour transfer: destination", 3, 4, e) < 0)
		return -1;
	if (src->width != dst->width || src->height != dst->height ||
	    src->channels != dst->channels)
		return err_set(e, ERR_INTERNAL, "colour transfer: source %dx%dx%d, destination %dx%dx%d",
			       src->width, src->height, src->channels, dst->width, dst->height,
			       dst->channels);
	return 0;
}

int gpu_colour_stats_ref(const struct gpu_image *src, const struct gpu_image *mask,
			 struct gpu_colour_stats *out, struct err *e)
{
	double s0 = 0, s1 = 0, s2 = 0, q0 = 0, q1 = 0, q2 = 0, sw = 0;
	int c, ch, W, fail = 0;

	memset(out, 0, sizeof *out);
	if (gpu_colour_stats_check(src, mask, e) < 0)
		return -1;
	ch = src->channels;
	W = src->width;
	GPU_OMP("omp parallel reduction(+:s0,s1,s2,q0,q1,q2,sw,fail)")
	{
		float *buf = malloc((size_t)W * 4 * sizeof *buf);
		float *L = buf, *A = buf + W, *B = buf + 2 * (size_t)W, *w = buf + 3 * (size_t)W;
		int y;

		fail += !buf;
		GPU_OMP("omp for schedule(static)")
		for (y = 0; y < src->height; y++) {
			const uint8_t *row = src->data + (size_t)y * src->stride;
			double r0 = 0, r1 = 0, r2 = 0, t0 = 0, t1 = 0, t2 = 0, rw = 0;
			int x;

			if (!buf)
				continue;
			if (mask) {
				const uint8_t *m = mask->data + (size_t)y * mask->stride;

				for (x = 0; x < W; x++)
					w[x] = m[x] / 255.0f;
			} else if (ch == 4) {
				for (x = 0; x < W; x++)
					w[x] = row[(size_t)x * 4 + 3] / 255.0f;
			} else {
				for (x = 0; x < W; x++)
					w[x] = 1.0f;
			}
			gpu_srgb_row_to_lab(row, W, ch, L, A, B);
			for (x = 0; x < W; x++) {
				double wx = w[x], l = L[x], a = A[x], b = B[x];

				rw += wx;
				r0 += wx * l; r1 += wx * a; r2 += wx * b;
				t0 += wx * l * l; t1 += wx * a * a; t2 += wx * b * b;
			}
			sw += rw; s0 += r0; s1 += r1; s2 += r2; q0 += t0; q1 += t1; q2 += t2;
		}
		free(buf);
	}
	if (fail)
		return err_set(e, ERR_NOMEM, "colour stats: out of memory for a row of %d", W);
	out->weight = sw;
	if (sw > 0) {
		double s[3] = { s0, s1, s2 }, q[3] = { q0, q1, q2 };

		for (c = 0; c < 3; c++) {
			double m = s[c] / sw, v = q[c] / sw - m * m;

			out->mean[c] = m;
			out->stddev[c] = v > 0 ? sqrt(v) : 0.0;
		}
	}
	return 0;
}

int gpu_transfer_coeffs(const struct gpu_colour_stats *from,
			const struct gpu_colour_stats *to,
			const struct gpu_transfer_params *p, float scale[3],
			float offset[3], struct err *e)
{
	int c;

	if (!(p->strength >= 0.0f && p->strength <= 1.0f))
		return err_set(e, ERR_CONFIG, "colour transfer: strength %g is not within 0..1",
			       p->strength);
	if (!(p->min_scale > 0.0f && p->min_scale <= 1.0f && p->max_scale >= 1.0f &&
	      p->max_scale < 100.0f))
		return err_set(e, ERR_CONFIG,
			       "colour transfer: scale bounds %g..%g must enclose 1 and be positive",
			       p->min_scale, p->max_scale);
	if (!(p->max_shift_l >= 0.0f && p->max_shift_ab >= 0.0f))
		return err_set(e, ERR_CONFIG, "colour transfer: negative shift bound");
	if (!(from->weight > 0.0) || !(to->weight > 0.0))
		return err_set(e, ERR_INPUT, "colour transfer: %s has no pixels to measure",
			       from->weight > 0.0 ? "the target" : "the source");
	for (c = 0; c < 3; c++) {
		double k = from->stddev[c] > 1e-6 ? to->stddev[c] / from->stddev[c] : 1.0;
		double lim = c == 0 ? p->max_shift_l : p->max_shift_ab;
		double shift = to->mean[c] - from->mean[c];
		double s, o;

		if (k < p->min_scale) k = p->min_scale;
		if (k > p->max_scale) k = p->max_scale;
		if (shift > lim) shift = lim;
		if (shift < -lim) shift = -lim;
		/* full map v -> (v - m) * k + m + shift, blended by strength */
		s = 1.0 + p->strength * (k - 1.0);
		o = p->strength * (from->mean[c] * (1.0 - k) + shift);
		scale[c] = (float)s;
		offset[c] = (float)o;
	}
	return 0;
}

int gpu_colour_transfer_ref(const struct gpu_image *src, const struct gpu_image *dst,
			    const struct gpu_colour_stats *from,
			    const struct gpu_colour_stats *to,
			    const struct gpu_transfer_params *p, struct err *e)
{
	const uint8_t *enc = gpu_lut_to_srgb();
	float k[3], o[3];
	int ch, W, fail = 0;

	if (gpu_colour_transfer_check(src, dst, e) < 0)
		return -1;
	if (gpu_transfer_coeffs(from, to, p, k, o, e) < 0)
		return -1;
	ch = src->channels;
	W = src->width;
	GPU_OMP("omp parallel reduction(+:fail)")
	{
		float *buf = malloc((size_t)W * 3 * sizeof *buf);
		float *L = buf, *A = buf + W, *B = buf + 2 * (size_t)W;
		int yy;

		fail += !buf;
		GPU_OMP("omp for schedule(static)")
		for (yy = 0; yy < src->height; yy++) {
			const uint8_t *in = src->data + (size_t)yy * src->stride;
			uint8_t *out = dst->data + (size_t)yy * dst->stride;
			int x;

			if (!buf)
				continue;
			gpu_srgb_row_to_lab(in, W, ch, L, A, B);
			for (x = 0; x < W; x++) {
				float lab[3], rgb[3];

				lab[0] = L[x] * k[0] + o[0];
				lab[1] = A[x] * k[1] + o[1];
				lab[2] = B[x] * k[2] + o[2];
				gpu_lab_to_linear(lab, rgb);
				L[x] = rgb[0];
				A[x] = rgb[1];
				B[x] = rgb[2];
			}
			for (x = 0; x < W; x++) {
				uint8_t *q = out + (size_t)x * ch;

				if (ch == 4)
					q[3] = in[(size_t)x * 4 + 3];
				q[0] = gpu_lin_encode(enc, L[x]);
				q[1] = gpu_lin_encode(enc, A[x]);
				q[2] = gpu_lin_encode(enc, B[x]);
			}
		}
		free(buf);
	}
	if (fail)
		return err_set(e, ERR_NOMEM, "colour transfer: out of memory for a row of %d", W);
	return 0;
}
