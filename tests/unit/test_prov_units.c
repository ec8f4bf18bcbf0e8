/* test_prov_units.c: the providers' parts that need no server: rate-limit
 * header parsing, token buckets and their correction from headers, the
 * circuit breaker, retry classes and backoff, the schema checker, token
 * estimates, prices, configuration errors, secret scrubbing and JSON
 * escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/prov_int.h"

static void test_go_durations(void **state)
{
	double ms;

	(void)state;
	assert_int_equal(prov_parse_go_duration("6m0s", &ms), 0);
	assert_float_equal(ms, 360000, 1e-6);
	assert_int_equal(prov_parse_go_duration("1.5s", &ms), 0);
	assert_float_equal(ms, 1500, 1e-6);
	assert_int_equal(prov_parse_go_duration("120ms", &ms), 0);
	assert_float_equal(ms, 120, 1e-6);
	assert_int_equal(prov_parse_go_duration("1h2m3.5s", &ms), 0);
	assert_float_equal(ms, 3723500, 1e-6);
	assert_int_equal(prov_parse_go_duration("20us", &ms), 0);
	assert_float_equal(ms, 0.02, 1e-9);
	assert_int_equal(prov_parse_go_duration("20\xc2\xb5s", &ms), 0);
	assert_float_equal(ms, 0.02, 1e-9);
	assert_int_equal(prov_parse_go_duration("500ns", &ms), 0);
	assert_float_equal(ms, 0.0005, 1e-9);
	assert_int_equal(prov_parse_go_duration("0s", &ms), 0);
	assert_float_equal(ms, 0, 1e-9);
	assert_int_equal(prov_parse_go_duration("2", &ms), 0); /* bare seconds, as some gateways send */
	assert_float_equal(ms, 2000, 1e-9);
	assert_int_equal(prov_parse_go_duration("", &ms), -1);
	assert_int_equal(prov_parse_go_duration("abc", &ms), -1);
	assert_int_equal(prov_parse_go_duration("5x", &ms), -1);
	assert_int_equal(prov_parse_go_duration("1m5", &ms), -1);
}

static void test_rfc3339_and_retry_after(void **state)
{
	double t, ms, now = prov_unix_ms();
	char date[64];
	time_t future = (time_t)(now / 1000) + 5;
	struct tm tm;

	(void)state;
	assert_int_equal(prov_parse_rfc3339("2024-05-01T12:00:30Z", &t), 0);
	assert_float_equal(t, 1714564830000.0, 1e-3);
	assert_int_equal(prov_parse_rfc3339("2024-05-01T14:00:30.5+02:00", &t), 0);
	assert_float_equal(t, 1714564830500.0, 1e-3);
	assert_int_equal(prov_parse_rfc3339("2024-05-01 12:00:30z", &t), 0);
	assert_int_equal(prov_parse_rfc3339("2024-05-01T12:00:30", &t), -1);
	assert_int_equal(prov_parse_rfc3339("2024-13-01T12:00:30Z", &t), -1);
	assert_int_equal(prov_parse_rfc3339("yesterday", &t), -1);

	assert_int_equal(prov_parse_retry_after("3", now, &ms), 0);
	assert_float_equal(ms, 3000, 1e-6);
	assert_int_equal(prov_parse_retry_after(" 0.25 ", now, &ms), 0);
	assert_float_equal(ms, 250, 1e-6);
	gmtime_r(&future, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_int_equal(prov_parse_retry_after(date, now, &ms), 0);
	assert_true(ms > 3900 && ms <= 5000);
	assert_int_equal(prov_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now, &ms), 0);
	assert_float_equal(ms, 0, 1e-9); /* in the past: now */
	assert_int_equal(prov_parse_retry_after("soon", now, &ms), -1);
}

