/* test_xmp.c: the XMP packet that marks every file, read back by an
 * independent tool: libvips embeds the packet in a JPEG, a PNG and a WebP,
 * and exiftool (Phil Harvey's, not libvips) must find the IPTC
 * DigitalSourceType and every skugen field in each.  Hostile values (quotes,
 * angle brackets, ampersands, control characters) must come back intact or,
 * for control characters, dropped: never break the XML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <vips/vips.h>

#include "common/buf.h"
#include "media/xmp.h"

static const char *const tmpl_sha = "0f3c1b7e9d2a4c6b8e0f1a3c5e7b9d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b";

/* Save a small RGB image with the packet as fmt (".jpg", ".png", ".webp") to
 * a temporary file; return its path (free it). */
static char *save_with_xmp(const struct buf *xmp, const char *fmt)
{
	VipsImage *img = NULL, *rgb = NULL;
	char *path = malloc(64);

	assert_non_null(path);
	snprintf(path, 64, "/tmp/skugen-xmp-%d%s", (int)getpid(), fmt);
	assert_int_equal(vips_black(&img, 32, 24, "bands", 3, NULL), 0);
	assert_int_equal(vips_linear1(img, &rgb, 1.0, 200.0, NULL), 0);
	g_object_unref(img);
	assert_int_equal(vips_cast_uchar(rgb, &img, NULL), 0);
	g_object_unref(rgb);
	vips_image_set_blob_copy(img, "xmp-data", xmp->data, xmp->len);
	assert_int_equal(vips_image_write_to_file(img, path, NULL), 0);
	g_object_unref(img);
	return path;
}

/* exiftool's JSON for one file's XMP, as an object (new reference). */
static json_t *exiftool_xmp(const char *path)
{
	struct buf out = BUF_INIT;
	char cmd[256], chunk[4096];
	json_error_t je;
	json_t *doc, *first;
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof cmd, "exiftool -j -G1 -XMP:all '%s' 2>&1", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		buf_append(&out, chunk, n);
	assert_int_equal(pclose(p), 0);
	doc = json_loads(buf_str(&out), 0, &je);
	if (!doc)
		fail_msg("exiftool said: %s", buf_str(&out));
	first = json_incref(json_array_get(doc, 0));
	json_decref(doc);
	buf_free(&out);
	assert_non_null(first);
	return first;
}

static const char *field(const json_t *doc, const char *name)
{
	json_t *v = json_object_get(doc, name);

	if (json_is_integer(v)) {
		static char text[32];

		snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
		return text;
	}
	if (!json_is_string(v))
		fail_msg("exiftool has no %s", name);
	return json_string_value(v);
}

static void check_format(const char *fmt)
{
	static const char alt[] = "Kiln \"Mug\" <glazed> & fired\nstoneware";
	struct xmp_info info = {
		.digital_source_type = XMP_DST_COMPOSITE_TRAINED, .generation_id = 8123, .run_id = 77,
		.sku = "A&B <\"quoted\"> \x01sku", .generator = "image", .generator_version = "1",
		.model = "fal-ai/bria/product-shot", .template_sha256 = tmpl_sha,
		.source_sha256 = "ab", .preset = "amazon_main",
		.alt_text = alt, .alt_len = sizeof alt - 1,
	};
	struct buf xmp = BUF_INIT;
	char *path;
	json_t *doc;

	assert_int_equal(xmp_packet(&info, &xmp, NULL), 0);
	path = save_with_xmp(&xmp, fmt);
	doc = exiftool_xmp(path);
	assert_string_equal(field(doc, "XMP-iptcExt:DigitalSourceType"), XMP_DST_COMPOSITE_TRAINED);
	assert_string_equal(field(doc, "XMP-skugen:GenerationId"), "8123");
	assert_string_equal(field(doc, "XMP-skugen:RunId"), "77");
	assert_string_equal(field(doc, "XMP-skugen:Sku"), "A&B <\"quoted\"> sku");
	assert_string_equal(field(doc, "XMP-skugen:Generator"), "image");
	assert_string_equal(field(doc, "XMP-skugen:Model"), "fal-ai/bria/product-shot");
	assert_string_equal(field(doc, "XMP-skugen:TemplateSha256"), tmpl_sha);
	assert_string_equal(field(doc, "XMP-skugen:Preset"), "amazon_main");
	assert_true(strncmp(field(doc, "XMP-xmp:CreatorTool"), "skugen ", 7) == 0);
	assert_string_equal(field(doc, "XMP-iptcCore:AltTextAccessibility"), "Kiln \"Mug\" <glazed> & fired\nstoneware");
	json_decref(doc);
	unlink(path);
	free(path);
	buf_free(&xmp);
}

static void test_jpeg(void **state) { (void)state; check_format(".jpg"); }
static void test_png(void **state) { (void)state; check_format(".png"); }
static void test_webp(void **state) { (void)state; check_format(".webp"); }

static void test_requires_iptc_term(void **state)
{
	struct xmp_info info = { .digital_source_type = "ai-made" };
	struct buf xmp = BUF_INIT;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(xmp_packet(&info, &xmp, &e), -1);
	assert_non_null(strstr(e.msg, "IPTC"));
	info.digital_source_type = NULL;
	assert_int_equal(xmp_packet(&info, &xmp, &e), -1);
	info.digital_source_type = XMP_DST_TRAINED;
	info.model = "bad \xff utf-8";
	assert_int_equal(xmp_packet(&info, &xmp, &e), -1);
	assert_non_null(strstr(e.msg, "model"));
	buf_free(&xmp);
}

/* Absent fields are left out, not written empty. */
static void test_absent_fields(void **state)
{
	struct xmp_info info = { .digital_source_type = XMP_DST_ENHANCED, .sku = "S-1" };
	struct buf xmp = BUF_INIT;

	(void)state;
	assert_int_equal(xmp_packet(&info, &xmp, NULL), 0);
	assert_non_null(strstr(xmp.data, "algorithmicallyEnhanced"));
	assert_null(strstr(xmp.data, "GenerationId"));
	assert_null(strstr(xmp.data, "skugen:Model"));
	assert_null(strstr(xmp.data, "AltTextAccessibility>"));
	buf_free(&xmp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jpeg),
		cmocka_unit_test(test_png),
		cmocka_unit_test(test_webp),
		cmocka_unit_test(test_requires_iptc_term),
		cmocka_unit_test(test_absent_fields),
	};
	int rc;

	(void)argc;
	if (VIPS_INIT(argv[0]))
		return 1;
	if (system("exiftool -ver >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP exiftool is not installed (scripts/install-deps)\n");
		return 0;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	vips_shutdown();
	return rc;
}
