/* resample_ref.c: the CPU reference of separable resampling (see
 * resample.h), and the filter taps it shares with the kernels. */
#include "resample.h"

#include <math.h>
#include <stdlib.h>

#include "resample_math.h"
#include "par.h"

static double sinc(double x)
{
	if (fabs(x) < 1e-9)
		return 1.0;
	x *= M_PI;
	return sin(x) / x;
}

static double filter_radius(enum gpu_resample_filter f)
{
	return f == GPU_RESAMPLE_MITCHELL ? 2.0 : 3.0;
}

static double filter_eval(enum gpu_resample_filter f, double x)
{
	x = fabs(x);
	if (f == GPU_RESAMPLE_MITCHELL) {
		const double b = 1.0 / 3.0, c = 1.0 / 3.0;

		if (x < 1.0)
			return ((12 - 9 * b - 6 * c) * x * x * x + (-18 + 12 * b + 6 * c) * x * x +
				(6 - 2 * b)) / 6.0;
		if (x < 2.0)
			return ((-b - 6 * c) * x * x * x + (6 * b + 30 * c) * x * x +
				(-12 * b - 48 * c) * x + (8 * b + 24 * c)) / 6.0;
		return 0.0;
	}
	return x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0;
}

void gpu_taps_release(struct gpu_taps *t)
{
	if (!t)
		return;
	free(t->idx);
	free(t->w);
	t->idx = NULL;
	t->w = NULL;
	t->ntaps = 0;
}

int gpu_taps_make(struct gpu_taps *t, int in, int out, enum gpu_resample_filter filter,
		  struct err *e)
{
	double scale, fscale, support, *wd;
	int i;

	t->idx = NULL;
	t->w = NULL;
	t->ntaps = 0;
	if (in <= 0 || out <= 0)
		return err_set(e, ERR_INTERNAL, "resample: cannot map %d pixels to %d", in, out);
	if (filter != GPU_RESAMPLE_LANCZOS3 && filter != GPU_RESAMPLE_MITCHELL)
		return err_set(e, ERR_INTERNAL, "resample: unknown filter %d", (int)filter);
	scale = (double)in / out;
	fscale = scale > 1.0 ? scale : 1.0;
	support = filter_radius(filter) * fscale;
	t->ntaps = (int)ceil(2.0 * support) + 1;
	t->idx = malloc((size_t)out * t->ntaps * sizeof *t->idx);
	t->w = malloc((size_t)out * t->ntaps * sizeof *t->w);
	wd = malloc((size_t)t->ntaps * sizeof *wd);
	if (!t->idx || !t->w || !wd) {
		free(wd);
		gpu_taps_release(t);
		return err_set(e, ERR_NOMEM, "resample: out of memory for %d taps", out);
	}
	for (i = 0; i < out; i++) {
		double center = (i + 0.5) * scale, sum = 0.0;
		int first = (int)floor(center - support), k;
		int *idx = t->idx + (size_t)i * t->ntaps;
		float *w = t->w + (size_t)i * t->ntaps;

		for (k = 0; k < t->ntaps; k++) {
			int j = first + k;

			wd[k] = filter_eval(filter, (j + 0.5 - center) / fscale);
			sum += wd[k];
			idx[k] = j < 0 ? 0 : (j >= in ? in - 1 : j);
		}
		for (k = 0; k < t->ntaps; k++)
			w[k] = (float)(sum != 0.0 ? wd[k] / sum : 0.0);
	}
	free(wd);
	return 0;
}

int gpu_resample_check(const struct gpu_image *src, const struct gpu_image *dst,
		       struct err *e)
{
	if (gpu_image_check(src, "resample: source", 1, 4, e) < 0 ||
	    gpu_image_check(dst, "resample: destination", 1, 4, e) < 0)
		return -1;
	if (src->channels != dst->channels)
		return err_set(e, ERR_INTERNAL, "resample: %d channels in, %d out",
			       src->channels, dst->channels);
	return 0;
}

/* Is output i's tap list the contiguous run first, first+1, ...? (It is
 * everywhere but near the edges, where indices are clamped.) */
static int taps_contiguous(const struct gpu_taps *t, int i)
{
	const int *idx = t->idx + (size_t)i * t->ntaps;
	int k;

	for (k = 1; k < t->ntaps; k++)
		if (idx[k] != idx[0] + k)
			return 0;
	return 1;
}

