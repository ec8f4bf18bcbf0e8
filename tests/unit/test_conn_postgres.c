/* test_conn_postgres.c: the "postgres" connector (connectors/postgres.c,
 * pg_source.c, pg_sink.c, pg_json.c) against a real Postgres.
 *
 * Needs SKUGEN_TEST_DSN (tests/run exports it; by hand:
 * `SKUGEN_HOME=/tmp/pgt ./build/skugen db start` prints one).  Without it
 * every test fails: a connector test that silently skips proves nothing.
 * Each run works in a database of its own, t_pgconn_<pid>, dropped at the
 * end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/hash.h"
#include "connectors/postgres.h"
#include "tests/support/drain.h"

#define DSN_ENV "SKUGEN_TEST_PGCONN_DSN"

static char dbname[64];
static PGconn *db;            /* the test's own connection to its database */
static char *admin_dsn;       /* SKUGEN_TEST_DSN */
static char db_dsn[2048];

/* ---- helpers ----------------------------------------------------------- */

static void sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sql(const char *fmt, ...)
{
	char *q;
	va_list ap;
	PGresult *r;

	va_start(ap, fmt);
	assert_true(vasprintf(&q, fmt, ap) >= 0);
	va_end(ap);
	r = PQexec(db, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
	free(q);
}

/* One value (new string, NULL for SQL NULL) from a parameterised query. */
static char *sql_value(const char *q, int n, const char *const *params)
{
	PGresult *r = PQexecParams(db, q, n, NULL, params, NULL, NULL, 0);
	char *v = NULL;

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void sqlp(const char *q, int n, const char *const *params)
{
	free(sql_value(q, n, params));
}

/* The value of a column of the row with this sku ("" when NULL). */
static void expect_cell(const char *table, const char *column, const char *sku, const char *want)
{
	char q[512];
	const char *p[1] = { sku };
	char *got;

	snprintf(q, sizeof q, "SELECT coalesce(%s::text, '<null>') FROM %s WHERE sku = $1", column, table);
	got = sql_value(q, 1, p);
	if (!got || strcmp(got, want) != 0)
		fail_msg("%s.%s of %s: got %s, expected %s", table, column, sku, got ? got : "(no row)",
			 want);
	free(got);
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	if (!j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	return j;
}

static int open_cfg(struct conn **c, const char *cfg_text, const char *since, struct err *e)
{
	json_t *cfg = parse(cfg_text);
	int rc;

	err_clear(e);
	rc = conn_postgres_ops.open(c, cfg, &(struct conn_open_opts){ .since = since }, e);
	json_decref(cfg);
	return rc;
}

/* Every record read from a source, moved out of the batches. */
struct got {
	struct record *v;
	size_t n;
	char *wm;
};

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		record_clear(&g->v[i]);
	free(g->v);
	free(g->wm);
	memset(g, 0, sizeof *g);
}

/* Open, read everything in batches of cap, close; checks the batch contract
 * on the way. */
static int read_all(const char *cfg_text, const char *since, size_t cap, struct got *g,
		    struct err *e)
{
	struct conn *c;
	const char *wm;
	int rc;

	memset(g, 0, sizeof *g);
	if (open_cfg(&c, cfg_text, since, e) < 0)
		return -1;
	rc = drain_records(&conn_postgres_ops, c, cap, &g->v, &g->n, e);
	wm = conn_postgres_ops.watermark(c);
	g->wm = wm ? strdup(wm) : NULL;
	conn_postgres_ops.close(c);
	return rc;
}

static void read_ok(const char *cfg_text, const char *since, size_t cap, struct got *g)
{
	struct err e;

	if (read_all(cfg_text, since, cap, g, &e) < 0)
		fail_msg("reading %s failed: %s", cfg_text, e.msg);
}

static const struct record *find(const struct got *g, const char *sku)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].sku && strcmp(g->v[i].sku, sku) == 0)
			return &g->v[i];
	fail_msg("no record with sku %s", sku);
	return NULL;
}

static const struct record *find_ok(const struct got *g, const char *sku)
{
	const struct record *r = find(g, sku);

	if (r->error)
		fail_msg("record %s failed: %s", sku, r->error);
	return r;
}

static void expect_open_error(const char *cfg_text, const char *since, enum err_code code,
			      const char *needle)
{
	struct conn *c = NULL;
	struct err e;

	if (open_cfg(&c, cfg_text, since, &e) == 0) {
		conn_postgres_ops.close(c);
		fail_msg("%s: opened, expected %s \"%s\"", cfg_text, err_code_name(code), needle);
	}
	assert_null(c);
	if (e.code != code || !strstr(e.msg, needle))
		fail_msg("%s: got %s \"%s\", expected %s \"%s\"", cfg_text, err_code_name(e.code),
			 e.msg, err_code_name(code), needle);
}

/* The field's string value, or fail. */
static const char *fstr(const struct record *r, const char *field)
{
	json_t *v = json_object_get(r->fields, field);

	if (!json_is_string(v))
		fail_msg("%s: field %s is not a string", r->sku, field);
	return json_string_value(v);
}

/* The process's peak resident set in KiB.  Under AddressSanitizer freed
 * memory sits in a quarantine and RSS grows regardless, so there it reads 0
 * and the check passes trivially (as in test_conn_file.c). */
static long maxrss_kb(void)
{
#ifdef __SANITIZE_ADDRESS__
	return 0;
#else
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
#endif
}

#define PRODUCTS "{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"public.products\""

/* ---- reading ----------------------------------------------------------- */

/* 200k rows streamed with the process's peak memory growing by less than
 * what a tenth of them would take. */
static void test_streaming_bounded(void **state)
{
	struct record_batch b;
	struct conn *c;
	struct err e;
	size_t n = 0;
	long rss_before;

	(void)state;
	sql("CREATE TABLE stream (sku text, name text, price numeric(10,2), tags text[], "
	    "attrs jsonb, description text)");
	sql("INSERT INTO stream SELECT 'S-' || i, 'Product ' || i, i / 100.0, "
	    "ARRAY['a' || i %% 7, 'b'], jsonb_build_object('size', i %% 40, 'color', 'red'), "
	    "repeat('x', 200) FROM generate_series(1, 200000) i");
	rss_before = maxrss_kb();
	assert_int_equal(open_cfg(&c, "{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"stream\"}", NULL, &e), 0);
	assert_int_equal(record_batch_init(&b, 1000), 0);
	while (conn_postgres_ops.next(c, &b, &e) == 0 && b.len) {
		for (size_t i = 0; i < b.len; i++)
			assert_null(b.items[i].error);
		n += b.len;
	}
	assert_int_equal(n, 200000);
	record_batch_free(&b);
	conn_postgres_ops.close(c);
	/* the whole result, as JSON text alone, is over 60 MB */
	if (maxrss_kb() - rss_before >= 16 * 1024)
		fail_msg("peak RSS grew by %ld KiB reading 200k rows", maxrss_kb() - rss_before);
}

