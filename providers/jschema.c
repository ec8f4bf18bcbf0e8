/* jschema.c: checking a structured answer against its JSON Schema.
 *
 * Only the subset that structured-output APIs accept and that decides
 * whether an answer can be used: type, properties, required,
 * additionalProperties, items, enum, const, anyOf, and $ref into $defs.
 * Formats, lengths and patterns are left to the checks downstream.  The
 * reason names the JSON path of the first mismatch.
 */
#include "providers/prov_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct check {
	const json_t *root;
	char *why;
	size_t whylen;
	char path[512];
	int depth;
};

static const char *type_of(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static bool is_type(const json_t *v, const char *t)
{
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (strcmp(t, "integer") == 0)
		return json_is_integer(v) || (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
	return strcmp(t, type_of(v)) == 0;
}

static int fail(struct check *c, const char *fmt, const char *a, const char *b)
{
	char msg[256];

	snprintf(msg, sizeof msg, fmt, a, b);
	snprintf(c->why, c->whylen, "%s: %s", c->path[0] ? c->path : "$", msg);
	return -1;
}

static int check(struct check *c, const json_t *s, const json_t *v);

/* Descend into path + ".key" or path + "[i]" for one check, then restore
 * the path. */
static int check_in(struct check *c, const json_t *s, const json_t *v, const char *key, size_t i)
{
	size_t len = strlen(c->path);
	int rc;

	if (key)
		snprintf(c->path + len, sizeof c->path - len, ".%s", key);
	else
		snprintf(c->path + len, sizeof c->path - len, "[%zu]", i);
	rc = check(c, s, v);
	c->path[len] = '\0';
	return rc;
}

static const json_t *resolve(struct check *c, const char *ref)
{
	const char *name;

	if (strncmp(ref, "#/$defs/", 8) == 0) {
		name = ref + 8;
		return json_object_get(json_object_get(c->root, "$defs"), name);
	}
	if (strncmp(ref, "#/definitions/", 14) == 0) {
		name = ref + 14;
		return json_object_get(json_object_get(c->root, "definitions"), name);
	}
	if (strcmp(ref, "#") == 0)
		return c->root;
	return NULL;
}

static int check(struct check *c, const json_t *s, const json_t *v)
{
	const json_t *t, *k;
	int rc = -1;

	if (json_is_true(s))
		return 0;
	if (json_is_false(s))
		return fail(c, "not allowed%s%s", "", "");
	if (!json_is_object(s))
		return 0;
	if (++c->depth > 64) {
		rc = fail(c, "schema nested too deep%s%s", "", "");
		goto out;
	}
	if ((t = json_object_get(s, "$ref")) && json_is_string(t)) {
		const json_t *target = resolve(c, json_string_value(t));

		if (!target) {
			rc = fail(c, "unresolvable $ref %s%s", json_string_value(t), "");
			goto out;
		}
		if (check(c, target, v) < 0)
			goto out;
	}
	if ((t = json_object_get(s, "type"))) {
		bool ok = false;

		if (json_is_string(t)) {
			ok = is_type(v, json_string_value(t));
		} else if (json_is_array(t)) {
			size_t i;

			json_array_foreach(t, i, k)
				if (json_is_string(k) && is_type(v, json_string_value(k)))
					ok = true;
		} else {
			ok = true;
		}
		if (!ok) {
			rc = fail(c, "expected %s, got %s",
				  json_is_string(t) ? json_string_value(t) : "another type", type_of(v));
			goto out;
		}
	}
	if ((t = json_object_get(s, "enum")) && json_is_array(t)) {
		bool found = false;
		size_t i;

		json_array_foreach(t, i, k)
			if (json_equal(k, (json_t *)v))
				found = true;
		if (!found) {
			rc = fail(c, "value not in enum%s%s", "", "");
			goto out;
		}
	}
	if ((t = json_object_get(s, "const")) && !json_equal((json_t *)t, (json_t *)v)) {
		rc = fail(c, "value is not the const%s%s", "", "");
		goto out;
	}
	if ((t = json_object_get(s, "anyOf")) && json_is_array(t)) {
		bool any = false;
		size_t i;

		json_array_foreach(t, i, k) {
			if (check(c, k, v) == 0) {
				any = true;
				break;
			}
		}
		if (!any) {
			rc = fail(c, "matches none of anyOf%s%s", "", "");
			goto out;
		}
	}
	if (json_is_object(v)) {
		const json_t *props = json_object_get(s, "properties");
		const json_t *addl = json_object_get(s, "additionalProperties");
		const char *key;
		json_t *val;
		size_t i;

		if ((t = json_object_get(s, "required")) && json_is_array(t)) {
			json_array_foreach(t, i, k) {
				if (json_is_string(k) && !json_object_get(v, json_string_value(k))) {
					rc = fail(c, "missing required property \"%s\"%s", json_string_value(k), "");
					goto out;
				}
			}
		}
		json_object_foreach((json_t *)v, key, val) {
			const json_t *ps = json_is_object(props) ? json_object_get(props, key) : NULL;

			if (ps) {
				if (check_in(c, ps, val, key, 0) < 0)
					goto out;
			} else if (json_is_false(addl)) {
				rc = fail(c, "property \"%s\" is not allowed%s", key, "");
				goto out;
			} else if (json_is_object(addl)) {
				if (check_in(c, addl, val, key, 0) < 0)
					goto out;
			}
		}
	}
	if (json_is_array(v) && (t = json_object_get(s, "items")) && json_is_object(t)) {
		size_t i;

		for (i = 0; i < json_array_size(v); i++)
			if (check_in(c, t, json_array_get(v, i), NULL, i) < 0)
				goto out;
	}
	rc = 0;
out:
	c->depth--;
	return rc;
}

int prov_schema_check(const json_t *schema, const json_t *inst, char *why, size_t whylen)
{
	struct check c;

	memset(&c, 0, sizeof c);
	c.root = schema;
	c.why = why;
	c.whylen = whylen;
	strcpy(c.path, "$");
	if (whylen)
		why[0] = '\0';
	return check(&c, schema, inst);
}
