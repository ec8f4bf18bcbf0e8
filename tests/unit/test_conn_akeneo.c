/* test_conn_akeneo.c: the "akeneo" connector (connectors/akeneo.c) against
 * the fake Akeneo (tests/fakes/fake_akeneo.c), started as a child process
 * on a free port for each test: authentication and refresh, pagination by
 * next links only, incremental reads, locale/scope mapping, bad records,
 * 429, dropped connections, write-back with every policy, media uploads, the
 * 4-in-flight bound, and the requests checked against Akeneo's API
 * description ($SKUGEN_SPEC_DIR/akeneo/akeneo-web-api.json). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/hash.h"
#include "connectors/akeneo.h"
#include "tests/support/drain.h"
#include "tests/support/fake_proc.h"

static char tmpdir[] = "/tmp/skugen-test-conn-akeneo-XXXXXX";

/* ---- the fake ------------------------------------------------------------ */

/* Start fake_akeneo with the products file (in tmpdir) and extra options
 * (NULL-terminated). */
static void fake_start(struct fake_proc *f, const char *products, ...)
{
	char path[512];
	const char *argv[64];
	size_t argc = 0;
	va_list ap;
	const char *a;

	if (products) {
		snprintf(path, sizeof path, "%s/%s", tmpdir, products);
		argv[argc++] = "--products";
		argv[argc++] = path;
	}
	va_start(ap, products);
	while ((a = va_arg(ap, const char *)) && argc < 63)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	if (fake_proc_start(f, "fake_akeneo", argv) < 0)
		fail_msg("fake_akeneo did not start");
}

/* A request to the fake's test hooks; the answer's JSON (new). */
static json_t *fake_call(const struct fake_proc *f, const char *method, const char *path)
{
	json_t *j = fake_proc_call(f, method, path, NULL, NULL);

	assert_non_null(j);
	return j;
}

static json_t *fake_stats(const struct fake_proc *f)
{
	return fake_call(f, "GET", "/_fake/stats");
}

static long long stat_int(const json_t *s, const char *k)
{
	return (long long)json_integer_value(json_object_get(s, k));
}

/* ---- fixtures --------------------------------------------------------------- */

static void uuid_of(int i, char out[40])
{
	uint32_t h = (uint32_t)i * 2654435761u;

	snprintf(out, 40, "%08x-%04x-4%03x-8%03x-%012x", h, (unsigned)i & 0xffff,
		 (unsigned)(h >> 20) & 0xfff, (unsigned)i & 0xfff, (unsigned)i);
}

/* Product i as Akeneo 7 gives it; updated on day 1 + i % 28 of March 2024. */
static void put_product(FILE *f, int i)
{
	char uuid[40];

	uuid_of(i, uuid);
	fprintf(f, "{\"uuid\":\"%s\",\"enabled\":true,\"family\":\"tshirt\","
		"\"categories\":[\"summer\",\"men\"],\"groups\":[],\"parent\":null,"
		"\"values\":{"
		"\"sku\":[{\"locale\":null,\"scope\":null,\"data\":\"SKU-%05d\","
		"\"attribute_type\":\"pim_catalog_identifier\"}],"
		"\"name\":[{\"locale\":\"en_US\",\"scope\":null,\"data\":\"Name %d\","
		"\"attribute_type\":\"pim_catalog_text\"},"
		"{\"locale\":\"fr_FR\",\"scope\":null,\"data\":\"Nom %d\","
		"\"attribute_type\":\"pim_catalog_text\"}],"
		"\"description\":[{\"locale\":\"en_US\",\"scope\":\"ecommerce\",\"data\":\"Desc %d\","
		"\"attribute_type\":\"pim_catalog_textarea\"},"
		"{\"locale\":\"en_US\",\"scope\":\"mobile\",\"data\":\"Short %d\","
		"\"attribute_type\":\"pim_catalog_textarea\"},"
		"{\"locale\":\"fr_FR\",\"scope\":\"ecommerce\",\"data\":\"Descr %d\","
		"\"attribute_type\":\"pim_catalog_textarea\"}],"
		"\"price\":[{\"locale\":null,\"scope\":null,\"data\":[{\"amount\":\"%d.50\","
		"\"currency\":\"EUR\"},{\"amount\":\"%d\",\"currency\":\"USD\"}],"
		"\"attribute_type\":\"pim_catalog_price_collection\"}],"
		"\"weight\":[{\"locale\":null,\"scope\":null,\"data\":{\"amount\":\"1.5\","
		"\"unit\":\"KILOGRAM\"},\"attribute_type\":\"pim_catalog_metric\"}],"
		"\"waterproof\":[{\"locale\":null,\"scope\":null,\"data\":%s,"
		"\"attribute_type\":\"pim_catalog_boolean\"}],"
		"\"color\":[{\"locale\":null,\"scope\":null,\"data\":\"black\","
		"\"attribute_type\":\"pim_catalog_simpleselect\"}]},"
		"\"created\":\"2024-01-01T00:00:00+00:00\","
		"\"updated\":\"2024-03-%02dT12:00:00+00:00\"}\n",
		uuid, i, i, i, i, i, i, i, i, i % 2 ? "true" : "false", 1 + i % 28);
}

static void write_products(const char *name, int n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < n; i++)
		put_product(f, i);
	assert_int_equal(fclose(f), 0);
}

/* The options every fake gets: attributes not in the products. */
#define FAKE_ATTRS "--attribute", "meta_title=pim_catalog_textarea:localizable:scopable", \
	"--attribute", "image_main=pim_catalog_image"

/* ---- the connector ------------------------------------------------------------ */

static char *cfg_text(const struct fake_proc *f, const char *extra)
{
	char *s;

	assert_true(asprintf(&s, "{\"type\":\"akeneo\",\"base_url\":\"%s\",\"locale\":\"en_US\","
			     "\"scope\":\"ecommerce\"%s%s}", f->url, extra ? "," : "",
			     extra ? extra : "") > 0);
	return s;
}

static int open_conn(const struct fake_proc *f, const char *extra, const char *since,
		     struct conn **c, struct err *e)
{
	char *text = cfg_text(f, extra);
	json_error_t je;
	json_t *cfg = json_loads(text, 0, &je);
	int rc;

	if (!cfg)
		fail_msg("bad test config %s: %s", text, je.text);
	free(text);
	rc = conn_akeneo_ops.open(c, cfg, &(struct conn_open_opts){ .base_dir = tmpdir,
								     .since = since }, e);
	json_decref(cfg);
	return rc;
}

struct got {
	struct record *v;
	size_t n;
};

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		record_clear(&g->v[i]);
	free(g->v);
	memset(g, 0, sizeof *g);
}

/* Read everything from c in batches of cap, checking the batch contract. */
static int drain(struct conn *c, size_t cap, struct got *g, struct err *e)
{
	return drain_records(&conn_akeneo_ops, c, cap, &g->v, &g->n, e);
}

static const struct record *find_sku(const struct got *g, const char *sku)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].sku && strcmp(g->v[i].sku, sku) == 0)
			return &g->v[i];
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The products-uuid GETs in the fake's log. */
static size_t product_gets(const json_t *stats, const json_t **out, size_t cap)
{
	const json_t *log = json_object_get(stats, "log"), *x;
	size_t i, n = 0;

	json_array_foreach(log, i, x) {
		if (strcmp(json_string_value(json_object_get(x, "method")), "GET") == 0 &&
		    strcmp(json_string_value(json_object_get(x, "path")),
			   "/api/rest/v1/products-uuid") == 0 && n < cap)
			out[n++] = x;
	}
	return n;
}

/* ---- tests: configuration --------------------------------------------------------- */

