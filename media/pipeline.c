/* pipeline.c: the steps put together: a lifestyle shot, a channel image, and
 * media_render() that does one SKU's image from its photo to its file.
 *
 * On the CPU every step is a libvips operation and a step's chain runs as
 * one demand-driven pipeline, in linear light from the product's resize to
 * the final encode to sRGB; on a GPU (device.c) the same steps run through
 * gpu/'s ops on plain buffers.
 */
#include <math.h>
#include <string.h>

#include "media/image_int.h"

void media_lifestyle_defaults(const struct media_lifestyle_opts *in,
			       struct media_lifestyle_opts *o)
{
	memset(o, 0, sizeof *o);
	if (in)
		*o = *in;
	if (o->fill <= 0 || o->fill > 1)
		o->fill = 0.5;
	if (o->shadow_opacity == 0)
		o->shadow_opacity = 0.45;
	if (o->shadow_opacity > 1)
		o->shadow_opacity = 1;
	if (o->shadow_blur <= 0)
		o->shadow_blur = 0.03;
	if (o->shadow_squash <= 0 || o->shadow_squash > 1)
		o->shadow_squash = 0.15;
	if (o->shadow_dx == 0 && o->shadow_dy == 0) {
		o->shadow_dx = 0.02;
		o->shadow_dy = 0.01;
	}
	if (o->harmonise == 0)
		o->harmonise = 0.5;
	if (o->harmonise > 1)
		o->harmonise = 1;
	if (o->harmonise_max_shift <= 0)
		o->harmonise_max_shift = 8;
	if (o->harmonise_max_ratio < 1)
		o->harmonise_max_ratio = 1.25;
}

/* The cut-out in linear light, premultiplied, resized to w x h and computed
 * into memory (it is read more than once).  New in *out. */
static int product_placed(VipsImage *cut, int w, int h, VipsImage **out)
{
	VipsImage *t[3] = { NULL };
	VipsImage *cur = cut;
	int rc = -1;

	*out = NULL;
	if (cut->Bands == 3) {
		if (vips_bandjoin_const1(cut, &t[0], 255.0, NULL))
			goto done;
		t[0]->Type = VIPS_INTERPRETATION_sRGB;
		cur = t[0];
	}
	if (media_to_linear_premul(cur, &t[1]) ||
	    vips_resize(t[1], &t[2], (double)w / cur->Xsize, "vscale", (double)h / cur->Ysize,
			"kernel", VIPS_KERNEL_LANCZOS3, NULL) ||
	    !(*out = vips_image_copy_memory(t[2])))
		goto done;
	rc = 0;
done:
	media_unref_all(t, 3);
	return rc;
}

/* The scene at the output size, opaque, in linear light (new in *lin) and
 * as uchar sRGB (new in *srgb) for its statistics. */
static int scene_prepared(VipsImage *scene, int w, int h, VipsImage **srgb, VipsImage **lin)
{
	static const uint8_t white[3] = { 255, 255, 255 };
	VipsImage *t[2] = { NULL };
	VipsImage *cur = scene;
	int rc = -1;

	*srgb = *lin = NULL;
	if (w != scene->Xsize || h != scene->Ysize) {
		if (vips_thumbnail_image(scene, &t[0], w, "height", h, "crop",
					 VIPS_INTERESTING_CENTRE, "size", VIPS_SIZE_FORCE, NULL))
			goto done;
		cur = t[0];
	}
	if (cur->Bands == 4) {
		if (media_flatten_linear(cur, white, &t[1]))
			goto done;
		cur = t[1];
	}
	if (!(*srgb = vips_image_copy_memory(cur)) ||
	    vips_colourspace(*srgb, lin, VIPS_INTERPRETATION_scRGB, NULL))
		goto done;
	rc = 0;
done:
	if (rc && *srgb) {
		g_object_unref(*srgb);
		*srgb = NULL;
	}
	media_unref_all(t, 2);
	return rc;
}

/* The scene's Lab statistics from a box-filtered copy of about 512 px (the
 * statistics of a large scene barely move when it is shrunk; the cost
 * does, and a box filter is what an average wants anyway: vips_resize's
 * Lanczos would cost ten times as much here). */
