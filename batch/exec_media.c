/* exec_media.c: hosted image models for image outputs (see exec_media.h). */
#include "batch/exec_media.h"
#include "batch/exec_video.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "media/image_job.h"
#include "media/xmp.h"

#define EXEC_MEDIA_INLINE_SIDE 2048
#define EXEC_MEDIA_INLINE_BYTES ((size_t)4 << 20)

bool exec_media_hosted(const json_t *g)
{
	const char *type = json_string_value(json_object_get(g, "type"));

	return (type && strcmp(type, "image") == 0 && json_is_string(json_object_get(g, "provider"))) ||
	       exec_video_hosted(g);
}

/* Which of the generator's models makes this output: the product-shot model
 * when there is one, else the scene model. */
static bool product_shot(const json_t *g)
{
	return json_is_string(json_object_get(g, "model"));
}

/* "data:image/png;base64,..." for the photo's bytes (new string). */
char *exec_media_data_uri(const struct buf *bytes)
{
	const unsigned char *p = (const unsigned char *)bytes->data;
	const char *mime = "image/jpeg";
	size_t n = bytes->len, cap;
	char *out;
	int len;

	if (n >= 8 && memcmp(p, "\x89PNG", 4) == 0)
		mime = "image/png";
	else if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		mime = "image/webp";
	cap = strlen("data:;base64,") + strlen(mime) + 4 * ((n + 2) / 3) + 1;
	out = malloc(cap);
	if (!out)
		return NULL;
	len = snprintf(out, cap, "data:%s;base64,", mime);
	EVP_EncodeBlock((unsigned char *)out + len, p, (int)n);
	return out;
}

int exec_media_input(const json_t *g, const struct gen_request *req, const char **model,
		     json_t **input, struct err *e)
{
	const json_t *params = json_object_get(g, product_shot(g) ? "params" : "scene_params");
	struct image_job ij;
	json_t *in = NULL;
	int rc = -1;

	if (exec_video_hosted(g))
		return exec_video_input(g, req, model, input, e);
	*input = NULL;
	*model = json_string_value(json_object_get(g, product_shot(g) ? "model" : "scene_model"));
	if (image_job_begin(&ij, req, e) < 0)
		goto out;
	if (strcmp(ij.mode, "lifestyle") != 0) {
		err_set(e, ERR_CONFIG, "output \"%s\": hosted image models make lifestyle shots; a channel image is made locally (a generator without \"provider\")",
			req->output);
		goto out;
	}
	in = params ? json_deep_copy(params) : json_object();
	if (!in) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (product_shot(g)) {
		const char *url = ij.value;
		char *uri = NULL;

		/* A photo the model cannot fetch travels inline; either way it
		 * must be an image here first (bad photos fail before paying). */
		if (image_job_photo(&ij, false, e) < 0)
			goto out;
		if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
			struct buf send = BUF_INIT;

			/* Inline, so kept small: a 2048 px photo says all a
			 * product shot needs, and request bodies have limits. */
			if (image_job_photo_for_upload(&ij, EXEC_MEDIA_INLINE_SIDE, EXEC_MEDIA_INLINE_BYTES,
						       &send, e) < 0) {
				buf_free(&send);
				goto out;
			}
			uri = exec_media_data_uri(&send);
			buf_free(&send);
			if (!uri) {
				err_set(e, ERR_NOMEM, "out of memory");
				goto out;
			}
		}
		if (json_object_set_new(in, "image_url", json_string(uri ? uri : url)) < 0 ||
		    json_object_set_new(in, "scene_description", json_stringn(req->prompt, req->prompt_len)) < 0) {
			free(uri);
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		free(uri);
	} else {
		/* The product will be cut out and placed on the generated scene:
		 * make sure it can be before paying for the scene. */
		if (image_job_photo(&ij, true, e) < 0)
			goto out;
		if (json_object_set_new(in, "prompt", json_stringn(req->prompt, req->prompt_len)) < 0) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	*input = in;
	in = NULL;
	rc = 0;
out:
	json_decref(in);
	image_job_end(&ij);
	return rc;
}

/* The first downloaded image of a fal result: its path and sha256. */
static int first_image(const char *content, size_t len, const char *ctx, const char **path,
		       const char **sha, json_t **doc, struct err *e)
{
	json_t *files, *f;
	size_t i;

	*doc = json_loadb(content, len, 0, NULL);
	files = json_object_get(*doc, "files");
	json_array_foreach(files, i, f) {
		const char *type = json_string_value(json_object_get(f, "content_type"));

		if (type && strncmp(type, "image/", 6) == 0 && json_string_value(json_object_get(f, "path"))) {
			*path = json_string_value(json_object_get(f, "path"));
			*sha = json_string_value(json_object_get(f, "sha256"));
			return 0;
		}
	}
	return err_set(e, ERR_GENERATE, "%s: the model's answer holds no image", ctx);
}

int exec_media_finish(const json_t *g, const struct gen_request *req, const char *provider,
		      const char *content, size_t len, const char *request_id,
		      struct gen_result *res, struct err *e)
{
	struct image_job ij;
	struct media_image *answer = NULL, *made = NULL;
	const char *path = NULL, *sha = NULL;
	const char *model = json_string_value(json_object_get(g, product_shot(g) ? "model" : "scene_model"));
	enum media_device want, device = MEDIA_DEVICE_CPU;
	json_t *doc = NULL;
	int rc = -1;

	if (exec_video_hosted(g))
		return exec_video_finish(g, req, provider, content, len, request_id, res, e);
	if (image_job_begin(&ij, req, e) < 0 ||
	    first_image(content, len, buf_str(&ij.ctx), &path, &sha, &doc, e) < 0 ||
	    media_image_load_file(path, NULL, buf_str(&ij.ctx), &answer, e) < 0)
		goto out;
	if (product_shot(g)) {
		/* The model's shot framed by the preset; the photo's sha256 for
		 * provenance (what was sent). */
		if (image_job_photo(&ij, false, e) < 0 || image_job_fit(&ij, answer, &made, e) < 0)
			goto out;
	} else {
		/* A generated scene: the real product placed on it here. */
		if (media_device_from_env(&want, e) < 0 ||
		    media_device_resolve(want, &device, e) < 0 ||
		    image_job_photo(&ij, true, e) < 0 ||
		    image_job_lifestyle(&ij, answer, device, &made, e) < 0)
			goto out;
	}
	{
		struct image_job_made m = {
			.digital_source_type = XMP_DST_COMPOSITE_TRAINED, .provider = provider, .model = model,
			.request_id = request_id, .scene = product_shot(g) ? NULL : "generated",
			.scene_sha256 = product_shot(g) ? NULL : sha,
			.device = product_shot(g) ? NULL : media_device_name(device),
		};

		rc = image_job_store(&ij, made, &m, res, e);
	}
	/* Provenance also gets what the model was asked with (not the photo). */
	if (rc == 0) {
		const json_t *params = json_object_get(g, product_shot(g) ? "params" : "scene_params");

		if (params && json_object_set_new(res->params, "model_params", json_deep_copy(params)) < 0)
			rc = err_set(e, ERR_NOMEM, "out of memory");
	}
out:
	json_decref(doc);
	media_image_free(answer);
	media_image_free(made);
	image_job_end(&ij);
	return rc;
}
