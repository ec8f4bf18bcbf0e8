/* device.c: --device auto|gpu|cpu, and the pipeline's steps on plain
 * buffers through gpu/'s ops.
 *
 * The CPU path is libvips (cutout.c, pipeline.c).  The GPU path hands the
 * same steps to a `struct gpu_ops` table (gpu/ops.h): the images are already
 * in memory, so each is lent to the ops as a struct gpu_image without a copy;
 * crops are views (a pointer and the parent's stride).  gpu_ops_cuda() is the
 * table on a machine with a CUDA device and a CUDA build; the same code runs
 * on gpu_ops_ref (the CPU references, identical semantics), which is how the
 * tests exercise this path on a machine without a GPU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/device.h"
#include "gpu/ops.h"
#include "media/image_int.h"

int media_device_parse(const char *s, enum media_device *out, struct err *e)
{
	if (!strcmp(s, "auto"))
		*out = MEDIA_DEVICE_AUTO;
	else if (!strcmp(s, "cpu"))
		*out = MEDIA_DEVICE_CPU;
	else if (!strcmp(s, "gpu"))
		*out = MEDIA_DEVICE_GPU;
	else
		return err_set(e, ERR_USAGE, "--device: \"%.40s\": expected auto, gpu or cpu", s);
	return 0;
}

const char *media_device_name(enum media_device d)
{
	switch (d) {
	case MEDIA_DEVICE_AUTO: return "auto";
	case MEDIA_DEVICE_CPU: return "cpu";
	case MEDIA_DEVICE_GPU: return "gpu";
	}
	return "?";
}

int media_device_resolve(enum media_device want, enum media_device *out, struct err *e)
{
	char why[256];

	switch (want) {
	case MEDIA_DEVICE_CPU:
		*out = MEDIA_DEVICE_CPU;
		return 0;
	case MEDIA_DEVICE_AUTO:
		*out = gpu_ops_cuda() ? MEDIA_DEVICE_GPU : MEDIA_DEVICE_CPU;
		return 0;
	case MEDIA_DEVICE_GPU:
		if (!gpu_ops_cuda())
			return err_set(e, ERR_CONFIG, "--device gpu: %s",
				       gpu_device_describe(why, sizeof why));
		*out = MEDIA_DEVICE_GPU;
		return 0;
	}
	return err_set(e, ERR_INTERNAL, "unknown device %d", (int)want);
}

int media_device_from_env(enum media_device *out, struct err *e)
{
	const char *dev = getenv("SKUGEN_DEVICE");

	return media_device_parse(dev && *dev ? dev : "auto", out, e);
}

int media_device_for_generator(const char *name, enum media_device *out, struct err *e)
{
	enum media_device want;

	if (media_init(e) < 0)
		return -1;
	if (media_device_from_env(&want, e) < 0)
		return err_prefix(e, "--device");
	if (media_device_resolve(want, out, e) < 0)
		return err_prefix(e, "generators.%s", name);
	return 0;
}

/* Lend a memory image's pixels as a gpu_image (no copy). */
static void view_of(VipsImage *vi, struct gpu_image *g)
{
	g->data = VIPS_IMAGE_ADDR(vi, 0, 0);
	g->width = vi->Xsize;
	g->height = vi->Ysize;
	g->channels = vi->Bands;
	g->stride = VIPS_IMAGE_SIZEOF_LINE(vi);
}

/* A new uchar sRGB memory image holding a copy of g's pixels. */
static int wrap_buffer(const struct gpu_image *g, const char *ctx, struct media_image **out,
		       struct err *e)
{
	VipsImage *vi = vips_image_new_from_memory_copy(g->data, g->stride * g->height,
						       g->width, g->height, g->channels,
						       VIPS_FORMAT_UCHAR);