static void expect_open_error(const struct fake_proc *f, const char *extra, enum err_code code,
			      const char *needle)
{
	struct conn *c = NULL;
	struct err e;

	err_clear(&e);
	assert_int_equal(open_conn(f, extra, NULL, &c, &e), -1);
	assert_null(c);
	if (e.code != code || !strstr(e.msg, needle))
		fail_msg("expected %s error with \"%s\", got %s: %s", err_code_name(code), needle,
			 err_code_name(e.code), e.msg);
}

static void test_config_errors(void **state)
{
	struct fake_proc f = { .url = "http://127.0.0.1:1" };
	struct conn *c = NULL;
	struct err e;
	json_t *cfg;

	(void)state;
	expect_open_error(&f, "\"pagesize\":10", ERR_CONFIG, "source.pagesize: unknown key");
	expect_open_error(&f, "\"page_size\":500", ERR_CONFIG,
			  "source.page_size: expected an integer from 1 to 100, got 500");
	expect_open_error(&f, "\"timeout_s\":\"30\"", ERR_CONFIG, "source.timeout_s");
	expect_open_error(&f, "\"attributes\":[\"name\"]", ERR_CONFIG, "source.attributes: expected");
	expect_open_error(&f, "\"attributes\":{\"family\":\"fam\"}", ERR_CONFIG,
			  "source.attributes.\"family\": the field name is taken");
	expect_open_error(&f, "\"attributes\":{\"title\":7}", ERR_CONFIG,
			  "source.attributes.\"title\": expected an akeneo attribute code, got 7");
	expect_open_error(&f, "\"secret_env\":\"SKUGEN_TEST_NO_SUCH_VAR\"", ERR_CONFIG,
			  "source.secret_env: environment variable \"SKUGEN_TEST_NO_SUCH_VAR\" is not set");
	expect_open_error(&f, "\"type\":\"file\"", ERR_CONFIG, "source.type: expected \"akeneo\"");
	cfg = json_loads("{\"base_url\":\"ftp://x\",\"locale\":\"en_US\",\"scope\":\"e\"}", 0, NULL);
	assert_int_equal(conn_akeneo_ops.open(&c, cfg, &(struct conn_open_opts){ 0 }, &e), -1);
	assert_int_equal(e.code, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "source.base_url: expected an http:// or https:// URL"));
	json_decref(cfg);
	cfg = json_loads("{\"base_url\":\"http://x\",\"scope\":\"e\"}", 0, NULL);
	assert_int_equal(conn_akeneo_ops.open(&c, cfg, &(struct conn_open_opts){ 0 }, &e), -1);
	assert_non_null(strstr(e.msg, "source.locale: missing"));
	json_decref(cfg);
	/* nothing listens on port 1: the source is unreachable */
	expect_open_error(&f, NULL, ERR_SOURCE, "POST /api/oauth/v1/token");
	assert_ptr_equal(conn_find("akeneo"), &conn_akeneo_ops);
}

static void test_bad_credentials(void **state)
{
	struct fake_proc f;

	(void)state;
	write_products("creds.jsonl", 1);
	fake_start(&f, "creds.jsonl", "--secret", "the-right-one", NULL);
	/* AKENEO_SECRET holds "s3cr3t-value": refused, named, never shown */
	expect_open_error(&f, NULL, ERR_CONFIG, "AKENEO_SECRET");
	{
		struct conn *c = NULL;
		struct err e;

		assert_int_equal(open_conn(&f, NULL, NULL, &c, &e), -1);
		assert_null(strstr(e.msg, "s3cr3t-value"));
		assert_null(strstr(e.msg, "the-right-one"));
		assert_non_null(strstr(e.msg, "422"));
		assert_non_null(strstr(e.msg, "client_id"));
	}
	fake_proc_stop(&f);
}

