/* webhook_fal.c: fal webhook signatures and the JWKS key cache (see
 * webhook_fal.h).  Ed25519 through OpenSSL's EVP; the keys document through
 * libcurl (a URL) or a file. */
#include "batch/webhook_fal.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/file_read.h"
#include "common/hash.h"

#define ED25519_KEY_LEN 32
#define ED25519_SIG_LEN 64
#define JWKS_MAX_BYTES (1 << 20)
#define JWKS_FETCH_TIMEOUT_S 10
#define JWKS_RETRY_AFTER_FAIL_S 60  /* a failed verify reloads the keys at most this often */

struct webhook_fal_keys {
	pthread_mutex_t lock;
	char *source;
	long refresh_s;
	EVP_PKEY **keys;   /* owned */
	size_t n;
	time_t loaded_at;  /* 0: never */
	time_t tried_at;   /* the last load attempt, good or not */
	bool failed;       /* the last attempt failed */
	char last_error[ERR_MSG_MAX];  /* why the last load failed */
};

static void free_keys(EVP_PKEY **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i]);
	free(keys);
}

/* base64url (RFC 4648 section 5), padding optional.  Returns the decoded
 * length, or -1 on a bad character or length, or when out is too small. */
static long b64url_decode(const char *s, unsigned char *out, size_t cap)
{
	size_t n = strlen(s), len = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i], v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (len >= cap)
				return -1;
			out[len++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)len;
}

/* Strict lowercase-or-uppercase hex of exactly cap bytes. */
static int hex_decode(const char *s, unsigned char *out, size_t cap)
{
	if (strlen(s) != cap * 2)
		return -1;
	for (size_t i = 0; i < cap; i++) {
		int hi = (unsigned char)s[2 * i], lo = (unsigned char)s[2 * i + 1];

		if (!isxdigit(hi) || !isxdigit(lo))
			return -1;
		hi = isdigit(hi) ? hi - '0' : tolower(hi) - 'a' + 10;
		lo = isdigit(lo) ? lo - '0' : tolower(lo) - 'a' + 10;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Parse a JWKS: every Ed25519 key becomes an EVP_PKEY (*keys new, or NULL
 * when keys is NULL: count only).  Keys of other types are skipped; an
 * Ed25519 key that is malformed is an error naming it. */
static int parse_jwks(const char *json, size_t len, EVP_PKEY ***keys, size_t *n, struct err *e)
{
	json_error_t je;
	json_t *root = json_loadb(json, len, 0, &je), *arr, *k;
	EVP_PKEY **out = NULL;
	size_t i, count = 0;
	int rc = -1;

	if (!root) {
		err_set(e, ERR_INPUT, "jwks: not JSON: line %d: %s", je.line, je.text);
		goto cleanup;
	}
	arr = json_object_get(root, "keys");
	if (!json_is_array(arr)) {
		err_set(e, ERR_INPUT, "jwks: \"keys\": expected an array");
		goto cleanup;
	}
	out = calloc(json_array_size(arr) + 1, sizeof *out);
	if (!out) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	json_array_foreach(arr, i, k) {
		const char *kty = json_string_value(json_object_get(k, "kty"));
		const char *crv = json_string_value(json_object_get(k, "crv"));
		const char *x = json_string_value(json_object_get(k, "x"));
		unsigned char raw[ED25519_KEY_LEN + 1];

		if (!json_is_object(k)) {
			err_set(e, ERR_INPUT, "jwks: keys[%zu]: expected an object", i);
			goto cleanup;
		}
		if (!kty || strcmp(kty, "OKP") != 0 || !crv || strcmp(crv, "Ed25519") != 0)
			continue;
		if (!x || b64url_decode(x, raw, sizeof raw) != ED25519_KEY_LEN) {
			err_set(e, ERR_INPUT, "jwks: keys[%zu].x: expected a 32-byte Ed25519 key in base64url", i);
			goto cleanup;
		}
		if (keys) {
			out[count] = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, ED25519_KEY_LEN);
			if (!out[count]) {
				err_set(e, ERR_INPUT, "jwks: keys[%zu].x: not an Ed25519 public key", i);
				goto cleanup;
			}
		}
		count++;
	}
	if (count == 0) {
		err_set(e, ERR_INPUT, "jwks: no Ed25519 key (kty \"OKP\", crv \"Ed25519\")");
		goto cleanup;
	}
	if (keys) {
		*keys = out;
		out = NULL;
	}
	*n = count;
	rc = 0;
cleanup:
	if (out)
		free_keys(out, count);
	json_decref(root);
	return rc;
}

int webhook_fal_jwks_count(const char *json, size_t len, size_t *n, struct err *e)
{
	return parse_jwks(json, len, NULL, n, e);
}

static size_t fetch_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;

	if (b->len + size * nmemb > JWKS_MAX_BYTES || buf_append(b, p, size * nmemb) < 0)
		return 0;
	return size * nmemb;
}

