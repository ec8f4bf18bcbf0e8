/* matte_ref.c: the CPU reference of the studio-shot matte (see matte.h):
 * border median, delta E, a breadth-first flood from the image's edge, the
 * ramp, the feather. */
#include "matte.h"

#include <stdlib.h>
#include <string.h>

#include "blur.h"
#include "colour.h"
#include "colour_math.h"
#include "par.h"

int gpu_matte_check_params(const struct gpu_matte_params *p, struct err *e)
{
	if (!(p->tol_lo >= 0.0f && p->tol_hi > p->tol_lo && p->tol_hi < 400.0f))
		return err_set(e, ERR_CONFIG, "matte: tolerances %g..%g must rise from 0 or more",
			       p->tol_lo, p->tol_hi);
	if (p->border < 1 || p->border > 1000)
		return err_set(e, ERR_CONFIG, "matte: border band of %d pixels, expected 1..1000",
			       p->border);
	if (!(p->feather >= 0.0f && p->feather <= GPU_BLUR_MAX_SIGMA))
		return err_set(e, ERR_CONFIG, "matte: feather %g is not within 0..%g", p->feather,
			       GPU_BLUR_MAX_SIGMA);
	return 0;
}

int gpu_matte_check(const struct gpu_image *src, const struct gpu_image *dst,
		    const struct gpu_matte_params *p, struct err *e)
{
	if (gpu_matte_check_params(p, e) < 0 ||
	    gpu_image_check(src, "matte: source", 3, 4, e) < 0 ||
	    gpu_image_check(dst, "matte: destination", 1, 4, e) < 0)
		return -1;
	if (dst->channels != 1 && dst->channels != 4)
		return err_set(e, ERR_INTERNAL, "matte: destination has %d channels, expected 1 or 4",
			       dst->channels);
	if (dst->width != src->width || dst->height != src->height)
		return err_set(e, ERR_INTERNAL, "matte: source %dx%d, destination %dx%d",
			       src->width, src->height, dst->width, dst->height);
	return 0;
}

void gpu_matte_estimate_bg(const uint8_t *rgb, size_t n, const struct gpu_matte_params *p,
			   struct gpu_matte_stats *st)
{
	size_t hist[3][256], i, near = 0;
	int c, v;

	memset(hist, 0, sizeof hist);
	for (i = 0; i < n; i++)
		for (c = 0; c < 3; c++)
			hist[c][rgb[i * 3 + c]]++;
	for (c = 0; c < 3; c++) {
		size_t cum = 0;

		for (v = 0; v < 255; v++) {
			cum += hist[c][v];
			if (2 * cum >= n)
				break;
		}
		st->bg_rgb[c] = (uint8_t)v;
	}
	gpu_srgb_to_lab(st->bg_rgb, st->bg_lab);
	for (i = 0; i < n; i++) {
		float lab[3];

		gpu_srgb_to_lab(rgb + i * 3, lab);
		if (gpu_delta_e(lab, st->bg_lab) < p->tol_lo)
			near++;
	}
	st->border_uniform = n ? (double)near / (double)n : 0.0;
}

/* The border band's RGB triples (new: free()), *n of them. */
static uint8_t *border_band(const struct gpu_image *src, int b, size_t *n)
{
	int W = src->width, H = src->height, x, y;
	uint8_t *out = malloc((size_t)W * H * 3 < (size_t)2 * b * (W + H) * 3
			      ? (size_t)W * H * 3 : (size_t)2 * b * (W + H) * 3);
	size_t k = 0;

	if (!out)
		return NULL;
	for (y = 0; y < H; y++) {
		int edge_row = y < b || y >= H - b;
		int right = W - b > b ? W - b : b;

		for (x = 0; x < W; x++) {
			if (!edge_row && x == b)
				x = right;
			if (x >= W)
				break;
			memcpy(out + k * 3, gpu_image_px(src, x, y), 3);
			k++;
		}
	}
	*n = k;
	return out;
}

int gpu_matte_ref(const struct gpu_image *src, const struct gpu_image *dst,
		  const struct gpu_matte_params *p, struct gpu_matte_stats *stats,
		  struct err *e)
{
	struct gpu_matte_stats st;
	struct gpu_image alpha = { 0 };
	uint8_t *band = NULL, *reached = NULL;
	int32_t *queue = NULL;
	size_t nband = 0, head = 0, tail = 0, opaque = 0;
	int W, H, y, b, fail = 0, rc = -1;

