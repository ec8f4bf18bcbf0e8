/* bench_util.h: what the benchmarks (bench/NAME/) share: a monotonic clock,
 * a comparator for sorting samples, removing a scratch folder, writing a
 * file, and the embedded store started or stopped through the skugen binary.
 * Linked into every benchmark (Makefile: bench_objs). */
#ifndef SKUGEN_BENCH_UTIL_H
#define SKUGEN_BENCH_UTIL_H

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

/* qsort comparator for doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);

/* Remove path and everything below it (not following links); errors ignored. */
void bench_rm_rf(const char *path);

/* Write text to dir/name: 0, or -1 when it could not be written. */
int bench_write_file(const char *dir, const char *name, const char *text);

/* `SKUGEN_HOME=home skugen db ACTION` (start or stop); for start, *dsn is the
 * first line of its output (new; free it).  -1, after a line on stderr, when
 * the command fails. */
int bench_skugen_db(const char *skugen, const char *home, const char *action, char **dsn);

#endif
