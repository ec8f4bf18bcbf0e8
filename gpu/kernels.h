/* kernels.h: the CUDA side of the ops (CUDA C++ only).
 *
 * gpu_OP_cuda: the reference's exact signature over host buffers (upload,
 * launch, download, synchronous); these fill the table gpu_ops_cuda().
 * gpu_OP_launch: device buffers (struct gpu_image whose data is a device
 * pointer), queued on a stream; for pipelines that keep pixels on the device
 * (bench/bench_gpu.cu).  Scratch memory and plans belong to the caller and
 * may be reused across calls on one stream.  Launchers that must return
 * numbers to the host (matte, colour stats) synchronise their stream.
 */
#ifndef SKUGEN_GPU_KERNELS_H
#define SKUGEN_GPU_KERNELS_H

#include <cuda_runtime.h>

#include "ops.h"
#include "cuda_util.h"

extern "C" {
int gpu_resample_cuda(const struct gpu_image *src, const struct gpu_image *dst,
		      enum gpu_resample_filter filter, struct err *e);
int gpu_matte_cuda(const struct gpu_image *src, const struct gpu_image *dst,
		   const struct gpu_matte_params *p, struct gpu_matte_stats *stats,
		   struct err *e);
int gpu_blur_cuda(const struct gpu_image *src, const struct gpu_image *dst, float sigma,
		  struct err *e);
int gpu_colour_stats_cuda(const struct gpu_image *src, const struct gpu_image *mask,
			  struct gpu_colour_stats *out, struct err *e);
int gpu_colour_transfer_cuda(const struct gpu_image *src, const struct gpu_image *dst,
			     const struct gpu_colour_stats *from,
			     const struct gpu_colour_stats *to,
			     const struct gpu_transfer_params *p, struct err *e);
int gpu_composite_cuda(const struct gpu_image *dst, const struct gpu_image *src, int x,
		       int y, float opacity, struct err *e);
int gpu_shade_cuda(const struct gpu_image *dst, const struct gpu_image *mask, int x, int y,
		   const uint8_t rgb[3], float opacity, struct err *e);
}

/* Resampling: the taps of both axes on the device.  One fused kernel per
 * tile of 32 x tile_rows outputs when its source rows fit shared memory;
 * else (downscales beyond ~16x) two passes through tmp. */
struct gpu_resample_plan {
	int src_w, src_h, dst_w, dst_h, ch;
	int ntx, nty;
	int tile_rows;        /* 0: two passes */
	int max_rows;         /* source rows of the tallest tile */
	int *idx_x, *idx_y;   /* device */
	float *w_x, *w_y;     /* device */
	float *tmp;           /* device, src_h x dst_w x ch floats; two passes only */
};
int gpu_resample_plan_make(struct gpu_resample_plan *p, int src_w, int src_h, int dst_w,
			   int dst_h, int ch, enum gpu_resample_filter filter, struct err *e);
void gpu_resample_plan_release(struct gpu_resample_plan *p);   /* NULL is fine */
int gpu_resample_launch(const struct gpu_resample_plan *p, const struct gpu_image *src,
			const struct gpu_image *dst, cudaStream_t s, struct err *e);

/* Blur: tmp holds w x h x n floats. */
int gpu_blur_launch(const struct gpu_image *src, const struct gpu_image *dst, float sigma,
		    struct gpu_scratch *tmp, cudaStream_t s, struct err *e);

/* Matte: synchronises s (the border goes to the host for the median, the
 * flood checks a flag, the coverage comes back). */
struct gpu_matte_work {
	struct gpu_scratch state;   /* reached map, flag, counter */
	struct gpu_scratch alpha;   /* the alpha plane when dst has 4 channels */
	struct gpu_scratch blur;    /* the feather's intermediate */
	int iterations;             /* flood launches in the last call */
};
void gpu_matte_work_release(struct gpu_matte_work *w);   /* NULL is fine */
int gpu_matte_launch(const struct gpu_image *src, const struct gpu_image *dst,
		     const struct gpu_matte_params *p, struct gpu_matte_stats *stats,
		     struct gpu_matte_work *w, cudaStream_t s, struct err *e);

/* Colour statistics: synchronises s.  sums: 7 doubles of device scratch. */
int gpu_colour_stats_launch(const struct gpu_image *src, const struct gpu_image *mask,
			    struct gpu_colour_stats *out, struct gpu_scratch *sums,
			    cudaStream_t s, struct err *e);
/* Transfer with coefficients from gpu_transfer_coeffs. */
int gpu_colour_transfer_launch(const struct gpu_image *src, const struct gpu_image *dst,
			       const float scale[3], const float offset[3], cudaStream_t s,
			       struct err *e);

int gpu_composite_launch(const struct gpu_image *dst, const struct gpu_image *src, int x,
			 int y, float opacity, cudaStream_t s, struct err *e);
int gpu_shade_launch(const struct gpu_image *dst, const struct gpu_image *mask, int x,
		     int y, const uint8_t rgb[3], float opacity, cudaStream_t s,
		     struct err *e);

#endif
