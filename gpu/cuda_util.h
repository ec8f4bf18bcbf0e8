/* cuda_util.h: what the .cu files share (CUDA C++ only): checked CUDA calls,
 * images in device memory, a growable device scratch buffer, the colour
 * tables on the device. */
#ifndef SKUGEN_GPU_CUDA_UTIL_H
#define SKUGEN_GPU_CUDA_UTIL_H

#include <cuda_runtime.h>

#include "image.h"

/* Run a CUDA call; on failure fill e ("what: <cuda's message>") and jump to
 * the function's `done` label.  Declare every variable before the first use
 * (C++ forbids jumping over initialisations). */
#define GPU_CUDA(call, e, what)                                                   \
	do {                                                                          \
		cudaError_t rc_ = (call);                                             \
		if (rc_ != cudaSuccess) {                                             \
			err_set((e), ERR_GENERATE, "%s: %s", (what),                  \
				cudaGetErrorString(rc_));                             \
			goto done;                                                    \
		}                                                                     \
	} while (0)

/* After a launch: the launch's own error, if any. */
#define GPU_LAUNCHED(e, what) GPU_CUDA(cudaGetLastError(), e, what)

/* Device images: data is a device pointer, the stride tight. */
int gpu_dev_image_alloc(struct gpu_image *d, int w, int h, int ch, struct err *e);
void gpu_dev_image_free(struct gpu_image *d);   /* NULL and empty are fine */
/* A device copy of host image h (new: gpu_dev_image_free). */
int gpu_dev_image_upload(const struct gpu_image *h, struct gpu_image *d, struct err *e);
int gpu_dev_image_download(const struct gpu_image *d, const struct gpu_image *h,
			   struct err *e);

/* Device memory grown on demand and kept for reuse. */
struct gpu_scratch {
	void *ptr;
	size_t size;
};
int gpu_scratch_reserve(struct gpu_scratch *s, size_t bytes, struct err *e);
void gpu_scratch_release(struct gpu_scratch *s);

/* The colour tables of colour.h on the current device, uploaded once
 * (borrowed, never freed). */
int gpu_dev_luts(const float **to_lin, const uint8_t **to_srgb, struct err *e);

#endif
