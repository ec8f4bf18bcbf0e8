/* shadow.c: the soft contact shadow under a placed product.
 *
 * The product's alpha, squashed to a sliver of its height with its base at
 * the product's base (where it touches the floor), blurred (a Gaussian
 * whose sigma grows with the product), moved by a small offset and scaled
 * by an opacity, becomes a coverage layer the size of the frame: composite.c
 * darkens the scene by it (in linear light) before the product goes on top.
 *
 * A soft shadow's sigma is tens of pixels: blurring at full size costs
 * 6 sigma taps a pixel, twice.  The result is so smooth that it is blurred
 * at 1/k of the size (k keeps sigma/k >= 4 px) and enlarged again, bilinear,
 * pixel centres aligned; it differs from the full-size blur by under 3
 * levels of 255 at full opacity, about 1 at the default 0.45
 * (tests/unit/test_media_pipeline.c checks it), for a tenth of the time.
 */
#include <math.h>

#include "media/image_int.h"

int media_shadow_height(int product_h, double squash)
{
	int hs = (int)lround(product_h * squash);

	return hs < 1 ? 1 : hs > product_h ? product_h : hs;
}

int media_shadow_vips(VipsImage *alpha, int frame_w, int frame_h, int x, int y,
		      double sigma, double opacity, VipsImage **out)
{
	VipsImage *t[6] = { NULL };
	int m = (int)ceil(3.0 * sigma) + 1;
	int k = sigma >= 8 ? (int)(sigma / 4) : 1;
	int pw, ph;
	int rc = -1;

	*out = NULL;
	/* Room around the alpha for the blur to spread into (a multiple of k
	 * so the small copy maps back exactly), then the blur, the opacity
	 * (alpha 0..255 becomes coverage 0..opacity), and the frame. */
	pw = (alpha->Xsize + 2 * m + k - 1) / k * k;
	ph = (alpha->Ysize + 2 * m + k - 1) / k * k;
	if (vips_embed(alpha, &t[0], m, m, pw, ph, NULL))
		goto done;
	if (k > 1) {
		/* Output pixel X's centre X + 0.5 is input (X + 0.5) / k - 0.5:
		 * X = k x + (k - 1) / 2. */
		VipsInterpolate *bil = vips_interpolate_new("bilinear");
		VipsArrayInt *area = vips_array_int_newv(4, 0, 0, pw, ph);
		int bad = vips_shrink(t[0], &t[1], k, k, NULL) ||
			  vips_gaussblur(t[1], &t[2], sigma / k, "precision", VIPS_PRECISION_FLOAT,
					 NULL) ||
			  vips_affine(t[2], &t[3], k, 0, 0, k, "interpolate", bil, "odx",
				      (k - 1) / 2.0, "ody", (k - 1) / 2.0, "oarea", area, NULL);

		vips_area_unref(VIPS_AREA(area));
		g_object_unref(bil);
		if (bad)
			goto done;
	} else if (vips_gaussblur(t[0], &t[3], sigma > 0.1 ? sigma : 0.1, "precision",
				  VIPS_PRECISION_FLOAT, NULL)) {
		goto done;
	}
	if (vips_linear1(t[3], &t[4], opacity / 255.0, 0.0, NULL) ||
	    vips_embed(t[4], out, x - m, y - m, frame_w, frame_h, NULL))
		goto done;
	rc = 0;
done:
	media_unref_all(t, 6);
	return rc;
}
