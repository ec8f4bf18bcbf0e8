/* config.h: the JSON configuration file, with errors that say where.
 *
 * Every configuration error names the file, line, column and key path:
 *     skugen.json:14:20: outputs[1].generator: expected a string, got 7
 * Syntax errors come from jansson; errors in values are located in the text
 * with json_locate().  Unknown keys are errors too: a typo must not be
 * silently ignored.  Secrets never sit in the file: a key that looks like one
 * (api_key, password, token, secret...) is refused, and the configuration
 * names the environment variable that holds it instead ("api_key_env").
 */
#ifndef SKUGEN_CONFIG_H
#define SKUGEN_CONFIG_H

#include <stdbool.h>
#include <jansson.h>

#include "common/err.h"

struct config {
	char *path;    /* as given */
	char *dir;     /* directory of path: relative paths inside resolve here */
	char *text;    /* the file's contents, for locating errors */
	size_t len;
	json_t *root;  /* owned; a JSON object */
};

/* Load and parse path into c (zeroed first).  ERR_CONFIG on a missing file,
 * bad JSON, a root that is not an object, or a secret in the file. */
int config_load(struct config *c, const char *path, struct err *e);

/* Parse configuration text already in memory (name is used in messages). */
int config_load_text(struct config *c, const char *name, const char *text, struct err *e);

void config_free(struct config *c);

/* Fill e with "file:line:col: keypath: message" (ERR_CONFIG); returns -1. */
int config_error(const struct config *c, struct err *e, const char *keypath, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Refuse keys of obj (at objpath) that are not in the NULL-terminated allowed
 * list, naming the first unknown one. */
int config_check_keys(const struct config *c, const json_t *obj, const char *objpath,
		      const char *const allowed[], struct err *e);

/* Typed getters for obj[key] (obj at objpath, may be NULL = absent).  A
 * missing or null value gives def; a value of the wrong type is an error.
 * Strings returned are borrowed from the configuration tree. */
int config_string(const struct config *c, const json_t *obj, const char *objpath,
		  const char *key, const char *def, const char **out, struct err *e);
int config_bool(const struct config *c, const json_t *obj, const char *objpath,
		const char *key, bool def, bool *out, struct err *e);
int config_int(const struct config *c, const json_t *obj, const char *objpath,
	       const char *key, long long def, long long min, long long max,
	       long long *out, struct err *e);
/* obj[key] must be an object (or absent: *out = NULL).  Borrowed. */
int config_object(const struct config *c, const json_t *obj, const char *objpath,
		  const char *key, json_t **out, struct err *e);
/* obj[key] must be an array of strings (or absent: *out = NULL).  Borrowed. */
int config_string_array(const struct config *c, const json_t *obj, const char *objpath,
			const char *key, json_t **out, struct err *e);

/* A path relative to the configuration file's directory, made absolute
 * when it is not already.  New string (free it); NULL on no memory. */
char *config_resolve_path(const struct config *c, const char *path);

#endif
