/* tmpl_format.c: turning JSON values into template text: numbers (shortest
 * round-trip, JavaScript style), HTML escaping, canonical JSON, UTF-8 case
 * mapping, and the formatters ({{ x | trim | truncate:60:"…" }}).
 *
 * Formatters work in the caller's output buffer: the current string lives at
 * out[base..len), a step writes its result after it and moves it down, so a
 * render needs no scratch allocations.
 */
#include "templates/tmpl_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ---- */

size_t tmpl_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned c = p[0];
	size_t len;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
	} else {
		*cp = 0xfffd;
		return 1;
	}
	if (len > n) {
		*cp = 0xfffd;
		return 1;
	}
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return 1;
		}
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return len;
}

static size_t utf8_encode(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

static size_t cp_count(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

/* Byte offset of code point number k (0-based) in s[0..n), or n when there
 * are not that many; eight ASCII bytes at a time where it can. */
static size_t cp_offset(const char *s, size_t n, size_t k)
{
	size_t i = 0, c = 0;

	while (i + 8 <= n && c + 8 <= k) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		if (w & 0x8080808080808080ull)
			break;
		i += 8;
		c += 8;
	}
	for (; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (c == k)
				return i;
			c++;
		}
	}
	return n;
}

/* Simple case mapping for Latin-1, Latin Extended-A, Greek and Cyrillic:
 * what European catalogs need, without locale state. */
static uint32_t to_lower(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xc0 && c <= 0xde && c != 0xd7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17f) {
		if (c == 0x130)
			return 'i';
		if (c == 0x178)
			return 0xff;
		if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17f)
			return c;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x391 && c <= 0x3ab && c != 0x3a2)
		return c + 32;
	if (c == 0x386)
		return 0x3ac;
	if (c >= 0x388 && c <= 0x38a)
		return c + 37;
	if (c == 0x38c)
		return 0x3cc;
	if (c == 0x38e || c == 0x38f)
		return c + 63;
	if (c >= 0x410 && c <= 0x42f)
		return c + 32;
	if (c >= 0x400 && c <= 0x40f)
		return c + 80;
	if (c == 0x1e9e)
		return 0xdf;
	return c;
}

static uint32_t to_upper(uint32_t c)
{
	if (c < 0x80)
		return c >= 'a' && c <= 'z' ? c - 32 : c;
	if (c >= 0xe0 && c <= 0xfe && c != 0xf7)
		return c - 32;
	if (c == 0xff)
		return 0x178;
	if (c >= 0x100 && c <= 0x17f) {
		if (c == 0x131)
			return 'I';
		if (c == 0x17f)
			return 'S';
		if (c == 0x130 || c == 0x138 || c == 0x149)
			return c;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c : c - 1;
		return (c & 1) ? c - 1 : c;
	}
	if (c >= 0x3b1 && c <= 0x3cb)
		return c == 0x3c2 ? 0x3a3 : c - 32;
	if (c == 0x3ac)
		return 0x386;
	if (c >= 0x3ad && c <= 0x3af)
		return c - 37;
	if (c == 0x3cc)
		return 0x38c;
	if (c == 0x3cd || c == 0x3ce)
		return c - 63;
	if (c >= 0x430 && c <= 0x44f)
		return c - 32;
	if (c >= 0x450 && c <= 0x45f)
		return c - 80;
	return c;
}

static bool is_space_cp(uint32_t c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000 || c == 0xfeff;
}

/* Marks that belong to the character before them: never cut before one. */
static bool is_extend_cp(uint32_t c)
{
	return (c >= 0x300 && c <= 0x36f) || c == 0x200d || (c >= 0xfe00 && c <= 0xfe0f) ||
	       (c >= 0x1f3fb && c <= 0x1f3ff) || (c >= 0xe0020 && c <= 0xe007f) ||
	       (c >= 0x1ab0 && c <= 0x1aff) || (c >= 0x1dc0 && c <= 0x1dff) ||
	       (c >= 0x20d0 && c <= 0x20ff);
}

