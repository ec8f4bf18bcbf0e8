/* crossfade_ref.c: the CPU reference for crossfade.h.
 *
 * Plain C11 (OpenMP when gpu/'s Makefile builds it with -fopenmp).
 */
#include "crossfade.h"
#include "par.h"

#include <math.h>

int gpu_crossfade_weight(double t)
{
	if (!(t > 0))
		return 0;
	if (t >= 1)
		return 256;
	return (int)floor(t * 256.0 + 0.5);
}

/* GCC's -O2 "very cheap" vectoriser leaves this loop scalar (the widening
 * to 16 bits); ask for its "cheap" model here.  Clang vectorises it as is.
 * out may be a or b: every byte is read before it is written. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize", "vect-cost-model=cheap")))
#endif
static void blend_row(const uint8_t *pa, const uint8_t *pb, uint8_t *out, size_t n,
		      uint32_t w1, uint32_t w2)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)((pa[i] * w1 + pb[i] * w2 + 128) >> 8);
}

int gpu_crossfade_ref(const struct gpu_image *a, const struct gpu_image *b,
		      const struct gpu_image *dst, double t, struct err *e)
{
	if (gpu_image_check(a, "crossfade: first", 1, 4, e) < 0 ||
	    gpu_image_check(b, "crossfade: second", a->channels, a->channels, e) < 0 ||
	    gpu_image_check(dst, "crossfade: destination", a->channels, a->channels, e) < 0)
		return -1;
	if (b->width != a->width || b->height != a->height || dst->width != a->width ||
	    dst->height != a->height)
		return err_set(e, ERR_INTERNAL, "crossfade: sizes %dx%d, %dx%d and %dx%d differ",
			       a->width, a->height, b->width, b->height, dst->width, dst->height);
	uint32_t w2 = (uint32_t)gpu_crossfade_weight(t), w1 = 256 - w2;
	size_t n = (size_t)a->width * (size_t)a->channels;
	GPU_OMP("omp parallel for schedule(static)")
	for (int y = 0; y < a->height; y++) {
		const uint8_t *pa = a->data + (size_t)y * a->stride;
		const uint8_t *pb = b->data + (size_t)y * b->stride;
		uint8_t *out = dst->data + (size_t)y * dst->stride;
		blend_row(pa, pb, out, n, w1, w2);
	}
	return 0;
}
