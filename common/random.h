/* random.h: unpredictable bytes and identifiers from the kernel (getrandom).
 *
 * For keys that must not collide across workers, machines and restarts (a
 * process id or a clock does not do: pids are reused, clocks repeat).
 */
#ifndef SKUGEN_RANDOM_H
#define SKUGEN_RANDOM_H

#include <stddef.h>

#define RANDOM_UUID_LEN 37   /* 36 characters and a NUL */

/* Fill p with n random bytes.  0, or -1 when the kernel gives none. */
int random_bytes(void *p, size_t n);

/* A random (version 4) UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".  0 or -1. */
int random_uuid(char out[RANDOM_UUID_LEN]);

#endif
