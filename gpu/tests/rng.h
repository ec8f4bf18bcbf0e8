/* rng.h: a small deterministic generator (xorshift64*) and random images for
 * gpu/'s tests and benchmarks. */
#ifndef SKUGEN_GPU_RNG_H
#define SKUGEN_GPU_RNG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../image.h"

static uint64_t rng_state = 88172645463325252ull;

__attribute__((unused))
static void rng_seed(unsigned long s)
{
	rng_state = (uint64_t)s * 2685821657736338717ull + 0x9E3779B97F4A7C15ull;
	if (!rng_state)
		rng_state = 1;
}

__attribute__((unused))
static uint32_t rng_u32(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

/* uniform in [lo, hi] */
__attribute__((unused))
static int rng_int(int lo, int hi)
{
	return lo + (int)(rng_u32() % (uint32_t)(hi - lo + 1));
}

__attribute__((unused))
static double rng_unit(void)
{
	return rng_u32() / 4294967296.0;
}

/* A new w x h image of ch channels (release with gpu_image_release); a
 * test that cannot allocate one bails out (TAP "Bail out!"). */
__attribute__((unused))
static struct gpu_image rng_image(int w, int h, int ch)
{
	struct gpu_image img;
	struct err e;

	if (gpu_image_alloc(&img, w, h, ch, &e) < 0) {
		printf("Bail out! %s\n", e.msg);
		exit(2);
	}
	return img;
}

/* Fill img with noise (all bytes random). */
__attribute__((unused))
static void rng_fill(const struct gpu_image *img)
{
	int y, x;

	for (y = 0; y < img->height; y++)
		for (x = 0; x < img->width * img->channels; x++)
			img->data[(size_t)y * img->stride + x] = (uint8_t)rng_u32();
}

/* Fill img with smooth content: a few random gradients, plus noise of
 * amplitude `noise`, alpha (4 channels) with soft random discs. */
__attribute__((unused))
static void rng_fill_smooth(const struct gpu_image *img, int noise)
{
	double g[4][3];
	int y, x, c;

	for (c = 0; c < 4; c++) {
		g[c][0] = rng_int(0, 255);
		g[c][1] = (rng_unit() - 0.5) * 2.0 * 255.0 / img->width;
		g[c][2] = (rng_unit() - 0.5) * 2.0 * 255.0 / img->height;
	}
	for (y = 0; y < img->height; y++)
		for (x = 0; x < img->width; x++)
			for (c = 0; c < img->channels; c++) {
				double v = g[c][0] + g[c][1] * x + g[c][2] * y;

				if (noise)
					v += rng_int(-noise, noise);
				v = v < 0 ? -v : v;
				while (v > 255)
					v = v > 510 ? v - 510 : 510 - v;
				img->data[(size_t)y * img->stride + (size_t)x * img->channels + c] =
					(uint8_t)v;
			}
}

#endif
