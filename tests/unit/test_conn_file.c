/* test_conn_file.c: the "file" source connector (connectors/file.c) on nasty
 * JSONL and CSV catalogs written to a temporary directory at test time, plus
 * the static fixtures in tests/fixtures/catalogs (see its README.md). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/csv_reader.h"
#include "connectors/file.h"
#include "connectors/line_reader.h"
#include "tests/support/drain.h"

static char tmpdir[] = "/tmp/skugen-test-conn-file-XXXXXX";

/* ---- helpers ----------------------------------------------------------- */

static void write_file(const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_str(const char *name, const char *s)
{
	write_file(name, s, strlen(s));
}

/* Every record read from a source, moved out of the batches. */
struct got {
	struct record *v;
	size_t n;
	size_t peak;
};

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		record_clear(&g->v[i]);
	free(g->v);
	memset(g, 0, sizeof *g);
}

static int open_cfg(struct conn **c, const char *cfg_text, struct err *e)
{
	json_error_t je;
	json_t *cfg = json_loads(cfg_text, 0, &je);
	int rc;

	if (!cfg)
		fail_msg("bad test config %s: %s", cfg_text, je.text);
	rc = conn_file_ops.open(c, cfg, &(struct conn_open_opts){ .base_dir = tmpdir }, e);
	json_decref(cfg);
	return rc;
}

/* Open cfg_text, read everything with batches of cap, close.  Checks the
 * batch contract on the way: never over cap, every record has an origin,
 * error xor fields, error messages valid UTF-8. */
static int read_all(const char *cfg_text, size_t cap, struct got *g, struct err *e)
{
	struct conn *c;
	int rc;

	memset(g, 0, sizeof *g);
	if (open_cfg(&c, cfg_text, e) < 0)
		return -1;
	rc = drain_records(&conn_file_ops, c, cap, &g->v, &g->n, e);
	g->peak = conn_file_buffer_peak(c);
	conn_file_ops.close(c);
	return rc;
}

static void read_ok(const char *cfg_text, size_t cap, struct got *g)
{
	struct err e;

	err_clear(&e);
	if (read_all(cfg_text, cap, g, &e) < 0)
		fail_msg("reading %s failed: %s", cfg_text, e.msg);
}

static void expect_origin(const struct record *r, const char *file, size_t line)
{
	char want[512];

	snprintf(want, sizeof want, "%s:%zu", file, line);
	assert_string_equal(r->origin, want);
}

static void expect_ok(const struct got *g, size_t i, const char *file, size_t line,
		      const char *sku)
{
	assert_true(i < g->n);
	if (g->v[i].error)
		fail_msg("record %zu (%s) failed: %s", i, g->v[i].origin, g->v[i].error);
	expect_origin(&g->v[i], file, line);
	assert_string_equal(g->v[i].sku, sku);
}

/* Record i failed at file:line with an error containing needle; sku is
 * what it must still carry (NULL: none). */
static void expect_fail(const struct got *g, size_t i, const char *file, size_t line,
			const char *needle, const char *sku)
{
	assert_true(i < g->n);
	expect_origin(&g->v[i], file, line);
	if (!g->v[i].error)
		fail_msg("record %zu (%s) did not fail; expected \"%s\"", i, g->v[i].origin,
			 needle);
	if (!strstr(g->v[i].error, needle))
		fail_msg("record %zu (%s): error \"%s\" lacks \"%s\"", i, g->v[i].origin,
			 g->v[i].error, needle);
	assert_null(g->v[i].fields);
	if (sku)
		assert_string_equal(g->v[i].sku, sku);
	else
		assert_null(g->v[i].sku);
}

static void expect_field(const struct record *r, const char *name, const char *value)
{
	json_t *v = json_object_get(r->fields, name);

	if (!value) {
		if (v)
			fail_msg("%s: field %s should be missing", r->origin, name);
		return;
	}
	if (!json_is_string(v))
		fail_msg("%s: field %s is not a string", r->origin, name);
	assert_string_equal(json_string_value(v), value);
}

static void expect_open_error(const char *cfg_text, enum err_code code, const char *needle)
{
	struct conn *c = (struct conn *)1;
	struct err e;

	err_clear(&e);
	if (open_cfg(&c, cfg_text, &e) == 0) {
		conn_file_ops.close(c);
		fail_msg("%s opened; expected \"%s\"", cfg_text, needle);
	}
	assert_null(c);
	if (e.code != code || !strstr(e.msg, needle))
		fail_msg("%s: got %s \"%s\", expected %s \"%s\"", cfg_text, err_code_name(e.code),
			 e.msg, err_code_name(code), needle);
}

/* The process's peak resident set in KiB.  Under AddressSanitizer freed
 * memory sits in a quarantine and RSS grows regardless, so there it reads 0
 * and the rusage checks pass trivially (the reader's own peak is still
 * checked). */
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

/* ---- registry and configuration ---------------------------------------- */

static void test_registry(void **state)
{
	struct record_batch b;
	struct conn *c;
	struct err e;

	(void)state;
	assert_ptr_equal(conn_find("file"), &conn_file_ops);
	assert_string_equal(conn_file_ops.name, "file");
	assert_string_equal(conn_file_ops.version, "1");
	conn_file_ops.close(NULL);

	/* a batch with no room is a caller's bug, not "exhausted" */
	write_str("one.jsonl", "{\"sku\":\"A\"}\n");
	assert_int_equal(open_cfg(&c, "{\"type\":\"file\",\"path\":\"one.jsonl\"}", &e), 0);
	memset(&b, 0, sizeof b);
	assert_int_equal(conn_file_ops.next(c, &b, &e), -1);
	assert_int_equal(e.code, ERR_INTERNAL);
	conn_file_ops.close(c);
}

