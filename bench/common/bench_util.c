/* bench_util.c: helpers every benchmark may use (see bench_util.h). */
#include "bench/common/bench_util.h"

#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

void bench_rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int bench_write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

int bench_skugen_db(const char *skugen, const char *home, const char *action, char **dsn)
{
	char cmd[PATH_MAX * 2 + 64], line[1024] = "";
	FILE *f;

	snprintf(cmd, sizeof cmd, "SKUGEN_HOME='%s' '%s' db %s", home, skugen, action);
	if (!(f = popen(cmd, "r")))
		return -1;
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	if (pclose(f) != 0) {
		fprintf(stderr, "bench: %s failed\n", cmd);
		return -1;
	}
	line[strcspn(line, "\n")] = '\0';
	if (dsn && !(*dsn = strdup(line)))
		return -1;
	return 0;
}

static int admin_exec(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(pg));
	PQclear(r);
	return ok ? 0 : -1;
}

int bench_db_make(struct bench_db *d, const char *tag, const char *prefix)
{
	const char *given = getenv("SKUGEN_BENCH_DSN");
	char self[PATH_MAX], q[160];
	ssize_t n;

	memset(d, 0, sizeof *d);
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return -1;
	self[n] = '\0';
	snprintf(d->skugen, sizeof d->skugen, "%s/../skugen", dirname(self));
	if (getenv("SKUGEN_BIN"))
		snprintf(d->skugen, sizeof d->skugen, "%s", getenv("SKUGEN_BIN"));
	if (given && *given) {
		if (!(d->server_dsn = strdup(given)))
			return -1;
	} else {
		snprintf(d->home, sizeof d->home, "/tmp/skugen-bench-%s-XXXXXX", tag);
		/* as root, the server runs as another user, who must reach it */
		if (!mkdtemp(d->home)) {
			d->home[0] = '\0';
			fprintf(stderr, "bench: cannot make a folder for a private cluster\n");
			return -1;
		}
		if (chmod(d->home, 0755) < 0 || bench_skugen_db(d->skugen, d->home, "start", &d->server_dsn) < 0) {
			fprintf(stderr, "bench: cannot start a private cluster with %s\n", d->skugen);
			return -1;
		}
	}
	d->admin = PQconnectdb(d->server_dsn);
	if (PQstatus(d->admin) != CONNECTION_OK) {
		fprintf(stderr, "bench: cannot connect: %s", PQerrorMessage(d->admin));
		return -1;
	}
	PQclear(PQexec(d->admin, "SET client_min_messages = warning"));
	snprintf(d->name, sizeof d->name, "%s_%d", prefix, (int)getpid());
	snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s", d->name);
	admin_exec(d->admin, q);
	snprintf(q, sizeof q, "CREATE DATABASE %s", d->name);
	if (admin_exec(d->admin, q) < 0) {
		d->name[0] = '\0';
		return -1;
	}
	if (asprintf(&d->dsn, "%s dbname=%s", d->server_dsn, d->name) < 0) {
		d->dsn = NULL;
		return -1;
	}
	return 0;
}

void bench_db_drop(struct bench_db *d)
{
	char q[160];

	if (d->admin && d->name[0]) {
		snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", d->name);
		admin_exec(d->admin, q);
	}
	PQfinish(d->admin);
	d->admin = NULL;
	if (d->home[0]) {
		/* Stopped even when its start said nothing usable: a server it
		 * did start must not lose its directory while running. */
		bench_skugen_db(d->skugen, d->home, "stop", NULL);
		bench_rm_rf(d->home);
		d->home[0] = '\0';
	}
	free(d->server_dsn);
	free(d->dsn);
	d->server_dsn = d->dsn = NULL;
	d->name[0] = '\0';
}
