/* settings.c: validate the configuration (see settings.h). */
#include "batch/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "batch/checks.h"
#include "batch/image_opts.h"
#include "media/fetch_guard.h"
#include "media/scenes.h"
#include "batch/video_opts.h"
#include "common/buf.h"
#include "common/hash.h"
#include "connectors/connector.h"
#include "providers/generator.h"

static const char *const top_keys[] = {
	"store", "source", "category_field", "name_field", "templates", "locales", "generators", "outputs",
	"providers", "budget", "queue", "serve", "assets", "presets", "media", NULL,
};
static const char *const store_keys[] = { "dsn", "dsn_env", "home", NULL };
static const char *const templates_keys[] = { "dir", "strict", "escape_html", NULL };
static const char *const output_keys[] = {
	"name", "kind", "template", "system", "generator", "fallback", "locales", "channel",
	"target", "overwrite", "publish", "current", "checks",
	"inputs", "mode", "preset", "scenes", "scenes_generated", "placement", "shadow", "harmonise",
	"cutout", /* from "inputs": image and video outputs only (image_opts.h) */
	"video", NULL, /* video outputs only (video_opts.h) */
};

/* Whether a libpq connection string (key=value or URI) carries a password. */
static bool dsn_has_password(const char *dsn)
{
	PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
	bool found = false;

	if (!opts)
		return strstr(dsn, "password") != NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
			found = true;
	PQconninfoFree(opts);
	return found;
}