static void test_config_errors(void **state)
{
	static const struct {
		const char *cfg;
		const char *needle;
	} cases[] = {
		{ "[]", "source: expected an object" },
		{ "{}", "source.path: missing" },
		{ "{\"path\":5}", "source.path: expected a non-empty string, got 5" },
		{ "{\"path\":\"\"}", "source.path: expected a non-empty string, got \"\"" },
		{ "{\"path\":\"x.jsonl\",\"bogus\":1}", "source.bogus: unknown key" },
		{ "{\"path\":\"x.jsonl\",\"type\":\"postgres\"}",
		  "source.type: expected \"file\", got \"postgres\"" },
		{ "{\"path\":\"x.jsonl\",\"format\":\"xml\"}",
		  "source.format: expected \"jsonl\" or \"csv\", got \"xml\"" },
		{ "{\"path\":\"x.jsonl\",\"format\":1}",
		  "source.format: expected \"jsonl\" or \"csv\", got 1" },
		{ "{\"path\":\"catalog.txt\"}", "source.format: cannot tell the format of \"catalog.txt\"" },
		{ "{\"path\":\"x.jsonl\",\"key\":\"\"}", "source.key: expected a non-empty string" },
		{ "{\"path\":\"x.jsonl\",\"key\":[\"sku\"]}", "source.key: expected a non-empty string, got an array" },
		{ "{\"path\":\"x.jsonl\",\"max_field_bytes\":0}",
		  "source.max_field_bytes: expected an integer from 1 to 1073741824, got 0" },
		{ "{\"path\":\"x.jsonl\",\"max_record_bytes\":\"big\"}",
		  "source.max_record_bytes: expected an integer from 1 to 1073741824, got \"big\"" },
		{ "{\"path\":\"x.jsonl\",\"max_record_bytes\":1.5}", "source.max_record_bytes: expected" },
		{ "{\"path\":\"x.jsonl\",\"max_record_bytes\":2147483648}", "got 2147483648" },
		{ "{\"path\":\"x.jsonl\",\"delimiter\":\";\"}", "source.delimiter: only for format \"csv\"" },
		{ "{\"path\":\"x.csv\",\"delimiter\":\";;\"}", "source.delimiter: expected one ASCII character" },
		{ "{\"path\":\"x.csv\",\"delimiter\":\"\\\"\"}", "source.delimiter: expected one ASCII" },
		{ "{\"path\":\"x.csv\",\"delimiter\":\"\\n\"}", "source.delimiter: expected one ASCII" },
		{ "{\"path\":\"x.csv\",\"delimiter\":\"\u00e9\"}", "source.delimiter: expected one ASCII" },
		{ "{\"path\":\"x.jsonl\",\"columns\":{}}", "source.columns: only for format \"csv\"" },
		{ "{\"path\":\"x.csv\",\"columns\":[]}", "source.columns: expected an object" },
		{ "{\"path\":\"x.csv\",\"columns\":{\"Item\":1}}", "source.columns.\"Item\": expected a non-empty field name" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_open_error(cases[i].cfg, ERR_CONFIG, cases[i].needle);
}

static void test_open_errors(void **state)
{
	char cfg[1024], want[1024];
	struct got g;

	(void)state;
	snprintf(want, sizeof want, "%s/missing.jsonl: No such file or directory", tmpdir);
	expect_open_error("{\"path\":\"missing.jsonl\"}", ERR_SOURCE, want);
	assert_int_equal(mkdir(strcat(strcpy(cfg, tmpdir), "/dir.jsonl"), 0700), 0);
	expect_open_error("{\"path\":\"dir.jsonl\"}", ERR_SOURCE, "dir.jsonl: Is a directory");
	write_str("secret.jsonl", "{\"sku\":\"A\"}\n");
	snprintf(cfg, sizeof cfg, "%s/secret.jsonl", tmpdir);
	assert_int_equal(chmod(cfg, 0), 0);
	if (geteuid() != 0)
		expect_open_error("{\"path\":\"secret.jsonl\"}", ERR_SOURCE,
				  "secret.jsonl: Permission denied");
	assert_int_equal(chmod(cfg, 0600), 0);

	/* an absolute path ignores base_dir; origins name the path as configured */
	snprintf(cfg, sizeof cfg, "{\"path\":\"%s/secret.jsonl\"}", tmpdir);
	read_ok(cfg, 4, &g);
	assert_int_equal(g.n, 1);
	snprintf(want, sizeof want, "%s/secret.jsonl", tmpdir);
	expect_ok(&g, 0, want, 1, "A");
	got_free(&g);

	/* the format comes from the extension, any case; .ndjson is JSONL */
	write_str("upper.NDJSON", "{\"sku\":\"N\"}");
	read_ok("{\"path\":\"upper.NDJSON\"}", 4, &g);
	assert_int_equal(g.n, 1);
	expect_ok(&g, 0, "upper.NDJSON", 1, "N");
	got_free(&g);
	write_str("data.txt", "sku\nT1\n");
	read_ok("{\"path\":\"data.txt\",\"format\":\"csv\"}", 4, &g);
	assert_int_equal(g.n, 1);
	expect_ok(&g, 0, "data.txt", 2, "T1");
	got_free(&g);
}

/* ---- JSONL ------------------------------------------------------------- */

static void test_jsonl_good(void **state)
{
	/* BOM, CRLF, blank and all-whitespace lines, integer SKU, a custom key,
	 * last line without a newline */
	const char text[] =
		"\xef\xbb\xbf{\"id\":\"A-1\",\"name\":\"Chair\",\"price\":12.5}\r\n"
		"\r\n"
		"   \t \n"
		"{\"id\":12345,\"tags\":[\"a\",\"b\"],\"dims\":{\"w\":1}}\n"
		"\n"
		"{\"id\":\"0007\",\"name\":\"Caf\xc3\xa9\"}\r\n"
		"{\"id\":-3}";
	struct got g;
	json_t *want;

	(void)state;
	write_str("good.jsonl", text);
	read_ok("{\"path\":\"good.jsonl\",\"key\":\"id\"}", 2, &g);
	assert_int_equal(g.n, 4);
	expect_ok(&g, 0, "good.jsonl", 1, "A-1");
	expect_ok(&g, 1, "good.jsonl", 4, "12345");
	expect_ok(&g, 2, "good.jsonl", 6, "0007");
	expect_ok(&g, 3, "good.jsonl", 7, "-3");
	/* fields are the whole object, key included, as parsed */
	want = json_loads("{\"id\":\"A-1\",\"name\":\"Chair\",\"price\":12.5}", 0, NULL);
	assert_true(json_equal(g.v[0].fields, want));
	json_decref(want);
	assert_true(json_is_integer(json_object_get(g.v[1].fields, "id")));
	expect_field(&g.v[2], "name", "Caf\xc3\xa9");
	got_free(&g);

	/* an empty file and a file of blank lines hold no records */
	write_str("empty.jsonl", "");
	read_ok("{\"path\":\"empty.jsonl\"}", 2, &g);
	assert_int_equal(g.n, 0);
	got_free(&g);
	write_str("blank.jsonl", "\n\r\n  \n");
	read_ok("{\"path\":\"blank.jsonl\"}", 2, &g);
	assert_int_equal(g.n, 0);
	got_free(&g);
}

static void test_jsonl_bad_records(void **state)
{
	static const char *const lines[] = {
		/*  1 */ "{\"sku\":\"G1\",\"name\":\"ok\"}",
		/*  2 */ "{\"sku\":\"M1\",\"name\": }",
		/*  3 */ "[\"not\",\"an\",\"object\"]",
		/*  4 */ "\"just a string\"",
		/*  5 */ "{\"name\":\"no sku\"}",
		/*  6 */ "{\"sku\":\"\"}",
		/*  7 */ "{\"sku\":\" \\t \"}",
		/*  8 */ "{\"sku\":1.5}",
		/*  9 */ "{\"sku\":[\"a\"]}",
		/* 10 */ "{\"sku\":null}",
		/* 11 */ "{\"sku\":\"U1\",\"name\":\"caf\xe9\"}",
		/* 12 */ "{\"sku\":\"N1\",\"name\":\"a@b\"}",          /* @ becomes NUL */
		/* 13 */ "{\"sku\":\"Z1\",\"name\":\"\\u0000\"}",
		/* 14 */ "{\"sku\":\"D1\",\"a\":1,\"a\":2}",
		/* 15 */ "{\"sku\":\"T1\"} trailing",
		/* 16 */ "{\"sku\":\"G2\",\"nested\":{\"x\":[1,2]}}",
		/* 17 */ "\xff{\"sku\":\"U2\"}",
		/* 18 */ "{\"sku\":99999999999999999999}",
		/* 19 */ "{\"sku\":\"U\xc3\",\"name\":\"x\"}",      /* bad byte in the key */
		/* 20 */ "{\"sku\":\"G3\"}",
	};
	char text[4096] = "";
	struct got g;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		strcat(text, lines[i]);
		strcat(text, "\n");
	}
	len = strlen(text);
	*strchr(text, '@') = '\0';
	write_file("bad.jsonl", text, len);
	read_ok("{\"path\":\"bad.jsonl\"}", 3, &g);
	assert_int_equal(g.n, 20);
	expect_ok(&g, 0, "bad.jsonl", 1, "G1");
	expect_fail(&g, 1, "bad.jsonl", 2, "malformed JSON at column 21: unexpected token", NULL);
	expect_fail(&g, 2, "bad.jsonl", 3, "not a JSON object (got an array)", NULL);
	expect_fail(&g, 3, "bad.jsonl", 4, "not a JSON object (got a string)", NULL);
	expect_fail(&g, 4, "bad.jsonl", 5, "missing key field \"sku\"", NULL);
	expect_fail(&g, 5, "bad.jsonl", 6, "key field \"sku\" is empty", NULL);
	expect_fail(&g, 6, "bad.jsonl", 7, "key field \"sku\" is empty", NULL);
	expect_fail(&g, 7, "bad.jsonl", 8,
		    "key field \"sku\" must be a string or an integer, got a real number", NULL);
	expect_fail(&g, 8, "bad.jsonl", 9, "got an array", NULL);
	expect_fail(&g, 9, "bad.jsonl", 10, "got null", NULL);
	/* byte 24 is the \xe9; the SKU survives damage elsewhere in the line */
	expect_fail(&g, 10, "bad.jsonl", 11, "field \"name\": invalid UTF-8 at byte 24", "U1");
	expect_fail(&g, 11, "bad.jsonl", 12, "field \"name\": NUL byte at byte 22", "N1");
	expect_fail(&g, 12, "bad.jsonl", 13, "field \"name\": NUL character (\\u0000) at column", NULL);
	expect_fail(&g, 13, "bad.jsonl", 14, "duplicate object key", NULL);
	expect_fail(&g, 14, "bad.jsonl", 15, "malformed JSON at column", NULL);
	expect_ok(&g, 15, "bad.jsonl", 16, "G2");
	expect_fail(&g, 16, "bad.jsonl", 17, "invalid UTF-8 at byte 1", NULL);
	expect_fail(&g, 17, "bad.jsonl", 18, "too big integer", NULL);
	expect_fail(&g, 18, "bad.jsonl", 19, "field \"sku\": invalid UTF-8 at byte 10", NULL);
	expect_ok(&g, 19, "bad.jsonl", 20, "G3");
	got_free(&g);
}

static char *big_string(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_jsonl_big_field(void **state)
{
	const size_t big = 5 * 1024 * 1024;
	char *desc = big_string(big, 'x');
	char *text = malloc(2 * big + 256);
	struct got g;
	int n;

	(void)state;
	assert_non_null(text);
	n = sprintf(text, "{\"sku\":\"S1\"}\n{\"sku\":\"BIG\",\"description\":\"%s\"}\n"
		    "{\"sku\":\"S2\",\"list\":[\"%s\"]}\n{\"sku\":\"S3\"}", desc, desc);
	write_file("bigfield.jsonl", text, (size_t)n);

	/* default limit 1 MiB: the record fails, naming the field and sizes */
	read_ok("{\"path\":\"bigfield.jsonl\"}", 16, &g);
	assert_int_equal(g.n, 4);
	expect_ok(&g, 0, "bigfield.jsonl", 1, "S1");
	expect_fail(&g, 1, "bigfield.jsonl", 2,
		    "field \"description\" is 5242880 bytes, limit 1048576", "BIG");
	expect_fail(&g, 2, "bigfield.jsonl", 3, "field \"list\" is 5242880 bytes", "S2");
	expect_ok(&g, 3, "bigfield.jsonl", 4, "S3");
	got_free(&g);

	/* raised limits: the 5 MB field comes through whole */
	read_ok("{\"path\":\"bigfield.jsonl\",\"max_field_bytes\":8388608}", 16, &g);
	assert_int_equal(g.n, 4);
	expect_ok(&g, 1, "bigfield.jsonl", 2, "BIG");
	assert_int_equal(json_string_length(json_object_get(g.v[1].fields, "description")), big);
	got_free(&g);
	free(text);
	free(desc);
}

static void test_jsonl_long_line_skipped(void **state)
{
	const size_t limit = 4096, huge = 10 * 1024 * 1024;
	char *pad = big_string(huge, 'y');
	char *exact = big_string(limit - 18, 'z');   /* {"sku":"E","p":"<pad>"} */
	char *over = big_string(limit - 17, 'z');
	char cfg[128], want[128], want2[128];
	FILE *f;
	struct got g;
	long rss_before;

	(void)state;
	f = fopen(strcat(strcpy(want, tmpdir), "/long.jsonl"), "wb");
	assert_non_null(f);
	fprintf(f, "{\"sku\":\"L1\"}\n");
	fprintf(f, "{\"sku\":\"HUGE\",\"p\":\"%s\"}\n", pad);           /* line 2 */
	fprintf(f, "{\"sku\":\"L3\"}\n");
	fprintf(f, "{\"sku\":\"E\",\"p\":\"%s\"}\r\n", exact);          /* exactly the limit */
	fprintf(f, "{\"sku\":\"O\",\"p\":\"%s\"}\n", over);             /* one byte over */
	fprintf(f, "{\"sku\":\"HUGE2\",\"p\":\"%s\"}", pad);            /* at EOF, no newline */
	assert_int_equal(fclose(f), 0);

	rss_before = maxrss_kb();
	snprintf(cfg, sizeof cfg, "{\"path\":\"long.jsonl\",\"max_record_bytes\":%zu}", limit);
	read_ok(cfg, 2, &g);
	assert_int_equal(g.n, 6);
	expect_ok(&g, 0, "long.jsonl", 1, "L1");
	snprintf(want, sizeof want, "record is %zu bytes, limit 4096", huge + 21);
	snprintf(want2, sizeof want2, "record is %zu bytes, limit 4096", huge + 22);
	expect_fail(&g, 1, "long.jsonl", 2, want, NULL);
	expect_ok(&g, 2, "long.jsonl", 3, "L3");
	expect_ok(&g, 3, "long.jsonl", 4, "E");
	expect_fail(&g, 4, "long.jsonl", 5, "record is 4097 bytes, limit 4096", NULL);
	expect_fail(&g, 5, "long.jsonl", 6, want2, NULL);
	/* the 10 MB lines were never buffered */
	assert_true(g.peak <= LINE_READER_CHUNK + limit + 2);
	assert_true(maxrss_kb() - rss_before < 8 * 1024);
	got_free(&g);
	free(pad);
	free(exact);
	free(over);
}

/* Lines whose ends fall on and around the 64 KiB chunk boundaries, with CRLF
 * (so a '\r' can end one chunk and its '\n' start the next). */
static void test_jsonl_chunk_boundaries(void **state)
{
	const size_t n = 60;
	char path[512], sku[32];
	FILE *f;
	struct got g;

	(void)state;
	snprintf(path, sizeof path, "%s/chunks.jsonl", tmpdir);
	f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		/* lengths LINE_READER_CHUNK - 30 .. + 29, each line CRLF-terminated */
		size_t len = LINE_READER_CHUNK - 30 + i;
		int head = fprintf(f, "{\"sku\":\"K%zu\",\"p\":\"", i);

		for (size_t k = (size_t)head + 2; k < len; k++)
			fputc('a' + (int)(k % 26), f);
		fputs("\"}\r\n", f);
	}
	assert_int_equal(fclose(f), 0);
	read_ok("{\"path\":\"chunks.jsonl\",\"max_record_bytes\":70000}", 7, &g);
	assert_int_equal(g.n, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(sku, sizeof sku, "K%zu", i);
		expect_ok(&g, i, "chunks.jsonl", i + 1, sku);
		assert_int_equal(strlen(json_string_value(json_object_get(g.v[i].fields, "p"))),
				 LINE_READER_CHUNK - 30 + i - strlen(sku) - 17);
	}
	got_free(&g);
}

/* 200k lines read 1000 at a time: the reader's buffers stay under
 * max_record_bytes plus its chunk, however big the file. */
static void test_jsonl_streaming_bounded(void **state)
{
	const size_t lines = 200000, cap = 1000, limit = 4096;
	struct record_batch b;
	struct conn *c;
	struct err e;
	char path[512], cfg[128];
	size_t seen = 0, batches = 0, last_line = 0;
	long rss_before;
	FILE *f;

	(void)state;
	snprintf(path, sizeof path, "%s/big.jsonl", tmpdir);
	f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < lines; i++)
		fprintf(f, "{\"sku\":\"SKU-%08zu\",\"name\":\"Product %zu\",\"gtin\":\"%013zu\","
			"\"description\":\"A fine product with a long enough description.\"}\n",
			i, i, i);
	assert_int_equal(fclose(f), 0);

	rss_before = maxrss_kb();
	snprintf(cfg, sizeof cfg, "{\"path\":\"big.jsonl\",\"max_record_bytes\":%zu}", limit);
	assert_int_equal(open_cfg(&c, cfg, &e), 0);
	assert_int_equal(record_batch_init(&b, cap), 0);
	for (;;) {
		assert_int_equal(conn_file_ops.next(c, &b, &e), 0);
		if (b.len == 0)
			break;
		batches++;
		for (size_t i = 0; i < b.len; i++) {
			char sku[32];

			assert_null(b.items[i].error);
			snprintf(sku, sizeof sku, "SKU-%08zu", seen);
			assert_string_equal(b.items[i].sku, sku);
			seen++;
		}
		last_line = (size_t)strtoul(strrchr(b.items[b.len - 1].origin, ':') + 1, NULL, 10);
		assert_true(conn_file_buffer_peak(c) <= LINE_READER_CHUNK + limit + 2);
	}
	assert_int_equal(seen, lines);
	assert_int_equal(batches, lines / cap);
	assert_int_equal(last_line, lines);
	/* the ~30 MB file never sat in memory */
	assert_true(maxrss_kb() - rss_before < 16 * 1024);
	record_batch_free(&b);
	conn_file_ops.close(c);
}