static void test_registry(void **state)
{
	(void)state;
	assert_ptr_equal(conn_find("postgres"), &conn_postgres_ops);
	assert_string_equal(conn_postgres_ops.name, "postgres");
	assert_string_equal(conn_postgres_ops.version, "1");
	assert_non_null(conn_postgres_ops.watermark);
	assert_non_null(conn_postgres_ops.check_target);
	assert_non_null(conn_postgres_ops.write);
	conn_postgres_ops.close(NULL);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_open_error("[]", NULL, ERR_CONFIG, "source: expected an object");
	expect_open_error(PRODUCTS ",\"tabel\":\"x\"}", NULL, ERR_CONFIG, "source.tabel: unknown key");
	expect_open_error(PRODUCTS ",\"type\":\"file\"}", NULL, ERR_CONFIG,
			  "source.type: expected \"postgres\", got \"file\"");
	expect_open_error("{\"table\":\"products\"}", NULL, ERR_CONFIG, "source.dsn_env: missing");
	expect_open_error("{\"dsn\":\"host=x\",\"dsn_env\":\"X\",\"table\":\"products\"}", NULL,
			  ERR_CONFIG, "source.dsn: give source.dsn or source.dsn_env, not both");
	expect_open_error("{\"dsn\":\"host=x password=hunter2\",\"table\":\"products\"}", NULL,
			  ERR_CONFIG, "source.dsn: holds a password");
	expect_open_error("{\"dsn\":\"postgresql://u:hunter2@x/db\",\"table\":\"products\"}", NULL,
			  ERR_CONFIG, "source.dsn: holds a password");
	expect_open_error("{\"dsn\":\"host\",\"table\":\"products\"}", NULL, ERR_CONFIG, "source.dsn: ");
	expect_open_error("{\"dsn_env\":\"SKUGEN_TEST_NO_SUCH_VARIABLE\",\"table\":\"products\"}", NULL,
			  ERR_CONFIG, "source.dsn_env: the environment variable "
			  "SKUGEN_TEST_NO_SUCH_VARIABLE is not set");
	expect_open_error("{\"dsn_env\":7,\"table\":\"products\"}", NULL, ERR_CONFIG,
			  "source.dsn_env: expected a non-empty string, got 7");
	expect_open_error("{\"dsn_env\":\"" DSN_ENV "\"}", NULL, ERR_CONFIG, "source.table: missing");
	expect_open_error(PRODUCTS ",\"query\":\"select 1\"}", NULL, ERR_CONFIG,
			  "source.table: give source.table or source.query, not both");
	expect_open_error("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"a.b.c\"}", NULL, ERR_CONFIG,
			  "source.table: expected \"table\" or \"schema.table\", got \"a.b.c\"");
	expect_open_error(PRODUCTS ",\"fetch_rows\":0}", NULL, ERR_CONFIG,
			  "source.fetch_rows: expected an integer from 1 to 1000000, got 0");
	expect_open_error(PRODUCTS ",\"max_field_bytes\":\"big\"}", NULL, ERR_CONFIG,
			  "source.max_field_bytes: expected an integer");
	expect_open_error(PRODUCTS ",\"columns\":[\"sku\"]}", NULL, ERR_CONFIG,
			  "source.columns: expected an object");
	expect_open_error(PRODUCTS ",\"columns\":{\"title\":3}}", NULL, ERR_CONFIG,
			  "source.columns.title: expected a non-empty field name");
	expect_open_error(PRODUCTS ",\"where\":\"\"}", NULL, ERR_CONFIG,
			  "source.where: expected a non-empty string");
	expect_open_error("{\"dsn_env\":\"" DSN_ENV "\",\"query\":\" ; \"}", NULL, ERR_CONFIG,
			  "source.query: expected a SELECT");
}

static void test_open_errors(void **state)
{
	(void)state;
	/* what the database says does not exist */
	expect_open_error("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"public.nope\"}", NULL, ERR_CONFIG,
			  "source.table: relation \"public.nope\" does not exist");
	expect_open_error(PRODUCTS ",\"key\":\"code\"}", NULL, ERR_CONFIG,
			  "source.key: no column \"code\" in public.products");
	expect_open_error(PRODUCTS ",\"watermark\":\"changed\"}", NULL, ERR_CONFIG,
			  "source.watermark: no column \"changed\" in public.products");
	expect_open_error(PRODUCTS ",\"columns\":{\"title\":\"titel\"}}", NULL, ERR_CONFIG,
			  "source.columns.title: no column \"titel\" in public.products");
	expect_open_error(PRODUCTS ",\"where\":\"status = \"}", NULL, ERR_CONFIG,
			  "source.where: syntax error at or near \")\"");
	{
		struct conn *c = NULL;
		struct err e;

		/* the server's words, not our statement echoed back */
		assert_int_equal(open_cfg(&c, PRODUCTS ",\"where\":\"statsu = 1\"}", NULL, &e), -1);
		assert_null(strstr(e.msg, "LINE 1"));
		assert_null(strstr(e.msg, "SELECT"));
	}
	expect_open_error(PRODUCTS ",\"where\":\"statsu = 'x'\"}", NULL, ERR_CONFIG,
			  "source.where: column \"statsu\" does not exist");
	expect_open_error(PRODUCTS ",\"where\":\"true; drop table products\"}", NULL, ERR_CONFIG,
			  "source.where: ");
	expect_open_error("{\"dsn_env\":\"" DSN_ENV "\",\"query\":\"selec sku from products\"}", NULL,
			  ERR_CONFIG, "source.query: syntax error");
	expect_open_error("{\"dsn_env\":\"" DSN_ENV "\",\"query\":\"select name from products\"}", NULL,
			  ERR_CONFIG, "source.key: no column \"sku\" in the query's result");
	expect_open_error(PRODUCTS ",\"watermark\":\"updated_at\"}", "yesterday-ish", ERR_CONFIG,
			  "since \"yesterday-ish\" is not a value of the watermark column \"updated_at\": "
			  "invalid input syntax for type timestamp with time zone");
	/* a since that tries to be SQL is a value like any other */
	expect_open_error(PRODUCTS ",\"watermark\":\"updated_at\"}",
			  "2024-01-01'; DROP TABLE products; --", ERR_CONFIG, "is not a value of");
	free(sql_value("SELECT count(*) FROM products", 0, NULL));

	/* an unreachable server: ERR_SOURCE, and the DSN (its password) is not told */
	setenv("SKUGEN_TEST_PGCONN_BAD", "host=/nonexistent port=1 dbname=x password=hunter2", 1);
	{
		struct conn *c = NULL;
		struct err e;

		assert_int_equal(open_cfg(&c, "{\"dsn_env\":\"SKUGEN_TEST_PGCONN_BAD\","
					  "\"table\":\"products\"}", NULL, &e), -1);
		assert_int_equal(e.code, ERR_SOURCE);
		assert_non_null(strstr(e.msg, "cannot connect to the postgres source \"products\""));
		assert_null(strstr(e.msg, "hunter2"));
	}
	setenv("SKUGEN_TEST_PGCONN_BAD", "host=/x\001 =", 1);
	expect_open_error("{\"dsn_env\":\"SKUGEN_TEST_PGCONN_BAD\",\"table\":\"products\"}", NULL,
			  ERR_CONFIG, "source.dsn_env: the value of SKUGEN_TEST_PGCONN_BAD is not a "
			  "libpq connection string");
}

