/* test_warp.c: the warp and crossfade of product-video frames (warp.h,
 * crossfade.h): the CPU references against known answers, then the kernels
 * against the references on fresh random inputs (seed printed;
 * GPU_TEST_SEED repeats a run), outputs poisoned before each run.
 *
 * Tolerances: bilinear, exact on axis-aligned maps (pan and zoom: the
 * source position is the same double arithmetic on both sides) and within
 * 1 level elsewhere, at most 0.1% of samples off; bicubic within 1 level
 * (float weights, FMA contraction); crossfade exact (integers).  A whole
 * frame (Y, U, V planes; two warps and a dissolve, as media/video_frames.c
 * makes them) must match the CPU's within the same bounds.
 *
 * Without a device every GPU case prints "ok N - name # SKIP no CUDA device". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../crossfade.h"
#include "../device.h"
#include "../warp.h"
#include "rng.h"
#include "tap.h"

static struct gpu_image mk(int w, int h, int ch)
{
	struct gpu_image img;
	struct err e;

	if (gpu_image_alloc(&img, w, h, ch, &e) < 0) {
		printf("Bail out! %s\n", e.msg);
		exit(1);
	}
	return img;
}

static void fill(struct gpu_image *img)
{
	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width * img->channels; x++)
			img->data[(size_t)y * img->stride + x] = (uint8_t)rng_u32();
}

static void poison(struct gpu_image *img)
{
	fill(img);
}

/* max |a - b| and how many samples differ */
static int compare(const struct gpu_image *a, const struct gpu_image *b, long *differ)
{
	int worst = 0;

	*differ = 0;
	for (int y = 0; y < a->height; y++)
		for (int x = 0; x < a->width * a->channels; x++) {
			int d = abs(a->data[(size_t)y * a->stride + x] - b->data[(size_t)y * b->stride + x]);
			if (d > worst)
				worst = d;
			*differ += d != 0;
		}
	return worst;
}

static double urand(double lo, double hi)
{
	return lo + (hi - lo) * (rng_u32() / 4294967296.0);
}

static void ref_cases(void)
{
	struct err e;
	struct gpu_image src = mk(40, 30, 3), dst = mk(40, 30, 3);
	double id[6] = { 1, 0, 0, 0, 1, 0 };
	int ok = 1;

	fill(&src);
	for (int f = 0; f < 2; f++) {
		poison(&dst);
		ok &= gpu_warp_ref(&src, &dst, id, (enum gpu_warp_filter)f, &e) == 0 &&
		      memcmp(src.data, dst.data, src.stride * src.height) == 0;
	}
	tap_ok(ok, "reference: the identity map copies the image (both filters)");

	struct gpu_image ramp = mk(64, 4, 1), half = mk(63, 4, 1);
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 64; x++)
			ramp.data[y * ramp.stride + x] = (uint8_t)(3 * x);
	double m[6] = { 1, 0, 0.5, 0, 1, 0 };
	ok = gpu_warp_ref(&ramp, &half, m, GPU_WARP_BILINEAR, &e) == 0;
	for (int x = 0; x < 63 && ok; x++)
		ok = half.data[x] == (uint8_t)((3 * x + 3 * (x + 1) + 1) / 2);
	tap_ok(ok, "reference: a half-pixel shift of a ramp gives the midpoints");

	struct gpu_image a = mk(17, 5, 2), b = mk(17, 5, 2), d = mk(17, 5, 2);
	fill(&a);
	fill(&b);
	ok = gpu_crossfade_ref(&a, &b, &d, 0, &e) == 0 && memcmp(d.data, a.data, a.stride * 5) == 0 &&
	     gpu_crossfade_ref(&a, &b, &d, 1, &e) == 0 && memcmp(d.data, b.data, b.stride * 5) == 0;
	tap_ok(ok, "reference: a crossfade at 0 and 1 gives its ends, exactly");

	gpu_image_release(&src);
	gpu_image_release(&dst);
	gpu_image_release(&ramp);
	gpu_image_release(&half);
	gpu_image_release(&a);
	gpu_image_release(&b);
	gpu_image_release(&d);
}

