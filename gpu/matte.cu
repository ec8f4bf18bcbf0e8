/* matte.cu: the studio-shot matte on the GPU (see matte.h).  The border
 * band goes to the host for the reference's own median; the delta E ramp is
 * one kernel; the flood from the border iterates a tiled kernel (each 32x32
 * tile propagates in shared memory until it is stable, tiles exchange
 * through a one-pixel halo) until a launch changes nothing; then the ramp is
 * kept where the flood reached, the edge feathered (blur.cu) and coverage
 * counted. */
#include "kernels.h"
#include "colour_math.h"

#include <stdlib.h>
#include <string.h>

#define FT 32
#define FLOOD_BATCH 4   /* flood rounds per look at the flag */

struct lab_colour {
	float v[3];
};

__global__ void matte_ramp_k(const uint8_t *__restrict__ src, size_t sstride, int sch,
			     uint8_t *alpha, size_t astride, uint8_t *reached, int W, int H,
			     const lab_colour bg, float lo, float hi,
			     const float *__restrict__ lin)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;
	float lab[3];
	uint8_t a;

	if (x >= W || y >= H)
		return;
	const uint8_t *px = src + (size_t)y * sstride + (size_t)x * sch;
	gpu_linear_to_lab(lin[px[0]], lin[px[1]], lin[px[2]], lab);
	a = gpu_matte_ramp(gpu_delta_e(lab, bg.v), lo, hi);
	alpha[(size_t)y * astride + x] = a;
	reached[(size_t)y * W + x] =
		(x == 0 || y == 0 || x == W - 1 || y == H - 1) && a < 255 ? 1 : 0;
}

/* One round of the flood: blockDim 32x32, one pixel per thread. */
__global__ void matte_flood_k(const uint8_t *__restrict__ alpha, size_t astride,
			      uint8_t *reached, int W, int H, int *flag)
{
	__shared__ uint8_t r[FT + 2][FT + 2];
	int tx = threadIdx.x, ty = threadIdx.y;
	int x = blockIdx.x * FT + tx, y = blockIdx.y * FT + ty;
	int in = x < W && y < H;
	int open, mine = 0, any;

	r[ty + 1][tx + 1] = in ? reached[(size_t)y * W + x] : 0;
	if (tx == 0)
		r[ty + 1][0] = in && x > 0 ? reached[(size_t)y * W + x - 1] : 0;
	if (tx == FT - 1)
		r[ty + 1][FT + 1] = y < H && x + 1 < W ? reached[(size_t)y * W + x + 1] : 0;
	if (ty == 0)
		r[0][tx + 1] = in && y > 0 ? reached[(size_t)(y - 1) * W + x] : 0;
	if (ty == FT - 1)
		r[FT + 1][tx + 1] = x < W && y + 1 < H ? reached[(size_t)(y + 1) * W + x] : 0;
	open = in && alpha[(size_t)y * astride + x] < 255 && !r[ty + 1][tx + 1];
	__syncthreads();
	do {
		int grew = 0;

		if (open && (r[ty][tx + 1] | r[ty + 2][tx + 1] | r[ty + 1][tx] | r[ty + 1][tx + 2])) {
			r[ty + 1][tx + 1] = 1;
			open = 0;
			grew = 1;
			mine = 1;
		}
		any = __syncthreads_or(grew);
	} while (any);
	if (mine) {
		reached[(size_t)y * W + x] = 1;
		*flag = 1;
	}
}

__global__ void matte_keep_k(uint8_t *alpha, size_t astride, const uint8_t *__restrict__ reached,
			     int W, int H)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;

	if (x >= W || y >= H)
		return;
	if (!reached[(size_t)y * W + x])
		alpha[(size_t)y * astride + x] = 255;
}

