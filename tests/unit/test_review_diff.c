/* test_review_diff.c: the word diff of the review page (its spans spell both
 * texts, changes are grouped, the bound holds) and the page's escaping: JSON
 * that cannot close its script block, asset links that cannot carry a
 * scheme or a host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/review_diff.h"
#include "batch/review_html.h"
#include "common/buf.h"

/* The spans as "=a|-b|+c", and both sides spelled back. */
static char *show(const char *a, const char *b, size_t max, bool *coarse)
{
	struct review_diff d = { 0 };
	struct buf out = BUF_INIT, sa = BUF_INIT, sb = BUF_INIT;
	struct err e;

	assert_int_equal(review_diff_words(a, strlen(a), b, strlen(b), max, &d, &e), 0);
	for (size_t i = 0; i < d.n; i++) {
		const struct review_diff_span *s = &d.spans[i];

		assert_true(s->n > 0);
		if (i)
			assert_true(d.spans[i - 1].op != s->op);
		buf_printf(&out, "%s%c%.*s", i ? "|" : "", s->op, (int)s->n, s->p);
		if (s->op != REVIEW_DIFF_INSERT)
			buf_append(&sa, s->p, s->n);
		if (s->op != REVIEW_DIFF_DELETE)
			buf_append(&sb, s->p, s->n);
	}
	assert_string_equal(buf_str(&sa), a);
	assert_string_equal(buf_str(&sb), b);
	if (coarse)
		*coarse = d.coarse;
	review_diff_free(&d);
	review_diff_free(&d);
	buf_free(&sa);
	buf_free(&sb);
	return buf_steal(&out);
}

static void check(const char *a, const char *b, const char *want)
{
	char *got = show(a, b, REVIEW_DIFF_MAX_EDITS, NULL);

	assert_string_equal(got, want);
	free(got);
}

static void test_words(void **state)
{
	(void)state;
	check("", "", "");
	check("same text", "same text", "=same text");
	check("", "new", "+new");
	check("old", "", "-old");
	check("a warm red coat", "a warm blue coat", "=a warm |-red|+blue|= coat");
	/* whitespace between two changes joins them into one */
	check("the red coat", "a blue coat", "-the red|+a blue|= coat");
	check("Soft wool, knitted.", "Soft merino wool, knitted in Portugal.",
	      "=Soft |+merino |=wool, knitted|+ in Portugal|=.");
	/* multi-byte characters are never split */
	check("M\xc3\xbcller caf\xc3\xa9", "M\xc3\xbcller caf\xc3\xa8",
	      "=M\xc3\xbcller |-caf\xc3\xa9|+caf\xc3\xa8");
	check("<b>x</b>", "<i>x</i>", "=<|-b|+i|=>x</|-b|+i|=>");
}

static void test_bound(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	bool coarse = true;
	char *got;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		buf_printf(&a, "w%d ", i);
		buf_printf(&b, i % 7 ? "w%d " : "x%d ", i);  /* 429 words changed: 858 edits */
	}
	got = show(a.data, b.data, REVIEW_DIFF_MAX_EDITS, &coarse);
	assert_false(coarse);
	free(got);
	/* past the bound: still both texts, one change in the middle */
	got = show("same a b c d e f same", "same u v w x y z same", 4, &coarse);
	assert_true(coarse);
	assert_string_equal(got, "=same |-a b c d e f|+u v w x y z|= same");
	free(got);
	buf_free(&a);
	buf_free(&b);
}

static void test_json_safe(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(review_html_json_safe(&b, "[\"</script><!-- & >\"]"), 0);
	assert_string_equal(buf_str(&b), "[\"\\u003c/script\\u003e\\u003c!-- \\u0026 \\u003e\"]");
	buf_free(&b);
}

static void href(const char *path, const char *base, const char *want)
{
	struct buf b = BUF_INIT;

	assert_int_equal(review_html_asset_href(&b, path, base), 0);
	assert_string_equal(buf_str(&b), want);
	buf_free(&b);
}

static void test_asset_href(void **state)
{
	(void)state;
	href("/data/assets/a.png", "/data/out", "../assets/a.png");
	href("/data/out/a.png", "/data/out", "a.png");
	href("/data/a b/\xc3\xa4.png", "/data/out", "../a%20b/%C3%A4.png");
	href("assets/./x.png", "/data/out", "assets/x.png");
	href("/abs/x.png", NULL, "/abs/x.png");
	/* no scheme, no host, no markup can come through */
	href("javascript:alert(1)", "/out", "javascript%3Aalert%281%29");
	href("//evil.example/x.png", NULL, "/evil.example/x.png");
	href("https://evil.example/x.png", "/out", "https%3A/evil.example/x.png");
	href("\"><script>", NULL, "%22%3E%3Cscript%3E");
	href("/etc/../../x.png", "/", "x.png");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_json_safe),
		cmocka_unit_test(test_asset_href),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