static void test_check_target(void **state)
{
	static const struct {
		const char *target, *needle;
	} cases[] = {
		{ "{\"attribute\":\"description\",\"locale\":\"{locale}\",\"scope\":\"ecommerce\"}", NULL },
		{ "{\"attribute\":\"description\",\"locale\":\"en_US\",\"scope\":\"{channel}\"}", NULL },
		{ "{\"attribute\":\"description\",\"locale\":null,\"scope\":null}", NULL },
		{ "{\"attribute\":\"image_main\",\"media\":true}", NULL },
		{ "{\"locale\":\"en_US\"}", "outputs[2].target.attribute: missing" },
		{ "{\"attribute\":\"\"}", "outputs[2].target.attribute: expected an akeneo attribute" },
		{ "{\"attribute\":\"d\",\"locale\":5}", "outputs[2].target.locale: expected a locale" },
		{ "{\"attribute\":\"d\",\"locale\":\"{lang}\"}", "outputs[2].target.locale" },
		{ "{\"attribute\":\"d\",\"scope\":\"{locale}\"}", "outputs[2].target.scope" },
		{ "{\"attribute\":\"d\",\"media\":\"yes\"}", "outputs[2].target.media: expected true" },
		{ "{\"attribute\":\"d\",\"column\":\"x\"}", "outputs[2].target.column: unknown key" },
		{ "\"description\"", "outputs[2].target: expected an object" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_t *t = json_loads(cases[i].target, JSON_DECODE_ANY, NULL);
		struct err e;
		int rc;

		err_clear(&e);
		rc = conn_akeneo_ops.check_target(t, "outputs[2].target", &e);
		if (!cases[i].needle && rc != 0)
			fail_msg("%s: %s", cases[i].target, e.msg);
		if (cases[i].needle && (rc != -1 || e.code != ERR_CONFIG || !strstr(e.msg, cases[i].needle)))
			fail_msg("%s: expected \"%s\", got %s", cases[i].target, cases[i].needle, e.msg);
		json_decref(t);
	}
}

/* ---- tests: reading ----------------------------------------------------------------- */

static void test_pagination_next_links_only(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	json_t *s;
	const json_t *gets[64];
	struct conn_akeneo_stats cs;
	size_t n;

	(void)state;
	write_products("p250.jsonl", 250);
	fake_start(&f, "p250.jsonl", FAKE_ATTRS, NULL);
	assert_int_equal(open_conn(&f, NULL, NULL, &c, &e), 0);
	assert_int_equal(drain(c, 64, &g, &e), 0);
	assert_int_equal(g.n, 250);
	for (int i = 0; i < 250; i++) {
		char sku[32], uuid[40];
		const struct record *r;

		snprintf(sku, sizeof sku, "SKU-%05d", i);
		uuid_of(i, uuid);
		r = find_sku(&g, sku);
		assert_non_null(r);
		assert_null(r->error);
		assert_string_equal(json_string_value(json_object_get(r->fields, "uuid")), uuid);
		assert_true(strncmp(r->origin, "akeneo:", 7) == 0);
		assert_string_equal(r->origin + 7, uuid);
	}
	/* 1 + 27 days: the largest "updated", as Akeneo wrote it */
	assert_string_equal(conn_akeneo_ops.watermark(c), "2024-03-28T12:00:00+00:00");
	conn_akeneo_get_stats(c, &cs);
	assert_int_equal(cs.pages, 3);
	assert_true(cs.max_in_flight <= 4);
	conn_akeneo_ops.close(c);

	s = fake_stats(&f);
	assert_int_equal(stat_int(s, "bad_cursors"), 0);
	n = product_gets(s, gets, 64);
	assert_int_equal(n, 3);
	/* the first page: what skugen asks for; then only what Akeneo linked */
	{
		const json_t *q0 = json_object_get(gets[0], "query");

		assert_string_equal(json_string_value(json_object_get(q0, "pagination_type")),
				    "search_after");
		assert_string_equal(json_string_value(json_object_get(q0, "limit")), "100");
		assert_null(json_object_get(q0, "search_after"));
		assert_string_equal(json_string_value(json_object_get(gets[0], "auth")), "bearer");
	}
	for (size_t i = 1; i < n; i++) {
		const json_t *q = json_object_get(gets[i], "query");
		const char *cur = json_string_value(json_object_get(q, "search_after"));

		assert_non_null(cur);
		/* the fake's cursors are 40 random hex digits: not an offset, not a uuid */
		assert_int_equal(strlen(cur), 40);
		assert_int_equal(json_integer_value(json_object_get(gets[i], "status")), 200);
		assert_string_equal(json_string_value(json_object_get(q, "limit")), "100");
	}
	assert_int_equal(stat_int(s, "cursors_issued"), 2);
	json_decref(s);
	got_free(&g);
	fake_proc_stop(&f);
}

static void test_since_filter(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	json_t *s, *search;
	const json_t *gets[8];

	(void)state;
	write_products("p56.jsonl", 56);
	fake_start(&f, "p56.jsonl", NULL);
	/* days 1..28, twice each: since day 26 at noon (+02:00 = 10:00 UTC)
	 * reads days 26 (its own second, again), 27 and 28 */
	assert_int_equal(open_conn(&f, NULL, "2024-03-26T14:00:00+02:00", &c, &e), 0);
	assert_int_equal(drain(c, 100, &g, &e), 0);
	assert_int_equal(g.n, 3 * 2);   /* 12:00 UTC on day 26 is after 11:59:59 */
	for (size_t i = 0; i < g.n; i++) {
		int k = atoi(g.v[i].sku + 4);

		assert_true(1 + k % 28 >= 26);
	}
	assert_string_equal(conn_akeneo_ops.watermark(c), "2024-03-28T12:00:00+00:00");
	conn_akeneo_ops.close(c);
	got_free(&g);
	s = fake_stats(&f);
	assert_int_equal(product_gets(s, gets, 8), 1);
	search = json_loads(json_string_value(json_object_get(json_object_get(gets[0], "query"),
							      "search")), 0, NULL);
	assert_non_null(search);
	{
		json_t *want = json_loads("{\"updated\":[{\"operator\":\">\",\"value\":"
					  "\"2024-03-26 11:59:59\"}]}", 0, NULL);

		assert_true(json_equal(search, want));
		json_decref(want);
	}
	json_decref(search);
	json_decref(s);

	/* a watermark in Akeneo's own format; and a bad one */
	assert_int_equal(open_conn(&f, NULL, "2024-03-28 12:00:00", &c, &e), 0);
	assert_int_equal(drain(c, 100, &g, &e), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(conn_akeneo_ops.watermark(c), "2024-03-28T12:00:00+00:00");
	conn_akeneo_ops.close(c);
	got_free(&g);
	assert_int_equal(open_conn(&f, NULL, "yesterday", &c, &e), -1);
	assert_int_equal(e.code, ERR_USAGE);
	assert_non_null(strstr(e.msg, "since: expected a date"));
	fake_proc_stop(&f);
}

static void test_locale_scope_mapping(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	const struct record *r;
	json_t *s;
	const json_t *gets[8];
	char *text;

	(void)state;
	write_products("p3.jsonl", 3);
	fake_start(&f, "p3.jsonl", NULL);

	/* explicit mapping, fr_FR / ecommerce */
	text = "\"identifier\":\"sku\",\"attributes\":{\"title\":\"name\",\"body\":\"description\","
	       "\"price\":\"price\",\"weight\":\"weight\",\"waterproof\":\"waterproof\","
	       "\"colour\":\"color\"}";
	{
		char *cfg = cfg_text(&f, text);
		json_t *j = json_loads(cfg, 0, NULL);

		json_object_set_new(j, "locale", json_string("fr_FR"));
		free(cfg);
		assert_int_equal(conn_akeneo_ops.open(&c, j, &(struct conn_open_opts){ 0 }, &e), 0);
		json_decref(j);
	}
	assert_int_equal(drain(c, 10, &g, &e), 0);
	assert_int_equal(g.n, 3);
	r = find_sku(&g, "SKU-00001");
	assert_non_null(r);
	assert_null(r->error);
	assert_string_equal(json_string_value(json_object_get(r->fields, "title")), "Nom 1");
	assert_string_equal(json_string_value(json_object_get(r->fields, "body")), "Descr 1");
	assert_true(json_is_array(json_object_get(r->fields, "price")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(r->fields, "price"), 0), "currency")), "EUR");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r->fields, "weight"),
							      "unit")), "KILOGRAM");
	assert_true(json_is_true(json_object_get(r->fields, "waterproof")));
	assert_string_equal(json_string_value(json_object_get(r->fields, "colour")), "black");
	assert_string_equal(json_string_value(json_object_get(r->fields, "family")), "tshirt");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r->fields,
						"categories"), 1)), "men");
	assert_string_equal(json_string_value(json_object_get(r->fields, "sku")), "SKU-00001");
	assert_null(json_object_get(r->fields, "name"));   /* only mapped fields */
	assert_int_equal(json_object_size(r->fields), 10);
	conn_akeneo_ops.close(c);
	got_free(&g);
	s = fake_stats(&f);
	assert_int_equal(product_gets(s, gets, 8), 1);
	/* with identifier and mapping known, only those attributes are asked for */
	assert_string_equal(json_string_value(json_object_get(json_object_get(gets[0], "query"),
							      "attributes")),
			    "sku,name,description,price,weight,waterproof,color");
	json_decref(s);

	/* default mapping: every attribute under its code, en_US / mobile */
	{
		char *cfg = cfg_text(&f, NULL);
		json_t *j = json_loads(cfg, 0, NULL);

		json_object_set_new(j, "scope", json_string("mobile"));
		free(cfg);
		assert_int_equal(conn_akeneo_ops.open(&c, j, &(struct conn_open_opts){ 0 }, &e), 0);
		json_decref(j);
	}
	assert_int_equal(drain(c, 2, &g, &e), 0);
	r = find_sku(&g, "SKU-00002");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r->fields, "sku")), "SKU-00002");
	assert_string_equal(json_string_value(json_object_get(r->fields, "name")), "Name 2");
	assert_string_equal(json_string_value(json_object_get(r->fields, "description")), "Short 2");
	assert_true(json_is_false(json_object_get(r->fields, "waterproof")));
	conn_akeneo_ops.close(c);
	got_free(&g);
	fake_proc_stop(&f);
}

