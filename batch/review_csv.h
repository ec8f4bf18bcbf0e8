/* review_csv.h: CSV that survives a merchandiser's spreadsheet, both ways.
 *
 * Writing (RFC 4180): every text cell is quoted, quotes doubled, so that a
 * spreadsheet told to read quoted fields as text (LibreOffice: "Format quoted
 * field as text") keeps SKUs such as 000123 as they are.  A text cell that a
 * spreadsheet would run as a formula, one starting with = + - @ TAB or CR
 * (OWASP, CSV injection), gets a leading apostrophe; so does one that starts
 * with apostrophes followed by one of those, so that the import can undo it
 * exactly: the import removes one leading apostrophe from a cell that is
 * apostrophes followed by one of those characters, and from no other.
 *
 * Reading: what a spreadsheet hands back.  A UTF-8 BOM or none; CRLF, LF or
 * CR line ends; quoted or bare fields; comma, semicolon or tab as the
 * separator (whichever the header line uses most, outside quotes); quoted
 * fields that span lines.  Records stream one at a time, in constant memory.
 */
#ifndef SKUGEN_REVIEW_CSV_H
#define SKUGEN_REVIEW_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"

/* Whether the text cell v[0..n) needs the guarding apostrophe. */
bool review_csv_guarded(const char *v, size_t n);

/* How many bytes to drop from the front of a cell read back: 1 when it is an
 * apostrophe followed by what review_csv_guarded would guard, else 0. */
size_t review_csv_unguard(const char *v, size_t n);

/* Append a text cell: quoted, guarded.  -1 on no memory. */
int review_csv_put_text(struct buf *b, const char *v, size_t n);

/* Append a cell as it is, unquoted: numbers skugen made (ids, costs). */
int review_csv_put_bare(struct buf *b, const char *v);

/* A record read back.  The fields are borrowed from the reader and valid
 * until its next review_csv_read. */
struct review_csv_record {
	size_t n;               /* fields in this record */
	const char **field;     /* NUL-terminated (a field holding NUL is refused) */
	const size_t *len;
	long line;              /* the line the record starts on (1-based) */
};

struct review_csv_reader;

/* A reader over prefix[0..prefix_len) (bytes already taken from fp, copied;
 * may be NULL, 0) and then fp (borrowed; the caller closes it); name is for
 * messages.  *r is new: free it with review_csv_reader_free. */
int review_csv_reader_new(struct review_csv_reader **r, FILE *fp, const char *prefix, size_t prefix_len,
			  const char *name, struct err *e);

/* The next record: 1, with *rec filled; 0 at the end; -1 on a malformed file
 * (ERR_INPUT: "name:line: a quoted field that starts here never ends"). */
int review_csv_read(struct review_csv_reader *r, struct review_csv_record *rec, struct err *e);

/* The separator in use (after the first read). */
char review_csv_separator(const struct review_csv_reader *r);

/* Whether the file started with a UTF-8 BOM. */
bool review_csv_had_bom(const struct review_csv_reader *r);

void review_csv_reader_free(struct review_csv_reader *r);

#endif
