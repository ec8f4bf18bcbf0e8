/* image_job.c: the steps every image task shares (see image_job.h). */
#include "media/image_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "common/file_read.h"
#include "media/asset.h"
#include "media/fetch_guard.h"
#include "media/xmp.h"

static bool is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

int image_job_begin(struct image_job *ij, const struct gen_request *req, struct err *e)
{
	const json_t *o = req->options;
	const json_t *custom;

	memset(ij, 0, sizeof *ij);
	ij->req = req;
	ij->o = o;
	ij->mode = json_string_value(json_object_get(o, "mode"));
	ij->field = json_string_value(json_object_get(o, "photo_field"));
	ij->preset_name = json_string_value(json_object_get(o, "preset"));
	if (!ij->mode || !ij->field || !ij->preset_name ||
	    !json_string_value(json_object_get(o, "assets_root")) ||
	    !json_string_value(json_object_get(o, "base_dir")))
		return err_set(e, ERR_CONFIG, "output \"%s\": an image generator needs an output of kind \"image\"",
			       req->output);
	if (buf_printf(&ij->ctx, "sku \"%s\": field \"%s\"", req->sku, ij->field) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	ij->value = json_string_value(json_object_get(req->input, ij->field));
	if (!ij->value || !*ij->value)
		return err_set(e, ERR_INPUT, "%s: no product photo (a path or URL) in the record", buf_str(&ij->ctx));
	custom = json_object_get(o, "preset_config");
	if (custom) {
		if (media_preset_from_json(ij->preset_name, custom, &ij->preset, e) < 0)
			return err_prefix(e, "presets.%s", ij->preset_name);
	} else {
		const struct media_preset *p = media_preset_builtin(ij->preset_name);

		if (!p)
			return err_set(e, ERR_CONFIG, "no preset \"%s\"", ij->preset_name);
		ij->preset = *p;
	}
	return 0;
}

int image_job_photo(struct image_job *ij, bool cut_out, struct err *e)
{
	const char *ctx = buf_str(&ij->ctx);

	if (is_url(ij->value)) {
		/* What it may connect to: "fetch" of the options (the
		 * configuration's media.fetch), public addresses only without. */
		struct media_fetch_policy policy;
		struct media_load_opts lo = { .fetch = &policy };

		if (media_fetch_policy_from_json(json_object_get(ij->o, "fetch"), &policy, e) < 0 ||
		    media_fetch(ij->value, &lo, ctx, &ij->photo_bytes, e) < 0)
			return -1;
	} else {
		struct buf path = BUF_INIT;
		int rc;

		if (ij->value[0] == '/')
			buf_puts(&path, ij->value);
		else
			buf_printf(&path, "%s/%s", json_string_value(json_object_get(ij->o, "base_dir")), ij->value);
		rc = file_read_regular(buf_str(&path), MEDIA_MAX_BYTES_DEFAULT, &ij->photo_bytes, e);
		buf_free(&path);
		if (rc < 0) {
			if (e->code != ERR_NOMEM)
				e->code = ERR_INPUT;
			return err_prefix(e, "%s: cannot read the product photo", ctx);
		}
		if (ij->photo_bytes.len == 0)
			return err_set(e, ERR_INPUT, "%s: the product photo %s is an empty file", ctx, ij->value);
	}
	sha256_hex(ij->photo_bytes.data, ij->photo_bytes.len, ij->source_sha256);
	if (media_image_load_buffer(ij->photo_bytes.data, ij->photo_bytes.len, NULL, ctx, &ij->photo, e) < 0)
		return -1;
	if (cut_out) {
		const json_t *co = json_object_get(ij->o, "cutout");
		json_t *tol = json_object_get(co, "tolerance"), *feather = json_object_get(co, "feather");
		struct media_cutout_opts opts = {
			.tolerance = json_is_number(tol) ? json_number_value(tol) : 0,
			.feather = json_is_number(feather) ? json_number_value(feather) : 0,
		};

		if (media_cutout(ij->photo, &opts, ctx, &ij->cut, e) < 0)
			return -1;
	}
	return 0;
}

/* in resized to fw x fh (cover-cropped when crop, else fitted inside), new
 * in *out. */
static int resize(const struct media_image *in, int fw, int fh, bool crop, const char *ctx,
		  struct media_image **out, struct err *e)
{
	int w = media_image_width(in), h = media_image_height(in), bands = media_image_bands(in);
	VipsImage *v = NULL, *t = NULL;
	uint8_t *px = NULL;
	void *mem = NULL;
	size_t len = 0;
	int rc = -1;

	*out = NULL;
	if (media_image_pixels(in, &px, &len, e) < 0)
		return -1;
	v = vips_image_new_from_memory(px, len, w, h, bands, VIPS_FORMAT_UCHAR);
	if (!v || vips_thumbnail_image(v, &t, fw, "height", fh, "crop",
				       crop ? VIPS_INTERESTING_CENTRE : VIPS_INTERESTING_NONE, NULL) ||
	    !(mem = vips_image_write_to_memory(t, &len))) {
		char *why = vips_error_buffer_copy();

		err_set(e, ERR_INPUT, "%s: cannot resize the image to %dx%d: %s", ctx, fw, fh, why ? why : "");
		g_free(why);
		goto out;
	}
	rc = media_image_from_pixels(mem, t->Xsize, t->Ysize, t->Bands, out, e);
out:
	g_free(mem);
	if (t)
		g_object_unref(t);
	if (v)
		g_object_unref(v);
	free(px);
	return rc;
}

int image_job_fit(struct image_job *ij, const struct media_image *in, struct media_image **out,
		  struct err *e)
{
	const struct media_preset *p = &ij->preset;
	int w = media_image_width(in), h = media_image_height(in);
	int fw = p->width, fh = p->height;

	if (fw <= 0 || fh <= 0) {
		int side = p->long_side > 0 ? p->long_side : (w > h ? w : h);

		fw = w >= h ? side : (int)((double)w * side / h + 0.5);
		fh = w >= h ? (int)((double)h * side / w + 0.5) : side;
		if (fw < p->min_width)
			fw = p->min_width;
		if (fh < p->min_height)
			fh = p->min_height;
	}
	return resize(in, fw, fh, true, buf_str(&ij->ctx), out, e);
}

int image_job_photo_for_upload(struct image_job *ij, int max_side, size_t max_bytes, struct buf *out,
			       struct err *e)
{
	int w = media_image_width(ij->photo), h = media_image_height(ij->photo);
	struct media_image *small = NULL;
	int rc;

	if (ij->photo_bytes.len <= max_bytes && w <= max_side && h <= max_side)
		return buf_append(out, ij->photo_bytes.data, ij->photo_bytes.len) < 0
		       ? err_set(e, ERR_NOMEM, "out of memory") : 0;
	if (resize(ij->photo, w >= h ? max_side : (int)((double)w * max_side / h + 0.5),
		   w >= h ? (int)((double)h * max_side / w + 0.5) : max_side, false, buf_str(&ij->ctx),
		   &small, e) < 0)
		return -1;
	/* PNG keeps an alpha channel; a photo without one travels as JPEG. */
	rc = media_save(small, media_image_has_alpha(small) ? MEDIA_FORMAT_PNG : MEDIA_FORMAT_JPEG, 92,
			NULL, 0, out, e);
	media_image_free(small);
	return rc;
}

static double opt_num(const json_t *obj, const char *key, double def)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_number(v) ? json_number_value(v) : def;
}