static void test_bad_records(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	char path[512];
	FILE *fp;
	char *big;
	const struct record *r;
	size_t bad = 0;

	(void)state;
	snprintf(path, sizeof path, "%s/bad.jsonl", tmpdir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	put_product(fp, 0);
	fputs("{\"uuid\":\"aaaaaaaa-0000-4000-8000-000000000001\",\"family\":null,\"categories\":[],"
	      "\"values\":{\"name\":[{\"locale\":\"en_US\",\"scope\":null,\"data\":\"No id\"}]},"
	      "\"updated\":\"2024-03-01T00:00:00+00:00\"}\n", fp);
	fputs("{\"uuid\":\"aaaaaaaa-0000-4000-8000-000000000002\",\"family\":null,\"categories\":[],"
	      "\"values\":{\"sku\":[{\"locale\":null,\"scope\":null,\"data\":\"FR-ONLY\"}],"
	      "\"name\":[{\"locale\":\"fr_FR\",\"scope\":null,\"data\":\"Seulement\"}],"
	      "\"description\":[{\"locale\":\"en_US\",\"scope\":\"ecommerce\",\"data\":\"ok\"}]},"
	      "\"updated\":\"2024-03-01T00:00:00+00:00\"}\n", fp);
	big = malloc(10 * 1024 * 1024 + 1);
	assert_non_null(big);
	memset(big, 'x', 10 * 1024 * 1024);
	big[10 * 1024 * 1024] = '\0';
	fprintf(fp, "{\"uuid\":\"aaaaaaaa-0000-4000-8000-000000000003\",\"family\":null,"
		"\"categories\":[],\"values\":{\"sku\":[{\"locale\":null,\"scope\":null,"
		"\"data\":\"HUGE\"}],\"name\":[{\"locale\":\"en_US\",\"scope\":null,\"data\":\"Big\"}],"
		"\"description\":[{\"locale\":\"en_US\",\"scope\":\"ecommerce\",\"data\":\"%s\"}]},"
		"\"updated\":\"2024-03-01T00:00:00+00:00\"}\n", big);
	free(big);
	fputs("{\"uuid\":\"aaaaaaaa-0000-4000-8000-000000000004\",\"family\":null,\"categories\":[],"
	      "\"values\":{\"sku\":[{\"locale\":null,\"scope\":null,\"data\":\"NUL\"}],"
	      "\"name\":[{\"locale\":\"en_US\",\"scope\":null,\"data\":\"a\\u0000b\"}],"
	      "\"description\":[{\"locale\":\"en_US\",\"scope\":\"ecommerce\",\"data\":\"ok\"}]},"
	      "\"updated\":\"2024-03-01T00:00:00+00:00\"}\n", fp);
	fputs("{\"uuid\":\"aaaaaaaa-0000-4000-8000-000000000005\",\"family\":null,\"categories\":[],"
	      "\"values\":{\"sku\":[{\"locale\":null,\"scope\":null,\"data\":42}]},"
	      "\"updated\":\"2024-03-01T00:00:00+00:00\"}\n", fp);
	put_product(fp, 1);
	assert_int_equal(fclose(fp), 0);
	fake_start(&f, "bad.jsonl", NULL);

	assert_int_equal(open_conn(&f, "\"identifier\":\"sku\",\"attributes\":{\"title\":\"name\","
				   "\"body\":\"description\"}", NULL, &c, &e), 0);
	assert_int_equal(drain(c, 3, &g, &e), 0);
	assert_int_equal(g.n, 7);
	for (size_t i = 0; i < g.n; i++) {
		r = &g.v[i];
		if (!r->error)
			continue;
		bad++;
		if (strcmp(r->origin, "akeneo:aaaaaaaa-0000-4000-8000-000000000001") == 0)
			assert_string_equal(r->error, "product has no identifier (attribute \"sku\")");
		else if (strcmp(r->origin, "akeneo:aaaaaaaa-0000-4000-8000-000000000002") == 0)
			assert_string_equal(r->error, "attribute \"name\": no value for locale \"en_US\"");
		else if (strcmp(r->origin, "akeneo:aaaaaaaa-0000-4000-8000-000000000003") == 0)
			assert_string_equal(r->error,
					    "attribute \"description\" is 10485760 bytes, limit 1048576");
		else if (strcmp(r->origin, "akeneo:aaaaaaaa-0000-4000-8000-000000000004") == 0)
			assert_string_equal(r->error,
					    "attribute \"name\": NUL character (\\u0000) in the value");
		else if (strcmp(r->origin, "akeneo:aaaaaaaa-0000-4000-8000-000000000005") == 0)
			assert_string_equal(r->error,
					    "identifier attribute \"sku\" must be a string, got an integer");
		else
			fail_msg("unexpected error on %s: %s", r->origin, r->error);
	}
	assert_int_equal(bad, 5);
	/* the SKU of a record that failed for another reason is kept */
	assert_non_null(find_sku(&g, "HUGE"));
	assert_non_null(find_sku(&g, "SKU-00000"));
	assert_null(find_sku(&g, "SKU-00001")->error);
	conn_akeneo_ops.close(c);
	got_free(&g);
	fake_proc_stop(&f);
}

/* ---- tests: tokens and faults --------------------------------------------------------- */

static void test_refresh_before_expiry(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	struct conn_akeneo_stats cs;
	json_t *s;
	const json_t *log, *x;
	size_t i;

	(void)state;
	write_products("p40.jsonl", 40);
	/* tokens last 2 s; 20 pages of 2, 150 ms each: about 3 s */
	fake_start(&f, "p40.jsonl", "--token-ttl", "2", "--latency-ms", "150", NULL);
	assert_int_equal(open_conn(&f, "\"page_size\":2", NULL, &c, &e), 0);
	assert_int_equal(drain(c, 7, &g, &e), 0);
	assert_int_equal(g.n, 40);
	conn_akeneo_get_stats(c, &cs);
	assert_int_equal(cs.token_grants, 1);
	assert_true(cs.token_refreshes >= 1);
	assert_int_equal(cs.retries_401, 0);
	conn_akeneo_ops.close(c);
	s = fake_stats(&f);
	assert_int_equal(stat_int(s, "unauthorized"), 0);
	assert_int_equal(stat_int(s, "token_password"), 1);
	assert_true(stat_int(s, "token_refresh") >= 1);
	/* every token request: HTTP Basic, the documented body */
	log = json_object_get(s, "log");
	json_array_foreach(log, i, x) {
		if (strcmp(json_string_value(json_object_get(x, "path")), "/api/oauth/v1/token") != 0)
			continue;
		assert_string_equal(json_string_value(json_object_get(x, "auth")), "basic");
		assert_int_equal(json_integer_value(json_object_get(x, "status")), 200);
		assert_string_equal(json_string_value(json_object_get(x, "content_type")),
				    "application/json");
	}
	json_decref(s);
	got_free(&g);
	fake_proc_stop(&f);
}

static void test_401_mid_run(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct record_batch b;
	struct err e;
	struct conn_akeneo_stats cs;
	size_t total = 0;
	json_t *s;

	(void)state;
	write_products("p30.jsonl", 30);
	fake_start(&f, "p30.jsonl", NULL);
	assert_int_equal(open_conn(&f, "\"page_size\":10", NULL, &c, &e), 0);
	assert_int_equal(record_batch_init(&b, 10), 0);
	assert_int_equal(conn_akeneo_ops.next(c, &b, &e), 0);
	total += b.len;
	json_decref(fake_call(&f, "POST", "/_fake/revoke"));   /* the server forgets the token */
	for (;;) {
		if (conn_akeneo_ops.next(c, &b, &e) < 0)
			fail_msg("after a 401: %s", e.msg);
		if (b.len == 0)
			break;
		total += b.len;
	}
	assert_int_equal(total, 30);
	conn_akeneo_get_stats(c, &cs);
	assert_true(cs.retries_401 >= 1);
	assert_true(cs.token_refreshes >= 1);
	s = fake_stats(&f);
	assert_true(stat_int(s, "unauthorized") >= 1);
	assert_true(stat_int(s, "token_refresh") >= 1);
	json_decref(s);
	record_batch_free(&b);
	conn_akeneo_ops.close(c);
	fake_proc_stop(&f);
}

static void test_429_retry_after(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	double t0, took;
	json_t *s;
	long long limited;

	(void)state;
	write_products("p25.jsonl", 25);
	fake_start(&f, "p25.jsonl", "--429-every", "3", "--retry-after", "1", NULL);
	assert_int_equal(open_conn(&f, "\"page_size\":5", NULL, &c, &e), 0);
	t0 = now_s();
	assert_int_equal(drain(c, 100, &g, &e), 0);
	took = now_s() - t0;
	assert_int_equal(g.n, 25);
	s = fake_stats(&f);
	limited = stat_int(s, "rate_limited");
	assert_true(limited >= 2);
	/* each 429 said: wait a second; loosely timed */
	if (took < 0.9 * (double)limited || took > 1.0 * (double)limited + 5)
		fail_msg("%lld answers 429 with Retry-After 1 took %.2f s", limited, took);
	json_decref(s);
	conn_akeneo_ops.close(c);
	got_free(&g);
	fake_proc_stop(&f);
}

static void test_dropped_connection_resumes(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	json_t *s;

	(void)state;
	write_products("p60.jsonl", 60);
	fake_start(&f, "p60.jsonl", "--drop-every", "2", "--500-every", "5", NULL);
	assert_int_equal(open_conn(&f, "\"page_size\":10", NULL, &c, &e), 0);
	assert_int_equal(drain(c, 8, &g, &e), 0);
	assert_int_equal(g.n, 60);
	for (int i = 0; i < 60; i++) {
		char sku[32];

		snprintf(sku, sizeof sku, "SKU-%05d", i);
		assert_non_null(find_sku(&g, sku));
	}
	s = fake_stats(&f);
	assert_true(stat_int(s, "drops") >= 3);
	assert_true(stat_int(s, "server_errors") >= 1);
	assert_int_equal(stat_int(s, "bad_cursors"), 0);
	json_decref(s);
	conn_akeneo_ops.close(c);
	got_free(&g);
	fake_proc_stop(&f);
}

static void test_source_lost(void **state)
{
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	json_t *s;
	size_t i;
	const json_t *tok;

	(void)state;
	write_products("p5.jsonl", 5);
	fake_start(&f, "p5.jsonl", "--drop-every", "1", NULL);
	assert_int_equal(open_conn(&f, NULL, NULL, &c, &e), 0);
	assert_int_equal(drain(c, 8, &g, &e), -1);
	assert_int_equal(e.code, ERR_SOURCE);
	assert_non_null(strstr(e.msg, "GET /api/rest/v1/products-uuid:"));
	assert_non_null(strstr(e.msg, "(5 attempts)"));
	assert_null(strchr(e.msg, '?'));
	s = fake_stats(&f);
	json_array_foreach(json_object_get(s, "tokens_issued"), i, tok)
		assert_null(strstr(e.msg, json_string_value(tok)));
	json_decref(s);
	/* it stays failed */
	{
		struct record_batch b;
		struct err e2;

		assert_int_equal(record_batch_init(&b, 4), 0);
		assert_int_equal(conn_akeneo_ops.next(c, &b, &e2), -1);
		assert_int_equal(b.len, 0);
		record_batch_free(&b);
	}
	conn_akeneo_ops.close(c);
	got_free(&g);
	fake_proc_stop(&f);

	/* a next link to another host is not followed */
	fake_start(&f, "p5.jsonl", "--link-base", "http://127.0.0.2:9", NULL);
	assert_int_equal(open_conn(&f, "\"page_size\":2", NULL, &c, &e), 0);
	assert_int_equal(drain(c, 8, &g, &e), -1);
	assert_int_equal(e.code, ERR_SOURCE);
	assert_non_null(strstr(e.msg, "the next page's link leaves"));
	assert_int_equal(g.n, 2);
	conn_akeneo_ops.close(c);
	got_free(&g);
	fake_proc_stop(&f);
}

/* ---- tests: writing --------------------------------------------------------------------- */

struct witems {
	struct conn_write_item v[1100];
	json_t *targets[1100];
	size_t n;
};

static struct conn_write_item *add_item(struct witems *w, const char *sku, const char *target,
					const char *value, enum conn_policy policy)
{
	struct conn_write_item *it = &w->v[w->n];

	memset(it, 0, sizeof *it);
	w->targets[w->n] = json_loads(target, 0, NULL);
	assert_non_null(w->targets[w->n]);
	it->sku = sku;
	it->output = "description";
	it->locale = "en_US";
	it->channel = "ecommerce";
	it->value = value;
	it->value_len = value ? strlen(value) : 0;
	it->target = w->targets[w->n];
	it->policy = policy;
	w->n++;
	return it;
}

static void witems_free(struct witems *w)
{
	conn_write_items_reset(w->v, w->n);
	for (size_t i = 0; i < w->n; i++)
		json_decref(w->targets[i]);
	w->n = 0;
}

static const char *value_in(const struct fake_proc *f, int i, const char *attr, const char *locale,
			    const char *scope, json_t **keep)
{
	char path[128], uuid[40];
	const json_t *arr, *x;
	size_t k;

	uuid_of(i, uuid);
	snprintf(path, sizeof path, "/_fake/products/%s", uuid);
	*keep = fake_call(f, "GET", path);
	arr = json_object_get(json_object_get(*keep, "values"), attr);
	json_array_foreach(arr, k, x) {
		const char *l = json_string_value(json_object_get(x, "locale"));
		const char *s = json_string_value(json_object_get(x, "scope"));

		if ((!locale ? !l : l && strcmp(l, locale) == 0) &&
		    (!scope ? !s : s && strcmp(s, scope) == 0))
			return json_string_value(json_object_get(x, "data"));
	}
	return NULL;
}

#define DESC "{\"attribute\":\"description\",\"locale\":\"{locale}\",\"scope\":\"{channel}\"}"
#define META "{\"attribute\":\"meta_title\",\"locale\":\"{locale}\",\"scope\":\"ecommerce\"}"

static void expect_status(const struct conn_write_item *it, enum conn_write_status st,
			  const char *needle)
{
	if (it->status != st || (needle && (!it->message || !strstr(it->message, needle))) ||
	    (!needle && st == CONN_WRITE_WRITTEN && it->message))
		fail_msg("%s -> %s: expected %s%s%s, got %s: %s", it->sku,
			 json_string_value(json_object_get(it->target, "attribute")),
			 conn_write_status_name(st), needle ? " with " : "", needle ? needle : "",
			 conn_write_status_name(it->status), it->message ? it->message : "(none)");
}

static void test_write_mixed_lines(void **state)
{
	static struct witems w;
	struct fake_proc f;
	struct conn *c;
	struct err e;
	json_t *keep, *s;

	(void)state;
	write_products("w10.jsonl", 10);
	fake_start(&f, "w10.jsonl", FAKE_ATTRS, NULL);
	assert_int_equal(open_conn(&f, "\"identifier\":\"sku\"", NULL, &c, &e), 0);
	add_item(&w, "SKU-00001", DESC, "A generated description", CONN_OVERWRITE_ALWAYS);
	add_item(&w, "SKU-00002", "{\"attribute\":\"bogus\",\"locale\":\"{locale}\"}", "x",
		 CONN_OVERWRITE_ALWAYS);
	add_item(&w, "SKU-00003", "{\"attribute\":\"price\"}", "12 EUR", CONN_OVERWRITE_ALWAYS);
	add_item(&w, "NO-SUCH-SKU", DESC, "x", CONN_OVERWRITE_ALWAYS);
	add_item(&w, "SKU-00004", "{\"attribute\":\"description\",\"locale\":null,"
		 "\"scope\":\"ecommerce\"}", "needs a locale", CONN_OVERWRITE_ALWAYS);
	add_item(&w, "SKU-00005", META, "Meta title 5", CONN_OVERWRITE_NEVER);
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
	expect_status(&w.v[0], CONN_WRITE_WRITTEN, NULL);
	expect_status(&w.v[1], CONN_WRITE_FAILED, "attribute \"bogus\": The attribute does not exist");
	expect_status(&w.v[1], CONN_WRITE_FAILED, "422 Validation failed.");
	expect_status(&w.v[2], CONN_WRITE_FAILED, "Property \"price\" expects an array as data");
	expect_status(&w.v[3], CONN_WRITE_FAILED, "no product with identifier \"NO-SUCH-SKU\"");
	expect_status(&w.v[4], CONN_WRITE_FAILED, "The description attribute requires a locale.");
	expect_status(&w.v[5], CONN_WRITE_WRITTEN, NULL);
	assert_string_equal(value_in(&f, 1, "description", "en_US", "ecommerce", &keep),
			    "A generated description");
	json_decref(keep);
	assert_string_equal(value_in(&f, 5, "meta_title", "en_US", "ecommerce", &keep),
			    "Meta title 5");
	json_decref(keep);
	/* the others are untouched */
	assert_string_equal(value_in(&f, 4, "description", "en_US", "ecommerce", &keep), "Desc 4");
	json_decref(keep);
	s = fake_stats(&f);
	assert_int_equal(stat_int(s, "patch_requests"), 1);
	assert_int_equal(stat_int(s, "patch_lines"), 5);
	json_decref(s);
	witems_free(&w);
	conn_akeneo_ops.close(c);
	fake_proc_stop(&f);
}

static void test_write_policies(void **state)
{
	static struct witems w;
	struct fake_proc f;
	struct conn *c;
	struct err e;
	char sha_desc3[HASH_HEX_LEN], sha_other[HASH_HEX_LEN];
	json_t *keep;

	(void)state;
	write_products("w12.jsonl", 12);
	fake_start(&f, "w12.jsonl", FAKE_ATTRS, NULL);
	/* no identifier configured and nothing read: products are looked up by "sku" */
	assert_int_equal(open_conn(&f, NULL, NULL, &c, &e), 0);
	sha256_hex("Desc 3", 6, sha_desc3);
	sha256_hex("something else", 14, sha_other);
	/* never */
	add_item(&w, "SKU-00001", DESC, "new 1", CONN_OVERWRITE_NEVER);
	add_item(&w, "SKU-00002", META, "meta 2", CONN_OVERWRITE_NEVER);
	/* if_generated */
	add_item(&w, "SKU-00003", DESC, "new 3", CONN_OVERWRITE_IF_GENERATED)->prior_sha256 =
		sha_desc3;
	add_item(&w, "SKU-00004", DESC, "new 4", CONN_OVERWRITE_IF_GENERATED)->prior_sha256 =
		sha_other;
	add_item(&w, "SKU-00005", DESC, "new 5", CONN_OVERWRITE_IF_GENERATED);
	add_item(&w, "SKU-00006", META, "meta 6", CONN_OVERWRITE_IF_GENERATED)->prior_sha256 =
		sha_other;
	/* always; and identical values under each policy */
	add_item(&w, "SKU-00007", DESC, "new 7", CONN_OVERWRITE_ALWAYS);
	add_item(&w, "SKU-00008", DESC, "Desc 8", CONN_OVERWRITE_ALWAYS);
	add_item(&w, "SKU-00009", DESC, "Desc 9", CONN_OVERWRITE_NEVER);
	add_item(&w, "SKU-00010", DESC, "Desc 10", CONN_OVERWRITE_IF_GENERATED);
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
	expect_status(&w.v[0], CONN_WRITE_REFUSED, "policy never: akeneo already holds a value in "
		      "attribute \"description\" (locale en_US, scope ecommerce)");
	expect_status(&w.v[1], CONN_WRITE_WRITTEN, NULL);
	expect_status(&w.v[2], CONN_WRITE_WRITTEN, NULL);
	expect_status(&w.v[3], CONN_WRITE_REFUSED, "policy if_generated: the value in attribute "
		      "\"description\" (locale en_US, scope ecommerce) is not the one skugen wrote");
	expect_status(&w.v[4], CONN_WRITE_REFUSED, "policy if_generated");
	expect_status(&w.v[5], CONN_WRITE_WRITTEN, NULL);   /* empty: filled */
	expect_status(&w.v[6], CONN_WRITE_WRITTEN, NULL);
	expect_status(&w.v[7], CONN_WRITE_UNCHANGED, NULL);
	expect_status(&w.v[8], CONN_WRITE_UNCHANGED, NULL);
	expect_status(&w.v[9], CONN_WRITE_UNCHANGED, NULL);
	assert_string_equal(value_in(&f, 1, "description", "en_US", "ecommerce", &keep), "Desc 1");
	json_decref(keep);
	assert_string_equal(value_in(&f, 3, "description", "en_US", "ecommerce", &keep), "new 3");
	json_decref(keep);
	assert_string_equal(value_in(&f, 4, "description", "en_US", "ecommerce", &keep), "Desc 4");
	json_decref(keep);
	assert_string_equal(value_in(&f, 7, "description", "en_US", "ecommerce", &keep), "new 7");
	json_decref(keep);
	/* and again: what skugen just wrote may be replaced under if_generated */
	witems_free(&w);
	{
		char sha_new3[HASH_HEX_LEN];

		sha256_hex("new 3", 5, sha_new3);
		add_item(&w, "SKU-00003", DESC, "newer 3", CONN_OVERWRITE_IF_GENERATED)->prior_sha256 =
			sha_new3;
		assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
		expect_status(&w.v[0], CONN_WRITE_WRITTEN, NULL);
	}
	witems_free(&w);
	conn_akeneo_ops.close(c);
	fake_proc_stop(&f);
}

static void write_file(const char *name, const char *text, char sha[HASH_HEX_LEN], char *path,
		       size_t cap)
{
	FILE *fp;

	snprintf(path, cap, "%s/%s", tmpdir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	sha256_hex(text, strlen(text), sha);
}

#define IMAGE "{\"attribute\":\"image_main\",\"media\":true}"

static void test_media_upload(void **state)
{
	static struct witems w;
	struct fake_proc f;
	struct conn *c;
	struct err e;
	char p1[512], p2[512], sha1[HASH_HEX_LEN], sha2[HASH_HEX_LEN];
	const char *code;
	json_t *s, *keep;
	const json_t *m;

	(void)state;
	write_products("m8.jsonl", 8);
	write_file("a.png", "\x89PNG first image", sha1, p1, sizeof p1);
	write_file("b.png", "\x89PNG second image", sha2, p2, sizeof p2);
	fake_start(&f, "m8.jsonl", FAKE_ATTRS, NULL);
	assert_int_equal(open_conn(&f, "\"identifier\":\"sku\"", NULL, &c, &e), 0);
	for (int i = 1; i <= 6; i++) {
		char *sku;

		assert_true(asprintf(&sku, "SKU-%05d", i) > 0);
		add_item(&w, sku, IMAGE, NULL, CONN_OVERWRITE_NEVER)->asset_path = p1;
	}
	add_item(&w, "SKU-00007", IMAGE, NULL, CONN_OVERWRITE_NEVER);   /* no file */
	add_item(&w, "SKU-00007", "{\"attribute\":\"name\",\"locale\":\"en_US\",\"media\":true}",
		 NULL, CONN_OVERWRITE_ALWAYS)->asset_path = p1;
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
	for (int i = 0; i < 6; i++)
		expect_status(&w.v[i], CONN_WRITE_WRITTEN, NULL);
	expect_status(&w.v[6], CONN_WRITE_FAILED, "no asset file");
	expect_status(&w.v[7], CONN_WRITE_FAILED, "is not a media attribute");
	s = fake_stats(&f);
	assert_int_equal(stat_int(s, "media_uploads"), 6);
	assert_true(stat_int(s, "max_in_flight") <= 4);
	{
		const json_t *x;
		size_t i;

		m = NULL;
		json_array_foreach(json_object_get(s, "media"), i, x)
			if (strcmp(json_string_value(json_object_get(x, "identifier")), "SKU-00001") == 0)
				m = x;
	}
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "sha256")), sha1);
	assert_string_equal(json_string_value(json_object_get(m, "identifier")), "SKU-00001");
	assert_string_equal(json_string_value(json_object_get(m, "attribute")), "image_main");
	code = value_in(&f, 1, "image_main", NULL, NULL, &keep);
	assert_non_null(code);
	assert_string_equal(code, json_string_value(json_object_get(m, "code")));
	json_decref(keep);
	json_decref(s);
	for (size_t i = 0; i < 6; i++)
		free((char *)w.v[i].sku);
	witems_free(&w);

	/* policies on media: the current file is downloaded and compared */
	add_item(&w, "SKU-00001", IMAGE, NULL, CONN_OVERWRITE_IF_GENERATED)->asset_path = p2;
	w.v[0].prior_sha256 = sha1;                                  /* skugen's: replaced */
	add_item(&w, "SKU-00002", IMAGE, NULL, CONN_OVERWRITE_IF_GENERATED)->asset_path = p2;
	w.v[1].prior_sha256 = sha2;                                  /* not skugen's: kept */
	add_item(&w, "SKU-00003", IMAGE, NULL, CONN_OVERWRITE_IF_GENERATED)->asset_path = p1;
	w.v[2].prior_sha256 = sha1;                                  /* the same file */
	add_item(&w, "SKU-00004", IMAGE, NULL, CONN_OVERWRITE_NEVER)->asset_path = p2;
	add_item(&w, "SKU-00007", IMAGE, NULL, CONN_OVERWRITE_NEVER)->asset_path = p2;  /* empty */
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
	expect_status(&w.v[0], CONN_WRITE_WRITTEN, NULL);
	expect_status(&w.v[1], CONN_WRITE_REFUSED, "is not the one skugen wrote");
	expect_status(&w.v[2], CONN_WRITE_UNCHANGED, NULL);
	expect_status(&w.v[3], CONN_WRITE_REFUSED, "policy never");
	expect_status(&w.v[4], CONN_WRITE_WRITTEN, NULL);
	s = fake_stats(&f);
	assert_int_equal(stat_int(s, "media_uploads"), 8);
	json_decref(s);
	witems_free(&w);
	conn_akeneo_ops.close(c);
	fake_proc_stop(&f);
}

