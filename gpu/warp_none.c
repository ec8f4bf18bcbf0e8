/* warp_none.c: warp.h's and crossfade.h's device entry points in a build
 * with no CUDA compiled in (gpu/Makefile uses *_none.c in place of the .cu
 * files): they fail, saying so, and callers use the CPU references. */
#include "crossfade.h"
#include "warp.h"

int gpu_warp_cuda(const struct gpu_image *src, const struct gpu_image *dst, const double m[6],
		  enum gpu_warp_filter filter, struct err *e)
{
	return err_set(e, ERR_CONFIG, "warp: no CUDA compiled in");
}

int gpu_crossfade_cuda(const struct gpu_image *a, const struct gpu_image *b,
		       const struct gpu_image *dst, double t, struct err *e)
{
	return err_set(e, ERR_CONFIG, "crossfade: no CUDA compiled in");
}
