/* colour.h: colour statistics and transfer in CIE Lab (D65), and the sRGB,
 * linear-light and Lab conversions every op shares.
 *
 * Statistics: the alpha-weighted mean and standard deviation of L*, a*, b*
 * over an image's pixels.  Transfer: move an image's colours toward a
 * target's statistics (Reinhard et al. 2001, in Lab), bounded: the scale of
 * each channel's deviation is clamped to [min_scale, max_scale], the shift of
 * its mean to +-max_shift, and the whole blended in by `strength`.
 */
#ifndef SKUGEN_GPU_COLOUR_H
#define SKUGEN_GPU_COLOUR_H

#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gpu_colour_stats {
	double mean[3];    /* L*, a*, b* */
	double stddev[3];
	double weight;     /* sum of weights (alpha / 255): 0 means no pixels */
};

struct gpu_transfer_params {
	float strength;        /* 0 (no change) .. 1 (full transfer) */
	float max_shift_l;     /* largest move of the mean L*, e.g. 10 */
	float max_shift_ab;    /* largest move of the mean a* and b*, e.g. 8 */
	float min_scale, max_scale;  /* bounds of deviation ratios, e.g. 0.8, 1.25 */
};

/* Statistics of src (1, 3 or 4 channels; 1 is grey).  Each pixel is weighted
 * by mask (1 channel, same size) when mask is not NULL, else by src's alpha
 * when it has 4 channels, else 1.  Fills *out. */
int gpu_colour_stats_ref(const struct gpu_image *src, const struct gpu_image *mask,
			 struct gpu_colour_stats *out, struct err *e);

/* Per-channel affine map in Lab, v' = v * scale[c] + offset[c], that moves
 * `from` toward `to` within p's bounds: computed once on the host and shared
 * by the reference and the kernels.  Fails when from or to has no weight or
 * the parameters are out of range. */
int gpu_transfer_coeffs(const struct gpu_colour_stats *from,
			const struct gpu_colour_stats *to,
			const struct gpu_transfer_params *p, float scale[3],
			float offset[3], struct err *e);

/* Apply the transfer to src's colour into dst (same size, 3 or 4 channels,
 * equal counts; alpha is copied).  dst may be src. */
int gpu_colour_transfer_ref(const struct gpu_image *src, const struct gpu_image *dst,
			    const struct gpu_colour_stats *from,
			    const struct gpu_colour_stats *to,
			    const struct gpu_transfer_params *p, struct err *e);

/* The argument checks both implementations make. */
int gpu_colour_stats_check(const struct gpu_image *src, const struct gpu_image *mask,
			   struct err *e);
int gpu_colour_transfer_check(const struct gpu_image *src, const struct gpu_image *dst,
			      struct err *e);

/* The shared conversions (see colour_math.h for the inline versions). */
void gpu_srgb_to_lab(const uint8_t rgb[3], float lab[3]);
void gpu_lab_to_srgb(const float lab[3], uint8_t rgb[3]);
float gpu_srgb_to_linear(uint8_t v);      /* 0..1 */
uint8_t gpu_linear_to_srgb(float v);      /* v clamped to 0..1 */

/* A row of n pixels (ch = 1 grey, 3 or 4 channels) to Lab, into three
 * arrays of n floats: the same values as gpu_srgb_to_lab, in a form that
 * vectorises (the references' hot loops use it). */
void gpu_srgb_row_to_lab(const uint8_t *row, int n, int ch, float *l, float *a, float *b);

/* The lookup tables behind them, built once (thread-safe), never freed:
 * 256 floats (sRGB byte -> linear) and GPU_LIN_LUT_SIZE bytes (linear ->
 * sRGB byte, indexed by round(v * (GPU_LIN_LUT_SIZE - 1))). */
#define GPU_LIN_LUT_SIZE 16384
const float *gpu_lut_to_linear(void);
const uint8_t *gpu_lut_to_srgb(void);

#ifdef __cplusplus
}
#endif

#endif
