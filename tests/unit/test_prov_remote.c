/* test_prov_remote.c: the provider pool against fake_llm (started here as a
 * child on a free port, from $SKUGEN_FAKES, else the build's fakes/): answers
 * and usage, every fault class (retried then fine, retries exhausted, the
 * classes that are never retried and why), Retry-After in its three forms,
 * limits learnt from headers, the circuit breaker, structured output,
 * truncations and refusals, fal's queue with downloads and cancellation,
 * 1000 calls on one thread within max_in_flight, and a canary key that must
 * appear nowhere but in the requests' key headers.
 *
 * Timing bounds are loose: the tests run beside other builds, under
 * AddressSanitizer too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/hash.h"
#include "providers/provider.h"
#include "providers/http.h"
#include "tests/support/fake_proc.h"

#define CANARY_OPENAI "sk-canary-openai-7f3a9c2e51d84b06"
#define CANARY_ANTHROPIC "sk-ant-canary-0b7e4d19c2a6f853"
#define CANARY_FAL "canary-fal-3c91:5e2f7a0d8b64"

static char tmpdir[] = "/tmp/skugen-test-prov-XXXXXX";
static char logpath[600];
static char dldir[600];

/* ---- the fake ------------------------------------------------------------ */

static struct fake_proc fake;

static int fake_start(void)
{
	const char *const args[] = { "--log", logpath, "--openai-key", CANARY_OPENAI, "--anthropic-key",
				     CANARY_ANTHROPIC, "--fal-key", CANARY_FAL, "--threads", "2", NULL };

	return fake_proc_start(&fake, "fake_llm", args);
}

/* A request to the fake's hooks; its JSON answer (new). */
static json_t *fake_call(const char *path, const char *body)
{
	long status;
	json_t *j = fake_proc_call(&fake, body ? "POST" : "GET", path, body, &status);

	if (status != 200 || !j)
		fail_msg("fake %s: status %ld%s", path, status, j ? "" : ", no JSON");
	return j;
}

static void fake_config(const char *json)
{
	json_decref(fake_call("/_fake/config", json));
}

/* Back to a quiet fake: no faults, no delays, no limits, fresh counters. */
static void fake_reset(void)
{
	fake_config("{\"clear_faults\":true,\"reset_stats\":true,\"latency_ms\":0,\"jitter_ms\":0,\"rpm\":0,"
		    "\"tpm\":0,\"answer_words\":24,\"cached_tokens\":0,\"reasoning_tokens\":0,\"fal_job_ms\":200,"
		    "\"fal_file_bytes\":20000,\"fal_file_type\":\"\",\"hang_ms\":600000,\"fal_submit_ms\":0}");
}

static long long stat_int(const char *key)
{
	json_t *s = fake_call("/_fake/stats", NULL);
	long long v = json_integer_value(json_object_get(s, key));

	json_decref(s);
	return v;
}

/* Requests the fake answered on path with status. */
static long long stat_status(const char *path, const char *status)
{
	json_t *s = fake_call("/_fake/stats", NULL);
	long long v = json_integer_value(json_object_get(json_object_get(json_object_get(s, "paths"), path), status));

	json_decref(s);
	return v;
}

/* ---- pools and calls ------------------------------------------------------ */

/* Open a pool from JSON with @URL@ standing for the fake's address and
 * @DIR@ for the download folder. */
static struct prov_pool *pool_open(const char *text)
{
	struct buf b = BUF_INIT;
	struct prov_pool *p = NULL;
	json_error_t je;
	json_t *cfg;
	struct err e;

	for (const char *s = text; *s;) {
		if (strncmp(s, "@URL@", 5) == 0) {
			buf_puts(&b, fake.url);
			s += 5;
		} else if (strncmp(s, "@DIR@", 5) == 0) {
			buf_puts(&b, dldir);
			s += 5;
		} else {
			buf_putc(&b, *s++);
		}
	}
	cfg = json_loads(b.data, 0, &je);
	if (!cfg)
		fail_msg("bad test config: %s: %s", je.text, b.data);
	if (prov_pool_open(&p, cfg, &e) < 0)
		fail_msg("prov_pool_open: %s", e.msg);
	json_decref(cfg);
	buf_free(&b);
	return p;
}

#define OPENAI(extra) \
	"{\"openai\":{\"type\":\"openai\",\"base_url\":\"@URL@/v1\",\"api_key_env\":\"OPENAI_API_KEY\"," \
	"\"backoff_ms\":5,\"backoff_max_ms\":50,\"prices\":{\"gpt-4o-mini\":{\"input_per_mtok\":0.15," \
	"\"output_per_mtok\":0.6,\"cached_per_mtok\":0.075}}" extra "}}"

struct result {
	int calls;
	bool ok;
	enum prov_error error;
	char msg[1100];
	char *content;
	long long tin, tout, tcached, treason;
	int attempts;
	double latency, cost;
	char model_version[128], request_id[128];
	json_t *log;
};

static void check_no_canary(const char *what, const char *s)
{
	if (s && (strstr(s, CANARY_OPENAI) || strstr(s, CANARY_ANTHROPIC) || strstr(s, CANARY_FAL) ||
		  strstr(s, "canary")))
		fail_msg("a key reached %s: %s", what, s);
}

