/* image_job.h: the steps every image task shares, whoever makes the pixels:
 * the local `image` generator (gen_image.c) and the hosted models driven by
 * the executor (batch/exec_media.c).
 *
 *   image_job_begin()   the output's options (gen_request.options), its
 *                       preset, and the message context "sku \"S\": field \"F\""
 *   image_job_photo()   the product photo's bytes (a file relative to the
 *                       configuration, or a download), their sha256, decoded
 *                       and, when asked, cut out
 *   image_job_lifestyle() the cut-out placed in a scene (a folder's, or a
 *                       generated one)
 *   image_job_fit()     an image (a hosted model's) framed to the preset's
 *                       size: cover-cropped to a fixed frame, else scaled to
 *                       the long side
 *   image_job_store()   the XMP packet, the encoded file, the asset store,
 *                       and the generation's content and gen_result fields
 *   image_job_end()     frees what the job holds
 */
#ifndef SKUGEN_MEDIA_IMAGE_JOB_H
#define SKUGEN_MEDIA_IMAGE_JOB_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"
#include "media/image.h"
#include "providers/generator.h"

struct image_job {
	const struct gen_request *req;   /* borrowed */
	const json_t *o;                 /* borrowed: req->options */
	const char *mode;                /* "channel" or "lifestyle" */
	const char *field, *value;       /* the photo field and the record's value */
	const char *preset_name;
	struct media_preset preset;
	struct buf ctx;                  /* "sku \"S\": field \"F\"" */
	char source_sha256[HASH_HEX_LEN];/* of the photo's bytes, once loaded */
	struct buf photo_bytes;          /* the photo as read or downloaded */
	struct media_image *photo, *cut; /* new, once loaded */
};

/* Zero ij and resolve the options of req.  ERR_CONFIG when req is not an
 * image output's; ERR_INPUT (with the context) when the record has no photo. */
int image_job_begin(struct image_job *ij, const struct gen_request *req, struct err *e);

/* Read or download the photo, hash it, decode it, and cut it out when
 * cut_out.  Errors name the SKU and the field. */
int image_job_photo(struct image_job *ij, bool cut_out, struct err *e);

/* in framed to the preset's size (new in *out). */
int image_job_fit(struct image_job *ij, const struct media_image *in, struct media_image **out,
		  struct err *e);

/* The photo as a hosted model should receive it (appended to out): the
 * original bytes when within max_side px and max_bytes, else scaled down to
 * max_side on its long side and encoded (PNG with alpha, else JPEG q92,
 * without metadata).  image_job_photo() must have loaded it. */
int image_job_photo_for_upload(struct image_job *ij, int max_side, size_t max_bytes, struct buf *out,
			       struct err *e);

/* The cut-out placed in scene with the output's placement, shadow and
 * harmonisation options, sized by the preset when it is fixed (new in
 * *out).  image_job_photo() must have cut the product out. */
int image_job_lifestyle(const struct image_job *ij, const struct media_image *scene,
			enum media_device device, struct media_image **out, struct err *e);

/* What image_job_store() records besides the image. */
struct image_job_made {
	const char *digital_source_type; /* an XMP_DST_* URI */
	const char *provider;            /* "local", or the provider's name */
	const char *model;               /* "skugen-channel-cpu", "fal-ai/bria/product-shot" */
	const char *model_version;       /* may be NULL */
	const char *request_id;          /* may be NULL */
	const char *scene, *scene_sha256;/* may be NULL */
	const char *device;              /* "cpu", "gpu", or NULL for hosted */
};

/* Encode made with the preset and the XMP packet, store it, and fill res:
 * content (a JSON description), provider, model, params, asset_path,
 * asset_sha256. */
int image_job_store(struct image_job *ij, const struct media_image *made,
		    const struct image_job_made *m, struct gen_result *res, struct err *e);

/* Free what ij holds.  Accepts NULL. */
void image_job_end(struct image_job *ij);

#endif
