/* file.h: the "file" source connector: product catalogs from JSONL and CSV.
 *
 * Configuration (the source object, borrowed by open; unknown keys and wrong
 * types are ERR_CONFIG errors naming the key, e.g.
 * `source.format: expected "jsonl" or "csv", got "xml"`):
 *
 *   type              "file" (optional here; the registry picks by it)
 *   path              the catalog; relative paths are resolved against base_dir
 *   format            "jsonl" or "csv"; default from the extension
 *                     (.jsonl, .ndjson, .csv, any case)
 *   key               the field that holds the SKU; default "sku"
 *   max_field_bytes   a bigger field fails its record; default 1 MiB
 *   max_record_bytes  a bigger record (JSONL line, CSV row) fails; default 8 MiB
 *   delimiter         CSV only: one ASCII byte, default ","; not '"' or a line break
 *   columns           CSV only: {"header name": "field name"} renaming; every
 *                     header name listed must exist in the file
 *
 * A missing or unreadable file is an ERR_SOURCE error at open naming the path
 * and the system's reason.  For CSV the header is read at open: an empty file,
 * an empty or duplicate header name (after trimming), a header that does not
 * parse or holds NUL, control bytes (a CR-only file) or invalid UTF-8, more
 * than 65536 columns, or no column for the key field is an ERR_SOURCE error
 * (every row would fail).
 *
 * Streaming: the file is read in fixed chunks and memory stays bounded by
 * max_record_bytes plus a constant (conn_file_buffer_peak()), whatever the
 * file's size; a record over the limit is skipped without being buffered.
 *
 * Records (connectors/record.h):
 *   sku     the key field's value: a string, or (JSONL) an integer written in
 *           decimal; it must not be empty or only whitespace.  It is set on a
 *           failed record too when the key field itself was fine.
 *   fields  JSONL: the whole object, key included, as parsed (an integer
 *           SKU stays an integer there).  CSV: an object
 *           of strings, one per column (header names trimmed of spaces and
 *           tabs, renamed by "columns"); values are kept as text (leading
 *           zeros in SKUs and GTINs survive).  An empty unquoted cell is
 *           omitted (the field is missing); an empty quoted cell ("") is the
 *           empty string.
 *   origin  "<path as configured>:<line>", the 1-based line where the record
 *           begins (a CSV row with quoted line breaks spans several lines).
 *   error   NULL, or why the record is unusable; fields is then NULL.
 *
 * JSONL: one JSON object per line; "\n" or "\r\n"; blank (or all-whitespace)
 * lines are skipped; a UTF-8 byte order mark at the start is dropped; the last
 * line may lack a newline.  Record errors, checked in this order:
 *   record is N bytes, limit M
 *   field "name": NUL byte at byte B            (whichever comes first; B is
 *   field "name": invalid UTF-8 at byte B        1-based within the line; the
 *                                                field is named when known)
 *   malformed JSON at column C: <jansson's message>
 *   field "name": NUL character (\u0000) at column C
 *   not a JSON object (got an array)
 *   missing key field "sku"
 *   key field "sku" is empty
 *   key field "sku" must be a string or an integer, got a real number
 *   field "description" is 5242880 bytes, limit 1048576
 * Duplicate keys in one object are malformed JSON.  A field's size is the
 * byte length of its string value; for an array or object, the total of the
 * strings and keys inside it.
 *
 * CSV (RFC 4180, see csv_reader.h for the syntax and how it resynchronises):
 * blank lines are skipped (so a one-column file cannot have an empty row).
 * A cell is named `field "name" (column 3)`, or `column 7` past the header.
 * Record errors:
 *   field "name" (column 3): stray quote in an unquoted cell
 *   field "name" (column 3): unexpected character after a closing quote
 *       (both: the rest of that line is skipped, reading goes on)
 *   field "name" (column 3): quoted cell opened on line L is not closed before
 *       the end of the file   (the record fails and reading ends)
 *   record is N bytes, limit M
 *   row has 5 cells, header has 4
 *   field "description" (column 3) is 5242880 bytes, limit 1048576
 *   field "name" (column 3): NUL byte at byte B of the cell
 *   field "name" (column 3): invalid UTF-8 at byte B of the cell
 *   missing key field "sku"   (an empty unquoted key cell)
 *   key field "sku" is empty  (a quoted empty or all-whitespace key cell)
 *
 * Not done here: duplicate SKUs are not detected (the planner does that
 * against the store, where it sees every source and every run).
 *
 * next() fills the batch with up to b->cap records, bad ones included, and
 * returns -1 only when reading the file fails (ERR_SOURCE naming the path) or
 * memory runs out; the batch is then empty.
 *
 * Write-back (file_sink.c): an output's target is
 *   { "path": "results.jsonl", "field": "description_{locale}" }
 * (path relative to the configuration; field defaults to the output's name;
 * {locale} and {channel} are replaced).  The results file is a JSONL of one
 * object per SKU, {"<key>": sku, field: value, ...}: a patch a catalog team
 * can merge.  It is rewritten atomically (temporary file, fsync, rename) with
 * each batch; the overwrite policy compares with the value already in it.
 */
#ifndef SKUGEN_CONN_FILE_H
#define SKUGEN_CONN_FILE_H

#include <stddef.h>

#include "connectors/connector.h"

extern const struct conn_ops conn_file_ops;

/* The most bytes the open file connector c's reader has had allocated at once
 * (read chunk and record buffers; not the records handed out): at most
 * 64 KiB + max_record_bytes + 2, plus 64 bytes per CSV column.  For tests and
 * diagnostics; c must come from conn_file_ops.open. */
size_t conn_file_buffer_peak(const struct conn *c);

/* For the sink: the directory targets resolve against, and the key field. */
const char *conn_file_base_dir(const struct conn *c);
const char *conn_file_key(const struct conn *c);

/* The sink's half of conn_file_ops (file_sink.c). */
int conn_file_check_target(const json_t *target, const char *path, struct err *e);
int conn_file_write(struct conn *c, struct conn_write_item *items, size_t n, struct err *e);

#endif