static int scene_stats(VipsImage *srgb, struct media_lab_stats *st)
{
	VipsImage *small = NULL;
	int side = srgb->Xsize > srgb->Ysize ? srgb->Xsize : srgb->Ysize;
	int k = side / 512;
	int rc;

	if (k < 2)
		return media_lab_stats(srgb, st);
	if (vips_shrink(srgb, &small, k, k, NULL))
		return -1;
	rc = media_lab_stats(small, st);
	g_object_unref(small);
	return rc;
}

int media_lifestyle_cpu(VipsImage *cut, VipsImage *scene, const struct media_lifestyle_opts *o,
			const char *ctx, struct media_image **out, struct err *e)
{
	VipsImage *t[10] = { NULL };
	VipsImage *fg_small, *srgb = NULL, *lin = NULL, *shadow = NULL;
	int W = o->width > 0 ? o->width : scene->Xsize;
	int H = o->height > 0 ? o->height : scene->Ysize;
	struct media_placement pl;

	*out = NULL;
	media_place(cut->Xsize, cut->Ysize, W, H, o->fill, o->floor, &pl);
	if (scene_prepared(scene, W, H, &srgb, &lin) ||
	    product_placed(cut, pl.w, pl.h, &t[0]))
		goto vips_fail;
	fg_small = t[0];

	if (o->harmonise > 0) {
		struct media_lab_stats st;

		/* Lab needs straight colour: unpremultiply, map, premultiply. */
		if (scene_stats(srgb, &st) ||
		    vips_unpremultiply(fg_small, &t[1], NULL) ||
		    vips_copy(t[1], &t[2], "interpretation", VIPS_INTERPRETATION_scRGB, NULL) ||
		    media_harmonise_vips(t[2], &st, o->harmonise, o->harmonise_max_shift,
					 o->harmonise_max_ratio, &t[3], NULL) ||
		    vips_premultiply(t[3], &t[4], NULL))
			goto vips_fail;
		/* Computed once: the composite reads its colour and its alpha
		 * separately, and each read would redo the Lab round trip. */
		if (!(t[8] = vips_image_copy_memory(t[4])))
			goto vips_fail;
		fg_small = t[8];
	}
	if (o->shadow_opacity > 0) {
		/* The silhouette squashed onto the floor, its base at the
		 * product's base. */
		int hs = media_shadow_height(pl.h, o->shadow_squash);

		if (vips_extract_band(t[0], &t[5], 3, NULL) ||
		    vips_resize(t[5], &t[9], 1.0, "vscale", (double)hs / pl.h, NULL) ||
		    media_shadow_vips(t[9], W, H, pl.x + (int)lround(o->shadow_dx * pl.h),
				      pl.y + pl.h - t[9]->Ysize + (int)lround(o->shadow_dy * pl.h),
				      o->shadow_blur * pl.h, o->shadow_opacity, &shadow))
			goto vips_fail;
	}
	if (vips_embed(fg_small, &t[6], pl.x, pl.y, W, H, NULL) ||
	    media_composite_linear(t[6], lin, shadow, &t[7]))
		goto vips_fail;
	VipsImage *res = t[7];

	t[7] = NULL;
	media_unref_all(t, 10);
	g_object_unref(srgb);
	g_object_unref(lin);
	if (shadow)
		g_object_unref(shadow);
	return media_wrap(res, ctx, "lifestyle", out, e);

vips_fail:
	media_vips_err(e, ERR_INTERNAL, ctx, "lifestyle");
	media_unref_all(t, 10);
	if (srgb)
		g_object_unref(srgb);
	if (lin)
		g_object_unref(lin);
	if (shadow)
		g_object_unref(shadow);
	return -1;
}

int media_lifestyle(const struct media_image *product, const struct media_image *scene,
		    const struct media_lifestyle_opts *opts, const char *ctx,
		    struct media_image **out, struct err *e)
{
	struct media_lifestyle_opts o;
	enum media_device dev;

