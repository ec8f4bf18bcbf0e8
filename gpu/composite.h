/* composite.h: Porter-Duff "over" with premultiplied alpha in linear light.
 *
 * Colours are decoded from sRGB to linear light, premultiplied by alpha,
 * combined (out = src + dst * (1 - src_alpha)), un-premultiplied and encoded
 * back to sRGB: edges and shadows blend as light does, without the dark
 * fringes of compositing sRGB values directly.
 */
#ifndef SKUGEN_GPU_COMPOSITE_H
#define SKUGEN_GPU_COMPOSITE_H

#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Place src (4 channels, straight alpha) over dst (3 or 4 channels, changed
 * in place) with its top-left corner at (x, y) in dst, its alpha scaled by
 * opacity (0..1).  Parts outside dst are clipped. */
int gpu_composite_ref(const struct gpu_image *dst, const struct gpu_image *src,
		      int x, int y, float opacity, struct err *e);

/* Lay a flat colour over dst through mask (1 channel, or the last channel of
 * a 2..4 channel image) at (x, y), its coverage scaled by opacity: a shadow
 * is a blurred alpha shaded black at 0.4 or so. */
int gpu_shade_ref(const struct gpu_image *dst, const struct gpu_image *mask,
		  int x, int y, const uint8_t rgb[3], float opacity, struct err *e);

/* Shared by the reference and the kernels: check dst and a layer (named
 * `what`, lmin..lmax channels) placed at (x, y) at opacity, and find their
 * overlap r = {x0, y0, x1, y1} in dst.  Returns 1 when they overlap, 0 when
 * there is nothing to do, -1 with e filled. */
int gpu_layer_prepare(const struct gpu_image *dst, const struct gpu_image *layer,
		      const char *op, const char *what, int lmin, int lmax, int x, int y,
		      float opacity, int r[4], struct err *e);

#ifdef __cplusplus
}
#endif

#endif
