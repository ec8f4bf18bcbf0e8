/* warp_math.h: the sampling arithmetic that warp_ref.c and warp.cu share,
 * so that the CPU reference and the kernels weigh exactly alike (see
 * warp.h).  static inline GPU_HD functions, plain C11 and CUDA C++. */
#ifndef SKUGEN_GPU_WARP_MATH_H
#define SKUGEN_GPU_WARP_MATH_H

#include <math.h>

#ifndef GPU_HD
#ifdef __CUDACC__
#define GPU_HD __host__ __device__
#else
#define GPU_HD
#endif
#endif

static inline GPU_HD int gpu_warp_clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The integer tap and its 1/256 weight for a continuous coordinate s (pixel
 * centres at i + 0.5). */
static inline GPU_HD void gpu_warp_bilinear_tap(double s, int *i0, int *w)
{
	double p = s - 0.5;
	double f = floor(p);
	int i = (int)f;
	int wt = (int)floor((p - f) * 256.0 + 0.5);
	if (wt == 256) {
		i++;
		wt = 0;
	}
	*i0 = i;
	*w = wt;
}

/* Keys' cubic, a = -0.5: the first tap and four weights for coordinate s. */
static inline GPU_HD void gpu_warp_cubic_tap(double s, int *i0, float w[4])
{
	double p = s - 0.5;
	double f = floor(p);
	float t = (float)(p - f);
	const float a = -0.5f;
	float t2 = t * t, t3 = t2 * t;
	*i0 = (int)f - 1;
	w[0] = a * t3 - 2 * a * t2 + a * t;
	w[1] = (a + 2) * t3 - (a + 3) * t2 + 1;
	w[2] = -(a + 2) * t3 + (2 * a + 3) * t2 - a * t;
	w[3] = -a * t3 + a * t2;
}

static inline GPU_HD unsigned char gpu_warp_round_u8(float v)
{
	v = floorf(v + 0.5f);
	return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)v;
}

/* The bilinear blend of four samples with 1/256 weights. */
static inline GPU_HD unsigned char gpu_warp_blend4(unsigned a, unsigned b, unsigned c,
						   unsigned d, unsigned wx, unsigned wy)
{
	unsigned top = a * (256 - wx) + b * wx;
	unsigned bot = c * (256 - wx) + d * wx;
	return (unsigned char)((top * (256 - wy) + bot * wy + 32768) >> 16);
}

#endif
