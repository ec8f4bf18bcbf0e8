/* test_common.c: the shared pieces: buffers, UTF-8, sha256, locating keys in
 * JSON text, and configuration errors that say where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/file_read.h"
#include "common/hash.h"
#include "common/json_locate.h"
#include "common/random.h"
#include "common/utf8.h"

static void test_buf_grows_and_steals(void **state)
{
	struct buf b = BUF_INIT;
	char *s;

	(void)state;
	assert_string_equal(buf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&b, "%d,", i), 0);
	assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
	assert_int_equal(b.len, strlen(b.data));
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "a\0b", 3), 0);
	assert_int_equal(b.len, 3);
	s = buf_steal(&b);
	assert_memory_equal(s, "a\0b", 4);
	assert_null(b.data);
	free(s);
	buf_free(NULL);
}

static void test_utf8(void **state)
{
	size_t bad = 0;

	(void)state;
	assert_true(utf8_valid("plain", 5, NULL));
	assert_true(utf8_valid("M\xc3\xbcller \xe2\x80\x93 \xf0\x9f\x98\x80", 16, NULL));
	assert_false(utf8_valid("ab\xff", 3, &bad));
	assert_int_equal(bad, 2);
	assert_false(utf8_valid("\xc0\xaf", 2, &bad));        /* overlong '/' */
	assert_false(utf8_valid("\xed\xa0\x80", 3, &bad));    /* surrogate */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4, &bad)); /* above U+10FFFF */
	assert_false(utf8_valid("x\xe2\x82", 3, &bad));        /* truncated */
	assert_int_equal(bad, 1);
}

/* The \uXXXX pieces the JSON scanners share (jscan.c, pg_json.c). */
static void test_utf8_json_escapes(void **state)
{
	static const unsigned cps[] = { 0x41, 0xfc, 0x7ff, 0x800, 0x20ac, 0xffff, 0x10000, 0x1f600, 0x10ffff };
	struct buf b = BUF_INIT;
	unsigned v;

	(void)state;
	assert_int_equal(utf8_hex4("00e9", &v), 0);
	assert_int_equal(v, 0xe9);
	assert_int_equal(utf8_hex4("D83d", &v), 0);
	assert_int_equal(v, 0xd83d);
	assert_int_equal(utf8_hex4("12g4", &v), -1);
	assert_int_equal(utf8_hex4("-123", &v), -1);
	for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++)
		assert_int_equal(utf8_put(&b, cps[i]), 0);
	assert_int_equal(b.len, 1 + 2 + 2 + 3 + 3 + 3 + 4 + 4 + 4);
	assert_memory_equal(b.data, "A\xc3\xbc\xdf\xbf\xe0\xa0\x80\xe2\x82\xac\xef\xbf\xbf"
			    "\xf0\x90\x80\x80\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", b.len);
	assert_true(utf8_valid(b.data, b.len, NULL));
	buf_free(&b);
}

static void test_sha256_known_answers(void **state)
{
	char hex[HASH_HEX_LEN], a[HASH_HEX_LEN], b[HASH_HEX_LEN];
	struct hash_ctx *h = hash_new();

	(void)state;
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* Field framing: "ab"+"c" and "a"+"bc" must differ. */
	hash_update_str(h, "ab");
	hash_update_str(h, "c");
	hash_final_hex(h, a);
	hash_update_str(h, "a");
	hash_update_str(h, "bc");
	hash_final_hex(h, b);
	assert_string_not_equal(a, b);
	/* NULL (absent) differs from the empty string. */
	hash_update_str(h, NULL);
	hash_final_hex(h, a);
	hash_update_str(h, "");
	hash_final_hex(h, b);
	assert_string_not_equal(a, b);
	hash_free(h);
}

static void test_json_locate(void **state)
{
	const char *text = "{\n  \"store\": {\"dsn\": \"x\"},\n  \"outputs\": [\n    {\"name\": \"a\"},\n    {\"name\": \"b\", \"generator\": 7}\n  ]\n}\n";
	int line = 0, col = 0;

	(void)state;
	assert_int_equal(json_locate(text, strlen(text), "store.dsn", &line, &col), 0);
	assert_int_equal(line, 2);
	assert_int_equal(col, 20);
	assert_int_equal(json_locate(text, strlen(text), "outputs[1].generator", &line, &col), 0);
	assert_int_equal(line, 5);
	assert_int_equal(col, 32);
	/* A missing key: the deepest ancestor that exists, and rc 1. */
	assert_int_equal(json_locate(text, strlen(text), "outputs[1].missing", &line, &col), 1);
	assert_int_equal(line, 5);
	assert_int_equal(col, 5);
	assert_int_equal(json_locate(text, strlen(text), "", &line, &col), 0);
	assert_int_equal(line, 1);
	assert_int_equal(col, 1);
}