/* ---- numbers ---- */

size_t tmpl_fmt_int(char *dst, json_int_t v)
{
	char tmp[24];
	size_t n = 0, o = 0;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		dst[o++] = '-';
	while (n)
		dst[o++] = tmp[--n];
	dst[o] = '\0';
	return o;
}

/* Shortest digits of d (no sign, no trailing zeros) and its decimal point
 * position: d = 0.DIGITS x 10^point. */
static size_t real_digits(double d, char *digits, int *point)
{
	char buf[40];
	size_t k = 0;
	const char *p;

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*e", prec - 1, fabs(d));
		if (strtod(buf, NULL) == fabs(d))
			break;
	}
	for (p = buf; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[k++] = *p;
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';
	*point = (*p == 'e' ? atoi(p + 1) : 0) + 1;
	return k;
}

size_t tmpl_fmt_real(char *dst, double d)
{
	char dg[24];
	size_t k, o = 0;
	int n;

	if (isnan(d))
		return (size_t)sprintf(dst, "NaN");
	if (isinf(d))
		return (size_t)sprintf(dst, d < 0 ? "-Infinity" : "Infinity");
	if (d == 0) {
		dst[0] = '0';
		dst[1] = '\0';
		return 1;
	}
	if (fabs(d) < 9007199254740992.0 && d == floor(d))
		return tmpl_fmt_int(dst, (json_int_t)d);
	k = real_digits(d, dg, &n);
	if (d < 0)
		dst[o++] = '-';
	if ((int)k <= n && n <= 21) {
		memcpy(dst + o, dg, k);
		o += k;
		for (int i = (int)k; i < n; i++)
			dst[o++] = '0';
	} else if (0 < n && n <= 21) {
		memcpy(dst + o, dg, (size_t)n);
		o += (size_t)n;
		dst[o++] = '.';
		memcpy(dst + o, dg + n, k - (size_t)n);
		o += k - (size_t)n;
	} else if (-6 < n && n <= 0) {
		dst[o++] = '0';
		dst[o++] = '.';
		for (int i = 0; i < -n; i++)
			dst[o++] = '0';
		memcpy(dst + o, dg, k);
		o += k;
	} else {
		dst[o++] = dg[0];
		if (k > 1) {
			dst[o++] = '.';
			memcpy(dst + o, dg + 1, k - 1);
			o += k - 1;
		}
		o += (size_t)sprintf(dst + o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	dst[o] = '\0';
	return o;
}

/* d with two decimals, rounded half away from zero on its shortest decimal
 * form (49.995 -> 50.00), with '.' or ',' as decimal mark.  -2 when out of range. */
static int put_money_amount(struct buf *out, double d, char mark)
{
	char dg[24], res[64];
	int digs[48], n, intlen, total, carry = 0, ridx;
	size_t k, o = 0;
	bool zero = true;

	if (!isfinite(d) || fabs(d) >= 1e30)
		return -2;
	if (d == 0)
		return buf_printf(out, "0%c00", mark);
	/* Fast path: far from a rounding tie, rounding the binary value and
	 * rounding its shortest decimal form agree (they differ by < 1e-15
	 * relative, x by at most an ulp, far below the 1e-3 margin). */
	if (fabs(d) < 1e9) {
		double x = fabs(d) * 100, fl = floor(x), fr = x - fl;

		if (fabs(fr - 0.5) > 1e-3) {
			unsigned long long cents = (unsigned long long)fl + (fr > 0.5);
			char num[32];
			size_t nl;

			o = 0;
			if (d < 0 && cents)
				res[o++] = '-';
			nl = tmpl_fmt_int(num, (json_int_t)(cents / 100));
			memcpy(res + o, num, nl);
			o += nl;
			res[o++] = mark;
			res[o++] = (char)('0' + cents % 100 / 10);
			res[o++] = (char)('0' + cents % 10);
			return buf_append(out, res, o);
		}
	}
	/* d = 0.DIGITS x 10^n: the digit worth 10^q is dg[n - 1 - q] */
	k = real_digits(d, dg, &n);
	intlen = n > 0 ? n : 0;
	total = intlen + 2;
	for (int m = 0; m < total; m++) {
		int i = n - intlen + m;

		digs[m] = i >= 0 && i < (int)k ? dg[i] - '0' : 0;
	}
	ridx = n + 2;
	if (ridx >= 0 && ridx < (int)k && dg[ridx] >= '5')
		carry = 1;
	for (int m = total - 1; m >= 0 && carry; m--) {
		digs[m] += carry;
		carry = digs[m] / 10;
		digs[m] %= 10;
	}
	for (int m = 0; m < total; m++)
		if (digs[m])
			zero = false;
	if (d < 0 && (!zero || carry))
		res[o++] = '-';
	if (carry)
		res[o++] = '1';
	else if (intlen == 0)
		res[o++] = '0';
	for (int m = 0; m < intlen; m++)
		res[o++] = (char)('0' + digs[m]);
	res[o++] = mark;
	res[o++] = (char)('0' + digs[intlen]);
	res[o++] = (char)('0' + digs[intlen + 1]);
	return buf_append(out, res, o);
}

/* ---- escaping and JSON ---- */

static const char esc_class[256] = {
	['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4, ['\''] = 5,
};

bool tmpl_needs_escape(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (esc_class[(unsigned char)p[i]])
			return true;
	return false;
}

int tmpl_put_escaped(struct buf *out, const char *p, size_t n)
{
	static const char *const ent[] = { "", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;" };
	static const size_t entlen[] = { 0, 5, 4, 4, 6, 5 };
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		int c = esc_class[(unsigned char)p[i]];

		if (!c)
			continue;
		if (tmpl_put(out, p + run, i - run) < 0 || tmpl_put(out, ent[c], entlen[c]) < 0)
			return -1;
		run = i + 1;
	}
	return tmpl_put(out, p + run, n - run);
}

static int put_json_string(struct buf *out, const char *s, size_t n)
{
	size_t run = 0;

	if (buf_putc(out, '"') < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		size_t el = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			snprintf(esc, sizeof esc, "\\u%04x", c);
			el = 6;
			break;
		}
		if (buf_append(out, s + run, i - run) < 0 || buf_append(out, esc, el) < 0)
			return -1;
		run = i + 1;
	}
	if (buf_append(out, s + run, n - run) < 0)
		return -1;
	return buf_putc(out, '"');
}

struct kv {
	const char *key;
	size_t len;
	json_t *val;
};

static int cmp_kv(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	size_t m = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, m);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int put_json_depth(struct buf *out, const json_t *v, int depth)
{
	char num[40];
	size_t n;

	if (depth > 1000)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		struct kv small[64], *kvs = small;
		size_t cnt = json_object_size(v), i = 0;
		void *it;
		int rc = -1;

		if (cnt > 64) {
			kvs = malloc(cnt * sizeof *kvs);
			if (!kvs)
				return -1;
		}
		for (it = json_object_iter((json_t *)v); it && i < cnt;
		     it = json_object_iter_next((json_t *)v, it), i++) {
			kvs[i].key = json_object_iter_key(it);
			kvs[i].len = json_object_iter_key_len(it);
			kvs[i].val = json_object_iter_value(it);
		}
		cnt = i;
		qsort(kvs, cnt, sizeof *kvs, cmp_kv);
		if (buf_putc(out, '{') < 0)
			goto obj_out;
		for (i = 0; i < cnt; i++) {
			if ((i && buf_putc(out, ',') < 0) || put_json_string(out, kvs[i].key, kvs[i].len) < 0 ||
			    buf_putc(out, ':') < 0 || put_json_depth(out, kvs[i].val, depth + 1) < 0)
				goto obj_out;
		}
		rc = buf_putc(out, '}');
obj_out:
		if (kvs != small)
			free(kvs);
		return rc;
	}
	case JSON_ARRAY:
		if (buf_putc(out, '[') < 0)
			return -1;
		for (size_t i = 0; i < json_array_size(v); i++)
			if ((i && buf_putc(out, ',') < 0) ||
			    put_json_depth(out, json_array_get(v, i), depth + 1) < 0)
				return -1;
		return buf_putc(out, ']');
	case JSON_STRING:
		return put_json_string(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		n = tmpl_fmt_int(num, json_integer_value(v));
		return buf_append(out, num, n);
	case JSON_REAL:
		n = tmpl_fmt_real(num, json_real_value(v));
		return buf_append(out, num, n);
	case JSON_TRUE:
		return buf_append(out, "true", 4);
	case JSON_FALSE:
		return buf_append(out, "false", 5);
	case JSON_NULL:
		return buf_append(out, "null", 4);
	}
	return -1;
}

