/* gen_image.c: the `image` generator: one channel image or lifestyle shot per
 * SKU, made locally by the libvips pipeline (media/image.h), marked with XMP
 * (media/xmp.h) and stored in the asset store (media/asset.h).
 *
 * Per task: the product photo from the record (gen_request.input holds the
 * photo field: a path relative to the configuration, or an http(s) URL,
 * downloaded with the pipeline's size and type limits), decoded, cut out,
 * then framed by the output's preset (mode "channel") or placed in the SKU's
 * scene (mode "lifestyle", media/scenes.h picks it), encoded with the XMP
 * packet and written into the store.  The generation's content is a JSON
 * description of the file; its path and sha256 go into gen_result.
 *
 * IPTC DigitalSourceType, chosen truthfully (see media/xmp.h):
 *   channel image                      algorithmicallyEnhanced
 *   lifestyle, scenes from the folder  composite (or
 *                                      compositeWithTrainedAlgorithmicMedia
 *                                      when "scenes_generated" says a model
 *                                      made them)
 *
 * Configuration: { "type": "image" }.  The device comes from the command line
 * (`--device auto|gpu|cpu`, through SKUGEN_DEVICE), not from the file: the
 * same file runs on a laptop and on a GPU box, and the device is not part of
 * any fingerprint.  Hosted models ("provider", "model") are driven by the
 * executor (batch/exec_media.c), not here.
 */
#include "providers/generator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/file_read.h"
#include "common/hash.h"
#include "media/asset.h"
#include "media/image.h"
#include "media/scenes.h"
#include "media/xmp.h"

extern const struct gen_ops gen_image_ops;

#define GEN_IMAGE_VERSION "1"

/* A scene folder listed and its scenes decoded, kept for the run: every SKU
 * of an output shares a handful of scenes. */
struct scene_cache {
	char *dir;
	struct media_scenes *list;
	struct media_image **decoded;  /* per list item, NULL until first used */
	struct scene_cache *next;
};

struct gen_image {
	struct gen base;
	char *name;
	enum media_device device;      /* resolved: cpu or gpu */
	struct scene_cache *scenes;
};

static void scene_cache_free(struct scene_cache *c)
{
	while (c) {
		struct scene_cache *next = c->next;

		for (size_t i = 0; c->list && i < c->list->n; i++)
			media_image_free(c->decoded[i]);
		free(c->decoded);
		media_scenes_free(c->list);
		free(c->dir);
		free(c);
		c = next;
	}
}

static void image_close(struct gen *g)
{
	struct gen_image *gi = (struct gen_image *)g;

	if (!gi)
		return;
	scene_cache_free(gi->scenes);
	free(gi->name);
	free(gi);
}

static int image_open(struct gen **out, const char *name, const json_t *cfg, struct err *e)
{
	struct gen_image *gi;
	const char *dev = getenv("SKUGEN_DEVICE");
	enum media_device want;

	*out = NULL;
	if (media_init(e) < 0)
		return -1;
	if (media_device_parse(dev && *dev ? dev : "auto", &want, e) < 0)
		return err_prefix(e, "--device");
	gi = calloc(1, sizeof *gi);
	if (!gi || !(gi->name = strdup(name))) {
		free(gi);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	gi->base.ops = &gen_image_ops;
	if (media_device_resolve(want, &gi->device, e) < 0) {
		image_close(&gi->base);
		return err_prefix(e, "generators.%s", name);
	}
	*out = &gi->base;
	return 0;
}

/* The scene for sku from dir, decoded (borrowed from the cache). */
static int scene_for(struct gen_image *gi, const char *dir, const char *sku, const char *ctx,
		     const struct media_scene **scene, const struct media_image **img, struct err *e)
{
	struct scene_cache *c = gi->scenes;
	size_t idx;

	while (c && strcmp(c->dir, dir) != 0)
		c = c->next;
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c || !(c->dir = strdup(dir))) {
			free(c);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		if (media_scenes_open(dir, &c->list, e) < 0 ||
		    !(c->decoded = calloc(c->list->n, sizeof *c->decoded))) {
			if (e && e->code == ERR_OK)
				err_set(e, ERR_NOMEM, "out of memory");
			scene_cache_free(c);
			return -1;
		}
		c->next = gi->scenes;
		gi->scenes = c;
	}
	*scene = media_scenes_pick(c->list, sku);
	idx = (size_t)(*scene - c->list->items);
	if (!c->decoded[idx]) {
		struct buf sctx = BUF_INIT;
		int rc;

		buf_printf(&sctx, "%s: scene %s", ctx, (*scene)->name);
		rc = media_image_load_file((*scene)->path, NULL, buf_str(&sctx), &c->decoded[idx], e);
		buf_free(&sctx);
		if (rc < 0)
			return -1;
	}
	*img = c->decoded[idx];
	return 0;
}

