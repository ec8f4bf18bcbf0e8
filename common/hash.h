/* hash.h: SHA-256, through OpenSSL's libcrypto (a library made for the job).
 *
 * Digests are shown as 64 lowercase hex characters plus a NUL (HASH_HEX_LEN
 * bytes).  The incremental context lets callers hash several pieces with
 * unambiguous framing (hash_update_field writes a length before the bytes, so
 * "ab"+"c" and "a"+"bc" differ).
 */
#ifndef SKUGEN_HASH_H
#define SKUGEN_HASH_H

#include <stddef.h>

#define HASH_HEX_LEN 65

struct hash_ctx;

/* New context (free with hash_free), NULL on no memory. */
struct hash_ctx *hash_new(void);
void hash_update(struct hash_ctx *h, const void *p, size_t n);
/* Length-prefixed update: a field boundary that cannot be forged. */
void hash_update_field(struct hash_ctx *h, const void *p, size_t n);
void hash_update_str(struct hash_ctx *h, const char *s); /* field; NULL hashes as absent */
/* Finish into hex (HASH_HEX_LEN bytes) and reset the context for reuse. */
void hash_final_hex(struct hash_ctx *h, char hex[HASH_HEX_LEN]);
void hash_free(struct hash_ctx *h);

/* One-shot SHA-256 of n bytes, as hex. */
void sha256_hex(const void *p, size_t n, char hex[HASH_HEX_LEN]);

#endif
