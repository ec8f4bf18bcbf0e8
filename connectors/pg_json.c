/* pg_json.c: decode the JSON text of a Postgres row into jansson values
 * (see pg_json.h for why and for what is refused). */
#include "connectors/pg_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/utf8.h"
#include "connectors/pg_int.h"

#define MAX_DEPTH 1000

struct dec {
	const char *start, *p, *end;
	const char *field;       /* the top-level key being decoded, or NULL */
	size_t field_len;
	struct buf scratch;      /* unescaped strings */
	char *msg;
	size_t cap;
	bool nomem;              /* failed for want of memory, not for bad text */
};

static json_t *value(struct dec *d, int depth);

/* Refuse the text: msg says why, with the top-level field when known. */
static json_t *bad(struct dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static json_t *bad(struct dec *d, const char *fmt, ...)
{
	char what[256], name[SHOW_CAP];
	va_list ap;

	if (d->msg[0] || d->nomem)
		return NULL;   /* the first problem is the one reported */
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (d->field) {
		show_quoted(name, d->field, d->field_len);
		snprintf(d->msg, d->cap, "field \"%s\": %s", name, what);
	} else {
		snprintf(d->msg, d->cap, "%s", what);
	}
	return NULL;
}

static json_t *nomem(struct dec *d)
{
	d->nomem = true;
	return NULL;
}

static json_t *malformed(struct dec *d)
{
	if (d->p >= d->end)
		return bad(d, "malformed JSON: the text ends early");
	return bad(d, "malformed JSON at byte %zu", (size_t)(d->p - d->start) + 1);
}

static void skip_ws(struct dec *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
		d->p++;
}

/* A string starting at the opening quote: its text in *s, *n (pointing into
 * the input when it has no escapes, else into d->scratch).  -1 on error. */
static int string_text(struct dec *d, const char **s, size_t *n)
{
	const char *q = ++d->p;

	/* fast path, a string without escapes, found with (vectorised)
	 * memchr.  It does not look for raw control characters, which the
	 * slow path refuses: Postgres never sends them (its json input
	 * refuses them and its output escapes them) */
	q = memchr(d->p, '"', (size_t)(d->end - d->p));
	if (q && !memchr(d->p, '\\', (size_t)(q - d->p))) {
		*s = d->p;
		*n = (size_t)(q - d->p);
		d->p = q + 1;
		return 0;
	}
	q = d->p;
	while (q < d->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
		q++;
	buf_reset(&d->scratch);
	if (buf_append(&d->scratch, d->p, (size_t)(q - d->p)) < 0)
		return nomem(d), -1;
	d->p = q;
	while (d->p < d->end) {
		char c = *d->p;
		unsigned cp, lo;

		if (c == '"') {
			d->p++;
			*s = buf_str(&d->scratch);
			*n = d->scratch.len;
			return 0;
		}
		if ((unsigned char)c < 0x20) {
			bad(d, "control character 0x%02x in a string at byte %zu", (unsigned char)c,
			    (size_t)(d->p - d->start) + 1);
			return -1;
		}
		if (c != '\\') {
			q = d->p;
			while (q < d->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
				q++;
			if (buf_append(&d->scratch, d->p, (size_t)(q - d->p)) < 0)
				return nomem(d), -1;
			d->p = q;
			continue;
		}
		if (d->end - d->p < 2)
			break;
		c = d->p[1];
		d->p += 2;
		switch (c) {
		case '"': case '\\': case '/':
			if (buf_putc(&d->scratch, c) < 0)
				return nomem(d), -1;
			continue;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if (d->end - d->p < 4 || utf8_hex4(d->p, &cp) < 0) {
				d->p -= 2;
				malformed(d);
				return -1;
			}
			d->p += 4;
			if (cp == 0) {
				bad(d, "NUL character (\\u0000) in a string");
				return -1;
			}
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				bad(d, "lone UTF-16 surrogate \\u%04x in a string", cp);
				return -1;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (d->end - d->p < 6 || d->p[0] != '\\' || d->p[1] != 'u' ||
				    utf8_hex4(d->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
					bad(d, "lone UTF-16 surrogate \\u%04x in a string", cp);
					return -1;
				}
				d->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (utf8_put(&d->scratch, cp) < 0)
				return nomem(d), -1;
			continue;
		default:
			d->p -= 2;
			malformed(d);
			return -1;
		}
		if (buf_putc(&d->scratch, c) < 0)
			return nomem(d), -1;
	}
	malformed(d);
	return -1;
}

static json_t *string(struct dec *d)
{
	const char *s;
	size_t n;
	json_t *v;

	if (string_text(d, &s, &n) < 0)
		return NULL;
	v = json_stringn_nocheck(s, n);
	return v ? v : nomem(d);
}

static json_t *number(struct dec *d)
{
	const char *s = d->p, *q = d->p;
	bool integer = true;
	char *end;
	json_t *v;

	if (q < d->end && *q == '-')
		q++;
	if (q >= d->end || *q < '0' || *q > '9')
		return malformed(d);
	if (*q == '0' && q + 1 < d->end && q[1] >= '0' && q[1] <= '9')
		return malformed(d);   /* leading zero */
	while (q < d->end && *q >= '0' && *q <= '9')
		q++;
	if (q < d->end && *q == '.') {
		integer = false;
		q++;
		if (q >= d->end || *q < '0' || *q > '9')
			return d->p = q, malformed(d);
		while (q < d->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < d->end && (*q == 'e' || *q == 'E')) {
		integer = false;
		q++;
		if (q < d->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= d->end || *q < '0' || *q > '9')
			return d->p = q, malformed(d);
		while (q < d->end && *q >= '0' && *q <= '9')
			q++;
	}
	/* The text is NUL-terminated somewhere after the end (libpq's values
	 * are), and strtoll/strtod stop where the grammar above stopped. */
	errno = 0;
	if (integer) {
		long long ll = strtoll(s, &end, 10);

		if (errno == ERANGE || end != q)
			v = json_stringn_nocheck(s, (size_t)(q - s));
		else
			v = json_integer(ll);
	} else {
		double x = strtod(s, &end);

		if (end != q || isinf(x) || isnan(x))
			v = json_stringn_nocheck(s, (size_t)(q - s));
		else
			v = json_real(x);
	}
	d->p = q;
	return v ? v : nomem(d);
}

static json_t *literal(struct dec *d, const char *word, json_t *v)
{
	size_t n = strlen(word);

	if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
		return malformed(d);
	d->p += n;
	return v;
}

static json_t *array(struct dec *d, int depth)
{
	json_t *a = json_array(), *v;

	if (!a)
		return nomem(d);
	d->p++;
	skip_ws(d);
	if (d->p < d->end && *d->p == ']') {
		d->p++;
		return a;
	}
	for (;;) {
		if (!(v = value(d, depth + 1)))
			goto fail;
		if (json_array_append_new(a, v) < 0) {
			nomem(d);
			goto fail;
		}
		skip_ws(d);
		if (d->p < d->end && *d->p == ',') {
			d->p++;
			continue;
		}
		if (d->p < d->end && *d->p == ']') {
			d->p++;
			return a;
		}
		malformed(d);
		goto fail;
	}
fail:
	json_decref(a);
	return NULL;
}

/* The size of a value for max_field: a string's bytes; for arrays and
 * objects, the strings and keys inside them. */
static size_t value_size(json_t *v)
{
	size_t n = 0, i;
	const char *k;
	json_t *x;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_length(v);
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			n += value_size(x);
		return n;
	case JSON_OBJECT:
		json_object_foreach(v, k, x)
			n += strlen(k) + value_size(x);
		return n;
	default:
		return 0;
	}
}

/* An object; at depth 0 (the row), each field is named in messages and
 * checked against max_field. */
static json_t *object(struct dec *d, int depth, size_t max_field)
{
	json_t *o = json_object(), *v;
	const char *key;
	char *owned = NULL, name[SHOW_CAP];
	size_t n;

	if (!o)
		return nomem(d);
	d->p++;
	skip_ws(d);
	if (d->p < d->end && *d->p == '}') {
		d->p++;
		return o;
	}
	for (;;) {
		skip_ws(d);
		if (d->p >= d->end || *d->p != '"') {
			malformed(d);
			goto fail;
		}
		if (string_text(d, &key, &n) < 0)
			goto fail;
		/* an escaped key sits in the scratch buffer, which the value
		 * will reuse: keep a copy */
		if (key < d->start || key >= d->end) {
			if (!(owned = strndup(key, n))) {
				nomem(d);
				goto fail;
			}
			key = owned;
		}
		skip_ws(d);
		if (d->p >= d->end || *d->p != ':') {
			malformed(d);
			goto fail;
		}
		d->p++;
		if (depth == 0) {
			d->field = key;
			d->field_len = n;
		}
		if (!(v = value(d, depth + 1)))
			goto fail;
		if (depth == 0) {
			size_t size = value_size(v);

			if (size > max_field) {
				json_decref(v);
				show_quoted(name, key, n);
				snprintf(d->msg, d->cap, "field \"%s\" is %zu bytes, limit %zu", name,
					 size, max_field);
				goto fail;
			}
			d->field = NULL;
		}
		if (json_object_setn_new_nocheck(o, key, n, v) < 0) {
			nomem(d);
			goto fail;
		}
		free(owned);
		owned = NULL;
		skip_ws(d);
		if (d->p < d->end && *d->p == ',') {
			d->p++;
			continue;
		}
		if (d->p < d->end && *d->p == '}') {
			d->p++;
			return o;
		}
		malformed(d);
		goto fail;
	}
fail:
	if (depth == 0)
		d->field = NULL;
	free(owned);
	json_decref(o);
	return NULL;
}

static json_t *value(struct dec *d, int depth)
{
	if (depth > MAX_DEPTH)
		return bad(d, "nested more than %d levels deep", MAX_DEPTH);
	skip_ws(d);
	if (d->p >= d->end)
		return malformed(d);
	switch (*d->p) {
	case '{': return object(d, depth, 0);
	case '[': return array(d, depth);
	case '"': return string(d);
	case 't': return literal(d, "true", json_true());
	case 'f': return literal(d, "false", json_false());
	case 'n': return literal(d, "null", json_null());
	default: return number(d);
	}
}

int conn_pg_json_object(const char *p, size_t n, size_t max_field, json_t **out,
			char *msg, size_t cap)
{
	struct dec d = { .start = p, .p = p, .end = p + n, .msg = msg, .cap = cap };
	json_t *o = NULL;
	int rc = 1;

	*out = NULL;
	msg[0] = '\0';
	skip_ws(&d);
	if (d.p >= d.end || *d.p != '{') {
		bad(&d, "the row is not a JSON object");
		goto out;
	}
	o = object(&d, 0, max_field);
	if (!o)
		goto out;
	skip_ws(&d);
	if (d.p != d.end) {
		malformed(&d);
		goto out;
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(o);
	buf_free(&d.scratch);
	if (rc && d.nomem)
		rc = -1;
	return rc;
}
