/* blur_ref.c: the CPU reference of the separable Gaussian blur (see blur.h),
 * and the weights it shares with the kernels.
 *
 * Both passes have one form: out[i] = sum over taps k of w[k] * s_k[i], where
 * s_k is a row of floats: the padded source row shifted by k pixels
 * (horizontal) or the intermediate row y + k - r, clamped to the image
 * (vertical).  The kernel is symmetric, so taps k and 2r - k share a
 * multiply; 32 outputs are summed at once in registers (8 vectors of 4
 * floats, GCC's vector extensions: SSE2 on any x86-64), two loads, two adds
 * and a multiply per pair of taps and vector.  No branch for the edges: the
 * horizontal pass reads a row padded with copies of its edge pixels, the
 * vertical pass a table of clamped row pointers.  The intermediate is stored
 * in columns 32 floats wide, so the vertical pass, walking down a column,
 * finds the 2r + 1 rows it sums in a few KB (rows of a plain image are a
 * page apart: L1 sets and TLB entries run out, twice as slow).  Rounding
 * differs from a tap-by-tap sum in the last bits of a float only.
 */
#include "blur.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"

typedef float blur_v4 __attribute__((vector_size(16)));
typedef int32_t blur_v4i __attribute__((vector_size(16)));

#define BLUR_VECS 8                     /* vectors summed at once */
#define BLUR_BLOCK (4 * BLUR_VECS)       /* floats summed at once */
#define BLUR_BAND 32                     /* rows per vertical task: 16 threads busy from 512 rows */

int gpu_blur_weights(float sigma, float *w)
{
	int r = (int)ceilf(3.0f * sigma), k;
	double sum = 0.0;

	if (r < 1)
		r = 1;
	for (k = -r; k <= r; k++)
		sum += exp(-(double)k * k / (2.0 * (double)sigma * sigma));
	for (k = -r; k <= r; k++)
		w[k + r] = (float)(exp(-(double)k * k / (2.0 * (double)sigma * sigma)) / sum);
	return r;
}

int gpu_blur_check(const struct gpu_image *src, const struct gpu_image *dst, float sigma,
		   int *first, int *n, struct err *e)
{
	if (gpu_image_check(src, "blur: source", 1, 4, e) < 0 ||
	    gpu_image_check(dst, "blur: destination", 1, 4, e) < 0)
		return -1;
	if (src->width != dst->width || src->height != dst->height)
		return err_set(e, ERR_INTERNAL, "blur: source %dx%d, destination %dx%d",
			       src->width, src->height, dst->width, dst->height);
	if (!(sigma > 0.0f && sigma <= GPU_BLUR_MAX_SIGMA))
		return err_set(e, ERR_INTERNAL, "blur: sigma %g is not within 0..%g", sigma,
			       GPU_BLUR_MAX_SIGMA);
	if (dst->channels == src->channels) {
		*first = 0;
		*n = src->channels;
	} else if (dst->channels == 1) {
		*first = src->channels - 1;
		*n = 1;
	} else {
		return err_set(e, ERR_INTERNAL, "blur: %d channels in, %d out", src->channels,
			       dst->channels);
	}
	return 0;
}