static void test_table_mode(void **state)
{
	struct got g;
	const struct record *r;
	json_t *v;

	(void)state;
	read_ok(PRODUCTS "}", NULL, 2, &g);
	assert_int_equal(g.n, 5);
	assert_null(g.wm);   /* no watermark column */
	r = find_ok(&g, "A-1");
	assert_string_equal(r->origin, "public.products:A-1");
	assert_string_equal(fstr(r, "sku"), "A-1");
	assert_string_equal(fstr(r, "name"), "Linen shirt");
	/* JSON types preserved */
	v = json_object_get(r->fields, "price");
	assert_true(json_is_real(v));
	assert_true(json_real_value(v) > 19.98 && json_real_value(v) < 20.0);
	v = json_object_get(r->fields, "stock");
	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), 12);
	assert_true(json_is_true(json_object_get(r->fields, "active")));
	v = json_object_get(r->fields, "tags");
	assert_true(json_is_array(v));
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_array_get(v, 1)), "summer");
	v = json_object_get(r->fields, "attrs");
	assert_true(json_is_object(v));
	assert_int_equal(json_integer_value(json_object_get(v, "size")), 40);
	assert_true(json_is_array(json_object_get(v, "fits")));
	v = json_object_get(r->fields, "spec");
	assert_true(json_is_object(v));
	assert_true(json_is_null(json_object_get(v, "care")));
	/* SQL NULL is kept as null */
	assert_true(json_is_null(json_object_get(r->fields, "note")));
	assert_string_equal(fstr(r, "updated_at"), "2024-03-01T10:00:00+00:00");
	assert_true(json_is_real(json_object_get(r->fields, "weight")));
	assert_true(json_is_false(json_object_get(find_ok(&g, "A-2")->fields, "active")));
	got_free(&g);

	/* the DSN in the file (no password), rather than in the environment */
	{
		char cfg[sizeof db_dsn + 128];

		snprintf(cfg, sizeof cfg, "{\"dsn\":\"%s\",\"table\":\"products\"}", db_dsn);
		read_ok(cfg, NULL, 10, &g);
		assert_int_equal(g.n, 5);
		got_free(&g);
	}
	/* a table name without its schema */
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"products\",\"fetch_rows\":1}", NULL, 10, &g);
	assert_int_equal(g.n, 5);
	assert_string_equal(find_ok(&g, "A-3")->origin, "products:A-3");
	got_free(&g);
}

static void test_query_mode(void **state)
{
	struct got g;
	const struct record *r;

	(void)state;
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"key\":\"code\",\"query\":\"SELECT sku AS code, "
		"upper(name) AS title, stock * 2 AS double_stock FROM products "
		"WHERE stock > 0 ;\\n\"}", NULL, 100, &g);
	assert_int_equal(g.n, 4);
	r = find_ok(&g, "A-1");
	assert_string_equal(r->origin, "query:A-1");
	assert_string_equal(fstr(r, "title"), "LINEN SHIRT");
	assert_int_equal(json_integer_value(json_object_get(r->fields, "double_stock")), 24);
	assert_int_equal(json_object_size(r->fields), 3);
	got_free(&g);

	/* query mode with a filter and a mapping */
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"query\":\"select * from products\","
		"\"where\":\"stock > 5\",\"columns\":{\"id\":\"sku\",\"n\":\"stock\"}}", NULL, 100, &g);
	assert_int_equal(g.n, 2);
	r = find_ok(&g, "A-1");
	assert_int_equal(json_object_size(r->fields), 2);
	assert_string_equal(fstr(r, "id"), "A-1");
	got_free(&g);
}

static void test_column_mapping(void **state)
{
	struct got g;
	const struct record *r;

	(void)state;
	read_ok(PRODUCTS ",\"columns\":{\"title\":\"name\",\"sku\":\"sku\",\"labels\":\"tags\","
		"\"stock\":\"stock\"}}", NULL, 100, &g);
	assert_int_equal(g.n, 5);
	r = find_ok(&g, "A-1");
	assert_int_equal(json_object_size(r->fields), 4);
	assert_string_equal(fstr(r, "title"), "Linen shirt");
	assert_true(json_is_array(json_object_get(r->fields, "labels")));
	assert_true(json_is_integer(json_object_get(r->fields, "stock")));
	assert_null(json_object_get(r->fields, "name"));
	got_free(&g);

	/* the key need not be among the fields; the filter may use a column
	 * that a field shadows */
	read_ok(PRODUCTS ",\"columns\":{\"stock\":\"name\"},\"where\":\"stock = 12\"}", NULL, 100, &g);
	assert_int_equal(g.n, 1);
	r = find_ok(&g, "A-1");
	assert_int_equal(json_object_size(r->fields), 1);
	assert_string_equal(fstr(r, "stock"), "Linen shirt");
	got_free(&g);
}

static void test_where_filter(void **state)
{
	struct got g;

	(void)state;
	read_ok(PRODUCTS ",\"where\":\"status not in ('deleted','disabled') -- trailing comment\"}",
		NULL, 100, &g);
	assert_int_equal(g.n, 3);
	find_ok(&g, "A-1");
	find_ok(&g, "A-2");
	find_ok(&g, "A-5");
	got_free(&g);
	/* the table's own name may qualify a column */
	read_ok(PRODUCTS ",\"where\":\"products.status = 'deleted'\"}", NULL, 100, &g);
	assert_int_equal(g.n, 1);
	find_ok(&g, "A-3");
	got_free(&g);
}

static void test_watermark(void **state)
{
	struct got g;

	(void)state;
	/* a full read reports the highest */
	read_ok(PRODUCTS ",\"watermark\":\"updated_at\"}", NULL, 2, &g);
	assert_int_equal(g.n, 5);
	assert_string_equal(g.wm, "2024-03-05 10:00:00.5+00");
	got_free(&g);
	/* only newer rows; the mark is the newest of them */
	read_ok(PRODUCTS ",\"watermark\":\"updated_at\"}", "2024-03-02 10:00:00+00", 2, &g);
	assert_int_equal(g.n, 3);
	find_ok(&g, "A-3");
	find_ok(&g, "A-4");
	find_ok(&g, "A-5");
	assert_string_equal(g.wm, "2024-03-05 10:00:00.5+00");
	got_free(&g);
	/* ISO 8601 with a T and an offset works as since too */
	read_ok(PRODUCTS ",\"watermark\":\"updated_at\"}", "2024-03-05T12:00:00.4+02:00", 2, &g);
	assert_int_equal(g.n, 1);
	find_ok(&g, "A-5");
	got_free(&g);
	/* nothing newer: the mark stays where it was */
	read_ok(PRODUCTS ",\"watermark\":\"updated_at\"}", "2024-03-05 10:00:00.5+00", 2, &g);
	assert_int_equal(g.n, 0);
	assert_string_equal(g.wm, "2024-03-05 10:00:00.5+00");
	got_free(&g);
	/* with a filter */
	read_ok(PRODUCTS ",\"watermark\":\"updated_at\",\"where\":\"status = 'active'\"}",
		"2024-03-01 12:00:00+00", 2, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.wm, "2024-03-05 10:00:00.5+00");
	got_free(&g);

	/* integers compare as numbers (9 < 10), NULLs are skipped */
	sql("CREATE TABLE versions (sku text, version bigint, price numeric, d date, ts timestamp, "
	    "f float8, label text)");
	sql("INSERT INTO versions VALUES ('V1', 9, 9.5, '2023-12-31', '2023-12-31 23:59:59.999999', "
	    "-1.5, 'b'), ('V2', 10, 10.25, '2024-01-01', '2024-01-01 00:00:00', 1e300, 'a'), "
	    "('V3', NULL, -100, '0044-03-15 BC', '0044-03-15 12:00:00 BC', 2.5, NULL), "
	    "('V4', -3, 10.2500001, '1999-01-01', '1999-01-01 00:00:00', 'NaN', 'c')");
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\",\"watermark\":\"version\"}",
		NULL, 1, &g);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.wm, "10");
	got_free(&g);
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\",\"watermark\":\"version\"}",
		"9", 1, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].sku, "V2");
	got_free(&g);
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\",\"watermark\":\"price\"}",
		NULL, 1, &g);
	assert_string_equal(g.wm, "10.2500001");
	got_free(&g);
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\",\"watermark\":\"d\"}", NULL, 1, &g);
	assert_string_equal(g.wm, "2024-01-01");
	got_free(&g);
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\",\"watermark\":\"ts\"}", NULL, 1, &g);
	assert_string_equal(g.wm, "2024-01-01 00:00:00");
	got_free(&g);
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\",\"watermark\":\"f\"}", NULL, 1, &g);
	assert_string_equal(g.wm, "NaN");
	got_free(&g);
	/* any other ordered type: the server's running max */
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\",\"watermark\":\"label\"}",
		NULL, 1, &g);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.wm, "c");
	got_free(&g);
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\",\"watermark\":\"label\"}",
		"a", 1, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.wm, "c");
	got_free(&g);
	/* since without a watermark column: everything, no mark */
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"versions\"}", "10", 1, &g);
	assert_int_equal(g.n, 4);
	assert_null(g.wm);
	got_free(&g);
}

