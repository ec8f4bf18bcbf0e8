/* test_webhook_fal.c: fal webhook signatures (batch/webhook_fal.c) with
 * Ed25519 keys made here, and the webhook handler of `skugen serve`
 * (batch/serve_jobs.c) against a real Postgres: a verified delivery is kept
 * once (fal's retry of it, or a replay, gets 200 and changes nothing;
 * another body for the request id is refused), a delivery for another fal
 * user is refused when serve.fal_user_id is set, a waiting task takes the
 * answer, and an answer that came before its task was waiting is taken when
 * it starts waiting.
 *
 * The store tests need SKUGEN_TEST_DSN (tests/run exports it); they work in
 * a database of their own, t_webhook_<pid>, dropped at the end.  Last, the
 * fal provider's "webhook_url" reaches fal's submit as ?fal_webhook=. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>

#include "batch/serve_int.h"
#include "common/hash.h"
#include "providers/provider.h"

static EVP_PKEY *key_a, *key_b;       /* key_a is in the JWKS, key_b is not */
static char jwks_path[256], jwks_ab_path[256];
static struct webhook_fal_keys *keys;  /* over jwks_path */

/* ---- helpers ----------------------------------------------------------- */

static EVP_PKEY *keygen(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *k = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* The raw public key as base64url without padding (RFC 7517 "x"). */
static void b64url_x(EVP_PKEY *k, char out[64])
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[32];
	size_t len = sizeof raw, n = 0;
	uint32_t acc = 0;
	int bits = 0;

	assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &len), 1);
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = abc[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[n++] = abc[(acc << (6 - bits)) & 63];
	out[n] = '\0';
}

static void write_jwks(const char *path, EVP_PKEY *const *ks, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	/* A key of another type first: it is skipped. */
	fprintf(f, "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}");
	for (size_t i = 0; i < n; i++) {
		char x[64];

		b64url_x(ks[i], x);
		fprintf(f, ", {\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"kid\": \"k%zu\", \"x\": \"%s\"}", i, x);
	}
	fprintf(f, "]}\n");
	fclose(f);
}

/* Sign a delivery as fal does; the headers point into the strings given. */
struct delivery {
	char request_id[64], user_id[32], timestamp[32], signature[129];
	struct webhook_fal_headers h;
};

static void sign(struct delivery *d, EVP_PKEY *k, const char *request_id, long long ts, const char *body)
{
	char body_hex[HASH_HEX_LEN], msg[512];
	unsigned char sig[64];
	size_t siglen = sizeof sig;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	snprintf(d->request_id, sizeof d->request_id, "%s", request_id);
	snprintf(d->user_id, sizeof d->user_id, "user-42");
	snprintf(d->timestamp, sizeof d->timestamp, "%lld", ts);
	sha256_hex(body, strlen(body), body_hex);
	snprintf(msg, sizeof msg, "%s\n%s\n%s\n%s", d->request_id, d->user_id, d->timestamp, body_hex);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(ctx);
	for (size_t i = 0; i < siglen; i++)
		snprintf(d->signature + 2 * i, 3, "%02x", sig[i]);
	d->h = (struct webhook_fal_headers){ d->request_id, d->user_id, d->timestamp, d->signature };
}

static enum webhook_fal_result verify(struct webhook_fal_keys *k, const struct delivery *d, const char *body,
				      time_t now, struct err *e)
{
	return webhook_fal_verify(k, &d->h, body, strlen(body), now, e);
}

static const char body_ok[] = "{\"request_id\": \"req-1\", \"status\": \"OK\", \"payload\": {\"images\": []}}";

/* ---- signatures -------------------------------------------------------- */

static void test_valid(void **state)
{
	struct delivery d;
	struct err e;
	time_t now = time(NULL);

	(void)state;
	sign(&d, key_a, "req-1", now, body_ok);
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_OK);
	/* Within the allowed skew on either side. */
	sign(&d, key_a, "req-1", now - 299, body_ok);
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_OK);
	sign(&d, key_a, "req-1", now + 299, body_ok);
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_OK);
	/* Upper-case hex is hex too. */
	for (char *p = d.signature; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_OK);
}

