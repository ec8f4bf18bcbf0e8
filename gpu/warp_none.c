/* warp_none.c: warp.h's and crossfade.h's device entry points in a build
 * with no CUDA compiled in (the builds use *_none.c in place of the .cu
 * files): each fails, saying so, and callers use the CPU references. */
#include "crossfade.h"
#include "warp.h"

#define NO_CUDA(what) err_set(e, ERR_CONFIG, "%s: no CUDA compiled in", what)

int gpu_warp_cuda(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
		  enum gpu_warp_filter filter, struct err *e)
{
	return NO_CUDA("warp");
}

int gpu_crossfade_cuda(const struct gpu_image *a, const struct gpu_image *b,
		       const struct gpu_image *dst, double t, struct err *e)
{
	return NO_CUDA("crossfade");
}

int gpu_warp_launch(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
		    enum gpu_warp_filter filter, void *stream, struct err *e)
{
	return NO_CUDA("warp");
}

int gpu_crossfade_launch(const struct gpu_image *a, const struct gpu_image *b,
			 const struct gpu_image *dst, double t, void *stream, struct err *e)
{
	return NO_CUDA("crossfade");
}

int gpu_warp_dev_alloc(struct gpu_image *d, int w, int h, int ch, struct err *e)
{
	return NO_CUDA("device image");
}

void gpu_warp_dev_free(struct gpu_image *d)
{
}

int gpu_warp_dev_upload(const struct gpu_image *host, const struct gpu_image *dev, struct err *e)
{
	return NO_CUDA("upload");
}

int gpu_warp_dev_download(const struct gpu_image *dev, const struct gpu_image *host,
			  void *stream, struct err *e)
{
	return NO_CUDA("download");
}

int gpu_warp_stream_new(void **stream, struct err *e)
{
	*stream = NULL;
	return NO_CUDA("stream");
}

void gpu_warp_stream_free(void *stream)
{
}

int gpu_warp_stream_sync(void *stream, struct err *e)
{
	return NO_CUDA("stream");
}
