/* resample.cu: separable resampling on the GPU (see resample.h): a
 * horizontal pass into a float intermediate, a vertical pass out, with the
 * reference's own taps (gpu_taps_make) so both weigh exactly alike. */
#include "kernels.h"
#include "resample_math.h"

#include <string.h>

/* one output pixel of the horizontal pass per thread: src row y, column x */
template <int CH>
__global__ void resample_h(const uint8_t *__restrict__ src, size_t sstride,
			   float *__restrict__ tmp, int dw, int sh,
			   const int *__restrict__ idx, const float *__restrict__ wt, int ntaps)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;
	const uint8_t *row;
	float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
	int k, c;

	if (x >= dw || y >= sh)
		return;
	row = src + (size_t)y * sstride;
	idx += (size_t)x * ntaps;
	wt += (size_t)x * ntaps;
	for (k = 0; k < ntaps; k++)
		gpu_resample_add(acc, row + (size_t)__ldg(idx + k) * CH, __ldg(wt + k), CH);
	float *out = tmp + ((size_t)y * dw + x) * CH;
#pragma unroll
	for (c = 0; c < CH; c++)
		out[c] = acc[c];
}

template <int CH>
__global__ void resample_v(const float *__restrict__ tmp, uint8_t *__restrict__ dst,
			   size_t dstride, int dw, int dh, const int *__restrict__ idx,
			   const float *__restrict__ wt, int ntaps)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;
	float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
	int k, c;

	if (x >= dw || y >= dh)
		return;
	idx += (size_t)y * ntaps;
	wt += (size_t)y * ntaps;
	for (k = 0; k < ntaps; k++) {
		const float *p = tmp + ((size_t)__ldg(idx + k) * dw + x) * CH;
		float w = __ldg(wt + k);

#pragma unroll
		for (c = 0; c < CH; c++)
			acc[c] += w * p[c];
	}
	gpu_resample_store(dst + (size_t)y * dstride + (size_t)x * CH, acc, CH);
}

/* One 32-wide tile of outputs, `th` rows tall, per block (blockDim 32x8):
 * the horizontal pass for every source row the tile needs goes into shared
 * memory, the vertical pass reads it from there.  No intermediate in device
 * memory: the source is read once (plus the tiles' overlap), the output
 * written once. */
template <int CH>
__global__ void resample_fused(const uint8_t *__restrict__ src, size_t sstride,
			       uint8_t *__restrict__ dst, size_t dstride, int dw, int dh,
			       const int *__restrict__ idx_x, const float *__restrict__ w_x,
			       int ntx, const int *__restrict__ idx_y,
			       const float *__restrict__ w_y, int nty, int th)
{
	extern __shared__ float hrow[];   /* [rows][32][CH] */
	int x0 = blockIdx.x * 32, y0 = blockIdx.y * th;
	int y1 = y0 + th < dh ? y0 + th : dh;
	int sy0 = __ldg(idx_y + (size_t)y0 * nty);
	int rows = __ldg(idx_y + (size_t)(y1 - 1) * nty + nty - 1) - sy0 + 1;
	int tx = threadIdx.x, x = x0 + tx, r, k, c, y;

	if (x < dw) {
		const int *ix = idx_x + (size_t)x * ntx;
		const float *wx = w_x + (size_t)x * ntx;

		for (r = threadIdx.y; r < rows; r += blockDim.y) {
			const uint8_t *row = src + (size_t)(sy0 + r) * sstride;
			float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };

			for (k = 0; k < ntx; k++)
				gpu_resample_add(acc, row + (size_t)__ldg(ix + k) * CH, __ldg(wx + k), CH);
			if (CH == 4) {
				((float4 *)hrow)[r * 32 + tx] = make_float4(acc[0], acc[1], acc[2], acc[3]);
			} else {
#pragma unroll
				for (c = 0; c < CH; c++)
					hrow[(r * 32 + tx) * CH + c] = acc[c];
			}
		}
	}
	__syncthreads();
	if (x >= dw)
		return;
	for (y = y0 + threadIdx.y; y < y1; y += blockDim.y) {
		const int *iy = idx_y + (size_t)y * nty;
		const float *wy = w_y + (size_t)y * nty;
		float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
		uint8_t *out = dst + (size_t)y * dstride + (size_t)x * CH;

		for (k = 0; k < nty; k++) {
			int rr = __ldg(iy + k) - sy0;
			float w = __ldg(wy + k);

			if (CH == 4) {
				float4 v = ((const float4 *)hrow)[rr * 32 + tx];

				acc[0] += w * v.x;
				acc[1] += w * v.y;
				acc[2] += w * v.z;
				acc[3] += w * v.w;
			} else {
#pragma unroll
				for (c = 0; c < CH; c++)
					acc[c] += w * hrow[(rr * 32 + tx) * CH + c];
			}
		}
		gpu_resample_store(out, acc, CH);
	}
}

