/* random.c: getrandom(2) for keys and identifiers (see random.h). */
#include "random.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

int random_bytes(void *p, size_t n)
{
	unsigned char *at = p;

	while (n > 0) {
		ssize_t got = getrandom(at, n, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		at += got;
		n -= (size_t)got;
	}
	return 0;
}

int random_uuid(char out[RANDOM_UUID_LEN])
{
	unsigned char b[16];

	if (random_bytes(b, sizeof b) < 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
	snprintf(out, RANDOM_UUID_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
	return 0;
}
