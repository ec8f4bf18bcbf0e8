/* image_opts.c: image outputs' configuration and planning (see image_opts.h). */
#include "batch/image_opts.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/file_read.h"
#include "common/hash.h"
#include "media/image.h"
#include "media/scenes.h"

static const char *const image_keys[] = {
	"inputs", "mode", "preset", "scenes", "scenes_generated", "placement", "shadow", "harmonise",
	"cutout", NULL,
};

bool image_opts_key(const char *key)
{
	for (size_t i = 0; image_keys[i]; i++)
		if (strcmp(image_keys[i], key) == 0)
			return true;
	return false;
}

/* One number of an options object and its allowed range. */
struct num_key {
	const char *key;
	double min, max;
};

/* obj[key] (at path) must be absent, or false when may_be_false, or an object
 * whose keys are among nums and each a number in range.  *out: a copy (new),
 * json_false(), or an empty object when absent. */
static int num_object(const struct config *c, const json_t *obj, const char *path, const char *key,
		      const struct num_key *nums, bool may_be_false, json_t **out, struct err *e)
{
	json_t *v = json_object_get(obj, key), *x;
	char at[160];
	const char *k;

	*out = NULL;
	snprintf(at, sizeof at, "%s.%s", path, key);
	if (!v || json_is_null(v)) {
		*out = json_object();
		return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
	}
	if (json_is_false(v) && may_be_false) {
		*out = json_false();
		return 0;
	}
	if (!json_is_object(v))
		return config_error(c, e, at, may_be_false ? "expected an object or false" : "expected an object");
	json_object_foreach(v, k, x) {
		const struct num_key *n = nums;
		char kat[200];

		while (n->key && strcmp(n->key, k) != 0)
			n++;
		snprintf(kat, sizeof kat, "%s.%s", at, k);
		if (!n->key) {
			struct buf known = BUF_INIT;
			int rc;

			for (n = nums; n->key; n++)
				buf_printf(&known, "%s%s", n == nums ? "" : ", ", n->key);
			rc = config_error(c, e, kat, "unknown key (known keys: %s)", buf_str(&known));
			buf_free(&known);
			return rc;
		}
		if (!json_is_number(x))
			return config_error(c, e, kat, "expected a number");
		if (json_number_value(x) < n->min || json_number_value(x) > n->max)
			return config_error(c, e, kat, "%g is out of range [%g, %g]", json_number_value(x), n->min, n->max);
	}
	*out = json_deep_copy(v);
	return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

/* The preset: a built-in name or one of the top-level presets, checked by the
 * media pipeline's own parser, the error located at the preset. */
static int load_preset(const struct config *c, const char *path, const char *name,
		       const json_t *presets, json_t *resolved, struct err *e)
{
	static const char *const builtin[] = { "amazon_main", "shopify_square", "google", NULL };
	const json_t *custom = presets ? json_object_get(presets, name) : NULL;
	char at[160];

	if (custom) {
		struct media_preset p;
		struct err pe;

		snprintf(at, sizeof at, "presets.%s", name);
		if (!json_is_object(custom))
			return config_error(c, e, at, "expected an object");
		err_clear(&pe);
		if (media_preset_from_json(name, custom, &p, &pe) < 0)
			return config_error(c, e, at, "%s", pe.msg);
		return json_object_set_new(resolved, "preset_config", json_deep_copy(custom));
	}
	for (size_t i = 0; builtin[i]; i++)
		if (strcmp(builtin[i], name) == 0 && media_preset_builtin(name))
			return 0;
	snprintf(at, sizeof at, "%s.preset", path);
	return config_error(c, e, at, "no preset \"%s\" (built in: amazon_main, shopify_square, google; or define it under \"presets\")", name);
}

static const struct num_key placement_keys[] = {
	{ "fill", 0.05, 1.0 }, { "floor", 0.0, 1.0 }, { NULL, 0, 0 },
};
static const struct num_key shadow_keys[] = {
	{ "opacity", 0.0, 1.0 }, { "blur", 0.0, 0.5 }, { "dx", -0.5, 0.5 }, { "dy", -0.5, 0.5 },
	{ NULL, 0, 0 },
};
static const struct num_key harmonise_keys[] = {
	{ "strength", 0.0, 1.0 }, { "max_shift", 0.0, 100.0 }, { "max_ratio", 1.0, 4.0 },
	{ NULL, 0, 0 },
};
static const struct num_key cutout_keys[] = {
	{ "tolerance", 0.0, 100.0 }, { "feather", -1.0, 50.0 }, { NULL, 0, 0 },
};

int image_opts_load(const struct config *c, const json_t *o, const char *path,
		    const char *assets_root, const json_t *presets, struct image_opts **out,
		    struct err *e)
{
	static const char *const input_keys[] = { "photo", "optional", NULL };
	struct image_opts *io = calloc(1, sizeof *io);
	json_t *inputs = NULL, *placement = NULL, *shadow = NULL, *harmonise = NULL, *cutout = NULL;
	const char *mode = NULL, *preset = NULL, *scenes = NULL;
	bool scenes_generated = false;
	char at[160];
	int rc = -1;

	*out = NULL;
	if (!io)
		return err_set(e, ERR_NOMEM, "out of memory");
	snprintf(at, sizeof at, "%s.inputs", path);
	if (config_object(c, o, path, "inputs", &inputs, e) < 0 ||
	    config_check_keys(c, inputs, at, input_keys, e) < 0 ||
	    config_string(c, inputs, at, "photo", "image", &io->photo_field, e) < 0 ||
	    config_bool(c, inputs, at, "optional", false, &io->photo_optional, e) < 0 ||
	    config_string(c, o, path, "scenes", NULL, &scenes, e) < 0 ||
	    config_string(c, o, path, "mode", scenes ? "lifestyle" : "channel", &mode, e) < 0 ||
	    config_string(c, o, path, "preset", strcmp(mode, "lifestyle") == 0 ? "shopify_square" : "amazon_main", &preset, e) < 0 ||
	    config_bool(c, o, path, "scenes_generated", false, &scenes_generated, e) < 0 ||
	    num_object(c, o, path, "placement", placement_keys, false, &placement, e) < 0 ||
	    num_object(c, o, path, "shadow", shadow_keys, true, &shadow, e) < 0 ||
	    num_object(c, o, path, "harmonise", harmonise_keys, true, &harmonise, e) < 0 ||
	    num_object(c, o, path, "cutout", cutout_keys, false, &cutout, e) < 0)
		goto out;
	snprintf(at, sizeof at, "%s.mode", path);
	if (strcmp(mode, "channel") != 0 && strcmp(mode, "lifestyle") != 0) {
		config_error(c, e, at, "expected \"channel\" or \"lifestyle\", got \"%s\"", mode);
		goto out;
	}
	if (!*io->photo_field) {
		snprintf(at, sizeof at, "%s.inputs.photo", path);
		config_error(c, e, at, "name the record field that holds the product photo");
		goto out;
	}
	io->base_dir = strdup(c->dir ? c->dir : ".");
	io->scenes_dir = scenes ? config_resolve_path(c, scenes) : NULL;
	io->resolved = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s*, s:b, s:O, s:O, s:O, s:O}",
				 "mode", mode, "photo_field", io->photo_field, "base_dir", io->base_dir ? io->base_dir : "",
				 "assets_root", assets_root, "preset", preset, "scenes_dir", io->scenes_dir,
				 "scenes_generated", scenes_generated, "placement", placement, "shadow", shadow,
				 "harmonise", harmonise, "cutout", cutout);
	if (!io->base_dir || (scenes && !io->scenes_dir) || !io->resolved) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (load_preset(c, path, preset, presets, io->resolved, e) < 0)
		goto out;
	{
		/* The options as written, for the fingerprint: no absolute paths. */
		json_t *d = json_deep_copy(io->resolved);

		json_object_del(d, "base_dir");
		json_object_del(d, "assets_root");
		json_object_set_new(d, "scenes_dir", scenes ? json_string(scenes) : json_null());
		io->digest = d ? json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		json_decref(d);
		if (!io->digest) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = io;
	io = NULL;
	rc = 0;
out:
	json_decref(placement);
	json_decref(shadow);
	json_decref(harmonise);
	json_decref(cutout);
	image_opts_free(io);
	return rc;
}

