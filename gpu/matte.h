/* matte.h: an alpha matte for a studio shot on a near-uniform background.
 *
 * 1. The background colour is the per-channel median of a band of `border`
 *    pixels around the image's edge (robust to a product touching it).
 * 2. Each pixel's distance to it is the CIE76 delta E in Lab.
 * 3. Background is what a flood from the border pixels reaches through
 *    pixels closer than tol_hi (4-connected): a region of background colour
 *    enclosed by the product (a white logo, the hole of a mug's handle when
 *    closed) is not reached and stays opaque product.
 * 4. Reached pixels get alpha 0 below tol_lo and a linear ramp toward 255
 *    (at most 254) up to tol_hi (the anti-aliased edge); everything else is
 *    255.
 * 5. The edge is feathered by a Gaussian blur of sigma `feather` (0: none).
 *
 * The stats say whether the cut-out is plausible; the caller decides to fail
 * ("background not uniform": low border_uniform; "nothing left": coverage
 * near 0; "everything left": coverage near 1).
 */
#ifndef SKUGEN_GPU_MATTE_H
#define SKUGEN_GPU_MATTE_H

#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gpu_matte_params {
	float tol_lo;    /* delta E below which a reached pixel is background, e.g. 6 */
	float tol_hi;    /* delta E from which a pixel is product, e.g. 14 */
	int border;      /* width of the border band for the estimate, e.g. 4 */
	float feather;   /* sigma of the edge blur in pixels, 0 for none, e.g. 1 */
};

struct gpu_matte_stats {
	uint8_t bg_rgb[3];       /* the estimated background colour */
	float bg_lab[3];
	double border_uniform;   /* share of border-band pixels within tol_lo of it */
	double coverage;         /* share of pixels with alpha >= 128 */
};

/* Matte src (3 or 4 channels; a 4th is ignored) into dst (same size): a
 * 1-channel dst receives the alpha; a 4-channel dst receives src's RGB and
 * the alpha.  dst must not overlap src.  stats may be NULL. */
int gpu_matte_ref(const struct gpu_image *src, const struct gpu_image *dst,
		  const struct gpu_matte_params *p, struct gpu_matte_stats *stats,
		  struct err *e);

/* Shared by reference and kernels: the background estimate from n RGB
 * triples of the border band (fills bg_rgb, bg_lab and border_uniform). */
void gpu_matte_estimate_bg(const uint8_t *rgb, size_t n,
			   const struct gpu_matte_params *p,
			   struct gpu_matte_stats *stats);
int gpu_matte_check_params(const struct gpu_matte_params *p, struct err *e);
/* The argument checks of both implementations (params and images). */
int gpu_matte_check(const struct gpu_image *src, const struct gpu_image *dst,
		    const struct gpu_matte_params *p, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
