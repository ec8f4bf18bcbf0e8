/* bench/serve: `skugen serve` under load, in process (serve_start), with
 * regen children run by BUILD/skugen beside this program.
 *
 *  1. /healthz (each a store round trip) with 8 requests in flight: rate.
 *  2. /healthz one at a time while 20 slow clients trickle headers and one
 *     streams a 50 MB chunked body: the 99th percentile latency.
 *  3. POST /v1/regenerate of one SKU (template generator), 20 times: how
 *     long until the 202, and until GET /v1/jobs/ID says done.
 *  4. POST /v1/webhooks/fal signed with a key made here (distinct request
 *     ids, so each is verified and stored): rate with 8 in flight.
 *
 * The store is an embedded cluster in a temporary directory, or
 * SKUGEN_BENCH_DSN (an empty database).  The last lines are the verdicts,
 * "name: value (goal: ...) met|missed".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "batch/pg_embedded.h"
#include "batch/serve.h"
#include "common/buf.h"
#include "common/hash.h"
#include "bench/common/bench_util.h"

#define TOKEN "bench-serve-token-0123456789"
#define SKUS 40
#define HEALTH_N 5000
#define ATTACK_HEALTH_N 300
#define SLOW_CLIENTS 20
#define BIG_BODY (50L << 20)
#define REGEN_N 20
#define WEBHOOK_N 2000
#define IN_FLIGHT 8

static unsigned port;
static volatile int attacking;

static double percentile(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	return v[(int)(p * (n - 1) + 0.5)];
}

/* ---- requests ------------------------------------------------------------ */

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;

	if (b)
		buf_append(b, p, size * n);
	return size * n;
}

struct request {
	const char *path;
	const char *body;          /* NULL: GET */
	struct curl_slist *headers;
	long status;
	double seconds;
	struct buf answer;
};

/* Send every request, `parallel` at a time; fills status and seconds. */
static void send_all(struct request *rq, int n, int parallel)
{
	CURLM *m = curl_multi_init();
	int next = 0, running = 0;

	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)parallel);
	while (next < n || running) {
		CURLMsg *msg;
		int left;

		while (next < n && running < parallel) {
			CURL *c = curl_easy_init();
			char url[256];
			struct request *r = &rq[next++];

			snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, r->path);
			curl_easy_setopt(c, CURLOPT_URL, url);
			curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
			curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->answer);
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
			curl_easy_setopt(c, CURLOPT_PRIVATE, r);
			if (r->body)
				curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
			curl_multi_add_handle(m, c);
			running++;
		}
		curl_multi_perform(m, &left);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct request *r;
			double t;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &r->status);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_TOTAL_TIME, &t);
			r->seconds = t;
			curl_multi_remove_handle(m, msg->easy_handle);
			curl_easy_cleanup(msg->easy_handle);
			running--;
		}
		if (running)
			curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	curl_multi_cleanup(m);
}

static long one(const char *path, const char *body, struct curl_slist *h, struct buf *answer, double *secs)
{
	struct request r = { .path = path, .body = body, .headers = h };

	send_all(&r, 1, 1);
	if (answer)
		*answer = r.answer;
	else
		buf_free(&r.answer);
	if (secs)
		*secs = r.seconds;
	return r.status;
}

/* ---- attackers ------------------------------------------------------------- */

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Clients that send a header line every half second, reconnecting when
 * the server drops them. */
