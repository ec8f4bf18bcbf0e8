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
#include "media/image.h"
#include "media/image_job.h"
#include "media/scenes.h"
#include "media/xmp.h"

extern const struct gen_ops gen_image_ops;

#define GEN_IMAGE_VERSION "1"

/* A scene folder listed and its scenes decoded, kept for the run: every SKU
 * of an output shares a handful of scenes.  A long-lived worker lists the
 * folder again for each new run, as that run's planner did (the scenes'
 * sha256 are in the fingerprints). */
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
	long long scenes_run;          /* the run the cache was made for */
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
	enum media_device device;

	*out = NULL;
	if (media_device_for_generator(name, &device, e) < 0)
		return -1;
	gi = calloc(1, sizeof *gi);
	if (!gi || !(gi->name = strdup(name))) {
		free(gi);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	gi->base.ops = &gen_image_ops;
	gi->device = device;
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
		if (media_scenes_open(dir, &c->list, e) < 0) {
			scene_cache_free(c);
			return -1;
		}
		if (!(c->decoded = calloc(c->list->n, sizeof *c->decoded))) {
			scene_cache_free(c);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		c->next = gi->scenes;
		gi->scenes = c;
	}
	*scene = media_scenes_pick(c->list, sku);
	if (!*scene)
		return err_set(e, ERR_NOMEM, "out of memory");
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

static int image_generate(struct gen *g, const struct gen_request *req, struct gen_result *res,
			  struct err *e)
{
	struct gen_image *gi = (struct gen_image *)g;
	struct image_job ij;
	struct media_image *made = NULL;
	const struct media_scene *scene = NULL;
	const char *device = media_device_name(gi->device);
	struct image_job_made m = { .digital_source_type = XMP_DST_ENHANCED, .provider = "local",
				    .device = device };
	char model[64];
	int rc = -1;

	if (image_job_begin(&ij, req, e) < 0 || image_job_photo(&ij, true, e) < 0)
		goto out;
	if (strcmp(ij.mode, "lifestyle") == 0) {
		const char *dir = json_string_value(json_object_get(req->options, "scenes_dir"));
		const struct media_image *scene_img = NULL;

		if (!dir) {
			err_set(e, ERR_CONFIG, "output \"%s\": a lifestyle image needs \"scenes\"", req->output);
			goto out;
		}
		if (req->run_id != gi->scenes_run) {
			scene_cache_free(gi->scenes);
			gi->scenes = NULL;
			gi->scenes_run = req->run_id;
		}
		if (scene_for(gi, dir, req->sku, buf_str(&ij.ctx), &scene, &scene_img, e) < 0 ||
		    image_job_lifestyle(&ij, scene_img, gi->device, &made, e) < 0)
			goto out;
		m.digital_source_type = json_is_true(json_object_get(req->options, "scenes_generated"))
					? XMP_DST_COMPOSITE_TRAINED : XMP_DST_COMPOSITE;
		m.scene = scene->name;
		m.scene_sha256 = scene->sha256;
	} else if (media_channel(ij.cut, &ij.preset, gi->device, buf_str(&ij.ctx), &made, e) < 0)
		goto out;
	snprintf(model, sizeof model, "skugen-%s-%s", ij.mode, device);
	m.model = model;
	m.model_version = GEN_IMAGE_VERSION;
	rc = image_job_store(&ij, made, &m, res, e);
out:
	media_image_free(made);
	image_job_end(&ij);
	return rc;
}

const struct gen_ops gen_image_ops = {
	.name = "image",
	.version = GEN_IMAGE_VERSION,
	.open = image_open,
	.generate = image_generate,
	.close = image_close,
};