int tmpl_put_json(struct buf *out, const json_t *v)
{
	return put_json_depth(out, v, 0);
}

int tmpl_put_value(struct buf *out, const json_t *v)
{
	char num[40];
	size_t n;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return tmpl_put(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		n = tmpl_fmt_int(num, json_integer_value(v));
		return tmpl_put(out, num, n);
	case JSON_REAL:
		n = tmpl_fmt_real(num, json_real_value(v));
		return tmpl_put(out, num, n);
	case JSON_TRUE:
		return tmpl_put(out, "true", 4);
	case JSON_FALSE:
		return tmpl_put(out, "false", 5);
	case JSON_NULL:
		return 0;
	case JSON_OBJECT:
	case JSON_ARRAY:
		return tmpl_put_json(out, v);
	}
	return 0;
}

/* ---- formatters ---- */

static const struct {
	const char *name;
	enum fmt_kind kind;
} fmt_names[] = {
	{ "lower", FMT_LOWER },       { "upper", FMT_UPPER },     { "trim", FMT_TRIM },
	{ "capitalize", FMT_CAPITALIZE }, { "truncate", FMT_TRUNCATE }, { "join", FMT_JOIN },
	{ "money", FMT_MONEY },       { "json", FMT_JSON },       { "default", FMT_DEFAULT },
};