static void test_bucket_paces_and_headers_correct_it(void **state)
{
	struct prov_bucket b;
	struct prov_rl_headers h;
	double now = 1000.0;

	(void)state;
	memset(&b, 0, sizeof b);
	/* 600 rpm with one second of burst: 10 at once, then one per 100 ms. */
	prov_bucket_init(&b, 600, 0, 1, now);
	for (int i = 0; i < 10; i++) {
		assert_float_equal(prov_bucket_wait(&b, 50, now), 0, 1e-9);
		prov_bucket_take(&b, 50);
	}
	assert_float_equal(prov_bucket_wait(&b, 50, now), 100, 1e-6);
	assert_float_equal(prov_bucket_wait(&b, 50, now + 60), 40, 1e-6);
	assert_float_equal(prov_bucket_wait(&b, 50, now + 100), 0, 1e-6);

	/* The server says its limit is 60 rpm: the bucket slows to one a second. */
	prov_bucket_init(&b, 600, 0, 1, now);
	prov_rl_headers_init(&h);
	h.limit_req = 60;
	h.remaining_req = 0;
	h.reset_req_ms = 1000;
	prov_bucket_take(&b, 1);
	prov_bucket_observe(&b, &h, b.sent_req, b.sent_tok, now);
	assert_float_equal(b.rate_req, 60 / 60000.0, 1e-12);
	assert_float_equal(prov_bucket_wait(&b, 1, now), 1000, 1e-6);

	/* Remaining 5 when the response left, 3 admitted since: 2 are left. */
	prov_bucket_init(&b, 6000, 0, 1, now);
	prov_bucket_take(&b, 1);
	{
		unsigned long long at = b.sent_req;

		for (int i = 0; i < 3; i++)
			prov_bucket_take(&b, 1);
		prov_rl_headers_init(&h);
		h.remaining_req = 5;
		prov_bucket_observe(&b, &h, at, b.sent_tok, now);
		assert_float_equal(b.level_req, 2, 1e-9);
	}
	/* Headers never raise the configured rate. */
	prov_rl_headers_init(&h);
	h.limit_req = 1e6;
	prov_bucket_observe(&b, &h, b.sent_req, b.sent_tok, now);
	assert_float_equal(b.rate_req, 6000 / 60000.0, 1e-12);

	/* Tokens: a call dearer than the bucket goes when it is full. */
	prov_bucket_init(&b, 0, 600, 1, now); /* 10 tokens deep */
	assert_float_equal(prov_bucket_wait(&b, 500, now), 0, 1e-9);
	prov_bucket_take(&b, 500);
	assert_true(prov_bucket_wait(&b, 500, now) > 40000);

	/* Retry-After blocks the bucket; no rate known + nothing left blocks
	 * until the reset. */
	prov_bucket_init(&b, 0, 0, 1, now);
	prov_rl_headers_init(&h);
	h.retry_after_ms = 700;
	prov_bucket_observe(&b, &h, 0, 0, now);
	assert_float_equal(prov_bucket_wait(&b, 1, now), 700, 1e-6);
	prov_bucket_init(&b, 0, 0, 1, now);
	prov_rl_headers_init(&h);
	h.remaining_req = 0;
	h.reset_req_ms = 1500;
	prov_bucket_observe(&b, &h, b.sent_req, 0, now);
	assert_float_equal(prov_bucket_wait(&b, 1, now), 1500, 1e-6);
}

static void test_circuit(void **state)
{
	struct prov_circuit c;
	double now = 0;

	(void)state;
	prov_circuit_init(&c, 3, 1000);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(prov_circuit_admit(&c, now), PROV_CB_YES);
		prov_circuit_record(&c, false, false, "x: 500", now);
	}
	/* a healthy answer resets the count */
	prov_circuit_record(&c, false, true, NULL, now);
	for (int i = 0; i < 3; i++)
		prov_circuit_record(&c, false, false, "x: 500", now);
	assert_int_equal(c.state, PROV_CB_OPEN);
	assert_false(prov_circuit_available(&c, now + 999));
	assert_int_equal(prov_circuit_admit(&c, now + 999), PROV_CB_NO);
	assert_true(prov_circuit_available(&c, now + 1000));
	assert_int_equal(prov_circuit_admit(&c, now + 1000), PROV_CB_PROBE);
	assert_false(prov_circuit_available(&c, now + 1000)); /* one probe at a time */
	assert_int_equal(prov_circuit_admit(&c, now + 1000), PROV_CB_NO);
	prov_circuit_record(&c, true, false, "x: timeout", now + 1100);
	assert_int_equal(c.state, PROV_CB_OPEN);
	assert_string_equal(c.last, "x: timeout");
	assert_false(prov_circuit_available(&c, now + 2000));
	assert_int_equal(prov_circuit_admit(&c, now + 2100), PROV_CB_PROBE);
	prov_circuit_record(&c, true, true, NULL, now + 2200);
	assert_int_equal(c.state, PROV_CB_CLOSED);
	assert_int_equal(prov_circuit_admit(&c, now + 2200), PROV_CB_YES);
}

