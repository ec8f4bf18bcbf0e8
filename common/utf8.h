/* utf8.h: UTF-8 validation for untrusted catalog text. */
#ifndef SKUGEN_UTF8_H
#define SKUGEN_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when p[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF).  On false, *bad (if not NULL) is the
 * byte offset of the first bad sequence.  NUL bytes are valid UTF-8; callers
 * that refuse them check separately. */
bool utf8_valid(const char *p, size_t n, size_t *bad);

#endif
