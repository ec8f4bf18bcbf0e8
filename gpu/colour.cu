/* colour.cu: colour statistics (a reduction) and transfer in Lab on the GPU
 * (see colour.h), with the reference's conversions (colour_math.h) and its
 * lookup tables. */
#include "kernels.h"
#include "colour_math.h"

#include <math.h>
#include <string.h>

#define STATS_THREADS 256
#define NSUMS 7   /* weight, sum L a b, sum L^2 a^2 b^2 */

__device__ static double warp_sum(double v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_down_sync(0xffffffffu, v, o);
	return v;
}

/* Each thread accumulates a grid-stride share of the pixels in float (a few
 * dozen at most per thread at the sizes used), the block in double, then
 * one atomic add per block and sum. */
__global__ void colour_stats_k(const uint8_t *__restrict__ src, size_t sstride, int ch,
			       const uint8_t *__restrict__ mask, size_t mstride, int W, int H,
			       const float *__restrict__ lin, double *__restrict__ sums)
{
	__shared__ double part[NSUMS][STATS_THREADS / 32];
	float acc[NSUMS] = { 0, 0, 0, 0, 0, 0, 0 };
	size_t n = (size_t)W * H, i;
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, k;

	for (i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x) {
		int x = (int)(i % W), y = (int)(i / W);
		const uint8_t *px = src + (size_t)y * sstride + (size_t)x * ch;
		float lab[3], w;

		w = mask ? mask[(size_t)y * mstride + x] / 255.0f
			 : (ch == 4 ? px[3] / 255.0f : 1.0f);
		if (w <= 0.0f)
			continue;
		if (ch == 1)
			gpu_linear_to_lab(lin[px[0]], lin[px[0]], lin[px[0]], lab);
		else
			gpu_linear_to_lab(lin[px[0]], lin[px[1]], lin[px[2]], lab);
		acc[0] += w;
		acc[1] += w * lab[0];
		acc[2] += w * lab[1];
		acc[3] += w * lab[2];
		acc[4] += w * lab[0] * lab[0];
		acc[5] += w * lab[1] * lab[1];
		acc[6] += w * lab[2] * lab[2];
	}
	for (k = 0; k < NSUMS; k++) {
		double v = warp_sum((double)acc[k]);

		if (lane == 0)
			part[k][warp] = v;
	}
	__syncthreads();
	if (threadIdx.x < NSUMS) {
		double v = 0.0;

		for (k = 0; k < STATS_THREADS / 32; k++)
			v += part[threadIdx.x][k];
		atomicAdd(&sums[threadIdx.x], v);
	}
}

int gpu_colour_stats_launch(const struct gpu_image *src, const struct gpu_image *mask,
			    struct gpu_colour_stats *out, struct gpu_scratch *sums,
			    cudaStream_t s, struct err *e)
{
	const float *lin;
	const uint8_t *srgb;
	double h[NSUMS];
	int dev = 0, sms = 0, blocks, c;
	size_t n;

	memset(out, 0, sizeof *out);
	if (gpu_colour_stats_check(src, mask, e) < 0)
		return -1;
	if (gpu_dev_luts(&lin, &srgb, e) < 0 ||
	    gpu_scratch_reserve(sums, NSUMS * sizeof(double), e) < 0)
		return -1;
	GPU_CUDA(cudaGetDevice(&dev), e, "colour stats");
	GPU_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), e,
		 "colour stats");
	n = (size_t)src->width * src->height;
	/* about 32 pixels per thread, at most 8 blocks per SM */
	blocks = (int)((n + STATS_THREADS * 32 - 1) / (STATS_THREADS * 32));
	if (blocks > sms * 8)
		blocks = sms * 8;
	if (blocks < 1)
		blocks = 1;
	GPU_CUDA(cudaMemsetAsync(sums->ptr, 0, NSUMS * sizeof(double), s), e, "colour stats");
	colour_stats_k<<<blocks, STATS_THREADS, 0, s>>>(
		src->data, src->stride, src->channels, mask ? mask->data : NULL,
		mask ? mask->stride : 0, src->width, src->height, lin, (double *)sums->ptr);
	GPU_LAUNCHED(e, "colour stats: kernel");
	GPU_CUDA(cudaMemcpyAsync(h, sums->ptr, sizeof h, cudaMemcpyDeviceToHost, s), e,
		 "colour stats: download");
	GPU_CUDA(cudaStreamSynchronize(s), e, "colour stats");
	out->weight = h[0];
	if (h[0] > 0) {
		for (c = 0; c < 3; c++) {
			double m = h[1 + c] / h[0], v = h[4 + c] / h[0] - m * m;

			out->mean[c] = m;
			out->stddev[c] = v > 0 ? sqrt(v) : 0.0;
		}
	}
	return 0;
