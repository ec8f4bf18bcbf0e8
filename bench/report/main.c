/* bench/report: what following and reporting a big run costs the store.
 *
 * A run of SKUGEN_BENCH_TASKS tasks (default 1,000,000: 60% done, 10%
 * skipped, 0.1% failed with two causes, 10% running under four workers'
 * leases, the rest queued) with a generation, provenance and ledger row per
 * done task is written straight into a fresh store with SQL, then vacuumed
 * (as autovacuum would).  Then:
 *
 *  1. snapshot: run_snapshot_load with the last minute's count (what status
 *     and a reporter's first read do; later reads skip it), median of 5;
 *  2. progress load: progress_poll called every 50 ms for 10 s, as a run's
 *     loop would: the share of wall time spent reading the store (the
 *     reporter reads big runs less often to keep it low);
 *  3. report: report_build, median of 3, and the JSON and HTML sizes.
 *
 * The store: SKUGEN_BENCH_DSN (an empty database; the bench refuses one that
 * has runs) or, by default, an embedded cluster in a temporary directory,
 * removed at the end.  The last lines are the verdicts, "name: value
 * (goal: ...) met|missed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch/pg_embedded.h"
#include "batch/progress.h"
#include "batch/report.h"
#include "batch/run_stats.h"
#include "batch/store.h"
#include "bench/common/bench_util.h"

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	return v[n / 2];
}

/* The run, straight into the tables ($1: the number of tasks). */
static const char *const fill_sql[] = {
	"insert into skugen.runs (kind, status, host, pid, skugen_version, budget)\n"
	"  values ('run', 'running', 'bench', 1, 'bench', 1000) returning id",
	"insert into skugen.tasks (run_id, sku, output, locale, fingerprint, state, generator,\n"
	"  started_at, finished_at, last_error, worker, lease_until)\n"
	"select 1, 'SKU-' || i, case when i % 3 = 0 then 'title' else 'description' end, 'en_US',\n"
	"  md5(i::text),\n"
	"  case when i % 10 < 6 then 'done' when i % 10 = 6 then 'skipped'\n"
	"       when i % 1000 in (7, 17) then 'failed' when i % 10 = 8 then 'running' else 'queued' end,\n"
	"  'llm', now() - interval '20 minutes', now() - random() * interval '10 minutes',\n"
	"  case when i % 1000 = 7 then 'openai: http 500 after 3 attempts (request req_' || md5(i::text) || ')'\n"
	"       when i % 1000 = 17 then 'catalog.jsonl:' || i || ': sku \"SKU-' || i || '\": missing key \"material\"' end,\n"
	"  case when i % 10 = 8 then 'bench:' || (i % 4) end, now() + interval '30 seconds'\n"
	"from generate_series(1, $1::int) i",
	"insert into skugen.generations (sku, output, locale, fingerprint, content, content_sha256, run_id)\n"
	"select sku, output, locale, fingerprint, 'copy', 'x', 1 from skugen.tasks where state = 'done'",
	"insert into skugen.provenance (generation_id, activity, run_id, generator, generator_version,\n"
	"  provider, model, cost, latency_ms, skugen_version, started_at, ended_at)\n"
	"select id, 'bench', 1, 'llm', '1', 'openai', 'gpt-4o-mini', 0.0001, 200 + random() * 300, 'bench',\n"
	"  now(), now() from skugen.generations",
	"insert into skugen.cost_ledger (run_id, provider, model, cost, status, error)\n"
	"select 1, 'openai', 'gpt-4o-mini', 0.0001, '200', 'ok' from skugen.generations",
	/* What the queue's aggressive autovacuum (migration 6) does to a run's
	 * settled pages: their tuples all visible, so counts by state can come
	 * from the index alone. */
	"vacuum analyze",
};

