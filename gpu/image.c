/* image.c: allocating and checking struct gpu_image (see image.h). */
#include "image.h"

#include <stdlib.h>
#include <string.h>

int gpu_image_alloc(struct gpu_image *img, int w, int h, int ch, struct err *e)
{
	memset(img, 0, sizeof *img);
	if (w <= 0 || h <= 0 || w > GPU_IMAGE_MAX_SIDE || h > GPU_IMAGE_MAX_SIDE ||
	    ch < 1 || ch > 4)
		return err_set(e, ERR_INTERNAL, "image: cannot allocate %dx%d with %d channels",
			       w, h, ch);
	img->data = malloc((size_t)w * (size_t)h * (size_t)ch);
	if (!img->data)
		return err_set(e, ERR_NOMEM, "image: out of memory for %dx%d with %d channels",
			       w, h, ch);
	img->width = w;
	img->height = h;
	img->channels = ch;
	img->stride = (size_t)w * (size_t)ch;
	return 0;
}

void gpu_image_release(struct gpu_image *img)
{
	if (!img)
		return;
	free(img->data);
	memset(img, 0, sizeof *img);
}

int gpu_image_check(const struct gpu_image *img, const char *what, int min_ch,
		    int max_ch, struct err *e)
{
	if (!img || !img->data)
		return err_set(e, ERR_INTERNAL, "%s: no pixels", what);
	if (img->width <= 0 || img->height <= 0 || img->width > GPU_IMAGE_MAX_SIDE ||
	    img->height > GPU_IMAGE_MAX_SIDE)
		return err_set(e, ERR_INPUT, "%s: %dx%d pixels", what, img->width, img->height);
	if (img->channels < min_ch || img->channels > max_ch) {
		if (min_ch == max_ch)
			return err_set(e, ERR_INTERNAL, "%s: %d channels, expected %d", what,
				       img->channels, min_ch);
		return err_set(e, ERR_INTERNAL, "%s: %d channels, expected %d to %d", what,
			       img->channels, min_ch, max_ch);
	}
	if (img->stride < (size_t)img->width * (size_t)img->channels)
		return err_set(e, ERR_INTERNAL, "%s: stride %zu under a row of %d x %d bytes",
			       what, img->stride, img->width, img->channels);
	return 0;
}
