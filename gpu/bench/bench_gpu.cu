/* bench_gpu.cu: what the pixel ops achieve, GPU and CPU, in one run.
 *
 * GPU (when a device is present):
 *   - the ceiling: a measured cudaMemcpy device-to-device copy of 1 GiB,
 *     counted as bytes read + bytes written;
 *   - each kernel's achieved bandwidth: the fewest bytes it must move (each
 *     input read once, each output written once) over its median time,
 *     inputs rotated among enough sets to defeat the L2; the ratio to the
 *     copy has the goal >= 0.75 for the memory-bound kernels (composite,
 *     shade, colour stats, colour transfer, resample); blur and matte are
 *     reported without a goal (compute-bound taps; an iterative flood);
 *   - the pixel stages of the lifestyle pipeline (matte, colour stats and
 *     transfer, resample 3000x3000 -> 1640x1640, shadow blur, shade,
 *     composite into 2048x2048; decode and encode excluded), images/s, GPU
 *     vs the CPU references with OpenMP on every core of the same machine:
 *     goal >= 20x.
 * CPU (always): the references' speed on the same sizes, and the CPU
 * pipeline.  Without a device every GPU measure prints
 * "missed (no GPU: owed)": no number is invented.
 *
 * BENCH_QUICK=1 runs fewer repetitions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../device.h"
#include "../kernels.h"
#include "../tests/rng.h"

#define PW 3000          /* product photo */
#define OUT_SIDE 2048    /* output frame */
#define FIT 1640         /* product after resampling: 80% of the frame */

static int quick;

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

static double median(double *v, int n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, const struct err *e)
{
	printf("bench_gpu: %s: %s\n", what, e ? e->msg : "failed");
	exit(1);
}

static struct gpu_image host_image(int w, int h, int ch)
{
	struct gpu_image img;
	struct err e;

	if (gpu_image_alloc(&img, w, h, ch, &e) < 0)
		die("host image", &e);
	return img;
}

/* A studio product shot: near-white background with sensor noise, a
 * textured product (a rounded box and a disc) with anti-aliased edges. */
static void make_product(const struct gpu_image *img)
{
	int y;

	for (y = 0; y < img->height; y++) {
		int x;

		for (x = 0; x < img->width; x++) {
			uint8_t *p = gpu_image_px(img, x, y);
			double dx = (x + 0.5) - img->width * 0.5, dy = (y + 0.5) - img->height * 0.55;
			double box = fmax(fabs(dx) - img->width * 0.22, fabs(dy) - img->height * 0.3);
			double disc = sqrt(dx * dx + (dy + img->height * 0.3) * (dy + img->height * 0.3)) -
				      img->width * 0.16;
			double d = fmin(box, disc), cover = fmin(fmax(0.5 - d, 0.0), 1.0);
			int c;

			for (c = 0; c < 3; c++) {
				double bg = 246 + rng_int(-3, 3);
				double fg = (c == 0 ? 150 : c == 1 ? 90 : 60) + 40 * sin(x * 0.01 + c) +
					    rng_int(-6, 6);

				p[c] = (uint8_t)lround(fg * cover + bg * (1 - cover));
			}
		}
	}
}

/* the pipeline's parameters, both devices */
static const struct gpu_matte_params matte_p = { 6.0f, 14.0f, 4, 1.0f };
static const struct gpu_transfer_params transfer_p = { 0.6f, 10.0f, 8.0f, 0.8f, 1.25f };
static const uint8_t shadow_rgb[3] = { 0, 0, 0 };
#define PX ((OUT_SIDE - FIT) / 2)
#define PY (OUT_SIDE - FIT - 60)
#define SHADOW_SIGMA 16.0f

/* The pipeline on the CPU references: product (RGB) and scene (RGB) in,
 * out (RGB) filled.  Work buffers are the caller's. */
struct cpu_work {
	struct gpu_image rgba, fit, shadow;
};

