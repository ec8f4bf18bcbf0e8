/* crossfade.h: blend two 8-bit images, dst = a * (1 - t) + b * t.
 *
 * Product videos dissolve from one still to the next and into the end card
 * (media/video_frames.c).  One C API, two implementations (gpu/README.md):
 * gpu_crossfade_ref() (crossfade_ref.c, the CPU reference) and, on a device,
 * gpu_crossfade_launch() (crossfade.cu, device buffers and a stream) and
 * gpu_crossfade_cuda() (host buffers, the reference's signature).
 *
 * t is quantised to w = gpu_crossfade_weight(t) = round(t * 256), 0..256,
 * and every byte is
 *     dst = (a * (256 - w) + b * w + 128) >> 8
 * in integers, so the implementations agree exactly; t = 0 gives a and t = 1
 * gives b, bit for bit.  The images share width, height and channels; their
 * strides may differ.  dst may be a or b (in place).
 */
#ifndef SKUGEN_GPU_CROSSFADE_H
#define SKUGEN_GPU_CROSSFADE_H

#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The weight for t (clamped to [0, 1]) out of 256. */
int gpu_crossfade_weight(double t);

/* CPU reference.  Returns 0, or -1 with e filled for bad arguments (no
 * pixels, unequal sizes or channels, strides too small). */
int gpu_crossfade_ref(const struct gpu_image *a, const struct gpu_image *b,
		      const struct gpu_image *dst, double t, struct err *e);

/* The same on host buffers through the device; fails with the reason when
 * there is no CUDA device or none compiled in. */
int gpu_crossfade_cuda(const struct gpu_image *a, const struct gpu_image *b,
		       const struct gpu_image *dst, double t, struct err *e);

/* Device images (see warp.h's device-resident use), queued on stream. */
int gpu_crossfade_launch(const struct gpu_image *a, const struct gpu_image *b,
			 const struct gpu_image *dst, double t, void *stream, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