static int fetch_url(const char *url, struct buf *b, struct err *e)
{
	CURL *c = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	long status = 0;

	if (!c)
		return err_set(e, ERR_NOMEM, "jwks: cannot start libcurl");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)JWKS_FETCH_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		return err_set(e, ERR_IO, "jwks: cannot fetch %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (status != 200)
		return err_set(e, ERR_IO, "jwks: %s answered HTTP %ld", url, status);
	return 0;
}

int webhook_fal_keys_new(struct webhook_fal_keys **out, const char *source, long refresh_s,
			 struct err *e)
{
	struct webhook_fal_keys *k = calloc(1, sizeof *k);

	if (!k || !(k->source = strdup(source))) {
		free(k);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	pthread_mutex_init(&k->lock, NULL);
	k->refresh_s = refresh_s > 0 ? refresh_s : 3600;
	*out = k;
	return 0;
}

void webhook_fal_keys_free(struct webhook_fal_keys *k)
{
	if (!k)
		return;
	free_keys(k->keys, k->n);
	pthread_mutex_destroy(&k->lock);
	free(k->source);
	free(k);
}

/* Load under the lock at time now (the caller's clock, as verify's): on
 * failure the old keys stay in use. */
static int load_locked(struct webhook_fal_keys *k, time_t now, struct err *e)
{
	struct buf b = BUF_INIT;
	EVP_PKEY **keys = NULL;
	size_t n = 0;
	int rc = -1;

	k->tried_at = now;
	k->failed = true;
	if (strncmp(k->source, "http://", 7) == 0 || strncmp(k->source, "https://", 8) == 0) {
		if (fetch_url(k->source, &b, e) < 0)
			goto cleanup;
	} else if (file_read_all(k->source, &b, e) < 0) {
		err_prefix(e, "jwks");
		goto cleanup;
	}
	if (parse_jwks(buf_str(&b), b.len, &keys, &n, e) < 0) {
		err_prefix(e, "%s", k->source);
		goto cleanup;
	}
	k->last_error[0] = '\0';
	k->failed = false;
	free_keys(k->keys, k->n);
	k->keys = keys;
	k->n = n;
	k->loaded_at = now;
	rc = 0;
cleanup:
	if (rc < 0 && e)
		snprintf(k->last_error, sizeof k->last_error, "%s", e->msg);
	buf_free(&b);
	return rc;
}

int webhook_fal_keys_load(struct webhook_fal_keys *k, size_t *n, struct err *e)
{
	int rc;

	pthread_mutex_lock(&k->lock);
	rc = load_locked(k, time(NULL), e);
	if (rc == 0 && n)
		*n = k->n;
	pthread_mutex_unlock(&k->lock);
	return rc;
}

static bool verify_one(EVP_PKEY *key, const unsigned char *sig, const char *msg, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;

	if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1)
		ok = EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, (const unsigned char *)msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Try every key, loading them when they are missing or old, and once more
 * (fresh) when none verifies and the last attempt is a while ago. */
static enum webhook_fal_result verify_keys(struct webhook_fal_keys *k, const unsigned char *sig,
					   const char *msg, size_t len, time_t now, struct err *e)
{
	enum webhook_fal_result res = WEBHOOK_FAL_BAD_SIGNATURE;
	struct err le;

	pthread_mutex_lock(&k->lock);
	/* With no keys, a source that just failed is not asked again at once:
	 * a dead URL must not cost every delivery a fetch timeout. */
	if (!k->n && k->failed && now - k->tried_at < JWKS_RETRY_AFTER_FAIL_S) {
		err_set(e, ERR_IO, "%s", k->last_error[0] ? k->last_error : "jwks: no keys loaded");
		res = WEBHOOK_FAL_NO_KEYS;
		goto out;
	}
	/* A refresh that failed is not tried again before the retry interval
	 * either: with keys loaded, every delivery would otherwise wait for a
	 * dead URL's timeout, one at a time under the lock. */
	if (!k->n || (now - k->loaded_at >= k->refresh_s &&
		      (!k->failed || now - k->tried_at >= JWKS_RETRY_AFTER_FAIL_S))) {
		/* A failed load keeps the old keys; with none, refuse. */
		if (load_locked(k, now, &le) < 0 && !k->n) {
			err_set(e, ERR_IO, "%s", le.msg);
			res = WEBHOOK_FAL_NO_KEYS;
			goto out;
		}
	}
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < k->n; i++)
			if (verify_one(k->keys[i], sig, msg, len)) {
				res = WEBHOOK_FAL_OK;
				goto out;
			}
		if (round || now - k->tried_at < JWKS_RETRY_AFTER_FAIL_S || load_locked(k, now, &le) < 0)
			break;
	}
	err_set(e, ERR_INPUT, "x-fal-webhook-signature: no key of the jwks verifies it");