static inline blur_v4 blur_load(const float *p)
{
	blur_v4 v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* out[0..BLUR_BLOCK) = sum over k of w[k] * s[k][i + ..], the 2r + 1 rows s
 * folded in pairs around s[r]; the outermost (smallest) taps first. */
static inline void blur_block(const float *const *s, const float *w, int r, size_t i,
			      float *out)
{
	blur_v4 a[BLUR_VECS];
	const float *c = s[r] + i;
	int j, k;

	for (j = 0; j < BLUR_VECS; j++)
		a[j] = (blur_v4){ 0.0f, 0.0f, 0.0f, 0.0f };
	for (k = 0; k < r; k++) {
		const float *p = s[k] + i, *q = s[2 * r - k] + i;
		const float wk = w[k];

		for (j = 0; j < BLUR_VECS; j++)
			a[j] += wk * (blur_load(p + 4 * j) + blur_load(q + 4 * j));
	}
	for (j = 0; j < BLUR_VECS; j++)
		a[j] += w[r] * blur_load(c + 4 * j);
	memcpy(out, a, sizeof a);
}

/* gpu_to_u8 of a block (clamp to 0..255, round), in vectors. */
static inline void blur_to_u8(const float *acc, uint8_t *q)
{
	const blur_v4 zero = { 0.0f, 0.0f, 0.0f, 0.0f };
	const blur_v4 top = { 255.0f, 255.0f, 255.0f, 255.0f };
	int j;

	for (j = 0; j < BLUR_BLOCK; j += 4) {
		blur_v4 v = blur_load(acc + j);
		blur_v4i lo = v > zero, hi = v < top;
		blur_v4i keep = (blur_v4i)v & lo & hi, cap = (blur_v4i)top & ~hi;
		/* Lane by lane (0..255.5, truncated): __builtin_convertvector
		 * needs GCC 9, and a GPU host's system compiler may be older. */
		blur_v4 n = (blur_v4)(keep | cap) + 0.5f;

		q[j] = (uint8_t)n[0];
		q[j + 1] = (uint8_t)n[1];
		q[j + 2] = (uint8_t)n[2];
		q[j + 3] = (uint8_t)n[3];
	}
}

/* Row y of src's blurred channels into the intermediate tmp (nb blocks of
 * BLUR_BLOCK floats: block b of row y at tmp + (b H + y) BLUR_BLOCK), through
 * pad (nb BLUR_BLOCK + 2 r n floats, its tail zero). */
static void blur_row_h(const struct gpu_image *src, int first, int n, int y, const float *w,
		       int r, float *pad, size_t nb, float *tmp)
{
	const float *s[GPU_BLUR_MAX_TAPS];
	const uint8_t *row = src->data + (size_t)y * src->stride + first;
	size_t sch = (size_t)src->channels, wn = (size_t)src->width * n, edge = (size_t)r * n;
	const uint8_t *last = row + (size_t)(src->width - 1) * sch;
	size_t x, i, b;
	int k, c;

	for (x = 0; x < (size_t)r; x++)
		for (c = 0; c < n; c++) {
			pad[x * n + c] = row[c];
			pad[edge + wn + x * n + c] = last[c];
		}
	if (n == 1 && sch == 1)
		for (i = 0; i < wn; i++)
			pad[edge + i] = row[i];
	else
		for (x = 0; x < (size_t)src->width; x++)
			for (c = 0; c < n; c++)
				pad[edge + x * n + c] = row[x * sch + c];
	for (k = 0; k <= 2 * r; k++)
		s[k] = pad + (size_t)k * n;
	for (b = 0; b < nb; b++)
		blur_block(s, w, r, b * BLUR_BLOCK,
			   tmp + (b * (size_t)src->height + (size_t)y) * BLUR_BLOCK);
}

/* Rows y0..y1 of dst from the intermediate tmp (see blur_row_h), a column
 * block at a time down the band: the 2r + 1 rows a block reads lie together
 * (BLUR_BLOCK floats apart), and all but one are the previous row's. */
static void blur_band_v(const float *tmp, size_t nb, int H, int y0, int y1, const float *w,
			int r, const struct gpu_image *dst, size_t wn)
{
	const float *s[BLUR_BAND + GPU_BLUR_MAX_TAPS];
	float acc[BLUR_BLOCK];
	uint8_t q[BLUR_BLOCK];
	size_t b;
	int y, k;

	for (b = 0; b < nb; b++) {
		const float *col = tmp + b * (size_t)H * BLUR_BLOCK;
		size_t i = b * BLUR_BLOCK, m = wn - i < BLUR_BLOCK ? wn - i : BLUR_BLOCK;

		for (k = 0; k < y1 - y0 + 2 * r; k++) {
			int sy = y0 + k - r;

			sy = sy < 0 ? 0 : (sy >= H ? H - 1 : sy);
			s[k] = col + (size_t)sy * BLUR_BLOCK;
		}
		for (y = y0; y < y1; y++) {
			blur_block(s + (y - y0), w, r, 0, acc);
			blur_to_u8(acc, q);
			memcpy(dst->data + (size_t)y * dst->stride + i, q, m);
		}
	}
}

int gpu_blur_ref(const struct gpu_image *src, const struct gpu_image *dst,
		 float sigma, struct err *e)
{
	float w[GPU_BLUR_MAX_TAPS];
	float *tmp = NULL;
	size_t nb;
	int first, n, r, W, H, rc = -1;

	if (gpu_blur_check(src, dst, sigma, &first, &n, e) < 0)
		return -1;
	r = gpu_blur_weights(sigma, w);
	W = src->width;
	H = src->height;
	nb = ((size_t)W * n + BLUR_BLOCK - 1) / BLUR_BLOCK;
	tmp = malloc(nb * BLUR_BLOCK * H * sizeof *tmp);
	if (!tmp) {
		err_set(e, ERR_NOMEM, "blur: out of memory for %dx%d", W, H);
		goto done;
	}
	/* All of src is read (horizontal pass) before dst is written
	 * (vertical pass, after the loop's barrier): dst may be src. */
	GPU_OMP("omp parallel")
	{
		float *pad = calloc(nb * BLUR_BLOCK + 2 * (size_t)r * n, sizeof *pad);
		int yy;

		GPU_OMP("omp for schedule(static)")
		for (yy = 0; yy < H; yy++)
			if (pad)
				blur_row_h(src, first, n, yy, w, r, pad, nb, tmp);
		if (!pad) {
			GPU_OMP("omp atomic write")
			rc = -2;
		}
		GPU_OMP("omp barrier")
		if (rc != -2) {
			GPU_OMP("omp for schedule(static)")
			for (yy = 0; yy < H; yy += BLUR_BAND)
				blur_band_v(tmp, nb, H, yy, yy + BLUR_BAND < H ? yy + BLUR_BAND : H, w,
					    r, dst, (size_t)W * n);
		}
		free(pad);
	}
	if (rc == -2) {
		rc = err_set(e, ERR_NOMEM, "blur: out of memory for a row of %d", W);
		goto done;
	}
	rc = 0;
done:
	free(tmp);
	return rc;
}