/* SKUs and values full of SQL and JSON metacharacters come back exactly. */
static void test_nasty_values_round_trip(void **state)
{
	static const char *const skus[] = {
		"O'Brien-1", "x\"; DROP TABLE nasty; --", "back\\slash\\\\", "semi;colon",
		"tab\there", "uni-\xc3\xa9\xe2\x82\xac\xf0\x9f\x91\x9f", "$1", "%s%n", "a\nb",
		"{\"sku\":1}", "\\u0000 not a nul",
	};
	struct got g;
	char *rb;

	(void)state;
	sql("CREATE TABLE nasty (sku text primary key, v text, j jsonb, n text)");
	for (size_t i = 0; i < sizeof skus / sizeof *skus; i++) {
		const char *p[2] = { skus[i], skus[(i + 3) % (sizeof skus / sizeof *skus)] };

		sqlp("INSERT INTO nasty (sku, v, j, n) VALUES ($1, $2, "
		     "jsonb_build_object($2::text, $1::text), "
		     "$1 || '''' || $2)", 2, p);
	}
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"nasty\"}", NULL, 3, &g);
	assert_int_equal(g.n, sizeof skus / sizeof *skus);
	for (size_t i = 0; i < sizeof skus / sizeof *skus; i++) {
		const char *other = skus[(i + 3) % (sizeof skus / sizeof *skus)];
		const struct record *r = find_ok(&g, skus[i]);
		char want[256];

		assert_string_equal(fstr(r, "sku"), skus[i]);
		assert_string_equal(fstr(r, "v"), other);
		assert_string_equal(json_string_value(json_object_get(json_object_get(r->fields, "j"),
								      other)), skus[i]);
		snprintf(want, sizeof want, "%s'%s", skus[i], other);
		assert_string_equal(fstr(r, "n"), want);
		snprintf(want, sizeof want, "nasty:%s", skus[i]);
		assert_string_equal(r->origin, want);
	}
	got_free(&g);
	/* the table survived; an identifier with a quote in it is quoted */
	rb = sql_value("SELECT count(*) FROM nasty", 0, NULL);
	assert_string_equal(rb, "11");
	free(rb);
	sql("CREATE TABLE \"we\"\"ird ta;ble\" (\"the \"\"sku\"\"\" text, \"Name\" text)");
	sql("INSERT INTO \"we\"\"ird ta;ble\" VALUES ('W1', 'w')");
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"public.we\\\"ird ta;ble\","
		"\"key\":\"the \\\"sku\\\"\",\"columns\":{\"name\":\"Name\"}}", NULL, 3, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(fstr(find_ok(&g, "W1"), "name"), "w");
	got_free(&g);
}

static void test_record_errors(void **state)
{
	struct got g;
	const struct record *r;
	char *big = malloc(10 * 1024 * 1024 + 1);
	const char *p[1] = { big };
	size_t nfail = 0;

	(void)state;
	assert_non_null(big);
	memset(big, 'y', 10 * 1024 * 1024);
	big[10 * 1024 * 1024] = '\0';
	sql("CREATE TABLE bad (sku text, description text, spec json, n numeric, f float8)");
	sql("INSERT INTO bad VALUES ('OK-1', 'fine', '{\"a\":[1,2,{\"b\":null}]}', 1, 1), "
	    "(NULL, 'no key', NULL, 2, 2), ('', 'empty key', NULL, 3, 3), (' \t', 'blank', NULL, 4, 4), "
	    "('NUL', 'x', '{\"a\":\"\\u0000\"}', 5, 5), ('SUR', 'x', '[\"\\ud800\"]', 6, 6), "
	    "('DUP', 'x', '{\"a\":1,\"a\":2}', 7, 7), "
	    "('HUGE-N', 'x', '123456789012345678901234567890', 123456789012345678901234567890.5, 'NaN'), "
	    "('BIGINT', 'x', '[9223372036854775807, -9223372036854775808, 9223372036854775808]', "
	    "'NaN', '-Infinity')");
	sqlp("INSERT INTO bad (sku, description) VALUES ('BIG', $1)", 1, p);
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"bad\"}", NULL, 4, &g);
	assert_int_equal(g.n, 10);
	for (size_t i = 0; i < g.n; i++) {
		r = &g.v[i];
		if (!r->error)
			continue;
		nfail++;
		if (!r->sku && strstr(r->error, "missing key column \"sku\"")) {
			assert_non_null(strstr(r->origin, "bad:row "));
			continue;
		}
		if (!r->sku) {
			assert_string_equal(r->error, "key column \"sku\" is empty");
			continue;
		}
		if (strcmp(r->sku, "BIG") == 0)
			assert_string_equal(r->error, "field \"description\" is 10485760 bytes, limit 1048576");
		else if (strcmp(r->sku, "NUL") == 0)
			assert_string_equal(r->error, "field \"spec\": NUL character (\\u0000) in a string");
		else if (strcmp(r->sku, "SUR") == 0)
			assert_string_equal(r->error, "field \"spec\": lone UTF-16 surrogate \\ud800 in a string");
		else
			fail_msg("%s failed: %s", r->sku, r->error);
		assert_string_equal(r->origin, strcmp(r->sku, "BIG") == 0 ? "bad:BIG" : r->origin);
	}
	assert_int_equal(nfail, 6);
	/* values of unusual types are kept as JSON */
	r = find_ok(&g, "DUP");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r->fields, "spec"), "a")), 2);
	r = find_ok(&g, "HUGE-N");
	assert_string_equal(fstr(r, "spec"), "123456789012345678901234567890");
	assert_true(json_is_real(json_object_get(r->fields, "n")));
	assert_string_equal(fstr(r, "f"), "NaN");
	r = find_ok(&g, "BIGINT");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(r->fields, "spec"), 0)),
			 INT64_MAX);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(r->fields, "spec"), 1)),
			 INT64_MIN);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r->fields, "spec"), 2)),
			    "9223372036854775808");
	assert_string_equal(fstr(r, "n"), "NaN");
	assert_string_equal(fstr(r, "f"), "-Infinity");
	got_free(&g);

	/* a higher limit lets it through, whole */
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"bad\",\"max_field_bytes\":20000000,"
		"\"where\":\"sku = 'BIG'\"}", NULL, 4, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(strlen(fstr(find_ok(&g, "BIG"), "description")), 10 * 1024 * 1024);
	got_free(&g);
	free(big);
}

/* The server goes away mid-read: -1, ERR_SOURCE naming the source, an empty
 * batch, and the same again after. */
