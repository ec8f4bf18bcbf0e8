/* csv_reader.h: an RFC 4180 CSV tokenizer that reads in bounded memory.
 *
 * The reader turns a file descriptor into rows of cells.  It reads fixed
 * chunks (CSV_READER_CHUNK bytes) and keeps only the current row's unescaped
 * cell bytes, never more than max_record bytes of them, and never more than
 * max_field bytes of one cell; beyond those limits it keeps reading to find
 * where the row ends, counting bytes without storing them, so that the caller
 * can report the row and go on.  It stores at most max_cells cells of a row
 * (the rest are counted).
 *
 * Syntax (RFC 4180): cells are separated by the delimiter byte; rows end with
 * "\n" or "\r\n" (a lone "\r" is an ordinary byte; a final "\r" at the end of
 * the file ends the row); a cell that starts with '"' is quoted and may hold
 * delimiters, line breaks (kept as they are) and doubled quotes (one quote).
 * Blank lines between rows are skipped.  A UTF-8 byte order mark at the start
 * of the file is dropped.  Cell bytes are not checked (NUL, UTF-8): the
 * caller does that.
 *
 * Broken rows come back with error set and the reader resynchronises:
 *   - a quote inside an unquoted cell, or anything but a delimiter or a line
 *     break after a closing quote: the rest of that physical line is skipped
 *     and reading goes on with the next line;
 *   - a quoted cell still open at the end of the file: the row is reported
 *     and the reader is at its end.
 */
#ifndef SKUGEN_CSV_READER_H
#define SKUGEN_CSV_READER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define CSV_READER_CHUNK ((size_t)64 * 1024)

struct csv_reader;

struct csv_cell {
	size_t off;       /* into csv_row.data */
	size_t len;       /* bytes stored (all of them unless truncated) */
	size_t full_len;  /* bytes the unescaped cell really has */
	bool quoted;      /* the cell was quoted ("" is an empty quoted cell) */
	bool truncated;   /* full_len > len: over max_field or max_record */
};

struct csv_row {
	size_t lineno;                  /* 1-based line where the row begins */
	size_t lines;                   /* physical lines the row spans */
	size_t bytes;                   /* raw bytes of the row, without its terminator */
	size_t ncells;                  /* cells in the row (may exceed nstored) */
	size_t nstored;                 /* cells described in cells[] */
	const struct csv_cell *cells;   /* borrowed, valid until the next call */
	const char *data;               /* borrowed, valid until the next call */
	const char *error;              /* borrowed; NULL, or the syntax error */
	size_t error_col;               /* 1-based cell the syntax error is in */
};

/* A reader of fd (borrowed: the caller closes it after csv_reader_free).
 * delim is the cell separator (not '"', '\r' or '\n').  *out is new.  Fails
 * only for lack of memory. */
int csv_reader_new(struct csv_reader **out, int fd, char delim, size_t max_field,
		   size_t max_record, size_t max_cells, struct err *e);

/* Change how many cells of a row are stored (e.g. to the header's width). */
void csv_reader_set_max_cells(struct csv_reader *r, size_t max_cells);

/* The next row: 1 and *row filled, 0 at end of file, or -1 when reading
 * fails (ERR_SOURCE, "read failed: <strerror>") or memory runs out. */
int csv_reader_next(struct csv_reader *r, struct csv_row *row, struct err *e);

/* The most bytes the reader has had allocated at once (chunk, cell bytes,
 * cell table): at most CSV_READER_CHUNK + max_record + 1 +
 * max_cells * sizeof(struct csv_cell) (doubled growth is capped).  For tests. */
size_t csv_reader_peak(const struct csv_reader *r);

/* Free the reader (not the fd).  Accepts NULL. */
void csv_reader_free(struct csv_reader *r);

#endif
