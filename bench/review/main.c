/* bench/review: merchandiser review at catalog scale (issue 7).
 *
 * 100,000 generations (25,000 SKUs x title and description x en_US and
 * de_DE; descriptions of ~450 bytes whose current value differs by a few
 * words, so the page has real diffs; provenance with model and cost; checks
 * on a tenth) are made with generate_series in a database of their own:
 * SKUGEN_BENCH_DSN names a server, else a private cluster is started with
 * `skugen db start` under a temporary SKUGEN_HOME and stopped at the end.
 *
 * Each step is the real `skugen` in a child process, timed from start to
 * exit, its peak memory the child's ru_maxrss:
 *   export csv    skugen export --format csv of all 100,000
 *   export html   skugen export --format html of all 100,000
 *   first render  the page in Debian's headless Chromium (playwright-core,
 *                 tests/integration/review_page): navigation start to the
 *                 first cards painted, by the page's own marker (two
 *                 animation frames after the first 50 cards are in the DOM);
 *                 then every data block parsed, and one keypress answered
 *   import        100,000 decisions (80% approve, 10% reject, 10% edit with
 *                 new text) from a CSV, then the same file again (nothing new)
 *
 * Goals (the issue sets none but a responsive page; these are ours):
 * export >= 50,000 rows/s (csv) and >= 25,000 rows/s (html, which diffs every
 * row), <= 64 MB peak RSS for either (they stream); first cards painted
 * <= 2 s; a keypress answered <= 100 ms once loaded; import >= 20,000 rows/s
 * and <= 64 MB.  The last lines are one verdict per measure:
 *     name: value (goal: ...) met|missed
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench/common/bench_util.h"

#define SKUS 25000
#define GENERATIONS (SKUS * 4)

static char verdicts[16][256];
static int nverdicts;

static void verdict(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void verdict(const char *fmt, ...)
{
	va_list ap;

	if (nverdicts == 16)
		return;
	va_start(ap, fmt);
	vsnprintf(verdicts[nverdicts++], sizeof verdicts[0], fmt, ap);
	va_end(ap);
}

static int exec_sql(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "bench: %s\n  %s", sql, PQerrorMessage(pg));
	PQclear(r);
	return ok ? 0 : -1;
}

/* Run argv with stdout to out_path (or /dev/null); *secs and *rss_kb (peak)
 * measured on the child.  Returns its exit status, -1 when it did not run. */