/* ---- CSV --------------------------------------------------------------- */

static void test_csv_good(void **state)
{
	const char text[] =
		"\xef\xbb\xbf" " sku , name\t,gtin,description,price\r\n"
		"00123,\"Chair, oak\",0001234567890,\"Says \"\"hi\"\"\",9.50\r\n"
		"\r\n"
		"B2,,x,,\r\n"
		"B3,\"\",\"\",\"line one\nline two\r\nline three\",1\r\n"
		"B4,after,the,multi-line,row\n"
		"\"B5\",\"caf\xc3\xa9\",  spaced  ,\"\",\n"
		"B6,no,final,newline,0";
	struct got g;

	(void)state;
	write_str("good.csv", text);
	read_ok("{\"path\":\"good.csv\"}", 2, &g);
	assert_int_equal(g.n, 6);
	expect_ok(&g, 0, "good.csv", 2, "00123");
	expect_field(&g.v[0], "sku", "00123");           /* leading zeros kept */
	expect_field(&g.v[0], "name", "Chair, oak");
	expect_field(&g.v[0], "gtin", "0001234567890");
	expect_field(&g.v[0], "description", "Says \"hi\"");
	expect_field(&g.v[0], "price", "9.50");          /* text, as written */
	expect_ok(&g, 1, "good.csv", 4, "B2");
	expect_field(&g.v[1], "name", NULL);             /* empty unquoted: missing */
	expect_field(&g.v[1], "description", NULL);
	expect_field(&g.v[1], "gtin", "x");
	assert_int_equal(json_object_size(g.v[1].fields), 2);
	expect_ok(&g, 2, "good.csv", 5, "B3");           /* spans lines 5-7 */
	expect_field(&g.v[2], "name", "");               /* empty quoted: "" */
	expect_field(&g.v[2], "description", "line one\nline two\r\nline three");
	expect_ok(&g, 3, "good.csv", 8, "B4");
	expect_ok(&g, 4, "good.csv", 9, "B5");
	expect_field(&g.v[4], "name", "caf\xc3\xa9");
	expect_field(&g.v[4], "gtin", "  spaced  ");     /* cells are not trimmed */
	expect_field(&g.v[4], "price", NULL);
	expect_ok(&g, 5, "good.csv", 10, "B6");
	got_free(&g);
}

