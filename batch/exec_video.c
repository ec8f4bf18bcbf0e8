/* exec_video.c: hosted image-to-video models (see exec_video.h). */
#include "batch/exec_video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/exec_media.h"
#include "common/buf.h"
#include "common/file_read.h"
#include "media/asset.h"
#include "media/image_job.h"
#include "media/video.h"
#include "media/xmp.h"

bool exec_video_hosted(const json_t *g)
{
	const char *type = json_string_value(json_object_get(g, "type"));

	return type && strcmp(type, "video") == 0 && json_is_string(json_object_get(g, "provider"));
}

/* The photo loaded and checked as a still would be. */
static int photo(struct image_job *ij, const struct gen_request *req, struct err *e)
{
	if (image_job_begin(ij, req, e) < 0 || image_job_photo(ij, false, e) < 0)
		return -1;
	int w = media_image_width(ij->photo), h = media_image_height(ij->photo);
	if (w < MEDIA_VIDEO_STILL_MIN_SIDE || h < MEDIA_VIDEO_STILL_MIN_SIDE)
		return err_set(e, ERR_INPUT, "%s: the product photo is %dx%d pixels, smaller than %dx%d",
			       buf_str(&ij->ctx), w, h, MEDIA_VIDEO_STILL_MIN_SIDE, MEDIA_VIDEO_STILL_MIN_SIDE);
	return 0;
}

int exec_video_input(const json_t *g, const struct gen_request *req, const char **model,
		     json_t **input, struct err *e)
{
	const json_t *params = json_object_get(g, "params");
	const json_t *vo = json_object_get(req->options, "video");
	struct image_job ij;
	json_t *in = NULL;
	char *uri = NULL;
	int rc = -1;

	*input = NULL;
	*model = json_string_value(json_object_get(g, "model"));
	if (photo(&ij, req, e) < 0)
		goto out;
	in = params ? json_deep_copy(params) : json_object();
	if (!in)
		goto nomem;
	if (strncmp(ij.value, "http://", 7) != 0 && strncmp(ij.value, "https://", 8) != 0 &&
	    !(uri = exec_media_data_uri(&ij.photo_bytes)))
		goto nomem;
	if (json_object_set_new(in, "image_url", json_string(uri ? uri : ij.value)) < 0 ||
	    json_object_set_new(in, "prompt", json_stringn(req->prompt ? req->prompt : "",
							   req->prompt ? req->prompt_len : 0)) < 0)
		goto nomem;
	if (!json_object_get(in, "duration")) {
		char d[16];

		snprintf(d, sizeof d, "%.0f", json_is_number(json_object_get(vo, "duration"))
						      ? json_number_value(json_object_get(vo, "duration")) : 5.0);
		if (json_object_set_new(in, "duration", json_string(d)) < 0)
			goto nomem;
	}
	*input = in;
	in = NULL;
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory");
out:
	free(uri);
	json_decref(in);
	image_job_end(&ij);
	return rc;
}

/* The first downloaded video of a fal result (path borrowed from *doc). */
static const char *first_video(const char *content, size_t len, json_t **doc)
{
	json_t *f;
	size_t i;

	*doc = json_loadb(content, len, 0, NULL);
	json_array_foreach(json_object_get(*doc, "files"), i, f) {
		const char *type = json_string_value(json_object_get(f, "content_type"));
		const char *path = json_string_value(json_object_get(f, "path"));

		if (type && strncmp(type, "video/", 6) == 0 && path)
			return path;
	}
	return NULL;
}

int exec_video_finish(const json_t *g, const struct gen_request *req, const char *provider,
		      const char *content, size_t len, const char *request_id,
		      struct gen_result *res, struct err *e)
{
	const char *model = json_string_value(json_object_get(g, "model"));
	const char *root = json_string_value(json_object_get(req->options, "assets_root"));
	const json_t *vo = json_object_get(req->options, "video");
	struct image_job ij;
	struct buf bytes = BUF_INIT, xmp = BUF_INIT;
	struct media_video_info info;
	struct asset_ref ref = { 0 };
	char tmp[512];
	const char *tmpdir = getenv("TMPDIR");
	const char *path;
	json_t *doc = NULL, *desc = NULL;
	char *text = NULL;
	int rc = -1, fd = -1;

	snprintf(tmp, sizeof tmp, "%s/skugen-hosted-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (photo(&ij, req, e) < 0)
		goto out;
	if (!(path = first_video(content, len, &doc))) {
		err_set(e, ERR_GENERATE, "%s: the model's answer holds no video", buf_str(&ij.ctx));
		goto out;
	}
	/* a copy to mark: the download stays as fal's client wrote it */
	if (file_read_all(path, &bytes, e) < 0 || (fd = mkstemp(tmp)) < 0 ||
	    write(fd, bytes.data, bytes.len) != (ssize_t)bytes.len || close(fd) != 0) {
		if (e->code == ERR_OK)
			err_set(e, ERR_IO, "cannot copy the model's video to %s", tmp);
		goto out;
	}
	fd = -2;
	if (media_video_probe(tmp, &info, e) < 0) {
		err_prefix(e, "sku \"%s\": the model's answer", req->sku);
		e->code = ERR_GENERATE;
		goto out;
	}
	if (!strstr(info.container, "mp4") && !strstr(info.container, "mov")) {
		err_set(e, ERR_GENERATE, "sku \"%s\": the model's answer is %s, not an MP4 that can carry the marking",
			req->sku, info.container);
		goto out;
	}
	{
		struct xmp_info xi = {
			.digital_source_type = XMP_DST_TRAINED, .generation_id = req->generation_id,
			.run_id = req->run_id, .sku = req->sku, .generator = "video",
			.generator_version = "1", .model = model, .template_sha256 = req->template_sha256,
			.source_sha256 = ij.source_sha256, .preset = json_string_value(json_object_get(vo, "preset")),
		};

		buf_reset(&bytes);
		if (xmp_packet(&xi, &xmp, e) < 0 || media_mp4_set_xmp(tmp, xmp.data, xmp.len, e) < 0 ||
		    file_read_all(tmp, &bytes, e) < 0 || asset_put(root, bytes.data, bytes.len, "mp4", &ref, e) < 0)
			goto out;
	}
	desc = json_pack("{s:s, s:i, s:i, s:f, s:f, s:I, s:I, s:s, s:s, s:s, s:s, s:s*, s:{s:s, s:s, s:s}}",
			 "mime", "video/mp4", "width", info.width, "height", info.height, "fps", info.fps,
			 "duration", info.duration, "frames", (json_int_t)info.frames,
			 "bytes", (json_int_t)bytes.len, "sha256", ref.sha256, "codec", info.codec,
			 "container", info.container, "digital_source_type", XMP_DST_TRAINED,
			 "request_id", request_id,
			 "source", "field", ij.field, "value", ij.value, "sha256", ij.source_sha256);
	text = desc ? json_dumps(desc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	res->provider = strdup(provider ? provider : "fal");
	res->model = strdup(model ? model : "");
	res->params = json_deep_copy(json_object_get(g, "params"));
	if (!res->params)
		res->params = json_object();
	res->asset_path = strdup(ref.path);
	res->asset_sha256 = strdup(ref.sha256);
	if (!text || !res->provider || !res->model || !res->params || !res->asset_path ||
	    !res->asset_sha256 || buf_puts(&res->content, text) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		unlink(tmp);
	free(text);
	json_decref(desc);
	json_decref(doc);
	asset_ref_clear(&ref);
	buf_free(&bytes);
	buf_free(&xmp);
	image_job_end(&ij);
	return rc;
}
