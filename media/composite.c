/* composite.c: compositing in linear light with premultiplied alpha.
 *
 * sRGB values are not light: averaging them (what a naive "over" does) makes
 * anti-aliased edges and soft shadows too dark.  Here colour is decoded to
 * linear light (libvips's scRGB, float), premultiplied by alpha (kept 0..255
 * as libvips keeps it), combined with out = fg + bg * (1 - fg_alpha), and
 * encoded back to 8-bit sRGB at the very end.
 */
#include "media/image_int.h"

/* A new reference to in with interpretation scRGB (arithmetic loses it). */
static int as_scrgb(VipsImage *in, VipsImage **out)
{
	return vips_copy(in, out, "interpretation", VIPS_INTERPRETATION_scRGB, NULL);
}

int media_to_linear_premul(VipsImage *in, VipsImage **out)
{
	VipsImage *t[2] = { NULL };
	int rc = -1;

	*out = NULL;
	if (vips_colourspace(in, &t[0], VIPS_INTERPRETATION_scRGB, NULL))
		goto done;
	if (in->Bands == 4) {
		if (vips_premultiply(t[0], &t[1], NULL) || as_scrgb(t[1], out))
			goto done;
	} else {
		*out = t[0];
		t[0] = NULL;
	}
	rc = 0;
done:
	media_unref_all(t, 2);
	return rc;
}

int media_from_linear_premul(VipsImage *in, bool drop_alpha, VipsImage **out)
{
	VipsImage *t[3] = { NULL };
	VipsImage *cur = in;
	int rc = -1;

	*out = NULL;
	if (in->Bands == 4) {
		if (vips_unpremultiply(in, &t[0], NULL))
			goto done;
		cur = t[0];
	}
	if (as_scrgb(cur, &t[1]) ||
	    vips_colourspace(t[1], &t[2], VIPS_INTERPRETATION_sRGB, NULL))
		goto done;
	if (drop_alpha && t[2]->Bands == 4) {
		if (vips_extract_band(t[2], out, 0, "n", 3, NULL))
			goto done;
	} else {
		*out = t[2];
		t[2] = NULL;
	}
	rc = 0;
done:
	media_unref_all(t, 3);
	return rc;
}

int media_composite_linear(VipsImage *fg, VipsImage *bg, VipsImage *shadow, VipsImage **out)
{
	VipsImage *t[8] = { NULL };
	VipsImage *under = bg;
	int rc = -1;

	*out = NULL;
	/* The scene darkened by the shadow: bg * (1 - shadow). */
	if (shadow) {
		if (vips_linear1(shadow, &t[0], -1.0, 1.0, NULL) ||
		    vips_multiply(bg, t[0], &t[1], NULL))
			goto done;
		under = t[1];
	}
	/* fg + under * (1 - fg_alpha / 255). */
	if (vips_extract_band(fg, &t[2], 3, NULL) ||
	    vips_linear1(t[2], &t[3], -1.0 / 255.0, 1.0, NULL) ||
	    vips_multiply(under, t[3], &t[4], NULL) ||
	    vips_extract_band(fg, &t[5], 0, "n", 3, NULL) ||
	    vips_add(t[5], t[4], &t[6], NULL) ||
	    as_scrgb(t[6], &t[7]) ||
	    vips_colourspace(t[7], out, VIPS_INTERPRETATION_sRGB, NULL))
		goto done;
	rc = 0;
done:
	media_unref_all(t, 8);
	return rc;
}

int media_composite_flat(VipsImage *fg, const uint8_t rgb[3], VipsImage **out)
{
	VipsImage *t[6] = { NULL };
	float lin[3];
	double bgc[3], zero[3] = { 0, 0, 0 };
	int rc = -1;

	*out = NULL;
	vips_col_sRGB2scRGB_8(rgb[0], rgb[1], rgb[2], &lin[0], &lin[1], &lin[2]);
	for (int i = 0; i < 3; i++)
		bgc[i] = lin[i];
	/* fg + bg * (1 - fg_alpha / 255), bg a constant colour. */
	if (vips_extract_band(fg, &t[0], 3, NULL) ||
	    vips_linear1(t[0], &t[1], -1.0 / 255.0, 1.0, NULL) ||
	    vips_linear(t[1], &t[2], bgc, zero, 3, NULL) ||
	    vips_extract_band(fg, &t[3], 0, "n", 3, NULL) ||
	    vips_add(t[3], t[2], &t[4], NULL) ||
	    as_scrgb(t[4], &t[5]) ||
	    vips_colourspace(t[5], out, VIPS_INTERPRETATION_sRGB, NULL))
		goto done;
	rc = 0;
done:
	media_unref_all(t, 6);
	return rc;
}

int media_flatten_linear(VipsImage *in, const uint8_t rgb[3], VipsImage **out)
{
	VipsImage *p = NULL;
	int rc;

	if (in->Bands != 4)
		return vips_copy(in, out, NULL);
	if (media_to_linear_premul(in, &p))
		return -1;
	rc = media_composite_flat(p, rgb, out);
	g_object_unref(p);
	return rc;
}
