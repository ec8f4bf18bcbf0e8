/* warp.cu: the affine warp (warp.h) and the crossfade (crossfade.h) on the
 * GPU, and the small device layer a frame synthesiser needs from C (device
 * images, streams, queued downloads).
 *
 * One thread per destination pixel, all channels; the sampling arithmetic is
 * warp_math.h's, shared with warp_ref.c.  The source position is computed
 * with explicitly rounded double operations (__dmul_rn, __dadd_rn: no FMA
 * contraction), in the reference's order, so the bilinear taps and weights
 * are the reference's bit for bit; bicubic weights are float polynomials
 * that nvcc may contract, hence its 1-level tolerance.  The crossfade is
 * integer arithmetic and exact.
 */
#include "kernels.h"
#include "crossfade.h"
#include "warp.h"
#include "warp_math.h"

#include <string.h>

struct warp_map {
	double m[6];
};

__device__ static inline double src_coord(double a, double b, double c, int x, int y)
{
	/* a * (x + 0.5) + b * (y + 0.5) + c, evaluated as the reference does */
	return __dadd_rn(__dadd_rn(__dmul_rn(a, x + 0.5), __dmul_rn(b, y + 0.5)), c);
}

template <int FILTER>
__global__ void warp_k(const uint8_t *__restrict__ src, size_t sstride, int sw, int sh,
		       uint8_t *__restrict__ dst, size_t dstride, int dw, int dh, int ch,
		       const warp_map map)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y * blockDim.y + threadIdx.y;

	if (x >= dw || y >= dh)
		return;
	double sx = src_coord(map.m[0], map.m[1], map.m[2], x, y);
	double sy = src_coord(map.m[3], map.m[4], map.m[5], x, y);
	uint8_t *out = dst + (size_t)y * dstride + (size_t)x * ch;

	if (FILTER == GPU_WARP_BILINEAR) {
		int i, j, wx, wy;

		gpu_warp_bilinear_tap(sx, &i, &wx);
		gpu_warp_bilinear_tap(sy, &j, &wy);
		const uint8_t *ra = src + (size_t)gpu_warp_clampi(j, 0, sh - 1) * sstride;
		const uint8_t *rb = src + (size_t)gpu_warp_clampi(j + 1, 0, sh - 1) * sstride;
		int a = gpu_warp_clampi(i, 0, sw - 1) * ch, b = gpu_warp_clampi(i + 1, 0, sw - 1) * ch;
		for (int c = 0; c < ch; c++)
			out[c] = gpu_warp_blend4(__ldg(ra + a + c), __ldg(ra + b + c), __ldg(rb + a + c),
						 __ldg(rb + b + c), (unsigned)wx, (unsigned)wy);
	} else {
		int i, j;
		float wx[4], wy[4];

		gpu_warp_cubic_tap(sx, &i, wx);
		gpu_warp_cubic_tap(sy, &j, wy);
		for (int c = 0; c < ch; c++) {
			float acc = 0;
#pragma unroll
			for (int r = 0; r < 4; r++) {
				const uint8_t *p = src + c + (size_t)gpu_warp_clampi(j + r, 0, sh - 1) * sstride;
				float h = 0;
#pragma unroll
				for (int k = 0; k < 4; k++)
					h += __ldg(p + gpu_warp_clampi(i + k, 0, sw - 1) * ch) * wx[k];
				acc += h * wy[r];
			}
			out[c] = gpu_warp_round_u8(acc);
		}
	}
}

__global__ void crossfade_k(const uint8_t *__restrict__ a, size_t as, const uint8_t *__restrict__ b,
			    size_t bs, uint8_t *dst, size_t ds, int n, int h, unsigned w2)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	int y = blockIdx.y;

	if (i >= n || y >= h)
		return;
	unsigned va = a[(size_t)y * as + i], vb = b[(size_t)y * bs + i];
	dst[(size_t)y * ds + i] = (uint8_t)((va * (256 - w2) + vb * w2 + 128) >> 8);
}

static int warp_check(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
		      enum gpu_warp_filter filter, struct err *e)
{
	if (gpu_image_check(src, "warp: source", 1, 4, e) < 0 ||
	    gpu_image_check(dst, "warp: destination", src->channels, src->channels, e) < 0)
		return -1;
	if (filter != GPU_WARP_BILINEAR && filter != GPU_WARP_BICUBIC)
		return err_set(e, ERR_INTERNAL, "warp: unknown filter %d", (int)filter);
	for (int k = 0; k < 6; k++)
		if (!m || !isfinite(m[k]))
			return err_set(e, ERR_INTERNAL, "warp: the map is not finite");
	return 0;
}

extern "C" int gpu_warp_launch(const struct gpu_image *src, const struct gpu_image *dst,
			       const double m[6], enum gpu_warp_filter filter, void *stream,
			       struct err *e)
{
	warp_map map;
	cudaStream_t s = (cudaStream_t)stream;

	if (warp_check(src, dst, m, filter, e) < 0)
		return -1;
	memcpy(map.m, m, sizeof map.m);
	{
		dim3 b(32, 8), g((dst->width + 31) / 32, (dst->height + 7) / 8);

		if (filter == GPU_WARP_BILINEAR)
			warp_k<GPU_WARP_BILINEAR><<<g, b, 0, s>>>(src->data, src->stride, src->width,
								  src->height, dst->data, dst->stride,
								  dst->width, dst->height,
								  src->channels, map);
		else
			warp_k<GPU_WARP_BICUBIC><<<g, b, 0, s>>>(src->data, src->stride, src->width,
								 src->height, dst->data, dst->stride,
								 dst->width, dst->height,
								 src->channels, map);
	}
	GPU_LAUNCHED(e, "warp: kernel");
	return 0;
done:
	return -1;
}

