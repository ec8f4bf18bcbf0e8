/* device.h: the device layer: is there a CUDA device, which op table to use,
 * pinned host memory.
 *
 * A build with CUDA compiled in (device_cuda.cu) asks the driver; a build
 * without it (device_none.c) truthfully answers "no CUDA compiled in":
 * gpu_device_count() is 0 and gpu_ops_cuda() is NULL, so callers take the CPU
 * references (gpu_ops_ref) and `--device gpu` fails with that reason.
 */
#ifndef SKUGEN_GPU_DEVICE_H
#define SKUGEN_GPU_DEVICE_H

#include <stddef.h>

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

/* Number of usable CUDA devices: 0 when none, when the driver is missing or
 * when no CUDA is compiled in.  Never fails. */
int gpu_device_count(void);

/* A line describing device 0 ("NVIDIA H200, cc 9.0, 132 SMs, 139.8 GiB")
 * or why there is none ("no CUDA compiled in", "no CUDA device: ..."), in
 * buf (always NUL-terminated).  Returns buf. */
char *gpu_device_describe(char *buf, size_t size);

/* Fails with a message saying why when there is no usable device. */
int gpu_device_require(struct err *e);

/* Page-locked host memory for fast transfers (new: free with
 * gpu_pinned_free); plain malloc in a build without CUDA or on a machine
 * with no device.  NULL on failure, with e filled. */
void *gpu_pinned_alloc(size_t size, struct err *e);
void gpu_pinned_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
