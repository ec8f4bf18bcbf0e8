/* blur_ref.c: the CPU reference of the separable Gaussian blur (see blur.h),
 * and the weights it shares with the kernels. */
#include "blur.h"

#include <math.h>
#include <stdlib.h>

#include "colour_math.h"
#include "par.h"

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

int gpu_blur_ref(const struct gpu_image *src, const struct gpu_image *dst,
		 float sigma, struct err *e)
{
	float w[GPU_BLUR_MAX_TAPS];
	float *tmp = NULL;
	int first, n, r, W, H, sch, rc = -1;

	if (gpu_blur_check(src, dst, sigma, &first, &n, e) < 0)
		return -1;
	r = gpu_blur_weights(sigma, w);
	W = src->width;
	H = src->height;
	sch = src->channels;
	tmp = malloc((size_t)W * H * n * sizeof *tmp);
	if (!tmp) {
		err_set(e, ERR_NOMEM, "blur: out of memory for %dx%d", W, H);
		goto done;
	}
	GPU_OMP("omp parallel")
	{
		float *pad = malloc((size_t)(W + 2 * r) * n * sizeof *pad);
		float *acc = malloc((size_t)W * n * sizeof *acc);
		int yy;

		{
			/* horizontal: each row padded with copies of its edge pixels */
			GPU_OMP("omp for schedule(static)")
			for (yy = 0; yy < H; yy++) {
				const uint8_t *row = src->data + (size_t)yy * src->stride + first;
				float *out = tmp + (size_t)yy * W * n;
				int x, k, c;

				if (!pad)
					continue;
				for (x = -r; x < W + r; x++) {
					int sx = x < 0 ? 0 : (x >= W ? W - 1 : x);

					for (c = 0; c < n; c++)
						pad[(size_t)(x + r) * n + c] = row[(size_t)sx * sch + c];
				}
				for (x = 0; x < W * n; x++)
					out[x] = 0.0f;
				for (k = 0; k <= 2 * r; k++) {
					const float *p = pad + (size_t)k * n;
					float wk = w[k];

					for (x = 0; x < W * n; x++)
						out[x] += wk * p[x];
				}
			}
			/* vertical: whole rows at a time */
			GPU_OMP("omp for schedule(static)")
			for (yy = 0; yy < H; yy++) {
				uint8_t *out = dst->data + (size_t)yy * dst->stride;
				int x, k;

				if (!acc)
					continue;
				for (x = 0; x < W * n; x++)
					acc[x] = 0.0f;
				for (k = -r; k <= r; k++) {
					int sy = yy + k < 0 ? 0 : (yy + k >= H ? H - 1 : yy + k);
					const float *p = tmp + (size_t)sy * W * n;
					float wk = w[k + r];

					for (x = 0; x < W * n; x++)
						acc[x] += wk * p[x];
				}
				for (x = 0; x < W * n; x++)
					out[x] = gpu_to_u8(acc[x]);
			}
		}
		if (!pad || !acc) {
			GPU_OMP("omp atomic write")
			rc = -2;
		}
		free(pad);
		free(acc);
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