static void test_terminated_mid_stream(void **state)
{
	struct record_batch b;
	struct conn *c;
	struct err e;
	size_t n = 0;
	char *killed;
	int rc;

	(void)state;
	sql("CREATE TABLE big (sku text, description text)");
	sql("INSERT INTO big SELECT 'B-' || i, repeat('z', 1000) FROM generate_series(1, 50000) i");
	assert_int_equal(open_cfg(&c, "{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"big\","
				  "\"fetch_rows\":100}", NULL, &e), 0);
	assert_int_equal(record_batch_init(&b, 1000), 0);
	assert_int_equal(conn_postgres_ops.next(c, &b, &e), 0);
	assert_int_equal(b.len, 100);
	killed = sql_value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
			   "datname = current_database() AND application_name = 'skugen' AND "
			   "pid <> pg_backend_pid()", 0, NULL);
	assert_string_equal(killed, "1");
	free(killed);
	while ((rc = conn_postgres_ops.next(c, &b, &e)) == 0 && b.len)
		n += b.len;
	assert_int_equal(rc, -1);
	assert_true(n < 49900);
	assert_int_equal(b.len, 0);
	assert_int_equal(e.code, ERR_SOURCE);
	assert_non_null(strstr(e.msg, "postgres source \"big\": lost the connection after"));
	assert_null(strstr(e.msg, dbname));   /* nothing from the DSN */
	err_clear(&e);
	assert_int_equal(conn_postgres_ops.next(c, &b, &e), -1);
	assert_int_equal(e.code, ERR_SOURCE);
	assert_int_equal(b.len, 0);
	record_batch_free(&b);
	conn_postgres_ops.close(c);

	/* a query that fails mid-read is a source error too */
	assert_int_equal(open_cfg(&c, "{\"dsn_env\":\"" DSN_ENV "\",\"query\":\"select sku, "
				  "1 / (50000 - substr(sku, 3)::int) AS x from big\",\"fetch_rows\":100}",
				  NULL, &e), 0);
	assert_int_equal(record_batch_init(&b, 1000), 0);
	while ((rc = conn_postgres_ops.next(c, &b, &e)) == 0 && b.len)
		;
	assert_int_equal(rc, -1);
	assert_int_equal(e.code, ERR_SOURCE);
	assert_non_null(strstr(e.msg, "postgres source \"query\": reading failed after"));
	assert_non_null(strstr(e.msg, "division by zero"));
	record_batch_free(&b);
	conn_postgres_ops.close(c);
}

/* ---- write-back -------------------------------------------------------- */

static struct conn *open_sink(void)
{
	struct conn *c;
	struct err e;

	if (open_cfg(&c, PRODUCTS "}", NULL, &e) < 0)
		fail_msg("open: %s", e.msg);
	return c;
}

static struct conn_write_item item(const char *sku, const char *value, const json_t *target,
				   enum conn_policy policy, const char *prior)
{
	struct conn_write_item it = {
		.sku = sku, .output = "description", .locale = "en", .value = value,
		.value_len = value ? strlen(value) : 0, .target = target, .policy = policy,
		.prior_sha256 = prior,
	};

	return it;
}

static void expect_status(const struct conn_write_item *it, enum conn_write_status st,
			  const char *needle)
{
	if (it->status != st || (needle && (!it->message || !strstr(it->message, needle))) ||
	    (!needle && it->message))
		fail_msg("item %s: got %s \"%s\", expected %s \"%s\"", it->sku,
			 conn_write_status_name(it->status), it->message ? it->message : "",
			 conn_write_status_name(st), needle ? needle : "");
}

static void write_ok(struct conn *c, struct conn_write_item *items, size_t n)
{
	struct err e;

	err_clear(&e);
	if (conn_postgres_ops.write(c, items, n, &e) < 0)
		fail_msg("write failed: %s", e.msg);
}