static void on_done(void *ctx, const struct prov_outcome *o)
{
	struct result *r = ctx;
	char *log = json_dumps(o->attempts_log, JSON_COMPACT);

	r->calls++;
	r->ok = o->ok;
	r->error = o->error;
	snprintf(r->msg, sizeof r->msg, "%s", o->message ? o->message : "");
	free(r->content);
	r->content = o->content ? strndup(o->content, o->content_len) : NULL;
	if (o->ok)
		assert_int_equal(strlen(r->content), o->content_len);
	else
		assert_non_null(o->message);
	r->tin = o->tokens_in;
	r->tout = o->tokens_out;
	r->tcached = o->tokens_cached;
	r->treason = o->tokens_reasoning;
	r->attempts = o->attempts;
	r->latency = o->latency_ms;
	r->cost = o->cost;
	snprintf(r->model_version, sizeof r->model_version, "%s", o->model_version ? o->model_version : "");
	snprintf(r->request_id, sizeof r->request_id, "%s", o->request_id ? o->request_id : "");
	json_decref(r->log);
	r->log = json_deep_copy(o->attempts_log);
	assert_int_equal(json_array_size(r->log), (size_t)o->attempts);
	check_no_canary("a message", o->message);
	check_no_canary("a content", r->content);
	check_no_canary("an attempts log", log);
	free(log);
}

static void result_clear(struct result *r)
{
	free(r->content);
	json_decref(r->log);
	memset(r, 0, sizeof *r);
}

static void run_all(struct prov_pool *p, double max_ms)
{
	double end = http_now_ms() + max_ms;

	while (prov_pool_pending(p) > 0) {
		assert_true(prov_pool_run(p, 50) >= 0);
		if (http_now_ms() > end)
			fail_msg("calls still pending after %.0f ms", max_ms);
	}
}

static void submit(struct prov_pool *p, const char *provider, const char *model, const char *user,
		   const json_t *schema, const json_t *params, const json_t *input, struct result *r)
{
	struct prov_call c;
	struct err e;

	memset(&c, 0, sizeof c);
	c.provider = provider;
	c.model = model;
	c.system = "You write product copy.";
	c.user = user;
	c.schema = schema;
	c.params = params;
	c.input = input;
	c.done = on_done;
	c.ctx = r;
	if (prov_submit(p, &c, &e) < 0)
		fail_msg("prov_submit: %s", e.msg);
}

/* One call, run to its end. */
static void call(struct prov_pool *p, const char *provider, const char *model, const char *user,
		 const json_t *schema, const json_t *params, struct result *r)
{
	result_clear(r);
	submit(p, provider, model, user, schema, params, NULL, r);
	run_all(p, 30000);
	assert_int_equal(r->calls, 1);
}

static const char *log_str(const struct result *r, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(r->log, i), key));
}

static long long log_int(const struct result *r, size_t i, const char *key)
{
	return json_integer_value(json_object_get(json_array_get(r->log, i), key));
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* ---- setup ----------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(logpath, sizeof logpath, "%s/requests.log", tmpdir);
	snprintf(dldir, sizeof dldir, "%s/files", tmpdir);
	/* Loopback only: no proxy may get in the way. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	setenv("OPENAI_API_KEY", CANARY_OPENAI, 1);
	setenv("ANTHROPIC_API_KEY", CANARY_ANTHROPIC, 1);
	setenv("FAL_KEY", CANARY_FAL, 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return fake_start();
}

static int group_teardown(void **state)
{
	(void)state;
	fake_proc_stop(&fake);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int each_setup(void **state)
{
	(void)state;
	fake_reset();
	return 0;
}

/* ---- openai ----------------------------------------------------------------- */

static void test_openai_answer_and_usage(void **state)
{
	struct prov_pool *p = pool_open(OPENAI(""));
	struct result r = { 0 }, r2 = { 0 };
	char *first;

	(void)state;
	fake_config("{\"cached_tokens\":5,\"reasoning_tokens\":3}");
	call(p, "openai", "gpt-4o-mini", "A linen shirt, sku L-1.", NULL, NULL, &r);
	assert_true(r.ok);
	assert_int_equal(r.error, PROV_OK);
	assert_true(strlen(r.content) > 20);
	assert_int_equal(r.attempts, 1);
	assert_true(r.tin > 5);
	assert_int_equal(r.tout, 24 + 3);
	assert_int_equal(r.tcached, 5);
	assert_int_equal(r.treason, 3);
	assert_int_equal(strncmp(r.model_version, "fp_", 3), 0);
	assert_int_equal(strncmp(r.request_id, "req_", 4), 0);
	assert_float_equal(r.cost, ((r.tin - 5) * 0.15 + 5 * 0.075 + r.tout * 0.6) / 1e6, 1e-12);
	assert_int_equal(log_int(&r, 0, "status"), 200);
	assert_string_equal(log_str(&r, 0, "error"), "ok");
	assert_string_equal(log_str(&r, 0, "request_id"), r.request_id);
	assert_true(json_is_null(json_object_get(json_array_get(r.log, 0), "message")));
	/* Deterministic: the same prompt, the same words. */
	first = strdup(r.content);
	call(p, "openai", "gpt-4o-mini", "A linen shirt, sku L-1.", NULL, NULL, &r2);
	assert_string_equal(first, r2.content);
	free(first);
	result_clear(&r);
	result_clear(&r2);
	prov_pool_free(p);
}

static void test_retried_faults_then_success(void **state)
{
	static const char *const kinds[][2] = {
		{ "500", "server" }, { "503", "server" }, { "502", "server" }, { "408", "timeout" },
		{ "409", "server" }, { "rate_limit", "rate_limited" }, { "truncated", "network" },
		{ "malformed", "bad_answer" }, { "timeout", "timeout" },
	};
	struct prov_pool *p = pool_open(OPENAI(",\"timeout_s\":0.5"));
	struct result r = { 0 };
	char cfg[200];

	(void)state;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		snprintf(cfg, sizeof cfg, "{\"faults\":[{\"kind\":\"%s\",\"next\":2}]}", kinds[i][0]);
		fake_config(cfg);
		call(p, "openai", "gpt-4o-mini", "retry me", NULL, NULL, &r);
		if (!r.ok)
			fail_msg("%s: %s", kinds[i][0], r.msg);
		assert_int_equal(r.attempts, 3);
		assert_string_equal(log_str(&r, 0, "error"), kinds[i][1]);
		assert_string_equal(log_str(&r, 1, "error"), kinds[i][1]);
		assert_string_equal(log_str(&r, 2, "error"), "ok");
		assert_non_null(log_str(&r, 0, "message"));
	}
	/* The malformed answers were paid for?  No usage came: not billed. */
	assert_float_equal(log_int(&r, 0, "tokens_in"), 0, 0);
	result_clear(&r);
	prov_pool_free(p);
}

