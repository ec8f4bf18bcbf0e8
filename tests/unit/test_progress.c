/* test_progress.c: the pieces of progress and reports that need no store:
 * failure messages reduced to their cause (SKUs, ids and numbers out, HTTP
 * statuses kept), durations, the progress line, and the report page's
 * escaping of hostile text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/progress.h"
#include "batch/report.h"
#include "common/buf.h"

static char *cause(const char *msg, const char *sku)
{
	struct buf b = BUF_INIT;

	assert_int_equal(report_cause(msg, sku, &b), 0);
	return buf_steal(&b);
}

static void expect_cause(const char *msg, const char *sku, const char *want)
{
	char *got = cause(msg, sku);

	assert_string_equal(got, want);
	free(got);
}

static void test_cause_strips_sku_and_numbers(void **state)
{
	(void)state;
	expect_cause("catalog.jsonl:7: sku \"B-6\": field \"description\" is 5242880 bytes, limit 1048576", "B-6",
		     "catalog.jsonl:#: sku <sku>: field \"description\" is # bytes, limit #");
	/* Two SKUs, one cause. */
	{
		char *a = cause("catalog.jsonl:25: sku \"M-1\": template \"t\" line 1 column 41: missing key \"material\"", "M-1");
		char *b = cause("catalog.jsonl:31: sku \"Z-99\": template \"t\" line 1 column 41: missing key \"material\"", "Z-99");

		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	/* The SKU as messages quote it (escaped), without being told which. */
	expect_cause("sku \"a\\\"b\": not found in the source", NULL, "sku <sku>: not found in the source");
	/* A bare SKU anywhere in the message. */
	expect_cause("no record for ABC-123 in the source", "ABC-123", "no record for <sku> in the source");
}

static void test_cause_keeps_http_status_drops_ids(void **state)
{
	(void)state;
	expect_cause("openai: http 500 after 3 attempts (request req_8f3a2b1c9d0e4f56a7b8)", NULL,
		     "openai: http 500 after # attempts (request <id>)");
	expect_cause("openai: http 429 after 2 attempts", NULL, "openai: http 429 after # attempts");
	expect_cause("status: 503, retry in 1.5 s", NULL, "status: 503, retry in # s");
	/* Not a status: a number that merely has three digits. */
	expect_cause("took 250 ms", NULL, "took # ms");
	/* A uuid-like job id. */
	expect_cause("fal job 0f8e2a44-1b7c-4d2e-9a51-3c6b8d0e7f12 failed", NULL, "fal job <id> failed");
	/* Model names keep their letters. */
	expect_cause("model gpt-4o-mini refused", NULL, "model gpt-#o-mini refused");
}

static void test_cause_squeezes_and_cuts(void **state)
{
	char long_msg[1000], *got;

	(void)state;
	expect_cause("  a \n\t b  ", NULL, "a b");
	expect_cause("", NULL, "");
	expect_cause(NULL, NULL, "");
	memset(long_msg, 'x', sizeof long_msg - 1);
	long_msg[sizeof long_msg - 1] = '\0';
	got = cause(long_msg, NULL);
	assert_int_equal(strlen(got), 203);
	assert_string_equal(got + 200, "...");
	free(got);
	/* Cut at a character boundary: "é" is two bytes. */
	for (size_t i = 0; i + 1 < sizeof long_msg; i += 2)
		memcpy(long_msg + i, "\xC3\xA9", 2);
	long_msg[sizeof long_msg - 1] = '\0';
	got = cause(long_msg, NULL);
	assert_int_equal(strlen(got), 203);
	assert_int_equal((unsigned char)got[199], 0xA9);
	free(got);
}