static void test_wrong_key(void **state)
{
	struct delivery d;
	struct err e;
	time_t now = time(NULL);

	(void)state;
	sign(&d, key_b, "req-1", now, body_ok);
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_BAD_SIGNATURE);
	assert_non_null(strstr(e.msg, "x-fal-webhook-signature"));
}

static void test_any_key_of_the_set(void **state)
{
	struct webhook_fal_keys *both;
	struct delivery d;
	struct err e;
	size_t n = 0;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(webhook_fal_keys_new(&both, jwks_ab_path, 3600, &e), 0);
	assert_int_equal(webhook_fal_keys_load(both, &n, &e), 0);
	assert_int_equal(n, 2);
	sign(&d, key_b, "req-1", now, body_ok);
	assert_int_equal(verify(both, &d, body_ok, now, &e), WEBHOOK_FAL_OK);
	sign(&d, key_a, "req-1", now, body_ok);
	assert_int_equal(verify(both, &d, body_ok, now, &e), WEBHOOK_FAL_OK);
	webhook_fal_keys_free(both);
}

static void test_altered(void **state)
{
	static const char altered[] = "{\"request_id\": \"req-1\", \"status\": \"OK\", \"payload\": {\"images\": [1]}}";
	struct delivery d;
	struct err e;
	time_t now = time(NULL);

	(void)state;
	sign(&d, key_a, "req-1", now, body_ok);
	assert_int_equal(verify(keys, &d, altered, now, &e), WEBHOOK_FAL_BAD_SIGNATURE);
	/* Each signed header counts too. */
	d.h.request_id = "req-2";
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_BAD_SIGNATURE);
	d.h.request_id = d.request_id;
	d.h.user_id = "user-43";
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_BAD_SIGNATURE);
	d.h.user_id = d.user_id;
	/* A timestamp moved by a second, still fresh, breaks the signature. */
	snprintf(d.timestamp, sizeof d.timestamp, "%lld", (long long)now - 1);
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_BAD_SIGNATURE);
	/* One flipped bit of the signature. */
	sign(&d, key_a, "req-1", now, body_ok);
	d.signature[10] = d.signature[10] == '0' ? '1' : '0';
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_BAD_SIGNATURE);
}

static void test_stale(void **state)
{
	struct delivery d;
	struct err e;
	time_t now = time(NULL);

	(void)state;
	sign(&d, key_a, "req-1", now - 301, body_ok);
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_STALE);
	assert_non_null(strstr(e.msg, "x-fal-webhook-timestamp"));
	assert_non_null(strstr(e.msg, "301 s"));
	sign(&d, key_a, "req-1", now + 301, body_ok);
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_STALE);
}

static void test_missing_headers(void **state)
{
	static const char *const names[] = { "request-id", "user-id", "timestamp", "signature" };
	struct delivery d;
	struct err e;
	time_t now = time(NULL);

	(void)state;
	for (int i = 0; i < 4; i++) {
		const char **field = i == 0 ? &d.h.request_id : i == 1 ? &d.h.user_id
				   : i == 2 ? &d.h.timestamp : &d.h.signature;

		sign(&d, key_a, "req-1", now, body_ok);
		*field = NULL;
		assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_MISSING);
		assert_non_null(strstr(e.msg, names[i]));
		*field = "";
		assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_MISSING);
	}
}

static void test_bad_hex(void **state)
{
	struct delivery d;
	struct err e;
	time_t now = time(NULL);

	(void)state;
	sign(&d, key_a, "req-1", now, body_ok);
	d.signature[5] = 'g';
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_MALFORMED);
	assert_non_null(strstr(e.msg, "128 hex digits"));
	sign(&d, key_a, "req-1", now, body_ok);
	d.signature[7] = (char)0xc3;  /* a byte that is not ASCII */
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_MALFORMED);
	sign(&d, key_a, "req-1", now, body_ok);
	d.signature[127] = '\0';  /* odd length */
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_MALFORMED);
	d.signature[126] = '\0';  /* a byte short */
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_MALFORMED);
	sign(&d, key_a, "req-1", now, body_ok);
	d.h.timestamp = "12abc";
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_MALFORMED);
	d.h.timestamp = "-5";
	assert_int_equal(verify(keys, &d, body_ok, now, &e), WEBHOOK_FAL_MALFORMED);
}