static void test_csv_bad_records(void **state)
{
	const char text[] =
		"sku,name,gtin\n"                 /* 1 */
		"G1,ok,1\n"                       /* 2 */
		"F1,too few\n"                    /* 3 */
		"F2,too,many,cells\n"             /* 4 */
		"F3,ab\"c,1\n"                    /* 5: stray quote */
		"G2,\"fine\",2\n"                 /* 6 */
		"F4,\"closed\"junk,3\n"           /* 7: junk after closing quote */
		"F5,caf\xe9,4\n"                  /* 8: invalid UTF-8 */
		"F6,a@b,5\n"                      /* 9: NUL */
		",no sku,6\n"                     /* 10 */
		"\"\",quoted empty sku,7\n"       /* 11 */
		"\"  \",blank sku,8\n"            /* 12 */
		"F7\xc3,bad sku,9\n"              /* 13: invalid UTF-8 in the key */
		"F8,x,\"oops\n"                  /* 14: the quote runs on... */
		"G3,\"y\",10\n"                  /* 15: ...to here, then junk */
		"G4,z,11\n";                     /* 16 */
	char buf[sizeof text];
	struct got g;

	(void)state;
	memcpy(buf, text, sizeof text);
	*strchr(buf, '@') = '\0';
	write_file("bad.csv", buf, sizeof text - 1);
	read_ok("{\"path\":\"bad.csv\"}", 4, &g);
	assert_int_equal(g.n, 14);
	expect_ok(&g, 0, "bad.csv", 2, "G1");
	expect_fail(&g, 1, "bad.csv", 3, "row has 2 cells, header has 3", NULL);
	expect_fail(&g, 2, "bad.csv", 4, "row has 4 cells, header has 3", NULL);
	expect_fail(&g, 3, "bad.csv", 5,
		    "field \"name\" (column 2): stray quote in an unquoted cell", "F3");
	expect_ok(&g, 4, "bad.csv", 6, "G2");
	expect_fail(&g, 5, "bad.csv", 7,
		    "field \"name\" (column 2): unexpected character after a closing quote", "F4");
	expect_fail(&g, 6, "bad.csv", 8,
		    "field \"name\" (column 2): invalid UTF-8 at byte 4 of the cell", "F5");
	expect_fail(&g, 7, "bad.csv", 9,
		    "field \"name\" (column 2): NUL byte at byte 2 of the cell", "F6");
	expect_fail(&g, 8, "bad.csv", 10, "missing key field \"sku\"", NULL);
	expect_fail(&g, 9, "bad.csv", 11, "key field \"sku\" is empty", NULL);
	expect_fail(&g, 10, "bad.csv", 12, "key field \"sku\" is empty", NULL);
	expect_fail(&g, 11, "bad.csv", 13,
		    "field \"sku\" (column 1): invalid UTF-8 at byte 3 of the cell", NULL);
	/* line 14's last cell runs into line 15, where `G3,"` closes it and the
	 * next byte is junk: one failed record from line 14, then line 16 */
	expect_fail(&g, 12, "bad.csv", 14,
		    "field \"gtin\" (column 3): unexpected character after a closing quote", "F8");
	expect_ok(&g, 13, "bad.csv", 16, "G4");
	got_free(&g);
}