int tmpl_fmt_lookup(const char *name, size_t len, enum fmt_kind *kind)
{
	for (size_t i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++) {
		if (strlen(fmt_names[i].name) == len && !memcmp(fmt_names[i].name, name, len)) {
			*kind = fmt_names[i].kind;
			return 0;
		}
	}
	return -1;
}

const char *tmpl_fmt_check_args(const struct tfmt *f)
{
	switch (f->kind) {
	case FMT_LOWER:
	case FMT_UPPER:
	case FMT_TRIM:
	case FMT_CAPITALIZE:
	case FMT_JSON:
		return f->nargs ? "takes no arguments" : NULL;
	case FMT_TRUNCATE:
		if (f->nargs < 1)
			return "wants a length: truncate:N or truncate:N:\"suffix\"";
		if (!f->args[0].is_num || f->args[0].num < 1 || f->args[0].num > 1000000 ||
		    f->args[0].num != floor(f->args[0].num))
			return "length must be a whole number from 1 to 1000000";
		if (f->nargs == 2 && f->args[1].is_num)
			return "suffix must be a \"string\"";
		return NULL;
	case FMT_JOIN:
		for (unsigned i = 0; i < f->nargs; i++)
			if (f->args[i].is_num)
				return "separators must be \"strings\"";
		return NULL;
	case FMT_MONEY:
		if (f->nargs > 1)
			return "takes at most one argument, a locale like \"de\"";
		if (f->nargs == 1 && f->args[0].is_num)
			return "locale must be a \"string\" like \"de\"";
		return NULL;
	case FMT_DEFAULT:
		return f->nargs == 1 ? NULL : "wants exactly one value: default:\"text\"";
	}
	return "unknown formatter";
}