static void test_jwks_documents(void **state)
{
	static const char *const bad[] = {
		"not json",
		"{\"keys\": 3}",
		"{\"keys\": []}",
		"{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"too-short\"}]}",
		"{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\"}]}",
		"{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\"}]}",
	};
	struct webhook_fal_keys *k;
	struct delivery d;
	struct err e;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(webhook_fal_jwks_count(bad[i], strlen(bad[i]), &n, &e), -1);
		assert_non_null(strstr(e.msg, "jwks"));
	}
	/* No keys to be had: the server's problem, not the sender's. */
	assert_int_equal(webhook_fal_keys_new(&k, "/nonexistent/jwks.json", 3600, &e), 0);
	assert_int_equal(webhook_fal_keys_load(k, &n, &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent/jwks.json"));
	sign(&d, key_a, "req-1", time(NULL), body_ok);
	assert_int_equal(verify(k, &d, body_ok, time(NULL), &e), WEBHOOK_FAL_NO_KEYS);
	webhook_fal_keys_free(k);
	webhook_fal_keys_free(NULL);
}

/* fal rotates keys: a delivery no cached key verifies makes the cache read
 * the keys again (at most once a minute). */
static void test_rotation(void **state)
{
	char path[256];
	struct webhook_fal_keys *k;
	struct delivery d;
	struct err e;
	time_t now = time(NULL);

	(void)state;
	snprintf(path, sizeof path, "/tmp/test_webhook_rot_%d.json", (int)getpid());
	write_jwks(path, &key_a, 1);
	assert_int_equal(webhook_fal_keys_new(&k, path, 3600, &e), 0);
	assert_int_equal(webhook_fal_keys_load(k, NULL, &e), 0);
	write_jwks(path, &key_b, 1);
	sign(&d, key_b, "req-1", now, body_ok);
	/* Just loaded: no second fetch yet. */
	assert_int_equal(verify(k, &d, body_ok, now, &e), WEBHOOK_FAL_BAD_SIGNATURE);
	/* Two minutes on, the miss reloads and the new key verifies. */
	sign(&d, key_b, "req-1", now + 120, body_ok);
	assert_int_equal(verify(k, &d, body_ok, now + 120, &e), WEBHOOK_FAL_OK);
	webhook_fal_keys_free(k);
	unlink(path);
}

/* Keys older than the refresh interval are read again: a key dropped from
 * the set stops verifying. */
static void test_refresh(void **state)
{
	char path[256];
	struct webhook_fal_keys *k;
	struct delivery d;
	struct err e;
	time_t now = time(NULL);

	(void)state;
	snprintf(path, sizeof path, "/tmp/test_webhook_refresh_%d.json", (int)getpid());
	write_jwks(path, &key_a, 1);
	assert_int_equal(webhook_fal_keys_new(&k, path, 10, &e), 0);
	sign(&d, key_a, "req-1", now, body_ok);
	assert_int_equal(verify(k, &d, body_ok, now, &e), WEBHOOK_FAL_OK);
	write_jwks(path, &key_b, 1);
	sign(&d, key_a, "req-1", now + 5, body_ok);
	assert_int_equal(verify(k, &d, body_ok, now + 5, &e), WEBHOOK_FAL_OK);  /* cached */
	sign(&d, key_a, "req-1", now + 20, body_ok);
	assert_int_equal(verify(k, &d, body_ok, now + 20, &e), WEBHOOK_FAL_BAD_SIGNATURE);
	webhook_fal_keys_free(k);
	unlink(path);
}

/* ---- keys from a URL ---------------------------------------------------- */

static char served_jwks[4096];
static unsigned served_status = 200;
static int served_big, served_count;

static enum MHD_Result serve_jwks(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	(void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
	served_count++;
	if (served_big) {
		size_t n = 2 << 20;
		char *big = malloc(n);

		memset(big, ' ', n);
		resp = MHD_create_response_from_buffer(n, big, MHD_RESPMEM_MUST_FREE);
	} else {
		resp = MHD_create_response_from_buffer(strlen(served_jwks), served_jwks, MHD_RESPMEM_MUST_COPY);
	}
	rc = MHD_queue_response(c, served_status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static void test_keys_from_url(void **state)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve_jwks, NULL,
						MHD_OPTION_END);
	char url[128], x[64];
	struct webhook_fal_keys *k;
	struct delivery dl;
	struct err e;
	size_t n = 0;
	time_t now = time(NULL);

	(void)state;
	assert_non_null(d);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/.well-known/jwks.json",
		 MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
	b64url_x(key_a, x);
	snprintf(served_jwks, sizeof served_jwks, "{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"%s\"}]}", x);
	assert_int_equal(webhook_fal_keys_new(&k, url, 3600, &e), 0);
	assert_int_equal(webhook_fal_keys_load(k, &n, &e), 0);
	assert_int_equal(n, 1);
	sign(&dl, key_a, "req-u", now, body_ok);
	assert_int_equal(verify(k, &dl, body_ok, now, &e), WEBHOOK_FAL_OK);
	/* A failed fetch keeps the keys it had, and says why. */
	served_status = 503;
	assert_int_equal(webhook_fal_keys_load(k, &n, &e), -1);
	assert_non_null(strstr(e.msg, "HTTP 503"));
	assert_int_equal(verify(k, &dl, body_ok, now, &e), WEBHOOK_FAL_OK);
	served_status = 200;
	served_big = 1;
	assert_int_equal(webhook_fal_keys_load(k, &n, &e), -1);
	assert_non_null(strstr(e.msg, "cannot fetch"));
	served_big = 0;
	webhook_fal_keys_free(k);

	/* No keys and the URL down: a delivery is refused (503 upstream), and
	 * the next ones in the minute that follows do not fetch again. */
	served_status = 503;
	assert_int_equal(webhook_fal_keys_new(&k, url, 3600, &e), 0);
	served_count = 0;
	assert_int_equal(verify(k, &dl, body_ok, now, &e), WEBHOOK_FAL_NO_KEYS);
	assert_non_null(strstr(e.msg, "HTTP 503"));
	assert_int_equal(verify(k, &dl, body_ok, now, &e), WEBHOOK_FAL_NO_KEYS);
	assert_non_null(strstr(e.msg, "HTTP 503"));
	assert_int_equal(served_count, 1);
	served_status = 200;
	sign(&dl, key_a, "req-u", now + 61, body_ok);
	assert_int_equal(verify(k, &dl, body_ok, now + 61, &e), WEBHOOK_FAL_OK);
	assert_int_equal(served_count, 2);
	webhook_fal_keys_free(k);
	MHD_stop_daemon(d);
}

/* Keys loaded, then the URL fails when they are due for a refresh: they stay
 * in use, and the dead URL is asked once per retry interval, not by every
 * delivery (each would wait for its timeout, one at a time under the lock). */
static void test_failed_refresh_throttled(void **state)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve_jwks, NULL,
						MHD_OPTION_END);
	char url[128], x[64];
	struct webhook_fal_keys *k;
	struct delivery dl;
	struct err e;
	time_t now;

	(void)state;
	assert_non_null(d);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/.well-known/jwks.json",
		 MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
	b64url_x(key_a, x);
	snprintf(served_jwks, sizeof served_jwks, "{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"%s\"}]}", x);
	served_status = 200;
	assert_int_equal(webhook_fal_keys_new(&k, url, 1, &e), 0);  /* refresh after 1 s */
	assert_int_equal(webhook_fal_keys_load(k, NULL, &e), 0);
	served_status = 503;
	served_count = 0;
	/* Two seconds on (the clock is the caller's): the keys are due. */
	now = time(NULL) + 2;
	sign(&dl, key_a, "req-t", now, body_ok);
	for (int i = 0; i < 20; i++)
		assert_int_equal(verify(k, &dl, body_ok, now, &e), WEBHOOK_FAL_OK);
	assert_int_equal(served_count, 1);
	/* A minute later it is asked again, once. */
	now += 61;
	sign(&dl, key_a, "req-t", now, body_ok);
	for (int i = 0; i < 20; i++)
		assert_int_equal(verify(k, &dl, body_ok, now, &e), WEBHOOK_FAL_OK);
	assert_int_equal(served_count, 2);
	served_status = 200;
	webhook_fal_keys_free(k);
	MHD_stop_daemon(d);
}