static int run_child(char *const argv[], const char *out_path, double *secs, long *rss_kb)
{
	struct rusage ru;
	double t0 = bench_now();
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *f = freopen(out_path ? out_path : "/dev/null", "w", stdout);

		(void)f;
		execv(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	*secs = bench_now() - t0;
	*rss_kb = ru.ru_maxrss;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* 100,000 generations with provenance; descriptions whose current value
 * differs in a few words. */
static const char populate_sql[] =
	"insert into skugen.runs (host, pid, skugen_version, status) values ('bench', 1, 'bench', 'done');\n"
	"create temp table words as select\n"
	"  array['soft','warm','light','sturdy','classic','modern','robust','elegant','compact','durable'] as adj,\n"
	"  array['merino wool','organic cotton','recycled polyester','linen','stoneware','oak','steel'] as mat,\n"
	"  array['black','navy','sage','sand','red'] as col,\n"
	"  array['jumper','shirt','mug','chair','lamp','kettle','jacket','bag'] as noun;\n"
	"insert into skugen.generations (sku, output, locale, channel, kind, fingerprint, content,\n"
	"  content_sha256, status, run_id, current_value, product_name, category, checks)\n"
	"select s.sku, o.output, l.locale, '', 'text', md5(s.sku || o.output || l.locale), g.content,\n"
	"  encode(sha256(convert_to(g.content, 'UTF8')), 'hex'), 'draft', 1, g.cur,\n"
	"  initcap(w.adj[1 + s.n % 10] || ' ' || w.noun[1 + s.n % 8]) || ' ' || s.n,\n"
	"  (array['apparel','home','outdoor','kitchen'])[1 + s.n % 4],\n"
	"  case when s.n % 10 = 0 then '[{\"name\":\"length\",\"ok\":true},{\"name\":\"banned_words\",\"ok\":false,\"detail\":\"cheap\"}]'::jsonb\n"
	"       else '[]'::jsonb end\n"
	"from (select n, 'SKU-' || lpad(n::text, 6, '0') as sku from generate_series(1, " "25000" ") n) s\n"
	"cross join (values ('title'), ('description')) o(output)\n"
	"cross join (values ('en_US'), ('de_DE')) l(locale)\n"
	"cross join words w\n"
	"cross join lateral (select\n"
	"  case when o.output = 'title' then initcap(w.adj[1 + s.n % 10] || ' ' || w.noun[1 + s.n % 8]) || ' ' || s.n\n"
	"  else 'This ' || w.adj[1 + s.n % 10] || ' ' || w.noun[1 + s.n % 8] || ' is made from ' || w.mat[1 + s.n % 7]\n"
	"    || ' and comes in ' || w.col[1 + s.n % 5] || '. ' || repeat('It is built to last, easy to care for and '\n"
	"    || 'made in a small workshop that pays its people fairly. ', 3) || 'Item ' || s.n || ' (' || l.locale || ').'\n"
	"  end as content,\n"
	"  case when o.output = 'title' then initcap(w.noun[1 + s.n % 8]) || ' ' || s.n\n"
	"  else 'The ' || w.adj[1 + (s.n + 3) % 10] || ' ' || w.noun[1 + s.n % 8] || ' is made of ' || w.mat[1 + (s.n + 1) % 7]\n"
	"    || ' and comes in ' || w.col[1 + s.n % 5] || '. ' || repeat('It is built to last, easy to clean and '\n"
	"    || 'made in a small workshop that pays its people fairly. ', 3) || 'Item ' || s.n || '.'\n"
	"  end as cur) g;\n"
	"insert into skugen.provenance (generation_id, activity, run_id, generator, generator_version, model,\n"
	"  cost, skugen_version, started_at, ended_at)\n"
	"select id, 'task:' || id || '/attempt:1', 1, 'llm', '1', 'gpt-4o-mini', 0.000123, 'bench', now(), now()\n"
	"from skugen.generations;\n"
	"analyze skugen.generations; analyze skugen.provenance;";

/* The decisions: 80% approve, 10% reject, 10% edit, sku as exported. */
static int write_decisions(PGconn *pg, const char *path)
{
	PGresult *r = PQexec(pg, "select id, sku from skugen.generations order by id");
	FILE *f;
	int n;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return -1;
	}
	f = fopen(path, "w");
	if (!f) {
		PQclear(r);
		return -1;
	}
	fputs("\xef\xbb\xbfgeneration_id,sku,decision,edited_text,comment\r\n", f);
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		const char *id = PQgetvalue(r, i, 0), *sku = PQgetvalue(r, i, 1);

		if (i % 10 == 1)
			fprintf(f, "%s,\"%s\",reject,,\"not on brand\"\r\n", id, sku);
		else if (i % 10 == 2)
			fprintf(f, "%s,\"%s\",edit,\"Edited copy %d: shorter, \"\"clearer\"\", kinder.\",\r\n", id, sku, i);
		else
			fprintf(f, "%s,\"%s\",approve,,\r\n", id, sku);
	}
	PQclear(r);
	return fclose(f);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The first number after "key": in a line of JSON. */
static double json_number(const char *text, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, "\"%s\":", key);
	p = strstr(text, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

static void step(const char *name, int rc, double secs, long rss_kb, double rows_goal, long rss_goal_mb)
{
	double rate = GENERATIONS / secs;

	printf("  %s: exit %d, %.2f s, %.0f rows/s, peak RSS %.1f MB\n", name, rc, secs, rate, rss_kb / 1024.0);
	if (rc != 0) {
		verdict("%s: failed (exit %d)", name, rc);
		return;
	}
	verdict("%s rows/s: %.0f (goal: >= %.0f) %s", name, rate, rows_goal, rate >= rows_goal ? "met" : "missed");
	verdict("%s peak RSS: %.1f MB (goal: <= %ld MB) %s", name, rss_kb / 1024.0, rss_goal_mb,
		rss_kb / 1024.0 <= rss_goal_mb ? "met" : "missed");
}

int main(void)
{
	char work[] = "/tmp/skugen-bench-review-files-XXXXXX", path[PATH_MAX], page[PATH_MAX];
	char *skugen;
	const char *root = getenv("SKUGEN_ROOT");
	struct bench_db db;
	PGconn *pg = NULL;
	double secs;
	long rss;
	int rc = 1, crc;

	if (!mkdtemp(work))
		return 1;
	if (!root)
		root = ".";
	printf("== review: %d generations of %d SKUs\n", GENERATIONS, SKUS);
	fflush(stdout);
	if (bench_db_make(&db, "review", "bench_review") < 0)
		goto done;
	skugen = db.skugen;
	setenv("SKUGEN_DSN", db.dsn, 1);
	{
		/* the schema: any command migrates the store it opens */
		char *argv[] = { skugen, "-q", "export", "--sku", "none", NULL };

		if (run_child(argv, NULL, &secs, &rss) != 0)
			goto done;
	}
	pg = PQconnectdb(db.dsn);
	if (PQstatus(pg) != CONNECTION_OK)
		goto done;
	PQclear(PQexec(pg, "SET client_min_messages = warning"));
	{
		double t0 = bench_now();

		if (exec_sql(pg, populate_sql) < 0)
			goto done;
		printf("  made %d generations in %.1f s\n", GENERATIONS, bench_now() - t0);
		fflush(stdout);
	}

	snprintf(path, sizeof path, "%s/review.csv", work);
	{
		char *argv[] = { skugen, "-q", "export", "--format", "csv", "--out", path, NULL };

		crc = run_child(argv, NULL, &secs, &rss);
		printf("  review.csv: %.1f MB\n", file_size(path) / 1e6);
		step("export csv", crc, secs, rss, 50000, 64);
	}
	snprintf(page, sizeof page, "%s/review.html", work);
	{
		char *argv[] = { skugen, "-q", "export", "--format", "html", "--out", page, NULL };

		crc = run_child(argv, NULL, &secs, &rss);
		printf("  review.html: %.1f MB\n", file_size(page) / 1e6);
		step("export html", crc, secs, rss, 25000, 64);
	}
	fflush(stdout);
	{
		char tool[PATH_MAX + 64], out[PATH_MAX + 16], line[4096] = "";
		char *argv[] = { "/usr/bin/env", "node", tool, "first-render", page, NULL };
		FILE *f;

		snprintf(tool, sizeof tool, "%s/tests/integration/review_page/review_page.mjs", root);
		snprintf(out, sizeof out, "%s/render.json", work);
		crc = access(tool, R_OK) == 0 ? run_child(argv, out, &secs, &rss) : -1;
		f = fopen(out, "r");
		if (f) {
			if (!fgets(line, sizeof line, f))
				line[0] = '\0';
			fclose(f);
		}
		if (crc != 0 || json_number(line, "first_card_ms") < 0) {
			printf("  first render: could not measure (node, /usr/bin/chromium and `npm ci` in "
			       "tests/integration/review_page are needed; exit %d)\n", crc);
			verdict("first render: could not measure");
		} else {
			double first = json_number(line, "first_card_ms"), all = json_number(line, "all_parsed_ms");
			double key = json_number(line, "key_ms");

			printf("  first render: %s", line);
			verdict("first cards painted: %.0f ms (goal: <= 2000 ms) %s", first, first <= 2000 ? "met" : "missed");
			verdict("all %d cards' data parsed: %.0f ms (goal: none, for scale)", SKUS, all);
			verdict("keypress answered after load: %.0f ms (goal: <= 100 ms) %s", key, key <= 100 ? "met" : "missed");
		}
	}
	fflush(stdout);
	snprintf(path, sizeof path, "%s/decisions.csv", work);
	if (write_decisions(pg, path) < 0)
		goto done;
	{
		char *argv[] = { skugen, "-q", "import", "--reviewer", "bench", path, NULL };
		double t0, floor_s;

		/* The floor any import pays: every row's status updated and a review
		 * row inserted, in one transaction (rolled back). */
		t0 = bench_now();
		if (exec_sql(pg, "begin") < 0 || exec_sql(pg, "set local jit = off") < 0 ||
		    exec_sql(pg, "update skugen.generations set status = case when id % 10 = 2 then 'rejected' "
				 "else 'approved' end") < 0 ||
		    exec_sql(pg, "insert into skugen.reviews (generation_id, decision, reviewer) "
				 "select id, 'approve', 'bench' from skugen.generations") < 0 ||
		    exec_sql(pg, "rollback") < 0)
			goto done;
		floor_s = bench_now() - t0;
		printf("  floor (one UPDATE of every status + one INSERT of every review, rolled back): %.2f s\n",
		       floor_s);
		crc = run_child(argv, NULL, &secs, &rss);
		step("import", crc, secs, rss, 20000, 64);
		if (crc == 0)
			verdict("import / floor: %.2f (goal: <= 2.0) %s", secs / floor_s, secs / floor_s <= 2.0 ? "met" : "missed");
		crc = run_child(argv, NULL, &secs, &rss);
		printf("  import again (nothing new): exit %d, %.2f s, peak RSS %.1f MB\n", crc, secs, rss / 1024.0);
		verdict("import again, nothing new: %.2f s (goal: none, for scale)", secs);
	}
	rc = 0;
done:
	PQfinish(pg);
	unsetenv("SKUGEN_DSN");   /* else `db stop` takes the store for an external one */
	bench_db_drop(&db);
	bench_rm_rf(work);
	for (int i = 0; i < nverdicts; i++)
		printf("%s\n", verdicts[i]);
	if (rc)
		printf("review: could not measure (see above)\n");
	return rc;
}
