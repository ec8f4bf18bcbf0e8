/* hash.c: SHA-256 over OpenSSL EVP (see hash.h). */
#include "hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct hash_ctx {
	EVP_MD_CTX *md;
};

struct hash_ctx *hash_new(void)
{
	struct hash_ctx *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->md = EVP_MD_CTX_new();
	if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
		hash_free(h);
		return NULL;
	}
	return h;
}

void hash_update(struct hash_ctx *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->md, p, n);
}

void hash_update_field(struct hash_ctx *h, const void *p, size_t n)
{
	unsigned char len[8];
	uint64_t v = n;

	for (int i = 7; i >= 0; i--, v >>= 8)
		len[i] = (unsigned char)(v & 0xff);
	EVP_DigestUpdate(h->md, len, sizeof len);
	EVP_DigestUpdate(h->md, p, n);
}

void hash_update_str(struct hash_ctx *h, const char *s)
{
	static const unsigned char absent[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (!s)
		EVP_DigestUpdate(h->md, absent, sizeof absent);
	else
		hash_update_field(h, s, strlen(s));
}

static void to_hex(const unsigned char *d, unsigned n, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (unsigned i = 0; i < n; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * n] = '\0';
}

void hash_final_hex(struct hash_ctx *h, char hex[HASH_HEX_LEN])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_DigestFinal_ex(h->md, d, &n);
	to_hex(d, n, hex);
	EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
}

void hash_free(struct hash_ctx *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

void sha256_hex(const void *p, size_t n, char hex[HASH_HEX_LEN])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
	to_hex(d, len, hex);
}