/* ---- the handler and the store ----------------------------------------- */

static char dbname[64], db_dsn[2048];
static PGconn *db;
static struct settings set;
static struct serve srv;

static char *one(const char *q)
{
	PGresult *r = PQexec(db, q);
	static char v[4096];

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	snprintf(v, sizeof v, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return v;
}

static int store_setup(void **state)
{
	const char *admin_dsn = getenv("SKUGEN_TEST_DSN");
	struct store *st;
	struct err e;
	PGconn *admin;
	char q[256];

	(void)state;
	if (!admin_dsn || !*admin_dsn) {
		fprintf(stderr, "SKUGEN_TEST_DSN is not set: the webhook store tests need a Postgres "
			"(run them through tests/run)\n");
		return -1;
	}
	admin = PQconnectdb(admin_dsn);
	if (PQstatus(admin) != CONNECTION_OK)
		return -1;
	snprintf(dbname, sizeof dbname, "t_webhook_%d", (int)getpid());
	PQclear(PQexec(admin, "set client_min_messages = warning"));
	snprintf(q, sizeof q, "drop database if exists %s", dbname);
	PQclear(PQexec(admin, q));
	snprintf(q, sizeof q, "create database %s", dbname);
	PQclear(PQexec(admin, q));
	PQfinish(admin);
	snprintf(db_dsn, sizeof db_dsn, "%s dbname=%s", admin_dsn, dbname);
	set.dsn = db_dsn;
	srv.o.settings = &set;
	srv.keys = keys;
	pthread_mutex_init(&srv.pool_lock, NULL);
	srv.pool_cap = 2;
	srv.pool = calloc(srv.pool_cap, sizeof *srv.pool);
	/* Migrate, as the server does at start. */
	st = serve_store_get(&srv, &e);
	if (!st) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	serve_store_put(&srv, st, true);
	db = PQconnectdb(db_dsn);
	return PQstatus(db) == CONNECTION_OK ? 0 : -1;
}

static int store_teardown(void **state)
{
	const char *admin_dsn = getenv("SKUGEN_TEST_DSN");
	PGconn *admin;
	char q[256];

	(void)state;
	PQfinish(db);
	for (size_t i = 0; i < srv.pool_len; i++)
		store_close(srv.pool[i]);
	free(srv.pool);
	admin = PQconnectdb(admin_dsn);
	snprintf(q, sizeof q, "drop database if exists %s", dbname);
	PQclear(PQexec(admin, q));
	PQfinish(admin);
	return 0;
}

/* Whether a NOTIFY on the queue's channel reached db since the last call
 * (waiting up to wait_ms for one to arrive). */
static bool notified_within(int wait_ms)
{
	bool any = false;

	for (int waited = 0;; waited += 10) {
		PGnotify *n;

		PQconsumeInput(db);
		while ((n = PQnotifies(db))) {
			any |= strcmp(n->relname, "skugen_tasks") == 0;
			PQfreemem(n);
		}
		if (any || waited >= wait_ms)
			return any;
		usleep(10 * 1000);
	}
}

static bool notified(void)
{
	return notified_within(2000);
}

static long new_waiting_task(const char *sku, const char *request_id, const char *state)
{
	char q[1024];

	one("insert into skugen.runs (host, pid, skugen_version) values ('t', 1, 't')");
	snprintf(q, sizeof q,
		 "insert into skugen.tasks (run_id, sku, output, locale, fingerprint, state, generator,"
		 " remote_request_id) values ((select max(id) from skugen.runs), '%s', 'image', 'en_US',"
		 " 'fp-%s', '%s', 'fal', '%s') returning id", sku, sku, state, request_id);
	return atol(one(q));
}

static unsigned deliver(const struct delivery *d, const char *body, struct serve_reply *r)
{
	memset(r, 0, sizeof *r);
	serve_webhook_fal(&srv, &d->h, body, strlen(body), r);
	return r->status;
}

static void test_store_completes_and_refuses_replays(void **state)
{
	static const char body[] = "{\"request_id\": \"req-w1\", \"status\": \"OK\", \"payload\": {\"images\": [{\"url\": \"u\"}]}}";
	struct delivery d;
	struct serve_reply r;
	char q[256];
	long task = new_waiting_task("W-1", "req-w1", "waiting");

	(void)state;
	one("listen skugen_tasks");
	notified_within(0);
	sign(&d, key_a, "req-w1", time(NULL), body);
	assert_int_equal(deliver(&d, body, &r), 200);
	assert_int_equal(json_integer_value(json_object_get(r.body, "tasks")), 1);
	json_decref(r.body);
	assert_true(notified());  /* idle workers wake */
	snprintf(q, sizeof q, "select state || ' ' || (remote_result->'payload'->'images'->0->>'url')"
		 " from skugen.tasks where id = %ld", task);
	assert_string_equal(one(q), "queued u");
	assert_string_equal(one("select count(*) from skugen.webhook_deliveries where request_id = 'req-w1'"), "1");
	assert_int_equal(atol(one("select task_id from skugen.webhook_deliveries where request_id = 'req-w1'")), task);
}

static const char *error_message(const struct serve_reply *r)
{
	return json_string_value(json_object_get(json_object_get(r->body, "error"), "message"));
}

/* fal retries a delivery that got no 2xx (our 200 may have been lost): the
 * same request id and body, signed again.  It gets 200 and changes nothing;
 * so does a captured delivery replayed as it was.  Another body for a
 * request id already taken is refused. */
static void test_replay(void **state)
{
	static const char body[] = "{\"request_id\": \"req-r1\", \"status\": \"OK\", \"payload\": {}}";
	static const char other[] = "{\"request_id\": \"req-r1\", \"status\": \"OK\", \"payload\": {\"x\": 1}}";
	struct delivery d, again;
	struct serve_reply r;
	char q[256], before[256], sha[HASH_HEX_LEN];
	long task = new_waiting_task("R-1", "req-r1", "waiting");
	time_t now = time(NULL);

	(void)state;
	sign(&d, key_a, "req-r1", now - 5, body);
	assert_int_equal(deliver(&d, body, &r), 200);
	assert_int_equal(json_integer_value(json_object_get(r.body, "tasks")), 1);
	json_decref(r.body);
	/* A worker has taken the task meanwhile. */
	snprintf(q, sizeof q, "update skugen.tasks set state = 'running' where id = %ld", task);
	one(q);
	snprintf(q, sizeof q, "select state || ' ' || remote_at from skugen.tasks where id = %ld", task);
	snprintf(before, sizeof before, "%s", one(q));
	one("listen skugen_tasks");
	notified_within(0);

	/* The same delivery again, and fal's retry of it (new timestamp, new
	 * signature): 200, already received, nothing stored or queued. */
	assert_int_equal(deliver(&d, body, &r), 200);
	assert_true(json_is_true(json_object_get(r.body, "already_received")));
	assert_int_equal(json_integer_value(json_object_get(r.body, "tasks")), 0);
	json_decref(r.body);
	sign(&again, key_a, "req-r1", now, body);
	assert_string_not_equal(again.signature, d.signature);
	assert_int_equal(deliver(&again, body, &r), 200);
	assert_true(json_is_true(json_object_get(r.body, "already_received")));
	json_decref(r.body);
	assert_string_equal(one("select count(*) from skugen.webhook_deliveries where request_id = 'req-r1'"), "1");
	assert_string_equal(one(q), before);
	assert_false(notified_within(200));

	/* Another body for the request id, signed by fal: refused, not stored. */
	sign(&again, key_a, "req-r1", now, other);
	assert_int_equal(deliver(&again, other, &r), 409);
	assert_non_null(strstr(error_message(&r), "req-r1"));
	assert_non_null(strstr(error_message(&r), "another body"));
	json_decref(r.body);
	/* A captured signature over another body does not verify. */
	again = d;
	again.h = (struct webhook_fal_headers){ again.request_id, again.user_id, again.timestamp, again.signature };
	assert_int_equal(deliver(&again, other, &r), 401);
	json_decref(r.body);
	assert_string_equal(one("select count(*) from skugen.webhook_deliveries where request_id = 'req-r1'"), "1");
	sha256_hex(body, strlen(body), sha);
	assert_string_equal(one("select body_sha256 from skugen.webhook_deliveries where request_id = 'req-r1'"), sha);
	assert_string_equal(one(q), before);
	assert_false(notified_within(200));

	/* Unsigned, badly signed or stale deliveries never reach the store. */
	sign(&d, key_b, "req-r2", time(NULL), body);
	assert_int_equal(deliver(&d, body, &r), 401);
	json_decref(r.body);
	sign(&d, key_a, "req-r2", time(NULL) - 400, body);
	assert_int_equal(deliver(&d, body, &r), 401);
	json_decref(r.body);
	d.h.signature = NULL;
	assert_int_equal(deliver(&d, body, &r), 401);
	json_decref(r.body);
	assert_string_equal(one("select count(*) from skugen.webhook_deliveries where request_id = 'req-r2'"), "0");
	/* Signed but not JSON: refused with the field. */
	sign(&d, key_a, "req-r3", time(NULL), "not json");
	assert_int_equal(deliver(&d, "not json", &r), 400);
	json_decref(r.body);
}

/* serve.fal_user_id: a delivery fal signed for another user is refused
 * (403) and stored nowhere; unset, any user id is taken. */
static void test_user_id(void **state)
{
	static const char body[] = "{\"request_id\": \"req-u1\", \"status\": \"OK\", \"payload\": {}}";
	struct delivery d;
	struct serve_reply r;
	char q[256];
	long task = new_waiting_task("U-1", "req-u1", "waiting");

	(void)state;
	sign(&d, key_a, "req-u1", time(NULL), body);  /* user-42 */
	srv.o.fal_user_id = "user-7";
	assert_int_equal(deliver(&d, body, &r), 403);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "error"), "field")),
			    "x-fal-webhook-user-id");
	assert_non_null(strstr(error_message(&r), "user-42"));
	assert_null(strstr(error_message(&r), "user-7"));  /* ours is not told */
	json_decref(r.body);
	assert_string_equal(one("select count(*) from skugen.webhook_deliveries where request_id = 'req-u1'"), "0");
	snprintf(q, sizeof q, "select state from skugen.tasks where id = %ld", task);
	assert_string_equal(one(q), "waiting");
	srv.o.fal_user_id = "user-42";
	assert_int_equal(deliver(&d, body, &r), 200);
	assert_int_equal(json_integer_value(json_object_get(r.body, "tasks")), 1);
	json_decref(r.body);
	srv.o.fal_user_id = NULL;
	sign(&d, key_a, "req-u2", time(NULL), body);
	assert_int_equal(deliver(&d, body, &r), 200);
	json_decref(r.body);
}