static void test_durations(void **state)
{
	char out[16];
	static const struct {
		double s;
		const char *want;
	} cases[] = {
		{ 0, "0s" }, { 42.4, "42s" }, { 59.6, "1m00s" }, { 185, "3m05s" }, { 7620, "2h07m" },
		{ 273600, "3d04h" }, { -1, "-" }, { 1e12, "-" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		run_format_duration(cases[i].s, out);
		assert_string_equal(out, cases[i].want);
	}
}

static void test_progress_line(void **state)
{
	struct run_snapshot s;
	char line[256];

	(void)state;
	memset(&s, 0, sizeof s);
	s.run_id = 12;
	snprintf(s.kind, sizeof s.kind, "run");
	snprintf(s.status, sizeof s.status, "running");
	s.total = 5000;
	s.finished = 1250;
	s.remaining = 3750;
	s.worked = 1200;
	s.worked_last_min = 600;     /* 10 a second over the last minute */
	s.age_s = 300;
	s.cost = 0.12346;
	s.has_budget = true;
	s.budget = 25;
	s.failures = 4;
	s.count[RS_FAILED] = 4;
	assert_true(run_snapshot_rate(&s) > 9.99 && run_snapshot_rate(&s) < 10.01);
	s.rate = run_snapshot_rate(&s);
	progress_format_line(&s, line, sizeof line);
	assert_string_equal(line, "run 12: 1250/5000 tasks (25%), 10.0/s, eta 6m15s, cost 0.1235 of 25.00, 4 failed");
	/* A run nobody heartbeats any more says so. */
	s.heartbeat_age_s = 185;
	progress_format_line(&s, line, sizeof line);
	assert_string_equal(line, "run 12: 1250/5000 tasks (25%), 10.0/s, eta 6m15s, cost 0.1235 of 25.00, 4 failed, "
				  "no heartbeat for 3m05s");
	s.heartbeat_age_s = 5;
	/* Young runs: the rate over their age. */
	s.age_s = 20;
	s.worked_last_min = 100;
	assert_true(run_snapshot_rate(&s) > 4.99 && run_snapshot_rate(&s) < 5.01);
	/* An ended run: its average, and how long it took. */
	s.ended = true;
	snprintf(s.status, sizeof s.status, "cancelled");
	s.age_s = 120;
	s.count[RS_CANCELLED] = 3750;
	s.rate = run_snapshot_rate(&s);
	progress_format_line(&s, line, sizeof line);
	assert_string_equal(line, "run 12: 1250/5000 tasks (25%), 10.0/s, cancelled after 2m00s, cost 0.1235 of 25.00, "
				  "4 failed, 3750 cancelled");
	/* A small buffer is cut, never overrun. */
	progress_format_line(&s, line, 20);
	assert_int_equal(strlen(line), 19);
}

static void test_page_escapes(void **state)
{
	json_t *r;
	char *page = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&page, &len);
	struct err e;

	(void)state;
	r = json_pack("{s:i, s:{s:i, s:s, s:s, s:s}, s:{s:i, s:{s:i}}, s:{s:i, s:[{s:s, s:s, s:i, s:{s:i},"
		      " s:[s], s:s}]}}",
		      "report_version", 1,
		      "run", "id", 3, "kind", "run", "status", "done\"><b>", "host", "h&<x>",
		      "tasks", "total", 1, "by_state", "failed", 1,
		      "failures", "total", 1, "groups", "cause", "it's <bad>", "kind", "task", "count", 1,
		      "states", "failed", 1, "example_skus", "<script>alert(1)</script>", "example",
		      "a\x01" "b</td>");
	assert_non_null(r);
	assert_int_equal(report_html_write(fp, r, &e), 0);
	fclose(fp);
	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "<bad>"));
	assert_null(strstr(page, "done\"><b>"));
	assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(page, "it&#39;s &lt;bad&gt;"));
	assert_non_null(strstr(page, "h&amp;&lt;x&gt;"));
	/* A control character XML forbids becomes U+FFFD. */
	assert_non_null(strstr(page, "a\xEF\xBF\xBD" "b&lt;/td&gt;"));
	assert_null(strchr(page, '\x01'));
	free(page);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cause_strips_sku_and_numbers),
		cmocka_unit_test(test_cause_keeps_http_status_drops_ids),
		cmocka_unit_test(test_cause_squeezes_and_cuts),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_progress_line),
		cmocka_unit_test(test_page_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