static int load_store(struct settings *s, struct err *e)
{
	const struct config *c = &s->cfg;
	json_t *store = NULL;
	const char *dsn = NULL, *dsn_env = "SKUGEN_DSN", *home = NULL;
	const char *env_dsn = getenv("SKUGEN_DSN"), *env_home = getenv("SKUGEN_HOME");

	if (s->loaded) {
		if (config_object(c, c->root, "", "store", &store, e) < 0 ||
		    config_check_keys(c, store, "store", store_keys, e) < 0 ||
		    config_string(c, store, "store", "dsn", NULL, &dsn, e) < 0 ||
		    config_string(c, store, "store", "dsn_env", "SKUGEN_DSN", &dsn_env, e) < 0 ||
		    config_string(c, store, "store", "home", NULL, &home, e) < 0)
			return -1;
		if (dsn && dsn_has_password(dsn))
			return config_error(c, e, "store.dsn", "holds a password: keep it in the environment (PGPASSWORD, ~/.pgpass, or a DSN in the variable named by store.dsn_env)");
	}
	/* The environment wins over the file, as deployments expect. */
	if (env_dsn && *env_dsn)
		s->dsn = strdup(env_dsn);
	else if (dsn && *dsn)
		s->dsn = strdup(dsn);
	else if (dsn_env && getenv(dsn_env) && *getenv(dsn_env))
		s->dsn = strdup(getenv(dsn_env));
	if (env_home && *env_home)
		s->home = strdup(env_home);
	else if (home && *home)
		s->home = config_resolve_path(c, home);
	else
		s->home = strdup(".skugen");
	return s->home ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

static int load_outputs(struct settings *s, struct err *e)
{
	const struct config *c = &s->cfg;
	json_t *outputs = json_object_get(c->root, "outputs"), *o;
	json_t *default_locales = NULL;
	size_t i;

	if (config_string_array(c, c->root, "", "locales", &default_locales, e) < 0)
		return -1;
	if (!outputs)
		return 0;
	if (!json_is_array(outputs))
		return config_error(c, e, "outputs", "expected an array of outputs");
	s->outputs = calloc(json_array_size(outputs) + 1, sizeof *s->outputs);
	if (!s->outputs)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_array_foreach(outputs, i, o) {
		struct output_settings *out = &s->outputs[i];
		const char *publish = NULL;
		json_t *fallback = NULL;
		enum conn_policy policy;
		char path[64];

		snprintf(path, sizeof path, "outputs[%zu]", i);
		if (!json_is_object(o))
			return config_error(c, e, path, "expected an object");
		if (config_check_keys(c, o, path, output_keys, e) < 0 ||
		    config_string(c, o, path, "name", NULL, &out->name, e) < 0 ||
		    config_string(c, o, path, "kind", "text", &out->kind, e) < 0 ||
		    config_string(c, o, path, "template", NULL, &out->template_base, e) < 0 ||
		    config_string(c, o, path, "generator", NULL, &out->generator, e) < 0 ||
		    config_string(c, o, path, "channel", "", &out->channel, e) < 0 ||
		    config_string_array(c, o, path, "locales", &out->locales, e) < 0 ||
		    config_object(c, o, path, "target", &out->target, e) < 0 ||
		    config_string(c, o, path, "overwrite", "if_generated", &out->overwrite, e) < 0 ||
		    config_string(c, o, path, "publish", "review", &publish, e) < 0 ||
		    config_string(c, o, path, "system", NULL, &out->system_base, e) < 0 ||
		    config_string(c, o, path, "current", NULL, &out->current, e) < 0 ||
		    config_string_array(c, o, path, "fallback", &fallback, e) < 0)
			return -1;
		out->chain = calloc(json_array_size(fallback) + 2, sizeof *out->chain);
		if (!out->chain)
			return err_set(e, ERR_NOMEM, "out of memory");
		if (config_string(c, o, path, "generator", NULL, &out->chain[0], e) < 0)
			return -1;
		out->chain_len = out->chain[0] ? 1 : 0;
		{
			size_t k;
			json_t *name;

			json_array_foreach(fallback, k, name)
				out->chain[out->chain_len++] = json_string_value(name);
		}
		if (conn_policy_parse(out->overwrite, &policy) < 0) {
			strncat(path, ".overwrite", sizeof path - strlen(path) - 1);
			return config_error(c, e, path, "expected \"never\", \"if_generated\" or \"always\", got \"%s\"", out->overwrite);
		}
		if (strcmp(publish, "review") != 0 && strcmp(publish, "auto") != 0) {
			strncat(path, ".publish", sizeof path - strlen(path) - 1);
			return config_error(c, e, path, "expected \"review\" or \"auto\", got \"%s\"", publish);
		}
		out->auto_publish = strcmp(publish, "auto") == 0;
		if (!out->name || !*out->name)
			return config_error(c, e, path, "an output needs a \"name\"");
		for (size_t k = 0; k < i; k++)
			if (strcmp(s->outputs[k].name, out->name) == 0)
				return config_error(c, e, path, "output \"%s\" is defined twice", out->name);
		bool video = strcmp(out->kind, "video") == 0;

		if (!video && json_object_get(o, "video")) {
			char kpath[96];

			snprintf(kpath, sizeof kpath, "%s.video", path);
			return config_error(c, e, kpath, "only video outputs take \"video\" (set \"kind\": \"video\")");
		}
		if (strcmp(out->kind, "image") == 0 || video) {
			/* A video's stills come from the same keys as an image's. */
			if (image_opts_load(c, o, path, s->assets_root, s->presets, &out->image, e) < 0 ||
			    (video && video_opts_load(c, o, path, out->image, e) < 0))
				return -1;
			if (s->media_fetch && json_object_set(out->image->resolved, "fetch", s->media_fetch) < 0)
				return err_set(e, ERR_NOMEM, "out of memory");
			if (!s->photo_memo && !(s->photo_memo = calloc(1, sizeof *s->photo_memo)))
				return err_set(e, ERR_NOMEM, "out of memory");
			out->image->memo = s->photo_memo;
			/* An image is one per SKU, not per language: the first
			 * locale (its alt text's) unless the output lists its own. */
			if (!out->locales && json_array_size(default_locales) > 1) {
				if (!s->image_locales)
					s->image_locales = json_pack("[O]", json_array_get(default_locales, 0));
				out->locales = s->image_locales;
			}
		} else if (strcmp(out->kind, "text") != 0) {
			strncat(path, ".kind", sizeof path - strlen(path) - 1);
			return config_error(c, e, path, "kind \"%s\" is not supported yet (known: text, image, video)", out->kind);
		} else {
			const char *k;
			json_t *v;

			json_object_foreach(o, k, v)
				if (image_opts_key(k)) {
					char kpath[96];

					snprintf(kpath, sizeof kpath, "%s.%s", path, k);
					return config_error(c, e, kpath, "only image outputs take \"%s\" (set \"kind\": \"image\")", k);
				}
		}
		if (!out->template_base)
			out->template_base = out->name;
		if (!out->current)
			out->current = out->name;
		if (!out->locales)
			out->locales = default_locales;
		if (!out->locales || json_array_size(out->locales) == 0)
			return config_error(c, e, path, "no locales: set \"locales\" on the output or at the top level");
		{
			char cpath[80];

			snprintf(cpath, sizeof cpath, "%s.checks", path);
			/* Last, so an output that owns checks is always counted. */
			if (checks_compile(c, json_object_get(o, "checks"), cpath, &out->checks, e) < 0)
				return -1;
		}
		s->n_outputs++;
	}
	return 0;
}

/* obj[key]: a number >= min (absent: def). */
static int number(const json_t *obj, const char *key, double def, double min, double *out)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || json_number_value(v) < min)
		return -1;
	*out = json_number_value(v);
	return 0;
}

