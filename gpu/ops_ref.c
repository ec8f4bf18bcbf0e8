/* ops_ref.c: the table of CPU references (see ops.h). */
#include "ops.h"

const struct gpu_ops gpu_ops_ref = {
	.name = "cpu",
	.resample = gpu_resample_ref,
	.matte = gpu_matte_ref,
	.blur = gpu_blur_ref,
	.colour_stats = gpu_colour_stats_ref,
	.colour_transfer = gpu_colour_transfer_ref,
	.composite = gpu_composite_ref,
	.shade = gpu_shade_ref,
};
