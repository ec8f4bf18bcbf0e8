/* bench/connectors: the systems-of-record benchmarks, each a ratio against a
 * peer measured in the same run (issue 5), then the Akeneo pull (akeneo.c).
 *
 * Postgres: SKUGEN_BENCH_DSN names a server to use (a database
 * bench_conn_<pid> is made in it and dropped); without it, a private cluster
 * is started with `skugen db start` under a temporary SKUGEN_HOME and stopped
 * at the end.  A products table of 1,000,000 rows and 12 columns (text,
 * numeric, integer, boolean, float, text[], jsonb, timestamptz) is generated
 * with generate_series and vacuumed (hint bits set, so no reader pays for
 * them).
 *
 *   pull: conn_postgres_ops reads the whole table into records (config: table,
 *   key, watermark updated_at, as a nightly run has it; batches of 500 as
 *   `skugen run` uses) vs psql -c "\copy (select row_to_json(p) from products
 *   p) to '/dev/null'".  Each pull runs in a process of its own, timed from
 *   start to exit; three rounds alternate the two after an untimed warm-up,
 *   and the medians are compared.  The peak RSS of pulls of 10k, 100k and 1M
 *   rows (a where filter on the row number) is the child's ru_maxrss.
 *
 *   write: 1,000,000 generated descriptions (~450 bytes) written back to the
 *   description column through conn_postgres_ops.write, policy if_generated
 *   with each row's prior sha256 (so the policy is evaluated, and passes, on
 *   every row), 10,000 items per write() call (one transaction each), vs one
 *   raw binary COPY of the same (sku, value, prior) into an equivalent temp
 *   staging table.  For scale, the same values are also written by hand
 *   (one COPY into a temp table + one UPDATE ... FROM, one transaction) into
 *   an identical copy of the table: what any write-back must pay.
 *
 * The last lines are one verdict per measure:
 *     name: value (goal: ...) met|missed
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libpq-fe.h>

#include "bench/connectors/bench.h"
#include "common/hash.h"
#include "connectors/postgres.h"
#include "bench/common/bench_util.h"

#define ROWS 1000000
#define ROUNDS 3
#define PULL_BATCH 500
#define WRITE_VALUES 1000000
#define WRITE_BATCH 10000
#define PULL_DSN_ENV "SKUGEN_BENCH_PULL_DSN"

#define GOAL_PULL_RATIO 0.9
#define GOAL_RSS_KB (64 * 1024)
#define GOAL_FLAT 1.10            /* the 1M pull's peak within 10% of the 10k pull's */
#define GOAL_WRITE_RATIO 0.5
#define GOAL_WRITE_VPS 100000.0

static char verdicts[16][256];
static int nverdicts;

