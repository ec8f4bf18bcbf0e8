/* cutout.c: the product alone, as RGBA cropped to its bounding box.
 *
 * A photo with a real alpha channel (a PNG cut out by the studio) keeps it.
 * A studio shot on a near-uniform background gets a matte, the same steps as
 * gpu/matte.h so both devices agree:
 *   1. the background colour: the per-channel median of a band of pixels
 *      around the edge (a product touching one edge does not move it);
 *   2. every pixel's CIE76 distance to it in Lab;
 *   3. background is what a 4-connected flood from the border reaches
 *      through pixels closer than `tolerance` (a white logo inside the
 *      product is not reached and stays opaque; with `holes`, such
 *      enclosed regions are background too: a mug's handle);
 *   4. reached pixels ramp from alpha 0 at `soft` to 255 at `tolerance` (the
 *      anti-aliased edge); the rest are 255;
 *   5. the edge is feathered by a Gaussian blur.
 * Then, on both devices, the soft edge is measured rather than ramped
 * (media_refine_edges: the product's colour F spread outward from the
 * opaque interior; alpha is where a pixel lies between the background B and
 * F in linear light), and the edge colours are freed of the background
 * (media_unmix: F = (C - (1 - a) B) / a), so a product cut from white shows
 * no pale fringe on a dark scene.
 * When the border is not uniform, or the matte leaves (nearly) nothing or
 * (nearly) everything, the product cannot be separated and the call fails
 * with that reason: a task that fails is better than a bad image published.
 */
#include <stdlib.h>
#include <string.h>

#include "media/image_int.h"

#define BORDER_BAND 4

void media_cutout_defaults(const struct media_cutout_opts *in, struct media_cutout_opts *o)
{
	memset(o, 0, sizeof *o);
	if (in)
		*o = *in;
	if (o->tolerance <= 0)
		o->tolerance = 14;
	if (o->soft <= 0 || o->soft >= o->tolerance)
		o->soft = o->tolerance * 6.0 / 14.0;
	if (o->feather == 0)
		o->feather = 1.0;
	if (o->border_outliers <= 0)
		o->border_outliers = 0.2;
	if (o->min_product <= 0)
		o->min_product = 0.005;
	if (o->max_product <= 0)
		o->max_product = 0.98;
}

/* Visit the pixels of the border band once each: rows [0,b) and [h-b,h),
 * columns [0,b) and [w-b,w) of the rows between. */
#define FOR_BORDER(w, h, b, x, y)                                              \
	for (int y = 0; y < (h); y++)                                          \
		for (int x = 0; x < (w);                                       \
		     x = (y < (b) || y >= (h) - (b) || x >= (w) - (b) - 1 ||   \
			  x < (b) - 1) ? x + 1 : (w) - (b))

/* The median of each channel over the border band of a uchar RGB(A)
 * memory image. */
static void border_median(VipsImage *im, int b, uint8_t bg[3])
{
	size_t hist[3][256];
	size_t n = 0;

	memset(hist, 0, sizeof hist);
	FOR_BORDER(im->Xsize, im->Ysize, b, x, y) {
		const uint8_t *p = VIPS_IMAGE_ADDR(im, x, y);

		hist[0][p[0]]++;
		hist[1][p[1]]++;
		hist[2][p[2]]++;
		n++;
	}
	for (int c = 0; c < 3; c++) {
		size_t acc = 0;
		int v = 0;

		while (v < 255 && (acc += hist[c][v]) * 2 < n)
			v++;
		bg[c] = (uint8_t)v;
	}
}