static void cpu_pipeline(const struct gpu_image *product, const struct gpu_image *scene,
			 const struct gpu_image *out, struct cpu_work *w)
{
	const struct gpu_ops *o = &gpu_ops_ref;
	struct gpu_colour_stats ps, ss;
	struct err e;

	if (o->matte(product, &w->rgba, &matte_p, NULL, &e) < 0 ||
	    o->colour_stats(&w->rgba, NULL, &ps, &e) < 0 ||
	    o->colour_stats(scene, NULL, &ss, &e) < 0 ||
	    o->colour_transfer(&w->rgba, &w->rgba, &ps, &ss, &transfer_p, &e) < 0 ||
	    o->resample(&w->rgba, &w->fit, GPU_RESAMPLE_LANCZOS3, &e) < 0 ||
	    o->blur(&w->fit, &w->shadow, SHADOW_SIGMA, &e) < 0)
		die("cpu pipeline", &e);
	memcpy(out->data, scene->data, (size_t)scene->height * scene->stride);
	if (o->shade(out, &w->shadow, PX + 20, PY + 30, shadow_rgb, 0.45f, &e) < 0 ||
	    o->composite(out, &w->fit, PX, PY, 1.0f, &e) < 0)
		die("cpu pipeline", &e);
}

static double time_cpu(const char *name, double bytes, int reps, void (*fn)(void *), void *arg)
{
	double t[16], m;
	int i;

	if (reps > 16)
		reps = 16;
	for (i = 0; i < reps; i++) {
		double t0 = now();

		fn(arg);
		t[i] = now() - t0;
	}
	m = median(t, reps);
	if (bytes > 0)
		printf("cpu: %-44s %9.2f ms  %8.2f GB/s\n", name, m * 1e3, bytes / m / 1e9);
	else
		printf("cpu: %-44s %9.2f ms\n", name, m * 1e3);
	return m;
}

/* CPU cases */
struct cpu_case {
	struct gpu_image a, b, c;
	struct gpu_colour_stats s;
};

static void c_matte(void *p)
{
	struct cpu_case *k = (struct cpu_case *)p;
	struct err e;

	if (gpu_ops_ref.matte(&k->a, &k->b, &matte_p, NULL, &e) < 0)
		die("cpu matte", &e);
}

static void c_resample(void *p)
{
	struct cpu_case *k = (struct cpu_case *)p;
	struct err e;

	if (gpu_ops_ref.resample(&k->b, &k->c, GPU_RESAMPLE_LANCZOS3, &e) < 0)
		die("cpu resample", &e);
}

static void c_stats(void *p)
{
	struct cpu_case *k = (struct cpu_case *)p;
	struct err e;

	if (gpu_ops_ref.colour_stats(&k->c, NULL, &k->s, &e) < 0)
		die("cpu colour stats", &e);
}

static void c_transfer(void *p)
{
	struct cpu_case *k = (struct cpu_case *)p;
	struct gpu_colour_stats to = k->s;
	struct err e;

	to.mean[0] += 5;
	if (gpu_ops_ref.colour_transfer(&k->c, &k->c, &k->s, &to, &transfer_p, &e) < 0)
		die("cpu colour transfer", &e);
}

struct cpu_pipe_arg {
	const struct gpu_image *product, *scene, *out;
	struct cpu_work *w;
};

static void c_pipeline(void *p)
{
	struct cpu_pipe_arg *a = (struct cpu_pipe_arg *)p;

	cpu_pipeline(a->product, a->scene, a->out, a->w);
}

/* ---- GPU ---- */

#define CK(call, what)                                                              \
	do {                                                                        \
		cudaError_t rc_ = (call);                                           \
		if (rc_ != cudaSuccess) {                                           \
			printf("bench_gpu: %s: %s\n", what, cudaGetErrorString(rc_)); \
			exit(1);                                                    \
		}                                                                   \
	} while (0)

static struct gpu_image dev_image(int w, int h, int ch)
{
	struct gpu_image d;
	struct err e;