	*out = NULL;
	if (!vi)
		return media_vips_err(e, ERR_NOMEM, ctx, "image from device buffer");
	vi->Type = VIPS_INTERPRETATION_sRGB;
	return media_wrap(vi, ctx, "image from device buffer", out, e);
}

/* A 4-band memory copy of a cut-out (3-band ones gain an opaque alpha);
 * new reference in *out. */
static int with_alpha(VipsImage *cut, VipsImage **out)
{
	VipsImage *t = NULL;

	if (cut->Bands == 4) {
		/* Already in memory (media_wrap) or made so. */
		*out = vips_image_copy_memory(cut);
		return *out ? 0 : -1;
	}
	if (vips_bandjoin_const1(cut, &t, 255.0, NULL))
		return -1;
	*out = vips_image_copy_memory(t);
	g_object_unref(t);
	return *out ? 0 : -1;
}

int media_matte_ops(const struct gpu_ops *ops, VipsImage *in, const struct media_cutout_opts *o,
		    const char *ctx, VipsImage **rgba_out, uint8_t bg[3], struct err *e)
{
	struct gpu_matte_params p = {
		.tol_lo = (float)o->soft, .tol_hi = (float)o->tolerance, .border = 4,
		.feather = o->feather > 0 ? (float)o->feather : 0.0f,
	};
	struct gpu_matte_stats st;
	struct gpu_image src, dst = { 0 };
	VipsImage *vi;
	int rc = -1;

	*rgba_out = NULL;
	view_of(in, &src);
	if (gpu_image_alloc(&dst, src.width, src.height, 4, e))
		return err_prefix(e, "%s", ctx ? ctx : "cut-out");
	if (ops->matte(&src, &dst, &p, &st, e)) {
		err_prefix(e, "%s: cut-out on %s", ctx ? ctx : "", ops->name);
		goto done;
	}
	if (1.0 - st.border_uniform > o->border_outliers) {
		media_err(e, ERR_GENERATE, ctx,
			  "cannot cut out the product: background not uniform (%.0f%% of the "
			  "border differs from its colour #%02x%02x%02x by more than %.0f)",
			  100.0 * (1.0 - st.border_uniform), st.bg_rgb[0], st.bg_rgb[1],
			  st.bg_rgb[2], o->soft);
		goto done;
	}
	if (st.coverage < o->min_product) {
		media_err(e, ERR_GENERATE, ctx,
			  "cannot cut out the product: nothing left after removing the "
			  "background (%.2f%% of the image)", 100.0 * st.coverage);
		goto done;
	}
	if (st.coverage > o->max_product) {
		media_err(e, ERR_GENERATE, ctx,
			  "cannot cut out the product: no background found around it "
			  "(%.1f%% of the image kept)", 100.0 * st.coverage);
		goto done;
	}
	vi = vips_image_new_from_memory_copy(dst.data, dst.stride * dst.height, dst.width,
					     dst.height, 4, VIPS_FORMAT_UCHAR);
	if (!vi) {
		media_vips_err(e, ERR_NOMEM, ctx, "cut-out");
		goto done;
	}
	vi->Type = VIPS_INTERPRETATION_sRGB;
	*rgba_out = vi;
	if (bg)
		memcpy(bg, st.bg_rgb, 3);
	rc = 0;
done:
	gpu_image_release(&dst);
	return rc;
}

/* A w x h view of the centre of src with the aspect ratio of fw x fh. */
static void centre_crop(const struct gpu_image *src, int fw, int fh, struct gpu_image *v)
{
	int w = src->width, h = src->height;

	if ((double)w * fh > (double)h * fw)
		w = (int)lround((double)h * fw / fh);
	else
		h = (int)lround((double)w * fh / fw);
	if (w < 1)
		w = 1;
	if (h < 1)
		h = 1;
	*v = *src;
	v->width = w;
	v->height = h;
	v->data = gpu_image_px(src, (src->width - w) / 2, (src->height - h) / 2);
}