static int crossfade_check(const struct gpu_image *a, const struct gpu_image *b,
			   const struct gpu_image *dst, struct err *e)
{
	if (gpu_image_check(a, "crossfade: first", 1, 4, e) < 0 ||
	    gpu_image_check(b, "crossfade: second", a->channels, a->channels, e) < 0 ||
	    gpu_image_check(dst, "crossfade: destination", a->channels, a->channels, e) < 0)
		return -1;
	if (b->width != a->width || b->height != a->height || dst->width != a->width ||
	    dst->height != a->height)
		return err_set(e, ERR_INTERNAL, "crossfade: sizes %dx%d, %dx%d and %dx%d differ",
			       a->width, a->height, b->width, b->height, dst->width, dst->height);
	return 0;
}

extern "C" int gpu_crossfade_launch(const struct gpu_image *a, const struct gpu_image *b,
				    const struct gpu_image *dst, double t, void *stream,
				    struct err *e)
{
	cudaStream_t s = (cudaStream_t)stream;
	int n;

	if (crossfade_check(a, b, dst, e) < 0)
		return -1;
	n = a->width * a->channels;
	{
		dim3 blk(256), g((n + 255) / 256, a->height);

		crossfade_k<<<g, blk, 0, s>>>(a->data, a->stride, b->data, b->stride, dst->data,
					      dst->stride, n, a->height,
					      (unsigned)gpu_crossfade_weight(t));
	}
	GPU_LAUNCHED(e, "crossfade: kernel");
	return 0;
done:
	return -1;
}

extern "C" int gpu_warp_cuda(const struct gpu_image *src, const struct gpu_image *dst,
			     const double m[6], enum gpu_warp_filter filter, struct err *e)
{
	struct gpu_image ds = {}, dd = {};
	int rc = -1;

	if (warp_check(src, dst, m, filter, e) < 0)
		return -1;
	if (gpu_dev_image_upload(src, &ds, e) < 0 ||
	    gpu_dev_image_alloc(&dd, dst->width, dst->height, dst->channels, e) < 0 ||
	    gpu_warp_launch(&ds, &dd, m, filter, NULL, e) < 0 ||
	    gpu_dev_image_download(&dd, dst, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_dev_image_free(&ds);
	gpu_dev_image_free(&dd);
	return rc;
}

extern "C" int gpu_crossfade_cuda(const struct gpu_image *a, const struct gpu_image *b,
				  const struct gpu_image *dst, double t, struct err *e)
{
	struct gpu_image da = {}, db = {}, dd = {};
	int rc = -1;

	if (crossfade_check(a, b, dst, e) < 0)
		return -1;
	if (gpu_dev_image_upload(a, &da, e) < 0 || gpu_dev_image_upload(b, &db, e) < 0 ||
	    gpu_dev_image_alloc(&dd, dst->width, dst->height, dst->channels, e) < 0 ||
	    gpu_crossfade_launch(&da, &db, &dd, t, NULL, e) < 0 ||
	    gpu_dev_image_download(&dd, dst, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_dev_image_free(&da);
	gpu_dev_image_free(&db);
	gpu_dev_image_free(&dd);
	return rc;
}

extern "C" int gpu_warp_dev_alloc(struct gpu_image *d, int w, int h, int ch, struct err *e)
{
	return gpu_dev_image_alloc(d, w, h, ch, e);
}

extern "C" void gpu_warp_dev_free(struct gpu_image *d)
{
	gpu_dev_image_free(d);
}

extern "C" int gpu_warp_dev_upload(const struct gpu_image *host, const struct gpu_image *dev,
				   struct err *e)
{
	GPU_CUDA(cudaMemcpy2D(dev->data, dev->stride, host->data, host->stride,
			      (size_t)host->width * host->channels, host->height,
			      cudaMemcpyHostToDevice),
		 e, "upload");
	return 0;
done:
	return -1;
}

extern "C" int gpu_warp_dev_download(const struct gpu_image *dev, const struct gpu_image *host,
				     void *stream, struct err *e)
{
	GPU_CUDA(cudaMemcpy2DAsync(host->data, host->stride, dev->data, dev->stride,
				   (size_t)host->width * host->channels, host->height,
				   cudaMemcpyDeviceToHost, (cudaStream_t)stream),
		 e, "download");
	return 0;
done:
	return -1;
}

extern "C" int gpu_warp_stream_new(void **stream, struct err *e)
{
	cudaStream_t s = NULL;

	*stream = NULL;
	GPU_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), e, "stream");
	*stream = s;
	return 0;
done:
	return -1;
}

extern "C" void gpu_warp_stream_free(void *stream)
{
	if (stream)
		cudaStreamDestroy((cudaStream_t)stream);
}

extern "C" int gpu_warp_stream_sync(void *stream, struct err *e)
{
	GPU_CUDA(cudaStreamSynchronize((cudaStream_t)stream), e, "stream");
	return 0;
done:
	return -1;
}