/* The answer may come before the worker has marked its task waiting. */
static void test_early_webhook(void **state)
{
	static const char body[] = "{\"request_id\": \"req-e1\", \"status\": \"OK\", \"payload\": {\"n\": 7}}";
	struct delivery d;
	struct serve_reply r;
	char q[256];
	long task = new_waiting_task("E-1", "req-e1", "running");

	(void)state;
	sign(&d, key_a, "req-e1", time(NULL), body);
	assert_int_equal(deliver(&d, body, &r), 200);
	assert_int_equal(json_integer_value(json_object_get(r.body, "tasks")), 0);
	json_decref(r.body);
	snprintf(q, sizeof q, "select state from skugen.tasks where id = %ld", task);
	assert_string_equal(one(q), "running");
	notified_within(0);
	snprintf(q, sizeof q, "update skugen.tasks set state = 'waiting' where id = %ld", task);
	one(q);
	assert_true(notified());
	snprintf(q, sizeof q, "select state || ' ' || (remote_result->'payload'->>'n') from skugen.tasks where id = %ld", task);
	assert_string_equal(one(q), "queued 7");
	snprintf(q, sizeof q, "select task_id from skugen.webhook_deliveries where request_id = 'req-e1'");
	assert_int_equal(atol(one(q)), task);
}

