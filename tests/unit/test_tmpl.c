/* test_tmpl.c: unit tests for the template engine beyond the Mustache spec:
 * load-time errors with template, line and column; strict mode; every
 * formatter (Unicode truncation included); number printing; selection with
 * fallback over a real directory; template versions; read projection (render
 * of the projection equals render of the data, on the spec's cases and on
 * generated templates); limits; threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "templates/tmpl.h"

/* ---- helpers ---- */

/* A lib from NULL-terminated (name, source) pairs. */
static struct tmpl_lib *lib_of(const char *name, const char *src, ...)
{
	struct tmpl_lib *lib = tmpl_lib_new();
	struct err e;
	va_list ap;

	assert_non_null(lib);
	va_start(ap, src);
	while (name) {
		if (tmpl_lib_add(lib, name, src, strlen(src), &e) < 0)
			fail_msg("add %s: %s", name, e.msg);
		name = va_arg(ap, const char *);
		if (name)
			src = va_arg(ap, const char *);
	}
	va_end(ap);
	return lib;
}

static json_t *js(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);

	if (!v)
		fail_msg("bad test json: %s: %s", text, je.text);
	return v;
}

/* Render lib's template name against data text; returns the output (free)
 * or NULL with e filled. */
static char *render_lib(struct tmpl_lib *lib, const char *name, const char *data, bool strict,
			bool escape, struct err *e)
{
	struct tmpl_opts o = { .strict = strict, .escape_html = escape };
	const struct tmpl *t = tmpl_lib_get(lib, name, e);
	struct buf out = BUF_INIT;
	json_t *d;
	char *r = NULL;

	if (!t)
		return NULL;
	d = js(data);
	if (tmpl_render(t, d, &o, &out, e) == 0)
		r = buf_steal(&out);
	buf_free(&out);
	json_decref(d);
	return r;
}

/* One template, prompt mode (strict, no escaping). */
static char *render1(const char *src, const char *data, struct err *e)
{
	struct tmpl_lib *lib = lib_of("t", src, NULL);
	char *r = render_lib(lib, "t", data, true, false, e);

	tmpl_lib_free(lib);
	return r;
}

static void expect_render(const char *src, const char *data, const char *want)
{
	struct err e;
	char *got = render1(src, data, &e);

	if (!got)
		fail_msg("render of %s failed: %s", src, e.msg);
	if (strcmp(got, want) != 0)
		fail_msg("template %s\n  expected: \"%s\"\n       got: \"%s\"", src, want, got);
	free(got);
}

static void expect_render_error(const char *src, const char *data, const char *want)
{
	struct err e;
	char *got = render1(src, data, &e);

	if (got)
		fail_msg("template %s rendered \"%s\", expected error %s", src, got, want);
	assert_int_equal(e.code, ERR_TEMPLATE);
	if (strcmp(e.msg, want) != 0)
		fail_msg("template %s\n  expected error: %s\n            got: %s", src, want, e.msg);
}

/* Compile name in lib and expect exactly the error message want. */
static void expect_load_error(struct tmpl_lib *lib, const char *name, const char *want)
{
	struct err e;
	const struct tmpl *t;

	err_clear(&e);
	t = tmpl_lib_get(lib, name, &e);
	if (t)
		fail_msg("%s compiled, expected error: %s", name, want);
	assert_int_equal(e.code, ERR_TEMPLATE);
	if (strcmp(e.msg, want) != 0)
		fail_msg("expected error: %s\n           got: %s", want, e.msg);
	tmpl_lib_free(lib);
}

static void expect_src_error(const char *src, const char *want)
{
	expect_load_error(lib_of("t", src, NULL), "t", want);
}

/* ---- load-time errors ---- */

static void test_error_unclosed_section(void **state)
{
	(void)state;
	expect_load_error(lib_of("description/apparel", "{{name}}\nx\n    {{#materials}}\n- {{.}}\n", NULL),
			  "description/apparel",
			  "template \"description/apparel\" line 3 column 5: unclosed section \"materials\"");
	expect_src_error("{{^a}}{{#b}}{{/b}}", "template \"t\" line 1 column 1: unclosed inverted section \"a\"");
}

static void test_error_mismatched_close(void **state)
{
	(void)state;
	expect_src_error("{{#a}}\n  {{/b}}",
			 "template \"t\" line 2 column 3: closing tag \"b\" does not match section \"a\" opened at line 1 column 1");
	expect_src_error("x {{/a}}", "template \"t\" line 1 column 3: unexpected closing tag \"a\": no section is open");
	/* columns count characters, not bytes */
	expect_src_error("äöü {{/a}}", "template \"t\" line 1 column 5: unexpected closing tag \"a\": no section is open");
}

static void test_error_delimiters_and_tags(void **state)
{
	(void)state;
	expect_src_error("ok\n{{=<% %>}}", "template \"t\" line 2 column 1: unclosed tag: no \"=}}\" after \"{{\"");
	expect_src_error("{{=<%%>=}}", "template \"t\" line 1 column 1: bad delimiters \"<%%>\": want two delimiters separated by space");
	expect_src_error("{{=<% a %>=}}", "template \"t\" line 1 column 1: bad delimiters \"<% a %>\": want two delimiters separated by space");
	expect_src_error("{{=<= =>=}}", "template \"t\" line 1 column 1: bad delimiters \"<= =>\": '=' is not allowed in a delimiter");
	expect_src_error("Hello {{name", "template \"t\" line 1 column 7: unclosed tag: no \"}}\" after \"{{\"");
	expect_src_error("{{=[ ]=}}\n [name", "template \"t\" line 2 column 2: unclosed tag: no \"]\" after \"[\"");
	expect_src_error("{{{name}}", "template \"t\" line 1 column 1: unclosed tag: no \"}}}\" after \"{{\"");
	expect_src_error("a {{ }} b", "template \"t\" line 1 column 3: empty variable name");
	expect_src_error("{{first name}}", "template \"t\" line 1 column 1: bad variable name \"first name\": names contain no spaces");
	expect_src_error("{{a..b}}", "template \"t\" line 1 column 1: bad variable name \"a..b\": empty part");
	expect_src_error("{{#a | lower}}{{/a | lower}}",
			 "template \"t\" line 1 column 1: bad section name \"a | lower\": formatters belong in interpolation tags");
}

static void test_error_missing_partial(void **state)
{
	(void)state;
	expect_load_error(lib_of("t", "a\n  {{> partials/care}}\n", NULL), "t",
			  "template \"t\" line 2 column 3: partial \"partials/care\" not found");
	/* the error names the template where the tag is, here a partial */
	expect_load_error(lib_of("t", "{{>p}}", "p", "x\n{{<q}}{{/q}}", NULL), "t",
			  "template \"p\" line 2 column 1: parent \"q\" not found");
	/* spec mode renders missing partials as nothing */
	{
		struct tmpl_lib *lib = lib_of("t", "[{{>nope}}]", NULL);
		struct err e;
		char *r;

		tmpl_lib_set_missing_partials_ok(lib, true);
		r = render_lib(lib, "t", "{}", false, true, &e);
		assert_non_null(r);
		assert_string_equal(r, "[]");
		free(r);
		tmpl_lib_free(lib);
	}
}

