/* config.c: JSON configuration with located errors (see config.h). */
#include "common/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/file_read.h"
#include "common/json_locate.h"

/* Keys that hold secrets; they belong in the environment, never in the file. */
static const char *const secret_keys[] = {
	"api_key", "apikey", "secret", "client_secret", "password", "passwd",
	"token", "access_token", "refresh_token", "authorization", NULL,
};

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

static char *join_path(const char *objpath, const char *key)
{
	struct buf b = BUF_INIT;

	if (objpath && *objpath)
		buf_printf(&b, "%s.%s", objpath, key);
	else
		buf_puts(&b, key);
	return buf_steal(&b);
}

int config_error(const struct config *c, struct err *e, const char *keypath, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	int line = 0, col = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->text && json_locate(c->text, c->len, keypath ? keypath : "", &line, &col) >= 0)
		return err_set(e, ERR_CONFIG, "%s:%d:%d: %s: %s", c->path, line, col,
			       keypath && *keypath ? keypath : "(root)", msg);
	return err_set(e, ERR_CONFIG, "%s: %s: %s", c->path, keypath && *keypath ? keypath : "(root)", msg);
}

static bool is_secret_key(const char *k)
{
	for (size_t i = 0; secret_keys[i]; i++)
		if (strcasecmp(k, secret_keys[i]) == 0)
			return true;
	return false;
}

static int refuse_secrets(const struct config *c, const json_t *v, const char *path, struct err *e)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *child;

		json_object_foreach((json_t *)v, k, child) {
			char *p = join_path(path, k);
			int rc = 0;

			if (is_secret_key(k))
				rc = config_error(c, e, p, "secrets never sit in the configuration: put the value in an environment variable and name that variable in \"%s_env\"", k);
			else
				rc = refuse_secrets(c, child, p, e);
			free(p);
			if (rc < 0)
				return -1;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *child;

		json_array_foreach(v, i, child) {
			struct buf p = BUF_INIT;
			int rc;

			buf_printf(&p, "%s[%zu]", path, i);
			rc = refuse_secrets(c, child, buf_str(&p), e);
			buf_free(&p);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *cwd, *out;
	struct buf b = BUF_INIT;

	if (path[0] == '/')
		return strndup(path, slash == path ? 1 : (size_t)(slash - path));
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (slash)
		buf_printf(&b, "%s/%.*s", cwd, (int)(slash - path), path);
	else
		buf_puts(&b, cwd);
	free(cwd);
	out = buf_steal(&b);
	return out;
}

int config_load_text(struct config *c, const char *name, const char *text, struct err *e)
{
	json_error_t je;

	memset(c, 0, sizeof *c);
	c->path = strdup(name);
	c->dir = dir_of(name);
	c->text = strdup(text);
	if (!c->path || !c->dir || !c->text)
		goto nomem;
	c->len = strlen(text);
	c->root = json_loadb(c->text, c->len, JSON_REJECT_DUPLICATES, &je);
	if (!c->root) {
		err_set(e, ERR_CONFIG, "%s:%d:%d: %s", name, je.line, je.column, je.text);
		goto fail;
	}
	if (!json_is_object(c->root)) {
		config_error(c, e, "", "expected an object, got %s", json_type_name(c->root));
		goto fail;
	}
	if (refuse_secrets(c, c->root, "", e) < 0)
		goto fail;
	return 0;
nomem:
	err_set(e, ERR_NOMEM, "%s: out of memory", name);
fail:
	config_free(c);
	return -1;
}

int config_load(struct config *c, const char *path, struct err *e)
{
	struct buf b = BUF_INIT;
	int rc;

	memset(c, 0, sizeof *c);
	if (file_read_all(path, &b, e) < 0) {
		buf_free(&b);
		e->code = ERR_CONFIG;
		return err_prefix(e, "configuration");
	}
	if (memchr(buf_str(&b), '\0', b.len)) {
		buf_free(&b);
		return err_set(e, ERR_CONFIG, "%s: configuration contains a NUL byte", path);
	}
	rc = config_load_text(c, path, buf_str(&b), e);
	buf_free(&b);
	return rc;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->dir);
	free(c->text);
	json_decref(c->root);
	memset(c, 0, sizeof *c);
}

