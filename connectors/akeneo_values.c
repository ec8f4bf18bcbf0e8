/* akeneo_values.c: Akeneo products to skugen records: the identifier, the
 * values picked by locale and scope, and the per-record errors (see
 * akeneo.h for the rules and the messages). */
#include "common/show.h"
#include "connectors/akeneo_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>



static const char *kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

static int fail(struct record *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct record *r, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_decref(r->fields);
	r->fields = NULL;
	free(r->error);
	r->error = strdup(msg);
	return r->error ? 0 : -1;
}

static bool str_eq(const json_t *v, const char *s)
{
	return s ? json_is_string(v) && strcmp(json_string_value(v), s) == 0 : json_is_null(v) || !v;
}

const json_t *ak_value_entry(const json_t *p, const char *attr, const char *locale,
			     const char *scope)
{
	const json_t *arr = json_object_get(json_object_get(p, "values"), attr), *x;
	size_t i;

	json_array_foreach(arr, i, x)
		if (str_eq(json_object_get(x, "locale"), locale) &&
		    str_eq(json_object_get(x, "scope"), scope))
			return x;
	return NULL;
}

/* The data of the value of attr that is neither localised nor scoped. */
static const json_t *global_data(const json_t *values, const char *attr)
{
	const json_t *arr = json_object_get(values, attr), *x;
	size_t i;

	json_array_foreach(arr, i, x)
		if (str_eq(json_object_get(x, "locale"), NULL) &&
		    str_eq(json_object_get(x, "scope"), NULL))
			return json_object_get(x, "data");
	return NULL;
}

const json_t *ak_product_identifier(const json_t *p, const char *identifier,
				    const char **attr_out)
{
	const json_t *values = json_object_get(p, "values"), *v, *arr;
	const char *k;

	if (attr_out)
		*attr_out = identifier;
	if (identifier)
		return global_data(values, identifier);
	v = json_object_get(p, "identifier");
	if (v && !json_is_null(v))
		return v;
	json_object_foreach((json_t *)values, k, arr) {
		const json_t *first = json_array_get(arr, 0);
		const char *type = json_string_value(json_object_get(first, "attribute_type"));

		if (type && strcmp(type, "pim_catalog_identifier") == 0) {
			if (attr_out)
				*attr_out = k;
			return global_data(values, k);
		}
	}
	if (attr_out)
		*attr_out = "sku";
	return global_data(values, "sku");
}

/* Bytes in a value for max_field_bytes: a string's bytes; for arrays and
 * objects, the strings and keys inside them.  *nul is set when a string
 * holds a NUL character. */
static size_t value_size(const json_t *v, bool *nul)
{
	size_t n = 0, i;
	const char *k;
	json_t *x;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (strlen(json_string_value(v)) != json_string_length(v))
			*nul = true;
		return json_string_length(v);
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			n += value_size(x, nul);
		return n;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, k, x)
			n += strlen(k) + value_size(x, nul);
		return n;
	default:
		return 0;
	}
}

enum pick { PICK_OK, PICK_EMPTY, PICK_NO_LOCALE, PICK_NO_SCOPE };

/* The entry of values[attr] for the map's locale (or none) and scope (or
 * none). */
static enum pick pick(const struct ak_map *m, const json_t *values, const char *attr,
		      const json_t **data)
{
	const json_t *arr = json_object_get(values, attr), *x;
	bool locale_seen = false;
	size_t i;

	*data = NULL;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return PICK_EMPTY;
	json_array_foreach(arr, i, x) {
		const json_t *loc = json_object_get(x, "locale");
		const json_t *sc = json_object_get(x, "scope");
		bool loc_ok = !loc || json_is_null(loc) || str_eq(loc, m->locale);
		bool sc_ok = !sc || json_is_null(sc) || str_eq(sc, m->scope);

		locale_seen |= loc_ok;
		if (loc_ok && sc_ok) {
			*data = json_object_get(x, "data");
			return *data ? PICK_OK : PICK_EMPTY;
		}
	}
	return locale_seen ? PICK_NO_SCOPE : PICK_NO_LOCALE;
}

/* Check and set one field; 1 when r failed, -1 on no memory. */
static int put_field(const struct ak_map *m, struct record *r, const char *field,
		     const char *attr, const json_t *data)
{
	char name[SHOW_CAP];
	bool nul = false;
	size_t size = value_size(data, &nul);

	if (size > m->max_field) {
		show_quoted(name, attr, strlen(attr));
		return fail(r, "attribute \"%s\" is %zu bytes, limit %zu", name, size,
			    m->max_field) < 0 ? -1 : 1;
	}
	if (nul) {
		show_quoted(name, attr, strlen(attr));
		return fail(r, "attribute \"%s\": NUL character (\\u0000) in the value",
			    name) < 0 ? -1 : 1;
	}
	return json_object_set(r->fields, field, (json_t *)data) < 0 ? -1 : 0;
}

