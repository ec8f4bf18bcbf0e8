/* json.c: writing request bodies straight into a buffer.
 *
 * Bodies are built by hand rather than as jansson trees dumped afterwards:
 * one pass, no intermediate objects, which matters at thousands of calls a
 * second.  Strings must be valid UTF-8 (prov_submit checks); they are
 * escaped as RFC 8259 requires and otherwise passed through.
 */
#include "providers/prov_int.h"

#include <string.h>

int prov_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	const unsigned char *run = p;

	if (buf_putc(b, '"') < 0)
		return -1;
	for (; *p; p++) {
		char esc[7];
		size_t n = 2;

		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		if (p > run && buf_append(b, run, (size_t)(p - run)) < 0)
			return -1;
		esc[0] = '\\';
		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			n = 6;
		}
		if (buf_append(b, esc, n) < 0)
			return -1;
		run = p + 1;
	}
	if (p > run && buf_append(b, run, (size_t)(p - run)) < 0)
		return -1;
	return buf_putc(b, '"');
}

static int dump_cb(const char *p, size_t n, void *data)
{
	return buf_append(data, p, n);
}

int prov_json_dump(struct buf *b, const json_t *v)
{
	return json_dump_callback(v, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
}
