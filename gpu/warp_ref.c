/* warp_ref.c: the CPU reference for warp.h (sub-pixel affine warp).
 *
 * Plain C11, built -O3 with OpenMP by gpu/'s Makefile and without it in the
 * top-level library.  The sampling arithmetic is warp_math.h, shared with
 * warp.cu.  Axis-aligned maps (pan and zoom, every frame of a product
 * video) compute their column taps once per call.
 */
#include "warp.h"
#include "warp_math.h"
#include "par.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int gpu_warp_filter_parse(const char *name)
{
	if (name && strcmp(name, "bilinear") == 0)
		return GPU_WARP_BILINEAR;
	if (name && strcmp(name, "bicubic") == 0)
		return GPU_WARP_BICUBIC;
	return -1;
}

const char *gpu_warp_filter_name(enum gpu_warp_filter f)
{
	return f == GPU_WARP_BICUBIC ? "bicubic" : "bilinear";
}

void gpu_warp_window(double m[6], double x0, double y0, double w, double h,
		     int dst_w, int dst_h)
{
	m[0] = w / dst_w;
	m[1] = 0;
	m[2] = x0;
	m[3] = 0;
	m[4] = h / dst_h;
	m[5] = y0;
}

static int check(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
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

/* One source row filtered horizontally at the column taps: 16-bit sums
 * a * (256 - wx) + b * wx, exactly the "top"/"bottom" of gpu_warp_blend4. */
static void bilinear_row(const uint8_t *restrict row, const int *restrict tab, int dw, int ch,
			 uint16_t *restrict out)
{
	if (ch == 1) {
		for (int x = 0; x < dw; x++) {
			unsigned w = (unsigned)tab[3 * x + 2];
			out[x] = (uint16_t)(row[tab[3 * x]] * (256 - w) + row[tab[3 * x + 1]] * w);
		}
		return;
	}
	for (int x = 0; x < dw; x++) {
		unsigned w = (unsigned)tab[3 * x + 2];
		const uint8_t *pa = row + tab[3 * x], *pb = row + tab[3 * x + 1];
		for (int c = 0; c < ch; c++)
			out[x * ch + c] = (uint16_t)(pa[c] * (256 - w) + pb[c] * w);
	}
}

/* The hot loops of a video frame: GCC's -O2 "very cheap" vectoriser leaves
 * them scalar (the widening to 32 bits); ask for its "cheap" model here.
 * Clang vectorises them at -O2 as they are. */
#if defined(__GNUC__) && !defined(__clang__)
#define GPU_VECTORISE __attribute__((optimize("tree-vectorize", "vect-cost-model=cheap")))
#else
#define GPU_VECTORISE
#endif

GPU_VECTORISE
static void bilinear_col(const uint16_t *restrict top, const uint16_t *restrict bot, int n,
			 unsigned wy, uint8_t *restrict out)
{
	uint32_t w1 = 256 - wy, w2 = wy;
	for (int i = 0; i < n; i++)
		out[i] = (uint8_t)((top[i] * w1 + bot[i] * w2 + 32768) >> 16);
}

#define BAND 64

/* Axis-aligned bilinear in two passes: each source row is filtered
 * horizontally once (two rows cached: with a scale near 1, consecutive
 * output rows share one), then blended vertically (which vectorises).  The
 * integer arithmetic is gpu_warp_blend4's, so results are identical. */
static int bilinear_separable(const struct gpu_image *src, const struct gpu_image *dst,
			      const double m[6], struct err *e)
{
	int ch = src->channels, dw = dst->width, sw = src->width, sh = src->height;
	int bands = (dst->height + BAND - 1) / BAND, failed = 0;
	size_t n = (size_t)dw * (size_t)ch;
	int *tab = malloc(sizeof(int) * 3 * (size_t)dw);
	if (!tab)
		return err_set(e, ERR_NOMEM, "warp: out of memory for %d taps", dw);
	for (int x = 0; x < dw; x++) {
		int i, w;
		gpu_warp_bilinear_tap(m[0] * (x + 0.5) + m[2], &i, &w);
		tab[3 * x] = gpu_warp_clampi(i, 0, sw - 1) * ch;
		tab[3 * x + 1] = gpu_warp_clampi(i + 1, 0, sw - 1) * ch;
		tab[3 * x + 2] = w;
	}
	GPU_OMP("omp parallel for schedule(static) reduction(|:failed)")
	for (int band = 0; band < bands; band++) {
		uint16_t *cache = malloc(sizeof(uint16_t) * 2 * n);
		if (!cache) {
			failed = 1;
			continue;
		}
		int cached[2] = { -1, -1 };
		int y1 = (band + 1) * BAND < dst->height ? (band + 1) * BAND : dst->height;
		for (int y = band * BAND; y < y1; y++) {
			int j, wy;
			gpu_warp_bilinear_tap(m[4] * (y + 0.5) + m[5], &j, &wy);
			int ra = gpu_warp_clampi(j, 0, sh - 1), rb = gpu_warp_clampi(j + 1, 0, sh - 1);
			uint16_t *ha, *hb;
			int sa = cached[0] == ra ? 0 : cached[1] == ra ? 1 : -1;
			if (sa < 0) {
				sa = cached[0] == rb ? 1 : 0;  /* keep rb if it is cached */
				bilinear_row(src->data + (size_t)ra * src->stride, tab, dw, ch,
					     cache + (size_t)sa * n);
				cached[sa] = ra;
			}
			ha = cache + (size_t)sa * n;
			if (rb == ra) {
				hb = ha;
			} else {
				int sb = 1 - sa;
				if (cached[sb] != rb) {
					bilinear_row(src->data + (size_t)rb * src->stride, tab, dw, ch,
						     cache + (size_t)sb * n);
					cached[sb] = rb;
				}
				hb = cache + (size_t)sb * n;
			}
			bilinear_col(ha, hb, (int)n, (unsigned)wy,
				     dst->data + (size_t)y * dst->stride);
		}
		free(cache);
	}
	free(tab);
	if (failed)
		return err_set(e, ERR_NOMEM, "warp: out of memory for row buffers");
	return 0;
}

static int bicubic_separable(const struct gpu_image *src, const struct gpu_image *dst,
			     const double m[6], struct err *e)
{
	int ch = src->channels, dw = dst->width, sw = src->width, sh = src->height;
	int *idx = malloc(sizeof(int) * 4 * (size_t)dw);
	float *wt = malloc(sizeof(float) * 4 * (size_t)dw);
	if (!idx || !wt) {
		free(idx);
		free(wt);
		return err_set(e, ERR_NOMEM, "warp: out of memory for %d taps", dw);
	}
	for (int x = 0; x < dw; x++) {
		int i;
		gpu_warp_cubic_tap(m[0] * (x + 0.5) + m[2], &i, wt + 4 * x);
		for (int k = 0; k < 4; k++)
			idx[4 * x + k] = gpu_warp_clampi(i + k, 0, sw - 1) * ch;
	}
	GPU_OMP("omp parallel for schedule(static)")
	for (int y = 0; y < dst->height; y++) {
		int j;
		float wy[4];
		const uint8_t *row[4];
		gpu_warp_cubic_tap(m[4] * (y + 0.5) + m[5], &j, wy);
		for (int k = 0; k < 4; k++)
			row[k] = src->data + (size_t)gpu_warp_clampi(j + k, 0, sh - 1) * src->stride;
		uint8_t *out = dst->data + (size_t)y * dst->stride;
		for (int x = 0; x < dw; x++) {
			const int *ix = idx + 4 * x;
			const float *wx = wt + 4 * x;
			for (int c = 0; c < ch; c++) {
				float acc = 0;
				for (int r = 0; r < 4; r++) {
					const uint8_t *p = row[r] + c;
					float h = 0;
					for (int k = 0; k < 4; k++)
						h += p[ix[k]] * wx[k];
					acc += h * wy[r];
				}
				out[x * ch + c] = gpu_warp_round_u8(acc);
			}
		}
	}
	free(idx);
	free(wt);
	return 0;
}

/* Any affine map: taps per pixel, the same formulas. */
static void warp_general(const struct gpu_image *src, const struct gpu_image *dst,
			 const double m[6], enum gpu_warp_filter filter)
{
	int ch = src->channels, sw = src->width, sh = src->height;
	GPU_OMP("omp parallel for schedule(static)")
	for (int y = 0; y < dst->height; y++) {
		uint8_t *out = dst->data + (size_t)y * dst->stride;
		for (int x = 0; x < dst->width; x++) {
			double sx = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
			double sy = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
			if (filter == GPU_WARP_BILINEAR) {
				int i, j, wx, wy;
				gpu_warp_bilinear_tap(sx, &i, &wx);
				gpu_warp_bilinear_tap(sy, &j, &wy);
				const uint8_t *ra = src->data +
					(size_t)gpu_warp_clampi(j, 0, sh - 1) * src->stride;
				const uint8_t *rb = src->data +
					(size_t)gpu_warp_clampi(j + 1, 0, sh - 1) * src->stride;
				int a = gpu_warp_clampi(i, 0, sw - 1) * ch;
				int b = gpu_warp_clampi(i + 1, 0, sw - 1) * ch;
				for (int c = 0; c < ch; c++)
					out[x * ch + c] = gpu_warp_blend4(ra[a + c], ra[b + c],
									  rb[a + c], rb[b + c],
									  (unsigned)wx, (unsigned)wy);
			} else {
				int i, j;
				float wx[4], wy[4];
				gpu_warp_cubic_tap(sx, &i, wx);
				gpu_warp_cubic_tap(sy, &j, wy);
				for (int c = 0; c < ch; c++) {
					float acc = 0;
					for (int r = 0; r < 4; r++) {
						const uint8_t *p = src->data + c +
							(size_t)gpu_warp_clampi(j + r, 0, sh - 1) * src->stride;
						float h = 0;
						for (int k = 0; k < 4; k++)
							h += p[gpu_warp_clampi(i + k, 0, sw - 1) * ch] * wx[k];
						acc += h * wy[r];
					}
					out[x * ch + c] = gpu_warp_round_u8(acc);
				}
			}
		}
	}
}

int gpu_warp_ref(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
		 enum gpu_warp_filter filter, struct err *e)
{
	if (check(src, dst, m, filter, e) < 0)
		return -1;
	if (m[1] == 0 && m[3] == 0)
		return filter == GPU_WARP_BILINEAR ? bilinear_separable(src, dst, m, e)
						   : bicubic_separable(src, dst, m, e);
	warp_general(src, dst, m, filter);
	return 0;
}