static void gpu_warp_cases(int have_gpu)
{
	const char *name[2][2] = {
		{ "gpu warp bilinear, pan and zoom: exact", "gpu warp bilinear, rotated: within 1 level" },
		{ "gpu warp bicubic, pan and zoom: within 1 level", "gpu warp bicubic, rotated: within 1 level" },
	};
	struct err e;

	for (int f = 0; f < 2; f++)
		for (int rot = 0; rot < 2; rot++) {
			if (!have_gpu) {
				tap_skip(name[f][rot], "no CUDA device");
				continue;
			}
			int worst_all = 0, ok = 1;
			long differ_all = 0, samples = 0;
			for (int round = 0; round < 8 && ok; round++) {
				int ch = 1 + (int)(rng_u32() % 4);
				int sw = 50 + (int)(rng_u32() % 700), sh = 50 + (int)(rng_u32() % 500);
				int dw = 40 + (int)(rng_u32() % 600), dh = 40 + (int)(rng_u32() % 400);
				struct gpu_image src = mk(sw, sh, ch), c = mk(dw, dh, ch), g = mk(dw, dh, ch);
				double z = urand(0.75, 1.6), ang = rot ? urand(-0.5, 0.5) : 0;
				double m[6] = { z * cos(ang), rot ? -z * sin(ang) : 0, urand(-20, sw * 0.5),
						rot ? z * sin(ang) : 0, z * cos(ang), urand(-20, sh * 0.5) };
				long differ;

				fill(&src);
				poison(&c);
				poison(&g);
				if (gpu_warp_ref(&src, &c, m, (enum gpu_warp_filter)f, &e) < 0 ||
				    gpu_warp_cuda(&src, &g, m, (enum gpu_warp_filter)f, &e) < 0) {
					tap_diag("%s", e.msg);
					ok = 0;
				} else {
					int worst = compare(&c, &g, &differ);
					if (worst > worst_all)
						worst_all = worst;
					differ_all += differ;
					samples += (long)dw * dh * ch;
				}
				gpu_image_release(&src);
				gpu_image_release(&c);
				gpu_image_release(&g);
			}
			if (ok)
				tap_diag("%s: max difference %d, %ld of %ld samples differ", name[f][rot],
					 worst_all, differ_all, samples);
			if (f == GPU_WARP_BILINEAR && !rot)
				ok = ok && worst_all == 0;
			else
				ok = ok && worst_all <= 1 && (f == GPU_WARP_BICUBIC || differ_all * 1000 <= samples);
			tap_ok(ok, "%s", name[f][rot]);
		}
}

static void gpu_crossfade_case(int have_gpu)
{
	const char *name = "gpu crossfade: exact at random weights";
	struct err e;
	int ok = 1;

	if (!have_gpu) {
		tap_skip(name, "no CUDA device");
		return;
	}
	for (int round = 0; round < 8 && ok; round++) {
		int ch = 1 + (int)(rng_u32() % 4), w = 1 + (int)(rng_u32() % 900), h = 1 + (int)(rng_u32() % 300);
		struct gpu_image a = mk(w, h, ch), b = mk(w, h, ch), c = mk(w, h, ch), g = mk(w, h, ch);
		double t = urand(-0.1, 1.1);
		long differ;

		fill(&a);
		fill(&b);
		poison(&c);
		poison(&g);
		if (gpu_crossfade_ref(&a, &b, &c, t, &e) < 0 || gpu_crossfade_cuda(&a, &b, &g, t, &e) < 0) {
			tap_diag("%s", e.msg);
			ok = 0;
		} else {
			ok = compare(&c, &g, &differ) == 0;
		}
		gpu_image_release(&a);
		gpu_image_release(&b);
		gpu_image_release(&c);
		gpu_image_release(&g);
	}
	tap_ok(ok, "%s", name);
}

