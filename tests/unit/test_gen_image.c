/* test_gen_image.c: the `image` generator on its own, without a store: image
 * outputs' options from a real configuration, a procedural studio photo
 * (examples/tools/example_photos), a channel image and a lifestyle shot into
 * an asset store, each file marked (exiftool reads the DigitalSourceType the
 * mode calls for), and bad photos failing with the SKU, the field and the
 * problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/settings.h"
#include "batch/image_opts.h"
#include "common/buf.h"
#include "common/file_read.h"
#include "common/hash.h"
#include "media/asset.h"
#include "media/xmp.h"
#include "providers/generator.h"

extern const struct gen_ops gen_image_ops;

static char dir[64];
static struct settings s;
static struct gen *g;

static void write_file(const char *name, const char *text, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static int setup(void **state)
{
	static const char cfg[] =
		"{ \"source\": { \"type\": \"file\", \"path\": \"catalog.jsonl\" },\n"
		"  \"locales\": [\"en_US\", \"de_DE\"],\n"
		"  \"assets\": { \"root\": \"store\" },\n"
		"  \"presets\": { \"small\": { \"base\": \"amazon_main\", \"long_side\": 400 },\n"
		"               \"tile\": { \"width\": 320, \"height\": 240, \"format\": \"webp\" } },\n"
		"  \"generators\": { \"studio\": { \"type\": \"image\" } },\n"
		"  \"outputs\": [\n"
		"    { \"name\": \"main\", \"kind\": \"image\", \"generator\": \"studio\", \"preset\": \"small\" },\n"
		"    { \"name\": \"room\", \"kind\": \"image\", \"generator\": \"studio\", \"preset\": \"tile\",\n"
		"      \"scenes\": \"scenes\", \"placement\": { \"fill\": 0.4, \"floor\": 0.8 } } ] }\n";
	static const char catalog[] =
		"{\"sku\": \"G-1\", \"image\": \"photos/g1.png\", \"category\": \"home\", \"colours\": [\"Rust\"]}\n"
		"{\"sku\": \"G-2\", \"image\": \"photos/g2.jpg\", \"category\": \"footwear\", \"colours\": [\"White\"]}\n";
	char cmd[512];
	struct err e;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/skugen-genimg-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	write_file("skugen.json", cfg, sizeof cfg - 1);
	write_file("catalog.jsonl", catalog, sizeof catalog - 1);
	/* tests/run says where the build is: SKUGEN_BIN is BUILD/skugen. */
	{
		const char *bin = getenv("SKUGEN_BIN") ? getenv("SKUGEN_BIN") : "build/skugen";
		const char *slash = strrchr(bin, '/');

		snprintf(cmd, sizeof cmd, "%.*s/tools/example_photos %s/catalog.jsonl %s >/dev/null",
			 slash ? (int)(slash - bin) : 1, slash ? bin : ".", dir, dir);
	}
	if (system(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof cmd, "%s/skugen.json", dir);
	err_clear(&e);
	if (settings_load(&s, cmd, false, &e) < 0 || settings_require_pipeline(&s, &e) < 0) {
		fprintf(stderr, "settings: %s\n", e.msg);
		return -1;
	}
	setenv("SKUGEN_DEVICE", "cpu", 1);
	if (gen_image_ops.open(&g, "studio", NULL, &e) < 0) {
		fprintf(stderr, "open: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	gen_image_ops.close(g);
	settings_free(&s);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Generate for output i with the photo field set to photo. */
static int generate(size_t i, const char *sku, const char *photo, struct gen_result *res, struct err *e)
{
	json_t *input = json_pack("{s:s}", "image", photo);
	struct gen_request req = {
		.sku = sku, .output = s.outputs[i].name, .kind = "image", .locale = "en_US", .channel = "",
		.prompt = "Brand Thing on white", .prompt_len = 20, .input = input, .run_id = 7, .task_id = 70,
		.generation_id = 700, .template_sha256 = "feedface",
		.options = s.outputs[i].image->resolved,
	};
	int rc;

	memset(res, 0, sizeof *res);
	err_clear(e);
	rc = gen_image_ops.generate(g, &req, res, e);
	json_decref(input);
	return rc;
}

static json_t *exif(const char *path)
{
	struct buf out = BUF_INIT;
	char cmd[512], chunk[4096];
	json_t *doc, *first;
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof cmd, "exiftool -j -G1 -XMP:all -ImageWidth -ImageHeight '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		buf_append(&out, chunk, n);
	pclose(p);
	doc = json_loads(buf_str(&out), 0, NULL);
	first = json_incref(json_array_get(doc, 0));
	json_decref(doc);
	buf_free(&out);
	assert_non_null(first);
	return first;
}

static void test_channel_image(void **state)
{
	struct gen_result res;
	struct err e;
	json_t *desc, *x;
	struct buf bytes = BUF_INIT;
	char sha[HASH_HEX_LEN];

	(void)state;
	if (generate(0, "G-1", "photos/g1.png", &res, &e) < 0)
		fail_msg("generate: %s", e.msg);
	assert_non_null(res.asset_path);
	assert_non_null(strstr(res.asset_path, "/store/"));
	assert_int_equal(asset_verify(res.asset_path, res.asset_sha256, NULL), 0);
	desc = json_loads(buf_str(&res.content), 0, NULL);
	assert_non_null(desc);
	assert_string_equal(json_string_value(json_object_get(desc, "mime")), "image/jpeg");
	assert_string_equal(json_string_value(json_object_get(desc, "digital_source_type")), XMP_DST_ENHANCED);
	assert_int_equal(json_integer_value(json_object_get(desc, "width")) > json_integer_value(json_object_get(desc, "height"))
			 ? json_integer_value(json_object_get(desc, "width")) : json_integer_value(json_object_get(desc, "height")), 400);
	/* The source photo's sha256 is the file's. */
	{
		char path[256];

		snprintf(path, sizeof path, "%s/photos/g1.png", dir);
		assert_int_equal(file_read_all(path, &bytes, NULL), 0);
		sha256_hex(bytes.data, bytes.len, sha);
		assert_string_equal(json_string_value(json_object_get(json_object_get(desc, "source"), "sha256")), sha);
	}
	x = exif(res.asset_path);
	assert_string_equal(json_string_value(json_object_get(x, "XMP-iptcExt:DigitalSourceType")), XMP_DST_ENHANCED);
	assert_int_equal(json_integer_value(json_object_get(x, "XMP-skugen:GenerationId")), 700);
	assert_string_equal(json_string_value(json_object_get(x, "XMP-skugen:Sku")), "G-1");
	assert_string_equal(json_string_value(json_object_get(x, "XMP-skugen:TemplateSha256")), "feedface");
	assert_string_equal(json_string_value(json_object_get(x, "XMP-skugen:SourceSha256")), sha);
	assert_string_equal(json_string_value(json_object_get(x, "XMP-skugen:Generator")), "image");
	json_decref(x);
	json_decref(desc);
	buf_free(&bytes);
	gen_result_clear(&res);
}

static void test_lifestyle_image(void **state)
{
	struct gen_result res;
	struct err e;
	json_t *desc, *x;

	(void)state;
	if (generate(1, "G-2", "photos/g2.jpg", &res, &e) < 0)
		fail_msg("generate: %s", e.msg);
	desc = json_loads(buf_str(&res.content), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(desc, "mime")), "image/webp");
	assert_int_equal(json_integer_value(json_object_get(desc, "width")), 320);
	assert_int_equal(json_integer_value(json_object_get(desc, "height")), 240);
	assert_non_null(strstr(json_string_value(json_object_get(desc, "scene")), ".jpg"));
	assert_non_null(strstr(res.asset_path, ".webp"));
	x = exif(res.asset_path);
	assert_string_equal(json_string_value(json_object_get(x, "XMP-iptcExt:DigitalSourceType")), XMP_DST_COMPOSITE);
	json_decref(x);
	json_decref(desc);
	gen_result_clear(&res);
}

/* The same request twice: the same bytes, stored once. */
static void test_deterministic(void **state)
{
	struct gen_result a, b;
	struct err e;

	(void)state;
	assert_int_equal(generate(0, "G-2", "photos/g2.jpg", &a, &e), 0);
	assert_int_equal(generate(0, "G-2", "photos/g2.jpg", &b, &e), 0);
	assert_string_equal(a.asset_sha256, b.asset_sha256);
	gen_result_clear(&a);
	gen_result_clear(&b);
}

static void expect_failure(const char *photo, const char *needle)
{
	struct gen_result res;
	struct err e;

	if (generate(0, "B-1", photo, &res, &e) == 0)
		fail_msg("%s: expected a failure", photo);
	assert_int_equal(e.code, ERR_INPUT);
	if (!strstr(e.msg, "sku \"B-1\"") || !strstr(e.msg, "field \"image\"") || !strstr(e.msg, needle))
		fail_msg("%s: message \"%s\" lacks the SKU, the field or \"%s\"", photo, e.msg, needle);
	assert_null(res.asset_path);
	gen_result_clear(&res);
}

static void test_bad_photos(void **state)
{
	struct buf jpg = BUF_INIT;
	char path[256];

	(void)state;
	write_file("photos/notes.png", "this is text, not an image\n", 27);
	write_file("photos/empty.png", "", 0);
	snprintf(path, sizeof path, "%s/photos/g2.jpg", dir);
	assert_int_equal(file_read_all(path, &jpg, NULL), 0);
	write_file("photos/half.jpg", jpg.data, jpg.len / 2);
	buf_free(&jpg);
	expect_failure("photos/missing.png", "missing.png");
	expect_failure("photos/notes.png", "");
	expect_failure("photos/empty.png", "empty");
	expect_failure("photos/half.jpg", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_channel_image),
		cmocka_unit_test(test_lifestyle_image),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_bad_photos),
	};

	if (system("exiftool -ver >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP exiftool is not installed (scripts/install-deps)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