static void test_in_flight_bound(void **state)
{
	static struct witems w;
	static char skus[1000][16], values[1000][32], paths[12][512];
	char sha[HASH_HEX_LEN];
	struct fake_proc f;
	struct conn *c;
	struct err e;
	struct conn_akeneo_stats cs;
	json_t *s;

	(void)state;
	write_products("w1000.jsonl", 1000);
	fake_start(&f, "w1000.jsonl", FAKE_ATTRS, "--latency-ms", "40", NULL);
	assert_int_equal(open_conn(&f, "\"identifier\":\"sku\"", NULL, &c, &e), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(skus[i], sizeof skus[i], "SKU-%05d", i);
		snprintf(values[i], sizeof values[i], "Generated %d", i);
		add_item(&w, skus[i], DESC, values[i], CONN_OVERWRITE_ALWAYS);
	}
	for (int i = 0; i < 12; i++) {
		char name[32], text[64];

		snprintf(name, sizeof name, "img%d.png", i);
		snprintf(text, sizeof text, "image number %d", i);
		write_file(name, text, sha, paths[i], sizeof paths[i]);
		add_item(&w, skus[i], IMAGE, NULL, CONN_OVERWRITE_ALWAYS)->asset_path = paths[i];
	}
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
	for (size_t i = 0; i < w.n; i++)
		expect_status(&w.v[i], CONN_WRITE_WRITTEN, NULL);
	conn_akeneo_get_stats(c, &cs);
	assert_true(cs.max_in_flight <= 4);
	s = fake_stats(&f);
	/* 10 lookups, 10 PATCHes of 100 lines, 12 uploads: 4 at a time, never more */
	assert_int_equal(stat_int(s, "patch_requests"), 10);
	assert_int_equal(stat_int(s, "patch_lines"), 1000);
	assert_int_equal(stat_int(s, "media_uploads"), 12);
	if (stat_int(s, "max_in_flight") > 4 || stat_int(s, "max_in_flight") < 2)
		fail_msg("the fake saw %lld requests at once", stat_int(s, "max_in_flight"));
	json_decref(s);
	witems_free(&w);
	conn_akeneo_ops.close(c);
	fake_proc_stop(&f);
}