static void test_retries_exhausted(void **state)
{
	struct prov_pool *p = pool_open(OPENAI(",\"max_attempts\":3"));
	struct result r = { 0 };

	(void)state;
	fake_config("{\"faults\":[{\"kind\":\"500\",\"next\":5}]}");
	call(p, "openai", "gpt-4o-mini", "fail me", NULL, NULL, &r);
	assert_false(r.ok);
	assert_int_equal(r.error, PROV_SERVER);
	assert_int_equal(r.attempts, 3);
	assert_contains(r.msg, "openai: 500 server_error: The server had an error");
	assert_contains(r.msg, "(after 3 attempts)");
	assert_int_equal(stat_status("/v1/chat/completions", "500"), 3);
	assert_float_equal(r.cost, 0, 0);
	result_clear(&r);
	prov_pool_free(p);
}

static void test_never_retried_and_why(void **state)
{
	static const struct {
		const char *kind;
		enum prov_error err;
		const char *says;
	} cases[] = {
		{ "insufficient_quota", PROV_QUOTA, "openai: 429 insufficient_quota: You exceeded your current quota" },
		{ "400", PROV_BAD_REQUEST, "openai: 400 invalid_request_error: Invalid request" },
		{ "401", PROV_AUTH, "openai: 401 invalid_api_key" },
		{ "403", PROV_AUTH, "openai: 403 unsupported_country_region_territory" },
		{ "404", PROV_BAD_REQUEST, "openai: 404 model_not_found" },
	};
	struct prov_pool *p = pool_open(OPENAI(""));
	struct result r = { 0 };
	char cfg[200];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(cfg, sizeof cfg, "{\"faults\":[{\"kind\":\"%s\",\"next\":1}]}", cases[i].kind);
		fake_config(cfg);
		call(p, "openai", "gpt-4o-mini", "no retry", NULL, NULL, &r);
		assert_false(r.ok);
		assert_int_equal(r.error, cases[i].err);
		assert_int_equal(r.attempts, 1);
		assert_contains(r.msg, cases[i].says);
	}
	/* A real 404 from the fake's model check, and a real 400 from its
	 * strictness (a strict schema without additionalProperties). */
	{
		struct prov_pool *q = pool_open("{\"openai\":{\"type\":\"openai\",\"base_url\":\"@URL@/v1\","
						"\"api_key_env\":\"OPENAI_API_KEY\"}}");
		json_t *loose = json_pack("{s:s, s:{s:{s:s}}, s:[s]}", "type", "object", "properties", "t", "type",
					  "string", "required", "t");

		call(q, "openai", "unknown-model", "x", NULL, NULL, &r);
		assert_int_equal(r.error, PROV_BAD_REQUEST);
		assert_contains(r.msg, "openai: 404 model_not_found: The model `unknown-model` does not exist");
		call(q, "openai", "gpt-4o-mini", "x", loose, NULL, &r);
		assert_int_equal(r.error, PROV_BAD_REQUEST);
		assert_contains(r.msg, "'additionalProperties' is required to be supplied and to be false");
		json_decref(loose);
		prov_pool_free(q);
	}
	result_clear(&r);
	prov_pool_free(p);
}

static void test_truncation_and_refusal_are_not_successes(void **state)
{
	struct prov_pool *p = pool_open(OPENAI(""));
	struct result r = { 0 };
	json_t *params = json_pack("{s:i, s:f, s:i}", "max_tokens", 5, "temperature", 0.2, "seed", 7);

	(void)state;
	call(p, "openai", "gpt-4o-mini", "cut me short", NULL, params, &r);
	assert_false(r.ok);
	assert_int_equal(r.error, PROV_TRUNCATED);
	assert_int_equal(r.attempts, 1);
	assert_contains(r.msg, "openai: truncated: finish_reason length after 5 output tokens");
	assert_true(r.cost > 0); /* billed */
	fake_config("{\"faults\":[{\"kind\":\"length\",\"next\":1}]}");
	call(p, "openai", "gpt-4o-mini", "cut", NULL, NULL, &r);
	assert_int_equal(r.error, PROV_TRUNCATED);
	fake_config("{\"faults\":[{\"kind\":\"refusal\",\"next\":1}]}");
	call(p, "openai", "gpt-4o-mini", "refuse", NULL, NULL, &r);
	assert_false(r.ok);
	assert_int_equal(r.error, PROV_REFUSED);
	assert_int_equal(r.attempts, 1);
	assert_contains(r.msg, "openai: refused: I'm sorry, I can't help with that request.");
	assert_null(r.content);
	assert_int_equal(stat_int("paid"), 0);
	json_decref(params);
	result_clear(&r);
	prov_pool_free(p);
}

