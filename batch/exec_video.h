/* exec_video.h: hosted image-to-video models for video outputs, driven by
 * the executor through the providers' fal client (exec_media.c hands video
 * generators here; exec_job.c makes the call).
 *
 * A generator { "type": "video", "provider": "fal", "model": MODEL,
 * "params": {...} } is hosted, e.g. "fal-ai/kling-video/v2/master/image-to-video"
 * or "fal-ai/wan-i2v".  The model's input: "image_url" (the photo's URL, or
 * the local photo inline as a data: URI), "prompt" (the output's rendered
 * template), "duration" (the output's video.duration in whole seconds, as a
 * string; set "duration" in params when the model takes only some values,
 * e.g. Kling's "5" or "10"), and params.  The photo is checked (it decodes,
 * it is big enough to be a still) before anything is paid for.
 *
 * The answer's video is downloaded by the fal client as soon as the job
 * completes, then probed with libavformat (container, codec, duration, size,
 * and its first frame decoded): a file that is not a playable MP4 or
 * QuickTime video fails the task.  It is marked with XMP (a uuid box:
 * Iptc4xmpExt:DigitalSourceType trainedAlgorithmicMedia, since every frame
 * is the model's, made from the photo and the prompt) and stored like a
 * local clip.
 */
#ifndef SKUGEN_EXEC_VIDEO_H
#define SKUGEN_EXEC_VIDEO_H

#include <stdbool.h>
#include <jansson.h>

#include "common/err.h"
#include "providers/generator.h"

/* Whether the generator configuration g is a hosted video generator. */
bool exec_video_hosted(const json_t *g);

/* The model to call (borrowed from g) and its input (new reference). */
int exec_video_input(const json_t *g, const struct gen_request *req, const char **model,
		     json_t **input, struct err *e);

/* Probe, mark and store the answer's video (content: the fal result with
 * "files" downloaded), filling res as a local generator would. */
int exec_video_finish(const json_t *g, const struct gen_request *req, const char *provider,
		      const char *content, size_t len, const char *request_id,
		      struct gen_result *res, struct err *e);

#endif