static void verdict(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void verdict(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(verdicts[nverdicts++], sizeof verdicts[0], fmt, ap);
	va_end(ap);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	return v[n / 2];
}

static int exec_sql(PGconn *pg, const char *q)
{
	PGresult *r = PQexec(pg, q);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench: %.80s...: %s", q, PQerrorMessage(pg));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

static double child_cpu_s;   /* user + system CPU of the last child */

/* Run argv to completion: its wall time and peak RSS (KiB); -1 when it
 * fails. */
static int run_child(char *const argv[], double *secs, long *maxrss_kb)
{
	struct rusage ru;
	double t0 = bench_now();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	*secs = bench_now() - t0;
	child_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	if (maxrss_kb)
		*maxrss_kb = ru.ru_maxrss;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench: %s exited with status %d\n", argv[0], status);
		return -1;
	}
	return 0;
}

/* The child of a pull: read every record the configuration gives, check
 * there were `want`, exit 0. */
static int pull_child(const char *want_s)
{
	long want = strtol(want_s, NULL, 10);
	char cfg_text[512];
	struct record_batch b;
	struct conn *c;
	struct err e;
	json_t *cfg;
	long n = 0, bad = 0;

	if (want >= ROWS)
		snprintf(cfg_text, sizeof cfg_text, "{\"dsn_env\":\"%s\",\"table\":\"public.products\","
			 "\"watermark\":\"updated_at\"}", PULL_DSN_ENV);
	else
		snprintf(cfg_text, sizeof cfg_text, "{\"dsn_env\":\"%s\",\"table\":\"public.products\","
			 "\"watermark\":\"updated_at\",\"where\":\"n <= %ld\"}", PULL_DSN_ENV, want);
	cfg = json_loads(cfg_text, 0, NULL);
	if (!cfg || record_batch_init(&b, PULL_BATCH) < 0)
		return 2;
	if (conn_postgres_ops.open(&c, cfg, &(struct conn_open_opts){ 0 }, &e) < 0) {
		fprintf(stderr, "bench pull: %s\n", e.msg);
		return 1;
	}
	for (;;) {
		if (conn_postgres_ops.next(c, &b, &e) < 0) {
			fprintf(stderr, "bench pull: %s\n", e.msg);
			return 1;
		}
		if (b.len == 0)
			break;
		for (size_t i = 0; i < b.len; i++)
			bad += b.items[i].error != NULL;
		n += (long)b.len;
	}
	if (n != want || bad || !conn_postgres_ops.watermark(c)) {
		fprintf(stderr, "bench pull: %ld records (%ld bad), expected %ld\n", n, bad, want);
		return 1;
	}
	conn_postgres_ops.close(c);
	record_batch_free(&b);
	json_decref(cfg);
	return 0;
}

static const char *find_psql(void)
{
	static char path[PATH_MAX];
	const char *p = getenv("PATH");

	while (p && *p) {
		size_t n = strcspn(p, ":");

		snprintf(path, sizeof path, "%.*s/psql", (int)n, p);
		if (access(path, X_OK) == 0)
			return path;
		p += n + (p[n] == ':');
	}
	for (int v = 30; v >= 10; v--) {
		snprintf(path, sizeof path, "/usr/lib/postgresql/%d/bin/psql", v);
		if (access(path, X_OK) == 0)
			return path;
	}
	return NULL;
}

static const char *const PRODUCTS_SQL =
	"CREATE TABLE products (n int NOT NULL, sku text PRIMARY KEY, name text NOT NULL, "
	"brand text, category text, price numeric(10,2), stock integer, active boolean, "
	"weight_g double precision, tags text[], attributes jsonb, description text, "
	"updated_at timestamptz NOT NULL);"
	"INSERT INTO products SELECT i, 'SKU-' || lpad(i::text, 8, '0'), "
	" 'Product ' || i || ' deluxe edition', "
	" (ARRAY['Acme','Globex','Initech','Umbrella','Hooli'])[1 + i % 5], "
	" (ARRAY['shoes','bags','jackets','hats','socks','shirts'])[1 + i % 6], "
	" (i % 10000) / 100.0 + 1, i % 500, i % 7 <> 0, (i % 3000) * 1.5, "
	" ARRAY['tag' || (i % 13), 'tag' || (i % 17)], "
	" jsonb_build_object('color', (ARRAY['red','blue','green','black'])[1 + i % 4], "
	"   'size', 36 + i % 12, 'material', 'cotton', 'care', jsonb_build_array('30C', 'no tumble')), "
	" 'Generated description ' || i || ': ' || repeat('a fine product, ', 4), "
	" timestamptz '2024-01-01' + i * interval '1 second' "
	"FROM generate_series(1, 1000000) i";

/* ---- pull ------------------------------------------------------------- */

static int bench_pull(const char *self, const char *dsn)
{
	const char *psql = find_psql();
	char *pull_argv[4], *psql_argv[6];
	double t_sk[ROUNDS], t_psql[ROUNDS], cpu_sk[ROUNDS], secs, sk, pq, ratio, load[3];
	long rss[3], dummy;
	static const long sizes[3] = { 10000, 100000, ROWS };
	static const char *const names[3] = { "10k", "100k", "1m" };
	char want[3][16], loadavg[64];

	if (!psql) {
		fprintf(stderr, "bench: psql not found (PATH, /usr/lib/postgresql/*/bin)\n");
		return -1;
	}
	psql_argv[0] = (char *)psql;
	psql_argv[1] = "-X";
	psql_argv[2] = "-qc";
	psql_argv[3] = "\\copy (select row_to_json(p) from products p) to '/dev/null'";
	psql_argv[4] = (char *)dsn;
	psql_argv[5] = NULL;
	pull_argv[0] = (char *)self;
	pull_argv[1] = "--pull";
	pull_argv[3] = NULL;
	for (int i = 0; i < 3; i++)
		snprintf(want[i], sizeof want[i], "%ld", sizes[i]);

	/* warm-up: the table into the caches, for both */
	if (run_child(psql_argv, &secs, NULL) < 0)
		return -1;
	for (int r = 0; r < ROUNDS; r++) {
		if (run_child(psql_argv, &t_psql[r], NULL) < 0)
			return -1;
		pull_argv[2] = want[2];
		if (run_child(pull_argv, &t_sk[r], r == 0 ? &rss[2] : &dummy) < 0)
			return -1;
		cpu_sk[r] = child_cpu_s;
		printf("  pull round %d: psql %.2f s, skugen %.2f s (its own CPU %.2f s)\n", r + 1,
		       t_psql[r], t_sk[r], cpu_sk[r]);
		fflush(stdout);
	}
	for (int i = 0; i < 2; i++) {
		pull_argv[2] = want[i];
		if (run_child(pull_argv, &secs, &rss[i]) < 0)
			return -1;
	}
	sk = ROWS / median(t_sk, ROUNDS);
	pq = ROWS / median(t_psql, ROUNDS);
	ratio = sk / pq;
	printf("  pull: skugen %.0f rows/s, psql \\copy row_to_json %.0f rows/s (medians of %d)\n",
	       sk, pq, ROUNDS);
	/* the server makes the JSON for both; skugen also decodes it, on
	 * another core: on a busy machine that core is shared */
	if (getloadavg(load, 3) == 3)
		snprintf(loadavg, sizeof loadavg, "%.2f %.2f %.2f", load[0], load[1], load[2]);
	else
		snprintf(loadavg, sizeof loadavg, "unknown");
	printf("  pull: skugen's own CPU %.2f us a row (median); load average %s\n",
	       median(cpu_sk, ROUNDS) / ROWS * 1e6, loadavg);
	printf("  pull peak RSS: 10k %ld KiB, 100k %ld KiB, 1M %ld KiB\n", rss[0], rss[1], rss[2]);
	verdict("pg_pull_ratio: %.2f (goal: >= %.1f of psql's rows/s) %s", ratio, GOAL_PULL_RATIO,
		ratio >= GOAL_PULL_RATIO ? "met" : "missed");
	for (int i = 0; i < 3; i++)
		verdict("pg_pull_peak_rss_%s_kib: %ld (goal: < %d) %s", names[i], rss[i], GOAL_RSS_KB,
			rss[i] < GOAL_RSS_KB ? "met" : "missed");
	verdict("pg_pull_rss_growth_10k_to_1m: %.2f (goal: <= %.2f, flat) %s",
		(double)rss[2] / (double)rss[0], GOAL_FLAT,
		(double)rss[2] / (double)rss[0] <= GOAL_FLAT ? "met" : "missed");
	return 0;
}

/* ---- write ------------------------------------------------------------ */

struct values {
	char (*sku)[16];
	char **value;
	size_t *len;
	char (*prior)[HASH_HEX_LEN];
};

static void values_free(struct values *v)
{
	for (size_t i = 0; v->value && i < WRITE_VALUES; i++)
		free(v->value[i]);
	free(v->sku);
	free(v->value);
	free(v->len);
	free(v->prior);
}

static int values_make(PGconn *pg, struct values *v)
{
	PGresult *r;

	v->sku = calloc(WRITE_VALUES, sizeof *v->sku);
	v->value = calloc(WRITE_VALUES, sizeof *v->value);
	v->len = calloc(WRITE_VALUES, sizeof *v->len);
	v->prior = calloc(WRITE_VALUES, sizeof *v->prior);
	if (!v->sku || !v->value || !v->len || !v->prior)
		return -1;
	/* the prior values skugen "wrote" are what the table holds now */
	r = PQexec(pg, "SELECT description FROM products ORDER BY n");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != WRITE_VALUES) {
		fprintf(stderr, "bench: reading the prior values: %s", PQerrorMessage(pg));
		PQclear(r);
		return -1;
	}
	for (size_t i = 0; i < WRITE_VALUES; i++) {
		snprintf(v->sku[i], sizeof v->sku[i], "SKU-%08zu", i + 1);
		sha256_hex(PQgetvalue(r, (int)i, 0), (size_t)PQgetlength(r, (int)i, 0), v->prior[i]);
		if (asprintf(&v->value[i], "%s, from the Globex %s line: a regenerated description "
			     "in a calm, precise voice for product %zu. It names the material (cotton), "
			     "the colour and the fit, says what it is for and how to care for it (30C, "
			     "no tumble), and stays under the channel's limit of five hundred bytes "
			     "while giving a shopper every fact the record holds, item %zu of a million.",
			     i % 2 ? "Deluxe edition" : "Everyday", i % 3 ? "summer" : "winter",
			     i + 1, i + 1) < 0)
			return -1;
		v->len[i] = strlen(v->value[i]);
	}
	PQclear(r);
	return 0;
}

