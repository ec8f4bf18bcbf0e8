/* generator.h: the interface every content generator implements.
 *
 * A generator turns one task's rendered prompt (and its inputs) into content:
 * the local `template` generator returns the rendered template itself (the
 * rule-based copy every catalog team keeps as its fallback); remote providers
 * (openai, anthropic, fal) and local GPU/CPU generators plug in here too.
 *
 * A back-end is a `const struct gen_ops` table in the NULL-terminated
 * gen_backends[] (providers/gen_registry.c).  Instance state embeds struct
 * gen first.  name and version go into every provenance row.
 */
#ifndef SKUGEN_GENERATOR_H
#define SKUGEN_GENERATOR_H

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"

/* What one task asks of a generator.  Everything is borrowed. */
struct gen_request {
	const char *sku;
	const char *output;    /* output name from the configuration: "description" */
	const char *kind;      /* "text" */
	const char *locale;
	const char *channel;
	const char *prompt;    /* the rendered template */
	size_t prompt_len;
	const json_t *input;   /* the fields the template read (a projection of the record) */
	long long run_id;      /* the run the task belongs to (0 outside a run) */
	long long task_id;     /* 0 outside a run */
	long long generation_id; /* the id the generation will be stored under, reserved
				    before generating so files can carry it (0 when none) */
	const char *template_sha256; /* the sha256 of the template rendered into prompt */
	const json_t *options; /* media outputs: the output's resolved options (kind "image":
				  batch/image_opts.h); NULL for text */
};

/* What the generator answers.  The caller zeroes it, the generator fills it,
 * gen_result_clear() releases it. */
struct gen_result {
	struct buf content;    /* the generated text */
	char *provider;        /* new or NULL: who served it ("local" for local generators) */
	char *model;           /* new or NULL */
	char *model_version;   /* new or NULL */
	char *request_id;      /* new or NULL */
	json_t *params;        /* new reference or NULL: the parameters that shaped the answer */
	long long tokens_in, tokens_out;
	double cost;           /* in the configured currency */
	/* Media generators: the file they wrote into the asset store.  content
	 * then holds a JSON description of it (mime, width, height, ...). */
	char *asset_path;      /* new or NULL: the file's path in the asset store */
	char *asset_sha256;    /* new or NULL: its sha256, hex */
};

void gen_result_clear(struct gen_result *r);

struct gen;

struct gen_ops {
	const char *name;      /* the configuration's generator "type" */
	const char *version;

	/* Create an instance from its configuration object (borrowed; may be
	 * NULL for defaults).  name is the instance's name in the
	 * configuration, for messages. */
	int (*open)(struct gen **out, const char *name, const json_t *cfg, struct err *e);

	/* Produce content for one request.  ERR_GENERATE (or ERR_INPUT) fails
	 * that task only. */
	int (*generate)(struct gen *g, const struct gen_request *req, struct gen_result *res,
			struct err *e);

	/* Close and free.  Accepts NULL. */
	void (*close)(struct gen *g);
};

struct gen {
	const struct gen_ops *ops;
};

extern const struct gen_ops *const gen_backends[];

/* The back-end whose name is type, or NULL. */
const struct gen_ops *gen_find(const char *type);

#endif