static void test_config_errors_say_where(void **state)
{
	struct config c;
	struct err e;
	const char *s = NULL;
	long long n = 0;
	static const char *const allowed[] = { "name", "limit", NULL };

	(void)state;
	assert_int_equal(config_load_text(&c, "t.json", "{\n \"name\": 5,\n \"limit\": 99,\n \"nmae\": 1\n}", &e), 0);
	assert_int_equal(config_string(&c, c.root, "", "name", NULL, &s, &e), -1);
	assert_int_equal(e.code, ERR_CONFIG);
	assert_string_equal(e.msg, "t.json:2:10: name: expected a string, got an integer 5");
	assert_int_equal(config_int(&c, c.root, "", "limit", 0, 1, 10, &n, &e), -1);
	assert_string_equal(e.msg, "t.json:3:11: limit: 99 is out of range [1, 10]");
	assert_int_equal(config_check_keys(&c, c.root, "", allowed, &e), -1);
	assert_non_null(strstr(e.msg, "t.json:4:10: nmae: unknown key"));
	assert_int_equal(config_string(&c, c.root, "", "absent", "dflt", &s, &e), 0);
	assert_string_equal(s, "dflt");
	config_free(&c);

	assert_int_equal(config_load_text(&c, "s.json", "{\"a\": {\"password\": \"hunter2\"}}", &e), -1);
	assert_non_null(strstr(e.msg, "a.password: secrets never sit in the configuration"));
	assert_null(strstr(e.msg, "hunter2"));

	assert_int_equal(config_load_text(&c, "x.json", "{\"a\": 1,\n \"a\": 2}", &e), -1);
	assert_non_null(strstr(e.msg, "x.json:2:"));

	assert_int_equal(config_load_text(&c, "y.json", "[1]", &e), -1);
	assert_non_null(strstr(e.msg, "expected an object"));
}

/* Paths from catalog data: regular files only, and bounded. */
static void test_file_read_regular(void **state)
{
	char dir[] = "/tmp/skugen-fr-XXXXXX", path[96];
	struct buf b = BUF_INIT;
	struct err e;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/photo.bin", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs("0123456789", f);
	fclose(f);
	assert_int_equal(file_read_regular(path, 10, &b, &e), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(buf_str(&b), "0123456789");
	buf_reset(&b);
	assert_int_equal(file_read_regular(path, 9, &b, &e), -1);
	assert_int_equal(e.code, ERR_INPUT);
	assert_non_null(strstr(e.msg, "is 10 bytes, more than the limit of 9"));
	/* A device would never end; a FIFO with no writer would block. */
	assert_int_equal(file_read_regular("/dev/zero", 1 << 20, &b, &e), -1);
	assert_non_null(strstr(e.msg, "/dev/zero is not a regular file"));
	snprintf(path, sizeof path, "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(file_read_regular(path, 1 << 20, &b, &e), -1);
	assert_non_null(strstr(e.msg, "is not a regular file"));
	assert_int_equal(file_read_regular(dir, 1 << 20, &b, &e), -1);
	assert_int_equal(file_read_regular("/nonexistent/x.png", 1 << 20, &b, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_int_equal(b.len, 0);
	unlink(path);
	snprintf(path, sizeof path, "%s/photo.bin", dir);
	unlink(path);
	rmdir(dir);
	buf_free(&b);
}

/* Version 4 UUIDs in their text form; a thousand draws, no two alike. */
static void test_random_uuid(void **state)
{
	static char seen[1000][RANDOM_UUID_LEN];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		char *u = seen[i];

		assert_int_equal(random_uuid(u), 0);
		assert_int_equal(strlen(u), 36);
		for (int k = 0; k < 36; k++) {
			if (k == 8 || k == 13 || k == 18 || k == 23)
				assert_int_equal(u[k], '-');
			else
				assert_non_null(strchr("0123456789abcdef", u[k]));
		}
		assert_int_equal(u[14], '4');
		assert_non_null(strchr("89ab", u[19]));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[j], u);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_grows_and_steals),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_json_escapes),
		cmocka_unit_test(test_sha256_known_answers),
		cmocka_unit_test(test_json_locate),
		cmocka_unit_test(test_config_errors_say_where),
		cmocka_unit_test(test_file_read_regular),
		cmocka_unit_test(test_random_uuid),
	};

	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
