/* exec_media.h: hosted image models for image outputs, driven by the
 * executor through the providers' fal client (exec_job.c calls these around
 * its remote call; everything local happens in media/image_job.c).
 *
 * A generator { "type": "image", "provider": "fal", ... } is hosted:
 *
 *   "model": "fal-ai/bria/product-shot"   the lifestyle shot is the model's:
 *       input { "image_url": the photo's URL, or the local photo as a data:
 *       URI, "scene_description": the output's rendered template, ...params };
 *       its first image is framed to the output's preset.  The product's
 *       pixels come from the real photo, the scene from the model:
 *       compositeWithTrainedAlgorithmicMedia.
 *   "scene_model": "fal-ai/flux/schnell"  only the scene is the model's:
 *       input { "prompt": the rendered template, ...scene_params }; the real
 *       photo is cut out locally and placed on it like on a folder's scene:
 *       compositeWithTrainedAlgorithmicMedia as well.
 *
 * Results are downloaded by the fal client as soon as the job completes and
 * go through the same presets, XMP marking and asset store as local images.
 */
#ifndef SKUGEN_EXEC_MEDIA_H
#define SKUGEN_EXEC_MEDIA_H

#include <stdbool.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "providers/generator.h"

/* Whether the generator configuration g is a hosted image generator (or a
 * hosted video generator: exec_video.h, to which the two calls below hand
 * those). */
bool exec_media_hosted(const json_t *g);

/* The model id to call (borrowed from g) and its input (new reference) for
 * one task; req carries the rendered template as prompt and the output's
 * options.  ERR_INPUT naming the SKU and field when the photo is unusable. */
int exec_media_input(const json_t *g, const struct gen_request *req, const char **model,
		     json_t **input, struct err *e);

/* Make the stored image from the call's answer (content: the fal result with
 * "files" already downloaded).  Fills res as a local generator would
 * (content, model, params, asset path and sha256).  ERR_GENERATE when the
 * answer holds no image. */
int exec_media_finish(const json_t *g, const struct gen_request *req, const char *provider,
		      const char *content, size_t len, const char *request_id,
		      struct gen_result *res, struct err *e);

/* "data:image/png;base64,..." for a photo's bytes (new string; NULL on no
 * memory). */
char *exec_media_data_uri(const struct buf *bytes);

#endif