static void lifestyle_opts(const json_t *o, const struct media_preset *preset, enum media_device device,
			   struct media_lifestyle_opts *lo)
{
	const json_t *placement = json_object_get(o, "placement");
	const json_t *shadow = json_object_get(o, "shadow");
	const json_t *harmonise = json_object_get(o, "harmonise");

	memset(lo, 0, sizeof *lo);
	lo->fill = opt_num(placement, "fill", 0);
	lo->floor = opt_num(placement, "floor", 0);
	if (json_is_false(shadow))
		lo->shadow_opacity = -1;
	else {
		lo->shadow_opacity = opt_num(shadow, "opacity", 0);
		lo->shadow_blur = opt_num(shadow, "blur", 0);
		lo->shadow_dx = opt_num(shadow, "dx", 0);
		lo->shadow_dy = opt_num(shadow, "dy", 0);
	}
	if (json_is_false(harmonise))
		lo->harmonise = -1;
	else {
		lo->harmonise = opt_num(harmonise, "strength", 0);
		lo->harmonise_max_shift = opt_num(harmonise, "max_shift", 0);
		lo->harmonise_max_ratio = opt_num(harmonise, "max_ratio", 0);
	}
	/* A fixed-size preset sizes the shot; otherwise the scene does. */
	lo->width = preset->width;
	lo->height = preset->height;
	lo->device = device;
}