static void test_error_partial_cycle(void **state)
{
	struct err e;
	char *r;

	(void)state;
	expect_load_error(lib_of("a", "A{{>b}}", "b", "B\n {{>a}}", NULL), "a",
			  "template \"b\" line 2 column 2: partial cycle never ends: a -> b -> a (recursion must sit inside a section)");
	expect_load_error(lib_of("self", "{{<self}}{{/self}}", NULL), "self",
			  "template \"self\" line 1 column 1: partial cycle never ends: self -> self (recursion must sit inside a section)");
	/* recursion inside a section is legal and renders */
	{
		struct tmpl_lib *lib = lib_of("tree", "{{name}}({{#kids}}{{>tree}}{{/kids}})", NULL);

		r = render_lib(lib, "tree", "{\"name\":\"a\",\"kids\":[{\"name\":\"b\",\"kids\":[]},{\"name\":\"c\",\"kids\":[]}]}",
			       false, false, &e);
		assert_non_null(r);
		assert_string_equal(r, "a(b()c())");
		free(r);
		tmpl_lib_free(lib);
	}
	/* ...and when the data recurses forever, rendering stops with an error */
	{
		struct tmpl_lib *lib = lib_of("loop", "{{#on}}x{{>loop}}{{/on}}", NULL);

		r = render_lib(lib, "loop", "{\"on\":true}", true, false, &e);
		assert_null(r);
		assert_int_equal(e.code, ERR_TEMPLATE);
		assert_non_null(strstr(e.msg, "nested deeper than 100"));
		tmpl_lib_free(lib);
	}
}

static void test_error_formatters(void **state)
{
	(void)state;
	expect_src_error("Title:\n  {{ name | trim | shout }}",
			 "template \"t\" line 2 column 20: unknown formatter \"shout\"");
	expect_src_error("{{name|truncate}}",
			 "template \"t\" line 1 column 8: formatter \"truncate\": wants a length: truncate:N or truncate:N:\"suffix\"");
	expect_src_error("{{name|truncate:\"x\"}}",
			 "template \"t\" line 1 column 8: formatter \"truncate\": length must be a whole number from 1 to 1000000");
	expect_src_error("{{name|truncate:2.5}}",
			 "template \"t\" line 1 column 8: formatter \"truncate\": length must be a whole number from 1 to 1000000");
	expect_src_error("{{name|upper:1}}", "template \"t\" line 1 column 8: formatter \"upper\": takes no arguments");
	expect_src_error("{{p|money:2}}", "template \"t\" line 1 column 5: formatter \"money\": locale must be a \"string\" like \"de\"");
	expect_src_error("{{p|default}}", "template \"t\" line 1 column 5: formatter \"default\": wants exactly one value: default:\"text\"");
	expect_src_error("{{p|join:1}}", "template \"t\" line 1 column 5: formatter \"join\": separators must be \"strings\"");
	expect_src_error("{{p|default:\"a}}", "template \"t\" line 1 column 13: unterminated string in formatter argument");
	expect_src_error("{{p|default:\"a\\n\"}}", "template \"t\" line 1 column 15: bad escape in formatter argument: only \\\" and \\\\");
	expect_src_error("{{p|default:abc}}", "template \"t\" line 1 column 13: bad formatter argument \"abc\": want a number or a \"string\"");
	expect_src_error("{{p|}}", "template \"t\" line 1 column 5: missing formatter name after '|'");
	expect_src_error("{{p|truncate:3:\"a\":\"b\"}}", "template \"t\" line 1 column 20: formatter \"truncate\": too many arguments");
}

static void test_error_bad_utf8_and_duplicates(void **state)
{
	struct tmpl_lib *lib = tmpl_lib_new();
	struct err e;

	(void)state;
	assert_int_equal(tmpl_lib_add(lib, "t", "ok\nab\xff", 6, &e), -1);
	assert_string_equal(e.msg, "template \"t\" line 2 column 3: not valid utf-8");
	assert_int_equal(tmpl_lib_add(lib, "t", "x", 1, &e), 0);
	assert_int_equal(tmpl_lib_add(lib, "t", "y", 1, &e), -1);
	assert_string_equal(e.msg, "template \"t\": already defined");
	assert_null(tmpl_lib_get(lib, "missing", &e));
	assert_string_equal(e.msg, "template \"missing\" not found");
	tmpl_lib_free(lib);
	tmpl_lib_free(NULL);
}

/* ---- strict mode ---- */

static void test_strict_mode(void **state)
{
	struct err e;
	char *r;

	(void)state;
	expect_render_error("Title:\n{{brand.name}} {{name}}", "{\"name\":\"x\",\"brand\":{}}",
			    "template \"t\" line 2 column 1: missing key \"brand.name\"");
	expect_render_error("{{#a}}\n   {{b.c}}{{/a}}", "{\"a\":[{\"b\":{}}],\"b\":{\"c\":\"root\"}}",
			    "template \"t\" line 2 column 4: missing key \"b.c\"");
	expect_render_error("x {{note}}", "{\"note\":null}", "template \"t\" line 1 column 3: key \"note\" is null");
	expect_render_error("{{{raw}}}", "{}", "template \"t\" line 1 column 1: missing key \"raw\"");
	expect_render_error("{{ x | trim | upper }}", "{}", "template \"t\" line 1 column 1: missing key \"x\"");
	/* the error is located in the partial that has the tag */
	{
		struct tmpl_lib *lib = lib_of("t", "a\n{{#items}}\n  {{>row}}\n{{/items}}", "row", "{{sku}}: {{price}}\n", NULL);

		r = render_lib(lib, "t", "{\"items\":[{\"sku\":\"A\",\"price\":1},{\"sku\":\"B\"}]}", true, false, &e);
		assert_null(r);
		assert_string_equal(e.msg, "template \"row\" line 1 column 10: missing key \"price\"");
		tmpl_lib_free(lib);
	}
	/* sections and inverted sections over missing keys are not errors */
	expect_render("[{{#sale}}SALE{{/sale}}{{^sale}}regular{{/sale}}]", "{}", "[regular]");
	expect_render("{{#a.b.c}}x{{/a.b.c}}-", "{\"a\":1}", "-");
	/* default suppresses the missing-key error */
	expect_render("{{subtitle | default:\"none\"}}", "{}", "none");
	/* lenient mode renders missing keys as nothing */
	{
		struct tmpl_lib *lib = lib_of("t", "<{{a}}|{{b.c}}|{{&d}}>", NULL);

		r = render_lib(lib, "t", "{}", false, false, &e);
		assert_non_null(r);
		assert_string_equal(r, "<||>");
		free(r);
		tmpl_lib_free(lib);
	}
}

static void test_render_error_leaves_output(void **state)
{
	struct tmpl_lib *lib = lib_of("t", "first line {{ok}} then {{missing}}", NULL);
	const struct tmpl *t;
	struct buf out = BUF_INIT;
	struct err e;
	json_t *d = js("{\"ok\":\"yes\"}");

	(void)state;
	t = tmpl_lib_get(lib, "t", &e);
	assert_non_null(t);
	buf_puts(&out, "kept:");
	assert_int_equal(tmpl_render(t, d, NULL, &out, &e), -1);
	assert_string_equal(buf_str(&out), "kept:");
	assert_int_equal(out.len, 5);
	json_decref(d);
	buf_free(&out);
	tmpl_lib_free(lib);
}