static void test_csv_unclosed_quote_at_eof(void **state)
{
	const char text[] =
		"sku,name\n"
		"A1,first\n"
		"A2,\"spans\n"
		"two lines\"\n"
		"A3,third\n"
		"A4,\"never closed\n"
		"A5,swallowed\n"
		"A6,swallowed too\n";
	struct got g;

	(void)state;
	write_str("unclosed.csv", text);
	read_ok("{\"path\":\"unclosed.csv\"}", 2, &g);
	assert_int_equal(g.n, 4);
	expect_ok(&g, 0, "unclosed.csv", 2, "A1");
	expect_ok(&g, 1, "unclosed.csv", 3, "A2");
	expect_field(&g.v[1], "name", "spans\ntwo lines");
	expect_ok(&g, 2, "unclosed.csv", 5, "A3");
	expect_fail(&g, 3, "unclosed.csv", 6,
		    "field \"name\" (column 2): quoted cell opened on line 6 is not closed "
		    "before the end of the file", "A4");
	got_free(&g);

	/* the quote opens on a later line than the record */
	write_str("unclosed2.csv", "sku,a,b\nA1,\"x\ny\",\"open\nA2,z,z\n");
	read_ok("{\"path\":\"unclosed2.csv\"}", 2, &g);
	assert_int_equal(g.n, 1);
	expect_fail(&g, 0, "unclosed2.csv", 2, "column 3): quoted cell opened on line 3", "A1");
	got_free(&g);
}

