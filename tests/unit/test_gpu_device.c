/* test_gpu_device.c: gpu/ as linked into skugen's library: the device layer
 * answers truthfully (with CUDA compiled in and no device: "no CUDA device:
 * <why>"; without CUDA: "no CUDA compiled in"), the op tables are what
 * media/ picks between, and where a device exists the CUDA table agrees
 * with the CPU one on a small image.  gpu/'s own tests (make -C gpu test)
 * go much further; this checks the integration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "gpu/device.h"
#include "gpu/ops.h"

static void test_device_answers_truthfully(void **state)
{
	char why[256];
	struct err e;
	int n = gpu_device_count();

	(void)state;
	assert_true(n >= 0);
	gpu_device_describe(why, sizeof why);
	assert_true(strlen(why) > 0);
	err_clear(&e);
	if (n == 0) {
		assert_null(gpu_ops_cuda());
		assert_int_equal(gpu_device_require(&e), -1);
		assert_non_null(strstr(e.msg, "device gpu: no CUDA"));
		assert_true(strncmp(why, "no CUDA", 7) == 0);
	} else {
		assert_non_null(gpu_ops_cuda());
		assert_string_equal(gpu_ops_cuda()->name, "cuda");
		assert_int_equal(gpu_device_require(&e), 0);
	}
}

static void test_pinned_memory(void **state)
{
	struct err e;
	unsigned char *p = gpu_pinned_alloc(1 << 20, &e);

	(void)state;
	assert_non_null(p);
	memset(p, 0xab, 1 << 20);
	assert_int_equal(p[(1 << 20) - 1], 0xab);
	gpu_pinned_free(p);
	gpu_pinned_free(NULL);
}

/* A studio shot (a dark square on white) through the CPU table's matte and
 * blur, and through the CUDA table's when there is one. */
static void test_tables_agree(void **state)
{
	struct gpu_matte_params mp = { 6.0f, 14.0f, 3, 1.0f };
	struct gpu_matte_stats sa, sb;
	struct gpu_image src, a, b;
	const struct gpu_ops *cu = gpu_ops_cuda();
	struct err e;
	int x, y, i, worst = 0;

	(void)state;
	assert_string_equal(gpu_ops_ref.name, "cpu");
	assert_int_equal(gpu_image_alloc(&src, 120, 90, 3, &e), 0);
	assert_int_equal(gpu_image_alloc(&a, 120, 90, 1, &e), 0);
	assert_int_equal(gpu_image_alloc(&b, 120, 90, 1, &e), 0);
	for (y = 0; y < 90; y++)
		for (x = 0; x < 120; x++) {
			uint8_t *p = gpu_image_px(&src, x, y);
			int in = x >= 30 && x < 90 && y >= 20 && y < 70;

			p[0] = in ? 40 : 250;
			p[1] = in ? 90 : 250;
			p[2] = in ? 30 : 250;
		}
	assert_int_equal(gpu_ops_ref.matte(&src, &a, &mp, &sa, &e), 0);
	assert_int_equal(a.data[45 * 120 + 60], 255);
	assert_int_equal(a.data[2 * 120 + 2], 0);
	assert_true(sa.coverage > 0.26 && sa.coverage < 0.30);   /* 60 x 50 of 120 x 90 */
	if (cu) {
		assert_int_equal(cu->matte(&src, &b, &mp, &sb, &e), 0);
		for (i = 0; i < 120 * 90; i++)
			worst = abs(a.data[i] - b.data[i]) > worst ? abs(a.data[i] - b.data[i]) : worst;
		assert_true(worst <= 2);
		assert_memory_equal(sa.bg_rgb, sb.bg_rgb, 3);
	}
	gpu_image_release(&src);
	gpu_image_release(&a);
	gpu_image_release(&b);
	gpu_image_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_answers_truthfully),
		cmocka_unit_test(test_pinned_memory),
		cmocka_unit_test(test_tables_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