/* Lab of one sRGB colour, through the same conversion as the image's. */
static int lab_of(const uint8_t rgb[3], double lab[3])
{
	VipsImage *one, *l = NULL;
	int rc = -1;

	one = vips_image_new_from_memory_copy(rgb, 3, 1, 1, 3, VIPS_FORMAT_UCHAR);
	if (!one)
		return -1;
	one->Type = VIPS_INTERPRETATION_sRGB;
	if (vips_colourspace(one, &l, VIPS_INTERPRETATION_LAB, NULL) == 0) {
		double *v;
		int n;

		if (vips_getpoint(l, &v, &n, 0, 0, NULL) == 0) {
			for (int i = 0; i < 3 && i < n; i++)
				lab[i] = v[i];
			g_free(v);
			rc = 0;
		}
	}
	if (l)
		g_object_unref(l);
	g_object_unref(one);
	return rc;
}

/* The crop of rgba (4 bands) to its alpha's bounding box, new in *out.
 * Fails when alpha is 0 everywhere. */
static int crop_to_alpha(VipsImage *rgba, const char *ctx, const char *what, VipsImage **out,
			 struct err *e)
{
	VipsArrayDouble *zero = vips_array_double_newv(1, 0.0);
	VipsImage *a = NULL;
	int l, t, w, h, rc = -1;

	*out = NULL;
	if (vips_extract_band(rgba, &a, 3, NULL) ||
	    vips_find_trim(a, &l, &t, &w, &h, "background", zero, "threshold", 0.0, NULL)) {
		media_vips_err(e, ERR_INTERNAL, ctx, "cut-out: find the product's box");
		goto done;
	}
	if (w <= 0 || h <= 0) {
		media_err(e, ERR_GENERATE, ctx, "cannot cut out the product: %s", what);
		goto done;
	}
	if (vips_crop(rgba, out, l, t, w, h, NULL)) {
		media_vips_err(e, ERR_INTERNAL, ctx, "cut-out: crop");
		goto done;
	}
	rc = 0;
done:
	vips_area_unref(VIPS_AREA(zero));
	if (a)
		g_object_unref(a);
	return rc;
}

/* The image's own alpha, when it says something (not all 255). */
static int cutout_alpha(VipsImage *in, const char *ctx, struct media_image **out,
			struct err *e)
{
	VipsImage *crop = NULL;

	if (crop_to_alpha(in, ctx, "alpha is fully transparent", &crop, e))
		return -1;
	return media_wrap(crop, ctx, "cut-out", out, e);
}

/* max(x, c) for a float image, new in *out. */
static int at_least(VipsImage *x, double c, VipsImage **out)
{
	VipsImage *t[2] = { NULL };
	int rc;

	rc = vips_less_const1(x, &t[0], c, NULL) || vips_linear1(x, &t[1], 0.0, c, NULL) ||
	     vips_ifthenelse(t[0], t[1], x, out, NULL);
	media_unref_all(t, 2);
	return rc ? -1 : 0;
}