static void *slow_clients(void *arg)
{
	int fds[SLOW_CLIENTS];

	(void)arg;
	for (int i = 0; i < SLOW_CLIENTS; i++)
		fds[i] = -1;
	while (attacking) {
		for (int i = 0; i < SLOW_CLIENTS; i++) {
			if (fds[i] < 0 && (fds[i] = dial()) >= 0 &&
			    send(fds[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n", 32, MSG_NOSIGNAL) < 0) {
				close(fds[i]);
				fds[i] = -1;
			}
			if (fds[i] >= 0 && send(fds[i], "X-Slow: y\r\n", 11, MSG_NOSIGNAL) < 0) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		usleep(500 * 1000);
	}
	for (int i = 0; i < SLOW_CLIENTS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return NULL;
}

/* A chunked body of 50 MB, sent as fast as the server takes it (it closes
 * the connection past four times its limit; then again). */
static void *big_body(void *arg)
{
	static char chunk[65536 + 16];
	size_t head;

	(void)arg;
	head = (size_t)snprintf(chunk, sizeof chunk, "10000\r\n");
	memset(chunk + head, 'x', 65536);
	memcpy(chunk + head + 65536, "\r\n", 2);
	while (attacking) {
		int fd = dial();
		const char *req = "POST /v1/regenerate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
				  "\r\nTransfer-Encoding: chunked\r\n\r\n";

		if (fd < 0)
			break;
		if (send(fd, req, strlen(req), MSG_NOSIGNAL) > 0)
			for (long sent = 0; attacking && sent < BIG_BODY; sent += 65536)
				if (send(fd, chunk, head + 65536 + 2, MSG_NOSIGNAL) < 0)
					break;
		close(fd);
	}
	return NULL;
}

/* ---- the bench ------------------------------------------------------------- */

static int setup(const char *dir, EVP_PKEY **key)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	unsigned char raw[32];
	size_t len = sizeof raw;
	char x[64], sub[PATH_MAX];
	struct buf b = BUF_INIT;
	int rc;

	if (!kc || EVP_PKEY_keygen_init(kc) != 1 || EVP_PKEY_keygen(kc, key) != 1 ||
	    EVP_PKEY_get_raw_public_key(*key, raw, &len) != 1)
		return -1;
	EVP_PKEY_CTX_free(kc);
	EVP_EncodeBlock((unsigned char *)x, raw, 32);
	for (char *p = x; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	x[43] = '\0';
	buf_printf(&b, "{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"%s\"}]}\n", x);
	snprintf(sub, sizeof sub, "%s/templates", dir);
	if (mkdir(sub, 0755) < 0)
		return -1;
	snprintf(sub, sizeof sub, "%s/templates/copy", dir);
	if (mkdir(sub, 0755) < 0)
		return -1;
	rc = bench_write_file(dir, "jwks.json", buf_str(&b));
	buf_reset(&b);
	for (int i = 0; i < SKUS; i++)
		buf_printf(&b, "{\"sku\": \"B-%d\", \"name\": \"Item %d\", \"colour\": \"c%d\"}\n", i, i, i % 5);
	if (rc < 0 || bench_write_file(dir, "catalog.jsonl", buf_str(&b)) < 0 ||
	    bench_write_file(dir, "templates/copy/default.mustache", "{{name}} in {{colour}}\n") < 0 ||
	    bench_write_file(dir, "skugen.json",
		       "{\"source\": {\"type\": \"file\", \"path\": \"catalog.jsonl\"}, \"locales\": [\"en_US\"],"
		       " \"generators\": {\"rules\": {\"type\": \"template\"}},"
		       " \"outputs\": [{\"name\": \"copy\", \"generator\": \"rules\"}],"
		       " \"serve\": {\"listen\": \"127.0.0.1:0\", \"fal_jwks\": \"jwks.json\", \"max_jobs\": 64,"
		       " \"request_timeout_s\": 5, \"idle_timeout_s\": 5, \"threads\": 4}}\n") < 0)
		rc = -1;
	buf_free(&b);
	return rc;
}

static void sign(EVP_PKEY *key, const char *rid, const char *ts, const char *body, char sig_hex[129])
{
	char body_hex[HASH_HEX_LEN], msg[256];
	unsigned char sig[64];
	size_t siglen = sizeof sig;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	sha256_hex(body, strlen(body), body_hex);
	snprintf(msg, sizeof msg, "%s\nbench-user\n%s\n%s", rid, ts, body_hex);
	EVP_DigestSignInit(ctx, NULL, NULL, NULL, key);
	EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, strlen(msg));
	EVP_MD_CTX_free(ctx);
	for (size_t i = 0; i < 64; i++)
		snprintf(sig_hex + 2 * i, 3, "%02x", sig[i]);
}

int main(int argc, char **argv)
{
	const char *dsn = getenv("SKUGEN_BENCH_DSN");
	char home[] = "/tmp/skugen-bench-serve.XXXXXX", store_home[PATH_MAX], cfg[PATH_MAX], exe[PATH_MAX];
	char self[PATH_MAX];
	struct settings s;
	struct serve_opts o;
	struct serve *srv = NULL;
	struct curl_slist *auth = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	EVP_PKEY *key = NULL;
	struct request *rq = calloc(WEBHOOK_N > HEALTH_N ? WEBHOOK_N : HEALTH_N, sizeof *rq);
	double lat[HEALTH_N], t0, health_rate, attack_p99, accept_p50, done_p50, hook_rate;
	double accept[REGEN_N], done[REGEN_N];
	bool embedded = !dsn || !*dsn;
	pthread_t slow, big;
	struct err e;
	int rc = 1, bad = 0;

	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	memset(&o, 0, sizeof o);
	memset(&s, 0, sizeof s);
	err_clear(&e);
	/* BUILD/skugen, beside BUILD/bench/serve. */
	if (!realpath(argv[0], self)) {
		perror("bench/serve: realpath");
		return 1;
	}
	snprintf(exe, sizeof exe, "%s/../skugen", dirname(self));
	if (access(exe, X_OK) < 0) {
		fprintf(stderr, "bench/serve: %s: not there (make BUILD/skugen first)\n", exe);
		return 1;
	}
	if (!mkdtemp(home) || chmod(home, 0755) < 0 || setup(home, &key) < 0) {
		perror("bench/serve: setting up");
		return 1;
	}
	snprintf(store_home, sizeof store_home, "%s/store", home);
	snprintf(cfg, sizeof cfg, "%s/skugen.json", home);
	/* The children find the same store through the environment. */
	if (embedded) {
		unsetenv("SKUGEN_DSN");
		setenv("SKUGEN_HOME", store_home, 1);
	} else {
		setenv("SKUGEN_DSN", dsn, 1);
	}
	unsetenv("SKUGEN_API_TOKEN");
	if (settings_load(&s, cfg, false, &e) < 0 || serve_opts_from_settings(&o, &s, &e) < 0)
		goto fail;
	o.token = TOKEN;
	o.exe = exe;
	if (serve_start(&srv, &o, &e) < 0)
		goto fail;
	port = serve_port(srv);
	printf("bench/serve: listening on 127.0.0.1:%u (%s store)\n", port, embedded ? "embedded" : "given");
	fflush(stdout);

	/* 1. healthz */
	for (int i = 0; i < HEALTH_N; i++)
		rq[i] = (struct request){ .path = "/healthz" };
	t0 = bench_now();
	send_all(rq, HEALTH_N, IN_FLIGHT);
	health_rate = HEALTH_N / (bench_now() - t0);
	for (int i = 0; i < HEALTH_N; i++) {
		bad += rq[i].status != 200;
		lat[i] = rq[i].seconds;
		buf_free(&rq[i].answer);
	}
	printf("healthz: %d requests, %d in flight: %.0f/s, p50 %.2f ms, p99 %.2f ms, %d not 200\n", HEALTH_N,
	       IN_FLIGHT, health_rate, 1000 * percentile(lat, HEALTH_N, 0.5), 1000 * percentile(lat, HEALTH_N, 0.99), bad);

	/* 2. healthz under slow clients and a huge body */
	attacking = 1;
	pthread_create(&slow, NULL, slow_clients, NULL);
	pthread_create(&big, NULL, big_body, NULL);
	usleep(1000 * 1000);
	bad = 0;
	for (int i = 0; i < ATTACK_HEALTH_N; i++) {
		bad += one("/healthz", NULL, NULL, NULL, &lat[i]) != 200;
		usleep(10 * 1000);
	}
	attacking = 0;
	pthread_join(slow, NULL);
	pthread_join(big, NULL);
	attack_p99 = percentile(lat, ATTACK_HEALTH_N, 0.99);
	printf("healthz under %d slow clients and 50 MB bodies: p50 %.2f ms, p99 %.2f ms, %d not 200\n",
	       SLOW_CLIENTS, 1000 * percentile(lat, ATTACK_HEALTH_N, 0.5), 1000 * attack_p99, bad);
	if (bad) {
		err_set(&e, ERR_INTERNAL, "healthz failed %d times under attack", bad);
		goto fail;
	}

	/* 3. regenerate one SKU, then wait until the job is done */
	for (int i = 0; i < REGEN_N; i++) {
		char body[128], path[64];
		struct buf answer = BUF_INIT;
		json_t *doc;
		long job;
		double start = bench_now();

		snprintf(body, sizeof body, "{\"skus\": [\"B-%d\"], \"force\": true}", i % SKUS);
		if (one("/v1/regenerate", body, auth, &answer, &accept[i]) != 202) {
			err_set(&e, ERR_INTERNAL, "regenerate: %s", buf_str(&answer));
			buf_free(&answer);
			goto fail;
		}
		doc = json_loads(buf_str(&answer), 0, NULL);
		job = (long)json_integer_value(json_object_get(doc, "job_id"));
		json_decref(doc);
		buf_free(&answer);
		snprintf(path, sizeof path, "/v1/jobs/%ld", job);
		for (;;) {
			const char *state;

			one(path, NULL, auth, &answer, NULL);
			doc = json_loads(buf_str(&answer), 0, NULL);
			buf_free(&answer);
			state = json_string_value(json_object_get(doc, "state"));
			if (state && strcmp(state, "running") != 0) {
				bool ok = strcmp(state, "done") == 0 &&
					  json_integer_value(json_object_get(json_object_get(doc, "counts"), "done")) == 1;

				json_decref(doc);
				if (!ok) {
					err_set(&e, ERR_INTERNAL, "job %ld ended %s", job, state);
					goto fail;
				}
				break;
			}
			json_decref(doc);
			if (bench_now() - start > 30) {
				err_set(&e, ERR_INTERNAL, "job %ld still running after 30 s", job);
				goto fail;
			}
			usleep(10 * 1000);
		}
		done[i] = bench_now() - start;
	}
	accept_p50 = percentile(accept, REGEN_N, 0.5);
	done_p50 = percentile(done, REGEN_N, 0.5);
	printf("regenerate one SKU, %d times: 202 after p50 %.1f ms (max %.1f), done after p50 %.3f s (max %.3f)\n",
	       REGEN_N, 1000 * accept_p50, 1000 * accept[REGEN_N - 1], done_p50, done[REGEN_N - 1]);

	/* 4. signed webhooks */
	{
		static char bodies[WEBHOOK_N][160];
		char ts[32];

		snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
		for (int i = 0; i < WEBHOOK_N; i++) {
			char rid[48], sig[129], h[200];

			snprintf(rid, sizeof rid, "bench-%d-%d", (int)getpid(), i);
			snprintf(bodies[i], sizeof bodies[i], "{\"request_id\": \"%s\", \"status\": \"OK\", \"payload\": {}}", rid);
			sign(key, rid, ts, bodies[i], sig);
			rq[i] = (struct request){ .path = "/v1/webhooks/fal", .body = bodies[i] };
			snprintf(h, sizeof h, "X-Fal-Webhook-Request-Id: %s", rid);
			rq[i].headers = curl_slist_append(NULL, h);
			curl_slist_append(rq[i].headers, "X-Fal-Webhook-User-Id: bench-user");
			snprintf(h, sizeof h, "X-Fal-Webhook-Timestamp: %s", ts);
			curl_slist_append(rq[i].headers, h);
			snprintf(h, sizeof h, "X-Fal-Webhook-Signature: %s", sig);
			curl_slist_append(rq[i].headers, h);
		}
		t0 = bench_now();
		send_all(rq, WEBHOOK_N, IN_FLIGHT);
		hook_rate = WEBHOOK_N / (bench_now() - t0);
		bad = 0;
		for (int i = 0; i < WEBHOOK_N; i++) {
			bad += rq[i].status != 200;
			curl_slist_free_all(rq[i].headers);
			buf_free(&rq[i].answer);
		}
		printf("webhooks: %d signed deliveries, %d in flight: %.0f/s, %d not 200\n", WEBHOOK_N, IN_FLIGHT,
		       hook_rate, bad);
		if (bad) {
			err_set(&e, ERR_INTERNAL, "%d webhooks were refused", bad);
			goto fail;
		}
	}

	printf("healthz rate: %.0f/s (goal: >= 1000/s) %s\n", health_rate, health_rate >= 1000 ? "met" : "missed");
	printf("healthz p99 under slow clients and 50 MB bodies: %.1f ms (goal: <= 100 ms) %s\n", 1000 * attack_p99,
	       attack_p99 <= 0.1 ? "met" : "missed");
	printf("regenerate accepted p50: %.1f ms (goal: <= 100 ms) %s\n", 1000 * accept_p50,
	       accept_p50 <= 0.1 ? "met" : "missed");
	printf("regenerate of one SKU done p50: %.3f s (goal: <= 2 s) %s\n", done_p50, done_p50 <= 2 ? "met" : "missed");
	printf("verified webhooks: %.0f/s (goal: >= 500/s) %s\n", hook_rate, hook_rate >= 500 ? "met" : "missed");
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench/serve: %s\n", e.msg);
out:
	serve_stop(srv);
	serve_opts_free(&o);
	settings_free(&s);
	curl_slist_free_all(auth);
	EVP_PKEY_free(key);
	free(rq);
	if (embedded) {
		pg_embedded_stop(store_home, NULL);
		bench_rm_rf(home);
	}
	return rc;
}
