/* review_csv.c: guarded CSV cells out, spreadsheet CSV back in (see
 * review_csv.h). */
#include "batch/review_csv.h"

#include <stdlib.h>
#include <string.h>

/* A record larger than this is refused: no spreadsheet writes one, and a
 * file that never closes a quote must not eat the machine. */
#define RECORD_MAX (64u << 20)

static bool formula_lead(char c)
{
	return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

bool review_csv_guarded(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n && v[i] == '\'')
		i++;
	return i < n && formula_lead(v[i]);
}

size_t review_csv_unguard(const char *v, size_t n)
{
	return n >= 2 && v[0] == '\'' && review_csv_guarded(v + 1, n - 1) ? 1 : 0;
}

int review_csv_put_text(struct buf *b, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *q;

	if (buf_reserve(b, n + 4) < 0 || buf_putc(b, '"') < 0)
		return -1;
	if (review_csv_guarded(v, n) && buf_putc(b, '\'') < 0)
		return -1;
	while ((q = memchr(p, '"', (size_t)(end - p))) != NULL) {
		if (buf_append(b, p, (size_t)(q - p) + 1) < 0 || buf_putc(b, '"') < 0)
			return -1;
		p = q + 1;
	}
	if (buf_append(b, p, (size_t)(end - p)) < 0)
		return -1;
	return buf_putc(b, '"');
}

int review_csv_put_bare(struct buf *b, const char *v)
{
	return buf_puts(b, v);
}

struct review_csv_reader {
	FILE *fp;
	char *name;
	struct buf pre;         /* bytes taken from fp before the reader was made */
	size_t pre_pos;
	struct buf head;        /* the first line, read ahead to find the separator */
	size_t head_pos;
	bool started, bom;
	char sep;
	long line;              /* the line of the next byte */
	struct buf data;        /* the current record's fields, each NUL-terminated */
	size_t *off, *len;
	const char **ptr;
	size_t nf, cap;
};

int review_csv_reader_new(struct review_csv_reader **out, FILE *fp, const char *prefix, size_t prefix_len,
			  const char *name, struct err *e)
{
	struct review_csv_reader *r = calloc(1, sizeof *r);

	*out = NULL;
	if (!r || !(r->name = strdup(name)) || (prefix_len && buf_append(&r->pre, prefix, prefix_len) < 0)) {
		review_csv_reader_free(r);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	r->fp = fp;
	r->sep = ',';
	r->line = 1;
	*out = r;
	return 0;
}

void review_csv_reader_free(struct review_csv_reader *r)
{
	if (!r)
		return;
	buf_free(&r->pre);
	buf_free(&r->head);
	buf_free(&r->data);
	free(r->off);
	free(r->len);
	free(r->ptr);
	free(r->name);
	free(r);
}

char review_csv_separator(const struct review_csv_reader *r)
{
	return r->sep;
}

bool review_csv_had_bom(const struct review_csv_reader *r)
{
	return r->bom;
}

/* The file's bytes: those taken before, then the rest of fp. */
static int src_byte(struct review_csv_reader *r)
{
	if (r->pre_pos < r->pre.len)
		return (unsigned char)r->pre.data[r->pre_pos++];
	return getc_unlocked(r->fp);
}

static int next_byte(struct review_csv_reader *r)
{
	if (r->head_pos < r->head.len)
		return (unsigned char)r->head.data[r->head_pos++];
	return src_byte(r);
}

/* Read the first line ahead (to the first line end outside quotes), drop a
 * BOM, and pick the separator the header uses most. */
static int start(struct review_csv_reader *r, struct err *e)
{
	bool quoted = false;
	size_t counts[3] = { 0 };
	const char seps[3] = { ',', ';', '\t' };
	int c;

	r->started = true;
	while ((c = src_byte(r)) != EOF) {
		if (buf_putc(&r->head, (char)c) < 0)
			return err_set(e, ERR_NOMEM, "out of memory");
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == '\n' || c == '\r'))
			break;
		else if (!quoted)
			for (int i = 0; i < 3; i++)
				counts[i] += c == seps[i];
		if (r->head.len > RECORD_MAX)
			break;
	}
	if (ferror(r->fp))
		return err_set(e, ERR_IO, "cannot read %s", r->name);
	if (r->head.len >= 2 && ((unsigned char)r->head.data[0] == 0xff || (unsigned char)r->head.data[0] == 0xfe) &&
	    ((unsigned char)r->head.data[1] == 0xfe || (unsigned char)r->head.data[1] == 0xff))
		return err_set(e, ERR_INPUT, "%s: the file is UTF-16: save it as \"CSV UTF-8\"", r->name);
	if (r->head.len >= 3 && memcmp(r->head.data, "\xef\xbb\xbf", 3) == 0) {
		r->bom = true;
		r->head_pos = 3;
	}
	for (int i = 1; i < 3; i++)
		if (counts[i] > counts[0] && counts[i] >= counts[i == 1 ? 2 : 1])
			r->sep = seps[i];
	return 0;
}