/* ---- the submit option ------------------------------------------------- */

static char captured[1024];

/* A stand-in for fal's queue: it notes the path and the fal_webhook query
 * argument of the submit, and refuses it (422 is not retried). */
static enum MHD_Result capture(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	static int seen;
	static char body[] = "{\"detail\": \"captured\"}";
	const char *hook;
	struct MHD_Response *resp;
	enum MHD_Result rc;

	(void)cls, (void)method, (void)version, (void)upload;
	if (!*con_cls) {
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	hook = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fal_webhook");
	snprintf(captured, sizeof captured, "%s %s", url, hook ? hook : "(none)");
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	rc = MHD_queue_response(c, 422, resp);
	MHD_destroy_response(resp);
	return rc;
}

static void call_done(void *ctx, const struct prov_outcome *o)
{
	*(int *)ctx = o->ok ? 1 : 2;
}

static const char *submit_with(const char *hook, struct err *e)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, capture, NULL,
						MHD_OPTION_END);
	char cfg[1024];
	json_t *providers;
	struct prov_pool *p = NULL;
	int done = 0;

	assert_non_null(d);
	captured[0] = '\0';
	setenv("TEST_WEBHOOK_FAL_KEY", "fal-test-key", 1);
	snprintf(cfg, sizeof cfg,
		 "{\"fal\": {\"type\": \"fal\", \"base_url\": \"http://127.0.0.1:%u/fal\","
		 " \"api_key_env\": \"TEST_WEBHOOK_FAL_KEY\", \"download_dir\": \"/tmp\"%s%s%s}}",
		 MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port,
		 hook ? ", \"webhook_url\": \"" : "", hook ? hook : "", hook ? "\"" : "");
	providers = json_loads(cfg, 0, NULL);
	assert_non_null(providers);
	if (prov_pool_open(&p, providers, e) == 0) {
		struct prov_call c = { .provider = "fal", .model = "fal-ai/flux/dev", .user = "a linen shirt",
				       .done = call_done, .ctx = &done };

		assert_int_equal(prov_submit(p, &c, e), 0);
		for (int i = 0; i < 100 && !done; i++)
			prov_pool_run(p, 50);
		assert_int_equal(done, 2);
		prov_pool_free(p);
	} else {
		captured[0] = '\0';
	}
	json_decref(providers);
	MHD_stop_daemon(d);
	return captured;
}