/* Languages that write 49,90 rather than 49.90. */
static bool decimal_comma(const char *loc, size_t n)
{
	static const char *const comma[] = {
		"de", "fr", "es", "it", "nl", "pt", "pl", "cs", "sk", "sv", "da", "fi", "nb", "nn",
		"no", "ru", "uk", "tr", "el", "hu", "ro", "bg", "hr", "sl", "sr", "lt", "lv", "et",
		"is", "id", "ca", "eu", "gl", "be", "kk", "az", "vi",
	};
	size_t l = 0;

	while (l < n && loc[l] != '_' && loc[l] != '-')
		l++;
	if (l < 2 || l > 3)
		return false;
	for (size_t i = 0; i < sizeof comma / sizeof comma[0]; i++) {
		if (strlen(comma[i]) == l && ((loc[0] | 0x20) == comma[i][0]) &&
		    ((loc[1] | 0x20) == comma[i][1]) && (l == 2 || (loc[2] | 0x20) == comma[i][2]))
			return true;
	}
	return false;
}

enum vstate { V_MISSING, V_JSON, V_STR };

struct pipe {
	struct buf *out;
	size_t base;               /* the string value is out[base..len) */
	enum vstate st;
	const json_t *jv;
	const struct tmpl *t;
	const struct tnode *n;
	struct err *e;
};

static int pipe_nomem(struct pipe *p)
{
	return err_set(p->e, ERR_NOMEM, "template \"%s\": out of memory", p->t->name);
}

