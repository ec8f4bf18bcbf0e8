/* report_cause.c: a failure message reduced to its cause, so that the run
 * report can group a thousand failures into the few reasons behind them
 * (see report_cause in report.h). */
#include "batch/report.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define CAUSE_MAX 200

static bool is_word(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* The word that ends just before p (skipping spaces) is one of the words
 * after which a 3-digit number is an HTTP status and worth keeping. */
static bool after_status_word(const char *start, const char *p)
{
	static const char *const words[] = { "http", "status", "code", NULL };
	const char *end = p, *w;

	while (end > start && (end[-1] == ' ' || end[-1] == ':'))
		end--;
	w = end;
	while (w > start && isalpha((unsigned char)w[-1]))
		w--;
	for (int i = 0; words[i]; i++)
		if ((size_t)(end - w) == strlen(words[i]) && strncasecmp(w, words[i], (size_t)(end - w)) == 0)
			return true;
	return false;
}

/* Where a quoted string starting at p (on '"') ends: just after the closing
 * quote, minding backslash escapes; NULL when it never closes. */
static const char *quoted_end(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

int report_cause(const char *msg, const char *sku, struct buf *out)
{
	const char *p = msg ? msg : "";
	size_t sku_len = sku ? strlen(sku) : 0;
	size_t start = out->len;
	bool space = false;

	while (*p) {
		const char *q;

		if (isspace((unsigned char)*p)) {
			space = true;
			p++;
			continue;
		}
		if (space && out->len > start && buf_putc(out, ' ') < 0)
			return -1;
		space = false;
		if (sku_len && strncmp(p, sku, sku_len) == 0) {
			/* The SKU itself, bare or inside quotes. */
			if (buf_puts(out, "<sku>") < 0)
				return -1;
			p += sku_len;
			continue;
		}
		if (*p == '"' && p - msg >= 4 && strncasecmp(p - 4, "sku ", 4) == 0 && (q = quoted_end(p))) {
			/* sku "...": the SKU as messages quote it (escaped). */
			if (buf_puts(out, "<sku>") < 0)
				return -1;
			p = q;
			continue;
		}
		if (is_word(*p) && (p == msg || !is_word(p[-1]))) {
			/* A whole word: an id when long with digits in it, or many digits. */
			size_t n = 0, digits = 0;

			while (is_word(p[n])) {
				digits += isdigit((unsigned char)p[n]) != 0;
				n++;
			}
			if (digits && ((n >= 16) || digits >= 6) && digits < n) {
				if (buf_puts(out, "<id>") < 0)
					return -1;
				p += n;
				continue;
			}
		}
		if (isdigit((unsigned char)*p)) {
			size_t n = strspn(p, "0123456789");
			bool keep = n == 3 && !is_word(p[n]) && (p == msg || !is_word(p[-1])) &&
				after_status_word(msg, p);

			if (!keep && p[n] == '.' && isdigit((unsigned char)p[n + 1]))
				n += 1 + strspn(p + n + 1, "0123456789");
			if (keep ? buf_append(out, p, n) < 0 : buf_putc(out, '#') < 0)
				return -1;
			p += n;
			continue;
		}
		if (buf_putc(out, *p++) < 0)
			return -1;
	}
	/* Cut long causes at a character boundary. */
	if (out->len - start > CAUSE_MAX) {
		size_t cut = start + CAUSE_MAX;

		while (cut > start && ((unsigned char)out->data[cut] & 0xC0) == 0x80)
			cut--;
		out->len = cut;
		out->data[cut] = '\0';
		if (buf_puts(out, "...") < 0)
			return -1;
	}
	return 0;
}