static bool is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* The product photo's bytes: downloaded, or read relative to base_dir. */
static int photo_bytes(const char *value, const char *base_dir, const char *ctx, struct buf *out,
		       struct err *e)
{
	struct buf path = BUF_INIT;
	int rc;

	if (is_url(value))
		return media_fetch(value, NULL, ctx, out, e);
	if (value[0] == '/')
		buf_puts(&path, value);
	else
		buf_printf(&path, "%s/%s", base_dir, value);
	rc = file_read_all(buf_str(&path), out, e);
	buf_free(&path);
	if (rc < 0) {
		e->code = ERR_INPUT;
		return err_prefix(e, "%s: cannot read the product photo", ctx);
	}
	if (out->len == 0)
		return err_set(e, ERR_INPUT, "%s: the product photo %s is an empty file", ctx, value);
	return 0;
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

/* The options as provenance parameters: without the machine's paths. */
static json_t *params_of(const json_t *o, const char *device)
{
	json_t *p = json_deep_copy(o);

	if (!p)
		return NULL;
	json_object_del(p, "base_dir");
	json_object_del(p, "assets_root");
	json_object_del(p, "scenes_dir");
	json_object_set_new(p, "device", json_string(device));
	return p;
}

static int image_generate(struct gen *g, const struct gen_request *req, struct gen_result *res,
			  struct err *e)
{
	struct gen_image *gi = (struct gen_image *)g;
	const json_t *o = req->options;
	const char *mode = json_string_value(json_object_get(o, "mode"));
	const char *field = json_string_value(json_object_get(o, "photo_field"));
	const char *base_dir = json_string_value(json_object_get(o, "base_dir"));
	const char *root = json_string_value(json_object_get(o, "assets_root"));
	const char *preset_name = json_string_value(json_object_get(o, "preset"));
	const char *value = field ? json_string_value(json_object_get(req->input, field)) : NULL;
	struct buf ctx = BUF_INIT, bytes = BUF_INIT, xmp = BUF_INIT, file = BUF_INIT;
	struct media_image *photo = NULL, *cut = NULL, *made = NULL;
	const struct media_scene *scene = NULL;
	const struct media_image *scene_img = NULL;
	struct media_preset preset;
	struct asset_ref ref = { 0 };
	const char *dst = XMP_DST_ENHANCED, *device = media_device_name(gi->device);
	char source_sha[HASH_HEX_LEN], model[64];
	json_t *desc = NULL;
	char *text = NULL;
	int rc = -1;

