/* line_reader.h: read a file one line at a time in bounded memory.
 *
 * The reader reads fixed chunks (LINE_READER_CHUNK bytes) from a file
 * descriptor and hands out one line per call.  A line that fits in the
 * current chunk is handed out in place; a line that spans chunks is gathered
 * in a buffer that never grows past max_line + 2 bytes.  A line longer than
 * max_line is not gathered at all: the reader skips to the next newline and
 * reports how long the line was, so one huge line costs no memory.
 *
 * Line endings: "\n" or "\r\n" (the terminator is not part of the line).  The
 * last line may lack a newline.  A UTF-8 byte order mark at the very start of
 * the file is dropped.  Nothing else is interpreted: NUL bytes and invalid
 * UTF-8 are handed out as they are.
 */
#ifndef SKUGEN_LINE_READER_H
#define SKUGEN_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define LINE_READER_CHUNK ((size_t)64 * 1024)

struct line_reader;

struct line {
	const char *data;  /* borrowed, valid until the next call; not NUL-terminated;
	                      NULL when too_long */
	size_t len;        /* bytes in data, without the line terminator */
	size_t full_len;   /* bytes the line really has (== len unless too_long) */
	size_t lineno;     /* 1-based */
	bool too_long;     /* full_len > max_line: the bytes were skipped */
};

/* A reader of fd (borrowed: the caller closes it after line_reader_free)
 * handing out lines of at most max_line bytes.  *out is new.  Fails only for
 * lack of memory (ERR_NOMEM). */
int line_reader_new(struct line_reader **out, int fd, size_t max_line, struct err *e);

/* The next line: 1 and *l filled, 0 at end of file, or -1 when reading
 * fails (ERR_SOURCE, "read failed: <strerror>"; the caller adds the path). */
int line_reader_next(struct line_reader *r, struct line *l, struct err *e);

/* The most bytes the reader has had allocated at once (its chunk plus its
 * line buffer): at most LINE_READER_CHUNK + max_line + 2.  For tests. */
size_t line_reader_peak(const struct line_reader *r);

/* Free the reader (not the fd).  Accepts NULL. */
void line_reader_free(struct line_reader *r);

#endif