done:
	return -1;
}

struct transfer_k_args {
	float k[3], o[3];
};

__global__ void colour_transfer_k(const uint8_t *__restrict__ src, size_t sstride,
				  uint8_t *dst, size_t dstride, int ch, int W, int H,
				  const float *__restrict__ lin, const uint8_t *__restrict__ enc,
				  const transfer_k_args a)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;
	float lab[3], rgb[3];
	int c;

	if (x >= W || y >= H)
		return;
	const uint8_t *px = src + (size_t)y * sstride + (size_t)x * ch;
	uint8_t *q = dst + (size_t)y * dstride + (size_t)x * ch;
	uint8_t alpha = ch == 4 ? px[3] : 0;

	gpu_linear_to_lab(lin[px[0]], lin[px[1]], lin[px[2]], lab);
	for (c = 0; c < 3; c++)
		lab[c] = lab[c] * a.k[c] + a.o[c];
	gpu_lab_to_linear(lab, rgb);
	for (c = 0; c < 3; c++)
		q[c] = gpu_lin_encode(enc, rgb[c]);
	if (ch == 4)
		q[3] = alpha;
}

int gpu_colour_transfer_launch(const struct gpu_image *src, const struct gpu_image *dst,
			       const float scale[3], const float offset[3], cudaStream_t s,
			       struct err *e)
{
	const float *lin;
	const uint8_t *enc;
	transfer_k_args a;
	dim3 b(32, 8), g((src->width + 31) / 32, (src->height + 7) / 8);

	if (gpu_colour_transfer_check(src, dst, e) < 0)
		return -1;
	if (gpu_dev_luts(&lin, &enc, e) < 0)
		return -1;
	memcpy(a.k, scale, sizeof a.k);
	memcpy(a.o, offset, sizeof a.o);
	colour_transfer_k<<<g, b, 0, s>>>(src->data, src->stride, dst->data, dst->stride,
					  src->channels, src->width, src->height, lin, enc, a);
	GPU_LAUNCHED(e, "colour transfer: kernel");
	return 0;
done:
	return -1;
}

extern "C" int gpu_colour_stats_cuda(const struct gpu_image *src, const struct gpu_image *mask,
				     struct gpu_colour_stats *out, struct err *e)
{
	struct gpu_scratch sums = { NULL, 0 };
	struct gpu_image ds = {}, dm = {};
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (gpu_image_check(src, "colour stats: image", 1, 4, e) < 0 ||
	    (mask && gpu_image_check(mask, "colour stats: mask", 1, 1, e) < 0))
		return -1;
	if (gpu_dev_image_upload(src, &ds, e) < 0 ||
	    (mask && gpu_dev_image_upload(mask, &dm, e) < 0) ||
	    gpu_colour_stats_launch(&ds, mask ? &dm : NULL, out, &sums, 0, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_scratch_release(&sums);
	gpu_dev_image_free(&ds);
	gpu_dev_image_free(&dm);
	return rc;
}

extern "C" int gpu_colour_transfer_cuda(const struct gpu_image *src, const struct gpu_image *dst,
					const struct gpu_colour_stats *from,
					const struct gpu_colour_stats *to,
					const struct gpu_transfer_params *p, struct err *e)
{
	struct gpu_image ds = {}, dd = {};
	float k[3], o[3];
	int rc = -1;

	if (gpu_image_check(src, "colour transfer: source", 3, 4, e) < 0 ||
	    gpu_image_check(dst, "colour transfer: destination", 3, 4, e) < 0)
		return -1;
	if (gpu_transfer_coeffs(from, to, p, k, o, e) < 0)
		return -1;
	if (gpu_dev_image_upload(src, &ds, e) < 0 ||
	    gpu_dev_image_alloc(&dd, dst->width, dst->height, dst->channels, e) < 0 ||
	    gpu_colour_transfer_launch(&ds, &dd, k, o, 0, e) < 0 ||
	    gpu_dev_image_download(&dd, dst, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_dev_image_free(&ds);
	gpu_dev_image_free(&dd);
	return rc;
}