/* One attribute into r; 1 when r failed, -1 on no memory. */
static int map_attr(const struct ak_map *m, struct record *r, const json_t *values,
		    const char *field, const char *attr, bool required)
{
	char name[SHOW_CAP], loc[SHOW_CAP], sc[SHOW_CAP];
	const json_t *data;

	switch (pick(m, values, attr, &data)) {
	case PICK_OK:
		return put_field(m, r, field, attr, data);
	case PICK_EMPTY:
		return 0;
	case PICK_NO_LOCALE:
		if (!required)
			return 0;
		show_quoted(name, attr, strlen(attr));
		show_quoted(loc, m->locale, strlen(m->locale));
		return fail(r, "attribute \"%s\": no value for locale \"%s\"", name, loc) < 0 ? -1 : 1;
	case PICK_NO_SCOPE:
		if (!required)
			return 0;
		show_quoted(name, attr, strlen(attr));
		show_quoted(loc, m->locale, strlen(m->locale));
		show_quoted(sc, m->scope, strlen(m->scope));
		return fail(r, "attribute \"%s\": no value for scope \"%s\" (locale \"%s\")", name,
			    sc, loc) < 0 ? -1 : 1;
	}
	return 0;
}

int ak_product_record(const struct ak_map *m, const json_t *p, struct record *r)
{
	const json_t *uuid = json_object_get(p, "uuid");
	const json_t *values = json_object_get(p, "values"), *id, *v;
	const char *id_attr, *k;
	char name[SHOW_CAP];
	int rc = -1, got;

	if (json_is_string(uuid) && json_string_length(uuid) > 0 &&
	    strlen(json_string_value(uuid)) == json_string_length(uuid)) {
		if (asprintf(&r->origin, "akeneo:%s", json_string_value(uuid)) < 0)
			r->origin = NULL;
	} else {
		r->origin = strdup("akeneo:(no uuid)");
	}
	if (!r->origin)
		goto out;
	if (!json_is_object(p)) {
		rc = fail(r, "product is not a JSON object (got %s)", kind(p));
		goto out;
	}
	if (r->origin[7] == '(') {
		rc = fail(r, "product has no uuid");
		goto out;
	}
	if (values && !json_is_object(values)) {
		rc = fail(r, "property \"values\" must be an object, got %s", kind(values));
		goto out;
	}
	id = ak_product_identifier(p, m->identifier, &id_attr);
	if (id_attr)
		show_quoted(name, id_attr, strlen(id_attr));
	if (!id || json_is_null(id)) {
		if (id_attr)
			rc = fail(r, "product has no identifier (attribute \"%s\")", name);
		else
			rc = fail(r, "product has no identifier");
		goto out;
	}
	if (!json_is_string(id)) {
		rc = fail(r, "identifier %s%s%s must be a string, got %s",
			  id_attr ? "attribute \"" : "", id_attr ? name : "",
			  id_attr ? "\"" : "", kind(id));
		goto out;
	}
	if (strspn(json_string_value(id), " \t\r\n") == json_string_length(id) ||
	    strlen(json_string_value(id)) != json_string_length(id)) {
		rc = fail(r, "identifier%s%s%s is empty or holds a NUL character",
			  id_attr ? " attribute \"" : "", id_attr ? name : "",
			  id_attr ? "\"" : "");
		goto out;
	}
	if (!(r->sku = strdup(json_string_value(id))) || !(r->fields = json_object()))
		goto out;
	if (m->attributes) {
		json_object_foreach((json_t *)m->attributes, k, v) {
			got = map_attr(m, r, values, k, json_string_value(v), true);
			if (got) {
				rc = got > 0 ? 0 : -1;
				goto out;
			}
		}
	} else {
		json_object_foreach((json_t *)values, k, v) {
			got = map_attr(m, r, values, k, k, false);
			if (got) {
				rc = got > 0 ? 0 : -1;
				goto out;
			}
		}
	}
	if (json_object_set(r->fields, "uuid", (json_t *)uuid) < 0)
		goto out;
	if ((v = json_object_get(p, "family")) && json_object_set(r->fields, "family", (json_t *)v) < 0)
		goto out;
	if ((v = json_object_get(p, "categories")) &&
	    json_object_set(r->fields, "categories", (json_t *)v) < 0)
		goto out;
	if (!json_object_get(r->fields, "sku") &&
	    json_object_set(r->fields, "sku", (json_t *)id) < 0)
		goto out;
	rc = 0;
out:
	return rc;
}

/* ---- dates -------------------------------------------------------------- */

int ak_parse_time(const char *s, double *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0, zh, zm;
	double frac = 0;
	const char *p;
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n == 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -1;
	p = s + n;
	if (*p == '.') {
		char *end;

		frac = strtod(p, &end);
		if (end == p + 1)
			return -1;
		p = end;
	}
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (*p == 'Z' && p[1] == '\0') {
		/* UTC */
	} else if ((*p == '+' || *p == '-') &&
		   (sscanf(p + 1, "%2d:%2d%n", &zh, &zm, &n) == 2 ||
		    sscanf(p + 1, "%2d%2d%n", &zh, &zm, &n) == 2) && p[1 + n] == '\0' &&
		   zh <= 23 && zm <= 59) {
		long off = (long)zh * 3600 + (long)zm * 60;

		t -= *p == '+' ? off : -off;
	} else if (*p != '\0') {
		return -1;
	}
	*out = (double)t + frac;
	return 0;
}