/* The tallest tile (32, 16, ... 1 output rows) whose source rows fit the
 * shared memory of one block; 0 when none does (a very large downscale:
 * then the two-pass kernels run). */
#define FUSED_SHARED_MAX (48 * 1024)
static int fused_tile_rows(const struct gpu_taps *ty, int dh, int ch, int *max_rows)
{
	int th, y0;

	for (th = 32; th >= 1; th /= 2) {
		int most = 0;

		for (y0 = 0; y0 < dh; y0 += th) {
			int y1 = y0 + th < dh ? y0 + th : dh;
			int rows = ty->idx[(size_t)(y1 - 1) * ty->ntaps + ty->ntaps - 1] -
				   ty->idx[(size_t)y0 * ty->ntaps] + 1;

			most = rows > most ? rows : most;
		}
		if ((size_t)most * 32 * ch * sizeof(float) <= FUSED_SHARED_MAX) {
			*max_rows = most;
			return th;
		}
	}
	*max_rows = 0;
	return 0;
}

void gpu_resample_plan_release(struct gpu_resample_plan *p)
{
	if (!p)
		return;
	cudaFree(p->idx_x);
	cudaFree(p->idx_y);
	cudaFree(p->w_x);
	cudaFree(p->w_y);
	cudaFree(p->tmp);
	memset(p, 0, sizeof *p);
}

int gpu_resample_plan_make(struct gpu_resample_plan *p, int src_w, int src_h, int dst_w,
			   int dst_h, int ch, enum gpu_resample_filter filter, struct err *e)
{
	struct gpu_taps tx = { 0, NULL, NULL }, ty = { 0, NULL, NULL };
	size_t nx, ny;
	int rc = -1;

	memset(p, 0, sizeof *p);
	if (gpu_taps_make(&tx, src_w, dst_w, filter, e) < 0 ||
	    gpu_taps_make(&ty, src_h, dst_h, filter, e) < 0)
		goto done;
	nx = (size_t)dst_w * tx.ntaps;
	ny = (size_t)dst_h * ty.ntaps;
	GPU_CUDA(cudaMalloc((void **)&p->idx_x, nx * sizeof(int)), e, "resample: taps");
	GPU_CUDA(cudaMalloc((void **)&p->w_x, nx * sizeof(float)), e, "resample: taps");
	GPU_CUDA(cudaMalloc((void **)&p->idx_y, ny * sizeof(int)), e, "resample: taps");
	GPU_CUDA(cudaMalloc((void **)&p->w_y, ny * sizeof(float)), e, "resample: taps");
	GPU_CUDA(cudaMemcpy(p->idx_x, tx.idx, nx * sizeof(int), cudaMemcpyHostToDevice), e,
		 "resample: taps");
	GPU_CUDA(cudaMemcpy(p->w_x, tx.w, nx * sizeof(float), cudaMemcpyHostToDevice), e,
		 "resample: taps");
	GPU_CUDA(cudaMemcpy(p->idx_y, ty.idx, ny * sizeof(int), cudaMemcpyHostToDevice), e,
		 "resample: taps");
	GPU_CUDA(cudaMemcpy(p->w_y, ty.w, ny * sizeof(float), cudaMemcpyHostToDevice), e,
		 "resample: taps");
	p->src_w = src_w;
	p->src_h = src_h;
	p->dst_w = dst_w;
	p->dst_h = dst_h;
	p->ch = ch;
	p->ntx = tx.ntaps;
	p->nty = ty.ntaps;
	p->tile_rows = fused_tile_rows(&ty, dst_h, ch, &p->max_rows);
	if (!p->tile_rows)
		GPU_CUDA(cudaMalloc((void **)&p->tmp, (size_t)src_h * dst_w * ch * sizeof(float)), e,
			 "resample: intermediate");
	rc = 0;
done:
	if (rc < 0)
		gpu_resample_plan_release(p);
	gpu_taps_release(&tx);
	gpu_taps_release(&ty);
	return rc;
}

