/* colour_math.h: the per-pixel colour math that the CPU references and the
 * CUDA kernels share, inline, so both compute the same formulas: sRGB <->
 * linear (through the lookup tables of colour.h), linear RGB <-> CIE Lab
 * (D65), delta E, and the composite arithmetic. */
#ifndef SKUGEN_GPU_COLOUR_MATH_H
#define SKUGEN_GPU_COLOUR_MATH_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define GPU_HD static inline __host__ __device__
#else
#define GPU_HD static inline
#endif

#define GPU_LAB_EPS 0.008856452f   /* (6/29)^3 */
#define GPU_LAB_KAPPA 7.787037f    /* (29/6)^2 / 3 */
#define GPU_WHITE_X 0.95047f
#define GPU_WHITE_Z 1.08883f

GPU_HD float gpu_clampf(float v, float lo, float hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

GPU_HD uint8_t gpu_to_u8(float v)   /* round and clamp a 0..255 value */
{
	v = gpu_clampf(v, 0.0f, 255.0f);
	return (uint8_t)(v + 0.5f);
}

GPU_HD uint8_t gpu_lin_encode(const uint8_t *to_srgb, float v)
{
	v = gpu_clampf(v, 0.0f, 1.0f);
	return to_srgb[(int)(v * (float)(16384 - 1) + 0.5f)];
}

/* Cube root of t > 0 for Lab: a bit-level first guess (within ~5%) and two
 * Halley steps (cubic convergence: ~1e-4, then float precision).  Several
 * times faster than libm's cbrtf on the CPU, and the same arithmetic on
 * both sides. */
GPU_HD float gpu_cbrt_pos(float t)
{
	union { float f; uint32_t u; } v;
	float y, y3;

	v.f = t;
	v.u = v.u / 3u + 709921077u;
	y = v.f;
	y3 = y * y * y;
	y = y * (y3 + 2.0f * t) / (2.0f * y3 + t);
	y3 = y * y * y;
	y = y * (y3 + 2.0f * t) / (2.0f * y3 + t);
	return y;
}

GPU_HD float gpu_lab_f(float t)
{
	return t > GPU_LAB_EPS ? gpu_cbrt_pos(t) : GPU_LAB_KAPPA * t + 4.0f / 29.0f;
}

GPU_HD float gpu_lab_finv(float f)
{
	float t = f * f * f;
	return t > GPU_LAB_EPS ? t : (f - 4.0f / 29.0f) / GPU_LAB_KAPPA;
}

/* linear RGB (0..1) -> Lab */
GPU_HD void gpu_linear_to_lab(float r, float g, float b, float lab[3])
{
	float x = (0.4124564f * r + 0.3575761f * g + 0.1804375f * b) / GPU_WHITE_X;
	float y = 0.2126729f * r + 0.7151522f * g + 0.0721750f * b;
	float z = (0.0193339f * r + 0.1191920f * g + 0.9503041f * b) / GPU_WHITE_Z;
	float fx = gpu_lab_f(x), fy = gpu_lab_f(y), fz = gpu_lab_f(z);

	lab[0] = 116.0f * fy - 16.0f;
	lab[1] = 500.0f * (fx - fy);
	lab[2] = 200.0f * (fy - fz);
}

/* Lab -> linear RGB (not clamped) */
GPU_HD void gpu_lab_to_linear(const float lab[3], float rgb[3])
{
	float fy = (lab[0] + 16.0f) / 116.0f;
	float fx = fy + lab[1] / 500.0f;
	float fz = fy - lab[2] / 200.0f;
	float x = gpu_lab_finv(fx) * GPU_WHITE_X;
	float y = gpu_lab_finv(fy);
	float z = gpu_lab_finv(fz) * GPU_WHITE_Z;

	rgb[0] = 3.2404542f * x - 1.5371385f * y - 0.4985314f * z;
	rgb[1] = -0.9692660f * x + 1.8760108f * y + 0.0415560f * z;
	rgb[2] = 0.0556434f * x - 0.2040259f * y + 1.0572252f * z;
}

/* sRGB bytes -> Lab through the to-linear table */
GPU_HD void gpu_px_to_lab(const float *to_lin, const uint8_t *px, float lab[3])
{
	gpu_linear_to_lab(to_lin[px[0]], to_lin[px[1]], to_lin[px[2]], lab);
}

GPU_HD float gpu_delta_e(const float a[3], const float b[3])
{
	float d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
	return sqrtf(d0 * d0 + d1 * d1 + d2 * d2);
}

/* The matte's alpha for a reached pixel at distance d.  255 exactly when
 * d >= hi (the flood's barrier): the ramp below stops at 254, so whether a
 * pixel blocks the flood is one float comparison, not a rounding. */
GPU_HD uint8_t gpu_matte_ramp(float d, float lo, float hi)
{
	uint8_t v;

	if (d <= lo)
		return 0;
	if (d >= hi)
		return 255;
	v = gpu_to_u8((d - lo) / (hi - lo) * 255.0f);
	return v > 254 ? 254 : v;
}

/* "over" in linear light with straight-alpha inputs and output: source
 * colour s (linear) at coverage sa over destination d at coverage da; writes
 * the linear colour into d and returns the new coverage. */
GPU_HD float gpu_over(const float s[3], float sa, float d[3], float da)
{
	float oa = sa + da * (1.0f - sa);
	int c;

	for (c = 0; c < 3; c++) {
		float prem = s[c] * sa + d[c] * da * (1.0f - sa);
		d[c] = oa > 0.0f ? prem / oa : 0.0f;
	}
	return oa;
}

/* One destination pixel d (dch = 3 or 4 channels, sRGB bytes) under a
 * source of linear colour sl at coverage sa (> 0): "over" in linear light,
 * written back as sRGB (and alpha when dch is 4).  composite_ref.c and
 * composite.cu both call this for every pixel. */
GPU_HD void gpu_over_px(const float *to_lin, const uint8_t *to_srgb, uint8_t *d, int dch,
			const float sl[3], float sa)
{
	float dl[3], da, oa;
	int c;

	for (c = 0; c < 3; c++)
		dl[c] = to_lin[d[c]];
	da = dch == 4 ? d[3] * (1.0f / 255.0f) : 1.0f;
	oa = gpu_over(sl, sa, dl, da);
	for (c = 0; c < 3; c++)
		d[c] = gpu_lin_encode(to_srgb, dl[c]);
	if (dch == 4)
		d[3] = gpu_to_u8(oa * 255.0f);
}

#endif
