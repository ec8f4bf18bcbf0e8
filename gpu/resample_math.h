/* resample_math.h: the resampler's per-pixel arithmetic that the reference
 * (resample_ref.c) and the kernels (resample.cu) share, inline: adding one
 * weighted source pixel (alpha-weighted when there are 4 channels) and
 * storing a finished sum as bytes. */
#ifndef SKUGEN_GPU_RESAMPLE_MATH_H
#define SKUGEN_GPU_RESAMPLE_MATH_H

#include "colour_math.h"

/* acc += w * p, with colour premultiplied by p's alpha when ch is 4 */
GPU_HD void gpu_resample_add(float acc[4], const uint8_t *p, float w, int ch)
{
	int c;

	if (ch == 4) {
		float wa = w * p[3] * (1.0f / 255.0f);

		acc[0] += wa * p[0];
		acc[1] += wa * p[1];
		acc[2] += wa * p[2];
		acc[3] += w * p[3];
	} else {
		for (c = 0; c < ch; c++)
			acc[c] += w * p[c];
	}
}

/* out = acc rounded to bytes; with 4 channels the colour is divided by the
 * alpha again (nothing where alpha is ~0) */
GPU_HD void gpu_resample_store(uint8_t *out, const float acc[4], int ch)
{
	int c;

	if (ch == 4) {
		float a = gpu_clampf(acc[3], 0.0f, 255.0f);
		float inv = a > 1e-3f ? 255.0f / a : 0.0f;

		out[0] = gpu_to_u8(acc[0] * inv);
		out[1] = gpu_to_u8(acc[1] * inv);
		out[2] = gpu_to_u8(acc[2] * inv);
		out[3] = gpu_to_u8(a);
	} else {
		for (c = 0; c < ch; c++)
			out[c] = gpu_to_u8(acc[c]);
	}
}

#endif