static void test_check_target(void **state)
{
	struct err e;
	json_t *t;
	static const struct { const char *json, *msg; } bad[] = {
		{ "[]", "outputs[2].target: expected an object" },
		{ "{\"key\":\"sku\",\"column\":\"d\"}", "outputs[2].target.table: missing" },
		{ "{\"table\":\"p\",\"column\":\"d\"}", "outputs[2].target.key: missing" },
		{ "{\"table\":\"p\",\"key\":\"sku\"}", "outputs[2].target.column: missing" },
		{ "{\"table\":\"p\",\"key\":\"sku\",\"column\":7}",
		  "outputs[2].target.column: expected a non-empty string" },
		{ "{\"table\":\"p\",\"key\":\"sku\",\"column\":\"d\",\"colour\":1}",
		  "outputs[2].target.colour: unknown key" },
		{ "{\"table\":\"p\",\"key\":\"sku\",\"column\":\"d\",\"json_key\":\"d_{lang}\"}",
		  "outputs[2].target.json_key: \"d_{lang}\": the only placeholder is {locale}" },
		{ "{\"table\":\"p\",\"key\":\"sku\",\"column\":\"d\",\"upsert\":\"yes\"}",
		  "outputs[2].target.upsert: expected true or false" },
		{ "{\"table\":\".p\",\"key\":\"sku\",\"column\":\"d\"}",
		  "outputs[2].target.table: expected \"table\" or \"schema.table\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		t = parse(bad[i].json);
		err_clear(&e);
		assert_int_equal(conn_postgres_ops.check_target(t, "outputs[2].target", &e), -1);
		assert_int_equal(e.code, ERR_CONFIG);
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("%s: got \"%s\", expected \"%s\"", bad[i].json, e.msg, bad[i].msg);
		json_decref(t);
	}
	t = parse("{\"table\":\"public.p\",\"key\":\"sku\",\"column\":\"c\","
		  "\"json_key\":\"description_{locale}\",\"upsert\":true}");
	assert_int_equal(conn_postgres_ops.check_target(t, "outputs[0].target", &e), 0);
	json_decref(t);
}

static void test_write_policies(void **state)
{
	struct conn *c = open_sink();
	json_t *t = parse("{\"table\":\"public.w\",\"key\":\"sku\",\"column\":\"description\"}");
	char gen_old[HASH_HEX_LEN], other[HASH_HEX_LEN], gen2[HASH_HEX_LEN];
	struct conn_write_item items[12];

	(void)state;
	sql("CREATE TABLE w (sku text primary key, description varchar(200), other int default 7)");
	sql("INSERT INTO w (sku, description) VALUES ('NULL', NULL), ('EMPTY', ''), ('HUMAN', 'written "
	    "by hand'), ('GEN', 'generated before'), ('SAME', 'same text'), ('HUMAN2', 'edited'), "
	    "('GEN2', 'generated 2'), ('ALWAYS', 'anything'), ('SAME2', 'same 2')");
	sha256_hex("generated before", 16, gen_old);
	sha256_hex("something else", 14, other);
	sha256_hex("generated 2", 11, gen2);
	items[0] = item("NULL", "new 0", t, CONN_OVERWRITE_NEVER, NULL);
	items[1] = item("EMPTY", "new 1", t, CONN_OVERWRITE_NEVER, NULL);
	items[2] = item("HUMAN", "new 2", t, CONN_OVERWRITE_NEVER, gen_old);
	items[3] = item("GEN", "new 3", t, CONN_OVERWRITE_IF_GENERATED, gen_old);
	items[4] = item("HUMAN2", "new 4", t, CONN_OVERWRITE_IF_GENERATED, other);
	items[5] = item("GEN2", "new 5", t, CONN_OVERWRITE_IF_GENERATED, gen2);
	items[6] = item("ALWAYS", "new 6", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[7] = item("SAME", "same text", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[8] = item("SAME2", "same 2", t, CONN_OVERWRITE_NEVER, NULL);
	items[9] = item("MISSING", "new 9", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[10] = item("HUMAN2", "new 10", t, CONN_OVERWRITE_IF_GENERATED, NULL);
	items[11] = item("O'Neil;--", "new 11", t, CONN_OVERWRITE_NEVER, NULL);
	items[10].sku = "HUMAN3";
	write_ok(c, items, 12);
	expect_status(&items[0], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[1], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[2], CONN_WRITE_REFUSED, "the target already holds a value (policy never)");
	expect_status(&items[3], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[4], CONN_WRITE_REFUSED,
		      "the target holds a value skugen did not write (policy if_generated)");
	expect_status(&items[5], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[6], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[7], CONN_WRITE_UNCHANGED, NULL);
	expect_status(&items[8], CONN_WRITE_UNCHANGED, NULL);
	expect_status(&items[9], CONN_WRITE_FAILED, "no row with sku \"MISSING\" in public.w");
	expect_status(&items[10], CONN_WRITE_FAILED, "no row with sku \"HUMAN3\" in public.w");
	expect_status(&items[11], CONN_WRITE_FAILED, "no row with sku \"O'Neil;--\" in public.w");
	expect_cell("w", "description", "NULL", "new 0");
	expect_cell("w", "description", "EMPTY", "new 1");
	expect_cell("w", "description", "HUMAN", "written by hand");
	expect_cell("w", "description", "GEN", "new 3");
	expect_cell("w", "description", "HUMAN2", "edited");
	expect_cell("w", "description", "GEN2", "new 5");
	expect_cell("w", "description", "ALWAYS", "new 6");
	expect_cell("w", "other", "GEN", "7");

	/* writing the same again: all unchanged; a human edit since: refused */
	sql("UPDATE w SET description = 'a person changed it' WHERE sku = 'GEN'");
	{
		char new3[HASH_HEX_LEN];

		sha256_hex("new 3", 5, new3);
		items[0] = item("NULL", "new 0", t, CONN_OVERWRITE_IF_GENERATED, NULL);
		items[1] = item("GEN", "newer 3", t, CONN_OVERWRITE_IF_GENERATED, new3);
		write_ok(c, items, 2);
		expect_status(&items[0], CONN_WRITE_UNCHANGED, NULL);
		expect_status(&items[1], CONN_WRITE_REFUSED, "(policy if_generated)");
		expect_cell("w", "description", "GEN", "a person changed it");
	}
	conn_write_items_reset(items, 12);
	json_decref(t);
	conn_postgres_ops.close(c);
}

static void test_write_nasty(void **state)
{
	static const char *const skus[] = {
		"O'Brien", "x\"; DROP TABLE wn; --", "back\\slash", "uni-\xc3\xa9\xf0\x9f\x91\x9f",
		"tab\tnew\nline", "$1",
	};
	static const char *const values[] = {
		"it's \"quoted\"", "'); DELETE FROM wn; --", "C:\\path\\n", "\xe2\x82\xac 5 \xe2\x9c\x93",
		"line1\nline2\ttab\r\n", "%s %n $2 \\N \\.",
	};
	struct conn *c = open_sink();
	json_t *t = parse("{\"table\":\"wn\",\"key\":\"sku\",\"column\":\"v\"}");
	struct conn_write_item items[6];
	struct got g;

	(void)state;
	sql("CREATE TABLE wn (sku text primary key, v text)");
	for (size_t i = 0; i < 6; i++) {
		const char *p[1] = { skus[i] };

		sqlp("INSERT INTO wn (sku) VALUES ($1)", 1, p);
		items[i] = item(skus[i], values[i], t, CONN_OVERWRITE_NEVER, NULL);
	}
	write_ok(c, items, 6);
	for (size_t i = 0; i < 6; i++)
		expect_status(&items[i], CONN_WRITE_WRITTEN, NULL);
	conn_write_items_reset(items, 6);
	read_ok("{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"wn\"}", NULL, 10, &g);
	assert_int_equal(g.n, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(fstr(find_ok(&g, skus[i]), "v"), values[i]);
	got_free(&g);
	json_decref(t);
	conn_postgres_ops.close(c);
}

static void test_write_json_key(void **state)
{
	struct conn *c = open_sink();
	json_t *t = parse("{\"table\":\"wj\",\"key\":\"sku\",\"column\":\"content\","
			  "\"json_key\":\"description_{locale}\"}");
	struct conn_write_item items[8];
	char human[HASH_HEX_LEN];

	(void)state;
	sql("CREATE TABLE wj (sku text primary key, content jsonb)");
	sql("INSERT INTO wj VALUES ('NULL', NULL), ('KEEP', '{\"other\": 1}'), "
	    "('ARRAY', '[1]'), ('HAS', '{\"description_de\": \"von Hand\", \"description_fr\": \"main\"}'), "
	    "('SAME', '{\"description_de\": \"gleich\"}')");
	sha256_hex("x", 1, human);
	items[0] = item("NULL", "neu", t, CONN_OVERWRITE_NEVER, NULL);
	items[0].locale = "de";
	items[1] = item("KEEP", "nouveau", t, CONN_OVERWRITE_NEVER, NULL);
	items[1].locale = "fr";
	items[2] = item("ARRAY", "x", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[2].locale = "de";
	items[3] = item("HAS", "neu", t, CONN_OVERWRITE_NEVER, NULL);
	items[3].locale = "de";
	items[4] = item("HAS", "nouveau", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[4].locale = "fr";
	items[5] = item("SAME", "gleich", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[5].locale = "de";
	items[6] = item("NULL", "x", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[6].locale = NULL;
	items[7] = item("HAS", "neu", t, CONN_OVERWRITE_IF_GENERATED, human);
	items[7].locale = "de";
	items[7].sku = "HAS";
	write_ok(c, items, 7);
	expect_status(&items[0], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[1], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[2], CONN_WRITE_FAILED,
		      "column \"content\" of sku \"ARRAY\" in wj holds a JSON array, not an object");
	expect_status(&items[3], CONN_WRITE_REFUSED, "(policy never)");
	expect_status(&items[4], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[5], CONN_WRITE_UNCHANGED, NULL);
	expect_status(&items[6], CONN_WRITE_FAILED, "json_key \"description_{locale}\" needs a locale");
	expect_cell("wj", "content", "NULL", "{\"description_de\": \"neu\"}");
	expect_cell("wj", "content", "KEEP", "{\"other\": 1, \"description_fr\": \"nouveau\"}");
	expect_cell("wj", "content", "ARRAY", "[1]");
	expect_cell("wj", "content", "HAS", "{\"description_de\": \"von Hand\", \"description_fr\": "
		    "\"nouveau\"}");
	write_ok(c, &items[7], 1);
	expect_status(&items[7], CONN_WRITE_REFUSED, "(policy if_generated)");
	conn_write_items_reset(items, 8);

	/* a json_key on a text column, or the other way round, fails alone */
	json_decref(t);
	t = parse("{\"table\":\"wj\",\"key\":\"sku\",\"column\":\"content\"}");
	items[0] = item("NULL", "x", t, CONN_OVERWRITE_ALWAYS, NULL);
	write_ok(c, items, 1);
	expect_status(&items[0], CONN_WRITE_FAILED, "column \"content\" of wj is jsonb, not text");
	conn_write_items_reset(items, 1);
	json_decref(t);
	conn_postgres_ops.close(c);
}

static void test_write_upsert(void **state)
{
	struct conn *c = open_sink();
	json_t *t = parse("{\"table\":\"product_copy\",\"key\":\"sku\",\"column\":\"description\","
			  "\"upsert\":true}");
	json_t *tj = parse("{\"table\":\"product_copy\",\"key\":\"sku\",\"column\":\"extra\","
			   "\"json_key\":\"d_{locale}\",\"upsert\":true}");
	json_t *nouniq = parse("{\"table\":\"wj\",\"key\":\"content\",\"column\":\"sku\",\"upsert\":true}");
	struct conn_write_item items[8];
	char gen[HASH_HEX_LEN], other[HASH_HEX_LEN];
	char *count;

	(void)state;
	sql("CREATE TABLE product_copy (sku text primary key, description text, extra jsonb)");
	sql("INSERT INTO product_copy VALUES ('HUMAN', 'by hand', NULL), ('GEN', 'generated', NULL), "
	    "('SAME', 'same', NULL)");
	sha256_hex("generated", 9, gen);
	sha256_hex("other", 5, other);
	items[0] = item("NEW-1", "fresh 1", t, CONN_OVERWRITE_NEVER, NULL);
	items[1] = item("NEW-2", "fresh 2", t, CONN_OVERWRITE_IF_GENERATED, NULL);
	items[2] = item("HUMAN", "nope", t, CONN_OVERWRITE_IF_GENERATED, other);
	items[3] = item("GEN", "regenerated", t, CONN_OVERWRITE_IF_GENERATED, gen);
	items[4] = item("SAME", "same", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[5] = item("HUMAN", "nope", t, CONN_OVERWRITE_NEVER, NULL);
	items[6] = item("NEW-3", "j", tj, CONN_OVERWRITE_NEVER, NULL);
	items[6].locale = "it";
	items[7] = item("x", "y", nouniq, CONN_OVERWRITE_ALWAYS, NULL);
	write_ok(c, items, 8);
	expect_status(&items[0], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[1], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[2], CONN_WRITE_REFUSED, "(policy if_generated)");
	expect_status(&items[3], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[4], CONN_WRITE_UNCHANGED, NULL);
	expect_status(&items[5], CONN_WRITE_REFUSED, "(policy never)");
	expect_status(&items[6], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[7], CONN_WRITE_FAILED, "upsert needs a unique index on wj (\"content\") alone");
	expect_cell("product_copy", "description", "NEW-1", "fresh 1");
	expect_cell("product_copy", "description", "NEW-2", "fresh 2");
	expect_cell("product_copy", "description", "HUMAN", "by hand");
	expect_cell("product_copy", "description", "GEN", "regenerated");
	expect_cell("product_copy", "extra", "NEW-3", "{\"d_it\": \"j\"}");
	count = sql_value("SELECT count(*) FROM product_copy", 0, NULL);
	assert_string_equal(count, "6");
	free(count);
	conn_write_items_reset(items, 8);
	json_decref(t);
	json_decref(tj);
	json_decref(nouniq);
	conn_postgres_ops.close(c);
}

/* Items that cannot be written fail alone; the rest of the batch goes in. */
static void test_write_items_fail_alone(void **state)
{
	struct conn *c = open_sink();
	json_t *t = parse("{\"table\":\"wf\",\"key\":\"sku\",\"column\":\"v\"}");
	json_t *no_table = parse("{\"table\":\"nope.wf\",\"key\":\"sku\",\"column\":\"v\"}");
	json_t *no_col = parse("{\"table\":\"wf\",\"key\":\"sku\",\"column\":\"vv\"}");
	json_t *bad_target = parse("{\"table\":\"wf\",\"key\":\"sku\"}");
	json_t *int_key = parse("{\"table\":\"wi\",\"key\":\"id\",\"column\":\"v\"}");
	struct conn_write_item items[10];

	(void)state;
	sql("CREATE TABLE wf (sku text primary key, v text)");
	sql("CREATE TABLE wi (id int primary key, v text)");
	sql("INSERT INTO wf VALUES ('A', NULL), ('B', NULL), ('C', NULL)");
	sql("INSERT INTO wi VALUES (42, NULL)");
	items[0] = item("A", "a", t, CONN_OVERWRITE_NEVER, NULL);
	items[1] = item("B", "b", no_table, CONN_OVERWRITE_NEVER, NULL);
	items[2] = item("B", "b", no_col, CONN_OVERWRITE_NEVER, NULL);
	items[3] = item("B", NULL, t, CONN_OVERWRITE_NEVER, NULL);
	items[3].asset_path = "/tmp/x.png";
	items[4] = item("B", "bad \xff utf8", t, CONN_OVERWRITE_NEVER, NULL);
	items[5] = item("C", "first", t, CONN_OVERWRITE_NEVER, NULL);
	items[6] = item("C", "second", t, CONN_OVERWRITE_NEVER, NULL);
	items[7] = item("B", "b", bad_target, CONN_OVERWRITE_NEVER, NULL);
	items[8] = item("42", "int key", int_key, CONN_OVERWRITE_NEVER, NULL);
	items[9] = item("B", "b", t, CONN_OVERWRITE_ALWAYS, NULL);
	items[9].value_len = 0;   /* an empty value is a value */
	write_ok(c, items, 10);
	expect_status(&items[0], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[1], CONN_WRITE_FAILED, "no table nope.wf");
	expect_status(&items[2], CONN_WRITE_FAILED, "no column \"vv\" in wf");
	expect_status(&items[3], CONN_WRITE_FAILED, "an asset");
	expect_status(&items[4], CONN_WRITE_FAILED, "the value is not valid UTF-8");
	expect_status(&items[5], CONN_WRITE_FAILED, "superseded by a later value for sku \"C\"");
	expect_status(&items[6], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[7], CONN_WRITE_FAILED, "target.column: missing");
	expect_status(&items[8], CONN_WRITE_WRITTEN, NULL);
	expect_status(&items[9], CONN_WRITE_WRITTEN, NULL);
	expect_cell("wf", "v", "A", "a");
	expect_cell("wf", "v", "B", "");
	expect_cell("wf", "v", "C", "second");
	conn_write_items_reset(items, 10);
	json_decref(t);
	json_decref(no_table);
	json_decref(no_col);
	json_decref(bad_target);
	json_decref(int_key);
	conn_postgres_ops.close(c);
}

/* A big batch: every status right, and in time (a plan that compares every
 * item with every written one took 5 s for 10k items; this is 20k, twice). */
static void test_write_big_batch(void **state)
{
	enum { N = 20000 };
	struct conn *c = open_sink();
	json_t *t = parse("{\"table\":\"wbig\",\"key\":\"sku\",\"column\":\"v\"}");
	json_t *tu = parse("{\"table\":\"wbig\",\"key\":\"sku\",\"column\":\"v\",\"upsert\":true}");
	struct conn_write_item *items = calloc(N, sizeof *items);
	char (*sku)[16] = calloc(N, sizeof *sku), (*val)[32] = calloc(N, sizeof *val);
	char (*prior)[HASH_HEX_LEN] = calloc(N, sizeof *prior);
	struct timespec t0, t1;
	size_t counts[5] = { 0 };

	(void)state;
	assert_true(items && sku && val && prior);
	sql("CREATE TABLE wbig (sku text primary key, v text)");
	/* every 100th row was edited by a person; the rest skugen wrote */
	sql("INSERT INTO wbig SELECT 'K-' || i, CASE WHEN i %% 100 = 0 THEN 'human ' || i "
	    "ELSE 'gen ' || i END FROM generate_series(0, %d) i", N - 1);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			char old[32];

			snprintf(sku[i], sizeof sku[i], "K-%d", round ? i + N / 2 : i);
			snprintf(val[i], sizeof val[i], "new %d %d", round, i);
			snprintf(old, sizeof old, "gen %d", round ? i + N / 2 : i);
			sha256_hex(old, strlen(old), prior[i]);
			items[i] = item(sku[i], val[i], round ? tu : t, CONN_OVERWRITE_IF_GENERATED,
					prior[i]);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		write_ok(c, items, N);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		memset(counts, 0, sizeof counts);
		for (int i = 0; i < N; i++)
			counts[items[i].status]++;
		if (round == 0) {
			assert_int_equal(counts[CONN_WRITE_WRITTEN], N - N / 100);
			assert_int_equal(counts[CONN_WRITE_REFUSED], N / 100);
		} else {
			/* the upper half is new: inserted; the lower half was
			 * rewritten by round 0 (or by a person), so the prior
			 * no longer matches */
			assert_int_equal(counts[CONN_WRITE_WRITTEN], N / 2);
			assert_int_equal(counts[CONN_WRITE_REFUSED], N / 2);
		}
		if ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 > 10.0)
			fail_msg("writing %d items took over 10 s", N);
		conn_write_items_reset(items, N);
	}
	free(items);
	free(sku);
	free(val);
	free(prior);
	json_decref(t);
	json_decref(tu);
	conn_postgres_ops.close(c);
}

/* A statement that fails rolls the whole batch back: -1, all PENDING. */
static void test_write_batch_failure(void **state)
{
	struct conn *c = open_sink();
	json_t *t = parse("{\"table\":\"wb\",\"key\":\"sku\",\"column\":\"v\"}");
	json_t *t2 = parse("{\"table\":\"wb2\",\"key\":\"sku\",\"column\":\"v\"}");
	struct conn_write_item items[3];
	struct err e;

	(void)state;
	sql("CREATE TABLE wb (sku text primary key, v text)");
	sql("CREATE TABLE wb2 (sku text primary key, v varchar(5))");
	sql("INSERT INTO wb VALUES ('A', NULL)");
	sql("INSERT INTO wb2 VALUES ('A', NULL), ('B', NULL)");
	items[0] = item("A", "fits", t, CONN_OVERWRITE_NEVER, NULL);
	items[1] = item("A", "ok", t2, CONN_OVERWRITE_NEVER, NULL);
	items[2] = item("B", "far too long for five", t2, CONN_OVERWRITE_NEVER, NULL);
	err_clear(&e);
	assert_int_equal(conn_postgres_ops.write(c, items, 3, &e), -1);
	assert_int_equal(e.code, ERR_SOURCE);
	assert_non_null(strstr(e.msg, "postgres sink: writing wb2.v: value too long"));
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(items[i].status, CONN_WRITE_PENDING);
		assert_null(items[i].message);
	}
	expect_cell("wb", "v", "A", "<null>");
	expect_cell("wb2", "v", "A", "<null>");
	/* the connection is fine afterwards */
	items[2].value = "short";
	items[2].value_len = 5;
	write_ok(c, items, 3);
	for (size_t i = 0; i < 3; i++)
		expect_status(&items[i], CONN_WRITE_WRITTEN, NULL);
	expect_cell("wb2", "v", "B", "short");
	conn_write_items_reset(items, 3);
	json_decref(t);
	json_decref(t2);
	conn_postgres_ops.close(c);
}

/* A write while a read is under way goes over a connection of its own. */
static void test_write_during_read(void **state)
{
	struct record_batch b;
	struct conn *c;
	struct err e;
	json_t *t = parse("{\"table\":\"wr\",\"key\":\"sku\",\"column\":\"v\"}");
	struct conn_write_item it;
	size_t n = 0;

	(void)state;
	sql("CREATE TABLE wr (sku text primary key, v text)");
	sql("INSERT INTO wr SELECT 'R-' || i, NULL FROM generate_series(1, 5000) i");
	assert_int_equal(open_cfg(&c, "{\"dsn_env\":\"" DSN_ENV "\",\"table\":\"wr\","
				  "\"fetch_rows\":10}", NULL, &e), 0);
	assert_int_equal(record_batch_init(&b, 10), 0);
	assert_int_equal(conn_postgres_ops.next(c, &b, &e), 0);
	n += b.len;
	it = item("R-77", "during", t, CONN_OVERWRITE_NEVER, NULL);
	write_ok(c, &it, 1);
	expect_status(&it, CONN_WRITE_WRITTEN, NULL);
	while (conn_postgres_ops.next(c, &b, &e) == 0 && b.len)
		n += b.len;
	assert_int_equal(n, 5000);
	/* and after the read, on the first one */
	it = item("R-78", "after", t, CONN_OVERWRITE_NEVER, NULL);
	write_ok(c, &it, 1);
	expect_status(&it, CONN_WRITE_WRITTEN, NULL);
	expect_cell("wr", "v", "R-77", "during");
	expect_cell("wr", "v", "R-78", "after");
	record_batch_free(&b);
	json_decref(t);
	conn_postgres_ops.close(c);
}

/* ---- setup ------------------------------------------------------------- */

static int setup(void **state)
{
	PGconn *admin;
	PGresult *r;
	char q[256];

	(void)state;
	admin_dsn = getenv("SKUGEN_TEST_DSN");
	if (!admin_dsn || !admin_dsn[0]) {
		fprintf(stderr, "SKUGEN_TEST_DSN is not set: this test needs a Postgres.  Run it "
			"through `make test` (tests/run starts one), or start one with "
			"`SKUGEN_HOME=/tmp/pgt ./build/skugen db start` and export the DSN it prints "
			"as SKUGEN_TEST_DSN\n");
		return -1;
	}
	admin = PQconnectdb(admin_dsn);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to SKUGEN_TEST_DSN: %s", PQerrorMessage(admin));
		PQfinish(admin);
		return -1;
	}
	snprintf(dbname, sizeof dbname, "t_pgconn_%d", (int)getpid());
	PQclear(PQexec(admin, "SET client_min_messages = warning"));
	snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s", dbname);
	PQclear(PQexec(admin, q));
	snprintf(q, sizeof q, "CREATE DATABASE %s", dbname);
	r = PQexec(admin, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s", q, PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(admin);
		return -1;
	}
	PQclear(r);
	PQfinish(admin);
	snprintf(db_dsn, sizeof db_dsn, "%s dbname=%s", admin_dsn, dbname);
	setenv(DSN_ENV, db_dsn, 1);
	db = PQconnectdb(db_dsn);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to %s: %s", dbname, PQerrorMessage(db));
		return -1;
	}
	PQclear(PQexec(db, "SET client_min_messages = warning"));
	r = PQexec(db,
		   "CREATE TABLE products (sku text primary key, name text, price numeric(10,2), "
		   "stock int, active bool, weight float8, tags text[], attrs jsonb, spec json, "
		   "note text, status text, updated_at timestamptz);"
		   "INSERT INTO products VALUES "
		   "('A-1', 'Linen shirt', 19.99, 12, true, 0.25, '{linen,summer}', "
		   " '{\"size\": 40, \"fits\": [\"slim\", \"regular\"]}', '{\"care\": null, \"wash\": 30}', "
		   " NULL, 'active', '2024-03-01 10:00:00+00'),"
		   "('A-2', 'Wool coat', 199, 3, false, 1.5, '{}', '{}', '[]', 'n', 'active', "
		   " '2024-03-02 10:00:00+00'),"
		   "('A-3', 'Old hat', 5, 0, true, 0.1, NULL, NULL, NULL, NULL, 'deleted', "
		   " '2024-03-03 10:00:00+00'),"
		   "('A-4', 'Scarf', 9, 1, true, 0.1, NULL, NULL, NULL, NULL, 'disabled', "
		   " '2024-03-04 10:00:00+00'),"
		   "('A-5', 'Socks', 3, 100, true, 0.05, NULL, NULL, NULL, NULL, 'active', "
		   " '2024-03-05 10:00:00.5+00')");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "creating the fixture: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

static int teardown(void **state)
{
	PGconn *admin;
	char q[256];

	(void)state;
	PQfinish(db);
	db = NULL;
	if (!admin_dsn || !dbname[0])
		return 0;
	admin = PQconnectdb(admin_dsn);
	snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
	PQclear(PQexec(admin, q));
	PQfinish(admin);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* streaming first, while the process's peak RSS is still low
		 * enough for its check to mean something */
		cmocka_unit_test(test_streaming_bounded),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_table_mode),
		cmocka_unit_test(test_query_mode),
		cmocka_unit_test(test_column_mapping),
		cmocka_unit_test(test_where_filter),
		cmocka_unit_test(test_watermark),
		cmocka_unit_test(test_nasty_values_round_trip),
		cmocka_unit_test(test_record_errors),
		cmocka_unit_test(test_terminated_mid_stream),
		cmocka_unit_test(test_check_target),
		cmocka_unit_test(test_write_policies),
		cmocka_unit_test(test_write_nasty),
		cmocka_unit_test(test_write_json_key),
		cmocka_unit_test(test_write_upsert),
		cmocka_unit_test(test_write_items_fail_alone),
		cmocka_unit_test(test_write_big_batch),
		cmocka_unit_test(test_write_batch_failure),
		cmocka_unit_test(test_write_during_read),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