	if (gpu_dev_image_alloc(&d, w, h, ch, &e) < 0)
		die("device image", &e);
	return d;
}

static void upload(const struct gpu_image *h, const struct gpu_image *d)
{
	CK(cudaMemcpy2D(d->data, d->stride, h->data, h->stride, (size_t)h->width * h->channels,
			h->height, cudaMemcpyHostToDevice), "upload");
}

/* a device image of random bytes (alpha never 0: nothing is skipped) */
static struct gpu_image dev_random(int w, int h, int ch)
{
	struct gpu_image hi = host_image(w, h, ch), d = dev_image(w, h, ch);
	int y, x;

	rng_fill(&hi);
	if (ch == 4)
		for (y = 0; y < h; y++)
			for (x = 0; x < w; x++)
				gpu_image_px(&hi, x, y)[3] |= 1;
	upload(&hi, &d);
	gpu_image_release(&hi);
	return d;
}

static double copy_bw;   /* bytes/s */

static void gpu_copy_ceiling(void)
{
	size_t n = (size_t)1 << 30;
	void *a, *b;
	cudaEvent_t e0, e1;
	double t[30];
	int i, reps = quick ? 5 : 30;
	float ms;

	CK(cudaMalloc(&a, n), "copy buffers");
	CK(cudaMalloc(&b, n), "copy buffers");
	CK(cudaMemset(a, 0x5a, n), "copy buffers");
	CK(cudaEventCreate(&e0), "events");
	CK(cudaEventCreate(&e1), "events");
	for (i = 0; i < 3; i++)
		CK(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice), "copy");
	for (i = 0; i < reps; i++) {
		CK(cudaEventRecord(e0, 0), "copy");
		CK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice, 0), "copy");
		CK(cudaEventRecord(e1, 0), "copy");
		CK(cudaEventSynchronize(e1), "copy");
		CK(cudaEventElapsedTime(&ms, e0, e1), "copy");
		t[i] = ms * 1e-3;
	}
	copy_bw = 2.0 * n / median(t, reps);
	printf("gpu: device-to-device copy of 1 GiB: %.1f GB/s (read + written)\n", copy_bw / 1e9);
	cudaFree(a);
	cudaFree(b);
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
}

/* One kernel's case: nsets input sets, a launch on set i. */
struct kcase {
	const char *name;
	double bytes;          /* fewest bytes moved per launch */
	int memory_bound;
	const char *why_not;   /* for the others */
	void (*launch)(struct kcase *k, int set);
	int nsets;
	struct gpu_image a[64], b[64], c[64];
	struct gpu_resample_plan plan;
	struct gpu_scratch scratch;
	struct gpu_matte_work mw;
};

static void k_composite(struct kcase *k, int i)
{
	struct err e;

	if (gpu_composite_launch(&k->a[i], &k->b[i], 0, 0, 1.0f, 0, &e) < 0)
		die("composite", &e);
}

static void k_shade(struct kcase *k, int i)
{
	struct err e;

	if (gpu_shade_launch(&k->a[i], &k->b[i], 0, 0, shadow_rgb, 0.45f, 0, &e) < 0)
		die("shade", &e);
}

static void k_transfer(struct kcase *k, int i)
{
	static const float sc[3] = { 1.1f, 0.9f, 1.05f }, of[3] = { 2.0f, -1.0f, 1.5f };
	struct err e;

	if (gpu_colour_transfer_launch(&k->a[i], &k->b[i], sc, of, 0, &e) < 0)
		die("colour transfer", &e);
}

static void k_stats(struct kcase *k, int i)
{
	struct gpu_colour_stats s;
	struct err e;

	if (gpu_colour_stats_launch(&k->a[i], NULL, &s, &k->scratch, 0, &e) < 0)
		die("colour stats", &e);
}

static void k_resample(struct kcase *k, int i)
{
	struct err e;

	if (gpu_resample_launch(&k->plan, &k->a[i], &k->b[i], 0, &e) < 0)
		die("resample", &e);
}

