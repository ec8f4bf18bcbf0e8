/* webhook_fal.h: verifying fal's signed webhooks.
 *
 * fal signs every webhook delivery with Ed25519.  The request carries
 *   X-Fal-Webhook-Request-Id, X-Fal-Webhook-User-Id,
 *   X-Fal-Webhook-Timestamp (Unix seconds), X-Fal-Webhook-Signature (hex)
 * and the signed message is
 *   request_id "\n" user_id "\n" timestamp "\n" hex(sha256(raw body)).
 * The public keys come from a JWKS document (keys of kty "OKP", crv
 * "Ed25519", "x" the raw key in base64url), read from a file or fetched from
 * a URL and cached for a refresh interval; a delivery is good when any key
 * verifies it and its timestamp is within WEBHOOK_FAL_SKEW_S of now.
 *
 * Deliveries are told apart by the store, not here: a request id is taken
 * once, the same body again (fal's retry, or a replay) changes nothing, and
 * another body for it is refused; see serve_jobs.c and the
 * webhook_deliveries table; the user id is checked there too
 * (serve.fal_user_id).
 */
#ifndef SKUGEN_WEBHOOK_FAL_H
#define SKUGEN_WEBHOOK_FAL_H

#include <stddef.h>
#include <time.h>

#include "common/err.h"

#define WEBHOOK_FAL_SKEW_S 300

/* The four headers of a delivery, borrowed; a missing one is NULL. */
struct webhook_fal_headers {
	const char *request_id;
	const char *user_id;
	const char *timestamp;
	const char *signature;
};

struct webhook_fal_keys;

/* A key cache over source: an http(s) URL or a file path.  Keys are loaded
 * on first use and again when older than refresh_s (and, at most once a
 * minute, when no key verifies a delivery: fal may have rotated them).
 * Safe to use from many threads.  *out is new: free with
 * webhook_fal_keys_free. */
int webhook_fal_keys_new(struct webhook_fal_keys **out, const char *source, long refresh_s,
			 struct err *e);
void webhook_fal_keys_free(struct webhook_fal_keys *k);

/* Load the keys now (a check at start-up); *n (may be NULL) counts them. */
int webhook_fal_keys_load(struct webhook_fal_keys *k, size_t *n, struct err *e);

/* Parse a JWKS document and count its Ed25519 keys into *n (for tests and
 * diagnostics).  ERR_INPUT naming the key and field that is wrong. */
int webhook_fal_jwks_count(const char *json, size_t len, size_t *n, struct err *e);

enum webhook_fal_result {
	WEBHOOK_FAL_OK = 0,
	WEBHOOK_FAL_MISSING,    /* a header is missing or empty */
	WEBHOOK_FAL_MALFORMED,  /* the timestamp or signature cannot be read */
	WEBHOOK_FAL_STALE,      /* the timestamp is more than the allowed skew away */
	WEBHOOK_FAL_BAD_SIGNATURE,
	WEBHOOK_FAL_NO_KEYS,    /* the keys could not be loaded: our problem, not theirs */
};

/* Verify a delivery at time now.  Returns WEBHOOK_FAL_OK, or the reason it
 * is refused with e saying which header or what was wrong. */
enum webhook_fal_result webhook_fal_verify(struct webhook_fal_keys *k,
					   const struct webhook_fal_headers *h,
					   const void *body, size_t len, time_t now,
					   struct err *e);

#endif
