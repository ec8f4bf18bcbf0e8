/* harmonise.c: the product's colours moved toward the scene's, in Lab.
 *
 * A product shot under studio light pasted into a warm interior looks
 * pasted.  Reinhard et al.'s transfer (2001) matches each Lab channel's mean
 * and standard deviation to the scene's; applied in full it would also
 * repaint the product, which a shopper must see as it is.  So it is bounded:
 * `strength` blends it in, the mean moves by at most `max_shift` Lab units
 * per channel, and a deviation is scaled by at most `max_ratio` (or 1 over
 * it).  The same bounded map as gpu/colour.h's transfer.
 */
#include <math.h>

#include "media/image_int.h"

int media_lab_stats(VipsImage *in, struct media_lab_stats *out)
{
	VipsImage *t[8] = { NULL };
	VipsImage *lab;
	double *v;
	int n, rc = -1;

	if (vips_colourspace(in, &t[0], VIPS_INTERPRETATION_LAB, NULL))
		goto done;
	lab = t[0];
	if (lab->Bands >= 4) {
		/* Weighted by alpha: sums of w*x, w*x^2 and w. */
		double sw = 0, s1[3] = { 0 }, s2[3] = { 0 };

		if (vips_extract_band(lab, &t[1], 0, "n", 3, NULL) ||
		    vips_extract_band(lab, &t[2], 3, NULL) ||
		    vips_multiply(t[1], t[2], &t[3], NULL) ||
		    vips_multiply(t[3], t[1], &t[4], NULL) ||
		    vips_bandjoin2(t[3], t[4], &t[5], NULL) ||
		    vips_bandjoin2(t[5], t[2], &t[6], NULL) ||
		    vips_stats(t[6], &t[7], NULL))
			goto done;
		/* stats: row 1 + band, column 2 is the sum. */
		for (int b = 0; b < 7; b++) {
			double s;

			if (vips_getpoint(t[7], &v, &n, 2, b + 1, NULL))
				goto done;
			s = v[0];
			g_free(v);
			if (b < 3)
				s1[b] = s;
			else if (b < 6)
				s2[b - 3] = s;
			else
				sw = s;
		}
		if (sw <= 0)
			goto done;
		for (int c = 0; c < 3; c++) {
			double m = s1[c] / sw, var = s2[c] / sw - m * m;

			out->mean[c] = m;
			out->sd[c] = var > 0 ? sqrt(var) : 0;
		}
	} else {
		if (vips_stats(lab, &t[1], NULL))
			goto done;
		for (int c = 0; c < 3; c++) {
			if (vips_getpoint(t[1], &v, &n, 4, c + 1, NULL))
				goto done;
			out->mean[c] = v[0];
			g_free(v);
			if (vips_getpoint(t[1], &v, &n, 5, c + 1, NULL))
				goto done;
			out->sd[c] = v[0];
			g_free(v);
		}
	}
	rc = 0;
done:
	media_unref_all(t, 8);
	return rc;
}

void media_harmonise_coeffs(const struct media_lab_stats *from, const struct media_lab_stats *to,
			    double strength, double max_shift, double max_ratio,
			    double scale[3], double offset[3])
{
	for (int c = 0; c < 3; c++) {
		double ratio = from->sd[c] > 1e-3 ? to->sd[c] / from->sd[c] : 1.0;
		double k = 1.0 + strength * (ratio - 1.0);
		double shift = strength * (to->mean[c] - from->mean[c]);

		if (k > max_ratio)
			k = max_ratio;
		if (k < 1.0 / max_ratio)
			k = 1.0 / max_ratio;
		if (shift > max_shift)
			shift = max_shift;
		if (shift < -max_shift)
			shift = -max_shift;
		/* v' = (v - mean) * k + mean + shift */
		scale[c] = k;
		offset[c] = from->mean[c] + shift - from->mean[c] * k;
	}
}

int media_harmonise_vips(VipsImage *product, const struct media_lab_stats *scene,
			 double strength, double max_shift, double max_ratio,
			 VipsImage **out, struct media_lab_stats *before)
{
	VipsImage *t[3] = { NULL };
	struct media_lab_stats from;
	double a[4] = { 1, 1, 1, 1 }, b[4] = { 0, 0, 0, 0 };
	int rc = -1;

	*out = NULL;
	if (media_lab_stats(product, &from))
		goto done;
	if (before)
		*before = from;
	media_harmonise_coeffs(&from, scene, strength, max_shift, max_ratio, a, b);
	/* Alpha (band 4) passes unchanged: a = 1, b = 0. */
	if (vips_colourspace(product, &t[0], VIPS_INTERPRETATION_LAB, NULL) ||
	    vips_linear(t[0], &t[1], a, b, product->Bands, NULL) ||
	    vips_copy(t[1], &t[2], "interpretation", VIPS_INTERPRETATION_LAB, NULL) ||
	    vips_colourspace(t[2], out, VIPS_INTERPRETATION_scRGB, NULL))
		goto done;
	rc = 0;
done:
	media_unref_all(t, 3);
	return rc;
}