int media_refine_edges(VipsImage *rgba, const uint8_t bg[3], VipsImage **out)
{
	VipsImage *t[26] = { NULL };
	float lin[3];
	double one[3] = { 1, 1, 1 }, minus_b[3];
	int rc = -1;

	*out = NULL;
	vips_col_sRGB2scRGB_8(bg[0], bg[1], bg[2], &lin[0], &lin[1], &lin[2]);
	for (int i = 0; i < 3; i++)
		minus_b[i] = -lin[i];
	/* d = C - B in linear light; the deep interior: opaque pixels whose
	 * whole neighbourhood is opaque. */
	if (vips_extract_band(rgba, &t[0], 0, "n", 3, NULL) ||
	    vips_extract_band(rgba, &t[1], 3, NULL) ||
	    vips_colourspace(t[0], &t[2], VIPS_INTERPRETATION_scRGB, NULL) ||
	    vips_linear(t[2], &t[3], one, minus_b, 3, NULL) ||
	    vips_equal_const1(t[1], &t[4], 255.0, NULL) ||
	    vips_gaussblur(t[4], &t[5], 2.0, "precision", VIPS_PRECISION_FLOAT, NULL) ||
	    vips_moreeq_const1(t[5], &t[6], 254.0, NULL) ||
	    vips_linear1(t[6], &t[7], 1.0 / 255.0, 0.0, NULL))
		goto done;
	/* F - B near the edge: the interior's colours spread outward by a
	 * normalised Gaussian (sum of w (C - B) over sum of w). */
	if (vips_multiply(t[3], t[7], &t[8], NULL) ||
	    vips_gaussblur(t[8], &t[9], 4.0, "precision", VIPS_PRECISION_FLOAT, NULL) ||
	    vips_gaussblur(t[7], &t[10], 4.0, "precision", VIPS_PRECISION_FLOAT, NULL) ||
	    at_least(t[10], 0.02, &t[11]) ||
	    vips_divide(t[9], t[11], &t[12], NULL))
		goto done;
	/* alpha = (C - B).(F - B) / |F - B|^2, the pixel's place on the line
	 * from the background to the product's colour. */
	if (vips_multiply(t[3], t[12], &t[13], NULL) ||
	    vips_bandmean(t[13], &t[14], NULL) ||
	    vips_multiply(t[12], t[12], &t[15], NULL) ||
	    vips_bandmean(t[15], &t[16], NULL) ||
	    at_least(t[16], 1e-5, &t[17]) ||
	    vips_divide(t[14], t[17], &t[18], NULL) ||
	    vips_linear1(t[18], &t[19], 255.0, 0.0, NULL) ||
	    vips_cast(t[19], &t[20], VIPS_FORMAT_UCHAR, NULL))
		goto done;
	/* Only the edge band takes it: pixels the matte kept (alpha > 0), not
	 * deep inside, with an interior near enough to say what F is. */
	if (vips_moreeq_const1(t[10], &t[21], 0.02, NULL) ||
	    vips_moreeq_const1(t[1], &t[22], 1.0, NULL) ||
	    vips_andimage(t[21], t[22], &t[23], NULL) ||
	    vips_ifthenelse(t[23], t[20], t[1], &t[24], NULL) ||
	    vips_ifthenelse(t[6], t[1], t[24], &t[25], NULL) ||
	    vips_bandjoin2(t[0], t[25], out, NULL))
		goto done;
	(*out)->Type = VIPS_INTERPRETATION_sRGB;
	rc = 0;
done:
	media_unref_all(t, 26);
	return rc;
}

int media_unmix(VipsImage *rgba, const uint8_t bg[3], VipsImage **out)
{
	VipsImage *t[12] = { NULL };
	float lin[3];
	double b[3], minus_b[3];
	int rc = -1;

	*out = NULL;
	vips_col_sRGB2scRGB_8(bg[0], bg[1], bg[2], &lin[0], &lin[1], &lin[2]);
	for (int i = 0; i < 3; i++) {
		b[i] = lin[i];
		minus_b[i] = -lin[i];
	}
	/* a = alpha / 255; C - (1 - a) B = C + a B - B; divided by a, but not
	 * by less than 0.1: below that the pixel is nearly invisible and the
	 * division would only amplify noise. */
	if (vips_extract_band(rgba, &t[0], 0, "n", 3, NULL) ||
	    vips_extract_band(rgba, &t[1], 3, NULL) ||
	    vips_colourspace(t[0], &t[2], VIPS_INTERPRETATION_scRGB, NULL) ||
	    vips_linear1(t[1], &t[3], 1.0 / 255.0, 0.0, NULL) ||
	    vips_linear(t[3], &t[4], b, minus_b, 3, NULL) ||
	    vips_add(t[2], t[4], &t[5], NULL) ||
	    vips_less_const1(t[3], &t[6], 0.1, NULL) ||
	    vips_linear1(t[3], &t[7], 0.0, 0.1, NULL) ||
	    vips_ifthenelse(t[6], t[7], t[3], &t[8], NULL) ||
	    vips_divide(t[5], t[8], &t[9], NULL) ||
	    vips_copy(t[9], &t[10], "interpretation", VIPS_INTERPRETATION_scRGB, NULL) ||
	    vips_colourspace(t[10], &t[11], VIPS_INTERPRETATION_sRGB, NULL) ||
	    vips_bandjoin2(t[11], t[1], out, NULL))
		goto done;
	(*out)->Type = VIPS_INTERPRETATION_sRGB;
	rc = 0;
done:
	media_unref_all(t, 12);
	return rc;
}

