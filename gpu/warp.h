/* warp.h: sub-pixel affine warp of an 8-bit image, bilinear or bicubic.
 *
 * The frame synthesiser for product videos (media/video_frames.c) pans and
 * zooms over a still by warping it into every frame.  One C API, two
 * implementations (gpu/README.md): gpu_warp_ref() (warp_ref.c, the CPU
 * reference) and, on a device, gpu_warp_launch() (warp.cu, device buffers
 * and a stream) and gpu_warp_cuda() (host buffers, the same signature as the
 * reference).
 *
 * Geometry.  A pixel (i, j) covers [i, i+1) x [j, j+1); its centre is
 * (i + 0.5, j + 0.5).  The map m is the inverse transform: the centre of
 * destination pixel (x, y) takes the value of the source at
 *     sx = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2]
 *     sy = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5]
 * in the same continuous coordinates.  Samples outside the source repeat its
 * edge pixels (clamp to edge).
 *
 * Sampling.  Bilinear: weights quantised to 1/256 pixel, integer arithmetic,
 * rounded (gpu_warp_bilinear_tap in warp_math.h, shared by both sides), so
 * CPU and GPU agree exactly when they compute the same source position, and
 * within 1 level when float rounding of the position tips a weight.
 * Bicubic: Keys' cubic with a = -0.5 (Catmull-Rom), 4x4 taps in float,
 * rounded and clamped to 0..255; CPU and GPU agree within 1 level.  Both are
 * interpolating filters, right for magnification and mild minification (a
 * scale of 0.75 or more): callers resample a larger still down with a proper
 * filter first (resample.h, or libvips).
 *
 * Images are struct gpu_image (image.h): 1 to 4 interleaved channels.
 */
#ifndef SKUGEN_GPU_WARP_H
#define SKUGEN_GPU_WARP_H

#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

enum gpu_warp_filter {
	GPU_WARP_BILINEAR = 0,
	GPU_WARP_BICUBIC = 1,
};

/* The filter named "bilinear" or "bicubic"; -1 for anything else. */
int gpu_warp_filter_parse(const char *name);
const char *gpu_warp_filter_name(enum gpu_warp_filter f);

/* The map that shows the source window whose top-left corner is (x0, y0) and
 * whose size is w x h (source pixels, fractions allowed) in the whole of a
 * dst_w x dst_h destination.  m receives 6 doubles. */
void gpu_warp_window(double m[6], double x0, double y0, double w, double h,
		     int dst_w, int dst_h);

/* CPU reference: dst = src warped by m.  src and dst must not overlap and
 * must have the same channel count.  Returns 0, or -1 with e filled for bad
 * arguments ("warp: source: 0x12 pixels", a map that is not finite).  An
 * axis-aligned map (m[1] == m[3] == 0: pan and zoom) takes a separable fast
 * path with the same results. */
int gpu_warp_ref(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
		 enum gpu_warp_filter filter, struct err *e);

/* The same on host buffers through the device: upload, launch, download.
 * Fails with the reason when there is no CUDA device or none compiled in. */
int gpu_warp_cuda(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
		  enum gpu_warp_filter filter, struct err *e);

/* Device-resident use (a frame synthesiser that keeps stills and frames on
 * the GPU).  Images whose data is a device pointer; stream is a
 * cudaStream_t (NULL: the default stream); launches are queued, not waited
 * for.  In a build without CUDA (warp_none.c) every one of these fails with
 * "no CUDA compiled in". */
int gpu_warp_launch(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
		    enum gpu_warp_filter filter, void *stream, struct err *e);
/* A w x h device image of ch channels, tight stride (release with
 * gpu_warp_dev_free, which accepts an empty struct). */
int gpu_warp_dev_alloc(struct gpu_image *d, int w, int h, int ch, struct err *e);
void gpu_warp_dev_free(struct gpu_image *d);
/* Host to device (synchronous) and device to host (queued on stream; the
 * host image should be pinned memory, gpu_pinned_alloc, to overlap). */
int gpu_warp_dev_upload(const struct gpu_image *host, const struct gpu_image *dev,
			struct err *e);
int gpu_warp_dev_download(const struct gpu_image *dev, const struct gpu_image *host,
			  void *stream, struct err *e);
/* Streams: new (NULL-safe free), and waiting for everything queued. */
int gpu_warp_stream_new(void **stream, struct err *e);
void gpu_warp_stream_free(void *stream);
int gpu_warp_stream_sync(void *stream, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
