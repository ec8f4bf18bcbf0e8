/* json_locate.c: position of a key path in JSON text (see json_locate.h). */
#include "json_locate.h"

#include <stdbool.h>
#include <string.h>

struct scan {
	const char *p, *end, *start;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Skip a string starting at '"'; set [*k, *klen) to its raw contents. */
static int skip_string(struct scan *s, const char **k, size_t *klen)
{
	const char *q;

	if (s->p >= s->end || *s->p != '"')
		return -1;
	q = ++s->p;
	while (s->p < s->end && *s->p != '"') {
		if (*s->p == '\\')
			s->p++;
		s->p++;
	}
	if (s->p >= s->end)
		return -1;
	if (k) {
		*k = q;
		*klen = (size_t)(s->p - q);
	}
	s->p++;
	return 0;
}

static int skip_value(struct scan *s)
{
	int depth = 0;

	skip_ws(s);
	do {
		if (s->p >= s->end)
			return -1;
		switch (*s->p) {
		case '"':
			if (skip_string(s, NULL, NULL) < 0)
				return -1;
			break;
		case '{': case '[':
			depth++;
			s->p++;
			break;
		case '}': case ']':
			depth--;
			s->p++;
			break;
		default:
			/* scalars, commas and colons inside containers */
			if (depth == 0) {
				while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
					s->p++;
				return 0;
			}
			s->p++;
		}
	} while (depth > 0);
	return 0;
}

/* Next path segment: a key (".name" or leading "name") or an index ("[3]"). */
static bool next_segment(const char **path, const char **key, size_t *klen, long *index)
{
	const char *p = *path;

	if (*p == '.')
		p++;
	if (!*p)
		return false;
	if (*p == '[') {
		*key = NULL;
		*index = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			*index = *index * 10 + (*p - '0');
		if (*p == ']')
			p++;
	} else {
		*key = p;
		while (*p && *p != '.' && *p != '[')
			p++;
		*klen = (size_t)(p - *key);
	}
	*path = p;
	return true;
}

static int find_in_object(struct scan *s, const char *key, size_t klen)
{
	s->p++; /* '{' */
	for (;;) {
		const char *k;
		size_t kl;

		skip_ws(s);
		if (s->p < s->end && *s->p == '}')
			return 1;
		if (skip_string(s, &k, &kl) < 0)
			return -1;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return -1;
		s->p++;
		skip_ws(s);
		if (kl == klen && memcmp(k, key, kl) == 0)
			return 0;
		if (skip_value(s) < 0)
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',')
			s->p++;
	}
}

static int find_in_array(struct scan *s, long index)
{
	s->p++; /* '[' */
	for (long i = 0;; i++) {
		skip_ws(s);
		if (s->p >= s->end || *s->p == ']')
			return s->p >= s->end ? -1 : 1;
		if (i == index)
			return 0;
		if (skip_value(s) < 0)
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',')
			s->p++;
	}
}

static void position(const struct scan *s, const char *at, int *line, int *column)
{
	*line = 1;
	*column = 1;
	for (const char *q = s->start; q < at; q++) {
		if (*q == '\n') {
			(*line)++;
			*column = 1;
		} else
			(*column)++;
	}
}

int json_locate(const char *text, size_t len, const char *path, int *line, int *column)
{
	struct scan s = { text, text + len, text };
	const char *key, *here;
	size_t klen = 0;
	long index = 0;
	int rc = 0;

	skip_ws(&s);
	here = s.p;
	while (next_segment(&path, &key, &klen, &index)) {
		int found;

		if (s.p >= s.end)
			return -1;
		if (key && *s.p == '{')
			found = find_in_object(&s, key, klen);
		else if (!key && *s.p == '[')
			found = find_in_array(&s, index);
		else
			found = 1;
		if (found < 0)
			return -1;
		if (found > 0) {
			rc = 1;
			break;
		}
		here = s.p;
	}
	position(&s, here, line, column);
	return rc;
}