static void k_blur(struct kcase *k, int i)
{
	struct err e;

	if (gpu_blur_launch(&k->a[i], &k->b[i], SHADOW_SIGMA, &k->scratch, 0, &e) < 0)
		die("blur", &e);
}

static void k_matte(struct kcase *k, int i)
{
	struct err e;

	if (gpu_matte_launch(&k->a[i], &k->b[i], &matte_p, NULL, &k->mw, 0, &e) < 0)
		die("matte", &e);
}

static void run_kcase(struct kcase *k)
{
	cudaEvent_t e0, e1;
	double t[64], m, ratio;
	int i, reps = quick ? 5 : 40;
	float ms;

	CK(cudaEventCreate(&e0), "events");
	CK(cudaEventCreate(&e1), "events");
	for (i = 0; i < 3; i++)
		k->launch(k, i % k->nsets);
	CK(cudaDeviceSynchronize(), k->name);
	for (i = 0; i < reps; i++) {
		CK(cudaEventRecord(e0, 0), k->name);
		k->launch(k, i % k->nsets);
		CK(cudaEventRecord(e1, 0), k->name);
		CK(cudaEventSynchronize(e1), k->name);
		CK(cudaEventElapsedTime(&ms, e0, e1), k->name);
		t[i] = ms * 1e-3;
	}
	m = median(t, reps);
	ratio = k->bytes / m / copy_bw;
	if (k->memory_bound)
		printf("measure: %s bandwidth %.1f GB/s in %.3f ms = %.2f of the copy (goal: >= 0.75) %s\n",
		       k->name, k->bytes / m / 1e9, m * 1e3, ratio, ratio >= 0.75 ? "met" : "missed");
	else
		printf("gpu: %s bandwidth %.1f GB/s in %.3f ms = %.2f of the copy (no goal: %s)\n",
		       k->name, k->bytes / m / 1e9, m * 1e3, ratio, k->why_not);
	fflush(stdout);
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
}

/* sets so that one pass over them is at least 4x a 60 MB L2 */
static int sets_for(double bytes)
{
	int n = (int)ceil(240e6 / bytes);

	return n < 2 ? 2 : (n > 64 ? 64 : n);
}

static void release_kcase(struct kcase *k)
{
	int i;

	for (i = 0; i < k->nsets; i++) {
		gpu_dev_image_free(&k->a[i]);
		gpu_dev_image_free(&k->b[i]);
		gpu_dev_image_free(&k->c[i]);
	}
	gpu_resample_plan_release(&k->plan);
	gpu_scratch_release(&k->scratch);
	gpu_matte_work_release(&k->mw);
}