static bool is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* *error = "sku \"SKU\": field \"F\": " + the formatted rest (new). */
static int set_error(char **error, const char *sku, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int set_error(char **error, const char *sku, const char *field, const char *fmt, ...)
{
	struct buf m = BUF_INIT;
	va_list ap;
	char *rest = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&rest, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_printf(&m, "sku \"%s\": field \"%s\": %s", sku, field, rest) < 0 ||
	    !(*error = buf_steal(&m))) {
		free(rest);
		buf_free(&m);
		return -1;
	}
	free(rest);
	return 0;
}

/* The memo's sha256 of path when the file is the one it hashed. */
static bool photo_memo_get(const struct image_photo_memo *m, const char *path, char sha[HASH_HEX_LEN])
{
	struct stat st;

	if (!m->path || strcmp(m->path, path) != 0 || stat(path, &st) < 0 || st.st_size != m->size ||
	    (long long)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != m->mtime_ns)
		return false;
	memcpy(sha, m->sha256, HASH_HEX_LEN);
	return true;
}

static void photo_memo_put(struct image_photo_memo *m, const char *path, const char sha[HASH_HEX_LEN])
{
	struct stat st;
	char *copy;

	if (stat(path, &st) < 0 || !(copy = strdup(path)))
		return;
	free(m->path);
	m->path = copy;
	m->size = st.st_size;
	m->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	memcpy(m->sha256, sha, HASH_HEX_LEN);
}