static void test_write_429_and_lost(void **state)
{
	static struct witems w;
	struct fake_proc f;
	struct conn *c;
	struct err e;
	json_t *s;

	(void)state;
	write_products("w5.jsonl", 5);
	fake_start(&f, "w5.jsonl", FAKE_ATTRS, "--429-every", "2", "--retry-after", "1", NULL);
	assert_int_equal(open_conn(&f, "\"identifier\":\"sku\"", NULL, &c, &e), 0);
	add_item(&w, "SKU-00001", DESC, "after a 429", CONN_OVERWRITE_ALWAYS);
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
	expect_status(&w.v[0], CONN_WRITE_WRITTEN, NULL);
	s = fake_stats(&f);
	assert_true(stat_int(s, "rate_limited") >= 1);
	json_decref(s);
	witems_free(&w);
	conn_akeneo_ops.close(c);
	fake_proc_stop(&f);

	/* the PIM goes away: the lookup fails, nothing is attempted */
	fake_start(&f, "w5.jsonl", FAKE_ATTRS, "--drop-every", "1", NULL);
	assert_int_equal(open_conn(&f, "\"identifier\":\"sku\"", NULL, &c, &e), 0);
	add_item(&w, "SKU-00001", DESC, "never sent", CONN_OVERWRITE_ALWAYS);
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), -1);
	assert_int_equal(e.code, ERR_SOURCE);
	assert_non_null(strstr(e.msg, "GET /api/rest/v1/products-uuid"));
	assert_int_equal(w.v[0].status, CONN_WRITE_PENDING);
	witems_free(&w);
	conn_akeneo_ops.close(c);
	fake_proc_stop(&f);
}

