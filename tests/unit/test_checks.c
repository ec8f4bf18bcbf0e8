/* test_checks.c: the checks a generated text gets before review: length in
 * code points, banned words as whole words, numbers grounded in the inputs
 * in both decimal conventions, structured answers checked on their values,
 * and located configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/checks.h"

static struct checks *compile(const char *text)
{
	struct config c;
	struct checks *ch = NULL;
	struct err e;

	assert_int_equal(config_load_text(&c, "t.json", text, &e), 0);
	if (checks_compile(&c, json_object_get(c.root, "checks"), "checks", &ch, &e) < 0)
		fail_msg("%s", e.msg);
	config_free(&c);
	return ch;
}

/* The result named name: its ok, and its detail copied into detail. */
static bool result(json_t *results, const char *name, char *detail, size_t cap)
{
	size_t i;
	json_t *r;

	json_array_foreach(results, i, r)
		if (strcmp(json_string_value(json_object_get(r, "name")), name) == 0) {
			snprintf(detail, cap, "%s", json_string_value(json_object_get(r, "detail")));
			return json_is_true(json_object_get(r, "ok"));
		}
	fail_msg("no result named %s", name);
	return false;
}

static json_t *run(const struct checks *ch, const char *text, const char *input_json)
{
	json_t *input = input_json ? json_loads(input_json, 0, NULL) : NULL;
	json_t *r = checks_run(ch, text, strlen(text), input);

	assert_non_null(r);
	json_decref(input);
	return r;
}

static void test_length_counts_characters(void **state)
{
	struct checks *ch = compile("{\"checks\": {\"min_length\": 5, \"max_length\": 6}}");
	char d[256];
	json_t *r;

	(void)state;
	/* "Größe" is 5 characters in 7 bytes. */
	r = run(ch, "Größe", NULL);
	assert_true(result(r, "length", d, sizeof d));
	assert_string_equal(d, "5 characters");
	json_decref(r);
	r = run(ch, "Größen!", NULL);
	assert_false(result(r, "length", d, sizeof d));
	assert_string_equal(d, "7 characters, more than the maximum of 6");
	json_decref(r);
	r = run(ch, "Groß", NULL);
	assert_false(result(r, "length", d, sizeof d));
	assert_string_equal(d, "4 characters, fewer than the minimum of 5");
	json_decref(r);
	checks_free(ch);
}

static void test_banned_words_are_whole_words(void **state)
{
	struct checks *ch = compile("{\"checks\": {\"banned_words\": [\"Cheap\", \"best ever\", \"öko\"]}}");
	char d[256];
	json_t *r;

	(void)state;
	r = run(ch, "A cheapskate's dream, not the bestever.", NULL);
	assert_true(result(r, "banned_words", d, sizeof d));
	assert_string_equal(d, "none of 3 banned words");
	json_decref(r);
	r = run(ch, "CHEAP! The Best Ever parka.", NULL);
	assert_false(result(r, "banned_words", d, sizeof d));
	assert_string_equal(d, "contains \"cheap\", \"best ever\"");
	json_decref(r);
	/* Non-ASCII letters are word characters: "ökonomisch" is not "öko". */
	r = run(ch, "ökonomisch", NULL);
	assert_true(result(r, "banned_words", d, sizeof d));
	json_decref(r);
	r = run(ch, "ein öko-Produkt", NULL);
	assert_false(result(r, "banned_words", d, sizeof d));
	json_decref(r);
	checks_free(ch);
}

static void test_numbers_are_grounded(void **state)
{
	struct checks *ch = compile("{\"checks\": {\"grounded_numbers\": true}}");
	const char *input = "{\"name\": \"Parka XR500\", \"weight_g\": 1200, \"price\": 249.9,"
			    " \"specs\": [\"waterproof to 10,000 mm\"]}";
	char d[256];
	json_t *r;

	(void)state;
	r = run(ch, "The XR500 weighs 1.200 g (1,200 g), keeps out 10.000 mm of rain, costs 249,90 "
		    "and has 2 pockets.", input);
	assert_true(result(r, "grounded_numbers", d, sizeof d));
	assert_string_equal(d, "5 numbers, all in the inputs");
	json_decref(r);
	r = run(ch, "A 5000 mAh battery lasts 48 hours; the XR500 weighs 1200 g.", input);
	assert_false(result(r, "grounded_numbers", d, sizeof d));
	assert_string_equal(d, "2 of 4 numbers are not in the inputs: 5000, 48");
	json_decref(r);
	/* No inputs: every number of two digits or more is ungrounded. */
	r = run(ch, "Only 99 left", NULL);
	assert_false(result(r, "grounded_numbers", d, sizeof d));
	json_decref(r);
	checks_free(ch);
}

static void test_structured_answers_are_checked_on_their_values(void **state)
{
	struct checks *ch = compile("{\"checks\": {\"max_length\": 12, \"banned_words\": [\"title\"]}}");
	char d[256];
	json_t *r;

	(void)state;
	/* The keys ("title", "bullets") are not copy: 5 + 1 + 2 + 1 + 2 = 11. */
	r = run(ch, "{\"title\": \"Parka\", \"bullets\": [\"ab\", \"cd\"]}", NULL);
	assert_true(result(r, "length", d, sizeof d));
	assert_string_equal(d, "11 characters");
	assert_true(result(r, "banned_words", d, sizeof d));
	json_decref(r);
	checks_free(ch);
}

static void test_no_checks_is_an_empty_list(void **state)
{
	json_t *r = checks_run(NULL, "x", 1, NULL);

	(void)state;
	assert_non_null(r);
	assert_int_equal(json_array_size(r), 0);
	json_decref(r);
}

static void test_bad_configuration_is_located(void **state)
{
	struct config c;
	struct checks *ch = NULL;
	struct err e;

	(void)state;
	assert_int_equal(config_load_text(&c, "t.json",
		"{\"checks\": {\n  \"min_length\": 10,\n  \"max_length\": 5}}", &e), 0);
	assert_int_equal(checks_compile(&c, json_object_get(c.root, "checks"), "checks", &ch, &e), -1);
	assert_string_equal(e.msg, "t.json:2:17: checks.min_length: 10 is more than max_length (5)");
	config_free(&c);
	assert_int_equal(config_load_text(&c, "t.json", "{\"checks\": {\"banned\": []}}", &e), 0);
	assert_int_equal(checks_compile(&c, json_object_get(c.root, "checks"), "checks", &ch, &e), -1);
	assert_non_null(strstr(e.msg, "banned"));
	config_free(&c);
	assert_int_equal(config_load_text(&c, "t.json", "{\"checks\": {\"banned_words\": [\" \"]}}", &e), 0);
	assert_int_equal(checks_compile(&c, json_object_get(c.root, "checks"), "checks", &ch, &e), -1);
	assert_non_null(strstr(e.msg, "checks.banned_words[0]: a banned word must not be empty"));
	config_free(&c);
	assert_null(ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_length_counts_characters),
		cmocka_unit_test(test_banned_words_are_whole_words),
		cmocka_unit_test(test_numbers_are_grounded),
		cmocka_unit_test(test_structured_answers_are_checked_on_their_values),
		cmocka_unit_test(test_no_checks_is_an_empty_list),
		cmocka_unit_test(test_bad_configuration_is_located),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