static void test_retry_after_honoured(void **state)
{
	struct prov_pool *p = pool_open(OPENAI(",\"backoff_ms\":1,\"backoff_max_ms\":1"));
	struct result r = { 0 };

	(void)state;
	fake_config("{\"faults\":[{\"kind\":\"rate_limit\",\"next\":1,\"retry_after_ms\":700}]}");
	call(p, "openai", "gpt-4o-mini", "wait", NULL, NULL, &r);
	assert_true(r.ok);
	assert_int_equal(r.attempts, 2);
	assert_float_equal(json_number_value(json_object_get(json_array_get(r.log, 0), "retry_after_ms")), 700, 1e-9);
	assert_true(r.latency >= 650 && r.latency < 5000);

	fake_config("{\"faults\":[{\"kind\":\"503\",\"next\":1,\"retry_after_s\":1}]}");
	call(p, "openai", "gpt-4o-mini", "wait", NULL, NULL, &r);
	assert_true(r.ok);
	assert_true(r.latency >= 950 && r.latency < 6000);

	fake_config("{\"faults\":[{\"kind\":\"503\",\"next\":1,\"retry_after_date_s\":2}]}");
	call(p, "openai", "gpt-4o-mini", "wait", NULL, NULL, &r);
	assert_true(r.ok);
	assert_true(r.latency >= 900 && r.latency < 7000);

	/* Without a Retry-After, backoff (1 ms here) is all the wait. */
	fake_config("{\"faults\":[{\"kind\":\"503\",\"next\":1}]}");
	call(p, "openai", "gpt-4o-mini", "wait", NULL, NULL, &r);
	assert_true(r.ok);
	assert_true(r.latency < 900);

	/* A Retry-After beyond max_retry_after_s ends the call, saying so. */
	{
		struct prov_pool *q = pool_open(OPENAI(",\"max_retry_after_s\":1"));

		fake_config("{\"faults\":[{\"kind\":\"rate_limit\",\"next\":1,\"retry_after_s\":30}]}");
		call(q, "openai", "gpt-4o-mini", "wait", NULL, NULL, &r);
		assert_int_equal(r.error, PROV_RATE_LIMITED);
		assert_contains(r.msg, "more than max_retry_after_s");
		prov_pool_free(q);
	}
	result_clear(&r);
	prov_pool_free(p);
}

static void test_limits_learnt_from_headers(void **state)
{
	/* skugen is told 60,000 rpm; the server allows 600 (10 a second).
	 * After the first answers the bucket follows the server's headers, so
	 * the 40 calls are paced instead of hammering into 429s. */
	struct prov_pool *p = pool_open(OPENAI(",\"rpm\":60000,\"max_in_flight\":4"));
	struct prov_pool *q = pool_open("{\"claude\":{\"type\":\"anthropic\",\"base_url\":\"@URL@\","
					"\"api_key_env\":\"ANTHROPIC_API_KEY\",\"rpm\":60000,\"max_in_flight\":4,"
					"\"backoff_ms\":5}}");
	struct result r[40];
	double t0;
	long long n429;

	(void)state;
	memset(r, 0, sizeof r);
	fake_config("{\"rpm\":600,\"burst_s\":1}");
	t0 = http_now_ms();
	for (int i = 0; i < 40; i++)
		submit(p, "openai", "gpt-4o-mini", "paced", NULL, NULL, NULL, &r[i]);
	run_all(p, 30000);
	for (int i = 0; i < 40; i++)
		assert_true(r[i].ok);
	n429 = stat_status("/v1/chat/completions", "429");
	print_message("# openai: 40 calls in %.0f ms, %lld 429s\n", http_now_ms() - t0, n429);
	assert_true(n429 <= 6);
	assert_true(http_now_ms() - t0 >= 2000);

	fake_config("{\"rpm\":600,\"burst_s\":1,\"reset_stats\":true}");
	for (int i = 0; i < 30; i++) {
		result_clear(&r[i]);
		submit(q, "claude", "claude-sonnet-4-5", "paced", NULL, NULL, NULL, &r[i]);
	}
	run_all(q, 30000);
	for (int i = 0; i < 30; i++)
		assert_true(r[i].ok);
	n429 = stat_status("/v1/messages", "429");
	print_message("# anthropic: 30 calls, %lld 429s\n", n429);
	assert_true(n429 <= 6);
	for (int i = 0; i < 40; i++)
		result_clear(&r[i]);
	prov_pool_free(p);
	prov_pool_free(q);
}

static void test_token_limits(void **state)
{
	/* 12,000 tokens a minute (200 a second) on both sides; each call asks
	 * for about 30 (prompt + max_tokens): 20 calls take about 3 s. */
	struct prov_pool *p = pool_open(OPENAI(",\"tpm\":12000,\"max_in_flight\":8"));
	json_t *params = json_pack("{s:i}", "max_tokens", 10);
	struct result r[20];
	double t0;
	long long n429;

	(void)state;
	memset(r, 0, sizeof r);
	fake_config("{\"tpm\":12000,\"burst_s\":1,\"answer_words\":5}");
	t0 = http_now_ms();
	for (int i = 0; i < 20; i++)
		submit(p, "openai", "gpt-4o-mini", "tokens", NULL, params, NULL, &r[i]);
	run_all(p, 30000);
	for (int i = 0; i < 20; i++) {
		assert_true(r[i].ok);
		result_clear(&r[i]);
	}
	n429 = stat_status("/v1/chat/completions", "429");
	print_message("# 20 calls under a token limit in %.0f ms, %lld 429s\n", http_now_ms() - t0, n429);
	assert_true(n429 <= 2);
	assert_true(http_now_ms() - t0 >= 1500);
	json_decref(params);
	prov_pool_free(p);
}

