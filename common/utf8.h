/* utf8.h: UTF-8 validation for untrusted catalog text, and the two pieces
 * every JSON string decoder needs (providers/jscan.c, connectors/pg_json.c):
 * a \uXXXX escape's hex digits and a code point appended as UTF-8. */
#ifndef SKUGEN_UTF8_H
#define SKUGEN_UTF8_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* True when p[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF).  On false, *bad (if not NULL) is the
 * byte offset of the first bad sequence.  NUL bytes are valid UTF-8; callers
 * that refuse them check separately. */
bool utf8_valid(const char *p, size_t n, size_t *bad);

/* The four hex digits at p[0..4) (a JSON \uXXXX escape's, either case) into
 * *v: 0, or -1 when one is not a hex digit (*v is then undefined).  The
 * caller makes sure the four bytes are there. */
int utf8_hex4(const char *p, unsigned *v);

/* Append code point cp (at most U+10FFFF; the caller refuses surrogates) to b
 * as UTF-8: 0, or -1 out of memory. */
int utf8_put(struct buf *b, unsigned cp);

#endif