	if (!mode || !field || !root || !preset_name || !base_dir)
		return err_set(e, ERR_CONFIG, "output \"%s\": the image generator \"%s\" needs an output of kind \"image\"",
			       req->output, gi->name);
	buf_printf(&ctx, "sku \"%s\": field \"%s\"", req->sku, field);
	if (!value || !*value) {
		err_set(e, ERR_INPUT, "%s: no product photo (a path or URL) in the record", buf_str(&ctx));
		goto out;
	}
	/* The preset: a custom one from the configuration, else built in. */
	{
		const json_t *custom = json_object_get(o, "preset_config");
		const struct media_preset *builtin = custom ? NULL : media_preset_builtin(preset_name);

		if (custom) {
			if (media_preset_from_json(preset_name, custom, &preset, e) < 0) {
				err_prefix(e, "presets.%s", preset_name);
				goto out;
			}
		} else if (builtin)
			preset = *builtin;
		else {
			err_set(e, ERR_CONFIG, "no preset \"%s\"", preset_name);
			goto out;
		}
	}
	if (photo_bytes(value, base_dir, buf_str(&ctx), &bytes, e) < 0)
		goto out;
	sha256_hex(bytes.data, bytes.len, source_sha);
	if (media_image_load_buffer(bytes.data, bytes.len, NULL, buf_str(&ctx), &photo, e) < 0)
		goto out;
	buf_free(&bytes);
	{
		const json_t *co = json_object_get(o, "cutout");
		struct media_cutout_opts cutopts = {
			.tolerance = opt_num(co, "tolerance", 0), .feather = opt_num(co, "feather", 0),
		};

		if (media_cutout(photo, &cutopts, buf_str(&ctx), &cut, e) < 0)
			goto out;
	}
	if (strcmp(mode, "lifestyle") == 0) {
		const char *dir = json_string_value(json_object_get(o, "scenes_dir"));
		struct media_lifestyle_opts lo;

		if (!dir) {
			err_set(e, ERR_CONFIG, "output \"%s\": a lifestyle image needs \"scenes\"", req->output);
			goto out;
		}
		if (scene_for(gi, dir, req->sku, buf_str(&ctx), &scene, &scene_img, e) < 0)
			goto out;
		lifestyle_opts(o, &preset, gi->device, &lo);
		if (media_lifestyle(cut, scene_img, &lo, buf_str(&ctx), &made, e) < 0)
			goto out;
		dst = json_is_true(json_object_get(o, "scenes_generated")) ? XMP_DST_COMPOSITE_TRAINED
									   : XMP_DST_COMPOSITE;
	} else if (media_channel(cut, &preset, gi->device, buf_str(&ctx), &made, e) < 0)
		goto out;
	snprintf(model, sizeof model, "skugen-%s-%s", mode, device);
	{
		struct xmp_info info = {
			.digital_source_type = dst, .generation_id = req->generation_id, .run_id = req->run_id,
			.sku = req->sku, .generator = gen_image_ops.name,
			.generator_version = gen_image_ops.version, .model = model,
			.template_sha256 = req->template_sha256, .source_sha256 = source_sha,
			.preset = preset.name[0] ? preset.name : preset_name,
		};

		if (xmp_packet(&info, &xmp, e) < 0)
			goto out;
	}
	if (media_save(made, preset.format, preset.quality, xmp.data, xmp.len, &file, e) < 0) {
		err_prefix(e, "%s", buf_str(&ctx));
		goto out;
	}
	if (asset_put(root, file.data, file.len, asset_ext_for_mime(media_format_mime(preset.format)), &ref, e) < 0)
		goto out;
	desc = json_pack("{s:s, s:i, s:i, s:I, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:s*, s:s*, s:s%}",
			 "mime", media_format_mime(preset.format),
			 "width", media_image_width(made), "height", media_image_height(made),
			 "bytes", (json_int_t)file.len, "sha256", ref.sha256, "mode", mode,
			 "preset", preset_name, "digital_source_type", dst,
			 "source", "field", field, "value", value, "sha256", source_sha,
			 "scene", scene ? scene->name : NULL, "scene_sha256", scene ? scene->sha256 : NULL,
			 "alt", req->prompt ? req->prompt : "", req->prompt ? req->prompt_len : (size_t)0);
	text = desc ? json_dumps(desc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	res->provider = strdup("local");
	res->model = strdup(model);
	res->model_version = strdup(GEN_IMAGE_VERSION);
	res->params = params_of(o, device);
	res->asset_path = strdup(ref.path);
	res->asset_sha256 = strdup(ref.sha256);
	if (!text || !res->provider || !res->model || !res->model_version || !res->params ||
	    !res->asset_path || !res->asset_sha256 || buf_puts(&res->content, text) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(text);
	json_decref(desc);
	asset_ref_clear(&ref);
	media_image_free(photo);
	media_image_free(cut);
	media_image_free(made);
	buf_free(&ctx);
	buf_free(&bytes);
	buf_free(&xmp);
	buf_free(&file);
	return rc;
}

const struct gen_ops gen_image_ops = {
	.name = "image",
	.version = GEN_IMAGE_VERSION,
	.open = image_open,
	.generate = image_generate,
	.close = image_close,
};
