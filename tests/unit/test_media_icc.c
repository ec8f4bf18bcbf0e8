/* test_media_icc.c: telling an sRGB profile from others (media/icc_srgb.c),
 * and decoding that skips the transform only for sRGB.
 *
 * The profiles are libvips's own (srgb, p3, cmyk) and copies of the sRGB one
 * altered by hand: a colorant moved, a tone curve bent, cut short, a size
 * or tag count that lies, tone curves made short tables that are exact at
 * their entries but not between them (where lcms interpolates).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bytes.h"
#include "media/icc_srgb.h"
#include "media/image_int.h"

static int setup(void **state)
{
	struct err e;

	(void)state;
	return media_init(&e);
}

/* A copy of libvips's profile name (free it); *n its size. */
static uint8_t *profile(const char *name, size_t *n)
{
	VipsBlob *b = NULL;
	const void *d;
	uint8_t *p;

	assert_int_equal(vips_profile_load(name, &b, NULL), 0);
	assert_non_null(b);
	d = vips_blob_get(b, n);
	p = malloc(*n);
	assert_non_null(p);
	memcpy(p, d, *n);
	vips_area_unref(VIPS_AREA(b));
	return p;
}

/* Where tag sig's data starts in profile p (the test's own lookup). */
static uint8_t *tag(uint8_t *p, const char *sig)
{
	uint32_t count = bytes_be32(p + 128);

	for (uint32_t i = 0; i < count; i++)
		if (!memcmp(p + 132 + 12 * i, sig, 4))
			return p + bytes_be32(p + 132 + 12 * i + 4);
	fail_msg("no %s tag", sig);
	return NULL;
}

