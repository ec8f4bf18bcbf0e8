/* jscan.c: reading the few fields an answer needs straight from its JSON
 * text, without building a tree.
 *
 * Parsing a Chat Completions answer into jansson objects costs more CPU than
 * the rest of a call's handling together (a hashtable per object, a string
 * per key), and all a call needs from it is a handful of fields.  This is a
 * strict RFC 8259 scanner: it validates everything it walks over (skipped
 * values included), decodes only the strings asked for, and allocates
 * nothing but those.  Nesting is limited to 128 levels.
 */
#include "providers/prov_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define MAX_DEPTH 128

void jscan_init(struct jscan *s, const char *p, size_t len)
{
	s->p = p;
	s->end = p + len;
	s->depth = 0;
	s->bad = false;
}

static int fail(struct jscan *s)
{
	s->bad = true;
	return -1;
}

static void ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

char jscan_peek(struct jscan *s)
{
	ws(s);
	return s->p < s->end ? *s->p : '\0';
}

/* The string at s->p; decoded into out when out is not NULL.  *raw and
 * *rawlen (when asked) give the text between the quotes, *escaped whether
 * it held escapes. */
static int string(struct jscan *s, struct buf *out, const char **raw, size_t *rawlen, bool *escaped)
{
	const char *start, *run;
	bool esc = false;

	if (jscan_peek(s) != '"')
		return fail(s);
	start = run = ++s->p;
	while (s->p < s->end && *s->p != '"') {
		unsigned char c = (unsigned char)*s->p;

		if (c < 0x20)
			return fail(s);
		if (c != '\\') {
			s->p++;
			continue;
		}
		esc = true;
		if (out && s->p > run && buf_append(out, run, (size_t)(s->p - run)) < 0)
			return fail(s);
		if (s->end - s->p < 2)
			return fail(s);
		switch (s->p[1]) {
		case '"': case '\\': case '/':
			if (out && buf_putc(out, s->p[1]) < 0)
				return fail(s);
			s->p += 2;
			break;
		case 'b': case 'f': case 'n': case 'r': case 't':
			if (out && buf_putc(out, s->p[1] == 'b' ? '\b' : s->p[1] == 'f' ? '\f' : s->p[1] == 'n' ? '\n'
					    : s->p[1] == 'r' ? '\r' : '\t') < 0)
				return fail(s);
			s->p += 2;
			break;
		case 'u': {
			unsigned cp, lo;

			if (s->end - s->p < 6 || utf8_hex4(s->p + 2, &cp) < 0)
				return fail(s);
			s->p += 6;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || utf8_hex4(s->p + 2, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return fail(s);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s->p += 6;
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return fail(s);
			}
			if (out && utf8_put(out, cp) < 0)
				return fail(s);
			break;
		}
		default:
			return fail(s);
		}
		run = s->p;
	}
	if (s->p >= s->end)
		return fail(s);
	if (out && s->p > run && buf_append(out, run, (size_t)(s->p - run)) < 0)
		return fail(s);
	if (raw)
		*raw = start;
	if (rawlen)
		*rawlen = (size_t)(s->p - start);
	if (escaped)
		*escaped = esc;
	s->p++;
	return 0;
}

int jscan_string(struct jscan *s, struct buf *out)
{
	return string(s, out, NULL, NULL, NULL);
}

static int number(struct jscan *s)
{
	const char *p = s->p;

	if (p < s->end && *p == '-')
		p++;
	if (p >= s->end)
		return fail(s);
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return fail(s);
	}
	if (p < s->end && *p == '.') {
		p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return fail(s);
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < s->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return fail(s);
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	s->p = p;
	return 0;
}

static int literal(struct jscan *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return fail(s);
	s->p += n;
	return 0;
}

int jscan_skip(struct jscan *s)
{
	int rc;

	switch (jscan_peek(s)) {
	case '"':
		return string(s, NULL, NULL, NULL, NULL);
	case '{':
		if (jscan_object(s) < 0)
			return -1;
		while ((rc = jscan_key(s, NULL, 0)) == 1)
			if (jscan_skip(s) < 0)
				return -1;
		return rc;
	case '[':
		if (jscan_array(s) < 0)
			return -1;
		while ((rc = jscan_next(s)) == 1)
			if (jscan_skip(s) < 0)
				return -1;
		return rc;
	case 't':
		return literal(s, "true");
	case 'f':
		return literal(s, "false");
	case 'n':
		return literal(s, "null");
	default:
		return number(s);
	}
}

int jscan_int(struct jscan *s, long long *v)
{
	const char *start;
	char tmp[32];
	size_t n;

	if (jscan_peek(s) == 'n') {
		*v = 0;
		return literal(s, "null");
	}
	start = s->p;
	if (number(s) < 0)
		return -1;
	n = (size_t)(s->p - start);
	if (n >= sizeof tmp)
		return fail(s);
	memcpy(tmp, start, n);
	tmp[n] = '\0';
	*v = (long long)strtod(tmp, NULL);
	return 0;
}

int jscan_object(struct jscan *s)
{
	if (jscan_peek(s) != '{' || ++s->depth > MAX_DEPTH)
		return fail(s);
	s->p++;
	s->first = true;
	return 0;
}

int jscan_array(struct jscan *s)
{
	if (jscan_peek(s) != '[' || ++s->depth > MAX_DEPTH)
		return fail(s);
	s->p++;
	s->first = true;
	return 0;
}

/* After a member: ',' or the closing c.  1: another follows; 0: closed. */
static int sep(struct jscan *s, char close)
{
	char c = jscan_peek(s);

	if (c == close && s->first) {
		s->p++;
		s->depth--;
		s->first = false;
		return 0;
	}
	if (!s->first) {
		if (c == close) {
			s->p++;
			s->depth--;
			return 0;
		}
		if (c != ',')
			return fail(s);
		s->p++;
	}
	s->first = false;
	return 1;
}

int jscan_key(struct jscan *s, char *key, size_t keylen)
{
	const char *raw;
	size_t rawlen;
	bool escaped;
	int rc = sep(s, '}');

	if (rc <= 0)
		return rc;
	if (string(s, NULL, &raw, &rawlen, &escaped) < 0)
		return -1;
	if (key) {
		/* Keys with escapes or longer than wanted match nothing we look for. */
		if (escaped || rawlen >= keylen) {
			key[0] = '\0';
		} else {
			memcpy(key, raw, rawlen);
			key[rawlen] = '\0';
		}
	}
	if (jscan_peek(s) != ':')
		return fail(s);
	s->p++;
	return 1;
}

int jscan_next(struct jscan *s)
{
	return sep(s, ']');
}

int jscan_end(struct jscan *s)
{
	ws(s);
	return s->bad || s->p != s->end || s->depth != 0 ? fail(s) : 0;
}