static void test_escaping_switch(void **state)
{
	struct tmpl_lib *lib = lib_of("t", "{{x}}|{{{x}}}|{{&x}}|{{x | upper}}|{{{x | upper}}}|{{o}}", NULL);
	const char *data = "{\"x\":\"<a href='q'>&\\\"</a>\",\"o\":{\"k\":\"<\\\"\"}}";
	struct err e;
	char *r;

	(void)state;
	r = render_lib(lib, "t", data, true, false, &e);
	assert_non_null(r);
	assert_string_equal(r, "<a href='q'>&\"</a>|<a href='q'>&\"</a>|<a href='q'>&\"</a>|"
			       "<A HREF='Q'>&\"</A>|<A HREF='Q'>&\"</A>|{\"k\":\"<\\\"\"}");
	free(r);
	r = render_lib(lib, "t", data, true, true, &e);
	assert_non_null(r);
	assert_string_equal(r, "&lt;a href=&#39;q&#39;&gt;&amp;&quot;&lt;/a&gt;|<a href='q'>&\"</a>|<a href='q'>&\"</a>|"
			       "&lt;A HREF=&#39;Q&#39;&gt;&amp;&quot;&lt;/A&gt;|<A HREF='Q'>&\"</A>|{&quot;k&quot;:&quot;&lt;\\&quot;&quot;}");
	free(r);
	tmpl_lib_free(lib);
}

/* ---- values ---- */

static void test_numbers(void **state)
{
	(void)state;
	expect_render("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}} {{h}} {{i}} {{j}}",
		      "{\"a\":1.5,\"b\":1.0,\"c\":85,\"d\":1.21,\"e\":-0.0,\"f\":1e21,\"g\":1e-7,"
		      "\"h\":123456789012,\"i\":-9223372036854775807,\"j\":0.30000000000000004}",
		      "1.5 1 85 1.21 0 1e+21 1e-7 123456789012 -9223372036854775807 0.30000000000000004");
	expect_render("{{a}} {{b}} {{c}} {{d}}", "{\"a\":100000000000000000000.0,\"b\":0.000001,\"c\":true,\"d\":false}",
		      "100000000000000000000 0.000001 true false");
	/* truthiness: "" and [] are falsy, 0 and {} are truthy */
	expect_render("{{#s}}s{{/s}}{{#l}}l{{/l}}{{#z}}z{{/z}}{{#o}}o{{/o}}{{#f}}f{{/f}}{{#n}}n{{/n}}",
		      "{\"s\":\"\",\"l\":[],\"z\":0,\"o\":{},\"f\":false,\"n\":null}", "zo");
	/* numeric parts index lists, as the example templates do */
	expect_render("{{#features.0}}1. {{.}}{{/features.0}}{{#features.5}}6{{/features.5}} {{variants.1.sku}}",
		      "{\"features\":[\"zip\",\"pocket\"],\"variants\":[{\"sku\":\"S\"},{\"sku\":\"M\"}]}", "1. zip M");
	/* an object with a key "0" is still a key lookup */
	expect_render("{{m.0}}", "{\"m\":{\"0\":\"zero\"}}", "zero");
}

/* ---- formatters ---- */

static void test_fmt_case_trim_capitalize(void **state)
{
	(void)state;
	expect_render("{{a | lower}}|{{a | upper}}|{{b | upper}}|{{c | lower}}|{{d | upper}}",
		      "{\"a\":\"Größe ÄÖÜ Çà\",\"b\":\"straße\",\"c\":\"ΑΒΓ ЖЁ Łódź\",\"d\":\"žluťoučký ÿ\"}",
		      "größe äöü çà|GRÖSSE ÄÖÜ ÇÀ|STRASSE|αβγ жё łódź|ŽLUŤOUČKÝ Ÿ");
	expect_render("[{{a | trim}}]", "{\"a\":\" \\t\\u00a0 wool\\u00a0blend \\n\"}", "[wool\u00a0blend]");
	expect_render("{{a | capitalize}}|{{b | capitalize}}|{{c | capitalize}}|{{d | capitalize}}|{{e | capitalize}}",
		      "{\"a\":\"über alles\",\"b\":\"  «élan» vital\",\"c\":\"1st place\",\"d\":\"\",\"e\":\"ALREADY\"}",
		      "Über alles|  «Élan» vital|1st place||ALREADY");
	/* non-strings go through interpolation first */
	expect_render("{{n | upper}} {{t | upper}} {{x | trim}}", "{\"n\":85,\"t\":true,\"x\":1.5}", "85 TRUE 1.5");
}