/* The vertical pass first (whole rows at a time: the inner loops run along
 * contiguous memory and vectorise), then the horizontal one on the fewer
 * rows that remain.  The passes are linear, so the order changes nothing
 * but float rounding (the kernels run horizontal first; tests allow 1 level). */
int gpu_resample_ref(const struct gpu_image *src, const struct gpu_image *dst,
		     enum gpu_resample_filter filter, struct err *e)
{
	struct gpu_taps tx = { 0 }, ty = { 0 };
	float *tmp = NULL;
	char *contig = NULL;
	int ch, sw, dh, dw, rc = -1, y;
	size_t rowlen;

	if (gpu_resample_check(src, dst, e) < 0)
		return -1;
	ch = src->channels;
	sw = src->width;
	dw = dst->width;
	dh = dst->height;
	rowlen = (size_t)sw * ch;
	if (gpu_taps_make(&tx, sw, dw, filter, e) < 0 ||
	    gpu_taps_make(&ty, src->height, dh, filter, e) < 0)
		goto done;
	tmp = malloc((size_t)dh * rowlen * sizeof *tmp);
	contig = malloc((size_t)dw);
	if (!tmp || !contig) {
		err_set(e, ERR_NOMEM, "resample: out of memory for %dx%d", sw, dh);
		goto done;
	}
	for (y = 0; y < dw; y++)
		contig[y] = (char)taps_contiguous(&tx, y);
	/* vertical: src rows -> tmp rows (premultiplied colour when ch == 4) */
	GPU_OMP("omp parallel for schedule(static)")
	for (y = 0; y < dh; y++) {
		const int *idx = ty.idx + (size_t)y * ty.ntaps;
		const float *w = ty.w + (size_t)y * ty.ntaps;
		float *out = tmp + (size_t)y * rowlen;
		size_t x;
		int k;

		for (x = 0; x < rowlen; x++)
			out[x] = 0.0f;
		for (k = 0; k < ty.ntaps; k++) {
			const uint8_t *row = src->data + (size_t)idx[k] * src->stride;
			float wk = w[k];

			if (wk == 0.0f)
				continue;
			if (ch == 4) {
				for (x = 0; x < rowlen; x += 4) {
					float wa = wk * row[x + 3] * (1.0f / 255.0f);

					out[x] += wa * row[x];
					out[x + 1] += wa * row[x + 1];
					out[x + 2] += wa * row[x + 2];
					out[x + 3] += wk * row[x + 3];
				}
			} else {
				for (x = 0; x < rowlen; x++)
					out[x] += wk * row[x];
			}
		}
	}
	/* horizontal: tmp rows -> dst rows */
	GPU_OMP("omp parallel for schedule(static)")
	for (y = 0; y < dh; y++) {
		const float *row = tmp + (size_t)y * rowlen;
		uint8_t *out = dst->data + (size_t)y * dst->stride;
		int x, k, c, n = tx.ntaps;

		for (x = 0; x < dw; x++) {
			const int *idx = tx.idx + (size_t)x * n;
			const float *w = tx.w + (size_t)x * n;
			float acc[4] = { 0, 0, 0, 0 };

			if (ch == 3 && contig[x]) {
				const float *p = row + (size_t)idx[0] * 3;
				float a0 = 0, a1 = 0, a2 = 0;

				for (k = 0; k < n; k++, p += 3) {
					a0 += w[k] * p[0];
					a1 += w[k] * p[1];
					a2 += w[k] * p[2];
				}
				acc[0] = a0; acc[1] = a1; acc[2] = a2;
			} else if (ch == 4 && contig[x]) {
				const float *p = row + (size_t)idx[0] * 4;

				for (k = 0; k < n; k++, p += 4)
					for (c = 0; c < 4; c++)
						acc[c] += w[k] * p[c];
			} else {
				for (k = 0; k < n; k++) {
					const float *p = row + (size_t)idx[k] * ch;

					for (c = 0; c < ch; c++)
						acc[c] += w[k] * p[c];
				}
			}
			gpu_resample_store(out + (size_t)x * ch, acc, ch);
		}
	}
	rc = 0;
done:
	free(tmp);
	free(contig);
	gpu_taps_release(&tx);
	gpu_taps_release(&ty);
	return rc;
}
