/* test_mustache_spec.c: runs the official Mustache spec against the template
 * engine in spec mode (escape_html, not strict, missing partials render
 * empty).  The spec lives outside the repository: $SKUGEN_SPEC_DIR/mustache
 * (the Makefile exports SKUGEN_SPEC_DIR).  One cmocka group per file, one
 * test per case named "<file>: <case name>".  ~lambdas.json needs
 * host-language functions, which JSON data cannot carry: its cases are
 * reported as skipped, never as passed.  A missing spec directory fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "templates/tmpl.h"

#define MAX_FILES 64

struct spec_case {
	const json_t *tc;
	int file;
};

static char *file_names[MAX_FILES];
static int passed[MAX_FILES], counted[MAX_FILES];
static bool skipped_file[MAX_FILES];

/* s as a C-like literal, so that whitespace differences show. */
static void repr(struct buf *b, const char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		default:
			if (c < 0x20)
				buf_printf(b, "\\x%02x", c);
			else
				buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}

static void run_case(void **state)
{
	const struct spec_case *sc = *state;
	const json_t *tc = sc->tc;
	const char *tmpl_src = json_string_value(json_object_get(tc, "template"));
	const json_t *expected = json_object_get(tc, "expected");
	const json_t *partials = json_object_get(tc, "partials");
	struct tmpl_opts o = TMPL_OPTS_SPEC;
	struct tmpl_lib *lib = tmpl_lib_new();
	struct buf out = BUF_INIT, msg = BUF_INIT;
	const struct tmpl *t;
	struct err e;
	const char *k;
	json_t *v;
	int rc;

	assert_non_null(lib);
	assert_non_null(tmpl_src);
	assert_true(json_is_string(expected));
	tmpl_lib_set_missing_partials_ok(lib, true);
	err_clear(&e);
	rc = tmpl_lib_add(lib, "(spec template)", tmpl_src, strlen(tmpl_src), &e);
	if (rc < 0)
		fail_msg("add: %s", e.msg);
	json_object_foreach((json_t *)partials, k, v) {
		if (tmpl_lib_add(lib, k, json_string_value(v), json_string_length(v), &e) < 0)
			fail_msg("add partial \"%s\": %s", k, e.msg);
	}
	t = tmpl_lib_get(lib, "(spec template)", &e);
	if (!t)
		fail_msg("compile: %s", e.msg);
	if (tmpl_render(t, json_object_get(tc, "data"), &o, &out, &e) < 0)
		fail_msg("render: %s", e.msg);
	if (out.len != json_string_length(expected) ||
	    memcmp(buf_str(&out), json_string_value(expected), out.len) != 0) {
		buf_puts(&msg, "\n  template: ");
		repr(&msg, tmpl_src, strlen(tmpl_src));
		buf_puts(&msg, "\n  expected: ");
		repr(&msg, json_string_value(expected), json_string_length(expected));
		buf_puts(&msg, "\n       got: ");
		repr(&msg, buf_str(&out), out.len);
		fail_msg("%s", buf_str(&msg));
	}
	buf_free(&out);
	buf_free(&msg);
	tmpl_lib_free(lib);
	passed[sc->file]++;
}

static void skip_case(void **state)
{
	(void)state;
	skip();
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	const char *root = getenv("SKUGEN_SPEC_DIR");
	char dir[4096];
	DIR *d;
	struct dirent *de;
	int nfiles = 0, failures = 0, total_pass = 0, total_fail = 0, total_skip = 0;

	if (!root || !*root) {
		fprintf(stderr, "test_mustache_spec: FAIL: SKUGEN_SPEC_DIR is not set "
				"(run through make, or export it pointing at the spec checkout)\n");
		return 1;
	}
	snprintf(dir, sizeof dir, "%s/mustache", root);
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "test_mustache_spec: FAIL: spec directory %s is missing\n", dir);
		return 1;
	}
	while ((de = readdir(d)) && nfiles < MAX_FILES) {
		size_t n = strlen(de->d_name);

		if (n > 5 && !strcmp(de->d_name + n - 5, ".json"))
			file_names[nfiles++] = strdup(de->d_name);
	}
	closedir(d);
	if (!nfiles) {
		fprintf(stderr, "test_mustache_spec: FAIL: no spec files in %s\n", dir);
		return 1;
	}
	qsort(file_names, (size_t)nfiles, sizeof file_names[0], cmp_names);
	for (int f = 0; f < nfiles; f++) {
		char path[8192];
		json_error_t je;
		json_t *doc, *tests;
		struct CMUnitTest *ut;
		struct spec_case *cases;
		char **labels;
		size_t n;

		snprintf(path, sizeof path, "%s/%s", dir, file_names[f]);
		doc = json_load_file(path, 0, &je);
		tests = doc ? json_object_get(doc, "tests") : NULL;
		if (!json_is_array(tests) || !json_array_size(tests)) {
			fprintf(stderr, "test_mustache_spec: FAIL: %s: %s\n", path,
				doc ? "no tests" : je.text);
			failures++;
			json_decref(doc);
			continue;
		}
		n = json_array_size(tests);
		skipped_file[f] = !strcmp(file_names[f], "~lambdas.json");
		if (skipped_file[f])
			printf("[ SKIPPED  ] %s: all %zu cases skipped: lambdas are host-language "
			       "functions, which JSON data cannot carry\n", file_names[f], n);
		ut = calloc(n, sizeof *ut);
		cases = calloc(n, sizeof *cases);
		labels = calloc(n, sizeof *labels);
		if (!ut || !cases || !labels)
			return 1;
		for (size_t i = 0; i < n; i++) {
			const json_t *tc = json_array_get(tests, i);
			const char *name = json_string_value(json_object_get(tc, "name"));
			size_t ll = strlen(file_names[f]) + (name ? strlen(name) : 0) + 4;

			labels[i] = malloc(ll);
			snprintf(labels[i], ll, "%s: %s", file_names[f], name ? name : "?");
			cases[i].tc = tc;
			cases[i].file = f;
			ut[i].name = labels[i];
			ut[i].test_func = skipped_file[f] ? skip_case : run_case;
			ut[i].initial_state = &cases[i];
		}
		counted[f] = (int)n;
		/* cmocka_run_group_tests_name() wants a static array; this is the
		 * function it expands to. */
		failures += _cmocka_run_group_tests(file_names[f], ut, n, NULL, NULL);
		for (size_t i = 0; i < n; i++)
			free(labels[i]);
		free(labels);
		free(cases);
		free(ut);
		json_decref(doc);
	}
	printf("\nmustache spec summary (%s):\n", dir);
	for (int f = 0; f < nfiles; f++) {
		int skip_n = skipped_file[f] ? counted[f] : 0;
		int fail_n = counted[f] - passed[f] - skip_n;

		printf("  %-22s %3d passed, %3d failed, %3d skipped\n", file_names[f], passed[f],
		       fail_n, skip_n);
		total_pass += passed[f];
		total_fail += fail_n;
		total_skip += skip_n;
		free(file_names[f]);
	}
	printf("  %-22s %3d passed, %3d failed, %3d skipped\n", "total", total_pass, total_fail,
	       total_skip);
	return failures || total_fail ? 1 : 0;
}
