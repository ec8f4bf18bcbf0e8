/* show.h: untrusted text quoted safely inside an error message.
 *
 * Catalog data comes from anywhere: a SKU may hold quotes, control bytes,
 * terminal escapes or invalid UTF-8.  Messages name it anyway, and must stay
 * valid UTF-8 (they are stored as Postgres text) and harmless on a terminal.
 */
#ifndef SKUGEN_SHOW_H
#define SKUGEN_SHOW_H

#include <stddef.h>
#include <jansson.h>

#define SHOW_MAX 80                  /* bytes of the input quoted at most */
#define SHOW_CAP (SHOW_MAX * 4 + 8)  /* room the result may need, NUL included */

/* Write s[0..n) into dst (SHOW_CAP bytes) as it may appear inside quotes:
 * '"' and '\' escaped, control bytes and bytes of invalid UTF-8 as \xNN, cut
 * at a character boundary after SHOW_MAX bytes with "...". */
void show_quoted(char *dst, const char *s, size_t n);

/* A JSON value for "got ..." in a message, into dst (SHOW_CAP + 8 bytes):
 * a string quoted with show_quoted, a number as written, else its kind
 * ("an object", "an array", "true", "null"). */
#define SHOW_JSON_CAP (SHOW_CAP + 8)
void show_json(char *dst, const json_t *v);

#endif
