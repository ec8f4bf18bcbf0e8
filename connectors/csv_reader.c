/* csv_reader.c: RFC 4180 tokenizer in bounded memory for the file connector
 * (see csv_reader.h). */
#include "connectors/csv_reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum csv_state {
	ST_START,       /* at the start of a cell */
	ST_UNQUOTED,    /* inside an unquoted cell */
	ST_QUOTED,      /* inside a quoted cell */
	ST_QUOTE_SEEN,  /* a quote inside a quoted cell: closing, or the first of two */
	ST_SKIP,        /* after a syntax error: skipping to the end of the line */
};

struct csv_reader {
	int fd;
	char delim;
	char *chunk;
	size_t pos, len;
	bool eof, started;
	size_t max_field, max_record, max_cells;
	char *data;                 /* the current row's cell bytes */
	size_t data_len, data_cap;
	struct csv_cell *cells;
	size_t cells_cap;
	size_t lineno;              /* line of the byte at chunk[pos] */
	size_t peak;
	char error[160];
};

/* The row being read. */
struct row_state {
	enum csv_state state;
	bool in_row;
	bool cr_pending;
	bool crlf;
	size_t bytes;
	size_t quote_line;
	size_t ncells, nstored;
	struct csv_cell cur;
	bool failed;
	size_t error_col;
};

int csv_reader_new(struct csv_reader **out, int fd, char delim, size_t max_field,
		   size_t max_record, size_t max_cells, struct err *e)
{
	struct csv_reader *r;

	*out = NULL;
	r = calloc(1, sizeof *r);
	if (!r || !(r->chunk = malloc(CSV_READER_CHUNK))) {
		free(r);
		return err_set(e, ERR_NOMEM, "out of memory for a csv reader");
	}
	r->fd = fd;
	r->delim = delim;
	r->max_field = max_field;
	r->max_record = max_record;
	r->max_cells = max_cells;
	r->lineno = 1;
	r->peak = CSV_READER_CHUNK;
	*out = r;
	return 0;
}

void csv_reader_set_max_cells(struct csv_reader *r, size_t max_cells)
{
	r->max_cells = max_cells;
}

static void note_peak(struct csv_reader *r)
{
	size_t now = CSV_READER_CHUNK + r->data_cap + r->cells_cap * sizeof *r->cells;

	if (now > r->peak)
		r->peak = now;
}