void image_photo_memo_free(struct image_photo_memo *m)
{
	if (!m)
		return;
	free(m->path);
	free(m);
}

int image_opts_plan(struct image_opts *io, const char *sku, const json_t *fields,
		    json_t *projection, json_t *input_fields, char **extra, char **error,
		    struct err *e)
{
	json_t *photo = json_object_get(fields, io->photo_field);
	const char *value = json_string_value(photo);
	struct hash_ctx *h = NULL;
	char photo_sha[HASH_HEX_LEN] = "", hex[HASH_HEX_LEN];
	const struct media_scene *scene = NULL;
	int rc = -1;

	*extra = *error = NULL;
	if ((!photo || json_is_null(photo)) && io->photo_optional)
		return 0;
	if (!photo || json_is_null(photo))
		return set_error(error, sku, io->photo_field, "missing: an image needs the product photo (a path or URL)") < 0
			       ? err_set(e, ERR_NOMEM, "out of memory") : 0;
	if (!value || !*value)
		return set_error(error, sku, io->photo_field, "expected a path or URL to the product photo, got %s",
				 json_is_string(photo) ? "an empty string" : "another type") < 0
			       ? err_set(e, ERR_NOMEM, "out of memory") : 0;
	if (json_object_set(projection, io->photo_field, photo) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	{
		bool listed = false;
		size_t i;
		json_t *f;

		json_array_foreach(input_fields, i, f)
			listed = listed || strcmp(json_string_value(f), io->photo_field) == 0;
		if (!listed && json_array_append_new(input_fields, json_string(io->photo_field)) < 0)
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (!is_url(value)) {
		/* A local photo: its bytes are part of the fingerprint. */
		struct buf path = BUF_INIT, bytes = BUF_INIT;
		struct err fe;

		err_clear(&fe);
		if (value[0] == '/')
			buf_puts(&path, value);
		else
			buf_printf(&path, "%s/%s", io->base_dir, value);
		if (io->memo && photo_memo_get(io->memo, buf_str(&path), photo_sha)) {
			buf_free(&path);
			goto hashed;
		}
		if (file_read_regular(buf_str(&path), MEDIA_MAX_BYTES_DEFAULT, &bytes, &fe) < 0) {
			rc = set_error(error, sku, io->photo_field, "cannot read the product photo: %s", fe.msg) < 0
				     ? err_set(e, ERR_NOMEM, "out of memory") : 0;
			buf_free(&path);
			buf_free(&bytes);
			return rc;
		}
		sha256_hex(bytes.data ? bytes.data : "", bytes.len, photo_sha);
		if (io->memo)
			photo_memo_put(io->memo, buf_str(&path), photo_sha);
		buf_free(&path);
		buf_free(&bytes);
	}
hashed:
	if (io->scenes_dir) {
		if (!io->scenes) {
			struct err se;

			err_clear(&se);
			if (media_scenes_open(io->scenes_dir, &io->scenes, &se) < 0)
				return set_error(error, sku, io->photo_field, "no scene for the lifestyle image: %s", se.msg) < 0
					       ? err_set(e, ERR_NOMEM, "out of memory") : 0;
		}
		scene = media_scenes_pick(io->scenes, sku);
		if (!scene)
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	h = hash_new();
	if (!h)
		return err_set(e, ERR_NOMEM, "out of memory");
	hash_update_str(h, "skugen-image-v1");
	hash_update_str(h, io->digest);
	hash_update_str(h, photo_sha[0] ? photo_sha : NULL);
	hash_update_str(h, scene ? scene->name : NULL);
	hash_update_str(h, scene ? scene->sha256 : NULL);
	{
		/* A video's further lifestyle stills use the scenes after the
		 * SKU's own (media/gen_video.c): they are its inputs too. */
		json_t *ls = json_object_get(json_object_get(io->resolved, "video"), "lifestyle");
		size_t first = scene ? (size_t)(scene - io->scenes->items) : 0;

		for (json_int_t k = 1; scene && json_is_integer(ls) && k < json_integer_value(ls) &&
				       (size_t)k < io->scenes->n; k++) {
			const struct media_scene *sc = &io->scenes->items[(first + (size_t)k) % io->scenes->n];

			hash_update_str(h, sc->name);
			hash_update_str(h, sc->sha256);
		}
	}
	hash_final_hex(h, hex);
	hash_free(h);
	*extra = strdup(hex);
	rc = *extra ? 0 : err_set(e, ERR_NOMEM, "out of memory");
	return rc;
}

void image_opts_free(struct image_opts *io)
{
	if (!io)
		return;
	free(io->base_dir);
	free(io->scenes_dir);
	free(io->digest);
	json_decref(io->resolved);
	media_scenes_free(io->scenes);
	free(io);
}
