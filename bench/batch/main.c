/* bench/batch: the shared task queue and a nightly run end to end.
 *
 *  1. claims per second: QUEUE_TASKS queued tasks claimed (queue_claim,
 *     batches of 64, FOR UPDATE SKIP LOCKED) and marked done by 1, 4 and 16
 *     worker processes, each with its own connection, until none is left.
 *  2. a nightly run: SKUs x 1 description through `skugen run --workers 2`
 *     against fake_llm enforcing 10,000 requests per minute (200 ms answers),
 *     each worker's bucket set to its half; end-to-end wall time (planning
 *     included) over the bound SKUs / 10,000 min.  10,000 SKUs by default
 *     (a 1-minute bound); SKUGEN_BENCH_FULL=1 runs the 100,000 (the
 *     10-minute bound).
 *  3. the store after the run: the tasks table's size and dead tuples, and
 *     the database's size.
 *
 * The store is an embedded cluster in a temporary directory.  skugen and
 * fake_llm are found beside this program (BUILD/skugen, BUILD/fakes/; for the
 * fake, $SKUGEN_FAKES first).
 * The last lines are the verdicts, "name: value (goal: ...) met|missed".
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch/queue.h"
#include "batch/store.h"
#include "common/buf.h"
#include "bench/common/bench_util.h"
#include "tests/support/fake_proc.h"

#define QUEUE_TASKS 50000
#define RPM 10000.0
#define LATENCY_MS 200

static char build_dir[PATH_MAX];

static int exec_sql(struct store *st, const char *sql)
{
	struct err e;

	err_clear(&e);
	if (store_exec(st, sql, 0, NULL, &e) < 0) {
		fprintf(stderr, "bench/batch: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static double one_value(struct store *st, const char *sql)
{
	struct err e;
	PGresult *r = store_query(st, sql, 0, NULL, &e);
	double v = -1;

	if (r && PQntuples(r) == 1)
		v = atof(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* One claiming process: claim 64, mark them done (checking the claim, as
 * the executor's commit does), until the queue is empty. */
static int claimer(const char *dsn, int i)
{
	struct store_target t = { .dsn = dsn };
	struct store *st = NULL;
	char worker[32];
	struct queue_claim c = { .worker = worker, .limit = 64, .lease_s = 60 };
	struct err e;

	snprintf(worker, sizeof worker, "bench:%d", i);
	err_clear(&e);
	if (store_open(&st, &t, &e) < 0) {
		fprintf(stderr, "bench/batch: claimer %d: %s\n", i, e.msg);
		return 1;
	}
	for (;;) {
		PGresult *r = queue_claim(st, &c, &e);
		struct buf ids = BUF_INIT;
		int n;

		if (!r) {
			fprintf(stderr, "bench/batch: claimer %d: %s\n", i, e.msg);
			store_close(st);
			return 1;
		}
		n = PQntuples(r);
		buf_puts(&ids, "{");
		for (int k = 0; k < n; k++)
			buf_printf(&ids, "%s%s", k ? "," : "", PQgetvalue(r, k, Q_ID));
		buf_puts(&ids, "}");
		PQclear(r);
		if (n == 0) {
			buf_free(&ids);
			break;
		}
		if (store_exec(st, "update skugen.tasks set state = 'done', lease_until = null, finished_at = now()"
				   " where id = any ($1::bigint[]) and state = 'running' and worker = $2",
			       2, (const char *[]){ buf_str(&ids), worker }, &e) < 0) {
			fprintf(stderr, "bench/batch: claimer %d: %s\n", i, e.msg);
			buf_free(&ids);
			store_close(st);
			return 1;
		}
		buf_free(&ids);
	}
	store_close(st);
	return 0;
}

/* Claims per second with n processes over QUEUE_TASKS queued tasks. */
static double claims_per_s(struct store *st, int n)
{
	pid_t pids[64];
	double t0;
	int failed = 0;

	if (exec_sql(st, "update skugen.tasks set state = 'queued', worker = null, lease_until = null,"
			 " attempts = 0, generation_id = null, finished_at = null where run_id = 1") < 0 ||
	    exec_sql(st, "vacuum analyze skugen.tasks") < 0)
		return -1;
	fflush(stdout);
	t0 = bench_now();
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(claimer(st->dsn, i));
	}
	for (int i = 0; i < n; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	if (failed || one_value(st, "select count(*) from skugen.tasks where run_id = 1 and state = 'done'") != QUEUE_TASKS)
		return -1;
	return QUEUE_TASKS / (bench_now() - t0);
}

