/* tap.h: a few lines of TAP (Test Anything Protocol) for gpu/'s test
 * programs, with no library behind them: each case prints "ok N - name" or
 * "not ok N - name" with the reason as a "#" comment; a case that cannot run
 * here prints "ok N # SKIP reason".  tap_done() prints the plan and returns
 * the exit status (1 when anything failed). */
#ifndef SKUGEN_GPU_TAP_H
#define SKUGEN_GPU_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused))
static int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 1, 2), unused))
static void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

__attribute__((unused))
static void tap_skip(const char *name, const char *why)
{
	tap_n++;
	printf("ok %d - %s # SKIP %s\n", tap_n, name, why);
}

__attribute__((unused))
static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

/* A seed from GPU_TEST_SEED, else from the clock; printed so a failure can
 * be repeated. */
__attribute__((unused))
static unsigned long tap_seed(void)
{
	const char *s = getenv("GPU_TEST_SEED");
	unsigned long seed;
	struct timespec ts;

	if (s && *s) {
		seed = strtoul(s, NULL, 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned long)ts.tv_nsec ^ ((unsigned long)ts.tv_sec << 20);
	}
	printf("# seed %lu (GPU_TEST_SEED=%lu repeats it)\n", seed, seed);
	return seed;
}

#endif