/* A 1080x1080 frame the way media/video_frames.c makes one in a dissolve:
 * for each plane (Y, then U and V at half size), still A warped, still B
 * warped, blended; on the device with the frame kept there, downloaded once. */
static void gpu_frame_case(int have_gpu)
{
	const char *name = "gpu frame (3 planes, 2 warps, a dissolve) matches the CPU frame exactly";
	struct err e;
	int ok = 1;
	void *stream = NULL;

	if (!have_gpu) {
		tap_skip(name, "no CUDA device");
		return;
	}
	if (gpu_warp_stream_new(&stream, &e) < 0) {
		tap_diag("%s", e.msg);
		tap_ok(0, "%s", name);
		return;
	}
	for (int p = 0; p < 3 && ok; p++) {
		int fw = p ? 540 : 1080, sw = p ? 605 : 1210;
		struct gpu_image sa = mk(sw, sw, 1), sb = mk(sw, sw, 1), ca = mk(fw, fw, 1),
				 cb = mk(fw, fw, 1), gout = mk(fw, fw, 1);
		struct gpu_image dsa = { 0 }, dsb = { 0 }, dfa = { 0 }, dfb = { 0 };
		double ma[6], mb[6];
		long differ;

		fill(&sa);
		fill(&sb);
		poison(&gout);
		gpu_warp_window(ma, 30.25 / (p ? 2 : 1), 12.5 / (p ? 2 : 1), sw / 1.05, sw / 1.05, fw, fw);
		gpu_warp_window(mb, 0, 0, sw, sw, fw, fw);
		if (gpu_warp_ref(&sa, &ca, ma, GPU_WARP_BILINEAR, &e) < 0 ||
		    gpu_warp_ref(&sb, &cb, mb, GPU_WARP_BILINEAR, &e) < 0 ||
		    gpu_crossfade_ref(&ca, &cb, &ca, 0.37, &e) < 0 ||
		    gpu_warp_dev_alloc(&dsa, sw, sw, 1, &e) < 0 || gpu_warp_dev_alloc(&dsb, sw, sw, 1, &e) < 0 ||
		    gpu_warp_dev_alloc(&dfa, fw, fw, 1, &e) < 0 || gpu_warp_dev_alloc(&dfb, fw, fw, 1, &e) < 0 ||
		    gpu_warp_dev_upload(&sa, &dsa, &e) < 0 || gpu_warp_dev_upload(&sb, &dsb, &e) < 0 ||
		    gpu_warp_launch(&dsa, &dfa, ma, GPU_WARP_BILINEAR, stream, &e) < 0 ||
		    gpu_warp_launch(&dsb, &dfb, mb, GPU_WARP_BILINEAR, stream, &e) < 0 ||
		    gpu_crossfade_launch(&dfa, &dfb, &dfa, 0.37, stream, &e) < 0 ||
		    gpu_warp_dev_download(&dfa, &gout, stream, &e) < 0 ||
		    gpu_warp_stream_sync(stream, &e) < 0) {
			tap_diag("%s", e.msg);
			ok = 0;
		} else {
			ok = compare(&ca, &gout, &differ) == 0;
			if (!ok)
				tap_diag("plane %d: %ld samples differ", p, differ);
		}
		gpu_warp_dev_free(&dsa);
		gpu_warp_dev_free(&dsb);
		gpu_warp_dev_free(&dfa);
		gpu_warp_dev_free(&dfb);
		gpu_image_release(&sa);
		gpu_image_release(&sb);
		gpu_image_release(&ca);
		gpu_image_release(&cb);
		gpu_image_release(&gout);
	}
	gpu_warp_stream_free(stream);
	tap_ok(ok, "%s", name);
}

int main(void)
{
	int have_gpu = gpu_device_count() > 0;

	rng_seed(tap_seed());
	ref_cases();
	gpu_warp_cases(have_gpu);
	gpu_crossfade_case(have_gpu);
	gpu_frame_case(have_gpu);
	return tap_done();
}