static void test_submit_option(void **state)
{
	struct err e;

	(void)state;
	assert_string_equal(submit_with("https://hooks.example/v1/webhooks/fal?a=1&b=x y", &e),
			    "/fal/fal-ai/flux/dev https://hooks.example/v1/webhooks/fal?a=1&b=x y");
	assert_string_equal(submit_with(NULL, &e), "/fal/fal-ai/flux/dev (none)");
	err_clear(&e);
	assert_string_equal(submit_with("ftp://hooks.example/x", &e), "");
	assert_non_null(strstr(e.msg, "webhook_url: expected an http(s) URL"));
}

/* ---- main -------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest sig_tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_any_key_of_the_set),
		cmocka_unit_test(test_altered),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_missing_headers),
		cmocka_unit_test(test_bad_hex),
		cmocka_unit_test(test_jwks_documents),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_refresh),
		cmocka_unit_test(test_keys_from_url),
		cmocka_unit_test(test_failed_refresh_throttled),
	};
	const struct CMUnitTest store_tests[] = {
		cmocka_unit_test(test_store_completes_and_refuses_replays),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_user_id),
		cmocka_unit_test(test_early_webhook),
	};
	EVP_PKEY *both[2];
	struct err e;
	int failed;

	key_a = keygen();
	key_b = keygen();
	snprintf(jwks_path, sizeof jwks_path, "/tmp/test_webhook_a_%d.json", (int)getpid());
	snprintf(jwks_ab_path, sizeof jwks_ab_path, "/tmp/test_webhook_ab_%d.json", (int)getpid());
	write_jwks(jwks_path, &key_a, 1);
	both[0] = key_a;
	both[1] = key_b;
	write_jwks(jwks_ab_path, both, 2);
	if (webhook_fal_keys_new(&keys, jwks_path, 3600, &e) < 0 || webhook_fal_keys_load(keys, NULL, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	failed = cmocka_run_group_tests_name("signatures", sig_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("store", store_tests, store_setup, store_teardown);
	{
		const struct CMUnitTest provider_tests[] = { cmocka_unit_test(test_submit_option) };

		failed += cmocka_run_group_tests_name("provider", provider_tests, NULL, NULL);
	}
	webhook_fal_keys_free(keys);
	EVP_PKEY_free(key_a);
	EVP_PKEY_free(key_b);
	unlink(jwks_path);
	unlink(jwks_ab_path);
	return failed ? 1 : 0;
}