static int pipe_err(struct pipe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pipe_err(struct pipe *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return tmpl_errf(p->e, ERR_TEMPLATE, p->t, p->n->line, p->n->col, "%s", msg);
}

/* Make the value a string, as interpolation would show it. */
static int to_str(struct pipe *p)
{
	if (p->st != V_JSON)
		return 0;
	p->out->len = p->base;
	if (tmpl_put_value(p->out, p->jv) < 0)
		return pipe_nomem(p);
	p->st = V_STR;
	return 0;
}

/* The result of a step was appended at out[from..len): move it to base. */
static void settle(struct pipe *p, size_t from)
{
	struct buf *o = p->out;
	size_t n = o->len - from;

	memmove(o->data + p->base, o->data + from, n);
	o->len = p->base + n;
	o->data[o->len] = '\0';
}

static int step_case(struct pipe *p, bool upper)
{
	size_t from = p->out->len, i = p->base, o = from;
	char *d;

	/* no mapping more than doubles a character's bytes (ß -> SS) */
	if (buf_reserve(p->out, (from - p->base) * 2 + 8) < 0)
		return pipe_nomem(p);
	d = p->out->data;
	while (i < from) {
		unsigned char b = (unsigned char)d[i];
		uint32_t c, m;
		size_t l;

		if (b < 0x80) {
			if (upper && b >= 'a' && b <= 'z')
				b = (unsigned char)(b - 32);
			else if (!upper && b >= 'A' && b <= 'Z')
				b = (unsigned char)(b + 32);
			d[o++] = (char)b;
			i++;
			continue;
		}
		l = tmpl_utf8_decode(d + i, from - i, &c);
		m = upper ? to_upper(c) : to_lower(c);
		if (upper && c == 0xdf) {
			d[o++] = 'S';
			d[o++] = 'S';
		} else if (m == c) {
			memcpy(d + o, d + i, l);
			o += l;
		} else {
			o += utf8_encode(m, d + o);
		}
		i += l;
	}
	p->out->len = o;
	d[o] = '\0';
	settle(p, from);
	return 0;
}

static void step_trim(struct pipe *p)
{
	char *d = p->out->data;
	size_t a = p->base, b = p->out->len;
	uint32_t c;

	while (a < b) {
		size_t l = tmpl_utf8_decode(d + a, b - a, &c);

		if (!is_space_cp(c))
			break;
		a += l;
	}
	while (b > a) {
		size_t s = b - 1;

		while (s > a && ((unsigned char)d[s] & 0xc0) == 0x80)
			s--;
		tmpl_utf8_decode(d + s, b - s, &c);
		if (!is_space_cp(c))
			break;
		b = s;
	}
	memmove(d + p->base, d + a, b - a);
	p->out->len = p->base + (b - a);
	d[p->out->len] = '\0';
}

static bool is_opening_punct(uint32_t c)
{
	return c == '"' || c == '\'' || c == '(' || c == '[' || c == '{' || c == 0xa1 || c == 0xbf ||
	       c == 0xab || c == 0xbb || c == 0x201e || c == 0x201c || c == 0x2018 || c == 0x201a ||
	       c == 0x2039 || c == 0x203a || c == '*' || c == '-' || c == 0x2022;
}

static int step_capitalize(struct pipe *p)
{
	char *d = p->out->data, enc[8];
	size_t i = p->base, end = p->out->len, l, el, from;
	uint32_t c, u;

	while (i < end) {
		l = tmpl_utf8_decode(d + i, end - i, &c);
		if (!is_space_cp(c) && !is_opening_punct(c))
			break;
		i += l;
	}
	if (i >= end)
		return 0;
	l = tmpl_utf8_decode(d + i, end - i, &c);
	u = to_upper(c);
	if (u == c || c == 0xdf)
		return 0;
	el = utf8_encode(u, enc);
	if (el == l) {
		memcpy(d + i, enc, el);
		return 0;
	}
	from = p->out->len;
	if (buf_reserve(p->out, (from - p->base) + 8) < 0)
		return pipe_nomem(p);
	d = p->out->data;
	buf_append(p->out, d + p->base, i - p->base);
	buf_append(p->out, enc, el);
	buf_append(p->out, p->out->data + i + l, from - i - l);
	settle(p, from);
	return 0;
}

/* Characters a cut text should not end with. */
static bool is_dangling(uint32_t c, bool suffix)
{
	if (is_space_cp(c))
		return true;
	switch (c) {
	case ',': case ';': case ':': case '-': case '/': case '\\': case '(': case '[':
	case '{': case '&': case '+': case '|': case '*':
	case 0x2013: case 0x2014: case 0xb7: case 0x2022: case 0x201e: case 0x201c:
	case 0x2018: case 0x201a: case 0xab: case 0x2039:
		return true;
	case '.':
		return suffix;
	default:
		return false;
	}
}

/* truncate:N[:"suffix"]: at most N characters (code points) in all, cut at a
 * word boundary in the last 40% when there is one, without dangling spaces or
 * punctuation, suffix appended only when something was cut. */
static int step_truncate(struct pipe *p, const struct tfmt *f)
{
	char *d = p->out->data;
	size_t start = p->base, end = p->out->len;
	size_t limit = (size_t)f->args[0].num;
	const char *suf = f->nargs == 2 ? f->args[1].str : "";
	size_t suflen = f->nargs == 2 ? f->args[1].len : 0;
	size_t sufcp = cp_count(suf, suflen), budget, cut, i, keep, word = 0;
	bool have_word = false;
	uint32_t c;

	if (sufcp >= limit) {
		suf = "";
		suflen = 0;
		sufcp = 0;
	}
	budget = limit - sufcp;
	/* cut: where code point number `budget` starts; nothing to do when the
	 * text has no code point number `limit` */
	cut = start + cp_offset(d + start, end - start, budget);
	if (cut + cp_offset(d + cut, end - cut, sufcp) >= end)
		return 0;
	keep = budget;
	/* never split a character from its combining marks or a ZWJ sequence */
	while (cut > start && cut < end) {
		size_t prev = cut - 1;
		uint32_t pc;

		while (prev > start && ((unsigned char)d[prev] & 0xc0) == 0x80)
			prev--;
		tmpl_utf8_decode(d + cut, end - cut, &c);
		tmpl_utf8_decode(d + prev, cut - prev, &pc);
		if (!is_extend_cp(c) && pc != 0x200d)
			break;
		cut = prev;
		keep--;
	}
	/* a word boundary: the cut already falls on a space, or the last space
	 * in the last 40% of what is kept */
	tmpl_utf8_decode(d + cut, end - cut, &c);
	if (cut < end && is_space_cp(c)) {
		word = cut;
		have_word = true;
	} else {
		size_t min_cp = keep - keep * 2 / 5, idx = keep;

		for (i = cut; i > start && idx > min_cp;) {
			unsigned char b0;

			i--;
			while (i > start && ((unsigned char)d[i] & 0xc0) == 0x80)
				i--;
			idx--;
			b0 = (unsigned char)d[i];
			if (b0 < 0x80 ? (b0 == ' ' || (b0 >= 0x09 && b0 <= 0x0d))
				      : (tmpl_utf8_decode(d + i, cut - i, &c), is_space_cp(c))) {
				if (idx > 0) {
					word = i;
					have_word = true;
				}
				break;
			}
		}
	}
	if (have_word)
		cut = word;
	/* no dangling spaces or punctuation */
	{
		size_t b = cut;

		while (b > start) {
			size_t s = b - 1;

			while (s > start && ((unsigned char)d[s] & 0xc0) == 0x80)
				s--;
			tmpl_utf8_decode(d + s, b - s, &c);
			if (!is_dangling(c, suflen > 0))
				break;
			b = s;
		}
		if (b > start)
			cut = b;
	}
	p->out->len = cut;
	if (buf_append(p->out, suf, suflen) < 0)
		return pipe_nomem(p);
	return 0;
}

static int step_join(struct pipe *p, const struct tfmt *f)
{
	const char *sep = f->nargs >= 1 ? f->args[0].str : ", ";
	size_t seplen = f->nargs >= 1 ? f->args[0].len : 2;
	const char *last = f->nargs == 2 ? f->args[1].str : sep;
	size_t lastlen = f->nargs == 2 ? f->args[1].len : seplen;
	const json_t *a = p->jv;
	size_t n, shown_n = 0, remaining = 0;

	if (p->st != V_JSON || !json_is_array(a))
		return to_str(p);
	n = json_array_size(a);
	for (size_t i = 0; i < n; i++) {
		const json_t *x = json_array_get(a, i);

		if (json_is_object(x) || json_is_array(x))
			return pipe_err(p, "join: element %zu of \"%s\" is %s, not a plain value", i + 1,
					p->n->name->full, json_is_object(x) ? "an object" : "a list");
		if (!json_is_null(x) && !(json_is_string(x) && json_string_length(x) == 0))
			remaining++;
	}
	p->out->len = p->base;
	for (size_t i = 0; i < n; i++) {
		const json_t *x = json_array_get(a, i);

		if (json_is_null(x) || (json_is_string(x) && json_string_length(x) == 0))
			continue;
		if (shown_n) {
			bool is_last = remaining == 1;

			if (buf_append(p->out, is_last ? last : sep, is_last ? lastlen : seplen) < 0)
				return pipe_nomem(p);
		}
		if (tmpl_put_value(p->out, x) < 0)
			return pipe_nomem(p);
		shown_n++;
		remaining--;
	}
	p->st = V_STR;
	return 0;
}

static bool str_number(const char *s, size_t n, double *d)
{
	char tmp[64], *end;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n || n >= sizeof tmp)
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!((tmp[i] >= '0' && tmp[i] <= '9') || tmp[i] == '.' || tmp[i] == '-' ||
		      tmp[i] == '+' || tmp[i] == 'e' || tmp[i] == 'E'))
			return false;
	*d = strtod(tmp, &end);
	return !*end && isfinite(*d);
}