static void gpu_kernels(const struct gpu_image *product)
{
	const double S = (double)OUT_SIDE * OUT_SIDE;
	struct kcase *k = (struct kcase *)calloc(1, sizeof *k);
	struct err e;
	int i;

	if (!k)
		die("kernel cases", NULL);

	/* composite: RGBA layer over RGB frame, in place */
	k->name = "composite 2048x2048 RGBA over RGB";
	k->bytes = S * 4 + S * 3 * 2;
	k->memory_bound = 1;
	k->launch = k_composite;
	k->nsets = sets_for(k->bytes);
	for (i = 0; i < k->nsets; i++) {
		k->a[i] = dev_random(OUT_SIDE, OUT_SIDE, 3);
		k->b[i] = dev_random(OUT_SIDE, OUT_SIDE, 4);
	}
	run_kcase(k);
	release_kcase(k);
	memset(k, 0, sizeof *k);

	k->name = "shade 2048x2048 mask over RGB";
	k->bytes = S * 1 + S * 3 * 2;
	k->memory_bound = 1;
	k->launch = k_shade;
	k->nsets = sets_for(k->bytes);
	for (i = 0; i < k->nsets; i++) {
		k->a[i] = dev_random(OUT_SIDE, OUT_SIDE, 3);
		k->b[i] = dev_random(OUT_SIDE, OUT_SIDE, 1);
	}
	run_kcase(k);
	release_kcase(k);
	memset(k, 0, sizeof *k);

	k->name = "colour transfer 2048x2048 RGBA";
	k->bytes = S * 4 * 2;
	k->memory_bound = 1;
	k->launch = k_transfer;
	k->nsets = sets_for(k->bytes);
	for (i = 0; i < k->nsets; i++) {
		k->a[i] = dev_random(OUT_SIDE, OUT_SIDE, 4);
		k->b[i] = dev_image(OUT_SIDE, OUT_SIDE, 4);
	}
	run_kcase(k);
	release_kcase(k);
	memset(k, 0, sizeof *k);

	k->name = "colour stats 2048x2048 RGBA";
	k->bytes = S * 4;
	k->memory_bound = 1;
	k->launch = k_stats;
	k->nsets = sets_for(k->bytes);
	for (i = 0; i < k->nsets; i++)
		k->a[i] = dev_random(OUT_SIDE, OUT_SIDE, 4);
	run_kcase(k);
	release_kcase(k);
	memset(k, 0, sizeof *k);

	k->name = "resample 3000x3000 -> 1640x1640 RGBA Lanczos3";
	k->bytes = (double)PW * PW * 4 + (double)FIT * FIT * 4;
	k->memory_bound = 1;
	k->launch = k_resample;
	k->nsets = sets_for(k->bytes);
	for (i = 0; i < k->nsets; i++) {
		k->a[i] = dev_random(PW, PW, 4);
		k->b[i] = dev_image(FIT, FIT, 4);
	}
	if (gpu_resample_plan_make(&k->plan, PW, PW, FIT, FIT, 4, GPU_RESAMPLE_LANCZOS3, &e) < 0)
		die("resample plan", &e);
	run_kcase(k);
	release_kcase(k);
	memset(k, 0, sizeof *k);

	k->name = "blur 2048x2048 alpha sigma 16";
	k->bytes = S * 4 + S;
	k->memory_bound = 0;
	k->why_not = "97 taps per sample and pass";
	k->launch = k_blur;
	k->nsets = sets_for(k->bytes);
	for (i = 0; i < k->nsets; i++) {
		k->a[i] = dev_random(OUT_SIDE, OUT_SIDE, 4);
		k->b[i] = dev_image(OUT_SIDE, OUT_SIDE, 1);
	}
	run_kcase(k);
	release_kcase(k);
	memset(k, 0, sizeof *k);

	k->name = "matte 3000x3000 RGB -> RGBA";
	k->bytes = (double)PW * PW * 3 + (double)PW * PW * 4;
	k->memory_bound = 0;
	k->why_not = "an iterative flood, synchronised with the host each round";
	k->launch = k_matte;
	k->nsets = 4;
	{
		struct gpu_image h = host_image(PW, PW, 3);

		for (i = 0; i < k->nsets; i++) {
			make_product(&h);
			k->a[i] = dev_image(PW, PW, 3);
			upload(&h, &k->a[i]);
			k->b[i] = dev_image(PW, PW, 4);
		}
		gpu_image_release(&h);
	}
	run_kcase(k);
	printf("gpu: matte flood rounds on the product shot: %d\n", k->mw.iterations);
	release_kcase(k);
	free(k);
	(void)product;
}

/* The pipeline on the device: everything stays there between stages. */
struct gpu_pipe {
	struct gpu_image product, scene, rgba, fit, shadow, out;
	struct gpu_resample_plan plan;
	struct gpu_scratch sums, blur;
	struct gpu_matte_work mw;
};

