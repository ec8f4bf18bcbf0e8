/* bench_video.c: product-video frame synthesis, frames per second at
 * 1080x1080, on the GPU and on the CPU references of the same machine.
 *
 * A frame is what media/video_frames.c makes in a dissolve, its most
 * expensive kind: for each plane of YUV 4:2:0 (Y 1080x1080, U and V
 * 540x540), two stills (prepared at 1.12x the frame: 1210x1210 and
 * 605x605) warped with bilinear sampling under a moving pan and zoom, then
 * blended.  Four still pairs rotate, as a clip moves from still to still.
 *
 *   GPU, frames kept on the device     (goal >= 2000 frames/s on an H200)
 *   GPU, each frame downloaded to pinned host memory (what the encoder
 *     needs; same goal)
 *   CPU references, OpenMP on every core of the machine, for the ratio
 *
 * Timed with the host clock around a synchronised stream, after a warm-up;
 * the median of 5 runs.  Without a device the GPU lines print
 * "missed (no GPU: owed)".  BENCH_QUICK=1 runs fewer frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../crossfade.h"
#include "../device.h"
#include "../warp.h"
#include "../tests/rng.h"

#define SIDE 1080
#define SRC 1210
#define PAIRS 4
#define GOAL_FPS 2000.0

struct planes {
	struct gpu_image p[3];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int side_of(int plane, int full)
{
	return plane ? (full + 1) / 2 : full;
}

static void host_planes(struct planes *p, int full, int random)
{
	struct err e;

	for (int k = 0; k < 3; k++) {
		int s = side_of(k, full);
		if (gpu_image_alloc(&p->p[k], s, s, 1, &e) < 0) {
			printf("Bail out! %s\n", e.msg);
			exit(1);
		}
		if (random)
			for (size_t i = 0; i < (size_t)s * s; i++)
				p->p[k].data[i] = (uint8_t)rng_u32();
	}
}

/* The map of frame i for one plane: a slow zoom and drift. */
static void frame_map(double m[6], int i, int plane, int which)
{
	double div = plane ? 2.0 : 1.0, z = 1.0 + 0.12 * ((i + 37 * which) % 180) / 180.0;
	double w = SRC / z, x0 = (SRC - w) * 0.5 * (1 + 0.5 * which);

	gpu_warp_window(m, x0 / div, x0 * 0.7 / div, w / div, w / div, side_of(plane, SIDE),
			side_of(plane, SIDE));
}

typedef int (*warp_fn)(const struct gpu_image *, const struct gpu_image *, const double *,
		       void *, struct err *);
typedef int (*fade_fn)(const struct gpu_image *, const struct gpu_image *, double, void *,
		       struct err *);

static int cpu_warp(const struct gpu_image *s, const struct gpu_image *d, const double *m,
		    void *stream, struct err *e)
{
	return gpu_warp_ref(s, d, m, GPU_WARP_BILINEAR, e);
}

static int cpu_fade(const struct gpu_image *a, const struct gpu_image *b, double t, void *stream,
		    struct err *e)
{
	return gpu_crossfade_ref(a, b, a, t, e);
}

static int gpu_warp(const struct gpu_image *s, const struct gpu_image *d, const double *m,
		    void *stream, struct err *e)
{
	return gpu_warp_launch(s, d, m, GPU_WARP_BILINEAR, stream, e);
}

static int gpu_fade(const struct gpu_image *a, const struct gpu_image *b, double t, void *stream,
		    struct err *e)
{
	return gpu_crossfade_launch(a, b, a, t, stream, e);
}

/* n dissolve frames; with host != NULL each is downloaded there. */
static int frames(int n, struct planes stills[PAIRS][2], struct planes *out, struct planes *tmp,
		  warp_fn warp, fade_fn fade, void *stream, struct planes *host, struct err *e)
{
	for (int i = 0; i < n; i++) {
		struct planes *pair = stills[i % PAIRS];
		for (int k = 0; k < 3; k++) {
			double ma[6], mb[6];

			frame_map(ma, i, k, 0);
			frame_map(mb, i, k, 1);
			if (warp(&pair[0].p[k], &out->p[k], ma, stream, e) < 0 ||
			    warp(&pair[1].p[k], &tmp->p[k], mb, stream, e) < 0 ||
			    fade(&out->p[k], &tmp->p[k], (i % 23) / 23.0, stream, e) < 0)
				return -1;
			if (host && gpu_warp_dev_download(&out->p[k], &host->p[k], stream, e) < 0)
				return -1;
		}
	}
	return stream ? gpu_warp_stream_sync(stream, e) : 0;
}

