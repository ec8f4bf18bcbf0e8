/* video_opts.c: checking a video output's "video" object (video_opts.h). */
#include "batch/video_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/video.h"

static int number(const struct config *c, const json_t *v, const char *at, const char *key,
		  double def, double min, double max, double *out, struct err *e)
{
	json_t *x = json_object_get(v, key);
	char kat[200];

	*out = def;
	if (!x || json_is_null(x))
		return 0;
	snprintf(kat, sizeof kat, "%s.%s", at, key);
	if (!json_is_number(x))
		return config_error(c, e, kat, "expected a number");
	*out = json_number_value(x);
	if (*out < min || *out > max)
		return config_error(c, e, kat, "%g is out of range [%g, %g]", *out, min, max);
	return 0;
}

int video_opts_load(const struct config *c, const json_t *o, const char *path,
		    struct image_opts *io, struct err *e)
{
	static const char *const keys[] = {
		"preset", "duration", "fps", "format", "crf", "x264_preset", "crossfade", "zoom",
		"filter", "lifestyle", "end_card", "line", NULL,
	};
	static const char *const x264_presets[] = {
		"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
		"veryslow", NULL,
	};
	json_t *v = NULL, *resolved = NULL, *digest = NULL;
	const char *preset, *format, *x264, *filter, *line;
	double duration, crossfade, zoom;
	long long fps, crf, lifestyle;
	bool end_card;
	int w, h, rc = -1;
	char at[160], kat[200];
	struct err pe;

	snprintf(at, sizeof at, "%s.video", path);
	if (config_object(c, o, path, "video", &v, e) < 0 ||
	    config_check_keys(c, v, at, keys, e) < 0 ||
	    config_string(c, v, at, "preset", "square", &preset, e) < 0 ||
	    number(c, v, at, "duration", 6, MEDIA_VIDEO_MIN_SECONDS, MEDIA_VIDEO_MAX_SECONDS,
		   &duration, e) < 0 ||
	    config_int(c, v, at, "fps", 30, 12, 60, &fps, e) < 0 ||
	    config_string(c, v, at, "format", "mp4", &format, e) < 0 ||
	    config_int(c, v, at, "crf", 23, 0, 51, &crf, e) < 0 ||
	    config_string(c, v, at, "x264_preset", "veryfast", &x264, e) < 0 ||
	    number(c, v, at, "crossfade", 0.75, 0, 2, &crossfade, e) < 0 ||
	    number(c, v, at, "zoom", 1.12, 1, 2, &zoom, e) < 0 ||
	    config_string(c, v, at, "filter", "bilinear", &filter, e) < 0 ||
	    config_int(c, v, at, "lifestyle", io->scenes_dir ? 2 : 0, 0, 4, &lifestyle, e) < 0 ||
	    config_bool(c, v, at, "end_card", true, &end_card, e) < 0 ||
	    config_string(c, v, at, "line", "", &line, e) < 0)
		return -1;
	snprintf(kat, sizeof kat, "%s.preset", at);
	if (media_video_preset(preset, &w, &h, &pe) < 0)
		return config_error(c, e, kat, "%s", pe.msg);
	snprintf(kat, sizeof kat, "%s.format", at);
	if (media_video_format_parse(format) < 0)
		return config_error(c, e, kat, "expected \"mp4\" or \"webp\", got \"%s\"", format);
	snprintf(kat, sizeof kat, "%s.filter", at);
	if (gpu_warp_filter_parse(filter) < 0)
		return config_error(c, e, kat, "expected \"bilinear\" or \"bicubic\", got \"%s\"", filter);
	snprintf(kat, sizeof kat, "%s.x264_preset", at);
	{
		size_t k = 0;

		while (x264_presets[k] && strcmp(x264_presets[k], x264) != 0)
			k++;
		if (!x264_presets[k])
			return config_error(c, e, kat, "expected one of x264's presets (ultrafast .. veryslow), got \"%s\"", x264);
	}
	snprintf(kat, sizeof kat, "%s.lifestyle", at);
	if (lifestyle > 0 && !io->scenes_dir)
		return config_error(c, e, kat, "lifestyle stills need \"scenes\": the folder of scenes to place the product in");
	resolved = json_pack("{s:s, s:i, s:i, s:f, s:I, s:s, s:I, s:s, s:f, s:f, s:s, s:I, s:b, s:s}",
			     "preset", preset, "width", w, "height", h, "duration", duration,
			     "fps", fps, "format", format, "crf", crf, "x264_preset", x264,
			     "crossfade", crossfade, "zoom", zoom, "filter", filter,
			     "lifestyle", lifestyle, "end_card", end_card, "line", line);
	digest = io->digest ? json_loads(io->digest, 0, NULL) : NULL;
	if (!resolved || !digest || json_object_set(io->resolved, "video", resolved) < 0 ||
	    json_object_set(digest, "video", resolved) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	free(io->digest);
	io->digest = json_dumps(digest, JSON_SORT_KEYS | JSON_COMPACT);
	if (!io->digest) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(resolved);
	json_decref(digest);
	return rc;
}