static void test_csv_header_errors(void **state)
{
	(void)state;
	write_str("h1.csv", "sku,,name\nA,b,c\n");
	expect_open_error("{\"path\":\"h1.csv\"}", ERR_SOURCE, "h1.csv:1: header column 2 is empty");
	write_str("h2.csv", "\n\nsku,name, name \nA,b,c\n");
	expect_open_error("{\"path\":\"h2.csv\"}", ERR_SOURCE,
			  "h2.csv:3: header columns 2 and 3 are both \"name\"");
	write_str("h3.csv", "");
	expect_open_error("{\"path\":\"h3.csv\"}", ERR_SOURCE, "h3.csv: no header row (the file is empty)");
	write_str("h4.csv", "id,name\n1,a\n");
	expect_open_error("{\"path\":\"h4.csv\"}", ERR_SOURCE,
			  "h4.csv:1: no column for the key field \"sku\"");
	write_str("h5.csv", "sku,caf\xe9\n");
	expect_open_error("{\"path\":\"h5.csv\"}", ERR_SOURCE,
			  "h5.csv:1: header column 2: invalid UTF-8 at byte 4");
	write_str("h6.csv", "sku,\"name\n");
	expect_open_error("{\"path\":\"h6.csv\"}", ERR_SOURCE,
			  "h6.csv:1: header: column 2: quoted cell opened on line 1");
	write_str("h8.csv", "sku,name\rA,x\rB,y\r");
	expect_open_error("{\"path\":\"h8.csv\"}", ERR_SOURCE,
			  "h8.csv:1: header column 2 holds control byte 0x0d (lines must end");
	write_str("h7.csv", "sku,Title\n1,a\n");
	expect_open_error("{\"path\":\"h7.csv\",\"columns\":{\"Name\":\"name\"}}", ERR_CONFIG,
			  "source.columns.\"Name\": no such column in the header of h7.csv");
	expect_open_error("{\"path\":\"h7.csv\",\"columns\":{\"Title\":\"sku\"}}", ERR_CONFIG,
			  "columns 1 and 2 of h7.csv would both be field \"sku\"");
}

