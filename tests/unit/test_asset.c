/* test_asset.c: the content-addressed asset store: the path is the bytes'
 * sha256 split ab/cd/, the file holds exactly the bytes, storing them again
 * reuses the file, a damaged copy is replaced, no temporary is left behind,
 * and two processes storing the same bytes at once both succeed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/file_read.h"
#include "common/hash.h"
#include "media/asset.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof root, "/tmp/skugen-asset-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	strcat(root, "/store"); /* asset_put creates it */
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strrchr(root, '/') - root), root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Count the entries of dir other than . and .. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void test_put_layout_and_bytes(void **state)
{
	static const char bytes[] = "\xff\xd8\xff not really a jpeg \x00 but bytes";
	struct asset_ref ref;
	struct buf back = BUF_INIT;
	char sha[HASH_HEX_LEN], want[256], dir[256];
	struct stat st;

	(void)state;
	sha256_hex(bytes, sizeof bytes, sha);
	assert_int_equal(asset_put(root, bytes, sizeof bytes, "jpg", &ref, NULL), 0);
	assert_string_equal(ref.sha256, sha);
	snprintf(want, sizeof want, "%s/%.2s/%.2s/%s.jpg", root, sha, sha + 2, sha);
	assert_string_equal(ref.path, want);
	assert_false(ref.reused);
	assert_int_equal(file_read_all(ref.path, &back, NULL), 0);
	assert_int_equal(back.len, sizeof bytes);
	assert_memory_equal(back.data, bytes, sizeof bytes);
	assert_int_equal(stat(ref.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	snprintf(dir, sizeof dir, "%s/%.2s/%.2s", root, sha, sha + 2);
	assert_int_equal(entries(dir), 1); /* no temporary left */
	assert_int_equal(asset_verify(ref.path, sha, NULL), 0);
	buf_free(&back);
	asset_ref_clear(&ref);
	asset_ref_clear(NULL);
}

static void test_reuse_and_repair(void **state)
{
	static const char bytes[] = "the same bytes twice";
	struct asset_ref a, b, c;
	struct err e;
	FILE *f;

	(void)state;
	assert_int_equal(asset_put(root, bytes, sizeof bytes, "png", &a, NULL), 0);
	assert_int_equal(asset_put(root, bytes, sizeof bytes, "png", &b, NULL), 0);
	assert_true(b.reused);
	assert_string_equal(a.path, b.path);
	/* Damage the stored copy (same length, other bytes): the next put
	 * notices and writes it whole again. */
	f = fopen(a.path, "r+");
	assert_non_null(f);
	fputc('X', f);
	fclose(f);
	err_clear(&e);
	assert_int_equal(asset_verify(a.path, a.sha256, &e), -1);
	assert_int_equal(e.code, ERR_INPUT);
	assert_int_equal(asset_put(root, bytes, sizeof bytes, "png", &c, NULL), 0);
	assert_false(c.reused);
	assert_int_equal(asset_verify(c.path, c.sha256, NULL), 0);
	asset_ref_clear(&a);
	asset_ref_clear(&b);
	asset_ref_clear(&c);
}

static void test_bad_arguments(void **state)
{
	struct asset_ref ref;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(asset_put(root, "x", 1, "../x", &ref, &e), -1);
	assert_null(ref.path);
	assert_int_equal(asset_put("", "x", 1, "png", &ref, &e), -1);
	assert_int_equal(e.code, ERR_CONFIG);
	/* A root that cannot be created names the path. */
	assert_int_equal(asset_put("/proc/no-such/assets", "x", 1, "png", &ref, &e), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, "/proc/no-such"));
	assert_string_equal(asset_ext_for_mime("image/webp"), "webp");
	assert_null(asset_ext_for_mime("text/html"));
}

/* Eight processes store the same 1 MiB at once: all succeed, one file. */
static void test_concurrent_writers(void **state)
{
	size_t len = 1 << 20;
	char *bytes = malloc(len), dir[256];
	struct asset_ref ref;
	pid_t kids[8];
	int status;

	(void)state;
	assert_non_null(bytes);
	for (size_t i = 0; i < len; i++)
		bytes[i] = (char)(i * 2654435761u >> 24);
	for (int k = 0; k < 8; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			struct asset_ref r;
			int rc = asset_put(root, bytes, len, "webp", &r, NULL);

			asset_ref_clear(&r);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	for (int k = 0; k < 8; k++) {
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(asset_put(root, bytes, len, "webp", &ref, NULL), 0);
	assert_true(ref.reused);
	snprintf(dir, sizeof dir, "%s/%.2s/%.2s", root, ref.sha256, ref.sha256 + 2);
	assert_int_equal(entries(dir), 1);
	asset_ref_clear(&ref);
	free(bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_layout_and_bytes),
		cmocka_unit_test(test_reuse_and_repair),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_concurrent_writers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
