/* device_none.c: the device layer of a build with no CUDA compiled in (see
 * device.h): no device, no CUDA op table, plain malloc for "pinned" memory.
 * This is the truthful answer of a CPU-only build, which still has every op
 * through gpu_ops_ref. */
#include "device.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>

int gpu_device_count(void)
{
	return 0;
}

char *gpu_device_describe(char *buf, size_t size)
{
	snprintf(buf, size, "no CUDA compiled in");
	return buf;
}

int gpu_device_require(struct err *e)
{
	return err_set(e, ERR_CONFIG, "device gpu: no CUDA compiled in (build with nvcc present, or GPU=1)");
}

const struct gpu_ops *gpu_ops_cuda(void)
{
	return NULL;
}

void *gpu_pinned_alloc(size_t size, struct err *e)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		err_set(e, ERR_NOMEM, "out of memory for %zu bytes", size);
	return p;
}

void gpu_pinned_free(void *p)
{
	free(p);
}