static void test_csv_delimiter_and_columns(void **state)
{
	struct got g;

	(void)state;
	write_str("semi.csv", "Item No;Title;gtin\n007;\"a;b\";1\n008;c;\n");
	read_ok("{\"path\":\"semi.csv\",\"delimiter\":\";\","
		"\"columns\":{\"Item No\":\"sku\",\"Title\":\"name\"}}", 8, &g);
	assert_int_equal(g.n, 2);
	expect_ok(&g, 0, "semi.csv", 2, "007");
	expect_field(&g.v[0], "name", "a;b");
	expect_field(&g.v[0], "Title", NULL);
	expect_field(&g.v[0], "gtin", "1");
	expect_ok(&g, 1, "semi.csv", 3, "008");
	expect_field(&g.v[1], "gtin", NULL);
	got_free(&g);

	write_str("tabs.tsv", "code\tname\nX1\tcomma, kept\n");
	read_ok("{\"path\":\"tabs.tsv\",\"format\":\"csv\",\"delimiter\":\"\\t\",\"key\":\"code\"}",
		8, &g);
	assert_int_equal(g.n, 1);
	expect_ok(&g, 0, "tabs.tsv", 2, "X1");
	expect_field(&g.v[0], "name", "comma, kept");
	got_free(&g);
}