int media_matte_cpu(VipsImage *in, const struct media_cutout_opts *o, const char *ctx,
		    VipsImage **rgba_out, uint8_t bg_out[3], struct err *e)
{
	VipsImage *t[20] = { NULL };
	VipsImage *rgb = in, *dist = NULL, *mask = NULL;
	int w = in->Xsize, h = in->Ysize;
	int b = BORDER_BAND;
	uint8_t bg[3];
	double bg_lab[3], coverage;
	size_t border_n = 0, border_far = 0;
	int rc = -1;

	*rgba_out = NULL;
	if (w < 3 * b || h < 3 * b) {
		media_err(e, ERR_GENERATE, ctx,
			  "cannot cut out the product: image is %dx%d, too small for a matte", w, h);
		return -1;
	}
	if (in->Bands == 4) {
		if (vips_extract_band(in, &t[0], 0, "n", 3, NULL))
			goto vips_fail;
		rgb = t[0];
	}
	/* rgb may be lazy (a band extracted): the median reads memory. */
	if (!(t[1] = vips_image_copy_memory(rgb)))
		goto vips_fail;
	rgb = t[1];
	border_median(rgb, b, bg);
	if (lab_of(bg, bg_lab))
		goto vips_fail;

	/* dist = |Lab - bg| (CIE76), one float band, in memory: vips_dE76
	 * against a constant Lab image (made by vips_linear, never converted). */
	double zero[3] = { 0, 0, 0 };
	if (vips_colourspace(rgb, &t[2], VIPS_INTERPRETATION_LAB, NULL) ||
	    vips_black(&t[3], w, h, "bands", 3, NULL) ||
	    vips_linear(t[3], &t[4], zero, bg_lab, 3, NULL) ||
	    vips_copy(t[4], &t[5], "interpretation", VIPS_INTERPRETATION_LAB, NULL) ||
	    vips_dE76(t[2], t[5], &t[7], NULL))
		goto vips_fail;
	if (!(dist = vips_image_copy_memory(t[7])))
		goto vips_fail;

	FOR_BORDER(w, h, b, x, y) {
		border_n++;
		border_far += *(float *)VIPS_IMAGE_ADDR(dist, x, y) >= o->tolerance;
	}
	if ((double)border_far > o->border_outliers * (double)border_n) {
		media_err(e, ERR_GENERATE, ctx,
			  "cannot cut out the product: background not uniform (%.0f%% of the "
			  "border differs from its colour #%02x%02x%02x by more than %.0f)",
			  100.0 * (double)border_far / (double)border_n, bg[0], bg[1], bg[2],
			  o->tolerance);
		goto done;
	}

	/* mask: 255 where background-like; the flood turns the part connected
	 * to the border into 128. */
	if (vips_less_const1(dist, &t[8], o->tolerance, NULL) ||
	    !(mask = vips_image_copy_memory(t[8])))
		goto vips_fail;
	double ink = 128;
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			if (!(y == 0 || y == h - 1 || x == 0 || x == w - 1)) {
				x = w - 2;
				continue;
			}
			if (*VIPS_IMAGE_ADDR(mask, x, y) == 255 &&
			    vips_draw_flood(mask, &ink, 1, x, y, "equal", TRUE, NULL))
				goto vips_fail;
		}
	}

	/* alpha = reached ? ramp(dist) : 255, i.e. 255 - (reached & (255 - ramp)). */
	double k = 255.0 / (o->tolerance - o->soft);
	VipsImage *alpha;
	/* With holes, enclosed background-coloured regions (still 255) count
	 * as reached. */
	if ((o->holes ? vips_moreeq_const1(mask, &t[9], 128, NULL)
		      : vips_equal_const1(mask, &t[9], 128, NULL)) ||
	    vips_linear1(dist, &t[10], -k, 255.0 + o->soft * k, NULL) ||
	    vips_cast(t[10], &t[11], VIPS_FORMAT_UCHAR, NULL) ||
	    vips_andimage(t[9], t[11], &t[12], NULL) ||
	    vips_invert(t[12], &t[13], NULL))
		goto vips_fail;
	alpha = t[13];
	if (o->feather > 0) {
		if (vips_gaussblur(alpha, &t[14], o->feather, NULL) ||
		    vips_cast(t[14], &t[15], VIPS_FORMAT_UCHAR, NULL))
			goto vips_fail;
		alpha = t[15];
	}
	if (!(t[16] = vips_image_copy_memory(alpha)) ||
	    vips_moreeq_const1(t[16], &t[17], 128, NULL) ||
	    vips_avg(t[17], &coverage, NULL))
		goto vips_fail;
	coverage /= 255.0;
	if (coverage < o->min_product) {
		media_err(e, ERR_GENERATE, ctx,
			  "cannot cut out the product: nothing left after removing the "
			  "background (%.2f%% of the image)", 100.0 * coverage);
		goto done;
	}
	if (coverage > o->max_product) {
		media_err(e, ERR_GENERATE, ctx,
			  "cannot cut out the product: no background found around it "
			  "(%.1f%% of the image kept)", 100.0 * coverage);
		goto done;
	}
	if (vips_bandjoin2(rgb, t[16], &t[18], NULL))
		goto vips_fail;
	t[18]->Type = VIPS_INTERPRETATION_sRGB;
	*rgba_out = t[18];
	t[18] = NULL;
	if (bg_out)
		memcpy(bg_out, bg, 3);
	rc = 0;
	goto done;