int config_check_keys(const struct config *c, const json_t *obj, const char *objpath,
		      const char *const allowed[], struct err *e)
{
	const char *k;
	json_t *v;

	if (!obj)
		return 0;
	json_object_foreach((json_t *)obj, k, v) {
		size_t i;

		for (i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (!allowed[i]) {
			struct buf known = BUF_INIT;
			char *p = join_path(objpath, k);
			int rc;

			for (i = 0; allowed[i]; i++)
				buf_printf(&known, "%s%s", i ? ", " : "", allowed[i]);
			rc = config_error(c, e, p, "unknown key (known keys: %s)", buf_str(&known));
			buf_free(&known);
			free(p);
			return rc;
		}
	}
	return 0;
}

/* The value at obj[key], or NULL when absent or null. */
static json_t *lookup(const json_t *obj, const char *key)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	return json_is_null(v) ? NULL : v;
}

static int wrong_type(const struct config *c, const char *objpath, const char *key,
		      const char *want, const json_t *v, struct err *e)
{
	char *p = join_path(objpath, key);
	char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc = config_error(c, e, p, "expected %s, got %s %.60s", want, json_type_name(v),
			      shown ? shown : "");

	free(shown);
	free(p);
	return rc;
}

int config_string(const struct config *c, const json_t *obj, const char *objpath,
		  const char *key, const char *def, const char **out, struct err *e)
{
	json_t *v = lookup(obj, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_string(v))
		return wrong_type(c, objpath, key, "a string", v, e);
	*out = json_string_value(v);
	return 0;
}

int config_bool(const struct config *c, const json_t *obj, const char *objpath,
		const char *key, bool def, bool *out, struct err *e)
{
	json_t *v = lookup(obj, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return wrong_type(c, objpath, key, "true or false", v, e);
	*out = json_is_true(v);
	return 0;
}

int config_int(const struct config *c, const json_t *obj, const char *objpath,
	       const char *key, long long def, long long min, long long max,
	       long long *out, struct err *e)
{
	json_t *v = lookup(obj, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return wrong_type(c, objpath, key, "an integer", v, e);
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		char *p = join_path(objpath, key);
		int rc = config_error(c, e, p, "%lld is out of range [%lld, %lld]",
				      (long long)json_integer_value(v), min, max);
		free(p);
		return rc;
	}
	*out = json_integer_value(v);
	return 0;
}

int config_object(const struct config *c, const json_t *obj, const char *objpath,
		  const char *key, json_t **out, struct err *e)
{
	json_t *v = lookup(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return wrong_type(c, objpath, key, "an object", v, e);
	*out = v;
	return 0;
}

int config_string_array(const struct config *c, const json_t *obj, const char *objpath,
			const char *key, json_t **out, struct err *e)
{
	json_t *v = lookup(obj, key), *item;
	size_t i;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return wrong_type(c, objpath, key, "an array of strings", v, e);
	json_array_foreach(v, i, item) {
		if (!json_is_string(item) || !*json_string_value(item)) {
			struct buf p = BUF_INIT;
			int rc;

			buf_printf(&p, "%s[%zu]", key, i);
			rc = wrong_type(c, objpath, buf_str(&p), "a non-empty string", item, e);
			buf_free(&p);
			return rc;
		}
	}
	*out = v;
	return 0;
}

char *config_resolve_path(const struct config *c, const char *path)
{
	struct buf b = BUF_INIT;

	if (path[0] == '/')
		return strdup(path);
	buf_printf(&b, "%s/%s", c->dir, path);
	return buf_steal(&b);
}