static void test_csv_big_field_and_long_row(void **state)
{
	const size_t big = 5 * 1024 * 1024;
	char *desc = big_string(big, 'd');
	char path[512];
	FILE *f;
	struct got g;

	(void)state;
	/* a 5 MB cell, and a 5 MB quoted cell full of line breaks */
	snprintf(path, sizeof path, "%s/bigcell.csv", tmpdir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fprintf(f, "sku,description\nS1,short\nBIG,%s\n", desc);
	for (size_t i = 999; i < big; i += 1000)
		desc[i] = '\n';
	fprintf(f, "ML,\"%s\"\nS2,after\n", desc);   /* ML spans lines 4..5246 */
	assert_int_equal(fclose(f), 0);

	read_ok("{\"path\":\"bigcell.csv\"}", 3, &g);
	assert_int_equal(g.n, 4);
	expect_ok(&g, 0, "bigcell.csv", 2, "S1");
	expect_fail(&g, 1, "bigcell.csv", 3,
		    "field \"description\" (column 2) is 5242880 bytes, limit 1048576", "BIG");
	expect_fail(&g, 2, "bigcell.csv", 4, "is 5242880 bytes, limit 1048576", "ML");
	expect_ok(&g, 3, "bigcell.csv", 4 + big / 1000 + 1, "S2");
	assert_true(g.peak <= CSV_READER_CHUNK + 8 * 1024 * 1024 + 1 + 64 * 2);
	got_free(&g);

	/* a small max_record_bytes: the rows are skipped, not buffered, and line
	 * counting goes on through the quoted line breaks */
	read_ok("{\"path\":\"bigcell.csv\",\"max_record_bytes\":4096}", 3, &g);
	assert_int_equal(g.n, 4);
	expect_fail(&g, 1, "bigcell.csv", 3, "record is 5242884 bytes, limit 4096", "BIG");
	expect_fail(&g, 2, "bigcell.csv", 4, "record is 5242885 bytes, limit 4096", "ML");
	expect_ok(&g, 3, "bigcell.csv", 4 + big / 1000 + 1, "S2");
	assert_true(g.peak <= CSV_READER_CHUNK + 4096 + 1 + 2 * 2 * sizeof(struct csv_cell) + 1024);
	got_free(&g);

	/* raised limits: it all comes through */
	read_ok("{\"path\":\"bigcell.csv\",\"max_field_bytes\":6000000}", 3, &g);
	assert_int_equal(g.n, 4);
	expect_ok(&g, 2, "bigcell.csv", 4, "ML");
	assert_memory_equal(json_string_value(json_object_get(g.v[2].fields, "description")),
			    desc, big);
	got_free(&g);
	free(desc);
}

static void test_csv_streaming_bounded(void **state)
{
	const size_t rows = 200000, cap = 777, limit = 2048;
	struct record_batch b;
	struct conn *c;
	struct err e;
	char path[512], cfg[128];
	size_t seen = 0, line = 1;
	long rss_before;
	FILE *f;

	(void)state;
	snprintf(path, sizeof path, "%s/big.csv", tmpdir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs("sku,name,gtin,description\r\n", f);
	for (size_t i = 0; i < rows; i++)
		fprintf(f, "%07zu,\"Product, %zu\",%013zu,\"%s\"\r\n", i, i, i,
			i % 10 ? "plain" : "two\nlines");
	assert_int_equal(fclose(f), 0);

	rss_before = maxrss_kb();
	snprintf(cfg, sizeof cfg, "{\"path\":\"big.csv\",\"max_record_bytes\":%zu}", limit);
	assert_int_equal(open_cfg(&c, cfg, &e), 0);
	assert_int_equal(record_batch_init(&b, cap), 0);
	for (;;) {
		assert_int_equal(conn_file_ops.next(c, &b, &e), 0);
		if (b.len == 0)
			break;
		for (size_t i = 0; i < b.len; i++) {
			char want[64];

			line++;
			snprintf(want, sizeof want, "big.csv:%zu", line);
			assert_null(b.items[i].error);
			assert_string_equal(b.items[i].origin, want);
			snprintf(want, sizeof want, "%07zu", seen);
			assert_string_equal(b.items[i].sku, want);
			if (seen % 10 == 0)
				line++;
			seen++;
		}
		assert_true(conn_file_buffer_peak(c) <= CSV_READER_CHUNK + limit + 1 +
			    2 * 4 * sizeof(struct csv_cell) + 1024);
	}
	assert_int_equal(seen, rows);
	assert_true(maxrss_kb() - rss_before < 16 * 1024);
	record_batch_free(&b);
	conn_file_ops.close(c);
}

/* ---- the committed fixtures (tests/fixtures/catalogs/README.md) -------- */

static const char *fixture_dir(void)
{
	static char dir[1024];
	static const char *const tries[] = {
		"tests/fixtures/catalogs", "../tests/fixtures/catalogs",
		"../../tests/fixtures/catalogs", "../../../tests/fixtures/catalogs",
	};
	char probe[1100];

	for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
		snprintf(probe, sizeof probe, "%s/bad.jsonl", tries[i]);
		if (access(probe, R_OK) == 0 && realpath(tries[i], dir))
			return dir;
	}
	fail_msg("tests/fixtures/catalogs not found from the current directory");
	return NULL;
}

static void read_fixture(const char *name, struct got *g)
{
	char cfg[1200];
	struct err e;

	snprintf(cfg, sizeof cfg, "{\"path\":\"%s\"}", name);
	memset(g, 0, sizeof *g);
	err_clear(&e);
	{
		struct record_batch b;
		struct conn *c;
		json_t *j = json_loads(cfg, 0, NULL);

		assert_int_equal(conn_file_ops.open(&c, j, &(struct conn_open_opts){ .base_dir = fixture_dir() }, &e), 0);
		json_decref(j);
		assert_int_equal(record_batch_init(&b, 4), 0);
		while (conn_file_ops.next(c, &b, &e) == 0 && b.len) {
			g->v = realloc(g->v, (g->n + b.len) * sizeof *g->v);
			assert_non_null(g->v);
			for (size_t i = 0; i < b.len; i++) {
				g->v[g->n++] = b.items[i];
				memset(&b.items[i], 0, sizeof b.items[i]);
			}
		}
		assert_int_equal(e.code, ERR_OK);
		record_batch_free(&b);
		conn_file_ops.close(c);
	}
}

static void test_fixtures(void **state)
{
	struct got g;

	(void)state;
	read_fixture("good.jsonl", &g);
	assert_int_equal(g.n, 3);
	expect_ok(&g, 0, "good.jsonl", 1, "G-1");
	expect_ok(&g, 1, "good.jsonl", 3, "G-2");
	expect_ok(&g, 2, "good.jsonl", 4, "3");
	got_free(&g);

	read_fixture("good.csv", &g);
	assert_int_equal(g.n, 3);
	expect_ok(&g, 0, "good.csv", 2, "G-1");
	expect_field(&g.v[0], "description", "Solid walnut, oiled");
	expect_ok(&g, 1, "good.csv", 3, "G-2");
	expect_field(&g.v[1], "description", "Two lines:\r\nsecond \"quoted\" line");
	expect_ok(&g, 2, "good.csv", 5, "003");
	expect_field(&g.v[2], "gtin", NULL);
	expect_field(&g.v[2], "description", "");
	got_free(&g);

	read_fixture("bad.jsonl", &g);
	assert_int_equal(g.n, 10);
	expect_ok(&g, 0, "bad.jsonl", 1, "J-GOOD-1");
	expect_fail(&g, 1, "bad.jsonl", 2, "malformed JSON at column 29", NULL);
	expect_fail(&g, 2, "bad.jsonl", 3, "field \"name\": invalid UTF-8 at byte 32", "J-BAD-UTF8");
	expect_fail(&g, 3, "bad.jsonl", 4, "missing key field \"sku\"", NULL);
	expect_fail(&g, 4, "bad.jsonl", 5, "field \"name\": NUL byte at byte 29", "J-BAD-NUL");
	expect_ok(&g, 5, "bad.jsonl", 7, "00042");
	expect_fail(&g, 6, "bad.jsonl", 8, "not a JSON object (got an array)", NULL);
	expect_fail(&g, 7, "bad.jsonl", 9, "key field \"sku\" is empty", NULL);
	expect_ok(&g, 8, "bad.jsonl", 10, "1001");
	expect_ok(&g, 9, "bad.jsonl", 11, "J-GOOD-LAST");
	got_free(&g);

	read_fixture("bad.csv", &g);
	assert_int_equal(g.n, 10);
	expect_ok(&g, 0, "bad.csv", 2, "C-GOOD-1");
	expect_ok(&g, 1, "bad.csv", 3, "C-MULTI");
	expect_field(&g.v[1], "name", "Desk \"Pro\"");
	expect_fail(&g, 2, "bad.csv", 5, "row has 2 cells, header has 4", NULL);
	expect_fail(&g, 3, "bad.csv", 6, "row has 5 cells, header has 4", NULL);
	expect_fail(&g, 4, "bad.csv", 7,
		    "field \"name\" (column 2): stray quote in an unquoted cell", "C-STRAY");
	expect_fail(&g, 5, "bad.csv", 8,
		    "field \"name\" (column 2): invalid UTF-8 at byte 4 of the cell", "C-UTF8");
	expect_fail(&g, 6, "bad.csv", 9,
		    "field \"name\" (column 2): NUL byte at byte 2 of the cell", "C-NUL");
	expect_fail(&g, 7, "bad.csv", 10, "missing key field \"sku\"", NULL);
	expect_ok(&g, 8, "bad.csv", 11, "00077");
	expect_field(&g.v[8], "description", NULL);
	expect_fail(&g, 9, "bad.csv", 12,
		    "quoted cell opened on line 12 is not closed before the end of the file",
		    "C-UNCLOSED");
	got_free(&g);
}

/* ---- setup ------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* the streaming tests first, while the process's maxrss is still
		 * low enough for their rusage checks to mean something */
		cmocka_unit_test(test_jsonl_streaming_bounded),
		cmocka_unit_test(test_csv_streaming_bounded),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_jsonl_good),
		cmocka_unit_test(test_jsonl_bad_records),
		cmocka_unit_test(test_jsonl_big_field),
		cmocka_unit_test(test_jsonl_long_line_skipped),
		cmocka_unit_test(test_jsonl_chunk_boundaries),
		cmocka_unit_test(test_csv_good),
		cmocka_unit_test(test_csv_bad_records),
		cmocka_unit_test(test_csv_unclosed_quote_at_eof),
		cmocka_unit_test(test_csv_header_errors),
		cmocka_unit_test(test_csv_delimiter_and_columns),
		cmocka_unit_test(test_csv_big_field_and_long_row),
		cmocka_unit_test(test_fixtures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