__global__ void matte_finish_k(const uint8_t *__restrict__ src, size_t sstride, int sch,
			       const uint8_t *__restrict__ alpha, size_t astride, uint8_t *dst,
			       size_t dstride, int dch, int W, int H,
			       unsigned long long *count)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;
	int in = x < W && y < H, opaque = 0, n;

	if (in) {
		uint8_t a = alpha[(size_t)y * astride + x];

		opaque = a >= 128;
		if (dch == 4) {
			const uint8_t *s = src + (size_t)y * sstride + (size_t)x * sch;
			uint8_t *d = dst + (size_t)y * dstride + (size_t)x * 4;

			d[0] = s[0];
			d[1] = s[1];
			d[2] = s[2];
			d[3] = a;
		}
	}
	n = __syncthreads_count(opaque);
	if (threadIdx.x == 0 && threadIdx.y == 0 && n)
		atomicAdd(count, (unsigned long long)n);
}

void gpu_matte_work_release(struct gpu_matte_work *w)
{
	if (!w)
		return;
	gpu_scratch_release(&w->state);
	gpu_scratch_release(&w->alpha);
	gpu_scratch_release(&w->blur);
}

/* Copy rows [y0, y1) x columns [x0, x1) of device image src to host bytes at
 * *out (sch bytes per pixel), advancing *out. */
static int band_copy(const struct gpu_image *src, int x0, int x1, int y0, int y1,
		     uint8_t **out, cudaStream_t s, struct err *e)
{
	size_t wb = (size_t)(x1 - x0) * src->channels;

	if (x1 <= x0 || y1 <= y0)
		return 0;
	GPU_CUDA(cudaMemcpy2DAsync(*out, wb, src->data + (size_t)y0 * src->stride +
				   (size_t)x0 * src->channels, src->stride, wb, y1 - y0,
				   cudaMemcpyDeviceToHost, s), e, "matte: border");
	*out += wb * (y1 - y0);
	return 0;
done:
	return -1;
}

int gpu_matte_launch(const struct gpu_image *src, const struct gpu_image *dst,
		     const struct gpu_matte_params *p, struct gpu_matte_stats *stats,
		     struct gpu_matte_work *w, cudaStream_t s, struct err *e)
{
	const float *lin;
	const uint8_t *enc;
	struct gpu_matte_stats st;
	struct gpu_image alpha;
	uint8_t *band = NULL, *cur, *reached;
	int *flag;
	unsigned long long *count, opaque = 0;
	size_t nband, i, off;
	int W, H, b, right, mid_end, sch, hflag = 0, rc = -1;
	lab_colour bg;
	dim3 blk(32, 8), grd, fblk(FT, FT), fgrd;

	memset(&st, 0, sizeof st);
	w->iterations = 0;
	if (gpu_matte_check(src, dst, p, e) < 0)
		return -1;
	W = src->width;
	H = src->height;
	if (gpu_dev_luts(&lin, &enc, e) < 0)
		return -1;
	sch = src->channels;
	b = p->border;
	if (2 * b > W) b = (W + 1) / 2;
	if (2 * b > H) b = (H + 1) / 2;
	right = W - b > b ? W - b : b;
	mid_end = H - b > b ? H - b : b;

	/* the border band, as matte_ref.c takes it */
	nband = (size_t)b * W + (size_t)(H - mid_end) * W + (size_t)(mid_end - b) * (b + W - right);
	band = (uint8_t *)malloc(nband * sch + 1);
	if (!band) {
		err_set(e, ERR_NOMEM, "matte: out of memory for the border of %dx%d", W, H);
		goto done;
	}
	cur = band;
	if (band_copy(src, 0, W, 0, b, &cur, s, e) < 0 ||
	    band_copy(src, 0, W, mid_end, H, &cur, s, e) < 0 ||
	    band_copy(src, 0, b, b, mid_end, &cur, s, e) < 0 ||
	    band_copy(src, right, W, b, mid_end, &cur, s, e) < 0)
		goto done;
	GPU_CUDA(cudaStreamSynchronize(s), e, "matte: border");
	if (sch == 4)
		for (i = 0; i < nband; i++)
			memmove(band + i * 3, band + i * 4, 3);
	gpu_matte_estimate_bg(band, nband, p, &st);
	memcpy(bg.v, st.bg_lab, sizeof bg.v);