static int end_field(struct review_csv_reader *r, size_t field_start, struct err *e)
{
	if (r->nf == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		size_t *no = realloc(r->off, ncap * sizeof *no), *nl;
		const char **np;

		if (!no)
			return err_set(e, ERR_NOMEM, "out of memory");
		r->off = no;
		if (!(nl = realloc(r->len, ncap * sizeof *nl)))
			return err_set(e, ERR_NOMEM, "out of memory");
		r->len = nl;
		if (!(np = realloc(r->ptr, ncap * sizeof *np)))
			return err_set(e, ERR_NOMEM, "out of memory");
		r->ptr = np;
		r->cap = ncap;
	}
	r->off[r->nf] = field_start;
	r->len[r->nf] = r->data.len - field_start;
	r->nf++;
	return buf_putc(&r->data, '\0') < 0 ? err_set(e, ERR_NOMEM, "out of memory") : 0;
}

static int put(struct review_csv_reader *r, int c, long line, struct err *e)
{
	if (c == 0)
		return err_set(e, ERR_INPUT, "%s:%ld: a NUL byte: this is not a CSV text file", r->name, line);
	if (r->data.len > RECORD_MAX)
		return err_set(e, ERR_INPUT, "%s:%ld: a record over %u MiB: is a quote left open?", r->name,
			       line, RECORD_MAX >> 20);
	return buf_putc(&r->data, (char)c) < 0 ? err_set(e, ERR_NOMEM, "out of memory") : 0;
}

/* After a CR: swallow the LF of a CRLF. */
static void line_end(struct review_csv_reader *r, int c)
{
	if (c == '\r') {
		bool from_head = r->head_pos < r->head.len, from_pre = !from_head && r->pre_pos < r->pre.len;
		int n = next_byte(r);

		if (n != '\n' && n != EOF) {
			if (from_head)
				r->head_pos--;
			else if (from_pre)
				r->pre_pos--;
			else
				ungetc(n, r->fp);
		}
	}
	r->line++;
}

int review_csv_read(struct review_csv_reader *r, struct review_csv_record *rec, struct err *e)
{
	if (!r->started && start(r, e) < 0)
		return -1;
	for (;;) {
		long rec_line = r->line;
		bool any = false;     /* anything beyond one empty field */
		int c;

		buf_reset(&r->data);
		r->nf = 0;
		for (;;) {
			size_t field_start = r->data.len;

			c = next_byte(r);
			if (c == '"') {
				long qline = r->line;

				any = true;
				for (;;) {
					c = next_byte(r);
					if (c == EOF)
						return err_set(e, ERR_INPUT, "%s:%ld: a quoted field that starts here never ends",
							       r->name, qline);
					if (c == '"') {
						c = next_byte(r);
						if (c != '"')
							break;
					} else if (c == '\n') {
						r->line++;
					}
					if (put(r, c, r->line, e) < 0)
						return -1;
				}
				if (c != r->sep && c != '\n' && c != '\r' && c != EOF)
					return err_set(e, ERR_INPUT, "%s:%ld: a character after a closing quote: a quote "
						       "inside a quoted field must be doubled", r->name, r->line);
			} else {
				while (c != r->sep && c != '\n' && c != '\r' && c != EOF) {
					any = true;
					if (put(r, c, r->line, e) < 0)
						return -1;
					c = next_byte(r);
				}
			}
			if (end_field(r, field_start, e) < 0)
				return -1;
			if (c == r->sep) {
				any = true;
				continue;
			}
			if (c == '\n' || c == '\r')
				line_end(r, c);
			break;
		}
		if (ferror(r->fp))
			return err_set(e, ERR_IO, "cannot read %s", r->name);
		if (!any) {
			if (c == EOF)
				return 0;
			continue;     /* a blank line */
		}
		for (size_t i = 0; i < r->nf; i++)
			r->ptr[i] = r->data.data + r->off[i];
		rec->n = r->nf;
		rec->field = r->ptr;
		rec->len = r->len;
		rec->line = rec_line;
		return 1;
	}
}