static void put32(char **p, uint32_t x)
{
	x = htonl(x);
	memcpy(*p, &x, 4);
	*p += 4;
}

/* One binary COPY of all the values into table (sku, value, prior). */
static int copy_values(PGconn *pg, const char *table, const struct values *v, bool staging)
{
	static const char header[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	char q[256], *buf = malloc(1 << 20), *p;
	PGresult *r;
	int rc = -1;

	if (!buf)
		return -1;
	snprintf(q, sizeof q, "COPY %s (%s) FROM STDIN (FORMAT binary)", table,
		 staging ? "grp, idx, sku, value, prior_sha256" : "sku, value");
	r = PQexec(pg, q);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		fprintf(stderr, "bench: %s: %s", q, PQerrorMessage(pg));
		PQclear(r);
		free(buf);
		return -1;
	}
	PQclear(r);
	memcpy(buf, header, sizeof header - 1);
	p = buf + sizeof header - 1;
	for (size_t i = 0; i < WRITE_VALUES; i++) {
		uint16_t nf = htons(staging ? 5 : 2);

		if ((size_t)(p - buf) > (1 << 20) - 1024) {
			if (PQputCopyData(pg, buf, (int)(p - buf)) != 1)
				goto out;
			p = buf;
		}
		memcpy(p, &nf, 2);
		p += 2;
		if (staging) {
			put32(&p, 4);
			put32(&p, 0);
			put32(&p, 4);
			put32(&p, (uint32_t)i);
		}
		put32(&p, (uint32_t)strlen(v->sku[i]));
		memcpy(p, v->sku[i], strlen(v->sku[i]));
		p += strlen(v->sku[i]);
		put32(&p, (uint32_t)v->len[i]);
		memcpy(p, v->value[i], v->len[i]);
		p += v->len[i];
		if (staging) {
			put32(&p, HASH_HEX_LEN - 1);
			memcpy(p, v->prior[i], HASH_HEX_LEN - 1);
			p += HASH_HEX_LEN - 1;
		}
	}
	memcpy(p, "\377\377", 2);
	p += 2;
	if (PQputCopyData(pg, buf, (int)(p - buf)) != 1 || PQputCopyEnd(pg, NULL) != 1)
		goto out;
	r = PQgetResult(pg);
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = 0;
	else
		fprintf(stderr, "bench: %s: %s", q, PQerrorMessage(pg));
	PQclear(r);
out:
	while ((r = PQgetResult(pg)))
		PQclear(r);
	free(buf);
	return rc;
}