/* ---- the requests against the API description ---------------------------------------- */

/* Does path match the template ("/api/rest/v1/media-files/{code}/download")?  A
 * parameter matches one segment, or several for {code} and {file_path}
 * (media codes are paths). */
static bool path_matches(const char *tmpl, const char *path)
{
	while (*tmpl && *path) {
		if (*tmpl == '{') {
			const char *close = strchr(tmpl, '}');
			bool multi = strncmp(tmpl, "{code}", 6) == 0 || strncmp(tmpl, "{file_path}", 11) == 0;
			const char *rest = close + 1;

			if (multi) {
				for (const char *p = path + 1; ; p++) {
					if (path_matches(rest, p))
						return true;
					if (!*p)
						return false;
				}
			}
			path += strcspn(path, "/");
			tmpl = rest;
			continue;
		}
		if (*tmpl++ != *path++)
			return false;
	}
	return !*tmpl && !*path;
}

static void test_requests_follow_the_spec(void **state)
{
	static struct witems w;
	const char *dir = getenv("SKUGEN_SPEC_DIR");
	char spec_path[1024], p1[512], sha[HASH_HEX_LEN];
	json_t *spec, *s;
	const json_t *paths, *log, *x, *patches, *req;
	struct fake_proc f;
	struct conn *c;
	struct got g;
	struct err e;
	json_error_t je;
	size_t i, k;

	(void)state;
	if (!dir)
		skip();
	snprintf(spec_path, sizeof spec_path, "%s/akeneo/akeneo-web-api.json", dir);
	spec = json_load_file(spec_path, 0, &je);
	if (!spec)
		fail_msg("cannot read %s: %s", spec_path, je.text);
	paths = json_object_get(spec, "paths");

	write_products("spec.jsonl", 30);
	write_file("spec.png", "\x89PNG spec", sha, p1, sizeof p1);
	fake_start(&f, "spec.jsonl", FAKE_ATTRS, "--token-ttl", "1", "--latency-ms", "150", NULL);
	assert_int_equal(open_conn(&f, "\"page_size\":4", "2024-03-02 00:00:00", &c, &e), 0);
	assert_int_equal(drain(c, 10, &g, &e), 0);
	got_free(&g);
	add_item(&w, "SKU-00003", DESC, "spec 3", CONN_OVERWRITE_ALWAYS);
	add_item(&w, "SKU-00004", META, "spec 4", CONN_OVERWRITE_IF_GENERATED);
	add_item(&w, "SKU-00005", IMAGE, NULL, CONN_OVERWRITE_ALWAYS)->asset_path = p1;
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
	witems_free(&w);
	add_item(&w, "SKU-00005", IMAGE, NULL, CONN_OVERWRITE_IF_GENERATED)->asset_path = p1;
	w.v[0].prior_sha256 = sha;
	assert_int_equal(conn_akeneo_ops.write(c, w.v, w.n, &e), 0);
	expect_status(&w.v[0], CONN_WRITE_UNCHANGED, NULL);
	witems_free(&w);
	conn_akeneo_ops.close(c);

	s = fake_stats(&f);
	log = json_object_get(s, "log");
	assert_true(json_array_size(log) >= 8);
	json_array_foreach(log, i, x) {
		const char *method = json_string_value(json_object_get(x, "method"));
		const char *path = json_string_value(json_object_get(x, "path"));
		const json_t *op = NULL, *params, *q, *prm;
		char lower[16];
		const char *tmpl, *key;
		json_t *ops, *v;

		for (k = 0; method[k] && k < sizeof lower - 1; k++)
			lower[k] = (char)(method[k] | 0x20);
		lower[k] = '\0';
		json_object_foreach((json_t *)paths, tmpl, ops)
			if (path_matches(tmpl, path) && (op = json_object_get(ops, lower)))
				break;
		if (!op)
			fail_msg("%s %s is not in the API description", method, path);
		/* every query parameter sent is one the operation declares */
		params = json_object_get(op, "parameters");
		q = json_object_get(x, "query");
		json_object_foreach((json_t *)q, key, v) {
			bool declared = false;

			json_array_foreach(params, k, prm)
				declared |= strcmp(json_string_value(json_object_get(prm, "name")), key) == 0 &&
					    strcmp(json_string_value(json_object_get(prm, "in")), "query") == 0;
			if (!declared)
				fail_msg("%s %s: query parameter \"%s\" is not declared", method, path, key);
			if (strcmp(key, "limit") == 0)
				assert_true(atoi(json_string_value(v)) >= 1 && atoi(json_string_value(v)) <= 100);
			if (strcmp(key, "pagination_type") == 0)
				assert_string_equal(json_string_value(v), "search_after");
		}
		/* every answer was a success: nothing the fake refused */
		if (json_integer_value(json_object_get(x, "status")) >= 400)
			fail_msg("%s %s was answered %lld", method, path,
				 (long long)json_integer_value(json_object_get(x, "status")));
		/* the token request: the documented body, HTTP Basic */
		if (strcmp(path, "/api/oauth/v1/token") == 0) {
			const json_t *keys = json_object_get(x, "body_keys"), *kk;
			const json_t *schema = NULL;
			bool password = false;

			json_array_foreach(json_object_get(op, "parameters"), k, prm)
				if (strcmp(json_string_value(json_object_get(prm, "in")), "body") == 0)
					schema = json_object_get(prm, "schema");
			assert_string_equal(json_string_value(json_object_get(x, "auth")), "basic");
			json_array_foreach(keys, k, kk)
				password |= strcmp(json_string_value(kk), "username") == 0;
			if (password) {
				json_array_foreach(json_object_get(schema, "required"), k, req) {
					bool have = false;
					size_t j;

					json_array_foreach(keys, j, kk)
						have |= json_equal(kk, req);
					if (!have)
						fail_msg("token request without \"%s\"",
							 json_string_value(req));
				}
			}
		} else {
			assert_string_equal(json_string_value(json_object_get(x, "auth")), "bearer");
		}
		if (strcmp(method, "PATCH") == 0)
			assert_string_equal(json_string_value(json_object_get(x, "content_type")),
					    "application/vnd.akeneo.collection+json");
		if (strcmp(method, "POST") == 0 && strcmp(path, "/api/rest/v1/media-files") == 0)
			assert_true(strncmp(json_string_value(json_object_get(x, "content_type")),
					    "multipart/form-data", 19) == 0);
	}
	/* token refreshed at least once in a run longer than its life */
	assert_true(stat_int(s, "token_refresh") >= 1);
	/* the PATCH lines: only properties of the product schema, uuid and values with
	 * locale, scope and data */
	{
		const json_t *body = NULL, *props, *prm;

		json_array_foreach(json_object_get(json_object_get(json_object_get(paths,
			"/api/rest/v1/products-uuid"), "patch"), "parameters"), k, prm)
			if (strcmp(json_string_value(json_object_get(prm, "in")), "body") == 0)
				body = json_object_get(prm, "schema");
		props = json_object_get(body, "properties");
		assert_non_null(json_object_get(props, "uuid"));
		patches = json_object_get(s, "patches");
		assert_true(json_array_size(patches) >= 1);
		json_array_foreach(patches, i, x) {
			const json_t *line;
			size_t j;

			json_array_foreach(x, j, line) {
				const char *key, *attr;
				json_t *v, *vals;

				json_object_foreach((json_t *)line, key, v)
					if (!json_object_get(props, key) && strcmp(key, "values") != 0)
						fail_msg("PATCH line property \"%s\" is not in the schema", key);
				assert_true(json_is_string(json_object_get(line, "uuid")));
				json_object_foreach(json_object_get(line, "values"), attr, vals) {
					const json_t *entry;
					size_t n;

					json_array_foreach(vals, n, entry) {
						assert_non_null(json_object_get(entry, "locale"));
						assert_non_null(json_object_get(entry, "scope"));
						assert_non_null(json_object_get(entry, "data"));
					}
				}
			}
		}
	}
	json_decref(s);
	json_decref(spec);
	fake_proc_stop(&f);
}