static void test_circuit_breaker(void **state)
{
	struct prov_pool *p = pool_open(OPENAI(",\"max_attempts\":1,\"circuit\":{\"failures\":3,\"cooldown_s\":0.5}"));
	struct result r = { 0 }, a = { 0 }, b = { 0 };
	long long before;

	(void)state;
	fake_config("{\"faults\":[{\"kind\":\"500\",\"next\":3}]}");
	for (int i = 0; i < 3; i++) {
		assert_true(prov_pool_available(p, "openai"));
		call(p, "openai", "gpt-4o-mini", "x", NULL, NULL, &r);
		assert_int_equal(r.error, PROV_SERVER);
	}
	assert_false(prov_pool_available(p, "openai"));
	before = stat_int("requests");
	call(p, "openai", "gpt-4o-mini", "x", NULL, NULL, &r);
	assert_int_equal(r.error, PROV_CIRCUIT_OPEN);
	assert_int_equal(r.attempts, 0);
	assert_contains(r.msg, "openai: circuit open after 3 consecutive failures");
	assert_contains(r.msg, "500 server_error");
	assert_int_equal(stat_int("requests"), before + 1); /* only the stats call itself */

	usleep(600 * 1000);
	assert_true(prov_pool_available(p, "openai"));
	/* Half-open: one probe goes, the call beside it fails fast. */
	submit(p, "openai", "gpt-4o-mini", "probe", NULL, NULL, NULL, &a);
	submit(p, "openai", "gpt-4o-mini", "beside", NULL, NULL, NULL, &b);
	run_all(p, 10000);
	assert_true(a.ok != b.ok);
	assert_int_equal((a.ok ? b : a).error, PROV_CIRCUIT_OPEN);
	assert_true(prov_pool_available(p, "openai"));
	call(p, "openai", "gpt-4o-mini", "closed again", NULL, NULL, &r);
	assert_true(r.ok);

	/* A failed probe opens it again. */
	fake_config("{\"faults\":[{\"kind\":\"503\",\"next\":4}]}");
	for (int i = 0; i < 3; i++)
		call(p, "openai", "gpt-4o-mini", "x", NULL, NULL, &r);
	assert_false(prov_pool_available(p, "openai"));
	usleep(600 * 1000);
	call(p, "openai", "gpt-4o-mini", "probe", NULL, NULL, &r);
	assert_int_equal(r.error, PROV_SERVER);
	assert_false(prov_pool_available(p, "openai"));
	result_clear(&r);
	result_clear(&a);
	result_clear(&b);
	prov_pool_free(p);
}

static json_t *copy_schema(void)
{
	return json_loads("{\"title\":\"product_copy\",\"type\":\"object\",\"additionalProperties\":false,"
			  "\"required\":[\"title\",\"bullets\",\"tone\",\"score\"],\"properties\":{"
			  "\"title\":{\"type\":\"string\"},\"bullets\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
			  "\"tone\":{\"enum\":[\"warm\",\"crisp\"]},\"score\":{\"type\":\"integer\"}}}", 0, NULL);
}

static void test_structured_output(void **state)
{
	struct prov_pool *p = pool_open(OPENAI(",\"max_attempts\":3"));
	struct result r = { 0 };
	json_t *schema = copy_schema(), *doc;
	char why[200];

	(void)state;
	call(p, "openai", "gpt-4o-mini", "A linen shirt", schema, NULL, &r);
	assert_true(r.ok);
	doc = json_loads(r.content, 0, NULL);
	assert_non_null(doc);
	assert_true(json_is_string(json_object_get(doc, "title")));
	json_decref(doc);

	/* The answer does not match: retried, then fine. */
	fake_config("{\"faults\":[{\"kind\":\"schema_violation\",\"next\":1}]}");
	call(p, "openai", "gpt-4o-mini", "A linen shirt", schema, NULL, &r);
	assert_true(r.ok);
	assert_int_equal(r.attempts, 2);
	assert_string_equal(log_str(&r, 0, "error"), "bad_answer");

	/* ...and when it never matches, failed with the reason, every attempt
	 * paid for. */
	fake_config("{\"faults\":[{\"kind\":\"schema_violation\",\"next\":3}]}");
	call(p, "openai", "gpt-4o-mini", "A linen shirt", schema, NULL, &r);
	assert_false(r.ok);
	assert_int_equal(r.error, PROV_BAD_ANSWER);
	assert_int_equal(r.attempts, 3);
	assert_contains(r.msg, "openai: bad answer: the content does not match the schema: $: missing required property \"title\"");
	assert_contains(r.msg, "(after 3 attempts)");
	assert_true(r.cost > 0 && r.tin > 0);
	snprintf(why, sizeof why, "%s", log_str(&r, 2, "message"));
	assert_contains(why, "does not match the schema");
	json_decref(schema);
	result_clear(&r);
	prov_pool_free(p);
}

/* ---- anthropic ----------------------------------------------------------------- */

#define CLAUDE(extra) \
	"{\"claude\":{\"type\":\"anthropic\",\"base_url\":\"@URL@\",\"api_key_env\":\"ANTHROPIC_API_KEY\"," \
	"\"backoff_ms\":5,\"max_tokens\":64,\"prices\":{\"*\":{\"input_per_mtok\":3,\"output_per_mtok\":15}}" extra "}}"