int media_lifestyle_ops(const struct gpu_ops *ops, VipsImage *cut, VipsImage *scene,
			const struct media_lifestyle_opts *o, const char *ctx,
			struct media_image **out, struct err *e)
{
	static const uint8_t black[3] = { 0, 0, 0 };
	int W = o->width > 0 ? o->width : scene->Xsize;
	int H = o->height > 0 ? o->height : scene->Ysize;
	struct gpu_image sc, view, dst = { 0 }, prod, small = { 0 }, mask = { 0 }, alpha = { 0 };
	VipsImage *cut4 = NULL, *scene3 = NULL;
	struct media_placement pl;
	int rc = -1;

	*out = NULL;
	if (with_alpha(cut, &cut4)) {
		media_vips_err(e, ERR_INTERNAL, ctx, "lifestyle");
		goto done;
	}
	if (scene->Bands == 4) {
		static const uint8_t white[3] = { 255, 255, 255 };
		VipsImage *flat = NULL;

		if (media_flatten_linear(scene, white, &flat) ||
		    !(scene3 = vips_image_copy_memory(flat))) {
			if (flat)
				g_object_unref(flat);
			media_vips_err(e, ERR_INTERNAL, ctx, "lifestyle: flatten the scene");
			goto done;
		}
		g_object_unref(flat);
	} else {
		scene3 = scene;
		g_object_ref(scene3);
	}
	view_of(cut4, &prod);
	view_of(scene3, &sc);
	media_place(prod.width, prod.height, W, H, o->fill, o->floor, &pl);

	if (gpu_image_alloc(&dst, W, H, 3, e) || gpu_image_alloc(&small, pl.w, pl.h, 4, e))
		goto fail;
	/* The scene: as it is, or its centre resampled to the output size. */
	if (W == sc.width && H == sc.height) {
		for (int y = 0; y < H; y++)
			memcpy(gpu_image_px(&dst, 0, y), gpu_image_px(&sc, 0, y), (size_t)W * 3);
	} else {
		centre_crop(&sc, W, H, &view);
		if (ops->resample(&view, &dst, GPU_RESAMPLE_LANCZOS3, e))
			goto fail;
	}
	if (ops->resample(&prod, &small, GPU_RESAMPLE_LANCZOS3, e))
		goto fail;
	if (o->harmonise > 0) {
		struct gpu_colour_stats from, to;
		struct gpu_transfer_params tp = {
			.strength = (float)o->harmonise,
			.max_shift_l = (float)o->harmonise_max_shift,
			.max_shift_ab = (float)o->harmonise_max_shift,
			.min_scale = (float)(1.0 / o->harmonise_max_ratio),
			.max_scale = (float)o->harmonise_max_ratio,
		};

		if (ops->colour_stats(&dst, NULL, &to, e) ||
		    ops->colour_stats(&small, NULL, &from, e))
			goto fail;
		if (from.weight > 0 &&
		    ops->colour_transfer(&small, &small, &from, &to, &tp, e))
			goto fail;
	}
	if (o->shadow_opacity > 0) {
		/* The silhouette squashed onto the floor (resampled), padded
		 * for the blur, blurred, shaded in at the product's base. */
		double sigma = o->shadow_blur * pl.h;
		int m = (int)ceil(3.0 * sigma) + 1;
		int hs = media_shadow_height(pl.h, o->shadow_squash);
		struct gpu_image sq, inner;

		if (sigma > GPU_BLUR_MAX_SIGMA)
			sigma = GPU_BLUR_MAX_SIGMA;
		if (sigma < 0.1)
			sigma = 0.1;
		if (gpu_image_alloc(&alpha, pl.w, pl.h, 1, e) ||
		    gpu_image_alloc(&mask, pl.w + 2 * m, hs + 2 * m, 1, e))
			goto fail;
		for (int y = 0; y < pl.h; y++)
			for (int x = 0; x < pl.w; x++)
				*gpu_image_px(&alpha, x, y) = gpu_image_px(&small, x, y)[3];
		for (int y = 0; y < mask.height; y++)
			memset(gpu_image_px(&mask, 0, y), 0, (size_t)mask.width);
		/* The squashed alpha goes straight into the padded mask: a
		 * view of its inside. */
		inner = mask;
		inner.data = gpu_image_px(&mask, m, m);
		inner.width = pl.w;
		inner.height = hs;
		sq = inner;
		if (ops->resample(&alpha, &sq, GPU_RESAMPLE_LANCZOS3, e) ||
		    ops->blur(&mask, &mask, (float)sigma, e) ||
		    ops->shade(&dst, &mask, pl.x + (int)lround(o->shadow_dx * pl.h) - m,
			       pl.y + pl.h - hs + (int)lround(o->shadow_dy * pl.h) - m, black,
			       (float)o->shadow_opacity, e))
			goto fail;
	}
	if (ops->composite(&dst, &small, pl.x, pl.y, 1.0f, e))
		goto fail;
	rc = wrap_buffer(&dst, ctx, out, e);
	goto done;
fail:
	err_prefix(e, "%s: lifestyle on %s", ctx ? ctx : "", ops->name);
done:
	gpu_image_release(&dst);
	gpu_image_release(&small);
	gpu_image_release(&mask);
	gpu_image_release(&alpha);
	if (cut4)
		g_object_unref(cut4);
	if (scene3)
		g_object_unref(scene3);
	return rc;
}

