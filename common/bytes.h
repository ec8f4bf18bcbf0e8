/* bytes.h: big-endian integers in byte buffers (ICC profiles, MP4 boxes,
 * wire protocols).  The caller has checked that the bytes are there. */
#ifndef SKUGEN_BYTES_H
#define SKUGEN_BYTES_H

#include <stdint.h>

static inline uint16_t bytes_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t bytes_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void bytes_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