	memset(&st, 0, sizeof st);
	if (gpu_matte_check(src, dst, p, e) < 0)
		return -1;
	W = src->width;
	H = src->height;
	b = p->border;
	if (2 * b > W) b = (W + 1) / 2;
	if (2 * b > H) b = (H + 1) / 2;
	band = border_band(src, b, &nband);
	if (!band) {
		err_set(e, ERR_NOMEM, "matte: out of memory for the border of %dx%d", W, H);
		goto done;
	}
	gpu_matte_estimate_bg(band, nband, p, &st);

	if (dst->channels == 1) {
		alpha = *dst;
	} else if (gpu_image_alloc(&alpha, W, H, 1, e) < 0) {
		goto done;
	}
	reached = calloc((size_t)W * H, 1);
	queue = malloc((size_t)W * H * sizeof *queue);
	if (!reached || !queue) {
		err_set(e, ERR_NOMEM, "matte: out of memory for the flood of %dx%d", W, H);
		goto done;
	}
	/* the ramp of every pixel: 255 means product (a barrier to the flood) */
	GPU_OMP("omp parallel reduction(+:fail)")
	{
		float *buf = malloc((size_t)W * 3 * sizeof *buf);
		float *L = buf, *A = buf + W, *B = buf + 2 * (size_t)W;
		int yy;

		fail += !buf;
		GPU_OMP("omp for schedule(static)")
		for (yy = 0; yy < H; yy++) {
			uint8_t *out = alpha.data + (size_t)yy * alpha.stride;
			int x;

			if (!buf)
				continue;
			gpu_srgb_row_to_lab(src->data + (size_t)yy * src->stride, W, src->channels,
					    L, A, B);
			for (x = 0; x < W; x++) {
				float lab[3] = { L[x], A[x], B[x] };

				out[x] = gpu_matte_ramp(gpu_delta_e(lab, st.bg_lab), p->tol_lo,
							p->tol_hi);
			}
		}
		free(buf);
	}
	if (fail) {
		err_set(e, ERR_NOMEM, "matte: out of memory for a row of %d", W);
		goto done;
	}
	/* flood from every edge pixel that is not product, 4-connected */
	for (y = 0; y < H; y++) {
		int x;

		for (x = 0; x < W; x++) {
			size_t i = (size_t)y * W + x;

			if (y != 0 && y != H - 1 && x != 0 && x != W - 1)
				continue;
			if (alpha.data[(size_t)y * alpha.stride + x] < 255 && !reached[i]) {
				reached[i] = 1;
				queue[tail++] = (int32_t)i;
			}
		}
	}
	while (head < tail) {
		int32_t i = queue[head++];
		int x = i % W, yy = i / W, k;
		static const int dx[4] = { 1, -1, 0, 0 }, dy[4] = { 0, 0, 1, -1 };

		for (k = 0; k < 4; k++) {
			int nx = x + dx[k], ny = yy + dy[k];
			size_t j;

			if (nx < 0 || ny < 0 || nx >= W || ny >= H)
				continue;
			j = (size_t)ny * W + nx;
			if (!reached[j] && alpha.data[(size_t)ny * alpha.stride + nx] < 255) {
				reached[j] = 1;
				queue[tail++] = (int32_t)j;
			}
		}
	}
	/* what the flood did not reach is product */
	GPU_OMP("omp parallel for schedule(static)")
	for (y = 0; y < H; y++) {
		uint8_t *out = alpha.data + (size_t)y * alpha.stride;
		int x;

		for (x = 0; x < W; x++)
			if (!reached[(size_t)y * W + x])
				out[x] = 255;
	}
	if (p->feather > 0.0f && gpu_blur_ref(&alpha, &alpha, p->feather, e) < 0)
		goto done;
	for (y = 0; y < H; y++) {
		const uint8_t *a = alpha.data + (size_t)y * alpha.stride;
		int x;

		for (x = 0; x < W; x++)
			opaque += a[x] >= 128;
		if (dst->channels == 4) {
			uint8_t *out = dst->data + (size_t)y * dst->stride;

			for (x = 0; x < W; x++) {
				memcpy(out + (size_t)x * 4, gpu_image_px(src, x, y), 3);
				out[(size_t)x * 4 + 3] = a[x];
			}
		}
	}
	st.coverage = (double)opaque / ((double)W * H);
	if (stats)
		*stats = st;
	rc = 0;
done:
	if (dst->channels == 4)
		gpu_image_release(&alpha);
	free(band);
	free(reached);
	free(queue);
	return rc;
}
