/* settings.h: the validated configuration of one skugen invocation.
 *
 * settings_load() reads the JSON file (common/config.h does the located
 * errors) and checks every section the engine uses; what it returns is
 * ready to use.  Connector- and generator-specific objects are checked by
 * their back-ends when opened.
 *
 * {
 *   "store":     { "dsn": "...", "dsn_env": "SKUGEN_DSN", "home": ".skugen" },
 *   "source":    { "type": "file", ... },
 *   "category_field": "category",
 *   "templates": { "dir": "templates", "strict": true, "escape_html": false },
 *   "locales":   ["en_US", "de_DE"],
 *   "providers": { "openai": { "type": "openai", ... } },   (providers/provider.h)
 *   "serve":     { "listen": "127.0.0.1:8080", "fal_jwks": "jwks.json", ... }, (batch/serve.h)
 *   "budget":    { "max_cost": 25.0, "deadline_s": 28800 },
 *   "media":     { "fetch": { "allow_private": false, "allow": ["10.1.0.0/16"] } },
 *                (photo downloads: media/fetch_guard.h)
 *   "queue":     { "max_attempts": 5, "lease_s": 30, "backoff_s": 5, "backoff_max_s": 600,
 *                  "poll_s": 2, "archive_after_s": 604800 },
 *   "generators": { "rules": { "type": "template", "template": "copy/description" },
 *                   "writer": { "type": "llm", "provider": "openai", "model": "gpt-4o-mini",
 *                               "params": {...}, "schema": "schema/x.schema.json" } },
 *   "outputs":   [ { "name": "description", "template": "description",
 *                    "system": "system/description", "generator": "writer",
 *                    "fallback": ["rules"], "kind": "text", "locales": [...],
 *                    "channel": "",
 *                    "target": { ...connector-specific... },
 *                    "overwrite": "if_generated", "publish": "review" } ]
 * }
 */
#ifndef SKUGEN_SETTINGS_H
#define SKUGEN_SETTINGS_H

#include <stdbool.h>
#include <jansson.h>

#include "common/config.h"
#include "common/err.h"

struct checks;
struct image_opts;
struct image_photo_memo;

struct output_settings {
	const char *name;         /* borrowed from the configuration tree */
	const char *kind;         /* "text" */
	const char *template_base;
	const char *generator;    /* a key of "generators" */
	const char **chain;       /* new array of borrowed names: generator, then each
				   "fallback", tried in order when one fails */
	size_t chain_len;
	const char *system_base;  /* template base of the system prompt, or NULL */
	const char *current;      /* the record field holding today's value (for review) */
	const char *channel;      /* "" when none */
	json_t *locales;          /* borrowed array of strings */
	json_t *target;           /* borrowed object, or NULL: where publish writes it */
	const char *overwrite;    /* "never", "if_generated" (default) or "always" */
	bool auto_publish;        /* publish drafts without review ("publish": "auto") */
	struct checks *checks;    /* new or NULL: what each generation is checked for (checks.h) */
	struct image_opts *image; /* new, kind "image" only: its options (image_opts.h) */
};

/* The shared task queue ("queue" in the file). */
struct queue_settings {
	int max_attempts;         /* claims before a task is dead (5) */
	double lease_s;           /* a claim's lease, renewed by heartbeats (30) */
	double backoff_s;         /* the first retry's delay, doubled per attempt (5) */
	double backoff_max_s;     /* the longest delay (600) */
	double poll_s;            /* idle workers look again this often, NOTIFY or not (2) */
	double archive_after_s;   /* finished runs' tasks move to skugen.tasks_archive this
				     long after the run ended (7 days) */
};

struct settings {
	struct config cfg;
	bool loaded;              /* a configuration file was read */
	char *dsn;                /* new or NULL: NULL means the embedded store */
	char *home;               /* new: the embedded store's home */
	json_t *source;           /* borrowed object, or NULL */
	const char *category_field;
	const char *name_field;   /* the record field holding the product's name ("name") */
	char *templates_dir;      /* new */
	bool strict, escape_html;
	json_t *generators;       /* borrowed object: name -> { "type": ..., ... } */
	json_t *providers;        /* borrowed object for providers/provider.h, or NULL */
	json_t *serve;            /* borrowed object, or NULL: `skugen serve` (batch/serve.h) */
	double budget;            /* the run's cost cap; 0: none */
	double deadline_s;        /* budget.deadline_s: no call starts this long after the
				     run began; 0: none */
	struct queue_settings queue;
	char *assets_root;        /* new: absolute; "assets.root", default $SKUGEN_HOME/assets */
	json_t *presets;          /* borrowed object, or NULL: custom channel presets */
	json_t *media_fetch;      /* borrowed object, or NULL: "media.fetch", what photo
				     downloads may connect to (media/fetch_guard.h) */
	json_t *image_locales;    /* new or NULL: [first locale], image outputs' default */
	struct image_photo_memo *photo_memo; /* new or NULL: shared by the image outputs */
	struct output_settings *outputs;
	size_t n_outputs;
	char config_sha256[65];   /* of the file's bytes; recorded with each run */
};

/* Load path.  When optional is true and path does not exist, succeed with
 * defaults (loaded = false): the db commands need no configuration. */
int settings_load(struct settings *s, const char *path, bool optional, struct err *e);

/* Check what `run` and `regen` need beyond the store: a source, outputs,
 * generators that exist. */
int settings_require_pipeline(const struct settings *s, struct err *e);

void settings_free(struct settings *s);

#endif