/* ---- main --------------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	setenv("AKENEO_CLIENT_ID", "client", 1);
	setenv("AKENEO_SECRET", "secret", 1);
	setenv("AKENEO_USERNAME", "admin", 1);
	setenv("AKENEO_PASSWORD", "admin", 1);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	curl_global_cleanup();
	return 0;
}

static int bad_secret(void **state)
{
	(void)state;
	setenv("AKENEO_SECRET", "s3cr3t-value", 1);
	return 0;
}

static int good_secret(void **state)
{
	(void)state;
	setenv("AKENEO_SECRET", "secret", 1);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test_setup_teardown(test_bad_credentials, bad_secret, good_secret),
		cmocka_unit_test(test_check_target),
		cmocka_unit_test(test_pagination_next_links_only),
		cmocka_unit_test(test_since_filter),
		cmocka_unit_test(test_locale_scope_mapping),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_refresh_before_expiry),
		cmocka_unit_test(test_401_mid_run),
		cmocka_unit_test(test_429_retry_after),
		cmocka_unit_test(test_dropped_connection_resumes),
		cmocka_unit_test(test_source_lost),
		cmocka_unit_test(test_write_mixed_lines),
		cmocka_unit_test(test_write_policies),
		cmocka_unit_test(test_media_upload),
		cmocka_unit_test(test_in_flight_bound),
		cmocka_unit_test(test_write_429_and_lost),
		cmocka_unit_test(test_requests_follow_the_spec),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