static double median_fps(int n, struct planes stills[PAIRS][2], struct planes *out,
			 struct planes *tmp, warp_fn warp, fade_fn fade, void *stream,
			 struct planes *host, struct err *e)
{
	double t[5];

	if (frames(n / 10 + 1, stills, out, tmp, warp, fade, stream, host, e) < 0)
		return -1;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		if (frames(n, stills, out, tmp, warp, fade, stream, host, e) < 0)
			return -1;
		t[r] = n / (now() - t0);
	}
	qsort(t, 5, sizeof *t, cmp_double);
	return t[2];
}

int main(void)
{
	struct err e;
	struct planes cs[PAIRS][2], cout, ctmp;
	int quick = getenv("BENCH_QUICK") && *getenv("BENCH_QUICK") == '1';
	int threads = 1;
	char dev[256];

#ifdef _OPENMP
	threads = omp_get_max_threads();
#endif
	rng_seed(1);
	for (int p = 0; p < PAIRS; p++)
		for (int s = 0; s < 2; s++)
			host_planes(&cs[p][s], SRC, 1);
	host_planes(&cout, SIDE, 0);
	host_planes(&ctmp, SIDE, 0);
	gpu_device_describe(dev, sizeof dev);
	printf("# bench_video: dissolve frames at %dx%d (YUV 4:2:0, 2 bilinear warps + a crossfade "
	       "per plane), %d still pairs rotating; device: %s\n", SIDE, SIDE, PAIRS, dev);

	double cpu = median_fps(quick ? 20 : 60, cs, &cout, &ctmp, cpu_warp, cpu_fade, NULL, NULL, &e);
	if (cpu < 0) {
		printf("Bail out! %s\n", e.msg);
		return 1;
	}
	printf("# cpu references, OpenMP on %d threads: %.0f frames/s\n", threads, cpu);

	if (gpu_device_count() == 0) {
		printf("measure: video frames/s %dx%d on the GPU, frames kept on the device: none "
		       "(goal: >= %.0f) missed (no GPU: owed)\n", SIDE, SIDE, GOAL_FPS);
		printf("measure: video frames/s %dx%d on the GPU, each downloaded: none "
		       "(goal: >= %.0f) missed (no GPU: owed)\n", SIDE, SIDE, GOAL_FPS);
		printf("measure: video frames/s GPU / CPU on %d threads: none (no goal) owed\n",
		       threads);
		return 0;
	}

	struct planes ds[PAIRS][2], dout, dtmp, pinned;
	void *stream = NULL;
	if (gpu_warp_stream_new(&stream, &e) < 0)
		goto fail;
	for (int p = 0; p < PAIRS; p++)
		for (int s = 0; s < 2; s++)
			for (int k = 0; k < 3; k++)
				if (gpu_warp_dev_alloc(&ds[p][s].p[k], cs[p][s].p[k].width,
						       cs[p][s].p[k].height, 1, &e) < 0 ||
				    gpu_warp_dev_upload(&cs[p][s].p[k], &ds[p][s].p[k], &e) < 0)
					goto fail;
	for (int k = 0; k < 3; k++) {
		int s = side_of(k, SIDE);
		if (gpu_warp_dev_alloc(&dout.p[k], s, s, 1, &e) < 0 ||
		    gpu_warp_dev_alloc(&dtmp.p[k], s, s, 1, &e) < 0)
			goto fail;
		pinned.p[k] = (struct gpu_image){ gpu_pinned_alloc((size_t)s * s, &e), s, s, 1, (size_t)s };
		if (!pinned.p[k].data)
			goto fail;
	}
	double on_dev = median_fps(quick ? 500 : 4000, ds, &dout, &dtmp, gpu_warp, gpu_fade, stream,
				   NULL, &e);
	double with_dl = on_dev < 0 ? -1
				    : median_fps(quick ? 500 : 4000, ds, &dout, &dtmp, gpu_warp,
						 gpu_fade, stream, &pinned, &e);
	if (on_dev < 0 || with_dl < 0)
		goto fail;
	printf("measure: video frames/s %dx%d on the GPU, frames kept on the device: %.0f "
	       "(goal: >= %.0f) %s\n", SIDE, SIDE, on_dev, GOAL_FPS, on_dev >= GOAL_FPS ? "met" : "missed");
	printf("measure: video frames/s %dx%d on the GPU, each downloaded: %.0f (goal: >= %.0f) %s\n",
	       SIDE, SIDE, with_dl, GOAL_FPS, with_dl >= GOAL_FPS ? "met" : "missed");
	printf("measure: video frames/s GPU / CPU on %d threads: %.1fx (no goal)\n", threads,
	       with_dl / cpu);
	gpu_warp_stream_free(stream);
	return 0;
fail:
	printf("Bail out! %s\n", e.msg);
	return 1;
}