static void test_anthropic(void **state)
{
	struct prov_pool *p = pool_open(CLAUDE(""));
	struct result r = { 0 };
	json_t *schema = copy_schema(), *params = json_pack("{s:i, s:i}", "max_tokens", 5, "seed", 3);

	(void)state;
	fake_config("{\"cached_tokens\":4}");
	call(p, "claude", "claude-sonnet-4-5", "A walnut shelf", NULL, NULL, &r);
	assert_true(r.ok);
	assert_string_equal(r.model_version, "claude-sonnet-4-5");
	assert_int_equal(strncmp(r.request_id, "req_", 4), 0);
	assert_int_equal(r.tout, 24);
	assert_int_equal(r.tcached, 4);
	assert_float_equal(r.cost, (r.tin * 3.0 + r.tout * 15.0) / 1e6, 1e-12);

	call(p, "claude", "claude-sonnet-4-5", "A walnut shelf", schema, NULL, &r);
	assert_true(r.ok);
	assert_non_null(strstr(r.content, "\"title\""));

	fake_config("{\"faults\":[{\"kind\":\"529\",\"next\":2}]}");
	call(p, "claude", "claude-sonnet-4-5", "busy", NULL, NULL, &r);
	assert_true(r.ok);
	assert_int_equal(r.attempts, 3);
	assert_contains(log_str(&r, 0, "message"), "claude: 529 overloaded_error: Overloaded");

	call(p, "claude", "claude-sonnet-4-5", "short", NULL, params, &r); /* seed is dropped, or the fake says 400 */
	assert_int_equal(r.error, PROV_TRUNCATED);
	assert_contains(r.msg, "claude: truncated: stop_reason max_tokens after 5 output tokens");

	fake_config("{\"faults\":[{\"kind\":\"refusal\",\"next\":1}]}");
	call(p, "claude", "claude-sonnet-4-5", "no", NULL, NULL, &r);
	assert_int_equal(r.error, PROV_REFUSED);
	assert_contains(r.msg, "claude: refused: I can't help with that request.");

	fake_config("{\"faults\":[{\"kind\":\"insufficient_quota\",\"next\":1}]}");
	call(p, "claude", "claude-sonnet-4-5", "broke", NULL, NULL, &r);
	assert_int_equal(r.error, PROV_QUOTA);
	assert_int_equal(r.attempts, 1);
	assert_contains(r.msg, "credit balance is too low");

	fake_config("{\"faults\":[{\"kind\":\"schema_violation\",\"next\":5}]}");
	{
		struct prov_pool *q = pool_open(CLAUDE(",\"max_attempts\":2"));

		call(q, "claude", "claude-sonnet-4-5", "x", schema, NULL, &r);
		assert_int_equal(r.error, PROV_BAD_ANSWER);
		assert_int_equal(r.attempts, 2);
		assert_contains(r.msg, "does not match the schema");
		prov_pool_free(q);
	}
	{
		struct prov_pool *q = pool_open(CLAUDE(",\"version\":\"2020-01-01\""));

		call(q, "claude", "claude-sonnet-4-5", "x", NULL, NULL, &r);
		assert_int_equal(r.error, PROV_BAD_REQUEST);
		assert_contains(r.msg, "claude: 400 invalid_request_error: anthropic-version: invalid version");
		prov_pool_free(q);
	}
	json_decref(schema);
	json_decref(params);
	result_clear(&r);
	prov_pool_free(p);
}

/* ---- fal ------------------------------------------------------------------------- */

#define FAL(extra) \
	"{\"fal\":{\"type\":\"fal\",\"base_url\":\"@URL@/fal\",\"api_key_env\":\"FAL_KEY\",\"poll_ms\":50," \
	"\"backoff_ms\":5,\"download_dir\":\"@DIR@\",\"prices\":{\"fal-ai/flux/dev\":{\"per_image\":0.025}," \
	"\"fal-ai/kling-video/v2/image-to-video\":{\"per_video_second\":0.1}}" extra "}}"

static void check_file(const json_t *f, const char *ctype)
{
	const char *path = json_string_value(json_object_get(f, "path"));
	const char *sha = json_string_value(json_object_get(f, "sha256"));
	char hex[HASH_HEX_LEN];
	struct buf b = BUF_INIT;
	FILE *fp;
	char chunk[4096];
	size_t n;

	assert_non_null(path);
	assert_string_equal(json_string_value(json_object_get(f, "content_type")), ctype);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	assert_int_equal(b.len, json_integer_value(json_object_get(f, "bytes")));
	sha256_hex(b.data, b.len, hex);
	assert_string_equal(hex, sha);
	assert_non_null(strstr(path, sha)); /* content-addressed */
	buf_free(&b);
}

static void test_fal_queue_and_downloads(void **state)
{
	struct prov_pool *p = pool_open(FAL(""));
	struct result r = { 0 };
	json_t *in = json_pack("{s:s, s:i}", "prompt", "a linen shirt on a chair", "num_images", 2), *doc, *files;
	json_t *vin = json_pack("{s:s, s:s}", "image_url", "https://example.com/x.png", "duration", "5");

	(void)state;
	result_clear(&r);
	submit(p, "fal", "fal-ai/flux/dev", NULL, NULL, NULL, in, &r);
	run_all(p, 20000);
	if (!r.ok)
		fail_msg("%s", r.msg);
	assert_int_equal(strlen(r.request_id), 36);
	doc = json_loads(r.content, 0, NULL);
	files = json_object_get(doc, "files");
	assert_int_equal(json_array_size(files), 2);
	check_file(json_array_get(files, 0), "image/png");
	check_file(json_array_get(files, 1), "image/png");
	assert_non_null(json_object_get(doc, "images"));
	assert_float_equal(r.cost, 0.05, 1e-12);
	assert_true(stat_status("/fal/status", "202") + stat_status("/fal/status", "200") >= 1);
	assert_int_equal(stat_int("fal_results"), 1);
	json_decref(doc);

	/* A video, priced by the second (the input's duration). */
	result_clear(&r);
	submit(p, "fal", "fal-ai/kling-video/v2/image-to-video", "slow pan", NULL, NULL, vin, &r);
	run_all(p, 20000);
	assert_true(r.ok);
	doc = json_loads(r.content, 0, NULL);
	check_file(json_array_get(json_object_get(doc, "files"), 0), "video/mp4");
	assert_float_equal(r.cost, 0.5, 1e-12);
	json_decref(doc);

	/* A download that fails once is fetched again, without resubmitting. */
	fake_config("{\"reset_stats\":true,\"faults\":[{\"kind\":\"500\",\"next\":1,\"path\":\"/fal/files\"}]}");
	result_clear(&r);
	submit(p, "fal", "fal-ai/flux/dev", "one image", NULL, NULL, NULL, &r);
	run_all(p, 20000);
	assert_true(r.ok);
	assert_int_equal(stat_int("fal_jobs"), 1);
	assert_int_equal(stat_status("/fal/files", "500"), 1);

	/* A content type or a size outside the limits fails the call, saying so. */
	fake_config("{\"fal_file_type\":\"text/html\"}");
	result_clear(&r);
	submit(p, "fal", "fal-ai/flux/dev", "one image", NULL, NULL, NULL, &r);
	run_all(p, 20000);
	assert_int_equal(r.error, PROV_BAD_ANSWER);
	assert_contains(r.msg, "content type text/html is not allowed");
	fake_config("{\"fal_file_type\":\"\"}");
	{
		struct prov_pool *q = pool_open(FAL(",\"max_download_bytes\":1000"));

		result_clear(&r);
		submit(q, "fal", "fal-ai/flux/dev", "one image", NULL, NULL, NULL, &r);
		run_all(q, 20000);
		assert_int_equal(r.error, PROV_BAD_ANSWER);
		assert_contains(r.msg, "larger than max_download_bytes (1000)");
		prov_pool_free(q);
	}
	/* A submit refused for its input: 422, not retried. */
	{
		json_t *bad = json_pack("{s:i}", "num_images", 1);

		result_clear(&r);
		submit(p, "fal", "fal-ai/flux/dev", NULL, NULL, NULL, bad, &r);
		run_all(p, 20000);
		assert_int_equal(r.error, PROV_BAD_REQUEST);
		assert_int_equal(r.attempts, 1);
		assert_contains(r.msg, "fal: submit: 422: Field required");
		json_decref(bad);
	}
	json_decref(in);
	json_decref(vin);
	result_clear(&r);
	prov_pool_free(p);
}