static int copy_table(PGconn *pg, const char *name)
{
	char q[512];

	snprintf(q, sizeof q, "CREATE TABLE %1$s (LIKE products INCLUDING ALL); "
		 "INSERT INTO %1$s SELECT * FROM products", name);
	if (exec_sql(pg, q) < 0)
		return -1;
	snprintf(q, sizeof q, "VACUUM ANALYZE %s", name);
	return exec_sql(pg, q);
}

static int bench_write(PGconn *pg, const char *dsn)
{
	struct values v = { 0 };
	struct conn_write_item *items = NULL;
	struct conn *c = NULL;
	struct err e;
	json_t *cfg = NULL, *target = NULL;
	double t0, t_copy, t_write, t_hand, ratio, vps;
	size_t written = 0;
	int rc = -1;

	(void)dsn;
	if (values_make(pg, &v) < 0 || copy_table(pg, "wb_skugen") < 0 || copy_table(pg, "wb_hand") < 0)
		goto out;
	if (!(items = calloc(WRITE_BATCH, sizeof *items)))
		goto out;

	/* the peer: one raw COPY into a staging table like the sink's */
	if (exec_sql(pg, "CREATE TEMP TABLE bench_stage (grp int4 NOT NULL, idx int4 NOT NULL, "
		     "sku text NOT NULL, value text NOT NULL, prior_sha256 text)") < 0)
		goto out;
	t0 = bench_now();
	if (exec_sql(pg, "BEGIN") < 0 || copy_values(pg, "bench_stage", &v, true) < 0 ||
	    exec_sql(pg, "COMMIT") < 0)
		goto out;
	t_copy = bench_now() - t0;
	printf("  write peer: raw COPY of %d values into a staging table: %.2f s\n", WRITE_VALUES,
	       t_copy);
	fflush(stdout);

	/* skugen */
	cfg = json_pack("{s:s,s:s}", "dsn_env", PULL_DSN_ENV, "table", "public.products");
	target = json_pack("{s:s,s:s,s:s}", "table", "public.wb_skugen", "key", "sku",
			   "column", "description");
	if (!cfg || !target)
		goto out;
	if (conn_postgres_ops.open(&c, cfg, &(struct conn_open_opts){ 0 }, &e) < 0) {
		fprintf(stderr, "bench: %s\n", e.msg);
		goto out;
	}
	t0 = bench_now();
	for (size_t at = 0; at < WRITE_VALUES; at += WRITE_BATCH) {
		size_t n = WRITE_VALUES - at < WRITE_BATCH ? WRITE_VALUES - at : WRITE_BATCH;

		for (size_t i = 0; i < n; i++)
			items[i] = (struct conn_write_item){
				.sku = v.sku[at + i], .output = "description", .locale = "en",
				.value = v.value[at + i], .value_len = v.len[at + i],
				.prior_sha256 = v.prior[at + i], .target = target,
				.policy = CONN_OVERWRITE_IF_GENERATED,
			};
		if (conn_postgres_ops.write(c, items, n, &e) < 0) {
			fprintf(stderr, "bench: write: %s\n", e.msg);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			written += items[i].status == CONN_WRITE_WRITTEN;
		conn_write_items_reset(items, n);
	}
	t_write = bench_now() - t0;
	if (written != WRITE_VALUES) {
		fprintf(stderr, "bench: %zu of %d values written\n", written, WRITE_VALUES);
		goto out;
	}
	printf("  write: skugen %.2f s for %d values in batches of %d\n", t_write, WRITE_VALUES,
	       WRITE_BATCH);
	fflush(stdout);

	/* for scale: the same by hand, in one transaction */
	t0 = bench_now();
	if (exec_sql(pg, "BEGIN; CREATE TEMP TABLE hand (sku text, value text) ON COMMIT DROP") < 0 ||
	    copy_values(pg, "hand", &v, false) < 0 ||
	    exec_sql(pg, "UPDATE wb_hand t SET description = h.value FROM hand h "
		     "WHERE t.sku = h.sku; COMMIT") < 0)
		goto out;
	t_hand = bench_now() - t0;
	printf("  write by hand (COPY + one UPDATE ... FROM, no policy): %.2f s; skugen takes %.2fx "
	       "that\n", t_hand, t_write / t_hand);

	ratio = t_copy / t_write;
	vps = WRITE_VALUES / t_write;
	verdict("pg_write_ratio: %.2f (goal: >= %.1f of a raw COPY's speed) %s", ratio,
		GOAL_WRITE_RATIO, ratio >= GOAL_WRITE_RATIO ? "met" : "missed");
	verdict("pg_write_values_per_s: %.0f (goal: >= %.0f) %s", vps, GOAL_WRITE_VPS,
		vps >= GOAL_WRITE_VPS ? "met" : "missed");
	rc = 0;
out:
	conn_postgres_ops.close(c);
	json_decref(cfg);
	json_decref(target);
	free(items);
	values_free(&v);
	return rc;
}

/* ---- the database ------------------------------------------------------ */

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	struct bench_db db;
	PGconn *pg = NULL;
	ssize_t n;
	int rc = 1, pg_rc = -1, ak_rc;

	if (argc == 3 && strcmp(argv[1], "--pull") == 0)
		return pull_child(argv[2]);
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return 1;
	self[n] = '\0';
	printf("== postgres connector\n");
	fflush(stdout);
	if (bench_db_make(&db, "conn", "bench_conn") < 0)
		goto done;
	setenv(PULL_DSN_ENV, db.dsn, 1);
	pg = PQconnectdb(db.dsn);
	if (PQstatus(pg) != CONNECTION_OK)
		goto done;
	PQclear(PQexec(pg, "SET client_min_messages = warning"));
	{
		double t0 = bench_now();

		if (exec_sql(pg, PRODUCTS_SQL) < 0 || exec_sql(pg, "VACUUM ANALYZE products") < 0)
			goto done;
		printf("  generated %d products in %.1f s\n", ROWS, bench_now() - t0);
		fflush(stdout);
	}
	pg_rc = bench_pull(self, db.dsn);
	if (pg_rc == 0)
		pg_rc = bench_write(pg, db.dsn);
done:
	PQfinish(pg);
	bench_db_drop(&db);

	printf("== akeneo connector\n");
	fflush(stdout);
	ak_rc = bench_akeneo();

	for (int i = 0; i < nverdicts; i++)
		printf("%s\n", verdicts[i]);
	if (pg_rc < 0)
		printf("pg: could not measure (see above)\n");
	rc = pg_rc < 0 || ak_rc < 0;
	return rc;
}
