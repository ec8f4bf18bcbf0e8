/* show.c: quoting untrusted text in messages (see show.h). */
#include "common/show.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

void show_quoted(char *dst, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	bool valid = utf8_valid(s, n, NULL);
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned c = p[i];
		size_t len = 1;

		if (i >= SHOW_MAX) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !valid)) {
			o += (size_t)sprintf(dst + o, "\\x%02x", c);
		} else {
			if (c >= 0xf0)
				len = 4;
			else if (c >= 0xe0)
				len = 3;
			else if (c >= 0xc0)
				len = 2;
			if (len > n - i)
				len = n - i;
			memcpy(dst + o, p + i, len);
			o += len;
		}
		i += len;
	}
	dst[o] = '\0';
}

void show_json(char *dst, const json_t *v)
{
	char shown[SHOW_CAP];

	switch (json_typeof(v)) {
	case JSON_STRING:
		show_quoted(shown, json_string_value(v), json_string_length(v));
		snprintf(dst, SHOW_JSON_CAP, "\"%s\"", shown);
		return;
	case JSON_INTEGER:
		snprintf(dst, SHOW_JSON_CAP, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return;
	case JSON_REAL:
		snprintf(dst, SHOW_JSON_CAP, "%g", json_real_value(v));
		return;
	case JSON_OBJECT: strcpy(dst, "an object"); return;
	case JSON_ARRAY: strcpy(dst, "an array"); return;
	case JSON_TRUE: strcpy(dst, "true"); return;
	case JSON_FALSE: strcpy(dst, "false"); return;
	case JSON_NULL: strcpy(dst, "null"); return;
	}
	strcpy(dst, "something else");
}
