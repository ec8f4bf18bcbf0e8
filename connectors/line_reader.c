/* line_reader.c: bounded-memory line reading for the file connector (see
 * line_reader.h). */
#include "connectors/line_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct line_reader {
	int fd;
	char *chunk;         /* LINE_READER_CHUNK bytes */
	size_t pos, len;     /* unread bytes are chunk[pos..len) */
	bool eof;
	bool started;        /* the first read (and the BOM check) is done */
	char *line;          /* gathers lines that span chunks */
	size_t line_len, line_cap;
	size_t max_line;
	size_t lineno;
	size_t peak;
};

int line_reader_new(struct line_reader **out, int fd, size_t max_line, struct err *e)
{
	struct line_reader *r;

	*out = NULL;
	r = calloc(1, sizeof *r);
	if (!r || !(r->chunk = malloc(LINE_READER_CHUNK))) {
		free(r);
		return err_set(e, ERR_NOMEM, "out of memory for a line reader");
	}
	r->fd = fd;
	r->max_line = max_line;
	r->peak = LINE_READER_CHUNK;
	*out = r;
	return 0;
}

/* Refill the (empty) chunk.  The first fill reads until it has three bytes
 * or the end of the file, so that a byte order mark can be recognised. */
static int fill(struct line_reader *r, struct err *e)
{
	size_t want = r->started ? 1 : 3;

	r->pos = r->len = 0;
	while (r->len < want) {
		ssize_t n = read(r->fd, r->chunk + r->len, LINE_READER_CHUNK - r->len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, ERR_SOURCE, "read failed: %s", strerror(errno));
		}
		if (n == 0) {
			r->eof = true;
			break;
		}
		r->len += (size_t)n;
	}
	if (!r->started) {
		r->started = true;
		if (r->len >= 3 && memcmp(r->chunk, "\xef\xbb\xbf", 3) == 0)
			r->pos = 3;
	}
	return 0;
}

/* Append n bytes to the line buffer, which never grows past max_line + 2
 * (the caller appends nothing once a line is longer than max_line + 1). */
static int gather(struct line_reader *r, const char *p, size_t n, struct err *e)
{
	size_t need = r->line_len + n + 1;

	if (need > r->line_cap) {
		size_t cap = r->line_cap ? r->line_cap : 256;
		char *q;

		while (cap < need)
			cap *= 2;
		if (cap > r->max_line + 2)
			cap = r->max_line + 2;
		q = realloc(r->line, cap);
		if (!q)
			return err_set(e, ERR_NOMEM, "out of memory for a %zu-byte line", need);
		r->line = q;
		r->line_cap = cap;
		if (LINE_READER_CHUNK + cap > r->peak)
			r->peak = LINE_READER_CHUNK + cap;
	}
	memcpy(r->line + r->line_len, p, n);
	r->line_len += n;
	return 0;
}

int line_reader_next(struct line_reader *r, struct line *l, struct err *e)
{
	const char *data = NULL;
	size_t full = 0;
	bool gathering = false, any = false;
	char last = 0;

	memset(l, 0, sizeof *l);
	r->line_len = 0;
	for (;;) {
		const char *p, *nl;
		size_t n;

		if (r->pos == r->len) {
			if (r->eof)
				break;
			if (fill(r, e) < 0)
				return -1;
			continue;
		}
		p = r->chunk + r->pos;
		nl = memchr(p, '\n', r->len - r->pos);
		n = nl ? (size_t)(nl - p) : r->len - r->pos;
		any = true;
		if (n)
			last = p[n - 1];
		if (nl && !gathering) {
			/* the whole line is in the chunk: hand it out in place */
			r->pos += n + 1;
			full = n;
			data = p;
			break;
		}
		gathering = true;
		if (full + n <= r->max_line + 1 && gather(r, p, n, e) < 0)
			return -1;
		full += n;
		r->pos += n;
		if (nl) {
			r->pos++;
			break;
		}
	}
	if (!any)
		return 0;
	if (gathering)
		data = r->line;
	if (full && last == '\r')
		full--;
	r->lineno++;
	l->lineno = r->lineno;
	l->full_len = full;
	if (full > r->max_line) {
		l->too_long = true;
		return 1;
	}
	l->data = data;
	l->len = full;
	return 1;
}

size_t line_reader_peak(const struct line_reader *r)
{
	return r->peak;
}

void line_reader_free(struct line_reader *r)
{
	if (!r)
		return;
	free(r->chunk);
	free(r->line);
	free(r);
}
