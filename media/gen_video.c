/* gen_video.c: the `video` generator: one short product clip per SKU, made
 * locally (media/video.h), marked with XMP (media/xmp.h) and stored in the
 * asset store (media/asset.h).
 *
 * Per task: the product photo from the record (the output's "inputs.photo"
 * field: a path relative to the configuration, or an http(s) URL) is the
 * first still; with "scenes", "video.lifestyle" more stills put the cut-out
 * product into consecutive scenes of the folder, starting at the SKU's own
 * (media/scenes.h), through the image pipeline (media/image.h).  The rendered
 * template is the end card's title (the product name), "video.line" its
 * second line.  The clip is encoded into a temporary file, probed with
 * libavformat (a file that does not play fails the task), then stored.  The
 * generation's content is a JSON description of the file.
 *
 * IPTC DigitalSourceType, chosen as for images (media/xmp.h): the photo
 * alone, panned and zoomed, is algorithmicallyEnhanced; with an end card
 * (text composited over frames) or lifestyle stills from a folder of real
 * scenes, composite; with scenes a model made ("scenes_generated"),
 * compositeWithTrainedAlgorithmicMedia.
 *
 * Configuration: { "type": "video" }; the device comes from `--device`
 * (SKUGEN_DEVICE), as for images.
 */
#include "providers/generator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

#include "common/buf.h"
#include "common/file_read.h"
#include "media/asset.h"
#include "media/image.h"
#include "media/image_job.h"
#include "media/scenes.h"
#include "media/video.h"
#include "media/xmp.h"

extern const struct gen_ops gen_video_ops;

#define GEN_VIDEO_VERSION "1"
#define MAX_STILLS 5

struct gen_video {
	struct gen base;
	char *name;
	enum media_device device;      /* resolved: cpu or gpu */
	char *scenes_dir;              /* the folder listed in scenes, or NULL */
	struct media_scenes *scenes;
	long long scenes_run;          /* the run the listing was made for: a
					  long-lived worker lists again per run,
					  as the planner does when it fingerprints */
};

static void video_close(struct gen *g)
{
	struct gen_video *gv = (struct gen_video *)g;

	if (!gv)
		return;
	media_scenes_free(gv->scenes);
	free(gv->scenes_dir);
	free(gv->name);
	free(gv);
}

static int video_open(struct gen **out, const char *name, const json_t *cfg, struct err *e)
{
	struct gen_video *gv;
	enum media_device device;

	*out = NULL;
	if (media_device_for_generator(name, &device, e) < 0)
		return -1;
	gv = calloc(1, sizeof *gv);
	if (!gv || !(gv->name = strdup(name))) {
		free(gv);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	gv->base.ops = &gen_video_ops;
	gv->device = device;
	*out = &gv->base;
	return 0;
}

static double opt_num(const json_t *obj, const char *key, double def)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_number(v) ? json_number_value(v) : def;
}

static const char *opt_str(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_is_object(obj) ? json_object_get(obj, key) : NULL);

	return s ? s : def;
}

/* A libvips image of img's pixels (new; unref it). */
static int to_vips(const struct media_image *img, VipsImage **out, struct err *e)
{
	uint8_t *px = NULL;
	size_t len;

	if (media_image_pixels(img, &px, &len, e) < 0)
		return -1;
	*out = vips_image_new_from_memory_copy(px, len, media_image_width(img),
					       media_image_height(img), media_image_bands(img),
					       VIPS_FORMAT_UCHAR);
	free(px);
	if (!*out)
		return err_set(e, ERR_NOMEM, "out of memory for a still");
	if (media_image_bands(img) == 4)
		(*out)->Type = VIPS_INTERPRETATION_sRGB;
	return 0;
}

/* The lifestyle stills: the cut-out product in n consecutive scenes of the
 * folder, starting at the SKU's own (image_job: placement, shadow,
 * harmonisation as the output configures them).  ij->cut must be the
 * cut-out product.  The scenes' names are appended to used. */
static int lifestyle_stills(struct gen_video *gv, struct image_job *ij, int n, VipsImage **stills,
			    const char **labels, char names[][96], int *count, json_t *used,
			    struct err *e)
{
	const char *dir = opt_str(ij->o, "scenes_dir", NULL);

	if (!dir)
		return err_set(e, ERR_CONFIG, "lifestyle stills need \"scenes\"");
	if (!gv->scenes || strcmp(gv->scenes_dir, dir) != 0 || gv->scenes_run != ij->req->run_id) {
		media_scenes_free(gv->scenes);
		gv->scenes = NULL;
		free(gv->scenes_dir);
		if (!(gv->scenes_dir = strdup(dir)))
			return err_set(e, ERR_NOMEM, "out of memory");
		if (media_scenes_open(dir, &gv->scenes, e) < 0)
			return -1;
		gv->scenes_run = ij->req->run_id;
	}
	const struct media_scene *pick = media_scenes_pick(gv->scenes, ij->req->sku);