static void gpu_pipeline(struct gpu_pipe *g, cudaStream_t s)
{
	struct gpu_colour_stats ps, ss;
	float k[3], o[3];
	struct err e;

	if (gpu_matte_launch(&g->product, &g->rgba, &matte_p, NULL, &g->mw, s, &e) < 0 ||
	    gpu_colour_stats_launch(&g->rgba, NULL, &ps, &g->sums, s, &e) < 0 ||
	    gpu_colour_stats_launch(&g->scene, NULL, &ss, &g->sums, s, &e) < 0 ||
	    gpu_transfer_coeffs(&ps, &ss, &transfer_p, k, o, &e) < 0 ||
	    gpu_colour_transfer_launch(&g->rgba, &g->rgba, k, o, s, &e) < 0 ||
	    gpu_resample_launch(&g->plan, &g->rgba, &g->fit, s, &e) < 0 ||
	    gpu_blur_launch(&g->fit, &g->shadow, SHADOW_SIGMA, &g->blur, s, &e) < 0)
		die("gpu pipeline", &e);
	CK(cudaMemcpyAsync(g->out.data, g->scene.data, (size_t)OUT_SIDE * OUT_SIDE * 3,
			   cudaMemcpyDeviceToDevice, s), "gpu pipeline");
	if (gpu_shade_launch(&g->out, &g->shadow, PX + 20, PY + 30, shadow_rgb, 0.45f, s, &e) < 0 ||
	    gpu_composite_launch(&g->out, &g->fit, PX, PY, 1.0f, s, &e) < 0)
		die("gpu pipeline", &e);
	CK(cudaStreamSynchronize(s), "gpu pipeline");
}

