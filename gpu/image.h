/* image.h: the plain pixel buffers every gpu/ op reads and writes.
 *
 * An image is 8-bit samples, 1 to 4 interleaved channels (grey, -, RGB,
 * RGBA), rows `stride` bytes apart.  The ops never own the pixels: the caller
 * allocates them (gpu_image_alloc, or its own memory wrapped in the struct)
 * and frees them.  RGB(A) means sRGB-encoded colour; alpha is straight (not
 * premultiplied) and linear, 0 transparent .. 255 opaque.
 *
 * Plain C11, usable from C and CUDA C++.
 */
#ifndef SKUGEN_GPU_IMAGE_H
#define SKUGEN_GPU_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* common/err.h has no C++ guards of its own */
#ifdef __cplusplus
extern "C" {
#include "../common/err.h"
}
#else
#include "../common/err.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define GPU_IMAGE_MAX_SIDE 65535

struct gpu_image {
	uint8_t *data;    /* borrowed: row 0 first */
	int width, height;
	int channels;     /* 1..4 */
	size_t stride;    /* bytes between rows, >= width * channels */
};

/* Allocate a w x h image of ch channels with a tight stride (data is new:
 * release it with gpu_image_release).  Returns 0, or -1 with e filled. */
int gpu_image_alloc(struct gpu_image *img, int w, int h, int ch, struct err *e);

/* Free what gpu_image_alloc allocated and zero the struct; NULL is fine. */
void gpu_image_release(struct gpu_image *img);

/* Check that img is a usable image with min_ch..max_ch channels; `what`
 * names it in the message ("resample: source: 0x12 pixels"). */
int gpu_image_check(const struct gpu_image *img, const char *what, int min_ch,
		    int max_ch, struct err *e);

/* Pointer to pixel (x, y) of img. */
static inline uint8_t *gpu_image_px(const struct gpu_image *img, int x, int y)
{
	return img->data + (size_t)y * img->stride + (size_t)x * (size_t)img->channels;
}

#ifdef __cplusplus
}
#endif

#endif