static void test_retry_classes_and_backoff(void **state)
{
	unsigned long long rng = 42;
	bool retry;

	(void)state;
	assert_int_equal(prov_classify_status(429, "rate_limit_exceeded", "requests"), PROV_RATE_LIMITED);
	assert_int_equal(prov_classify_status(429, "insufficient_quota", "insufficient_quota"), PROV_QUOTA);
	assert_int_equal(prov_classify_status(429, NULL, "rate_limit_error"), PROV_RATE_LIMITED);
	assert_int_equal(prov_classify_status(400, NULL, NULL), PROV_BAD_REQUEST);
	assert_int_equal(prov_classify_status(401, NULL, NULL), PROV_AUTH);
	assert_int_equal(prov_classify_status(403, NULL, NULL), PROV_AUTH);
	assert_int_equal(prov_classify_status(404, NULL, NULL), PROV_BAD_REQUEST);
	assert_int_equal(prov_classify_status(408, NULL, NULL), PROV_TIMEOUT);
	assert_int_equal(prov_classify_status(409, NULL, NULL), PROV_SERVER);
	assert_int_equal(prov_classify_status(500, NULL, NULL), PROV_SERVER);
	assert_int_equal(prov_classify_status(529, NULL, "overloaded_error"), PROV_SERVER);
	assert_true(prov_error_retryable(PROV_RATE_LIMITED) && prov_error_retryable(PROV_SERVER) &&
		    prov_error_retryable(PROV_TIMEOUT) && prov_error_retryable(PROV_NETWORK) &&
		    prov_error_retryable(PROV_BAD_ANSWER));
	assert_false(prov_error_retryable(PROV_QUOTA) || prov_error_retryable(PROV_AUTH) ||
		     prov_error_retryable(PROV_BAD_REQUEST) || prov_error_retryable(PROV_TRUNCATED) ||
		     prov_error_retryable(PROV_REFUSED));
	assert_int_equal(prov_classify_curl(CURLE_OPERATION_TIMEDOUT, &retry), PROV_TIMEOUT);
	assert_true(retry);
	assert_int_equal(prov_classify_curl(CURLE_PARTIAL_FILE, &retry), PROV_NETWORK);
	assert_true(retry);
	assert_int_equal(prov_classify_curl(CURLE_PEER_FAILED_VERIFICATION, &retry), PROV_NETWORK);
	assert_false(retry);
	for (int attempt = 1; attempt < 12; attempt++) {
		double cap = fmin(30000, 500 * pow(2, attempt - 1));

		for (int i = 0; i < 100; i++) {
			double d = prov_backoff_ms(attempt, 500, 30000, &rng);

			assert_true(d >= 0 && d < cap);
		}
	}
	assert_string_equal(prov_error_name(PROV_CIRCUIT_OPEN), "circuit_open");
}

static int check(const char *schema, const char *doc, char *why)
{
	json_t *s = json_loads(schema, 0, NULL), *d = json_loads(doc, JSON_DECODE_ANY, NULL);
	int rc;

	assert_non_null(s);
	assert_non_null(d);
	rc = prov_schema_check(s, d, why, 200);
	json_decref(s);
	json_decref(d);
	return rc;
}