/* Refill the (empty) chunk; the first fill also drops a byte order mark. */
static int fill(struct csv_reader *r, struct err *e)
{
	size_t want = r->started ? 1 : 3;

	r->pos = r->len = 0;
	while (r->len < want) {
		ssize_t n = read(r->fd, r->chunk + r->len, CSV_READER_CHUNK - r->len);

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

static void begin_cell(struct csv_reader *r, struct row_state *s)
{
	memset(&s->cur, 0, sizeof s->cur);
	s->cur.off = r->data_len;
	s->cur.truncated = s->nstored >= r->max_cells;
}

/* Store n unescaped bytes of the current cell, unless that would break
 * max_field or max_record: then the cell is marked truncated and only
 * counted from there on. */
static int append(struct csv_reader *r, struct row_state *s, const char *p, size_t n,
		  struct err *e)
{
	s->cur.full_len += n;
	if (s->cur.truncated || n == 0)
		return 0;
	if (s->cur.len + n > r->max_field || r->data_len + n > r->max_record) {
		s->cur.truncated = true;
		return 0;
	}
	if (r->data_len + n + 1 > r->data_cap) {
		size_t cap = r->data_cap ? r->data_cap : 256;
		char *q;

		while (cap < r->data_len + n + 1)
			cap *= 2;
		if (cap > r->max_record + 1)
			cap = r->max_record + 1;
		q = realloc(r->data, cap);
		if (!q)
			return err_set(e, ERR_NOMEM, "out of memory for a %zu-byte csv row",
				       r->data_len + n + 1);
		r->data = q;
		r->data_cap = cap;
		note_peak(r);
	}
	memcpy(r->data + r->data_len, p, n);
	r->data_len += n;
	s->cur.len += n;
	return 0;
}

static int end_cell(struct csv_reader *r, struct row_state *s, struct err *e)
{
	if (s->nstored < r->max_cells) {
		if (s->nstored == r->cells_cap) {
			size_t cap = r->cells_cap ? r->cells_cap * 2 : 16;
			struct csv_cell *q;

			if (cap > r->max_cells)
				cap = r->max_cells;
			q = realloc(r->cells, cap * sizeof *q);
			if (!q)
				return err_set(e, ERR_NOMEM, "out of memory for %zu csv cells", cap);
			r->cells = q;
			r->cells_cap = cap;
			note_peak(r);
		}
		r->cells[s->nstored++] = s->cur;
	}
	s->ncells++;
	begin_cell(r, s);
	return 0;
}

static void syntax_error(struct csv_reader *r, struct row_state *s, const char *msg)
{
	snprintf(r->error, sizeof r->error, "%s", msg);
	s->failed = true;
	s->error_col = s->ncells + 1;
	s->state = ST_SKIP;
}

static void start_row(struct csv_reader *r, struct row_state *s, struct csv_row *row)
{
	if (s->in_row)
		return;
	s->in_row = true;
	row->lineno = r->lineno;
}

int csv_reader_next(struct csv_reader *r, struct csv_row *row, struct err *e)
{
	struct row_state s;
	bool at_eof = false;

	memset(&s, 0, sizeof s);
	memset(row, 0, sizeof *row);
	r->data_len = 0;
	s.state = ST_START;
	begin_cell(r, &s);
	for (;;) {
		const char *p, *q, *end;
		char c;

		if (r->pos == r->len) {
			if (r->eof) {
				at_eof = true;
				break;
			}
			if (fill(r, e) < 0)
				return -1;
			continue;
		}
		c = r->chunk[r->pos];
		if (s.cr_pending) {
			s.cr_pending = false;
			if (c == '\n') {
				s.crlf = true;
			} else {
				/* a lone CR is an ordinary byte; c is looked at again */
				if (s.state == ST_START) {
					start_row(r, &s, row);
					s.state = ST_UNQUOTED;
				}
				if (s.state == ST_UNQUOTED) {
					if (append(r, &s, "\r", 1, e) < 0)
						return -1;
				} else if (s.state == ST_QUOTE_SEEN) {
					syntax_error(r, &s, "unexpected character after a closing quote");
				}
				continue;
			}
		}
		switch (s.state) {
		case ST_START:
			if (c == '\n') {
				r->pos++;
				if (!s.in_row) {
					/* a blank line between rows */
					r->lineno++;
					s.bytes = 0;
					s.crlf = false;
					continue;
				}
				if (end_cell(r, &s, e) < 0)
					return -1;
				goto row_done;
			}
			r->pos++;
			s.bytes++;
			if (c == '\r') {
				s.cr_pending = true;
				continue;
			}
			start_row(r, &s, row);
			if (c == '"') {
				s.cur.quoted = true;
				s.quote_line = r->lineno;
				s.state = ST_QUOTED;
			} else if (c == r->delim) {
				if (end_cell(r, &s, e) < 0)
					return -1;
			} else {
				r->pos--;
				s.bytes--;
				s.state = ST_UNQUOTED;
			}
			continue;
		case ST_UNQUOTED:
			p = r->chunk + r->pos;
			end = r->chunk + r->len;
			for (q = p; q < end; q++)
				if (*q == r->delim || *q == '"' || *q == '\r' || *q == '\n')
					break;
			if (append(r, &s, p, (size_t)(q - p), e) < 0)
				return -1;
			s.bytes += (size_t)(q - p);
			r->pos += (size_t)(q - p);
			if (q == end)
				continue;
			r->pos++;
			c = *q;
			if (c == '\n') {
				if (end_cell(r, &s, e) < 0)
					return -1;
				goto row_done;
			}
			s.bytes++;
			if (c == r->delim) {
				if (end_cell(r, &s, e) < 0)
					return -1;
				s.state = ST_START;
			} else if (c == '\r') {
				s.cr_pending = true;
			} else {
				syntax_error(r, &s, "stray quote in an unquoted cell");
			}
			continue;
		case ST_QUOTED:
			p = r->chunk + r->pos;
			end = r->chunk + r->len;
			for (q = p; q < end && *q != '"'; q++)
				if (*q == '\n')
					r->lineno++;
			if (append(r, &s, p, (size_t)(q - p), e) < 0)
				return -1;
			s.bytes += (size_t)(q - p);
			r->pos += (size_t)(q - p);
			if (q < end) {
				r->pos++;
				s.bytes++;
				s.state = ST_QUOTE_SEEN;
			}
			continue;
		case ST_QUOTE_SEEN:
			r->pos++;
			if (c == '\n') {
				if (end_cell(r, &s, e) < 0)
					return -1;
				goto row_done;
			}
			s.bytes++;
			if (c == '"') {
				if (append(r, &s, "\"", 1, e) < 0)
					return -1;
				s.state = ST_QUOTED;
			} else if (c == r->delim) {
				if (end_cell(r, &s, e) < 0)
					return -1;
				s.state = ST_START;
			} else if (c == '\r') {
				s.cr_pending = true;
			} else {
				syntax_error(r, &s, "unexpected character after a closing quote");
			}
			continue;
		case ST_SKIP:
			p = r->chunk + r->pos;
			q = memchr(p, '\n', r->len - r->pos);
			if (!q) {
				s.bytes += r->len - r->pos;
				r->pos = r->len;
				continue;
			}
			s.bytes += (size_t)(q - p);
			r->pos += (size_t)(q - p) + 1;
			goto row_done;
		}
	}

row_done:
	if (at_eof) {
		if (!s.in_row)
			return 0;
		if (s.cr_pending)
			s.crlf = true;
		if (s.state == ST_QUOTED) {
			snprintf(r->error, sizeof r->error,
				 "quoted cell opened on line %zu is not closed before the end of the file",
				 s.quote_line);
			s.failed = true;
			s.error_col = s.ncells + 1;
		}
		if (s.state != ST_SKIP && end_cell(r, &s, e) < 0)
			return -1;
	}
	row->lines = r->lineno - row->lineno + 1;
	if (!at_eof)
		r->lineno++;
	row->bytes = s.bytes - (s.crlf ? 1 : 0);
	row->ncells = s.ncells;
	row->nstored = s.nstored;
	row->cells = r->cells;
	row->data = r->data ? r->data : "";
	row->error = s.failed ? r->error : NULL;
	row->error_col = s.failed ? s.error_col : 0;
	return 1;
}

size_t csv_reader_peak(const struct csv_reader *r)
{
	return r->peak;
}

void csv_reader_free(struct csv_reader *r)
{
	if (!r)
		return;
	free(r->chunk);
	free(r->data);
	free(r->cells);
	free(r);
}