int main(void)
{
	char dev[256];
	struct gpu_image product, scene, out, gout;
	struct cpu_work w;
	struct cpu_case cc;
	struct cpu_pipe_arg pa;
	struct err e;
	double cpu_ips, t_cpu;
	int threads = 1, have_gpu, cpu_reps;

	quick = getenv("BENCH_QUICK") && *getenv("BENCH_QUICK") == '1';
#ifdef _OPENMP
	threads = omp_get_max_threads();
#endif
	have_gpu = gpu_device_count() > 0;
	printf("device: %s\n", gpu_device_describe(dev, sizeof dev));
	printf("cpu: %d OpenMP threads; references built %s\n", threads,
#ifdef __OPTIMIZE__
	       "optimised"
#else
	       "without optimisation"
#endif
	);
	rng_seed(20261126);
	cpu_reps = quick ? 1 : 3;

	product = host_image(PW, PW, 3);
	scene = host_image(OUT_SIDE, OUT_SIDE, 3);
	out = host_image(OUT_SIDE, OUT_SIDE, 3);
	gout = host_image(OUT_SIDE, OUT_SIDE, 3);
	make_product(&product);
	rng_fill_smooth(&scene, 6);
	w.rgba = host_image(PW, PW, 4);
	w.fit = host_image(FIT, FIT, 4);
	w.shadow = host_image(FIT, FIT, 1);

	/* the references, one op at a time, on the pipeline's sizes */
	cc.a = product;
	cc.b = host_image(PW, PW, 4);
	cc.c = host_image(FIT, FIT, 4);
	time_cpu("matte 3000x3000 RGB -> RGBA", (double)PW * PW * 7, cpu_reps, c_matte, &cc);
	time_cpu("resample 3000x3000 -> 1640x1640 RGBA", (double)PW * PW * 4 + (double)FIT * FIT * 4,
		 cpu_reps, c_resample, &cc);
	time_cpu("colour stats 1640x1640 RGBA", (double)FIT * FIT * 4, cpu_reps, c_stats, &cc);
	time_cpu("colour transfer 1640x1640 RGBA", (double)FIT * FIT * 8, cpu_reps, c_transfer, &cc);
	pa.product = &product;
	pa.scene = &scene;
	pa.out = &out;
	pa.w = &w;
	t_cpu = time_cpu("pipeline pixel stages 3000 -> 2048 (one image)", 0, cpu_reps, c_pipeline, &pa);
	cpu_ips = 1.0 / t_cpu;
	printf("cpu: pipeline %.3f images/s on %d threads\n", cpu_ips, threads);
	gpu_image_release(&cc.b);
	gpu_image_release(&cc.c);

	if (!have_gpu) {
		static const char *owed[] = { "composite bandwidth / copy",
			"shade bandwidth / copy", "colour transfer bandwidth / copy",
			"colour stats bandwidth / copy", "resample bandwidth / copy" };
		size_t i;

		printf("gpu: the copy ceiling and every kernel's time are owed (no device here)\n");
		for (i = 0; i < sizeof owed / sizeof *owed; i++)
			printf("measure: %s: none (goal: >= 0.75) missed (no GPU: owed)\n", owed[i]);
		printf("measure: pipeline images/s GPU / CPU on %d threads: none (goal: >= 20) missed (no GPU: owed)\n",
		       threads);
		return 0;
	}

	gpu_copy_ceiling();
	gpu_kernels(&product);
	{
		struct gpu_pipe g;
		cudaStream_t s;
		double t[64], m, ratio;
		int i, reps = quick ? 5 : 30, worst = 0, y, x, c;

		memset(&g, 0, sizeof g);
		CK(cudaStreamCreate(&s), "stream");
		g.product = dev_image(PW, PW, 3);
		g.scene = dev_image(OUT_SIDE, OUT_SIDE, 3);
		g.rgba = dev_image(PW, PW, 4);
		g.fit = dev_image(FIT, FIT, 4);
		g.shadow = dev_image(FIT, FIT, 1);
		g.out = dev_image(OUT_SIDE, OUT_SIDE, 3);
		upload(&product, &g.product);
		upload(&scene, &g.scene);
		if (gpu_resample_plan_make(&g.plan, PW, PW, FIT, FIT, 4, GPU_RESAMPLE_LANCZOS3, &e) < 0)
			die("resample plan", &e);
		for (i = 0; i < 3; i++)
			gpu_pipeline(&g, s);
		for (i = 0; i < reps; i++) {
			double t0 = now();

			gpu_pipeline(&g, s);
			t[i] = now() - t0;
		}
		m = median(t, reps);
		CK(cudaMemcpy2D(gout.data, gout.stride, g.out.data, g.out.stride, OUT_SIDE * 3,
				OUT_SIDE, cudaMemcpyDeviceToHost), "download");
		cpu_pipeline(&product, &scene, &out, &w);
		for (y = 0; y < OUT_SIDE; y++)
			for (x = 0; x < OUT_SIDE; x++)
				for (c = 0; c < 3; c++) {
					int d = abs(gpu_image_px(&out, x, y)[c] - gpu_image_px(&gout, x, y)[c]);

					worst = d > worst ? d : worst;
				}
		printf("gpu: pipeline pixel stages %.3f ms per image (%d matte flood rounds); output vs the CPU pipeline: worst %d levels\n",
		       m * 1e3, g.mw.iterations, worst);
		ratio = (1.0 / m) / cpu_ips;
		printf("measure: pipeline images/s GPU %.1f / CPU %.2f on %d threads = %.1fx (goal: >= 20) %s\n",
		       1.0 / m, cpu_ips, threads, ratio, ratio >= 20 ? "met" : "missed");
		gpu_dev_image_free(&g.product);
		gpu_dev_image_free(&g.scene);
		gpu_dev_image_free(&g.rgba);
		gpu_dev_image_free(&g.fit);
		gpu_dev_image_free(&g.shadow);
		gpu_dev_image_free(&g.out);
		gpu_resample_plan_release(&g.plan);
		gpu_scratch_release(&g.sums);
		gpu_scratch_release(&g.blur);
		gpu_matte_work_release(&g.mw);
		cudaStreamDestroy(s);
	}
	gpu_image_release(&product);
	gpu_image_release(&scene);
	gpu_image_release(&out);
	gpu_image_release(&gout);
	gpu_image_release(&w.rgba);
	gpu_image_release(&w.fit);
	gpu_image_release(&w.shadow);
	return 0;
}