static double srgb_to_linear(double v)
{
	return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

/* The three tone curves of profile p rewritten in place as count-entry curv
 * tables sampled on the sRGB curve (libvips's tables leave room). */
static void sampled_curves(uint8_t *p, uint32_t count)
{
	static const char *const trc[3] = { "rTRC", "gTRC", "bTRC" };

	for (int ch = 0; ch < 3; ch++) {
		uint8_t *t = tag(p, trc[ch]);

		assert_memory_equal(t, "curv", 4);
		assert_true(count <= bytes_be32(t + 8));
		bytes_put_be32(t + 8, count);
		for (uint32_t i = 0; i < count; i++) {
			long v = lround(srgb_to_linear((double)i / (count - 1)) * 65535);

			t[12 + 2 * i] = (uint8_t)(v >> 8);
			t[13 + 2 * i] = (uint8_t)v;
		}
	}
}

static void test_libvips_profiles(void **state)
{
	const char *others[] = { "p3", "cmyk" };
	size_t n;
	uint8_t *p = profile("srgb", &n);

	(void)state;
	assert_true(media_icc_is_srgb(p, n));
	free(p);
	for (size_t i = 0; i < 2; i++) {
		p = profile(others[i], &n);
		assert_false(media_icc_is_srgb(p, n));
		free(p);
	}
	assert_false(media_icc_is_srgb(NULL, 0));
}

static void test_altered_srgb_is_not_srgb(void **state)
{
	size_t n;
	uint8_t *good = profile("srgb", &n), *p = malloc(n), *t;

	(void)state;
	assert_non_null(p);
	/* red's X colorant moved by 0.01 */
	memcpy(p, good, n);
	t = tag(p, "rXYZ") + 8;
	bytes_put_be32(t, bytes_be32(t) + 655);
	assert_false(media_icc_is_srgb(p, n));
	/* green's tone curve bent: a curv table's middle entry, or a para
	 * curve's gamma, raised */
	memcpy(p, good, n);
	t = tag(p, "gTRC");
	if (!memcmp(t, "curv", 4)) {
		uint32_t count = bytes_be32(t + 8);
		uint8_t *e = t + 12 + 2 * (count / 2);
		int v = bytes_be16(e) + 200;

		e[0] = (uint8_t)(v >> 8);
		e[1] = (uint8_t)v;
	} else {
		bytes_put_be32(t + 12, bytes_be32(t + 12) + 3277);
	}
	assert_false(media_icc_is_srgb(p, n));
	/* tables right at every entry, wrong between: {0, 65535} is gamma 1.0
	 * (exact at 0 and 1); 3 entries give 0.107 for 0.051 at x = 0.25 */
	memcpy(p, good, n);
	sampled_curves(p, 2);
	assert_int_equal(bytes_be32(tag(p, "gTRC") + 12), 0xffff);
	assert_false(media_icc_is_srgb(p, n));
	memcpy(p, good, n);
	sampled_curves(p, 3);
	assert_false(media_icc_is_srgb(p, n));
	/* 29 sampled entries interpolate 0.51 of a level off (lcms moves some
	 * samples by one), 30 entries 0.47 (it moves none) */
	memcpy(p, good, n);
	sampled_curves(p, 29);
	assert_false(media_icc_is_srgb(p, n));
	memcpy(p, good, n);
	sampled_curves(p, 30);
	assert_true(media_icc_is_srgb(p, n));
	/* cut short, a size that lies, a tag count that lies */
	memcpy(p, good, n);
	assert_false(media_icc_is_srgb(p, n / 2));
	assert_false(media_icc_is_srgb(p, 100));
	bytes_put_be32(p, (uint32_t)n + 1000);
	assert_false(media_icc_is_srgb(p, n));
	memcpy(p, good, n);
	bytes_put_be32(p + 128, 0x10000000);
	assert_false(media_icc_is_srgb(p, n));
	/* and the unaltered copy still is */
	memcpy(p, good, n);
	assert_true(media_icc_is_srgb(p, n));
	free(p);
	free(good);
}

/* A 192 x 128 card of saturated ramps, JPEG-encoded with the named
 * profile embedded; *raw (unref it) is the plain decode, no transform. */
static void tagged_jpeg(const char *prof, void **jpeg, size_t *len, VipsImage **raw)
{
	int w = 192, h = 128;
	uint8_t *px = malloc((size_t)w * h * 3);
	VipsImage *vi, *r;

	assert_non_null(px);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *q = px + ((size_t)y * w + x) * 3;

			q[0] = (uint8_t)(x * 255 / (w - 1));
			q[1] = (uint8_t)(y * 255 / (h - 1));
			q[2] = (uint8_t)((x + y) % 256);
		}
	vi = vips_image_new_from_memory_copy(px, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
	free(px);
	vi->Type = VIPS_INTERPRETATION_sRGB;
	assert_int_equal(vips_jpegsave_buffer(vi, jpeg, len, "Q", 95, "profile", prof, NULL), 0);
	g_object_unref(vi);
	r = vips_image_new_from_buffer(*jpeg, *len, "", NULL);
	assert_non_null(r);
	*raw = vips_image_copy_memory(r);
	g_object_unref(r);
	assert_non_null(*raw);
}

/* largest |a - b| over all samples of two memory images of one shape */
static int max_diff(VipsImage *a, VipsImage *b)
{
	const uint8_t *p = VIPS_IMAGE_ADDR(a, 0, 0), *q = VIPS_IMAGE_ADDR(b, 0, 0);
	size_t n = VIPS_IMAGE_SIZEOF_IMAGE(a);
	int m = 0;

	assert_int_equal(n, VIPS_IMAGE_SIZEOF_IMAGE(b));
	for (size_t i = 0; i < n; i++)
		if (abs(p[i] - q[i]) > m)
			m = abs(p[i] - q[i]);
	return m;
}

/* Each tone curve rewritten in place as a parametric curve (the curv
 * tables leave room): sRGB's own (type 3) is sRGB, a gamma of 2.2 not. */
static void test_parametric_curves(void **state)
{
	static const char *const trc[3] = { "rTRC", "gTRC", "bTRC" };
	/* s15Fixed16: g 2.4, a 1/1.055, b 0.055/1.055, c 1/12.92, d 0.04045 */
	static const uint32_t srgb[5] = { 157286, 62119, 3417, 5072, 2651 };
	size_t n;
	uint8_t *p = profile("srgb", &n);

	(void)state;
	for (int ch = 0; ch < 3; ch++) {
		uint8_t *t = tag(p, trc[ch]);

		memset(t, 0, 32);
		memcpy(t, "para", 4);
		t[9] = 3;
		for (int k = 0; k < 5; k++)
			bytes_put_be32(t + 12 + 4 * k, srgb[k]);
	}
	assert_true(media_icc_is_srgb(p, n));
	{
		uint8_t *t = tag(p, "bTRC");

		memset(t + 8, 0, 24);
		bytes_put_be32(t + 12, 144179);   /* type 0, gamma 2.2 */
	}
	assert_false(media_icc_is_srgb(p, n));
	free(p);
}

static void test_decode_skips_only_an_srgb_transform(void **state)
{
	struct media_image *img;
	VipsImage *raw, *xf, *mem;
	struct err e;
	void *jpeg;
	size_t len;
	int d;

	(void)state;
	/* sRGB-tagged: what the transform would give, which is the pixels */
	tagged_jpeg("srgb", &jpeg, &len, &raw);
	assert_int_equal(vips_icc_transform(raw, &xf, "srgb", "embedded", TRUE, "depth", 8, NULL), 0);
	mem = vips_image_copy_memory(xf);
	assert_int_equal(media_image_load_buffer(jpeg, len, NULL, "srgb", &img, &e), 0);
	d = max_diff(img->vi, mem);
	print_message("# sRGB-tagged: decode vs transform, largest difference %d\n", d);
	assert_true(d <= 1);
	media_image_free(img);
	g_object_unref(mem);
	g_object_unref(xf);
	g_object_unref(raw);
	g_free(jpeg);

	/* P3-tagged: still transformed (P3's saturated ramps move a lot) */
	tagged_jpeg("p3", &jpeg, &len, &raw);
	assert_int_equal(media_image_load_buffer(jpeg, len, NULL, "p3", &img, &e), 0);
	d = max_diff(img->vi, raw);
	print_message("# P3-tagged: decode vs untransformed pixels, largest difference %d\n", d);
	assert_true(d > 20);
	media_image_free(img);
	g_object_unref(raw);
	g_free(jpeg);
}

/* A JPEG tagged with sRGB's primaries but gamma-1.0 curves (2-entry tables)
 * is transformed: the decode is what vips_icc_transform gives, far from the
 * untransformed pixels. */
static void test_decode_transforms_a_linear_profile(void **state)
{
	char path[] = "/tmp/test_media_icc.XXXXXX";
	struct media_image *img;
	VipsImage *raw, *xf, *mem;
	struct err e;
	void *jpeg;
	size_t n, len;
	uint8_t *p = profile("srgb", &n);
	int fd, d;

	(void)state;
	sampled_curves(p, 2);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
	free(p);
	tagged_jpeg(path, &jpeg, &len, &raw);
	unlink(path);
	assert_int_equal(vips_icc_transform(raw, &xf, "srgb", "embedded", TRUE, "depth", 8, NULL), 0);
	mem = vips_image_copy_memory(xf);
	assert_int_equal(media_image_load_buffer(jpeg, len, NULL, "linear", &img, &e), 0);
	d = max_diff(img->vi, mem);
	print_message("# linear-tagged: decode vs transform, largest difference %d\n", d);
	assert_true(d <= 1);
	d = max_diff(img->vi, raw);
	print_message("# linear-tagged: decode vs untransformed pixels, largest difference %d\n", d);
	assert_true(d > 20);
	media_image_free(img);
	g_object_unref(mem);
	g_object_unref(xf);
	g_object_unref(raw);
	g_free(jpeg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libvips_profiles),
		cmocka_unit_test(test_altered_srgb_is_not_srgb),
		cmocka_unit_test(test_parametric_curves),
		cmocka_unit_test(test_decode_skips_only_an_srgb_transform),
		cmocka_unit_test(test_decode_transforms_a_linear_profile),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