template <int CH>
static void launch(const struct gpu_resample_plan *p, const struct gpu_image *src,
		   const struct gpu_image *dst, cudaStream_t s)
{
	dim3 b(32, 8);
	dim3 gh((p->dst_w + 31) / 32, (p->src_h + 7) / 8);
	dim3 gv((p->dst_w + 31) / 32, (p->dst_h + 7) / 8);

	if (p->tile_rows) {
		dim3 gf((p->dst_w + 31) / 32, (p->dst_h + p->tile_rows - 1) / p->tile_rows);
		size_t shared = (size_t)p->max_rows * 32 * CH * sizeof(float);

		resample_fused<CH><<<gf, b, shared, s>>>(src->data, src->stride, dst->data,
							 dst->stride, p->dst_w, p->dst_h,
							 p->idx_x, p->w_x, p->ntx, p->idx_y,
							 p->w_y, p->nty, p->tile_rows);
		return;
	}
	resample_h<CH><<<gh, b, 0, s>>>(src->data, src->stride, p->tmp, p->dst_w, p->src_h,
					p->idx_x, p->w_x, p->ntx);
	resample_v<CH><<<gv, b, 0, s>>>(p->tmp, dst->data, dst->stride, p->dst_w, p->dst_h,
					p->idx_y, p->w_y, p->nty);
}

int gpu_resample_launch(const struct gpu_resample_plan *p, const struct gpu_image *src,
			const struct gpu_image *dst, cudaStream_t s, struct err *e)
{
	if (gpu_image_check(src, "resample: source", 1, 4, e) < 0 ||
	    gpu_image_check(dst, "resample: destination", 1, 4, e) < 0)
		return -1;
	if (src->width != p->src_w || src->height != p->src_h || dst->width != p->dst_w ||
	    dst->height != p->dst_h || src->channels != p->ch || dst->channels != p->ch)
		return err_set(e, ERR_INTERNAL, "resample: images do not match the plan");
	switch (p->ch) {
	case 1: launch<1>(p, src, dst, s); break;
	case 2: launch<2>(p, src, dst, s); break;
	case 3: launch<3>(p, src, dst, s); break;
	default: launch<4>(p, src, dst, s); break;
	}
	GPU_LAUNCHED(e, "resample: kernels");
	return 0;
done:
	return -1;
}

extern "C" int gpu_resample_cuda(const struct gpu_image *src, const struct gpu_image *dst,
				 enum gpu_resample_filter filter, struct err *e)
{
	struct gpu_resample_plan plan;
	struct gpu_image ds = {}, dd = {};
	int rc = -1;

	memset(&plan, 0, sizeof plan);
	if (gpu_resample_check(src, dst, e) < 0)
		return -1;
	if (gpu_resample_plan_make(&plan, src->width, src->height, dst->width, dst->height,
				   src->channels, filter, e) < 0 ||
	    gpu_dev_image_upload(src, &ds, e) < 0 ||
	    gpu_dev_image_alloc(&dd, dst->width, dst->height, dst->channels, e) < 0 ||
	    gpu_resample_launch(&plan, &ds, &dd, 0, e) < 0 ||
	    gpu_dev_image_download(&dd, dst, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_resample_plan_release(&plan);
	gpu_dev_image_free(&ds);
	gpu_dev_image_free(&dd);
	return rc;
}