/* "assets": { "root": DIR } (default: $SKUGEN_HOME/assets), made absolute so
 * that the paths stored with generations do not depend on the working
 * directory; "presets": custom channel presets (checked with the outputs). */
static int load_assets(struct settings *s, struct err *e)
{
	static const char *const keys[] = { "root", NULL };
	const struct config *c = &s->cfg;
	json_t *assets = NULL;
	const char *root = NULL;
	struct buf p = BUF_INIT;

	if (config_object(c, c->root, "", "assets", &assets, e) < 0 ||
	    config_check_keys(c, assets, "assets", keys, e) < 0 ||
	    config_string(c, assets, "assets", "root", NULL, &root, e) < 0 ||
	    config_object(c, c->root, "", "presets", &s->presets, e) < 0)
		return -1;
	if (root && *root) {
		s->assets_root = config_resolve_path(c, root);
		return s->assets_root ? 0 : err_set(e, ERR_NOMEM, "out of memory");
	}
	if (s->home[0] != '/') {
		char cwd[4096];

		if (!getcwd(cwd, sizeof cwd))
			return err_set(e, ERR_IO, "cannot find the working directory for the asset store");
		buf_printf(&p, "%s/", cwd);
	}
	buf_printf(&p, "%s/assets", s->home);
	s->assets_root = buf_steal(&p);
	return s->assets_root ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

/* "media": {"fetch": {"allow_private": false, "allow": ["10.0.0.0/8", ...]}}:
 * what product photos may be downloaded from beyond public addresses
 * (media/fetch_guard.h).  The image outputs' options carry it as written
 * (not into their fingerprints: it changes what may be fetched, not what is
 * made from it). */
static int load_media(struct settings *s, struct err *e)
{
	static const char *const keys[] = { "fetch", NULL };
	static const char *const fetch_keys[] = { "allow_private", "allow", NULL };
	const struct config *c = &s->cfg;
	json_t *media = NULL, *fetch = NULL, *allow, *v;
	bool allow_private = false;
	size_t i;

	if (config_object(c, c->root, "", "media", &media, e) < 0 ||
	    config_check_keys(c, media, "media", keys, e) < 0 ||
	    config_object(c, media, "media", "fetch", &fetch, e) < 0 ||
	    config_check_keys(c, fetch, "media.fetch", fetch_keys, e) < 0 ||
	    config_bool(c, fetch, "media.fetch", "allow_private", false, &allow_private, e) < 0)
		return -1;
	allow = fetch ? json_object_get(fetch, "allow") : NULL;
	if (allow && !json_is_null(allow) && !json_is_array(allow))
		return config_error(c, e, "media.fetch.allow", "expected an array of IP addresses or networks (CIDR)");
	if (json_array_size(allow) > MEDIA_FETCH_ALLOW_MAX)
		return config_error(c, e, "media.fetch.allow", "%zu entries, at most %d",
				    json_array_size(allow), MEDIA_FETCH_ALLOW_MAX);
	json_array_foreach(allow, i, v) {
		struct media_cidr net;
		char at[64];

		snprintf(at, sizeof at, "media.fetch.allow[%zu]", i);
		if (!json_is_string(v) || media_cidr_parse(json_string_value(v), &net) < 0)
			return config_error(c, e, at, "expected an IP address or a network such as "
					    "\"10.0.0.0/8\" or \"fd00::/8\"");
	}
	s->media_fetch = fetch;
	return 0;
}

static int load_budget(struct settings *s, struct err *e)
{
	const struct config *c = &s->cfg;
	static const char *const keys[] = { "max_cost", "deadline_s", NULL };
	json_t *budget = NULL, *max;

	if (config_object(c, c->root, "", "budget", &budget, e) < 0 ||
	    config_check_keys(c, budget, "budget", keys, e) < 0)
		return -1;
	if (number(budget, "deadline_s", 0, 1e-3, &s->deadline_s) < 0)
		return config_error(c, e, "budget.deadline_s", "expected a positive number of seconds");
	max = budget ? json_object_get(budget, "max_cost") : NULL;
	if (!max)
		return 0;
	if (!json_is_number(max) || json_number_value(max) <= 0)
		return config_error(c, e, "budget.max_cost", "expected a positive number");
	s->budget = json_number_value(max);
	return 0;
}

/* The shared task queue: "queue": {"max_attempts", "lease_s", "backoff_s",
 * "backoff_max_s", "poll_s", "archive_after_s"}. */
static int load_queue(struct settings *s, struct err *e)
{
	const struct config *c = &s->cfg;
	static const char *const keys[] = { "max_attempts", "lease_s", "backoff_s", "backoff_max_s",
					    "poll_s", "archive_after_s", NULL };
	struct queue_settings *q = &s->queue;
	json_t *queue = NULL;
	long long max_attempts = 5;

	if (config_object(c, c->root, "", "queue", &queue, e) < 0 ||
	    config_check_keys(c, queue, "queue", keys, e) < 0 ||
	    config_int(c, queue, "queue", "max_attempts", 5, 1, 1000, &max_attempts, e) < 0)
		return -1;
	q->max_attempts = (int)max_attempts;
	if (number(queue, "lease_s", 30, 1, &q->lease_s) < 0)
		return config_error(c, e, "queue.lease_s", "expected a number of seconds, at least 1");
	if (number(queue, "backoff_s", 5, 0, &q->backoff_s) < 0)
		return config_error(c, e, "queue.backoff_s", "expected a number of seconds, at least 0");
	if (number(queue, "backoff_max_s", 600, 0, &q->backoff_max_s) < 0)
		return config_error(c, e, "queue.backoff_max_s", "expected a number of seconds, at least 0");
	if (number(queue, "poll_s", 2, 0.01, &q->poll_s) < 0)
		return config_error(c, e, "queue.poll_s", "expected a number of seconds, at least 0.01");
	if (number(queue, "archive_after_s", 7 * 86400, 0, &q->archive_after_s) < 0)
		return config_error(c, e, "queue.archive_after_s", "expected a number of seconds, at least 0");
	return 0;
}

int settings_load(struct settings *s, const char *path, bool optional, struct err *e)
{
	const struct config *c = &s->cfg;
	json_t *templates = NULL;
	const char *dir = "templates";

	memset(s, 0, sizeof *s);
	s->strict = true;
	s->category_field = "category";
	s->name_field = "name";
	s->queue = (struct queue_settings){ .max_attempts = 5, .lease_s = 30, .backoff_s = 5,
					    .backoff_max_s = 600, .poll_s = 2, .archive_after_s = 7 * 86400 };
	if (optional && access(path, F_OK) != 0)
		return load_store(s, e);
	if (config_load(&s->cfg, path, e) < 0)
		return -1;
	s->loaded = true;
	sha256_hex(c->text, c->len, s->config_sha256);
	if (config_check_keys(c, c->root, "", top_keys, e) < 0 ||
	    load_store(s, e) < 0 ||
	    config_object(c, c->root, "", "source", &s->source, e) < 0 ||
	    config_string(c, c->root, "", "category_field", "category", &s->category_field, e) < 0 ||
	    config_string(c, c->root, "", "name_field", "name", &s->name_field, e) < 0 ||
	    config_object(c, c->root, "", "templates", &templates, e) < 0 ||
	    config_check_keys(c, templates, "templates", templates_keys, e) < 0 ||
	    config_string(c, templates, "templates", "dir", "templates", &dir, e) < 0 ||
	    config_bool(c, templates, "templates", "strict", true, &s->strict, e) < 0 ||
	    config_bool(c, templates, "templates", "escape_html", false, &s->escape_html, e) < 0 ||
	    config_object(c, c->root, "", "generators", &s->generators, e) < 0 ||
	    config_object(c, c->root, "", "providers", &s->providers, e) < 0 ||
	    config_object(c, c->root, "", "serve", &s->serve, e) < 0 ||
	    load_budget(s, e) < 0 ||
	    load_queue(s, e) < 0 ||
	    load_assets(s, e) < 0 ||
	    load_media(s, e) < 0 ||
	    load_outputs(s, e) < 0)
		goto fail;
	s->templates_dir = config_resolve_path(c, dir);
	if (!s->templates_dir) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	return 0;
fail:
	settings_free(s);
	return -1;
}

static const char *const llm_keys[] = { "type", "provider", "model", "params", "schema", NULL };
static const char *const template_gen_keys[] = { "type", "template", NULL };
static const char *const video_gen_keys[] = { "type", "provider", "model", "params", NULL };

/* A generator named by an output (at path): it exists, its type is known,
 * and an llm generator names a configured provider and a model. */
static int check_generator(const struct settings *s, const char *name, const char *path,
			   struct err *e)
{
	const struct config *c = &s->cfg;
	json_t *g = s->generators ? json_object_get(s->generators, name) : NULL, *params = NULL;
	const char *gtype = NULL, *provider = NULL, *model = NULL, *schema = NULL, *tmpl = NULL;
	char gpath[128];

	if (!json_is_object(g))
		return config_error(c, e, path, "no generator \"%s\" in \"generators\"", name);
	snprintf(gpath, sizeof gpath, "generators.%s", name);
	if (config_string(c, g, gpath, "type", NULL, &gtype, e) < 0)
		return -1;
	if (gtype && strcmp(gtype, "llm") == 0) {
		if (config_check_keys(c, g, gpath, llm_keys, e) < 0 ||
		    config_string(c, g, gpath, "provider", NULL, &provider, e) < 0 ||
		    config_string(c, g, gpath, "model", NULL, &model, e) < 0 ||
		    config_string(c, g, gpath, "schema", NULL, &schema, e) < 0 ||
		    config_object(c, g, gpath, "params", &params, e) < 0)
			return -1;
		if (!provider || !json_is_object(s->providers ? json_object_get(s->providers, provider) : NULL))
			return config_error(c, e, gpath, "\"provider\" must name one of \"providers\"");
		if (!model)
			return config_error(c, e, gpath, "an llm generator needs a \"model\"");
		return 0;
	}
	if (gtype && strcmp(gtype, "image") == 0) {
		/* Local (no provider), or hosted: "model" makes the lifestyle shot
		 * (fal-ai/bria/product-shot), "scene_model" the scenes (FLUX). */
		static const char *const image_gen_keys[] = {
			"type", "provider", "model", "params", "scene_model", "scene_params", NULL,
		};
		json_t *scene_params = NULL;
		const char *scene_model = NULL;

		if (config_check_keys(c, g, gpath, image_gen_keys, e) < 0 ||
		    config_string(c, g, gpath, "provider", NULL, &provider, e) < 0 ||
		    config_string(c, g, gpath, "model", NULL, &model, e) < 0 ||
		    config_string(c, g, gpath, "scene_model", NULL, &scene_model, e) < 0 ||
		    config_object(c, g, gpath, "params", &params, e) < 0 ||
		    config_object(c, g, gpath, "scene_params", &scene_params, e) < 0)
			return -1;
		if (provider && !json_is_object(s->providers ? json_object_get(s->providers, provider) : NULL))
			return config_error(c, e, gpath, "\"provider\" must name one of \"providers\"");
		if (provider && !model && !scene_model)
			return config_error(c, e, gpath, "a hosted image generator needs a \"model\" (product shots) or a \"scene_model\" (scenes)");
		if (!provider && (model || scene_model))
			return config_error(c, e, gpath, "\"model\" and \"scene_model\" are hosted: name the \"provider\" too");
		return 0;
	}
	if (gtype && strcmp(gtype, "video") == 0) {
		/* Local (no provider), or hosted image-to-video (batch/exec_video.h). */
		if (config_check_keys(c, g, gpath, video_gen_keys, e) < 0 ||
		    config_string(c, g, gpath, "provider", NULL, &provider, e) < 0 ||
		    config_string(c, g, gpath, "model", NULL, &model, e) < 0 ||
		    config_object(c, g, gpath, "params", &params, e) < 0)
			return -1;
		if (provider && !json_is_object(s->providers ? json_object_get(s->providers, provider) : NULL))
			return config_error(c, e, gpath, "\"provider\" must name one of \"providers\"");
		if (provider && !model)
			return config_error(c, e, gpath, "a hosted video generator needs a \"model\" (image to video)");
		if (!provider && model)
			return config_error(c, e, gpath, "\"model\" is hosted: name the \"provider\" too");
		return 0;
	}
	if (gtype && strcmp(gtype, "template") == 0)
		return config_check_keys(c, g, gpath, template_gen_keys, e) < 0 ||
		       config_string(c, g, gpath, "template", NULL, &tmpl, e) < 0 ? -1 : 0;
	{
		struct buf known = BUF_INIT;
		int rc;

		buf_puts(&known, "llm");
		for (size_t k = 0; gen_backends[k]; k++)
			buf_printf(&known, ", %s", gen_backends[k]->name);
		strncat(gpath, ".type", sizeof gpath - strlen(gpath) - 1);
		rc = config_error(c, e, gpath, "unknown generator type \"%s\" (known: %s)",
				  gtype ? gtype : "", buf_str(&known));
		buf_free(&known);
		return rc;
	}
}

int settings_require_pipeline(const struct settings *s, struct err *e)
{
	const struct config *c = &s->cfg;
	const char *type = NULL;

	if (!s->loaded)
		return err_set(e, ERR_CONFIG, "%s: no such configuration file (use --config FILE)", c->path ? c->path : "skugen.json");
	if (!s->source)
		return config_error(c, e, "", "no \"source\": say where the catalog comes from");
	if (config_string(c, s->source, "source", "type", NULL, &type, e) < 0)
		return -1;
	if (!type)
		return config_error(c, e, "source", "no \"type\" (e.g. \"file\")");
	if (s->n_outputs == 0)
		return config_error(c, e, "", "no \"outputs\": nothing to generate");
	if (!conn_find(type)) {
		struct buf known = BUF_INIT;
		int rc;

		for (size_t k = 0; conn_backends[k]; k++)
			buf_printf(&known, "%s%s", k ? ", " : "", conn_backends[k]->name);
		rc = config_error(c, e, "source.type", "unknown source type \"%s\" (known: %s)", type, buf_str(&known));
		buf_free(&known);
		return rc;
	}
	for (size_t i = 0; i < s->n_outputs; i++) {
		const struct output_settings *o = &s->outputs[i];
		char path[96];

		if (o->target) {
			const struct conn_ops *ops = conn_find(type);
			struct err te;

			snprintf(path, sizeof path, "outputs[%zu].target", i);
			if (!ops->check_target || !ops->write)
				return config_error(c, e, path, "the %s connector cannot write back", ops->name);
			err_clear(&te);
			if (ops->check_target(o->target, path, &te) < 0) {
				/* The connector names the key ("outputs[2].target.column: ...");
				 * locate that key in the file. */
				char *sep = strstr(te.msg, ": ");

				if (strncmp(te.msg, path, strlen(path)) == 0 && sep) {
					*sep = '\0';
					return config_error(c, e, te.msg, "%s", sep + 2);
				}
				return config_error(c, e, path, "%s", te.msg);
			}
		}
		snprintf(path, sizeof path, "outputs[%zu].generator", i);
		if (o->chain_len == 0)
			return config_error(c, e, path, "missing: name one of the \"generators\"");
		for (size_t k = 0; k < o->chain_len; k++) {
			if (k > 0)
				snprintf(path, sizeof path, "outputs[%zu].fallback[%zu]", i, k - 1);
			if (check_generator(s, o->chain[k], path, e) < 0)
				return -1;
			{
				/* Image outputs need image generators and only they. */
				const char *t = json_string_value(json_object_get(json_object_get(s->generators, o->chain[k]), "type"));
				bool image_gen = t && strcmp(t, "image") == 0;
				bool video_gen = t && strcmp(t, "video") == 0;
				bool video_out = strcmp(o->kind, "video") == 0;

				if (image_gen + video_gen != (o->image != NULL) || video_gen != video_out)
					return config_error(c, e, path, "generator \"%s\" makes %s, but output \"%s\" is of kind \"%s\"",
							    o->chain[k], image_gen ? "images" : video_gen ? "videos" : "text", o->name, o->kind);
				/* A local lifestyle shot needs scenes; a hosted
				 * model makes its own. */
				if (image_gen && !o->image->scenes_dir &&
				    !json_object_get(json_object_get(s->generators, o->chain[k]), "provider") &&
				    strcmp(json_string_value(json_object_get(o->image->resolved, "mode")), "lifestyle") == 0)
					return config_error(c, e, path, "output \"%s\" is a lifestyle image made locally by \"%s\": it needs \"scenes\", the folder of scenes to place the product in",
							    o->name, o->chain[k]);
				/* A scene folder that is missing or empty is found
				 * now, not as a failure of every task. */
				if (image_gen && o->image->scenes_dir && !o->image->scenes) {
					struct err se;
					char spath[96];

					err_clear(&se);
					snprintf(spath, sizeof spath, "outputs[%zu].scenes", i);
					if (media_scenes_open(o->image->scenes_dir, &o->image->scenes, &se) < 0)
						return config_error(c, e, spath, "%s", se.msg);
				}
			}
		}
	}
	return 0;
}

void settings_free(struct settings *s)
{
	if (!s)
		return;
	config_free(&s->cfg);
	free(s->dsn);
	free(s->home);
	free(s->templates_dir);
	/* The array has a zeroed entry past the last; an output that failed
	 * validation may own a chain without being counted yet. */
	for (size_t i = 0; s->outputs && (i < s->n_outputs || s->outputs[i].chain); i++) {
		free(s->outputs[i].chain);
		checks_free(s->outputs[i].checks);
		image_opts_free(s->outputs[i].image);
	}
	free(s->assets_root);
	json_decref(s->image_locales);
	image_photo_memo_free(s->photo_memo);
	free(s->outputs);
	memset(s, 0, sizeof *s);
}