int image_job_lifestyle(const struct image_job *ij, const struct media_image *scene,
			enum media_device device, struct media_image **out, struct err *e)
{
	struct media_lifestyle_opts lo;

	lifestyle_opts(ij->o, &ij->preset, device, &lo);
	return media_lifestyle(ij->cut, scene, &lo, buf_str(&ij->ctx), out, e);
}

/* The options as provenance parameters: without the machine's paths. */
static json_t *params_of(const json_t *o, const char *device)
{
	json_t *p = json_deep_copy(o);

	if (!p)
		return NULL;
	json_object_del(p, "base_dir");
	json_object_del(p, "assets_root");
	json_object_del(p, "scenes_dir");
	if (device)
		json_object_set_new(p, "device", json_string(device));
	return p;
}

int image_job_store(struct image_job *ij, const struct media_image *made,
		    const struct image_job_made *m, struct gen_result *res, struct err *e)
{
	const struct gen_request *req = ij->req;
	const char *root = json_string_value(json_object_get(ij->o, "assets_root"));
	const char *mime = media_format_mime(ij->preset.format);
	struct buf xmp = BUF_INIT, file = BUF_INIT;
	struct asset_ref ref = { 0 };
	json_t *desc = NULL;
	char *text = NULL;
	int rc = -1;

	{
		struct xmp_info info = {
			.digital_source_type = m->digital_source_type, .generation_id = req->generation_id,
			.run_id = req->run_id, .sku = req->sku, .generator = "image", .generator_version = "1",
			.model = m->model, .template_sha256 = req->template_sha256,
			.source_sha256 = ij->source_sha256[0] ? ij->source_sha256 : NULL,
			.preset = ij->preset_name,
			.alt_text = req->prompt && req->prompt_len ? req->prompt : NULL, .alt_len = req->prompt_len,
		};

		if (xmp_packet(&info, &xmp, e) < 0)
			goto out;
	}
	if (media_save(made, ij->preset.format, ij->preset.quality, xmp.data, xmp.len, &file, e) < 0) {
		err_prefix(e, "%s", buf_str(&ij->ctx));
		goto out;
	}
	if (asset_put(root, file.data, file.len, asset_ext_for_mime(mime), &ref, e) < 0)
		goto out;
	desc = json_pack("{s:s, s:i, s:i, s:I, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s*}, s:s*, s:s*, s:s%}",
			 "mime", mime, "width", media_image_width(made), "height", media_image_height(made),
			 "bytes", (json_int_t)file.len, "sha256", ref.sha256, "mode", ij->mode,
			 "preset", ij->preset_name, "digital_source_type", m->digital_source_type,
			 "source", "field", ij->field, "value", ij->value,
			 "sha256", ij->source_sha256[0] ? ij->source_sha256 : NULL,
			 "scene", m->scene, "scene_sha256", m->scene_sha256,
			 "alt", req->prompt ? req->prompt : "", req->prompt ? req->prompt_len : (size_t)0);
	text = desc ? json_dumps(desc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	res->provider = strdup(m->provider);
	res->model = strdup(m->model);
	res->model_version = m->model_version ? strdup(m->model_version) : NULL;
	res->request_id = m->request_id ? strdup(m->request_id) : NULL;
	res->params = params_of(ij->o, m->device);
	res->asset_path = strdup(ref.path);
	res->asset_sha256 = strdup(ref.sha256);
	if (!text || !res->provider || !res->model || (m->model_version && !res->model_version) ||
	    (m->request_id && !res->request_id) || !res->params || !res->asset_path ||
	    !res->asset_sha256 || buf_puts(&res->content, text) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(text);
	json_decref(desc);
	asset_ref_clear(&ref);
	buf_free(&xmp);
	buf_free(&file);
	return rc;
}

void image_job_end(struct image_job *ij)
{
	if (!ij)
		return;
	media_image_free(ij->photo);
	media_image_free(ij->cut);
	buf_free(&ij->ctx);
	buf_free(&ij->photo_bytes);
	memset(ij, 0, sizeof *ij);
}