static void test_schema_subset(void **state)
{
	const char *s = "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"title\",\"tags\",\"n\",\"tone\"],"
			"\"properties\":{\"title\":{\"type\":\"string\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
			"\"n\":{\"type\":\"integer\"},\"tone\":{\"enum\":[\"warm\",\"crisp\"]},"
			"\"opt\":{\"type\":[\"string\",\"null\"]},\"ref\":{\"$ref\":\"#/$defs/d\"}},"
			"\"$defs\":{\"d\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"}},\"required\":[\"x\"]}}}";
	char why[200];

	(void)state;
	assert_int_equal(check(s, "{\"title\":\"a\",\"tags\":[\"b\"],\"n\":3,\"tone\":\"warm\"}", why), 0);
	assert_int_equal(check(s, "{\"title\":\"a\",\"tags\":[],\"n\":3.0,\"tone\":\"warm\",\"opt\":null,\"ref\":{\"x\":1.5}}", why), 0);
	assert_int_equal(check(s, "{\"tags\":[\"b\"],\"n\":3,\"tone\":\"warm\"}", why), -1);
	assert_string_equal(why, "$: missing required property \"title\"");
	assert_int_equal(check(s, "{\"title\":\"a\",\"tags\":[\"b\",7],\"n\":3,\"tone\":\"warm\"}", why), -1);
	assert_string_equal(why, "$.tags[1]: expected string, got integer");
	assert_int_equal(check(s, "{\"title\":\"a\",\"tags\":[],\"n\":3.5,\"tone\":\"warm\"}", why), -1);
	assert_string_equal(why, "$.n: expected integer, got number");
	assert_int_equal(check(s, "{\"title\":\"a\",\"tags\":[],\"n\":3,\"tone\":\"loud\"}", why), -1);
	assert_string_equal(why, "$.tone: value not in enum");
	assert_int_equal(check(s, "{\"title\":\"a\",\"tags\":[],\"n\":3,\"tone\":\"warm\",\"extra\":1}", why), -1);
	assert_string_equal(why, "$: property \"extra\" is not allowed");
	assert_int_equal(check(s, "{\"title\":\"a\",\"tags\":[],\"n\":3,\"tone\":\"warm\",\"ref\":{}}", why), -1);
	assert_string_equal(why, "$.ref: missing required property \"x\"");
	assert_int_equal(check(s, "[1]", why), -1);
	assert_string_equal(why, "$: expected object, got array");
	assert_int_equal(check("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "true", why), -1);
	assert_int_equal(check("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "4", why), 0);
}

static void test_estimate_tokens(void **state)
{
	(void)state;
	assert_int_equal(prov_estimate_tokens(NULL), 0);
	assert_int_equal(prov_estimate_tokens(""), 0);
	assert_int_equal(prov_estimate_tokens("abcd"), 1);
	assert_int_equal(prov_estimate_tokens("abcde"), 2);
	assert_int_equal(prov_estimate_tokens("\xc3\xa9\xc3\xa9"), 1);     /* éé */
	assert_int_equal(prov_estimate_tokens("\xe6\x97\xa5\xe6\x9c\xac"), 2); /* 日本 */
	assert_int_equal(prov_estimate_tokens("A linen shirt for warm days."), 7);
}

static struct prov_pool *open_text(const char *text, struct err *e)
{
	json_error_t je;
	json_t *cfg = json_loads(text, 0, &je);
	struct prov_pool *p = NULL;

	if (!cfg)
		fail_msg("bad test config: %s: %s", je.text, text);
	err_clear(e);
	if (prov_pool_open(&p, cfg, e) < 0)
		p = NULL;
	json_decref(cfg);
	return p;
}

static void test_prices(void **state)
{
	struct prov_pool *p;
	struct err e;
	double cost;

	(void)state;
	setenv("SKUGEN_TEST_KEY", "sk-unit-0123456789", 1);
	p = open_text("{\"o\":{\"type\":\"openai\",\"api_key_env\":\"SKUGEN_TEST_KEY\",\"prices\":{"
		      "\"gpt-4o-mini\":{\"input_per_mtok\":0.15,\"output_per_mtok\":0.6,\"cached_per_mtok\":0.075},"
		      "\"*\":{\"input_per_mtok\":1,\"output_per_mtok\":2}}},"
		      "\"free\":{\"type\":\"openai\",\"base_url\":\"http://127.0.0.1:1/v1\"},"
		      "\"f\":{\"type\":\"fal\",\"api_key_env\":\"SKUGEN_TEST_KEY\",\"download_dir\":\"/tmp\",\"prices\":{"
		      "\"fal-ai/flux/dev\":{\"per_image\":0.025},\"fal-ai/video\":{\"per_video_second\":0.1,\"per_request\":0.01}}}}", &e);
	assert_non_null(p);
	assert_int_equal(prov_price(p, "o", "gpt-4o-mini", 1000000, 1000000, 500000, 0, &cost, &e), 0);
	assert_float_equal(cost, 0.5 * 0.15 + 0.5 * 0.075 + 0.6, 1e-12);
	assert_int_equal(prov_price(p, "o", "gpt-anything", 1000000, 0, 0, 0, &cost, &e), 0);
	assert_float_equal(cost, 1, 1e-12);
	assert_int_equal(prov_price(p, "free", "llama", 1000000, 1000000, 0, 0, &cost, &e), 0);
	assert_float_equal(cost, 0, 1e-12);
	assert_int_equal(prov_price(p, "f", "fal-ai/flux/dev", 0, 0, 0, 4, &cost, &e), 0);
	assert_float_equal(cost, 0.1, 1e-12);
	assert_int_equal(prov_price(p, "f", "fal-ai/video", 0, 0, 0, 5, &cost, &e), 0);
	assert_float_equal(cost, 0.51, 1e-12);
	assert_int_equal(prov_price(p, "f", "fal-ai/other", 0, 0, 0, 1, &cost, &e), -1);
	assert_string_equal(e.msg, "providers.f.prices: no price for model \"fal-ai/other\"");
	assert_int_equal(prov_price(p, "nope", "x", 0, 0, 0, 0, &cost, &e), -1);
	assert_true(prov_pool_available(p, "o"));
	assert_false(prov_pool_available(p, "nope"));
	assert_int_equal(prov_pool_pending(p), 0);
	assert_int_equal(prov_pool_run(p, 10), 0);
	prov_pool_free(p);
	prov_pool_free(NULL);
}

static void config_error(const char *text, const char *want)
{
	struct err e;
	struct prov_pool *p = open_text(text, &e);

	if (p)
		fail_msg("opened: %s", text);
	assert_int_equal(e.code, ERR_CONFIG);
	if (!strstr(e.msg, want))
		fail_msg("error \"%s\" does not say \"%s\"", e.msg, want);
}

static void test_config_errors_name_the_key(void **state)
{
	(void)state;
	setenv("SKUGEN_TEST_KEY", "sk-unit-secret-value-0123456789", 1);
	unsetenv("SKUGEN_UNSET_KEY");
	config_error("[]", "providers: expected an object");
	config_error("{\"claude\":{\"type\":\"anthropic\",\"api_key_env\":\"SKUGEN_TEST_KEY\",\"rpm\":-1}}",
		     "providers.claude.rpm: expected a number from 0 to");
	config_error("{\"claude\":{\"type\":\"anthropic\",\"api_key_env\":\"SKUGEN_TEST_KEY\",\"rpm\":\"fast\"}}",
		     "providers.claude.rpm: expected a number, got a string");
	config_error("{\"o\":{\"type\":\"openai\",\"rmp\":5}}", "providers.o.rmp: unknown key");
	config_error("{\"o\":{\"type\":\"gemini\"}}", "providers.o.type: unknown provider type \"gemini\"");
	config_error("{\"o\":{\"rpm\":5}}", "providers.o.type: required");
	config_error("{\"o\":{\"type\":\"openai\",\"base_url\":\"ftp://x\"}}", "providers.o.base_url: expected an http");
	config_error("{\"o\":{\"type\":\"openai\",\"circuit\":{\"failure\":3}}}", "providers.o.circuit.failure: unknown key");
	config_error("{\"o\":{\"type\":\"openai\",\"max_tokens_field\":\"tokens\"}}", "providers.o.max_tokens_field");
	config_error("{\"o\":{\"type\":\"openai\",\"version\":\"1\"}}", "providers.o.version: unknown key");
	config_error("{\"claude\":{\"type\":\"anthropic\"}}", "providers.claude.api_key_env: required");
	config_error("{\"f\":{\"type\":\"fal\",\"api_key_env\":\"SKUGEN_TEST_KEY\"}}", "providers.f.download_dir: required");
	config_error("{\"o\":{\"type\":\"openai\",\"prices\":{\"m\":{\"per_image\":1,\"per_video_second\":1}}}}",
		     "providers.o.prices.m: set per_image or per_video_second, not both");
	config_error("{\"o\":{\"type\":\"openai\",\"prices\":{\"m\":{\"input\":1}}}}", "providers.o.prices.m.input: unknown key");
	/* The variable is named; no value ever is. */
	config_error("{\"o\":{\"type\":\"openai\",\"api_key_env\":\"SKUGEN_UNSET_KEY\"}}",
		     "providers.o.api_key_env: the environment variable SKUGEN_UNSET_KEY is not set");
	{
		struct err e;

		open_text("{\"o\":{\"type\":\"openai\",\"api_key_env\":\"SKUGEN_TEST_KEY\",\"rpm\":-1}}", &e);
		assert_null(strstr(e.msg, "secret-value"));
	}
}

static void never_called(void *ctx, const struct prov_outcome *o)
{
	(void)ctx;
	(void)o;
	fail_msg("done() called for a call that was refused");
}

static void test_submit_refuses_bad_calls(void **state)
{
	struct prov_pool *p;
	struct err e;
	struct prov_call c;

	(void)state;
	p = open_text("{\"o\":{\"type\":\"openai\",\"base_url\":\"http://127.0.0.1:1/v1\","
		      "\"prices\":{\"m\":{\"input_per_mtok\":1}}}}", &e);
	assert_non_null(p);
	memset(&c, 0, sizeof c);
	c.provider = "o";
	c.model = "m";
	c.user = "hi";
	assert_int_equal(prov_submit(p, &c, &e), -1); /* no done callback */
	c.done = never_called;
	c.provider = "x";
	assert_int_equal(prov_submit(p, &c, &e), -1);
	assert_string_equal(e.msg, "no provider \"x\" is configured");
	c.provider = "o";
	c.model = "other";
	assert_int_equal(prov_submit(p, &c, &e), -1);
	assert_string_equal(e.msg, "providers.o.prices: no price for model \"other\"");
	c.model = "m";
	c.user = "bad \xff byte";
	assert_int_equal(prov_submit(p, &c, &e), -1);
	assert_int_equal(e.code, ERR_INPUT);
	assert_non_null(strstr(e.msg, "the user prompt is not valid UTF-8"));
	c.user = NULL;
	assert_int_equal(prov_submit(p, &c, &e), -1);
	assert_int_equal(prov_pool_pending(p), 0);
	prov_pool_free(p);
}

static void test_scrub_and_escape(void **state)
{
	struct prov_pool *p;
	struct err e;
	struct buf b = BUF_INIT;
	char msg[256];

	(void)state;
	setenv("SKUGEN_TEST_KEY", "plainkey-without-prefix-42", 1);
	p = open_text("{\"o\":{\"type\":\"openai\",\"api_key_env\":\"SKUGEN_TEST_KEY\"}}", &e);
	assert_non_null(p);
	snprintf(msg, sizeof msg, "o: 401 invalid_api_key: Incorrect API key provided: sk-proj-abcdefgh1234. "
		 "Echo plainkey-without-prefix-42 and Bearer abcdefghijklmnop");
	prov_scrub(p, msg);
	assert_null(strstr(msg, "abcdefgh1234"));
	assert_null(strstr(msg, "plainkey-without-prefix-42"));
	assert_null(strstr(msg, "abcdefghijklmnop"));
	assert_non_null(strstr(msg, "o: 401 invalid_api_key: Incorrect API key provided: sk-"));
	prov_pool_free(p);

	assert_int_equal(prov_json_str(&b, "a\"b\\c\n\x01\xc3\xa9"), 0);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
	buf_free(&b);
}

/* Walk text with jscan, skipping every value: 0 when it is valid JSON. */
static int jscan_valid(const char *text)
{
	struct jscan s;

	jscan_init(&s, text, strlen(text));
	if (jscan_skip(&s) < 0)
		return -1;
	return jscan_end(&s);
}

static void test_jscan(void **state)
{
	const char *doc = "{\"a\": [1, -2.5e3, true, false, null, {\"x\": []}], \"s\": \"q\\\"\\u00e9\\ud83d\\ude00\\n\","
			  " \"n\": 42, \"long_key_that_is_truncated\": 1, \"e\\u0073c\": 2}";
	struct jscan s;
	struct buf b = BUF_INIT;
	char key[8];
	long long n = 0;
	int rc, members = 0;

	(void)state;
	assert_int_equal(jscan_valid(doc), 0);
	jscan_init(&s, doc, strlen(doc));
	assert_int_equal(jscan_object(&s), 0);
	while ((rc = jscan_key(&s, key, sizeof key)) == 1) {
		members++;
		if (strcmp(key, "s") == 0)
			assert_int_equal(jscan_string(&s, &b), 0);
		else if (strcmp(key, "n") == 0)
			assert_int_equal(jscan_int(&s, &n), 0);
		else
			assert_int_equal(jscan_skip(&s), 0);
		if (members >= 4)
			assert_string_equal(key, ""); /* too long, or escaped: matches nothing */
	}
	assert_int_equal(rc, 0);
	assert_int_equal(members, 5);
	assert_int_equal(jscan_end(&s), 0);
	assert_string_equal(b.data, "q\"\xc3\xa9\xf0\x9f\x98\x80\n");
	assert_int_equal(n, 42);
	buf_free(&b);

	assert_int_equal(jscan_valid("[]"), 0);
	assert_int_equal(jscan_valid(" {} "), 0);
	assert_int_equal(jscan_valid("[1,]"), -1);
	assert_int_equal(jscan_valid("{\"a\":1,}"), -1);
	assert_int_equal(jscan_valid("{\"a\" 1}"), -1);
	assert_int_equal(jscan_valid("[01]"), -1);
	assert_int_equal(jscan_valid("[1.]"), -1);
	assert_int_equal(jscan_valid("[\"tab\there\"]"), -1);
	assert_int_equal(jscan_valid("[\"\\ud800\"]"), -1);
	assert_int_equal(jscan_valid("[\"\\x\"]"), -1);
	assert_int_equal(jscan_valid("[\"open"), -1);
	assert_int_equal(jscan_valid("{} x"), -1);
	assert_int_equal(jscan_valid("[tru]"), -1);
	assert_int_equal(jscan_valid("[1 2]"), -1);
	assert_int_equal(jscan_valid(""), -1);
	{
		char deep[300];

		memset(deep, '[', 200);
		deep[200] = '\0';
		assert_int_equal(jscan_valid(deep), -1); /* too deep (and unclosed) */
		memset(deep, '[', 100);
		memset(deep + 100, ']', 100);
		deep[200] = '\0';
		assert_int_equal(jscan_valid(deep), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_go_durations),
		cmocka_unit_test(test_rfc3339_and_retry_after),
		cmocka_unit_test(test_bucket_paces_and_headers_correct_it),
		cmocka_unit_test(test_circuit),
		cmocka_unit_test(test_retry_classes_and_backoff),
		cmocka_unit_test(test_schema_subset),
		cmocka_unit_test(test_estimate_tokens),
		cmocka_unit_test(test_prices),
		cmocka_unit_test(test_config_errors_name_the_key),
		cmocka_unit_test(test_submit_refuses_bad_calls),
		cmocka_unit_test(test_scrub_and_escape),
		cmocka_unit_test(test_jscan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