	/* the ramp, and the edge pixels that seed the flood */
	off = ((size_t)W * H + 15) / 16 * 16;
	if (gpu_scratch_reserve(&w->state, off + 16, e) < 0)
		goto done;
	reached = (uint8_t *)w->state.ptr;
	flag = (int *)((char *)w->state.ptr + off);
	count = (unsigned long long *)((char *)w->state.ptr + off + 8);
	if (dst->channels == 1) {
		alpha = *dst;
	} else {
		if (gpu_scratch_reserve(&w->alpha, (size_t)W * H, e) < 0)
			goto done;
		alpha.data = (uint8_t *)w->alpha.ptr;
		alpha.width = W;
		alpha.height = H;
		alpha.channels = 1;
		alpha.stride = (size_t)W;
	}
	grd = dim3((W + 31) / 32, (H + 7) / 8);
	matte_ramp_k<<<grd, blk, 0, s>>>(src->data, src->stride, sch, alpha.data, alpha.stride,
					 reached, W, H, bg, p->tol_lo, p->tol_hi, lin);
	GPU_LAUNCHED(e, "matte: ramp kernel");

	/* flood until a batch of rounds changes nothing (the host reads the flag
	 * once per batch: fewer round trips, a few idle rounds at the end) */
	fgrd = dim3((W + FT - 1) / FT, (H + FT - 1) / FT);
	do {
		int k;

		GPU_CUDA(cudaMemsetAsync(flag, 0, sizeof(int), s), e, "matte: flood");
		for (k = 0; k < FLOOD_BATCH; k++) {
			matte_flood_k<<<fgrd, fblk, 0, s>>>(alpha.data, alpha.stride, reached, W, H,
							    flag);
			GPU_LAUNCHED(e, "matte: flood kernel");
		}
		GPU_CUDA(cudaMemcpyAsync(&hflag, flag, sizeof(int), cudaMemcpyDeviceToHost, s), e,
			 "matte: flood");
		GPU_CUDA(cudaStreamSynchronize(s), e, "matte: flood");
		w->iterations += FLOOD_BATCH;
	} while (hflag);

	matte_keep_k<<<grd, blk, 0, s>>>(alpha.data, alpha.stride, reached, W, H);
	GPU_LAUNCHED(e, "matte: keep kernel");
	if (p->feather > 0.0f && gpu_blur_launch(&alpha, &alpha, p->feather, &w->blur, s, e) < 0)
		goto done;
	GPU_CUDA(cudaMemsetAsync(count, 0, sizeof *count, s), e, "matte: coverage");
	matte_finish_k<<<grd, blk, 0, s>>>(src->data, src->stride, sch, alpha.data, alpha.stride,
					   dst->data, dst->stride, dst->channels, W, H, count);
	GPU_LAUNCHED(e, "matte: finish kernel");
	GPU_CUDA(cudaMemcpyAsync(&opaque, count, sizeof opaque, cudaMemcpyDeviceToHost, s), e,
		 "matte: coverage");
	GPU_CUDA(cudaStreamSynchronize(s), e, "matte: coverage");
	st.coverage = (double)opaque / ((double)W * H);
	if (stats)
		*stats = st;
	rc = 0;
done:
	free(band);
	return rc;
}

extern "C" int gpu_matte_cuda(const struct gpu_image *src, const struct gpu_image *dst,
			      const struct gpu_matte_params *p, struct gpu_matte_stats *stats,
			      struct err *e)
{
	struct gpu_matte_work w;
	struct gpu_image ds = {}, dd = {};
	int rc = -1;

	memset(&w, 0, sizeof w);
	if (gpu_image_check(src, "matte: source", 3, 4, e) < 0 ||
	    gpu_image_check(dst, "matte: destination", 1, 4, e) < 0)
		return -1;
	if (gpu_dev_image_upload(src, &ds, e) < 0 ||
	    gpu_dev_image_alloc(&dd, dst->width, dst->height, dst->channels, e) < 0 ||
	    gpu_matte_launch(&ds, &dd, p, stats, &w, 0, e) < 0 ||
	    gpu_dev_image_download(&dd, dst, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_matte_work_release(&w);
	gpu_dev_image_free(&ds);
	gpu_dev_image_free(&dd);
	return rc;
}
