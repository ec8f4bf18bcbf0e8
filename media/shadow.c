/* shadow.c: the soft contact shadow under a placed product.
 *
 * The product's alpha, blurred (a Gaussian whose sigma grows with the
 * product), moved by a small offset and scaled by an opacity, becomes a
 * coverage layer the size of the frame: composite.c darkens the scene by it
 * (in linear light) before the product goes on top.
 */
#include <math.h>

#include "media/image_int.h"

int media_shadow_vips(VipsImage *alpha, int frame_w, int frame_h, int x, int y,
		      double sigma, double opacity, VipsImage **out)
{
	VipsImage *t[3] = { NULL };
	int m = (int)ceil(3.0 * sigma) + 1;
	int rc = -1;

	*out = NULL;
	/* Room around the alpha for the blur to spread into, then the blur,
	 * the opacity (alpha 0..255 becomes coverage 0..opacity), and the
	 * frame. */
	if (vips_embed(alpha, &t[0], m, m, alpha->Xsize + 2 * m, alpha->Ysize + 2 * m, NULL) ||
	    vips_gaussblur(t[0], &t[1], sigma > 0.1 ? sigma : 0.1, "precision",
			   VIPS_PRECISION_FLOAT, NULL) ||
	    vips_linear1(t[1], &t[2], opacity / 255.0, 0.0, NULL) ||
	    vips_embed(t[2], out, x - m, y - m, frame_w, frame_h, NULL))
		goto done;
	rc = 0;
done:
	media_unref_all(t, 3);
	return rc;
}
