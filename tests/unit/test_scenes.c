/* test_scenes.c: the scene folder: image files only, sorted, hashed; a SKU's
 * scene is the same on every call and in every process; adding a scene moves
 * only some SKUs (about 1/n of them), and an empty or missing folder is a
 * configuration error naming it. */
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

#include "common/hash.h"
#include "media/scenes.h"

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/skugen-scenes-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_listing(void **state)
{
	struct media_scenes *s = NULL;
	struct err e;
	char sha[HASH_HEX_LEN], sub[128];

	(void)state;
	err_clear(&e);
	assert_int_equal(media_scenes_open(dir, &s, &e), -1);
	assert_int_equal(e.code, ERR_CONFIG);
	assert_non_null(strstr(e.msg, dir));
	assert_non_null(strstr(e.msg, "no scene"));
	put("b-kitchen.jpg", "kitchen");
	put("a-desk.PNG", "desk");
	put("notes.txt", "not a scene");
	put(".hidden.jpg", "hidden");
	snprintf(sub, sizeof sub, "%s/folder.jpg", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(media_scenes_open(dir, &s, &e), 0);
	assert_int_equal(s->n, 2);
	assert_string_equal(s->items[0].name, "a-desk.PNG");
	assert_string_equal(s->items[1].name, "b-kitchen.jpg");
	sha256_hex("kitchen", 7, sha);
	assert_string_equal(s->items[1].sha256, sha);
	media_scenes_free(s);
	media_scenes_free(NULL);
	assert_int_equal(media_scenes_open("/no/such/scenes", &s, &e), -1);
	assert_non_null(strstr(e.msg, "/no/such/scenes"));
}

static void test_pick_is_stable(void **state)
{
	struct media_scenes *three = NULL, *four = NULL;
	int moved = 0, used[4] = { 0 };
	char sku[32];

	(void)state;
	put("c-garden.webp", "garden");
	assert_int_equal(media_scenes_open(dir, &three, NULL), 0);
	assert_int_equal(three->n, 3);
	put("d-loft.jpeg", "loft");
	assert_int_equal(media_scenes_open(dir, &four, NULL), 0);
	assert_int_equal(four->n, 4);
	for (int i = 0; i < 4000; i++) {
		const struct media_scene *a, *b;

		snprintf(sku, sizeof sku, "SKU-%05d", i);
		a = media_scenes_pick(three, sku);
		assert_ptr_equal(a, media_scenes_pick(three, sku));   /* the same every time */
		b = media_scenes_pick(four, sku);
		used[b - four->items]++;
		if (strcmp(a->name, b->name) != 0)
			moved++;
	}
	/* Every scene gets used, roughly evenly. */
	for (int k = 0; k < 4; k++)
		assert_true(used[k] > 700 && used[k] < 1300);
	/* Adding a fourth scene moves only the SKUs it wins, about a quarter,
	 * and each of those to the new scene. */
	assert_true(moved > 700 && moved < 1300);
	assert_int_equal(moved, used[3]);
	assert_null(media_scenes_pick(NULL, "x"));
	media_scenes_free(three);
	media_scenes_free(four);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_pick_is_stable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