/* Only a cancel of an earlier request (cancel_id): what fal says of it. */
static void cancel_request(struct prov_pool *p, const char *id, struct result *r)
{
	struct prov_call c;
	struct err e;

	memset(&c, 0, sizeof c);
	c.provider = "fal";
	c.model = "fal-ai/flux/dev";
	c.cancel_id = id;
	c.done = on_done;
	c.ctx = r;
	result_clear(r);
	if (prov_submit(p, &c, &e) < 0)
		fail_msg("prov_submit: %s", e.msg);
	run_all(p, 20000);
	assert_int_equal(r->calls, 1);
}

static void test_fal_cancel_request(void **state)
{
	/* With a webhook the submit's call ends once fal has the job. */
	struct prov_pool *p = pool_open(FAL(",\"webhook_url\":\"http://127.0.0.1:9/hook\""));
	struct result r = { 0 };
	char id[128];
	struct prov_call c;
	struct err e;

	(void)state;
	fake_config("{\"fal_job_ms\":60000}");
	result_clear(&r);
	submit(p, "fal", "fal-ai/flux/dev", "a jug", NULL, NULL, NULL, &r);
	run_all(p, 20000);
	assert_true(r.ok);
	snprintf(id, sizeof id, "%s", r.request_id);

	/* In fal's queue: cancelled, nothing billed, fal's result refused. */
	cancel_request(p, id, &r);
	assert_true(r.ok);
	assert_string_equal(r.content, "cancelled");
	assert_int_equal(r.attempts, 1);
	assert_float_equal(r.cost, 0, 0);
	assert_string_equal(r.request_id, id);
	assert_int_equal(stat_int("fal_cancels"), 1);
	assert_int_equal(stat_status("/fal/cancel", "202"), 1);

	/* Done at fal (here: cancelled before): 400 ALREADY_COMPLETED. */
	cancel_request(p, id, &r);
	assert_true(r.ok);
	assert_string_equal(r.content, "completed");
	assert_int_equal(stat_int("fal_cancels"), 1);

	/* A request fal does not know: 404. */
	cancel_request(p, "00000000-0000-4000-8000-00000000ffff", &r);
	assert_true(r.ok);
	assert_string_equal(r.content, "not_found");

	/* Refused (a wrong key): not ok, one attempt, the key in no message. */
	setenv("FAL_KEY_WRONG", "wrongkey-fal-5d21", 1);
	{
		struct prov_pool *q = pool_open("{\"fal\":{\"type\":\"fal\",\"base_url\":\"@URL@/fal\","
						"\"api_key_env\":\"FAL_KEY_WRONG\",\"download_dir\":\"@DIR@\"}}");

		cancel_request(q, id, &r);
		assert_false(r.ok);
		assert_int_equal(r.error, PROV_AUTH);
		assert_int_equal(r.attempts, 1);
		assert_contains(r.msg, "fal: cancel of ");
		assert_null(strstr(r.msg, "wrongkey-fal-5d21"));
		prov_pool_free(q);
	}
	/* An id that cannot be one of fal's is refused before anything is sent. */
	memset(&c, 0, sizeof c);
	c.provider = "fal";
	c.model = "fal-ai/flux/dev";
	c.cancel_id = "../x";
	c.done = on_done;
	c.ctx = &r;
	assert_int_equal(prov_submit(p, &c, &e), -1);
	assert_int_equal(e.code, ERR_INPUT);
	result_clear(&r);
	prov_pool_free(p);
}