out:
	pthread_mutex_unlock(&k->lock);
	return res;
}

enum webhook_fal_result webhook_fal_verify(struct webhook_fal_keys *k,
					   const struct webhook_fal_headers *h,
					   const void *body, size_t len, time_t now,
					   struct err *e)
{
	static const char *const names[] = { "x-fal-webhook-request-id", "x-fal-webhook-user-id",
					     "x-fal-webhook-timestamp", "x-fal-webhook-signature" };
	const char *values[] = { h->request_id, h->user_id, h->timestamp, h->signature };
	unsigned char sig[ED25519_SIG_LEN];
	char body_hex[HASH_HEX_LEN], *end;
	struct buf msg = BUF_INIT;
	enum webhook_fal_result res;
	long long ts;

	for (size_t i = 0; i < 4; i++)
		if (!values[i] || !*values[i]) {
			err_set(e, ERR_INPUT, "%s: missing (an unsigned request)", names[i]);
			return WEBHOOK_FAL_MISSING;
		}
	errno = 0;
	ts = strtoll(h->timestamp, &end, 10);
	if (errno || *end || end == h->timestamp || !isdigit((unsigned char)h->timestamp[0])) {
		err_set(e, ERR_INPUT, "x-fal-webhook-timestamp: expected Unix seconds");
		return WEBHOOK_FAL_MALFORMED;
	}
	if (ts < (long long)now - WEBHOOK_FAL_SKEW_S || ts > (long long)now + WEBHOOK_FAL_SKEW_S) {
		err_set(e, ERR_INPUT, "x-fal-webhook-timestamp: %lld is %lld s from now, more than %d",
			ts, ts > (long long)now ? ts - (long long)now : (long long)now - ts, WEBHOOK_FAL_SKEW_S);
		return WEBHOOK_FAL_STALE;
	}
	if (hex_decode(h->signature, sig, sizeof sig) < 0) {
		err_set(e, ERR_INPUT, "x-fal-webhook-signature: expected %d hex digits", ED25519_SIG_LEN * 2);
		return WEBHOOK_FAL_MALFORMED;
	}
	sha256_hex(body, len, body_hex);
	if (buf_printf(&msg, "%s\n%s\n%s\n%s", h->request_id, h->user_id, h->timestamp, body_hex) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		return WEBHOOK_FAL_NO_KEYS;
	}
	res = verify_keys(k, sig, msg.data, msg.len, now, e);
	buf_free(&msg);
	return res;
}