static int step_money(struct pipe *p, const struct tfmt *f)
{
	char mark = f->nargs == 1 && decimal_comma(f->args[0].str, f->args[0].len) ? ',' : '.';
	const json_t *amount = NULL, *cur = NULL;
	double d = 0;
	bool ok = false;
	int rc;

	if (p->st == V_JSON) {
		amount = p->jv;
		if (json_is_object(p->jv)) {
			amount = json_object_get(p->jv, "amount");
			cur = json_object_get(p->jv, "currency");
			if (cur && !json_is_string(cur))
				cur = NULL;
		}
		if (amount && json_is_number(amount)) {
			d = json_number_value(amount);
			ok = true;
		} else if (amount && json_is_string(amount)) {
			ok = str_number(json_string_value(amount), json_string_length(amount), &d);
		}
	} else {
		ok = str_number(p->out->data + p->base, p->out->len - p->base, &d);
	}
	if (!ok)
		return pipe_err(p, "money: \"%s\" is not a number or {\"amount\", \"currency\"}",
				p->n->name->full);
	p->out->len = p->base;
	rc = put_money_amount(p->out, d, mark);
	if (rc == -2)
		return pipe_err(p, "money: \"%s\" is out of range", p->n->name->full);
	if (rc < 0)
		return pipe_nomem(p);
	if (cur && json_string_length(cur) &&
	    (buf_putc(p->out, ' ') < 0 ||
	     buf_append(p->out, json_string_value(cur), json_string_length(cur)) < 0))
		return pipe_nomem(p);
	p->st = V_STR;
	return 0;
}

