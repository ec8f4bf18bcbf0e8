/* composite.cu: "over" in linear light with premultiplied alpha, and a flat
 * colour through a mask, on the GPU (see composite.h); one thread per
 * destination pixel of the overlap, the reference's arithmetic
 * (colour_math.h) and tables. */
#include "kernels.h"
#include "colour_math.h"

#include <string.h>

__global__ void composite_k(uint8_t *dst, size_t dstride, int dch,
			    const uint8_t *__restrict__ src, size_t sstride, int x0, int y0,
			    int ox, int oy, int w, int h, float opacity,
			    const float *__restrict__ lin, const uint8_t *__restrict__ enc)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	int j = blockIdx.y * blockDim.y + threadIdx.y;
	float sl[3], sa;
	int c;

	if (i >= w || j >= h)
		return;
	int xx = x0 + i, yy = y0 + j;
	const uint8_t *s = src + (size_t)(yy - oy) * sstride + (size_t)(xx - ox) * 4;

	sa = s[3] * (1.0f / 255.0f) * opacity;
	if (sa <= 0.0f)
		return;
	for (c = 0; c < 3; c++)
		sl[c] = lin[s[c]];
	gpu_over_px(lin, enc, dst + (size_t)yy * dstride + (size_t)xx * dch, dch, sl, sa);
}

struct shade_colour {
	float l[3];
};

__global__ void shade_k(uint8_t *dst, size_t dstride, int dch,
			const uint8_t *__restrict__ mask, size_t mstride, int mch, int x0, int y0,
			int ox, int oy, int w, int h, float opacity, const shade_colour sc,
			const float *__restrict__ lin, const uint8_t *__restrict__ enc)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	int j = blockIdx.y * blockDim.y + threadIdx.y;
	float sa;

	if (i >= w || j >= h)
		return;
	int xx = x0 + i, yy = y0 + j;
	uint8_t m = mask[(size_t)(yy - oy) * mstride + (size_t)(xx - ox) * mch + mch - 1];

	sa = m * (1.0f / 255.0f) * opacity;
	if (sa <= 0.0f)
		return;
	gpu_over_px(lin, enc, dst + (size_t)yy * dstride + (size_t)xx * dch, dch, sc.l, sa);
}

int gpu_composite_launch(const struct gpu_image *dst, const struct gpu_image *src, int x,
			 int y, float opacity, cudaStream_t s, struct err *e)
{
	const float *lin;
	const uint8_t *enc;
	int r[4], w, h, rc;

	rc = gpu_layer_prepare(dst, src, "composite", "source", 4, 4, x, y, opacity, r, e);
	if (rc <= 0)
		return rc;
	if (gpu_dev_luts(&lin, &enc, e) < 0)
		return -1;
	w = r[2] - r[0];
	h = r[3] - r[1];
	{
		dim3 b(32, 8), g((w + 31) / 32, (h + 7) / 8);

		composite_k<<<g, b, 0, s>>>(dst->data, dst->stride, dst->channels, src->data,
					    src->stride, r[0], r[1], x, y, w, h, opacity, lin, enc);
	}
	GPU_LAUNCHED(e, "composite: kernel");
	return 0;
done:
	return -1;
}

int gpu_shade_launch(const struct gpu_image *dst, const struct gpu_image *mask, int x,
		     int y, const uint8_t rgb[3], float opacity, cudaStream_t s,
		     struct err *e)
{
	const float *lin;
	const uint8_t *enc;
	shade_colour sc;
	int r[4], w, h, rc;

	rc = gpu_layer_prepare(dst, mask, "shade", "mask", 1, 4, x, y, opacity, r, e);
	if (rc <= 0)
		return rc;
	if (gpu_dev_luts(&lin, &enc, e) < 0)
		return -1;
	sc.l[0] = gpu_srgb_to_linear(rgb[0]);
	sc.l[1] = gpu_srgb_to_linear(rgb[1]);
	sc.l[2] = gpu_srgb_to_linear(rgb[2]);
	w = r[2] - r[0];
	h = r[3] - r[1];
	{
		dim3 b(32, 8), g((w + 31) / 32, (h + 7) / 8);

		shade_k<<<g, b, 0, s>>>(dst->data, dst->stride, dst->channels, mask->data,
					mask->stride, mask->channels, r[0], r[1], x, y, w, h,
					opacity, sc, lin, enc);
	}
	GPU_LAUNCHED(e, "shade: kernel");
	return 0;
done:
	return -1;
}

extern "C" int gpu_composite_cuda(const struct gpu_image *dst, const struct gpu_image *src,
				  int x, int y, float opacity, struct err *e)
{
	struct gpu_image dd = {}, ds = {};
	int rc = -1;

	if (gpu_image_check(dst, "composite: destination", 3, 4, e) < 0 ||
	    gpu_image_check(src, "composite: source", 4, 4, e) < 0)
		return -1;
	if (gpu_dev_image_upload(dst, &dd, e) < 0 || gpu_dev_image_upload(src, &ds, e) < 0 ||
	    gpu_composite_launch(&dd, &ds, x, y, opacity, 0, e) < 0 ||
	    gpu_dev_image_download(&dd, dst, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_dev_image_free(&dd);
	gpu_dev_image_free(&ds);
	return rc;
}

extern "C" int gpu_shade_cuda(const struct gpu_image *dst, const struct gpu_image *mask, int x,
			      int y, const uint8_t rgb[3], float opacity, struct err *e)
{
	struct gpu_image dd = {}, dm = {};
	int rc = -1;

	if (gpu_image_check(dst, "shade: destination", 3, 4, e) < 0 ||
	    gpu_image_check(mask, "shade: mask", 1, 4, e) < 0)
		return -1;
	if (gpu_dev_image_upload(dst, &dd, e) < 0 || gpu_dev_image_upload(mask, &dm, e) < 0 ||
	    gpu_shade_launch(&dd, &dm, x, y, rgb, opacity, 0, e) < 0 ||
	    gpu_dev_image_download(&dd, dst, e) < 0)
		goto done;
	rc = 0;
done:
	gpu_dev_image_free(&dd);
	gpu_dev_image_free(&dm);
	return rc;
}