	if (!pick)
		return err_set(e, ERR_INPUT, "no scene in %s to place the product in", dir);
	size_t first = (size_t)(pick - gv->scenes->items);
	for (int k = 0; k < n && (size_t)k < gv->scenes->n; k++) {
		const struct media_scene *sc = &gv->scenes->items[(first + k) % gv->scenes->n];
		struct media_image *scene = NULL, *made = NULL;
		struct buf sctx = BUF_INIT;
		int r;

		buf_printf(&sctx, "%s: scene %s", buf_str(&ij->ctx), sc->name);
		r = media_image_load_file(sc->path, NULL, buf_str(&sctx), &scene, e);
		if (r == 0)
			r = image_job_lifestyle(ij, scene, gv->device, &made, e);
		if (r == 0)
			r = to_vips(made, &stills[*count], e);
		buf_free(&sctx);
		media_image_free(scene);
		media_image_free(made);
		if (r < 0)
			return -1;
		snprintf(names[*count], sizeof names[0], "(scene %s)", sc->name);
		if (json_array_append_new(used, json_string(sc->name)) < 0)
			return err_set(e, ERR_NOMEM, "out of memory");
		labels[*count] = names[*count];
		(*count)++;
	}
	return 0;
}

/* The end card's title: the rendered template's first line, trimmed. */
static char *card_title(const struct gen_request *req)
{
	const char *p = req->prompt ? req->prompt : "";
	size_t n = req->prompt ? req->prompt_len : 0;

	while (n && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++, n--;
	const char *nl = memchr(p, '\n', n);
	if (nl)
		n = (size_t)(nl - p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\r' || p[n - 1] == '\t'))
		n--;
	return strndup(p, n);
}

static int video_generate(struct gen *g, const struct gen_request *req, struct gen_result *res,
			  struct err *e)
{
	struct gen_video *gv = (struct gen_video *)g;
	const json_t *o = req->options;
	const json_t *vo = json_object_get(o, "video");
	const char *root = opt_str(o, "assets_root", NULL);
	struct image_job ij;
	struct buf xmp = BUF_INIT, file = BUF_INIT;
	VipsImage *stills[MAX_STILLS] = { NULL };
	const char *labels[MAX_STILLS] = { NULL };
	char names[MAX_STILLS][96];
	int n = 0, rc = -1, tmp_made = 0;
	struct media_video *v = NULL;
	struct media_video_stats st = { 0 };
	struct media_video_info info;
	struct asset_ref ref = { 0 };
	const char *dst, *device = media_device_name(gv->device);
	char model[64], tmp[512];
	char *title = NULL, *text = NULL;
	json_t *desc = NULL, *params = NULL, *scenes = NULL;

	if (image_job_begin(&ij, req, e) < 0 || !json_is_object(vo)) {
		if (!json_is_object(vo) || e->code == ERR_CONFIG)
			err_set(e, ERR_CONFIG, "output \"%s\": the video generator \"%s\" needs an output of kind \"video\"",
				req->output, gv->name);
		else if (e->code == ERR_INPUT)
			err_set(e, ERR_INPUT, "%s: no product photo (a path or URL) in the record, so no stills for a video",
				buf_str(&ij.ctx));
		goto out;
	}
	int format = media_video_format_parse(opt_str(vo, "format", "mp4"));
	int lifestyle = (int)opt_num(vo, "lifestyle", 0);
	if (lifestyle > MAX_STILLS - 1)
		lifestyle = MAX_STILLS - 1;
	if (image_job_photo(&ij, false, e) < 0 || to_vips(ij.photo, &stills[0], e) < 0)
		goto out;
	snprintf(names[0], sizeof names[0], "(the product photo)");
	labels[0] = names[0];
	n = 1;
	if (media_video_check_still(stills[0], 0, labels[0], e) < 0) {
		err_prefix(e, "%s", buf_str(&ij.ctx));
		goto out;
	}
	if (lifestyle > 0) {
		/* the cut-out image_job_lifestyle() places, as image_job_photo()
		 * makes it, after the photo passed the size check above */
		const json_t *co = json_object_get(o, "cutout");
		struct media_cutout_opts copts = {
			.tolerance = opt_num(co, "tolerance", 0), .feather = opt_num(co, "feather", 0),
		};

		if (media_cutout(ij.photo, &copts, buf_str(&ij.ctx), &ij.cut, e) < 0)
			goto out;
	}
	if (!(scenes = json_array())) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (lifestyle > 0 &&
	    lifestyle_stills(gv, &ij, lifestyle, stills, labels, names, &n, scenes, e) < 0)
		goto out;

	struct media_video_opts vopts;
	media_video_opts_default(&vopts);
	vopts.width = (int)opt_num(vo, "width", 1080);
	vopts.height = (int)opt_num(vo, "height", 1080);
	vopts.fps = (int)opt_num(vo, "fps", 30);
	vopts.duration = opt_num(vo, "duration", 6);
	vopts.crossfade = opt_num(vo, "crossfade", vopts.crossfade);
	vopts.zoom = opt_num(vo, "zoom", vopts.zoom);
	vopts.filter = gpu_warp_filter_parse(opt_str(vo, "filter", "bilinear")) == GPU_WARP_BICUBIC
			       ? GPU_WARP_BICUBIC : GPU_WARP_BILINEAR;
	vopts.device = gv->device == MEDIA_DEVICE_GPU ? MEDIA_VIDEO_DEVICE_GPU : MEDIA_VIDEO_DEVICE_CPU;
	if (json_is_true(json_object_get(vo, "end_card"))) {
		title = card_title(req);
		if (!title) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		vopts.title = title;
		vopts.line = opt_str(vo, "line", "");
	}
	if (media_video_new(&v, stills, labels, n, &vopts, e) < 0) {
		err_prefix(e, "sku \"%s\"", req->sku);
		goto out;
	}

	bool generated = json_is_true(json_object_get(o, "scenes_generated"));
	dst = n > 1 ? (generated ? XMP_DST_COMPOSITE_TRAINED : XMP_DST_COMPOSITE)
		    : (vopts.title && *vopts.title ? XMP_DST_COMPOSITE : XMP_DST_ENHANCED);
	snprintf(model, sizeof model, "skugen-video-%s", media_video_device_name(v));
	{
		struct xmp_info xi = {
			.digital_source_type = dst, .generation_id = req->generation_id,
			.run_id = req->run_id, .sku = req->sku, .generator = gen_video_ops.name,
			.generator_version = gen_video_ops.version, .model = model,
			.template_sha256 = req->template_sha256, .source_sha256 = ij.source_sha256,
			.preset = opt_str(vo, "preset", NULL),
		};

		if (xmp_packet(&xi, &xmp, e) < 0)
			goto out;
	}
	struct media_encode_opts eo;
	media_encode_opts_default(&eo);
	eo.format = format < 0 ? MEDIA_VIDEO_MP4 : (enum media_video_format)format;
	eo.crf = (int)opt_num(vo, "crf", 23);
	eo.x264_preset = opt_str(vo, "x264_preset", "veryfast");
	eo.xmp = xmp.data;
	eo.xmp_len = xmp.len;
	const char *tmpdir = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/skugen-clip-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	int fd = mkstemp(tmp);
	if (fd < 0) {
		err_set(e, ERR_IO, "cannot make a temporary file for the clip");
		goto out;
	}
	close(fd);
	tmp_made = 1;
	if (media_video_write(v, tmp, &eo, &st, e) < 0) {
		err_prefix(e, "sku \"%s\"", req->sku);
		goto out;
	}
	if (media_video_probe(tmp, &info, e) < 0) {
		err_prefix(e, "sku \"%s\": the clip made", req->sku);
		e->code = ERR_GENERATE;
		goto out;
	}
	if (file_read_all(tmp, &file, e) < 0 ||
	    asset_put(root, file.data, file.len, media_video_format_ext(eo.format), &ref, e) < 0)
		goto out;
	desc = json_pack("{s:s, s:i, s:i, s:f, s:f, s:I, s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:{s:s, s:s, s:s}}",
			 "mime", media_video_format_mime(eo.format), "width", info.width,
			 "height", info.height, "fps", info.fps, "duration", info.duration,
			 "frames", (json_int_t)info.frames, "bytes", (json_int_t)file.len,
			 "sha256", ref.sha256, "codec", info.codec, "container", info.container,
			 "preset", opt_str(vo, "preset", ""), "stills", media_video_stills_used(v),
			 "digital_source_type", dst,
			 "source", "field", ij.field, "value", ij.value, "sha256", ij.source_sha256);
	if (desc && title && *title)
		json_object_set_new(desc, "title", json_string(title));
	if (desc && json_array_size(scenes))
		json_object_set(desc, "scenes", scenes);
	text = desc ? json_dumps(desc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	params = json_deep_copy(o);
	if (params) {
		json_object_del(params, "base_dir");
		json_object_del(params, "assets_root");
		json_object_del(params, "scenes_dir");
		json_object_set_new(params, "device", json_string(device));
	}
	res->provider = strdup("local");
	res->model = strdup(model);
	res->model_version = strdup(GEN_VIDEO_VERSION);
	res->params = params;
	params = NULL;
	res->asset_path = strdup(ref.path);
	res->asset_sha256 = strdup(ref.sha256);
	if (!text || !res->provider || !res->model || !res->model_version || !res->params ||
	    !res->asset_path || !res->asset_sha256 || buf_puts(&res->content, text) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (tmp_made)
		unlink(tmp);
	free(text);
	free(title);
	json_decref(desc);
	json_decref(params);
	json_decref(scenes);
	asset_ref_clear(&ref);
	media_video_free(v);
	for (int i = 0; i < MAX_STILLS; i++)
		if (stills[i])
			g_object_unref(stills[i]);
	image_job_end(&ij);
	buf_free(&xmp);
	buf_free(&file);
	return rc;
}

const struct gen_ops gen_video_ops = {
	.name = "video",
	.version = GEN_VIDEO_VERSION,
	.open = video_open,
	.generate = video_generate,
	.close = video_close,
};