/* The nightly run: returns its wall time in seconds, or -1. */
static double nightly(struct store *st, const char *dir, long skus, const char *url)
{
	char path[PATH_MAX], cfg[2048], skugen[PATH_MAX + 16];
	struct buf catalog = BUF_INIT;
	double t0, wall;
	pid_t pid;
	int status;

	snprintf(path, sizeof path, "%s/templates", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/templates/description", dir);
	mkdir(path, 0755);
	for (long i = 1; i <= skus; i++)
		buf_printf(&catalog, "{\"sku\": \"N-%07ld\", \"name\": \"Nightly product %ld\", \"colour\": \"c%ld\"}\n",
			   i, i, i % 11);
	snprintf(cfg, sizeof cfg,
		 "{\n"
		 "  \"source\": {\"type\": \"file\", \"path\": \"catalog.jsonl\"},\n"
		 "  \"locales\": [\"en_US\"],\n"
		 "  \"providers\": {\"openai\": {\"type\": \"openai\", \"base_url\": \"%s/v1\",\n"
		 "    \"api_key_env\": \"SKUGEN_BENCH_KEY\", \"rpm\": %.0f, \"max_attempts\": 5}},\n"
		 "  \"generators\": {\"writer\": {\"type\": \"llm\", \"provider\": \"openai\", \"model\": \"gpt-4o-mini\",\n"
		 "    \"params\": {\"max_tokens\": 200}}},\n"
		 "  \"outputs\": [{\"name\": \"description\", \"template\": \"description\", \"generator\": \"writer\"}],\n"
		 "  \"queue\": {\"lease_s\": 30, \"poll_s\": 0.5}\n"
		 "}\n", url, RPM / 2);
	if (bench_write_file(dir, "catalog.jsonl", buf_str(&catalog)) < 0 || bench_write_file(dir, "skugen.json", cfg) < 0 ||
	    bench_write_file(path, "default.mustache", "Describe {{name}} ({{sku}}) in {{colour}}.\n") < 0) {
		buf_free(&catalog);
		return -1;
	}
	buf_free(&catalog);
	snprintf(skugen, sizeof skugen, "%s/skugen", build_dir);
	snprintf(path, sizeof path, "%s/skugen.json", dir);
	setenv("SKUGEN_DSN", st->dsn, 1);
	setenv("SKUGEN_BENCH_KEY", "sk-bench", 1);
	fflush(stdout);
	t0 = bench_now();
	pid = fork();
	if (pid == 0) {
		execl(skugen, "skugen", "-q", "--config", path, "run", "--workers", "2", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	wall = bench_now() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench/batch: the nightly run exited with %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	return wall;
}

int main(int argc, char **argv)
{
	char home[] = "/tmp/skugen-bench-batch.XXXXXX", work[] = "/tmp/skugen-bench-nightly.XXXXXX";
	char exe[PATH_MAX], rpm[32], lat[16];
	const char *full = getenv("SKUGEN_BENCH_FULL");
	long skus = full && *full && strcmp(full, "0") ? 100000 : 10000;
	struct store_target t = { 0 };
	struct store *st = NULL;
	struct err e;
	double cps[3], wall, bound, size_mb, dead, live, db_mb;
	const int workers[3] = { 1, 4, 16 };
	struct fake_proc fake = { 0 };
	ssize_t n;
	int rc = 1;

	(void)argc;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0) {
		perror("bench/batch: /proc/self/exe");
		return 1;
	}
	exe[n] = '\0';
	snprintf(build_dir, sizeof build_dir, "%s", dirname(dirname(exe)));
	(void)argv;
	if (!mkdtemp(home) || chmod(home, 0755) < 0 || !mkdtemp(work)) {
		perror("bench/batch: mkdtemp");
		return 1;
	}
	t.home = home;
	err_clear(&e);
	printf("bench/batch: embedded store in %s\n", home);
	if (store_open(&st, &t, &e) < 0) {
		fprintf(stderr, "bench/batch: %s\n", e.msg);
		return 1;
	}
	if (exec_sql(st, "insert into skugen.runs (id, host, pid, skugen_version) values (1, 'bench', 0, 'bench')") < 0 ||
	    exec_sql(st, "insert into skugen.tasks (run_id, sku, output, locale, fingerprint, state, generator)"
			 " select 1, 'Q-' || i, 'description', 'en_US', 'fp-' || i, 'queued', 'writer'"
			 " from generate_series(1, 50000) i") < 0 ||
	    exec_sql(st, "select setval('skugen.runs_id_seq', 1)") < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		cps[i] = claims_per_s(st, workers[i]);
		printf("claims: %d workers: %.0f tasks/s (claimed and marked done)\n", workers[i], cps[i]);
		if (cps[i] < 0)
			goto out;
	}
	if (exec_sql(st, "update skugen.runs set status = 'done', finished_at = now() where id = 1") < 0 ||
	    exec_sql(st, "delete from skugen.tasks where run_id = 1") < 0 ||
	    exec_sql(st, "vacuum full skugen.tasks") < 0)
		goto out;

	snprintf(rpm, sizeof rpm, "%.0f", RPM);
	snprintf(lat, sizeof lat, "%d", LATENCY_MS);
	if (fake_proc_start(&fake, "fake_llm", (const char *const[]){ "--port", "0", "--rpm", rpm, "--latency-ms",
			    lat, "--jitter-ms", "20", "--answer-words", "60", NULL }) < 0) {
		fprintf(stderr, "bench/batch: fake_llm did not start\n");
		goto out;
	}
	bound = (double)skus / (RPM / 60);
	printf("nightly: %ld SKUs x 1 description at %.0f requests/min (bound %.0f s)%s\n", skus, RPM, bound,
	       skus < 100000 ? "; SKUGEN_BENCH_FULL=1 for 100,000" : "");
	wall = nightly(st, work, skus, fake.url);
	fake_proc_stop(&fake);
	if (wall < 0)
		goto out;
	sleep(1); /* let the statistics reach pg_stat_user_tables */
	size_mb = one_value(st, "select pg_total_relation_size('skugen.tasks') / 1048576.0");
	dead = one_value(st, "select n_dead_tup from pg_stat_user_tables where schemaname = 'skugen' and relname = 'tasks'");
	live = one_value(st, "select n_live_tup from pg_stat_user_tables where schemaname = 'skugen' and relname = 'tasks'");
	db_mb = one_value(st, "select pg_database_size(current_database()) / 1048576.0");
	printf("nightly: %.1f s; done %.0f of %ld\n", wall,
	       one_value(st, "select count(*) from skugen.tasks where state = 'done'"), skus);
	printf("store: tasks table %.1f MiB (%.0f live, %.0f dead tuples), database %.1f MiB\n", size_mb, live, dead, db_mb);
	printf("claims_per_s_1: %.0f (goal: >= 1667, ten times a 10,000 rpm nightly) %s\n", cps[0], cps[0] >= 1667 ? "met" : "missed");
	printf("claims_per_s_4: %.0f (goal: >= claims_per_s_1) %s\n", cps[1], cps[1] >= cps[0] ? "met" : "missed");
	printf("claims_per_s_16: %.0f (goal: >= claims_per_s_1) %s\n", cps[2], cps[2] >= cps[0] ? "met" : "missed");
	printf("nightly_ratio: %.3f (goal: <= 1.05 of %.0f s for %ld SKUs at 10,000 rpm) %s\n", wall / bound, bound, skus,
	       wall / bound <= 1.05 ? "met" : "missed");
	printf("tasks_dead_tuple_share: %.3f (goal: <= 0.2 of the table's tuples after the run) %s\n",
	       live + dead > 0 ? dead / (live + dead) : 0, live + dead > 0 && dead / (live + dead) <= 0.2 ? "met" : "missed");
	rc = 0;
out:
	store_close(st);
	{
		char cmd[PATH_MAX * 2 + 64];

		snprintf(cmd, sizeof cmd, "SKUGEN_HOME=%s %s/skugen db stop >/dev/null 2>&1; rm -rf %s %s", home,
			 build_dir, home, work);
		if (system(cmd) != 0)
			fprintf(stderr, "bench/batch: could not clean up %s\n", home);
	}
	return rc;
}