int media_channel_ops(const struct gpu_ops *ops, VipsImage *cut, const struct media_preset *p,
		      const char *ctx, struct media_image **out, struct err *e)
{
	struct gpu_image prod, dst = { 0 }, small = { 0 };
	struct media_placement pl;
	VipsImage *cut4 = NULL;
	int W, H, rc = -1;

	*out = NULL;
	if (with_alpha(cut, &cut4))
		return media_vips_err(e, ERR_INTERNAL, ctx, "channel image");
	view_of(cut4, &prod);
	media_preset_frame(p, prod.width, prod.height, &W, &H);
	media_place(prod.width, prod.height, W, H, p->fill, 0, &pl);
	if (gpu_image_alloc(&dst, W, H, 3, e) || gpu_image_alloc(&small, pl.w, pl.h, 4, e))
		goto fail;
	for (int y = 0; y < H; y++) {
		uint8_t *row = gpu_image_px(&dst, 0, y);

		for (int x = 0; x < W; x++)
			memcpy(row + 3 * x, p->background, 3);
	}
	if (ops->resample(&prod, &small, GPU_RESAMPLE_LANCZOS3, e) ||
	    ops->composite(&dst, &small, pl.x, pl.y, 1.0f, e))
		goto fail;
	rc = wrap_buffer(&dst, ctx, out, e);
	goto done;
fail:
	err_prefix(e, "%s: channel image on %s", ctx ? ctx : "", ops->name);
done:
	gpu_image_release(&dst);
	gpu_image_release(&small);
	g_object_unref(cut4);
	return rc;
}

int media_matte_gpu(VipsImage *in, const struct media_cutout_opts *o, const char *ctx,
		    VipsImage **rgba_out, uint8_t bg[3], struct err *e)
{
	return media_matte_ops(gpu_ops_cuda(), in, o, ctx, rgba_out, bg, e);
}

int media_lifestyle_gpu(VipsImage *cut, VipsImage *scene, const struct media_lifestyle_opts *o,
			const char *ctx, struct media_image **out, struct err *e)
{
	return media_lifestyle_ops(gpu_ops_cuda(), cut, scene, o, ctx, out, e);
}

int media_channel_gpu(VipsImage *cut, const struct media_preset *p, const char *ctx,
		      struct media_image **out, struct err *e)
{
	return media_channel_ops(gpu_ops_cuda(), cut, p, ctx, out, e);
}
