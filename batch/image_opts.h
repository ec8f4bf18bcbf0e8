/* image_opts.h: the configuration of image outputs, checked once, and what the
 * planner adds to an image task.
 *
 * An output of kind "image" (settings.h) makes one image per SKU:
 *
 *   { "name": "main_image", "kind": "image", "generator": "studio",
 *     "template": "alt",                    alt text; a hosted model's scene
 *                                           description
 *     "inputs": { "photo": "image",         the record field with the product
 *                                           photo: a path (relative to the
 *                                           configuration) or an http(s) URL;
 *                 "optional": false },      true: a record without the field
 *                                           gets no image task (not a failure)
 *     "mode": "channel" | "lifestyle",      default: lifestyle when "scenes"
 *                                           is set, else channel
 *     "preset": "amazon_main",              built in (media/image.h) or one of
 *                                           the top-level "presets"
 *     "scenes": "scenes",                   lifestyle: the scene folder
 *     "scenes_generated": false,            true when those scenes were made by
 *                                           a generative model (XMP says so)
 *     "placement": { "fill": 0.5, "floor": 0.82 },
 *     "shadow": { "opacity": 0.45, "blur": 0.03, "dx": 0.02, "dy": 0.01 } | false,
 *     "harmonise": { "strength": 0.5, "max_shift": 8, "max_ratio": 1.25 } | false,
 *     "cutout": { "tolerance": 10, "feather": 1.0 } }
 *
 * Top level: "assets": { "root": "DIR" } (default $SKUGEN_HOME/assets) and
 * "presets": { "NAME": { ...media_preset_from_json()... } }.
 *
 * The generator gets every resolved option as one JSON object
 * (gen_request.options): absolute paths, the asset root, the preset's
 * configuration.  The fingerprint gets the options as written (relative
 * paths: moving a checkout regenerates nothing), the photo's sha256 when it is
 * a local file (a replaced photo regenerates), and the chosen scene's name
 * and sha256.
 */
#ifndef SKUGEN_IMAGE_OPTS_H
#define SKUGEN_IMAGE_OPTS_H

#include <stdbool.h>
#include <jansson.h>

#include "common/config.h"
#include "common/err.h"

struct media_scenes;

/* The last local photo hashed, shared by every image output of one
 * configuration (settings.c links them): a record's outputs are planned one
 * after the other, so each photo is read once per record, not once per
 * output.  Reused only while the file's size and mtime are unchanged. */
struct image_photo_memo {
	char *path;                /* new: resolved path */
	long long size, mtime_ns;
	char sha256[65];
};

void image_photo_memo_free(struct image_photo_memo *m);  /* accepts NULL */

struct image_opts {
	const char *photo_field;   /* borrowed from the configuration */
	bool photo_optional;       /* records without the photo get no image task */
	char *base_dir;            /* new: relative photo paths resolve here */
	char *scenes_dir;          /* new or NULL */
	json_t *resolved;          /* new: what the generator gets */
	char *digest;              /* new: canonical JSON of the options as written */
	struct media_scenes *scenes; /* new, loaded on first use, or NULL */
	struct image_photo_memo *memo; /* borrowed (settings own it), or NULL */
};

/* Check the image keys of output o (at path) and fill *out (new; free with
 * image_opts_free).  assets_root: the resolved asset root; presets: the
 * top-level "presets" object or NULL.  Located ERR_CONFIG errors. */
int image_opts_load(const struct config *c, const json_t *o, const char *path,
		    const char *assets_root, const json_t *presets, struct image_opts **out,
		    struct err *e);

/* Whether key is one of the output keys only image outputs take. */
bool image_opts_key(const char *key);

/* For one record: put the photo field into the task's input (projection) and
 * its name into input_fields, and set *extra (new string) to what the
 * fingerprint adds (options, photo sha256 for a local file, scene).  A
 * record without a usable photo fills *error (new string: which field and
 * what is wrong) and returns 0: that task fails, the run goes on.  A record
 * without an optional photo returns 0 with neither set: plan no task.  -1
 * only for no memory. */
int image_opts_plan(struct image_opts *io, const char *sku, const json_t *fields,
		    json_t *projection, json_t *input_fields, char **extra, char **error,
		    struct err *e);

/* Accepts NULL. */
void image_opts_free(struct image_opts *io);

#endif