	*out = NULL;
	media_lifestyle_defaults(opts, &o);
	if ((o.width > 0) != (o.height > 0) || o.width > 16384 || o.height > 16384)
		return media_err(e, ERR_CONFIG, ctx, "lifestyle: bad output size %dx%d", o.width,
				 o.height);
	if (media_device_resolve(o.device, &dev, e))
		return err_prefix(e, "%s", ctx ? ctx : "lifestyle");
	if (dev == MEDIA_DEVICE_GPU)
		return media_lifestyle_gpu(product->vi, scene->vi, &o, ctx, out, e);
	return media_lifestyle_cpu(product->vi, scene->vi, &o, ctx, out, e);
}

int media_channel_cpu(VipsImage *cut, const struct media_preset *p, const char *ctx,
		      struct media_image **out, struct err *e)
{
	VipsImage *t[3] = { NULL };
	struct media_placement pl;
	int W, H;

	*out = NULL;
	media_preset_frame(p, cut->Xsize, cut->Ysize, &W, &H);
	media_place(cut->Xsize, cut->Ysize, W, H, p->fill, 0, &pl);
	if (product_placed(cut, pl.w, pl.h, &t[0]) ||
	    vips_embed(t[0], &t[1], pl.x, pl.y, W, H, NULL) ||
	    media_composite_flat(t[1], p->background, &t[2])) {
		media_vips_err(e, ERR_INTERNAL, ctx, "channel image");
		media_unref_all(t, 3);
		return -1;
	}
	media_unref_all(t, 2);
	return media_wrap(t[2], ctx, "channel image", out, e);
}

int media_channel(const struct media_image *product, const struct media_preset *preset,
		  enum media_device device, const char *ctx, struct media_image **out,
		  struct err *e)
{
	enum media_device dev;

	*out = NULL;
	if (preset->fill <= 0 || preset->fill > 1 ||
	    (preset->width <= 0 && preset->long_side <= 0))
		return media_err(e, ERR_CONFIG, ctx, "preset \"%s\": no frame size or fill",
				 preset->name);
	if (media_device_resolve(device, &dev, e))
		return err_prefix(e, "%s", ctx ? ctx : "channel image");
	if (dev == MEDIA_DEVICE_GPU)
		return media_channel_gpu(product->vi, preset, ctx, out, e);
	return media_channel_cpu(product->vi, preset, ctx, out, e);
}

int media_render(const struct media_job *job, const char *ctx, struct buf *out, int *width,
		 int *height, struct err *e)
{
	struct media_image *photo = NULL, *cut = NULL, *made = NULL;
	const struct media_image *src = job->product_image;
	struct media_cutout_opts co;
	enum media_format fmt = job->preset ? job->preset->format : job->format;
	int quality = job->preset ? job->preset->quality : job->quality;
	int rc = -1;

	if (!src) {
		if (!job->product) {
			media_err(e, ERR_INPUT, ctx, "no product image");
			goto done;
		}
		if (media_image_load(job->product, job->load, ctx, &photo, e))
			goto done;
		src = photo;
	}
	memset(&co, 0, sizeof co);
	if (job->cutout)
		co = *job->cutout;
	co.device = job->device;
	if (media_cutout(src, &co, ctx, &cut, e))
		goto done;
	if (job->scene) {
		struct media_lifestyle_opts lo;

		memset(&lo, 0, sizeof lo);
		if (job->lifestyle)
			lo = *job->lifestyle;
		lo.device = job->device;
		/* A fixed-size preset sizes the shot (the scene cropped to it). */
		if (lo.width == 0 && job->preset && job->preset->width > 0) {
			lo.width = job->preset->width;
			lo.height = job->preset->height;
		}
		if (media_lifestyle(cut, job->scene, &lo, ctx, &made, e))
			goto done;
	} else if (job->preset) {
		if (media_channel(cut, job->preset, job->device, ctx, &made, e))
			goto done;
	} else {
		media_err(e, ERR_CONFIG, ctx, "image job: neither a scene nor a preset");
		goto done;
	}
	if (media_save(made, fmt, quality, job->xmp, job->xmp_len, out, e)) {
		err_prefix(e, "%s", ctx ? ctx : "render");
		goto done;
	}
	if (width)
		*width = media_image_width(made);
	if (height)
		*height = media_image_height(made);
	rc = 0;
done:
	media_image_free(photo);
	media_image_free(cut);
	media_image_free(made);
	return rc;
}