static int step_json(struct pipe *p)
{
	size_t from = p->out->len;

	if (p->st == V_JSON) {
		p->out->len = p->base;
		if (tmpl_put_json(p->out, p->jv) < 0)
			return pipe_err(p, "json: \"%s\" is nested too deeply", p->n->name->full);
	} else {
		/* The source lies in out: make room first (at worst 6 bytes per
		 * byte, \u00XX), so that appending cannot move it. */
		if (buf_reserve(p->out, (from - p->base) * 6 + 2) < 0 ||
		    put_json_string(p->out, p->out->data + p->base, from - p->base) < 0)
			return pipe_nomem(p);
		settle(p, from);
	}
	p->st = V_STR;
	return 0;
}

int tmpl_apply_formatters(const struct tmpl *t, const struct tnode *n, const json_t *v,
			  struct buf *out, bool *missing, struct tmpl_trace *tr, struct err *e)
{
	struct pipe p = { .out = out, .base = out->len, .t = t, .n = n, .e = e };

	if (v && !json_is_null(v)) {
		p.st = V_JSON;
		p.jv = v;
		if (tr)
			tmpl_trace_whole(tr, v);
	}
	for (unsigned i = 0; i < n->nfmt; i++) {
		const struct tfmt *f = &n->fmt[i];
		int rc = 0;

		if (f->kind == FMT_DEFAULT) {
			bool empty = p.st == V_MISSING ||
				     (p.st == V_JSON && json_is_string(p.jv) && !json_string_length(p.jv)) ||
				     (p.st == V_STR && out->len == p.base);

			if (empty) {
				out->len = p.base;
				if (buf_append(out, f->args[0].str, f->args[0].len) < 0)
					return pipe_nomem(&p);
				p.st = V_STR;
			}
			continue;
		}
		if (p.st == V_MISSING)
			continue;
		switch (f->kind) {
		case FMT_LOWER:
		case FMT_UPPER:
			rc = to_str(&p);
			if (!rc)
				rc = step_case(&p, f->kind == FMT_UPPER);
			break;
		case FMT_TRIM:
			rc = to_str(&p);
			if (!rc)
				step_trim(&p);
			break;
		case FMT_CAPITALIZE:
			rc = to_str(&p);
			if (!rc)
				rc = step_capitalize(&p);
			break;
		case FMT_TRUNCATE:
			rc = to_str(&p);
			if (!rc)
				rc = step_truncate(&p, f);
			break;
		case FMT_JOIN:
			rc = step_join(&p, f);
			break;
		case FMT_MONEY:
			rc = step_money(&p, f);
			break;
		case FMT_JSON:
			rc = step_json(&p);
			break;
		case FMT_DEFAULT:
			break;
		}
		if (rc < 0)
			return -1;
	}
	*missing = p.st == V_MISSING;
	if (p.st == V_JSON) {
		out->len = p.base;
		if (tmpl_put_value(out, p.jv) < 0)
			return pipe_nomem(&p);
	}
	return 0;
}
