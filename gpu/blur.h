/* blur.h: separable Gaussian blur (soft shadows from alpha, matte feathering).
 *
 * The kernel is exp(-x^2 / (2 sigma^2)) over |x| <= ceil(3 sigma), normalised;
 * samples beyond the edge repeat the edge.  Intermediate sums are float;
 * results are rounded to 0..255.
 */
#ifndef SKUGEN_GPU_BLUR_H
#define SKUGEN_GPU_BLUR_H

#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GPU_BLUR_MAX_SIGMA 100.0f

/* Blur src into dst (same size).  Either the channel counts match and every
 * channel is blurred, or dst has 1 channel and src more: then src's last
 * channel (alpha) is blurred into dst.  dst may be src when the channel
 * counts match.  sigma in pixels, 0 < sigma <= GPU_BLUR_MAX_SIGMA. */
int gpu_blur_ref(const struct gpu_image *src, const struct gpu_image *dst,
		 float sigma, struct err *e);

/* The normalised weights for sigma: radius r = ceil(3 sigma), 2r+1 weights
 * into w (room for 2 * 3 * GPU_BLUR_MAX_SIGMA + 3 floats).  Returns r. */
int gpu_blur_weights(float sigma, float *w);
#define GPU_BLUR_MAX_TAPS (2 * 300 + 3)

/* The argument checks of both implementations: on success *first is the
 * first source channel blurred and *n how many. */
int gpu_blur_check(const struct gpu_image *src, const struct gpu_image *dst, float sigma,
		   int *first, int *n, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