static size_t cps(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void test_fmt_truncate(void **state)
{
	struct err e;
	char *r;

	(void)state;
	/* short enough: unchanged, no suffix */
	expect_render("{{a | truncate:60:\"…\"}}", "{\"a\":\"Merino Wool Crew\"}", "Merino Wool Crew");
	/* cut at the word boundary, no ellipsis unless asked */
	expect_render("{{a | truncate:20}}", "{\"a\":\"Merino Wool Crew Neck Base Layer\"}", "Merino Wool Crew");
	expect_render("{{a | truncate:24:\"...\"}}", "{\"a\":\"Lightweight Packable Rain Shell Jacket\"}",
		      "Lightweight Packable...");
	/* no dangling punctuation or space */
	expect_render("{{a | truncate:13}}", "{\"a\":\"Soft, warm, light and easy\"}", "Soft, warm");
	expect_render("{{a | truncate:12:\"…\"}}", "{\"a\":\"Made in Italy. Really\"}", "Made in…");
	/* no boundary in the last part: hard cut */
	expect_render("{{a | truncate:8}}", "{\"a\":\"Donaudampfschifffahrt\"}", "Donaudam");
	/* characters, not bytes: umlauts count once */
	expect_render("{{a | truncate:9}}", "{\"a\":\"Größenänderung möglich\"}", "Größenänd");
	expect_render("{{a | truncate:17:\"…\"}}", "{\"a\":\"Übergrößen für Männer und Frauen\"}", "Übergrößen für…");
	/* emoji: never split a ZWJ sequence or a skin tone from its base */
	r = render1("{{a | truncate:5}}", "{\"a\":\"ab 👩‍👩‍👧 cd\"}", &e);
	assert_non_null(r);
	assert_string_equal(r, "ab");
	free(r);
	expect_render("{{a | truncate:4}}", "{\"a\":\"🐑🐑🐑🐑🐑🐑\"}", "🐑🐑🐑🐑");
	expect_render("{{a | truncate:3}}", "{\"a\":\"👍🏽👍🏽👍🏽\"}", "👍🏽");
	/* combining marks stay with their letter (decomposed "ä") */
	expect_render("{{a | truncate:2}}", "{\"a\":\"xa\\u0308yz\"}", "x");
	/* a suffix as long as the limit is dropped rather than overflow */
	expect_render("{{a | truncate:2:\"...\"}}", "{\"a\":\"abcdef\"}", "ab");
	/* the result never exceeds N characters */
	{
		const char *words = "{\"a\":\"Füße, Größe; „Qualität“ – 🎉 naïve café, €9 ÆØÅ — ende\"}";
		char src[64];

		for (int n = 1; n < 45; n++) {
			snprintf(src, sizeof src, "{{a | truncate:%d:\"…\"}}", n);
			r = render1(src, words, &e);
			assert_non_null(r);
			if (cps(r) > (size_t)n)
				fail_msg("truncate:%d gave %zu characters: %s", n, cps(r), r);
			free(r);
		}
	}
}

static void test_fmt_join(void **state)
{
	(void)state;
	expect_render("{{a | join}}|{{a | join:\" / \"}}|{{a | join:\", \":\" and \"}}|{{b | join:\", \":\" und \"}}|{{c | join:\", \":\" and \"}}",
		      "{\"a\":[\"cotton\",\"silk\",\"wool\"],\"b\":[\"Baumwolle\",\"Elasthan\"],\"c\":[\"solo\"]}",
		      "cotton, silk, wool|cotton / silk / wool|cotton, silk and wool|Baumwolle und Elasthan|solo");
	/* null and empty elements are left out; numbers print as numbers */
	expect_render("{{a | join:\", \":\" & \"}}", "{\"a\":[null,\"S\",\"\",1.5,40,null]}", "S, 1.5 & 40");
	/* a scalar is shown as is */
	expect_render("{{a | join}}", "{\"a\":\"single\"}", "single");
	expect_render_error("x\n {{materials | join}}", "{\"materials\":[\"a\",{\"name\":\"b\"}]}",
			    "template \"t\" line 2 column 2: join: element 2 of \"materials\" is an object, not a plain value");
	expect_render_error("{{m | join}}", "{\"m\":[[1]]}",
			    "template \"t\" line 1 column 1: join: element 1 of \"m\" is a list, not a plain value");
}

static void test_fmt_money(void **state)
{
	(void)state;
	expect_render("{{a | money}}|{{b | money}}|{{b | money:\"de\"}}|{{c | money:\"de_DE\"}}|{{d | money}}",
		      "{\"a\":49.9,\"b\":{\"amount\":49.9,\"currency\":\"EUR\"},\"c\":{\"amount\":1234.5,\"currency\":\"EUR\"},"
		      "\"d\":{\"amount\":5,\"currency\":\"GBP\"}}",
		      "49.90|49.90 EUR|49,90 EUR|1234,50 EUR|5.00 GBP");
	/* rounding is half away from zero on the decimal form people see */
	expect_render("{{a | money}} {{b | money}} {{c | money}} {{d | money}} {{e | money}} {{f | money}} {{g | money}}",
		      "{\"a\":49.995,\"b\":0.125,\"c\":-3.456,\"d\":0.004,\"e\":-0.001,\"f\":999.999,\"g\":\"12.5\"}",
		      "50.00 0.13 -3.46 0.00 0.00 1000.00 12.50");
	expect_render("{{a | money:\"en\"}} {{a | money:\"fr\"}}", "{\"a\":0.5}", "0.50 0,50");
	expect_render_error("{{price | money}}", "{\"price\":\"call us\"}",
			    "template \"t\" line 1 column 1: money: \"price\" is not a number or {\"amount\", \"currency\"}");
}

static void test_fmt_json_default(void **state)
{
	(void)state;
	expect_render("{{a | json}}|{{s | json}}|{{n | json}}",
		      "{\"a\":{\"z\":[1,2.5,\"ä\\n\"],\"b\":null,\"a\":true},\"s\":\"q\\\"\",\"n\":1.0}",
		      "{\"a\":true,\"b\":null,\"z\":[1,2.5,\"ä\\n\"]}|\"q\\\"\"|1");
	expect_render("{{a | default:\"n/a\"}}|{{b | default:\"n/a\"}}|{{c | default:\"n/a\"}}|{{d | default:\"n/a\"}}|{{e | default:0}}",
		      "{\"b\":null,\"c\":\"\",\"d\":\"set\"}", "n/a|n/a|n/a|set|0");
	/* default after trim catches whitespace-only values */
	expect_render("[{{a | trim | default:\"-\"}}]", "{\"a\":\"   \"}", "[-]");
	/* formatters chain left to right */
	expect_render("{{ brand | default:\"unbranded\" | upper }}", "{}", "UNBRANDED");
	expect_render("{{{ a | truncate:5 | upper }}}|{{& a | json }}", "{\"a\":\"hello world\"}", "HELLO|\"hello world\"");
}

/* Reference for money: the shortest round-trip decimal form of d, rounded
 * half away from zero to two decimals with plain string arithmetic. */
static void money_ref(double d, char *out, size_t cap)
{
	char e[40], dig[64];
	int exp10, nd = 0, prec;
	int fixed[96], nfixed, point;
	int carry;
	size_t o = 0;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec - 1, fabs(d));
		if (strtod(e, NULL) == fabs(d))
			break;
	}
	for (const char *p = e; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			dig[nd++] = *p;
	exp10 = atoi(strchr(e, 'e') + 1);
	/* fixed[] holds digits for 10^40 .. 10^-40; point is the index of 10^0 */
	nfixed = 81;
	point = 40;
	memset(fixed, 0, sizeof fixed);
	for (int i = 0; i < nd; i++) {
		int at = point - exp10 + i;

		if (at >= 0 && at < 96)
			fixed[at] = dig[i] - '0';
	}
	carry = fixed[point + 3] >= 5;
	for (int i = point + 2; i >= 0 && carry; i--) {
		fixed[i] += 1;
		carry = fixed[i] == 10;
		if (carry)
			fixed[i] = 0;
	}
	{
		int first = 0, zero = 1;

		while (first < point && fixed[first] == 0)
			first++;
		for (int i = 0; i <= point + 2; i++)
			if (fixed[i])
				zero = 0;
		if (d < 0 && !zero)
			out[o++] = '-';
		for (int i = first; i <= point; i++)
			out[o++] = (char)('0' + fixed[i]);
		out[o++] = '.';
		out[o++] = (char)('0' + fixed[point + 1]);
		out[o++] = (char)('0' + fixed[point + 2]);
		out[o] = '\0';
	}
	(void)nfixed;
	(void)cap;
}

static void test_number_properties(void **state)
{
	struct tmpl_lib *lib = lib_of("r", "{{x}}", "m", "{{x | money}}", NULL);
	struct err e;
	const struct tmpl *r = tmpl_lib_get(lib, "r", &e), *m = tmpl_lib_get(lib, "m", &e);
	struct buf out = BUF_INIT;
	uint64_t x = 0x243f6a8885a308d3ull;

	(void)state;
	assert_non_null(r);
	assert_non_null(m);
	for (int i = 0; i < 200000; i++) {
		double d;
		json_t *data;
		char want[64];

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (i % 4) {
		case 0: /* any finite double: interpolation must round-trip */
			memcpy(&d, &x, sizeof d);
			if (!isfinite(d))
				continue;
			break;
		case 1: /* prices */
			d = (double)(x % 100000000) / 100.0;
			break;
		case 2: /* ties at the third decimal */
			d = (double)((x % 10000000) * 10 + 5) / 1000.0;
			break;
		default:
			d = ((double)(x % 2000000) - 1000000.0) / (double)(1 + x % 997);
			break;
		}
		data = json_pack("{s:f}", "x", d);
		buf_reset(&out);
		assert_int_equal(tmpl_render(r, data, NULL, &out, &e), 0);
		if (strtod(buf_str(&out), NULL) != d)
			fail_msg("%.17g printed as %s, which does not read back", d, buf_str(&out));
		if (fabs(d) < 1e15) {
			buf_reset(&out);
			assert_int_equal(tmpl_render(m, data, NULL, &out, &e), 0);
			money_ref(d, want, sizeof want);
			if (strcmp(buf_str(&out), want))
				fail_msg("money(%.17g) = %s, want %s", d, buf_str(&out), want);
		}
		json_decref(data);
	}
	buf_free(&out);
	tmpl_lib_free(lib);
}

/* ---- indentation and inheritance beyond the spec ---- */

static void test_nested_indentation(void **state)
{
	struct tmpl_lib *lib = lib_of("t", "<ul>\n  {{>items}}\n</ul>\n",
				      "items", "{{#items}}\n<li>\n  {{>item}}\n</li>\n{{/items}}\n",
				      "item", "{{name}}\n{{#tags}}#{{.}} {{/tags}}\n", NULL);
	struct err e;
	char *r = render_lib(lib, "t", "{\"items\":[{\"name\":\"a\",\"tags\":[\"x\",\"y\"]},{\"name\":\"multi\\nline\"}]}",
			     true, false, &e);

	(void)state;
	assert_non_null(r);
	assert_string_equal(r, "<ul>\n  <li>\n    a\n    #x #y \n  </li>\n  <li>\n    multi\nline\n    \n  </li>\n</ul>\n");
	free(r);
	tmpl_lib_free(lib);
}