vips_fail:
	media_vips_err(e, ERR_INTERNAL, ctx, "cut-out");
done:
	media_unref_all(t, 20);
	if (dist)
		g_object_unref(dist);
	if (mask)
		g_object_unref(mask);
	return rc;
}

int media_cutout(const struct media_image *in, const struct media_cutout_opts *opts,
		 const char *ctx, struct media_image **out, struct err *e)
{
	struct media_cutout_opts o;
	enum media_device dev;
	VipsImage *rgba = NULL, *crop = NULL, *refined = NULL, *clean = NULL;
	uint8_t bg[3];
	double amin = 255;

	*out = NULL;
	media_cutout_defaults(opts, &o);
	if (in->vi->Bands == 4) {
		VipsImage *a = NULL;

		/* An alpha that is 255 everywhere says nothing: matte. */
		if (vips_extract_band(in->vi, &a, 3, NULL) || vips_min(a, &amin, NULL))
			amin = 255;
		if (a)
			g_object_unref(a);
		vips_error_clear();
		if (amin < 255)
			return cutout_alpha(in->vi, ctx, out, e);
	}
	if (media_device_resolve(o.device, &dev, e))
		return err_prefix(e, "%s", ctx ? ctx : "cut-out");
	if (dev == MEDIA_DEVICE_GPU && !o.holes) {
		if (media_matte_gpu(in->vi, &o, ctx, &rgba, bg, e))
			return -1;
	} else if (media_matte_cpu(in->vi, &o, ctx, &rgba, bg, e)) {
		return -1;
	}
	if (crop_to_alpha(rgba, ctx, "nothing left after removing the background", &crop, e)) {
		g_object_unref(rgba);
		return -1;
	}
	g_object_unref(rgba);
	if (media_refine_edges(crop, bg, &refined) || media_unmix(refined, bg, &clean)) {
		if (refined)
			g_object_unref(refined);
		g_object_unref(crop);
		return media_vips_err(e, ERR_INTERNAL, ctx, "cut-out: edges");
	}
	g_object_unref(refined);
	g_object_unref(crop);
	return media_wrap(clean, ctx, "cut-out", out, e);
}
