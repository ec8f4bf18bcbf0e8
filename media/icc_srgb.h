/* icc_srgb.h: is an ICC profile sRGB (icc_srgb.c)? */
#ifndef SKUGEN_MEDIA_ICC_SRGB_H
#define SKUGEN_MEDIA_ICC_SRGB_H

#include <stdbool.h>
#include <stddef.h>

/* True when the n bytes at data (borrowed) are a matrix/TRC RGB profile
 * with sRGB's primaries and tone curves: pixels tagged with it are sRGB
 * already.  False for anything else, including malformed bytes. */
bool media_icc_is_srgb(const void *data, size_t n);

#endif
