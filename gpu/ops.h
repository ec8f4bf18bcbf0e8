/* ops.h: every pixel op behind one table, so that a caller picks the device
 * once: gpu_ops_ref (the CPU references, always there) or gpu_ops_cuda()
 * (the kernels; NULL in a build without CUDA or with no device).
 *
 * Both tables take host buffers and have the same semantics (see each op's
 * header); results agree within the tolerances that tests/test_ops.c states.
 * The CUDA entries copy to the device, run, and copy back: fine for a few
 * images; a pipeline that keeps pixels on the device uses the launchers in
 * kernels.h.
 *
 *   const struct gpu_ops *ops = gpu_ops_cuda();
 *   if (!ops) ops = &gpu_ops_ref;
 *   if (ops->blur(&alpha, &shadow, 12.0f, &e) < 0) ...
 */
#ifndef SKUGEN_GPU_OPS_H
#define SKUGEN_GPU_OPS_H

#include "blur.h"
#include "colour.h"
#include "composite.h"
#include "matte.h"
#include "resample.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gpu_ops {
	const char *name;   /* "cpu" or "cuda" */
	int (*resample)(const struct gpu_image *src, const struct gpu_image *dst,
			enum gpu_resample_filter filter, struct err *e);
	int (*matte)(const struct gpu_image *src, const struct gpu_image *dst,
		     const struct gpu_matte_params *p, struct gpu_matte_stats *stats,
		     struct err *e);
	int (*blur)(const struct gpu_image *src, const struct gpu_image *dst,
		    float sigma, struct err *e);
	int (*colour_stats)(const struct gpu_image *src, const struct gpu_image *mask,
			    struct gpu_colour_stats *out, struct err *e);
	int (*colour_transfer)(const struct gpu_image *src, const struct gpu_image *dst,
			       const struct gpu_colour_stats *from,
			       const struct gpu_colour_stats *to,
			       const struct gpu_transfer_params *p, struct err *e);
	int (*composite)(const struct gpu_image *dst, const struct gpu_image *src,
			 int x, int y, float opacity, struct err *e);
	int (*shade)(const struct gpu_image *dst, const struct gpu_image *mask,
		     int x, int y, const uint8_t rgb[3], float opacity, struct err *e);
};

extern const struct gpu_ops gpu_ops_ref;

/* The CUDA table (borrowed, static), or NULL when no CUDA is compiled in or
 * gpu_device_count() is 0. */
const struct gpu_ops *gpu_ops_cuda(void);

#ifdef __cplusplus
}
#endif

#endif
