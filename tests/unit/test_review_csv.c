/* test_review_csv.c: review CSV cells out and back: quoting, the formula
 * guard and its exact undoing, and the reader on what spreadsheets write
 * (BOM or not, CRLF/LF/CR, separators, quoted newlines, broken files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/review_csv.h"

/* Write v as a cell, read it back with the reader, undo the guard. */
static char *round_trip(const char *v)
{
	struct buf b = BUF_INIT;
	struct review_csv_reader *r = NULL;
	struct review_csv_record rec;
	struct err e;
	char *out;
	FILE *fp;
	size_t skip;

	assert_int_equal(buf_puts(&b, "h\r\n"), 0);
	assert_int_equal(review_csv_put_text(&b, v, strlen(v)), 0);
	assert_int_equal(buf_puts(&b, "\r\n"), 0);
	fp = fmemopen(b.data, b.len, "rb");
	assert_non_null(fp);
	assert_int_equal(review_csv_reader_new(&r, fp, NULL, 0, "t.csv", &e), 0);
	assert_int_equal(review_csv_read(r, &rec, &e), 1);
	assert_int_equal(review_csv_read(r, &rec, &e), 1);
	assert_int_equal(rec.n, 1);
	skip = review_csv_unguard(rec.field[0], rec.len[0]);
	out = strdup(rec.field[0] + skip);
	assert_int_equal(review_csv_read(r, &rec, &e), 0);
	review_csv_reader_free(r);
	fclose(fp);
	buf_free(&b);
	return out;
}

static void test_guard(void **state)
{
	static const char *const guarded[] = { "=1+1", "+49", "-5", "@SUM(A1)", "\tx", "\rx", "'=x", "''@x", NULL };
	static const char *const plain[] = { "", "a=b", "'x", "'", "''", " =x", "000123", "\xe2\x80\xae=x", NULL };

	(void)state;
	for (int i = 0; guarded[i]; i++)
		assert_true(review_csv_guarded(guarded[i], strlen(guarded[i])));
	for (int i = 0; plain[i]; i++)
		assert_false(review_csv_guarded(plain[i], strlen(plain[i])));
	/* the import takes off exactly one apostrophe, and only before a trigger */
	assert_int_equal(review_csv_unguard("'=x", 3), 1);
	assert_int_equal(review_csv_unguard("''=x", 4), 1);
	assert_int_equal(review_csv_unguard("'x", 2), 0);
	assert_int_equal(review_csv_unguard("'", 1), 0);
	assert_int_equal(review_csv_unguard("=x", 2), 0);
}

static void test_put_text(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(review_csv_put_text(&b, "a \"b\", c", 8), 0);
	assert_string_equal(buf_str(&b), "\"a \"\"b\"\", c\"");
	buf_reset(&b);
	assert_int_equal(review_csv_put_text(&b, "=HYPERLINK(\"x\")", 15), 0);
	assert_string_equal(buf_str(&b), "\"'=HYPERLINK(\"\"x\"\")\"");
	buf_reset(&b);
	assert_int_equal(review_csv_put_text(&b, "000123", 6), 0);
	assert_string_equal(buf_str(&b), "\"000123\"");
	buf_free(&b);
}

static void test_round_trips(void **state)
{
	static const char *const values[] = {
		"", "plain", "=1+1", "'=1+1", "''=1+1", "'plain", "'", "-", "+", "@", "\t", "\r\nx",
		"line 1\nline 2\r\nline 3", "\"quoted\", and, commas", "\xe2\x80\xae" "evil\xe2\x80\xac",
		"M\xc3\xbcller \xe2\x9c\x93 \xf0\x9f\x98\x80", "000123", "  spaces  ", NULL,
	};

	(void)state;
	for (int i = 0; values[i]; i++) {
		char *got = round_trip(values[i]);

		assert_string_equal(got, values[i]);
		free(got);
	}
}

/* Read text whole; return the records as "a|b|c" lines, and the error. */
static char *read_all(const char *text, size_t prefix, struct err *e, int *rc)
{
	struct buf out = BUF_INIT;
	struct review_csv_reader *r = NULL;
	struct review_csv_record rec;
	FILE *fp = fmemopen((void *)(text + prefix), strlen(text) - prefix, "rb");

	assert_non_null(fp);
	assert_int_equal(review_csv_reader_new(&r, fp, text, prefix, "t.csv", e), 0);
	while ((*rc = review_csv_read(r, &rec, e)) > 0) {
		buf_printf(&out, "%ld:", rec.line);
		for (size_t i = 0; i < rec.n; i++)
			buf_printf(&out, "%s%s", i ? "|" : "", rec.field[i]);
		buf_putc(&out, '\n');
	}
	buf_printf(&out, "sep=%c bom=%d", review_csv_separator(r), review_csv_had_bom(r));
	review_csv_reader_free(r);
	fclose(fp);
	return buf_steal(&out);
}

static void test_reader(void **state)
{
	struct err e;
	int rc;
	char *got;

	(void)state;
	got = read_all("\xef\xbb\xbf" "a,b\r\n\"x\",\"y\r\nz\"\r\n1,\r\n", 0, &e, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(got, "1:a|b\n2:x|y\r\nz\n4:1|\nsep=, bom=1");
	free(got);
	/* LibreOffice: no BOM, LF; a blank line is skipped; CR alone ends a line */
	got = read_all("a,b\n\n\"q\"\"\",\"\"\rlast,x", 0, &e, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(got, "1:a|b\n3:q\"|\n4:last|x\nsep=, bom=0");
	free(got);
	/* Excel in a German locale: semicolons */
	got = read_all("generation_id;decision;comment\r\n12;approve;\"a, b; c\"\r\n", 0, &e, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(got, "1:generation_id|decision|comment\n2:12|approve|a, b; c\nsep=; bom=0");
	free(got);
	/* bytes already taken from the stream come first, wherever it is cut */
	for (size_t cut = 0; cut < 12; cut++) {
		got = read_all("a\tb\r\n\"1\r\n2\"\t3\r\n", cut, &e, &rc);
		assert_int_equal(rc, 0);
		assert_string_equal(got, "1:a|b\n2:1\r\n2|3\nsep=\t bom=0");
		free(got);
	}
}

static void test_reader_errors(void **state)
{
	struct err e;
	int rc;
	char *got;

	(void)state;
	got = read_all("a,b\n1,\"open\nnever closed\n", 0, &e, &rc);
	assert_int_equal(rc, -1);
	assert_int_equal(e.code, ERR_INPUT);
	assert_string_equal(e.msg, "t.csv:2: a quoted field that starts here never ends");
	free(got);
	got = read_all("a,b\n\"x\"y,1\n", 0, &e, &rc);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(e.msg, "t.csv:2: a character after a closing quote"));
	free(got);
	got = read_all("\xff\xfe" "a\0", 0, &e, &rc);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(e.msg, "UTF-16"));
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guard),
		cmocka_unit_test(test_put_text),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_reader_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
