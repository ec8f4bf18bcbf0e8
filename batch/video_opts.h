/* video_opts.h: the configuration of video outputs, checked once.
 *
 * An output of kind "video" makes one short clip per SKU.  It takes every
 * key an image output takes (image_opts.h: "inputs": {"photo": FIELD},
 * "scenes", "scenes_generated", "placement", "shadow", "harmonise",
 * "cutout"), which say where the stills come from, and one more:
 *
 *   "video": {
 *     "preset": "square",        square | portrait | landscape, or
 *                                1080x1080 | 1080x1920 | 1920x1080
 *     "duration": 6,             seconds, 6 to 15
 *     "fps": 30,
 *     "format": "mp4",           mp4 (H.264) | webp (animated)
 *     "crf": 23,                 x264's constant rate factor, 0 to 51
 *     "x264_preset": "veryfast", ultrafast .. veryslow
 *     "crossfade": 0.75,         seconds of each dissolve
 *     "zoom": 1.12,              how far the camera zooms over one still
 *     "filter": "bilinear",      bilinear | bicubic
 *     "lifestyle": 2,            lifestyle stills (product placed in scenes),
 *                                0 to 4; needs "scenes"
 *     "end_card": true,          the rendered template (the product name)
 *                                and "line" on a card at the end
 *     "line": "Free returns"     the card's second line
 *   }
 *
 * The resolved options land in the image options' "resolved" object under
 * "video" (what gen_video.c reads) and in their fingerprint digest, so a
 * changed duration or line makes the clips again.
 */
#ifndef SKUGEN_VIDEO_OPTS_H
#define SKUGEN_VIDEO_OPTS_H

#include <jansson.h>

#include "batch/image_opts.h"
#include "common/config.h"
#include "common/err.h"

/* Check output o's "video" key (o at path) and add it, with defaults filled
 * in, to io->resolved and io->digest.  Located ERR_CONFIG errors. */
int video_opts_load(const struct config *c, const json_t *o, const char *path,
		    struct image_opts *io, struct err *e);

#endif
