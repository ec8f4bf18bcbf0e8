/* resample.h: separable image resampling with a proper filter.
 *
 * Each output pixel is a weighted sum of source pixels under a Lanczos3 (or
 * Mitchell-Netravali B=C=1/3) kernel centred on it; when downscaling, the
 * kernel is widened by the scale factor so every source pixel contributes
 * (no aliasing).  Samples beyond the edge repeat the edge pixel; weights are
 * normalised to sum to 1.  With 4 channels the colour is weighted by alpha
 * (premultiplied), so transparent pixels never bleed their colour into the
 * product's edge.  Results are rounded and clamped to 0..255.
 */
#ifndef SKUGEN_GPU_RESAMPLE_H
#define SKUGEN_GPU_RESAMPLE_H

#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

enum gpu_resample_filter {
	GPU_RESAMPLE_LANCZOS3 = 0,
	GPU_RESAMPLE_MITCHELL = 1,
};

/* Resample src into dst: dst's data, width and height say the output size;
 * channels must match (1..4).  src and dst must not overlap. */
int gpu_resample_ref(const struct gpu_image *src, const struct gpu_image *dst,
		     enum gpu_resample_filter filter, struct err *e);

/* The argument checks both implementations make. */
int gpu_resample_check(const struct gpu_image *src, const struct gpu_image *dst,
		       struct err *e);

/* The filter taps of one axis, shared by the reference and the kernels so both
 * weigh exactly alike.  For output i, taps idx[i*ntaps .. +ntaps) (source
 * indices, already clamped to 0..in-1) with weights w[...] summing to 1. */
struct gpu_taps {
	int ntaps;
	int *idx;   /* new: out * ntaps entries */
	float *w;   /* new: out * ntaps entries */
};
int gpu_taps_make(struct gpu_taps *t, int in, int out, enum gpu_resample_filter filter,
		  struct err *e);
void gpu_taps_release(struct gpu_taps *t);   /* NULL is fine */

#ifdef __cplusplus
}
#endif

#endif
