/* blur.cu: the separable Gaussian blur on the GPU (see blur.h): a horizontal
 * pass through shared memory into a float intermediate, a vertical pass out.
 * The weights travel by value as a kernel parameter (constant bank: every
 * thread of a warp reads the same tap at once). */
#include "kernels.h"
#include "colour_math.h"

#include <string.h>

#define BLUR_SEG 256

struct blur_weights {
	float w[GPU_BLUR_MAX_TAPS];
};

template <int N>
__global__ void blur_h(const uint8_t *__restrict__ src, size_t sstride, int sch, int first,
		       float *__restrict__ tmp, int W, int r, const blur_weights bw)
{
	extern __shared__ float seg[];
	int x0 = blockIdx.x * BLUR_SEG, y = blockIdx.y, i, k, c;
	int len = BLUR_SEG + 2 * r;
	const uint8_t *row = src + (size_t)y * sstride + first;
	float acc[N];

	for (i = threadIdx.x; i < len; i += blockDim.x) {
		int sx = x0 - r + i;

		sx = sx < 0 ? 0 : (sx >= W ? W - 1 : sx);
#pragma unroll
		for (c = 0; c < N; c++)
			seg[i * N + c] = row[(size_t)sx * sch + c];
	}
	__syncthreads();
	if (x0 + (int)threadIdx.x >= W)
		return;
#pragma unroll
	for (c = 0; c < N; c++)
		acc[c] = 0.0f;
	for (k = 0; k <= 2 * r; k++) {
		float w = bw.w[k];

#pragma unroll
		for (c = 0; c < N; c++)
			acc[c] += w * seg[(threadIdx.x + k) * N + c];
	}
	float *out = tmp + ((size_t)y * W + x0 + threadIdx.x) * N;
#pragma unroll
	for (c = 0; c < N; c++)
		out[c] = acc[c];
}

template <int N>
__global__ void blur_v(const float *__restrict__ tmp, uint8_t *__restrict__ dst,
		       size_t dstride, int W, int H, int r, const blur_weights bw)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;
	float acc[N];
	int k, c;

	if (x >= W || y >= H)
		return;
#pragma unroll
	for (c = 0; c < N; c++)
		acc[c] = 0.0f;
	for (k = -r; k <= r; k++) {
		int sy = y + k < 0 ? 0 : (y + k >= H ? H - 1 : y + k);
		const float *p = tmp + ((size_t)sy * W + x) * N;
		float w = bw.w[k + r];

#pragma unroll
		for (c = 0; c < N; c++)
			acc[c] += w * p[c];
	}
	uint8_t *out = dst + (size_t)y * dstride + (size_t)x * N;
#pragma unroll
	for (c = 0; c < N; c++)
		out[c] = gpu_to_u8(acc[c]);
}

template <int N>
static void launch(const struct gpu_image *src, const struct gpu_image *dst, int first,
		   float *tmp, int r, const blur_weights &bw, cudaStream_t s)
{
	int W = src->width, H = src->height;
	dim3 gh((W + BLUR_SEG - 1) / BLUR_SEG, H);
	size_t shared = (size_t)(BLUR_SEG + 2 * r) * N * sizeof(float);
	dim3 bv(32, 8), gv((W + 31) / 32, (H + 7) / 8);

	blur_h<N><<<gh, BLUR_SEG, shared, s>>>(src->data, src->stride, src->channels, first, tmp,
					      W, r, bw);
	blur_v<N><<<gv, bv, 0, s>>>(tmp, dst->data, dst->stride, W, H, r, bw);
}

int gpu_blur_launch(const struct gpu_image *src, const struct gpu_image *dst, float sigma,
		    struct gpu_scratch *tmp, cudaStream_t s, struct err *e)
{
	blur_weights bw;
	int first, n, r;

	if (gpu_blur_check(src, dst, sigma, &first, &n, e) < 0)
		return -1;
	memset(&bw, 0, sizeof bw);
	r = gpu_blur_weights(sigma, bw.w);
	if (gpu_scratch_reserve(tmp, (size_t)src->width * src->height * n * sizeof(float), e) < 0)
		return -1;
	switch (n) {
	case 1: launch<1>(src, dst, first, (float *)tmp->ptr, r, bw, s); break;
	case 2: launch<2>(src, dst, first, (float *)tmp->ptr, r, bw, s); break;
	case 3: launch<3>(src, dst, first, (float *)tmp->ptr, r, bw, s); break;
	default: launch<4>(src, dst, first, (float *)tmp->ptr, r, bw, s); break;
	}
	GPU_LAUNCHED(e, "blur: kernels");
	return 0;
done:
	return -1;
}

extern "C" int gpu_blur_cuda(const struct gpu_image *src, const struct gpu_image *dst,
			     float sigma, struct err *e)
{
	struct gpu_scratch tmp = { NULL, 0 };
	struct gpu_image ds = {}, dd = {};
	int first, n, rc = -1;

	if (gpu_blur_check(src, dst, sigma, &first, &n, e) < 0)
		return -1;
	if (gpu_dev_image_upload(src, &ds, e) < 0 ||
	    gpu_dev_image_alloc(&dd, dst->width, dst->height, dst->channels, e) < 0 ||
	    gpu_blur_launch(&ds, &dd, sigma, &tmp, 0, e) < 0 ||
	    gpu_dev_image_download(&dd, dst, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_scratch_release(&tmp);
	gpu_dev_image_free(&ds);
	gpu_dev_image_free(&dd);
	return rc;
}
