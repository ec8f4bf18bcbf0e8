/* video_colour.c: RGB <-> YUV 4:2:0 for product videos (BT.709, limited range).
 *
 * Stills are converted once when a clip is prepared; the WebP encoder turns
 * frames back into RGBA.  Chroma samples sit at the centre of their 2x2 luma
 * block (the encoder declares AVCHROMA_LOC_CENTER).  Fixed-point with 16
 * fractional bits; the coefficients are BT.709's Kr = 0.2126, Kb = 0.0722
 * scaled to 219 (luma) and 224 (chroma) levels.
 */
#include "media/video_int.h"

#include <stdlib.h>
#include <string.h>

static uint8_t clamp8(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

void media_rgb_to_yuv420(const uint8_t *rgb, size_t stride, struct media_frame *f)
{
	int w = f->y.width, h = f->y.height;
	for (int y = 0; y < h; y++) {
		const uint8_t *p = rgb + (size_t)y * stride;
		uint8_t *out = f->y.data + (size_t)y * f->y.stride;
		for (int x = 0; x < w; x++, p += 3)
			out[x] = (uint8_t)((11967 * p[0] + 40255 * p[1] + 4064 * p[2] + 32768 +
					    (16 << 16)) >> 16);
	}
	for (int cy = 0; cy < f->u.height; cy++) {
		int y0 = 2 * cy, y1 = y0 + 1 < h ? y0 + 1 : y0;
		const uint8_t *r0 = rgb + (size_t)y0 * stride, *r1 = rgb + (size_t)y1 * stride;
		uint8_t *ou = f->u.data + (size_t)cy * f->u.stride;
		uint8_t *ov = f->v.data + (size_t)cy * f->v.stride;
		for (int cx = 0; cx < f->u.width; cx++) {
			int x0 = 2 * cx, x1 = x0 + 1 < w ? x0 + 1 : x0;
			int s[3];
			for (int c = 0; c < 3; c++)
				s[c] = r0[3 * x0 + c] + r0[3 * x1 + c] + r1[3 * x0 + c] + r1[3 * x1 + c];
			/* s is four times the mean: shift by 18 instead of 16 */
			ou[cx] = clamp8((-6596 * s[0] - 22189 * s[1] + 28784 * s[2] + (1 << 17) +
					 (128 << 18)) >> 18);
			ov[cx] = clamp8((28784 * s[0] - 26145 * s[1] - 2639 * s[2] + (1 << 17) +
					 (128 << 18)) >> 18);
		}
	}
}

void media_yuv420_to_rgba(const struct media_frame *f, uint8_t *rgba, size_t stride)
{
	int w = f->y.width, h = f->y.height;
	for (int y = 0; y < h; y++) {
		const uint8_t *py = f->y.data + (size_t)y * f->y.stride;
		const uint8_t *pu = f->u.data + (size_t)(y / 2) * f->u.stride;
		const uint8_t *pv = f->v.data + (size_t)(y / 2) * f->v.stride;
		uint8_t *out = rgba + (size_t)y * stride;
		for (int x = 0; x < w; x++) {
			int c = 76309 * (py[x] - 16);       /* 1.16438 << 16 */
			int d = pu[x / 2] - 128, e = pv[x / 2] - 128;
			out[4 * x] = clamp8((c + 117489 * e + 32768) >> 16);
			out[4 * x + 1] = clamp8((c - 13975 * d - 34925 * e + 32768) >> 16);
			out[4 * x + 2] = clamp8((c + 138438 * d + 32768) >> 16);
			out[4 * x + 3] = 255;
		}
	}
}

int media_frame_alloc(struct media_frame *f, int width, int height, struct err *e)
{
	memset(f, 0, sizeof(*f));
	if (width <= 0 || height <= 0)
		return err_set(e, ERR_INTERNAL, "frame of %dx%d pixels", width, height);
	int cw = (width + 1) / 2, chh = (height + 1) / 2;
	size_t ny = (size_t)width * height, nc = (size_t)cw * chh;
	uint8_t *mem = malloc(ny + 2 * nc);
	if (!mem)
		return err_set(e, ERR_NOMEM, "no memory for a %dx%d frame", width, height);
	f->mem = mem;
	f->y = (struct gpu_image){ mem, width, height, 1, (size_t)width };
	f->u = (struct gpu_image){ mem + ny, cw, chh, 1, (size_t)cw };
	f->v = (struct gpu_image){ mem + ny + nc, cw, chh, 1, (size_t)cw };
	return 0;
}

void media_frame_release(struct media_frame *f)
{
	if (!f)
		return;
	free(f->mem);
	memset(f, 0, sizeof(*f));
}

int media_frame_copy(struct media_frame *dst, const struct media_frame *src)
{
	if (dst->y.width != src->y.width || dst->y.height != src->y.height)
		return -1;
	const struct gpu_image *s[3] = { &src->y, &src->u, &src->v };
	struct gpu_image *d[3] = { &dst->y, &dst->u, &dst->v };
	for (int k = 0; k < 3; k++)
		for (int y = 0; y < s[k]->height; y++)
			memcpy(d[k]->data + (size_t)y * d[k]->stride,
			       s[k]->data + (size_t)y * s[k]->stride, (size_t)s[k]->width);
	return 0;
}