static void test_cancel_all(void **state)
{
	struct prov_pool *p = pool_open(FAL(""));
	struct prov_pool *q = pool_open(OPENAI(""));
	struct result r[6];
	double end;

	(void)state;
	memset(r, 0, sizeof r);
	fake_config("{\"fal_job_ms\":60000,\"latency_ms\":5000}");
	for (int i = 0; i < 3; i++)
		submit(p, "fal", "fal-ai/flux/dev", "slow", NULL, NULL, NULL, &r[i]);
	end = http_now_ms() + 10000;
	while (stat_int("fal_jobs") < 3 && http_now_ms() < end)
		assert_true(prov_pool_run(p, 50) >= 0);
	for (int i = 0; i < 5; i++)
		prov_pool_run(p, 20);
	prov_pool_cancel_all(p);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].error, PROV_CANCELLED);
		assert_string_equal(r[i].msg, "fal: cancelled");
	}
	assert_int_equal(prov_pool_pending(p), 0);
	assert_int_equal(stat_int("fal_cancels"), 3);

	/* Submits still unanswered when the pool stops: their jobs exist at fal
	 * already; the answers are awaited and the jobs cancelled. */
	fake_config("{\"fal_submit_ms\":400,\"reset_stats\":true}");
	for (int i = 0; i < 2; i++) {
		result_clear(&r[i]);
		submit(p, "fal", "fal-ai/flux/dev", "slow submit", NULL, NULL, NULL, &r[i]);
	}
	for (int i = 0; i < 5; i++)
		prov_pool_run(p, 20);
	assert_int_equal(r[0].calls + r[1].calls, 0);
	prov_pool_cancel_all(p);
	assert_int_equal(r[0].error, PROV_CANCELLED);
	assert_int_equal(r[1].error, PROV_CANCELLED);
	assert_int_equal(stat_int("fal_jobs"), 2);
	assert_int_equal(stat_int("fal_cancels"), 2);
	fake_config("{\"fal_submit_ms\":0}");

	/* LLM calls in flight end at once, too. */
	for (int i = 3; i < 6; i++)
		submit(q, "openai", "gpt-4o-mini", "slow", NULL, NULL, NULL, &r[i]);
	for (int i = 0; i < 5; i++)
		prov_pool_run(q, 20);
	end = http_now_ms();
	prov_pool_free(q);
	assert_true(http_now_ms() - end < 2000);
	for (int i = 3; i < 6; i++)
		assert_int_equal(r[i].error, PROV_CANCELLED);
	for (int i = 0; i < 6; i++)
		result_clear(&r[i]);
	prov_pool_free(p);
}

static void test_thousand_calls_one_thread(void **state)
{
	struct prov_pool *p = pool_open(OPENAI(",\"max_in_flight\":100"));
	struct result *r = calloc(1000, sizeof *r);
	double t0 = http_now_ms();
	long long maxc, base;
	int ok = 0;

	(void)state;
	/* Requests an earlier test left hanging in the fake count as concurrent
	 * there; this one's own stats request too. */
	base = stat_int("concurrency") - 1;
	fake_config("{\"latency_ms\":50,\"jitter_ms\":10}");
	for (int i = 0; i < 1000; i++) {
		char prompt[64];

		snprintf(prompt, sizeof prompt, "product %d", i);
		submit(p, "openai", "gpt-4o-mini", prompt, NULL, NULL, NULL, &r[i]);
	}
	assert_int_equal(prov_pool_pending(p), 1000);
	run_all(p, 60000);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(r[i].calls, 1);
		ok += r[i].ok;
		result_clear(&r[i]);
	}
	assert_int_equal(ok, 1000);
	maxc = stat_int("max_concurrency") - base;
	print_message("# 1000 calls in %.0f ms, fake saw at most %lld at once\n", http_now_ms() - t0, maxc);
	assert_true(maxc <= 100);
	assert_true(maxc >= 30); /* they did overlap */
	assert_int_equal(stat_int("paid"), 1000);
	free(r);
	prov_pool_free(p);
}

/* Last: every request the fake saw in this run is in its log; the keys
 * must be in their headers and nowhere else. */
static void test_secrets_canary(void **state)
{
	struct prov_pool *p;
	struct result r = { 0 };
	FILE *f;
	char *line = NULL;
	size_t cap = 0, hits = 0, lines = 0;
	ssize_t n;

	(void)state;
	/* A wrong key: the fake echoes part of it, as OpenAI does; the message
	 * must not carry it. */
	setenv("SKUGEN_WRONG_KEY", "sk-wrongkey-5d2c8e1f9a7b3046", 1);
	p = pool_open("{\"openai\":{\"type\":\"openai\",\"base_url\":\"@URL@/v1\",\"api_key_env\":\"SKUGEN_WRONG_KEY\"}}");
	call(p, "openai", "gpt-4o-mini", "x", NULL, NULL, &r);
	assert_int_equal(r.error, PROV_AUTH);
	assert_contains(r.msg, "openai: 401 invalid_api_key: Incorrect API key provided");
	assert_null(strstr(r.msg, "wrongkey"));
	assert_null(strstr(r.msg, "3046"));
	prov_pool_free(p);

	f = fopen(logpath, "r");
	assert_non_null(f);
	while ((n = getline(&line, &cap, f)) >= 0) {
		lines++;
		if (!strstr(line, "canary"))
			continue;
		hits++;
		if (strncmp(line, "> Authorization: Bearer " CANARY_OPENAI "\n", (size_t)n) != 0 &&
		    strncmp(line, "> x-api-key: " CANARY_ANTHROPIC "\n", (size_t)n) != 0 &&
		    strncmp(line, "> Authorization: Key " CANARY_FAL "\n", (size_t)n) != 0)
			fail_msg("a key outside its header in the fake's log: %s", line);
	}
	free(line);
	fclose(f);
	print_message("# %zu log lines, %zu key headers\n", lines, hits);
	assert_true(hits > 1000);
	result_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_openai_answer_and_usage, each_setup),
		cmocka_unit_test_setup(test_retried_faults_then_success, each_setup),
		cmocka_unit_test_setup(test_retries_exhausted, each_setup),
		cmocka_unit_test_setup(test_never_retried_and_why, each_setup),
		cmocka_unit_test_setup(test_truncation_and_refusal_are_not_successes, each_setup),
		cmocka_unit_test_setup(test_retry_after_honoured, each_setup),
		cmocka_unit_test_setup(test_limits_learnt_from_headers, each_setup),
		cmocka_unit_test_setup(test_token_limits, each_setup),
		cmocka_unit_test_setup(test_circuit_breaker, each_setup),
		cmocka_unit_test_setup(test_structured_output, each_setup),
		cmocka_unit_test_setup(test_anthropic, each_setup),
		cmocka_unit_test_setup(test_fal_queue_and_downloads, each_setup),
		cmocka_unit_test_setup(test_fal_cancel_request, each_setup),
		cmocka_unit_test_setup(test_cancel_all, each_setup),
		cmocka_unit_test_setup(test_thousand_calls_one_thread, each_setup),
		cmocka_unit_test_setup(test_secrets_canary, each_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
