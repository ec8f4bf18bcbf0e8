/* device_cuda.cu: the device layer with CUDA compiled in (see device.h), the
 * helpers of cuda_util.h, and the CUDA op table (see ops.h). */
#include "device.h"
#include "ops.h"
#include "cuda_util.h"
#include "kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" int gpu_device_count(void)
{
	int n = 0;

	if (cudaGetDeviceCount(&n) != cudaSuccess) {
		cudaGetLastError();   /* clear the sticky "no device" */
		return 0;
	}
	return n;
}

extern "C" char *gpu_device_describe(char *buf, size_t size)
{
	cudaDeviceProp p;
	int n = 0, drv = 0, rt = 0;
	cudaError_t rc = cudaGetDeviceCount(&n);

	if (rc != cudaSuccess || n == 0) {
		snprintf(buf, size, "no CUDA device: %s",
			 rc != cudaSuccess ? cudaGetErrorString(rc) : "none found");
		cudaGetLastError();
		return buf;
	}
	cudaGetDeviceProperties(&p, 0);
	cudaDriverGetVersion(&drv);
	cudaRuntimeGetVersion(&rt);
	snprintf(buf, size, "%s, cc %d.%d, %d SMs, %.1f GiB, L2 %d MiB, driver %d, runtime %d",
		 p.name, p.major, p.minor, p.multiProcessorCount,
		 p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.l2CacheSize / (1024 * 1024),
		 drv, rt);
	return buf;
}

extern "C" int gpu_device_require(struct err *e)
{
	char why[256];

	if (gpu_device_count() > 0)
		return 0;
	return err_set(e, ERR_CONFIG, "device gpu: %s", gpu_device_describe(why, sizeof why));
}

/* With no device, pinned memory is plain memory (page-locking is only an
 * optimisation of transfers there are none of); the device count does not
 * change while a process runs, so free can tell which it was. */
extern "C" void *gpu_pinned_alloc(size_t size, struct err *e)
{
	void *p = NULL;
	cudaError_t rc;

	if (gpu_device_count() == 0) {
		p = malloc(size ? size : 1);
		if (!p)
			err_set(e, ERR_NOMEM, "out of memory for %zu bytes", size);
		return p;
	}
	rc = cudaMallocHost(&p, size ? size : 1);
	if (rc != cudaSuccess) {
		err_set(e, ERR_NOMEM, "pinned memory of %zu bytes: %s", size, cudaGetErrorString(rc));
		return NULL;
	}
	return p;
}

extern "C" void gpu_pinned_free(void *p)
{
	if (!p)
		return;
	if (gpu_device_count() == 0)
		free(p);
	else
		cudaFreeHost(p);
}

int gpu_dev_image_alloc(struct gpu_image *d, int w, int h, int ch, struct err *e)
{
	cudaError_t rc;

	memset(d, 0, sizeof *d);
	rc = cudaMalloc((void **)&d->data, (size_t)w * h * ch);
	if (rc != cudaSuccess) {
		d->data = NULL;
		return err_set(e, ERR_NOMEM, "device memory for %dx%dx%d: %s", w, h, ch,
			       cudaGetErrorString(rc));
	}
	d->width = w;
	d->height = h;
	d->channels = ch;
	d->stride = (size_t)w * ch;
	return 0;
}

void gpu_dev_image_free(struct gpu_image *d)
{
	if (!d || !d->data)
		return;
	cudaFree(d->data);
	memset(d, 0, sizeof *d);
}

int gpu_dev_image_upload(const struct gpu_image *h, struct gpu_image *d, struct err *e)
{
	if (gpu_dev_image_alloc(d, h->width, h->height, h->channels, e) < 0)
		return -1;
	GPU_CUDA(cudaMemcpy2D(d->data, d->stride, h->data, h->stride,
			      (size_t)h->width * h->channels, h->height, cudaMemcpyHostToDevice),
		 e, "upload");
	return 0;
done:
	gpu_dev_image_free(d);
	return -1;
}

int gpu_dev_image_download(const struct gpu_image *d, const struct gpu_image *h,
			   struct err *e)
{
	GPU_CUDA(cudaMemcpy2D(h->data, h->stride, d->data, d->stride,
			      (size_t)h->width * h->channels, h->height, cudaMemcpyDeviceToHost),
		 e, "download");
	return 0;
done:
	return -1;
}

int gpu_scratch_reserve(struct gpu_scratch *s, size_t bytes, struct err *e)
{
	void *p = NULL;
	cudaError_t rc;

	if (bytes <= s->size)
		return 0;
	rc = cudaMalloc(&p, bytes);
	if (rc != cudaSuccess)
		return err_set(e, ERR_NOMEM, "device scratch of %zu bytes: %s", bytes,
			       cudaGetErrorString(rc));
	if (s->ptr)
		cudaFree(s->ptr);   /* synchronises: nothing still uses the old one */
	s->ptr = p;
	s->size = bytes;
	return 0;
}

void gpu_scratch_release(struct gpu_scratch *s)
{
	if (!s)
		return;
	if (s->ptr)
		cudaFree(s->ptr);
	s->ptr = NULL;
	s->size = 0;
}

static pthread_mutex_t lut_lock = PTHREAD_MUTEX_INITIALIZER;
static float *dev_lin;
static uint8_t *dev_srgb;

int gpu_dev_luts(const float **to_lin, const uint8_t **to_srgb, struct err *e)
{
	float *lin = NULL;
	uint8_t *srgb = NULL;
	int rc = -1;

	pthread_mutex_lock(&lut_lock);
	if (!dev_lin) {
		GPU_CUDA(cudaMalloc((void **)&lin, 256 * sizeof(float)), e, "colour tables");
		GPU_CUDA(cudaMalloc((void **)&srgb, GPU_LIN_LUT_SIZE), e, "colour tables");
		GPU_CUDA(cudaMemcpy(lin, gpu_lut_to_linear(), 256 * sizeof(float),
				    cudaMemcpyHostToDevice), e, "colour tables");
		GPU_CUDA(cudaMemcpy(srgb, gpu_lut_to_srgb(), GPU_LIN_LUT_SIZE,
				    cudaMemcpyHostToDevice), e, "colour tables");
		dev_lin = lin;
		dev_srgb = srgb;
		lin = NULL;
		srgb = NULL;
	}
	*to_lin = dev_lin;
	*to_srgb = dev_srgb;
	rc = 0;
done:
	if (lin)
		cudaFree(lin);
	if (srgb)
		cudaFree(srgb);
	pthread_mutex_unlock(&lut_lock);
	return rc;
}

static const struct gpu_ops cuda_ops = {
	"cuda",
	gpu_resample_cuda,
	gpu_matte_cuda,
	gpu_blur_cuda,
	gpu_colour_stats_cuda,
	gpu_colour_transfer_cuda,
	gpu_composite_cuda,
	gpu_shade_cuda,
};

extern "C" const struct gpu_ops *gpu_ops_cuda(void)
{
	return gpu_device_count() > 0 ? &cuda_ops : NULL;
}
