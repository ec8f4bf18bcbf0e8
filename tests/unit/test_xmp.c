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
#include "common/utf8.h"
#include "media/image.h"
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

/* A camera's photo carries dozens of EXIF items (more than any fixed list
 * would hold): the saved file keeps none of them, GPS and serial numbers
 * above all, only skugen's XMP. */
static void test_camera_metadata_is_dropped(void **state)
{
	struct xmp_info info = { .digital_source_type = XMP_DST_ENHANCED, .sku = "CAM-1",
				 .generator = "image", .generator_version = "1", .model = "local-cpu",
				 .template_sha256 = tmpl_sha, .generation_id = 7 };
	struct buf xmp = BUF_INIT, cmd = BUF_INIT, saved = BUF_INIT, out = BUF_INIT;
	struct media_image *img = NULL;
	char src[64], dst[64], chunk[4096];
	struct err e;
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(xmp_packet(&info, &xmp, &e), 0);
	snprintf(src, sizeof src, "/tmp/skugen-cam-%d.jpg", (int)getpid());
	snprintf(dst, sizeof dst, "/tmp/skugen-cam-%d-out.jpg", (int)getpid());
	{
		struct buf empty = BUF_INIT;
		char *p = save_with_xmp(&empty, ".jpg");

		assert_int_equal(rename(p, src), 0);
		free(p);
	}
	buf_printf(&cmd, "exiftool -q -overwrite_original -Make=Cam -Model=X100 -SerialNumber=SN-4711"
		   " -LensSerialNumber=LSN-99 -LensMake=Lensco -GPSLatitude=48.1 -GPSLatitudeRef=N"
		   " -GPSLongitude=11.5 -GPSLongitudeRef=E -GPSAltitude=520 -Artist=Someone");
	for (int i = 0; i < 70; i++)
		buf_printf(&cmd, " -UserComment=c%d -ImageUniqueID=%032d -XPKeywords=k%d", i, i, i);
	buf_printf(&cmd, " -Software=s -Copyright=c -ImageDescription=d -ExposureTime=1/60 -FNumber=2.8"
		   " -ISO=200 -FocalLength=35 -DateTimeOriginal='2026:01:01 10:00:00' -OwnerName=o"
		   " -BodySerialNumber=BSN-1 -CameraOwnerName=o -LensModel=L -Saturation=Normal"
		   " -Contrast=Normal -Sharpness=Normal -WhiteBalance=Auto -SceneCaptureType=Standard"
		   " -Flash=0 -MeteringMode=5 -ExposureProgram=2 -ExposureMode=0 -BrightnessValue=5"
		   " -SubjectDistanceRange=0 -DigitalZoomRatio=1"
		   " -FocalLengthIn35mmFormat=35 -MaxApertureValue=2 -ExposureCompensation=0"
		   " -GPSSpeed=0 -GPSImgDirection=90 -GPSDateStamp=2026:01:01 -GPSTimeStamp=10:00:00"
		   " -GPSMapDatum=WGS-84 -GPSDestLatitude=48.2 -GPSDestLongitude=11.6 '%s'", src);
	assert_int_equal(system(buf_str(&cmd)), 0);
	/* libvips sees them as separate items: more than 64 of them. */
	assert_int_equal(media_image_load_file(src, NULL, "sku \"CAM-1\"", &img, &e), 0);
	assert_int_equal(media_save(img, MEDIA_FORMAT_JPEG, 85, xmp.data, xmp.len, &saved, &e), 0);
	f = fopen(dst, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(saved.data, 1, saved.len, f), saved.len);
	fclose(f);
	buf_reset(&cmd);
	buf_printf(&cmd, "exiftool -s -s -s -EXIF:all '%s'", dst);
	f = popen(buf_str(&cmd), "r");
	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&out, chunk, n);
	pclose(f);
	if (strstr(buf_str(&out), "48") || strstr(buf_str(&out), "SN-") || strstr(buf_str(&out), "Lensco"))
		fail_msg("camera metadata survived: %s", buf_str(&out));
	{
		json_t *doc = exiftool_xmp(dst);

		assert_string_equal(field(doc, "XMP-skugen:Sku"), "CAM-1");
		json_decref(doc);
	}
	/* A packet larger than a JPEG's XMP segment is refused, not dropped. */
	{
		struct buf big = BUF_INIT;

		buf_append(&big, xmp.data, xmp.len);
		while (big.len < 70000)
			buf_puts(&big, "<!-- padding padding padding padding padding padding -->");
		buf_reset(&saved);
		assert_int_equal(media_save(img, MEDIA_FORMAT_JPEG, 85, big.data, big.len, &saved, &e), -1);
		assert_non_null(strstr(e.msg, "more than a JPEG holds"));
		buf_free(&big);
	}
	media_image_free(img);
	unlink(src);
	unlink(dst);
	buf_free(&xmp);
	buf_free(&cmd);
	buf_free(&saved);
	buf_free(&out);
}

/* Alt text is cut on a character boundary, so the packet stays small. */
static void test_alt_text_is_bounded(void **state)
{
	struct xmp_info info = { .digital_source_type = XMP_DST_COMPOSITE, .sku = "A-1",
				 .generator = "image", .generator_version = "1", .model = "m",
				 .template_sha256 = tmpl_sha };
	struct buf alt = BUF_INIT, xmp = BUF_INIT;
	struct err e;

	(void)state;
	for (int i = 0; i < 3000; i++)
		buf_puts(&alt, "\xc3\xa4");   /* "ä": 2 bytes */
	info.alt_text = alt.data;
	info.alt_len = alt.len;
	assert_int_equal(xmp_packet(&info, &xmp, &e), 0);
	assert_true(xmp.len < 4000);
	assert_true(utf8_valid(xmp.data, xmp.len, NULL));
	buf_free(&alt);
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
		cmocka_unit_test(test_camera_metadata_is_dropped),
		cmocka_unit_test(test_alt_text_is_bounded),
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
