/* bench_util.c: helpers every benchmark may use (see bench_util.h). */
#include "bench/common/bench_util.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