static void test_cache_and_name(void **state)
{
	struct tmpl_lib *lib = lib_of("a/b", "x", NULL);
	struct err e;
	const struct tmpl *t1 = tmpl_lib_get(lib, "a/b", &e), *t2 = tmpl_lib_get(lib, "a/b", &e);

	(void)state;
	assert_non_null(t1);
	assert_ptr_equal(t1, t2);
	assert_string_equal(tmpl_name(t1), "a/b");
	assert_int_equal(strlen(tmpl_sha256(t1)), 64);
	tmpl_lib_free(lib);
}

/* ---- versions ---- */

static void test_sha256_covers_partials(void **state)
{
	struct tmpl_lib *l1 = lib_of("t", "A {{>p}} {{#x}}{{>q}}{{/x}}", "p", "P1", "q", "Q", "other", "O1", NULL);
	struct tmpl_lib *l2 = lib_of("t", "A {{>p}} {{#x}}{{>q}}{{/x}}", "p", "P1", "q", "Q", "other", "O2", NULL);
	struct tmpl_lib *l3 = lib_of("t", "A {{>p}} {{#x}}{{>q}}{{/x}}", "p", "P1", "q", "Q!", NULL);
	struct tmpl_lib *l4 = lib_of("t", "A {{>p}} {{#x}}{{>q}}{{/x}}", "p", "P2", "q", "Q", NULL);
	struct tmpl_lib *l5 = lib_of("t", "A {{>p}} {{#x}}{{>q}}{{/x}} ", "p", "P1", "q", "Q", NULL);
	struct err e;
	char h1[65], h2[65], h3[65], h4[65], h5[65];

	(void)state;
	strcpy(h1, tmpl_sha256(tmpl_lib_get(l1, "t", &e)));
	strcpy(h2, tmpl_sha256(tmpl_lib_get(l2, "t", &e)));
	strcpy(h3, tmpl_sha256(tmpl_lib_get(l3, "t", &e)));
	strcpy(h4, tmpl_sha256(tmpl_lib_get(l4, "t", &e)));
	strcpy(h5, tmpl_sha256(tmpl_lib_get(l5, "t", &e)));
	assert_string_equal(h1, h2);            /* an unrelated template changed */
	assert_string_not_equal(h1, h3);        /* a partial inside a section changed */
	assert_string_not_equal(h1, h4);        /* a top-level partial changed */
	assert_string_not_equal(h1, h5);        /* the template itself changed */
	assert_string_not_equal(h3, h4);
	/* the partial's own version covers only itself */
	assert_string_not_equal(tmpl_sha256(tmpl_lib_get(l1, "p", &e)), h1);
	tmpl_lib_free(l1);
	tmpl_lib_free(l2);
	tmpl_lib_free(l3);
	tmpl_lib_free(l4);
	tmpl_lib_free(l5);
}

/* ---- directory libs and selection ---- */

static char tmpdir[256];