int main(void)
{
	const char *dsn_env = getenv("SKUGEN_BENCH_DSN");
	const char *n_env = getenv("SKUGEN_BENCH_TASKS");
	long n = n_env ? atol(n_env) : 1000000;
	char home[] = "/tmp/skugen-bench-report.XXXXXX", count[32];
	struct store_target t = { 0 };
	struct store *st = NULL;
	struct run_snapshot snap;
	struct progress *p = NULL;
	struct err e;
	double v[5], t0, snapshot_s, report_s, load;
	bool embedded = !dsn_env || !*dsn_env;
	char *json = NULL, *page = NULL;
	size_t json_len = 0, page_len = 0;
	FILE *devnull = fopen("/dev/null", "w");
	int rc = 1;

	if (n < 1000) {
		fprintf(stderr, "bench/report: SKUGEN_BENCH_TASKS must be at least 1000\n");
		return 2;
	}
	snprintf(count, sizeof count, "%ld", n);
	if (embedded) {
		if (!mkdtemp(home) || chmod(home, 0755) < 0) {
			perror("bench/report: mkdtemp");
			return 1;
		}
		t.home = home;
	} else {
		t.dsn = dsn_env;
	}
	err_clear(&e);
	printf("bench/report: %ld tasks in one run (%s store)\n", n, embedded ? "embedded" : "given");
	fflush(stdout);
	if (store_open(&st, &t, &e) < 0)
		goto fail;
	{
		PGresult *r = store_query(st, "select count(*) from skugen.runs", 0, NULL, &e);

		if (!r)
			goto fail;
		if (atol(PQgetvalue(r, 0, 0)) != 0) {
			PQclear(r);
			err_set(&e, ERR_USAGE, "SKUGEN_BENCH_DSN: the database already has runs: give an empty one");
			goto fail;
		}
		PQclear(r);
	}
	t0 = bench_now();
	for (size_t i = 0; i < sizeof fill_sql / sizeof *fill_sql; i++) {
		const char *params[1] = { count };

		if (store_exec(st, fill_sql[i], i == 1 ? 1 : 0, i == 1 ? params : NULL, &e) < 0)
			goto fail;
	}
	printf("filled the store in %.1f s\n", bench_now() - t0);

	for (int i = 0; i < 5; i++) {
		t0 = bench_now();
		if (run_snapshot_load(st, 1, true, &snap, &e) < 0)
			goto fail;
		v[i] = bench_now() - t0;
	}
	snapshot_s = median(v, 5);
	printf("snapshot: %ld tasks counted by state, cost %.2f: median %.3f s\n", snap.total, snap.cost, snapshot_s);

	p = progress_open(devnull, PROGRESS_PLAIN, 1);
	if (!p) {
		err_set(&e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	{
		double start = bench_now(), in_store = 0;
		int reads = 0;

		while (bench_now() - start < 10) {
			double a = bench_now();

			if (progress_poll(p, st, false, &e) < 0)
				goto fail;
			in_store += bench_now() - a;
			reads += bench_now() - a > 0.001;   /* a read, not a skipped call */
			usleep(50 * 1000);
		}
		load = in_store / (bench_now() - start);
		printf("progress: about %d reads in 10 s, %.1f%% of the time in the store\n", reads, 100 * load);
	}

	for (int i = 0; i < 3; i++) {
		json_t *doc = NULL;

		t0 = bench_now();
		if (report_build(st, 1, &doc, &e) < 0)
			goto fail;
		v[i] = bench_now() - t0;
		if (i == 2) {
			FILE *a = open_memstream(&json, &json_len), *b = open_memstream(&page, &page_len);

			json_dumpf(doc, a, JSON_INDENT(2));
			report_html_write(b, doc, &e);
			fclose(a);
			fclose(b);
			printf("report: %zu failure causes; JSON %zu bytes, HTML %zu bytes\n",
			       json_array_size(json_object_get(json_object_get(doc, "failures"), "groups")),
			       json_len, page_len);
		}
		json_decref(doc);
	}
	report_s = median(v, 3);
	printf("report: median %.3f s\n", report_s);

	printf("snapshot of %ld tasks: %.3f s (goal: <= 1 s) %s\n", n, snapshot_s, snapshot_s <= 1 ? "met" : "missed");
	printf("store time of progress polling: %.3f (goal: <= 0.25 of wall time) %s\n", load,
	       load <= 0.25 ? "met" : "missed");
	printf("report of %ld tasks: %.3f s (goal: <= 10 s) %s\n", n, report_s, report_s <= 10 ? "met" : "missed");
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench/report: %s\n", e.msg);
out:
	progress_close(p);
	store_close(st);
	if (embedded) {
		pg_embedded_stop(home, NULL);
		bench_rm_rf(home);
	}
	free(json);
	free(page);
	if (devnull)
		fclose(devnull);
	return rc;
}
