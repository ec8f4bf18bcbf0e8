/* bench_util.h: what the benchmarks (bench/NAME/) share: a monotonic clock,
 * a comparator for sorting samples, removing a scratch folder, writing a
 * file, the embedded store started or stopped through the skugen binary,
 * and a scratch database on a server of one's own or the one named.
 * Linked into every benchmark (Makefile: bench_objs). */
#ifndef SKUGEN_BENCH_UTIL_H
#define SKUGEN_BENCH_UTIL_H

#include <limits.h>
#include <stdbool.h>

#include <libpq-fe.h>

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

/* A database made for one benchmark run and dropped after it. */
struct bench_db {
	char *dsn;             /* the new database's conninfo (owned) */
	PGconn *admin;         /* the server's default database, to drop it */
	char name[64];         /* PREFIX_PID */
	char *server_dsn;      /* owned */
	char skugen[PATH_MAX];
	char home[64];         /* the private cluster's SKUGEN_HOME, "" when none */
};

/* Make the database prefix_<pid> (dropped first if there): on the server
 * $SKUGEN_BENCH_DSN names, else on a private cluster that `skugen db start`
 * starts under a new /tmp/skugen-bench-<tag>-XXXXXX, skugen being
 * $SKUGEN_BIN or ../skugen beside this program's folder (build/bench/NAME ->
 * build/skugen).  d->dsn reaches it.  -1, after a line on stderr, on failure;
 * bench_db_drop cleans up either way. */
int bench_db_make(struct bench_db *d, const char *tag, const char *prefix);

/* Drop the database (WITH FORCE), stop and remove the private cluster if one
 * was started, free d's strings.  A zeroed d is fine. */
void bench_db_drop(struct bench_db *d);

#endif