static void write_file(const char *rel, const char *text)
{
	char path[512], *slash;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
	for (slash = strchr(path + strlen(tmpdir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/skugen-tmpl-test-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	write_file("description/default.mustache", "default {{name}}");
	write_file("description/default.de_DE.mustache", "standard {{name}}");
	write_file("description/apparel.mustache", "apparel {{name}}\n{{> partials/care}}");
	write_file("description/apparel.de_DE.mustache", "bekleidung {{name}}");
	write_file("description/home_garden.mustache", "home & garden");
	write_file("description/broken.mustache", "{{#x}}");
	write_file("partials/care.mustache", "care: {{care | default:\"n/a\"}}");
	write_file("secret.mustache", "outside the base");
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void expect_selected(struct tmpl_lib *lib, const char *cat, const char *loc, const char *name)
{
	struct err e;
	const struct tmpl *t = tmpl_lib_select(lib, "description", cat, loc, &e);

	if (!t)
		fail_msg("select(%s, %s): %s", cat ? cat : "NULL", loc ? loc : "NULL", e.msg);
	assert_string_equal(tmpl_name(t), name);
}

static void test_select_fallback(void **state)
{
	struct err e;
	struct tmpl_lib *lib = tmpl_lib_open_dir(tmpdir, &e);
	const struct tmpl *t;

	(void)state;
	assert_non_null(lib);
	expect_selected(lib, "apparel", "de_DE", "description/apparel.de_DE");
	expect_selected(lib, "apparel", "fr_FR", "description/apparel");
	expect_selected(lib, "Apparel", NULL, "description/apparel");
	expect_selected(lib, "toys", "de_DE", "description/default.de_DE");
	expect_selected(lib, "toys", "fr_FR", "description/default");
	expect_selected(lib, NULL, "de_DE", "description/default.de_DE");
	expect_selected(lib, "", "", "description/default");
	expect_selected(lib, "Home Garden", NULL, "description/home_garden");
	expect_selected(lib, "home/garden", NULL, "description/home_garden");
	/* a category can never climb out of the base */
	expect_selected(lib, "../secret", NULL, "description/default");
	expect_selected(lib, "../../etc/passwd", NULL, "description/default");
	/* an existing template that does not compile is an error, not a fallback */
	t = tmpl_lib_select(lib, "description", "broken", NULL, &e);
	assert_null(t);
	assert_string_equal(e.msg, "template \"description/broken\" line 1 column 1: unclosed section \"x\"");
	/* nothing at all: every name tried is listed */
	t = tmpl_lib_select(lib, "title", "shoes", "de_DE", &e);
	assert_null(t);
	assert_int_equal(e.code, ERR_TEMPLATE);
	assert_string_equal(e.msg, "no template for category \"shoes\" locale \"de_DE\": tried \"title/shoes.de_DE\", "
				   "\"title/shoes\", \"title/default.de_DE\", \"title/default\"");
	/* names may not escape the directory either */
	assert_null(tmpl_lib_get(lib, "../secret", &e));
	assert_string_equal(e.msg, "template \"../secret\": not a valid template name");
	assert_null(tmpl_lib_get(lib, "description/../secret", &e));
	assert_null(tmpl_lib_get(lib, "/etc/passwd", &e));
	/* partials load from the directory too */
	{
		struct buf out = BUF_INIT;
		json_t *d = js("{\"name\":\"Shirt\"}");

		t = tmpl_lib_get(lib, "description/apparel", &e);
		assert_non_null(t);
		assert_int_equal(tmpl_render(t, d, NULL, &out, &e), 0);
		assert_string_equal(buf_str(&out), "apparel Shirt\ncare: n/a");
		buf_free(&out);
		json_decref(d);
	}
	tmpl_lib_free(lib);
	assert_null(tmpl_lib_open_dir("/nonexistent/skugen", &e));
	assert_int_equal(e.code, ERR_IO);
}

static void test_symlink_escape(void **state)
{
	char link[600], target[600];
	struct err e;
	struct tmpl_lib *lib;

	(void)state;
	snprintf(link, sizeof link, "%s/description/evil.mustache", tmpdir);
	snprintf(target, sizeof target, "%s/../outside-%d.mustache", tmpdir, (int)getpid());
	{
		FILE *f = fopen(target, "w");

		assert_non_null(f);
		fputs("leaked", f);
		fclose(f);
	}
	assert_int_equal(symlink(target, link), 0);
	lib = tmpl_lib_open_dir(tmpdir, &e);
	assert_non_null(lib);
	assert_null(tmpl_lib_get(lib, "description/evil", &e));
	assert_false(tmpl_lib_has(lib, "description/evil"));
	expect_selected(lib, "evil", NULL, "description/default");
	tmpl_lib_free(lib);
	unlink(link);
	unlink(target);
}

/* ---- projection ---- */

static char *dumps(const json_t *v)
{
	return json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
}

/* render(projection) == render(data), same errors, all four modes. */
static void check_projection(const struct tmpl *t, const json_t *data, const char *label)
{
	json_t *p = tmpl_project(t, data);

	if (!p)
		fail_msg("%s: no projection", label);
	for (int mode = 0; mode < 4; mode++) {
		struct tmpl_opts o = { .strict = mode & 1, .escape_html = (mode & 2) != 0 };
		struct buf a = BUF_INIT, b = BUF_INIT;
		struct err ea, eb;
		int ra, rb;

		err_clear(&ea);
		err_clear(&eb);
		ra = tmpl_render(t, data, &o, &a, &ea);
		rb = tmpl_render(t, p, &o, &b, &eb);
		if (ra != rb || strcmp(buf_str(&a), buf_str(&b)) || strcmp(ea.msg, eb.msg)) {
			char *pd = dumps(p), *dd = dumps(data);

			fail_msg("%s (mode %d): projection renders differently\n  data: %s\n  proj: %s\n"
				 "  full: rc %d \"%s\" %s\n  proj: rc %d \"%s\" %s",
				 label, mode, dd, pd, ra, buf_str(&a), ea.msg, rb, buf_str(&b), eb.msg);
		}
		buf_free(&a);
		buf_free(&b);
	}
	json_decref(p);
}

static void test_projection_spec_cases(void **state)
{
	const char *root = getenv("SKUGEN_SPEC_DIR");
	char dir[4096];
	DIR *d;
	struct dirent *de;
	int checked = 0;

	(void)state;
	if (!root)
		fail_msg("SKUGEN_SPEC_DIR is not set");
	snprintf(dir, sizeof dir, "%s/mustache", root);
	d = opendir(dir);
	if (!d)
		fail_msg("spec directory %s is missing", dir);
	while ((de = readdir(d))) {
		char path[8192];
		json_t *doc, *tc;
		size_t i;

		if (!strstr(de->d_name, ".json") || strstr(de->d_name, "lambdas"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		doc = json_load_file(path, 0, NULL);
		assert_non_null(doc);
		json_array_foreach(json_object_get(doc, "tests"), i, tc) {
			struct tmpl_lib *lib = tmpl_lib_new();
			const char *src = json_string_value(json_object_get(tc, "template")), *k;
			json_t *v;
			struct err e;
			const struct tmpl *t;
			char label[512];

			tmpl_lib_set_missing_partials_ok(lib, true);
			assert_int_equal(tmpl_lib_add(lib, "(main)", src, strlen(src), &e), 0);
			json_object_foreach(json_object_get(tc, "partials"), k, v)
				tmpl_lib_add(lib, k, json_string_value(v), json_string_length(v), &e);
			t = tmpl_lib_get(lib, "(main)", &e);
			assert_non_null(t);
			snprintf(label, sizeof label, "%s: %s", de->d_name,
				 json_string_value(json_object_get(tc, "name")));
			check_projection(t, json_object_get(tc, "data"), label);
			checked++;
			tmpl_lib_free(lib);
		}
		json_decref(doc);
	}
	closedir(d);
	assert_true(checked > 150);
}

static const char *product_tmpl =
	"{{brand.name}} {{name | truncate:40}}\n"
	"{{#materials}}- {{name}} ({{share}}%)\n{{/materials}}"
	"{{^materials}}no materials{{/materials}}\n"
	"Price: {{price | money}}\n"
	"{{#attributes.fit}}Fit: {{attributes.fit}}{{/attributes.fit}}";

static const char *product_data =
	"{\"sku\":\"A-1\",\"name\":\"Shirt\",\"brand\":{\"name\":\"Kestrel\",\"country\":\"PT\"},"
	"\"materials\":[{\"name\":\"cotton\",\"share\":95,\"origin\":\"EG\"},{\"name\":\"elastane\",\"share\":5}],"
	"\"price\":{\"amount\":49.5,\"currency\":\"EUR\",\"net\":41.25},"
	"\"attributes\":{\"fit\":\"slim\",\"weight_g\":180},\"images\":[\"a.jpg\"],\"updated_at\":\"2024-01-01\"}";

static void test_projection_fingerprint(void **state)
{
	struct tmpl_lib *lib = lib_of("t", product_tmpl, NULL);
	struct err e;
	const struct tmpl *t = tmpl_lib_get(lib, "t", &e);
	json_t *data = js(product_data), *p;
	char *base, *s;
	/* edits to fields the template never reads */
	static const char *const unread[][2] = {
		{ "sku", "\"B-2\"" }, { "updated_at", "\"2025-06-01\"" }, { "images", "[\"b.jpg\",\"c.jpg\"]" },
		{ "new_field", "1" },
	};

	(void)state;
	assert_non_null(t);
	p = tmpl_project(t, data);
	base = dumps(p);
	assert_string_equal(base,
			    "{\"attributes\":{\"fit\":\"slim\"},\"brand\":{\"name\":\"Kestrel\"},"
			    "\"materials\":[{\"name\":\"cotton\",\"share\":95},{\"name\":\"elastane\",\"share\":5}],"
			    "\"name\":\"Shirt\",\"price\":{\"amount\":49.5,\"currency\":\"EUR\",\"net\":41.25}}");
	json_decref(p);
	check_projection(t, data, "product");
	for (size_t i = 0; i < sizeof unread / sizeof unread[0]; i++) {
		json_t *d2 = json_deep_copy(data);

		json_object_set_new(d2, unread[i][0], js(unread[i][1]));
		p = tmpl_project(t, d2);
		s = dumps(p);
		if (strcmp(s, base))
			fail_msg("changing unread field %s changed the projection: %s", unread[i][0], s);
		free(s);
		json_decref(p);
		json_decref(d2);
	}
	/* nested unread fields */
	{
		json_t *d2 = json_deep_copy(data);

		json_object_set_new(json_object_get(d2, "brand"), "country", json_string("IT"));
		json_object_set_new(json_object_get(d2, "attributes"), "weight_g", json_integer(200));
		json_object_set_new(json_array_get(json_object_get(d2, "materials"), 0), "origin", json_string("TR"));
		p = tmpl_project(t, d2);
		s = dumps(p);
		assert_string_equal(s, base);
		free(s);
		json_decref(p);
		json_decref(d2);
	}
	/* edits to fields it reads */
	{
		static const char *const paths[] = { "name", "brand", "materials", "price", "attributes" };

		for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
			json_t *d2 = json_deep_copy(data);
			json_t *o = json_object_get(d2, paths[i]);

			if (json_is_string(o))
				json_object_set_new(d2, paths[i], json_string("changed"));
			else if (json_is_array(o))
				json_object_set_new(json_array_get(o, 1), "share", json_integer(6));
			else if (!strcmp(paths[i], "brand"))
				json_object_set_new(o, "name", json_string("Other"));
			else if (!strcmp(paths[i], "price"))
				json_object_set_new(o, "amount", json_real(39.9));
			else
				json_object_set_new(o, "fit", json_string("relaxed"));
			p = tmpl_project(t, d2);
			s = dumps(p);
			if (!strcmp(s, base))
				fail_msg("changing read field %s left the projection unchanged", paths[i]);
			check_projection(t, d2, paths[i]);
			free(s);
			json_decref(p);
			json_decref(d2);
		}
	}
	/* a key appearing in an inner frame changes which frame wins: read */
	{
		json_t *d2 = json_deep_copy(data);

		json_object_set_new(json_object_get(d2, "brand"), "x", json_true());
		json_object_set_new(d2, "share", json_integer(7));   /* root share: shadowed */
		p = tmpl_project(t, d2);
		s = dumps(p);
		assert_string_equal(s, base);
		free(s);
		json_decref(p);
		json_object_del(json_array_get(json_object_get(d2, "materials"), 1), "share");
		p = tmpl_project(t, d2);
		s = dumps(p);
		assert_string_not_equal(s, base);   /* now the root share is read */
		assert_non_null(strstr(s, "\"share\":7"));
		free(s);
		json_decref(p);
		check_projection(t, d2, "fallthrough");
		json_decref(d2);
	}
	free(base);
	json_decref(data);
	tmpl_lib_free(lib);
}

static void expect_paths(struct tmpl_lib *lib, const char *name, const char *want)
{
	struct err e;
	const struct tmpl *t = tmpl_lib_get(lib, name, &e);
	json_t *paths;
	char *s;

	if (!t)
		fail_msg("%s: %s", name, e.msg);
	paths = tmpl_read_paths(t);
	if (!want) {
		assert_null(paths);
		tmpl_lib_free(lib);
		return;
	}
	assert_non_null(paths);
	s = json_dumps(paths, JSON_COMPACT);
	if (strcmp(s, want))
		fail_msg("%s read paths\n  expected: %s\n       got: %s", name, want, s);
	free(s);
	json_decref(paths);
	tmpl_lib_free(lib);
}

static void test_read_paths(void **state)
{
	(void)state;
	expect_paths(lib_of("t", product_tmpl, NULL), "t",
		     "[\"attributes.fit\",\"brand.name\",\"materials[].name\",\"materials[].share\","
		     "\"name\",\"price\",\"share\"]");
	expect_paths(lib_of("t", "{{#a}}{{b.c}}{{/a}}", NULL), "t", "[\"a[].b.c\",\"b.c\"]");
	expect_paths(lib_of("t", "{{#list}}{{.}}{{/list}}{{^empty}}x{{/empty}}", NULL), "t",
		     "[\"empty\",\"list\"]");
	expect_paths(lib_of("t", "{{.}}", NULL), "t", "[\".\"]");
	expect_paths(lib_of("t", "plain text", NULL), "t", "[]");
	expect_paths(lib_of("t", "{{#item}}{{>p}}{{/item}}", "p", "{{sku}}", NULL), "t",
		     "[\"item[].sku\",\"sku\"]");
	expect_paths(lib_of("t", "{{<base}}{{$b}}{{title}}{{/b}}{{/base}}", "base", "[{{$b}}{{name}}{{/b}}]", NULL),
		     "t", "[\"title\"]");
	expect_paths(lib_of("t", "{{#features.0}}{{.}}{{/features.0}}", NULL), "t", "[\"features.0\"]");
	/* unbounded: dynamic names, recursion */
	expect_paths(lib_of("t", "{{>*kind}}", NULL), "t", NULL);
	expect_paths(lib_of("t", "{{#kids}}{{>t}}{{/kids}}", NULL), "t", NULL);
}

/* Projection of templates the reads module cannot bound still works. */
static void test_projection_dynamic_and_recursive(void **state)
{
	struct tmpl_lib *lib = lib_of("t", "{{#items}}{{>*kind}}{{/items}}|{{>tree}}",
				      "text", "T:{{content}};", "image", "I:{{url}};",
				      "tree", "{{name}}({{#kids}}{{>tree}}{{/kids}})", NULL);
	struct err e;
	const struct tmpl *t = tmpl_lib_get(lib, "t", &e);
	json_t *d = js("{\"items\":[{\"kind\":\"text\",\"content\":\"hi\",\"url\":\"u0\"},{\"kind\":\"image\",\"url\":\"u1\",\"content\":\"c1\"}],"
		       "\"name\":\"r\",\"kids\":[{\"name\":\"k\",\"extra\":1,\"kids\":[]}],\"unused\":true}");
	json_t *p;
	char *s;

	(void)state;
	assert_non_null(t);
	assert_null(tmpl_read_paths(t));
	p = tmpl_project(t, d);
	s = dumps(p);
	assert_string_equal(s, "{\"items\":[{\"content\":\"hi\",\"kind\":\"text\"},{\"kind\":\"image\",\"url\":\"u1\"}],"
			       "\"kids\":[{\"kids\":[],\"name\":\"k\"}],\"name\":\"r\"}");
	free(s);
	json_decref(p);
	check_projection(t, d, "dynamic");
	/* without "kids" in the element, the lookup falls through to the root
	 * list and recurses until the depth limit: same error either way */
	json_object_del(json_array_get(json_object_get(d, "kids"), 0), "kids");
	check_projection(t, d, "endless");
	json_decref(d);
	tmpl_lib_free(lib);
}

/* Small deterministic generator of templates and data. */
static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const keys[] = { "a", "b", "c", "d" };

static json_t *gen_value(int depth)
{
	switch (rnd(depth > 2 ? 5 : 8)) {
	case 0: return json_string(rnd(3) ? "s<&>" : "");
	case 1: return json_integer(rnd(3));
	case 2: return rnd(2) ? json_true() : json_false();
	case 3: return json_null();
	case 4: return json_real(1.5);
	case 5:
	case 6: {
		json_t *o = json_object();
		unsigned n = rnd(4);

		for (unsigned i = 0; i < n; i++)
			json_object_set_new(o, keys[rnd(4)], gen_value(depth + 1));
		return o;
	}
	default: {
		json_t *a = json_array();
		unsigned n = rnd(3);

		for (unsigned i = 0; i < n; i++)
			json_array_append_new(a, gen_value(depth + 1));
		return a;
	}
	}
}

static void gen_name(struct buf *b)
{
	unsigned parts = 1 + rnd(3);

	if (!rnd(6)) {
		buf_putc(b, '.');
		return;
	}
	for (unsigned i = 0; i < parts; i++) {
		if (i)
			buf_putc(b, '.');
		buf_puts(b, rnd(8) ? keys[rnd(4)] : "0");
	}
}

static void gen_tmpl(struct buf *b, int depth)
{
	unsigned n = 1 + rnd(4);

	for (unsigned i = 0; i < n; i++) {
		unsigned k = rnd(depth > 2 ? 4 : 7);
		struct buf nm = BUF_INIT;

		gen_name(&nm);
		switch (k) {
		case 0: buf_puts(b, "-"); break;
		case 1: buf_printf(b, "{{%s}}", buf_str(&nm)); break;
		case 2: buf_printf(b, "{{%s | json}}", buf_str(&nm)); break;
		case 3: buf_printf(b, "{{{%s}}}", buf_str(&nm)); break;
		case 4: buf_printf(b, "{{%s | default:\"d\" | upper}}", buf_str(&nm)); break;
		case 5:
		case 6: {
			char sig = k == 5 ? '#' : '^';

			buf_printf(b, "{{%c%s}}", sig, buf_str(&nm));
			gen_tmpl(b, depth + 1);
			buf_printf(b, "{{/%s}}", buf_str(&nm));
			break;
		}
		}
		buf_free(&nm);
	}
}

/* Key path without list markers and list indexes: "a[].b.0.c" -> "a.b.c". */
static void normalise_path(const char *in, struct buf *out)
{
	buf_reset(out);
	while (*in) {
		const char *dot = strchr(in, '.');
		size_t n = dot ? (size_t)(dot - in) : strlen(in);
		bool digits = n > 0;

		for (size_t i = 0; i < n; i++)
			if (in[i] < '0' || in[i] > '9')
				digits = false;
		if (n >= 2 && in[n - 2] == '[' && in[n - 1] == ']')
			n -= 2;
		if (n && !digits) {
			if (out->len)
				buf_putc(out, '.');
			buf_append(out, in, n);
		}
		in += dot ? (size_t)(dot - in) + 1 : strlen(in);
	}
}

static bool prefix_path(const char *a, const char *b)
{
	size_t n = strlen(a);

	return !n || (!strncmp(a, b, n) && (b[n] == '\0' || b[n] == '.'));
}

/* Every object key path in the projection is covered by a static path. */
static void check_paths_cover(const json_t *paths, const json_t *v, struct buf *at,
			      const char *label)
{
	size_t keep = at->len;
	struct buf norm = BUF_INIT, key = BUF_INIT;

	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			check_paths_cover(paths, json_array_get(v, i), at, label);
		return;
	}
	if (!json_is_object(v))
		return;
	for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
		bool covered = false;
		size_t i;
		json_t *p;
		const char *k = json_object_iter_key(it);
		bool digits = *k != '\0';

		for (const char *c = k; *c; c++)
			if (*c < '0' || *c > '9')
				digits = false;
		if (!digits) {
			if (at->len)
				buf_putc(at, '.');
			buf_puts(at, k);
		}
		json_array_foreach(paths, i, p) {
			normalise_path(json_string_value(p), &norm);
			if (!strcmp(json_string_value(p), ".") || prefix_path(buf_str(at), buf_str(&norm)) ||
			    prefix_path(buf_str(&norm), buf_str(at)))
				covered = true;
		}
		if (!covered) {
			char *ps = json_dumps(paths, JSON_COMPACT);

			fail_msg("%s: projection reads \"%s\", not among the static paths %s", label,
				 buf_str(at), ps);
		}
		check_paths_cover(paths, json_object_iter_value(it), at, label);
		at->len = keep;
		if (at->data)
			at->data[keep] = '\0';
	}
	buf_free(&norm);
	buf_free(&key);
}

static void test_projection_generated(void **state)
{
	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		struct buf src = BUF_INIT;
		struct tmpl_lib *lib;
		const struct tmpl *t;
		struct err e;
		json_t *d;
		char label[300];

		gen_tmpl(&src, 0);
		if (rnd(3) == 0)
			buf_puts(&src, "{{>p}}");
		lib = lib_of("t", buf_str(&src), "p", "{{#a}}{{b}}{{/a}}{{c.d}}", NULL);
		t = tmpl_lib_get(lib, "t", &e);
		if (!t)
			fail_msg("generated template %s: %s", buf_str(&src), e.msg);
		d = gen_value(0);
		if (!json_is_object(d) || rnd(4) == 0) {
			json_decref(d);
			d = json_object();
			for (int k = 0; k < 4; k++)
				json_object_set_new(d, keys[k], gen_value(1));
		}
		snprintf(label, sizeof label, "generated #%d %.200s", iter, buf_str(&src));
		check_projection(t, d, label);
		{
			json_t *paths = tmpl_read_paths(t), *p = tmpl_project(t, d);
			struct buf at = BUF_INIT;

			if (paths)
				check_paths_cover(paths, p, &at, label);
			buf_free(&at);
			json_decref(paths);
			json_decref(p);
		}
		json_decref(d);
		tmpl_lib_free(lib);
		buf_free(&src);
	}
}

/* ---- limits and threads ---- */

static void test_limits(void **state)
{
	struct tmpl_lib *lib = lib_of("t", "{{#l}}{{#l}}{{#l}}{{#l}}x{{/l}}{{/l}}{{/l}}{{/l}}", NULL);
	struct tmpl_opts o = { .strict = true, .max_steps = 1000 };
	const struct tmpl *t;
	struct buf out = BUF_INIT;
	struct err e;
	json_t *d = js("{\"l\":[1,2,3,4,5,6,7,8,9,10]}");

	(void)state;
	t = tmpl_lib_get(lib, "t", &e);
	assert_non_null(t);
	assert_int_equal(tmpl_render(t, d, &o, &out, &e), -1);
	assert_non_null(strstr(e.msg, "more than 1000 steps"));
	o.max_steps = 0;
	o.max_output = 5000;
	assert_int_equal(tmpl_render(t, d, &o, &out, &e), -1);
	assert_non_null(strstr(e.msg, "output larger than 5000 bytes"));
	o.max_output = 0;
	assert_int_equal(tmpl_render(t, d, &o, &out, &e), 0);
	assert_int_equal(out.len, 10000);
	buf_free(&out);
	json_decref(d);
	tmpl_lib_free(lib);
}

struct thread_arg {
	const struct tmpl *t;
	json_t *data;
	const char *want;
	int bad;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct buf out = BUF_INIT;
	struct err e;

	for (int i = 0; i < 2000; i++) {
		buf_reset(&out);
		if (tmpl_render(a->t, a->data, NULL, &out, &e) < 0 || strcmp(buf_str(&out), a->want))
			a->bad++;
	}
	buf_free(&out);
	return NULL;
}

static void test_threads(void **state)
{
	struct tmpl_lib *lib = lib_of("t", "{{#items}}{{>row}}{{/items}}{{>*dyn}}", "row", "[{{name | upper}}]",
				      "other", "!{{n | money}}", NULL);
	struct err e;
	const struct tmpl *t = tmpl_lib_get(lib, "t", &e);
	struct thread_arg args[4];
	pthread_t th[4];
	json_t *d = js("{\"items\":[{\"name\":\"a\"},{\"name\":\"ü\"}],\"dyn\":\"other\",\"n\":3}");

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ .t = t, .data = d, .want = "[A][Ü]!3.00" };
		pthread_create(&th[i], NULL, thread_main, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].bad, 0);
	}
	json_decref(d);
	tmpl_lib_free(lib);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_unclosed_section),
		cmocka_unit_test(test_error_mismatched_close),
		cmocka_unit_test(test_error_delimiters_and_tags),
		cmocka_unit_test(test_error_missing_partial),
		cmocka_unit_test(test_error_partial_cycle),
		cmocka_unit_test(test_error_formatters),
		cmocka_unit_test(test_error_bad_utf8_and_duplicates),
		cmocka_unit_test(test_strict_mode),
		cmocka_unit_test(test_render_error_leaves_output),
		cmocka_unit_test(test_escaping_switch),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_fmt_case_trim_capitalize),
		cmocka_unit_test(test_fmt_truncate),
		cmocka_unit_test(test_fmt_join),
		cmocka_unit_test(test_fmt_money),
		cmocka_unit_test(test_fmt_json_default),
		cmocka_unit_test(test_number_properties),
		cmocka_unit_test(test_nested_indentation),
		cmocka_unit_test(test_cache_and_name),
		cmocka_unit_test(test_sha256_covers_partials),
		cmocka_unit_test_setup_teardown(test_select_fallback, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_symlink_escape, setup_dir, teardown_dir),
		cmocka_unit_test(test_projection_spec_cases),
		cmocka_unit_test(test_projection_fingerprint),
		cmocka_unit_test(test_read_paths),
		cmocka_unit_test(test_projection_dynamic_and_recursive),
		cmocka_unit_test(test_projection_generated),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests_name("tmpl", tests, NULL, NULL);
}
