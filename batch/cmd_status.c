/* cmd_status.c: `skugen status [RUN]`: where runs stand, from the store
 * alone, so it shows a run that other processes or machines are executing.
 *
 * Without RUN: the last runs with their tasks by state and what each cost,
 * and the generations in the store by status.  With RUN: that run's tasks
 * by state, its rate over the last minute and ETA, cost against budget,
 * deadline, the workers holding leases on its tasks, and its first failures.
 * --json prints the same as one JSON document; --watch follows the run with
 * the progress reporter (progress.h) until it ends.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch/cli.h"
#include "batch/progress.h"
#include "batch/run_stats.h"

#define FAILURES_SHOWN 20
/* A running run's row is touched every 10 s or so (run.h); much older and
 * its process has probably died. */
#define STALE_S 60

static const char usage_text[] =
	"usage: skugen status [--limit N] [--json] [RUN]\n"
	"       skugen status --watch [--log-json] [--interval SECONDS] [RUN]\n"
	"\n"
	"Without RUN: the last runs (default 10) with their tasks by state and cost, and\n"
	"the generations in the store by status.  With RUN: its progress (tasks by\n"
	"state, rate over the last minute, ETA), cost against its budget, its deadline,\n"
	"the workers holding leases on its tasks and their last heartbeat, and its\n"
	"first failures.  It reads only the store: the run may be executed by other\n"
	"processes or machines.\n"
	"\n"
	"  -n, --limit N         how many runs to list (default 10)\n"
	"      --json            print one JSON document instead of text\n"
	"  -w, --watch           follow the run (default: the newest) until it ends: a\n"
	"                        live line on a terminal, else a line every interval\n"
	"      --log-json        with --watch: one JSON object per line\n"
	"      --interval SECONDS  with --watch: seconds between lines (default 10)\n"
	"\n"
	"exit codes: 0; with --watch, 0 when the run ended done without failures,\n"
	"  1 when it ended otherwise; 2 usage error or no such run; 3 cannot reach\n"
	"  the store\n";

/* The newest runs first, then each one's counts (never a count over every
 * task of every run). */
static const char *const runs_sql =
	"select r.id, r.kind, r.status, to_char(r.started_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'),\n"
	"  coalesce(to_char(r.finished_at - r.started_at, 'HH24:MI:SS'), '-'),\n"
	"  c.total, c.queued, c.running, c.waiting, c.done, c.skipped, c.failed, c.dead, c.cancelled,\n"
	"  (select count(*) from skugen.record_errors b where b.run_id = r.id),\n"
	"  (select coalesce(sum(l.cost), 0) from skugen.cost_ledger l where l.run_id = r.id)\n"
	"from (select * from skugen.runs order by id desc limit $1) r,\n"
	"  lateral (select count(*) total, count(*) filter (where state = 'queued') queued,\n"
	"    count(*) filter (where state = 'running') running,\n"
	"    count(*) filter (where state = 'waiting') waiting,\n"
	"    count(*) filter (where state = 'done') done,\n"
	"    count(*) filter (where state = 'skipped') skipped,\n"
	"    count(*) filter (where state = 'failed') failed,\n"
	"    count(*) filter (where state = 'dead') dead,\n"
	"    count(*) filter (where state = 'cancelled') cancelled\n"
	"    from skugen.tasks_all t where t.run_id = r.id) c\n"
	"order by r.id desc";

/* The workers holding leases on the run's tasks: a heartbeat renews a lease
 * to lease_s from now, so the last one was about lease_s before it ends. */
static const char *const workers_sql =
	"select coalesce(worker, '(unnamed)'), count(*),\n"
	"  to_char(max(lease_until) at time zone 'UTC', 'HH24:MI:SS'),\n"
	"  extract(epoch from max(lease_until) - now())\n"
	"from skugen.tasks where run_id = $1 and state = 'running'\n"
	"group by worker order by worker";

static const char *const failures_sql =
	"(select message from skugen.record_errors where run_id = $1 order by id limit $2)\n"
	"union all (select coalesce(origin || ': ', '') || coalesce(last_error, 'no message')\n"
	"  from skugen.tasks_all where run_id = $1 and state in ('failed', 'dead') order by id limit $2)\n"
	"limit $2";

static volatile sig_atomic_t stop_watching;

static void on_signal(int sig)
{
	(void)sig;
	stop_watching = 1;
}

/* A line of text from the store (messages may carry what a provider or a
 * catalog sent) with its control characters shown as \xNN, so that it cannot
 * drive the terminal. */
static void print_safe(const char *prefix, const char *text)
{
	fputs(prefix, stdout);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
	putchar('\n');
}

/* "YYYY-MM-DD HH:MM:SS" (UTC) as ISO 8601, into out (32 bytes); "" stays "". */
static const char *iso(const char *t, char out[32])
{
	if (strlen(t) == 19 && t[10] == ' ')
		snprintf(out, 32, "%.10sT%.8sZ", t, t + 11);
	else
		snprintf(out, 32, "%s", t);
	return out;
}

static int list_runs(struct store *st, const char *limit, bool json, struct err *e)
{
	PGresult *r = store_query(st, runs_sql, 1, (const char *[]){ limit }, e);
	json_t *runs = NULL;

	if (!r)
		return -1;
	if (json) {
		runs = json_array();
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *counts = json_object();
			char started[32];

			for (int k = 0; k < 8; k++)
				json_object_set_new(counts, run_state_name((enum run_state)k),
						    json_integer(atol(PQgetvalue(r, i, 6 + k))));
			json_array_append_new(runs, json_pack("{s:I, s:s, s:s, s:s, s:I, s:o, s:I, s:f}",
				"id", (json_int_t)atol(PQgetvalue(r, i, 0)), "kind", PQgetvalue(r, i, 1),
				"status", PQgetvalue(r, i, 2), "started_at", iso(PQgetvalue(r, i, 3), started),
				"tasks", (json_int_t)atol(PQgetvalue(r, i, 5)), "counts", counts,
				"bad_records", (json_int_t)atol(PQgetvalue(r, i, 14)),
				"cost", strtod(PQgetvalue(r, i, 15), NULL)));
		}
		json_dumpf(runs, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
		putchar('\n');
		json_decref(runs);
		PQclear(r);
		return 0;
	}
	printf("%6s  %-5s  %-11s  %-19s  %8s  %7s %7s %7s %7s %7s %7s %7s %7s %7s  %7s  %s\n", "run", "kind",
	       "status", "started (UTC)", "took", "tasks", "queued", "running", "waiting", "done", "skipped",
	       "failed", "dead", "cancel", "bad rec", "cost");
	for (int i = 0; i < PQntuples(r); i++)
		printf("%6s  %-5s  %-11s  %-19s  %8s  %7s %7s %7s %7s %7s %7s %7s %7s %7s  %7s  %.4f\n",
		       PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
		       PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7),
		       PQgetvalue(r, i, 8), PQgetvalue(r, i, 9), PQgetvalue(r, i, 10), PQgetvalue(r, i, 11),
		       PQgetvalue(r, i, 12), PQgetvalue(r, i, 13), PQgetvalue(r, i, 14),
		       strtod(PQgetvalue(r, i, 15), NULL));
	if (PQntuples(r) == 0)
		printf("(no runs yet)\n");
	PQclear(r);
	r = store_query(st, "select status, count(*) from skugen.generations group by status order by status",
			0, NULL, e);
	if (!r)
		return -1;
	printf("\ngenerations:");
	for (int i = 0; i < PQntuples(r); i++)
		printf(" %s %s%s", PQgetvalue(r, i, 1), PQgetvalue(r, i, 0), i + 1 < PQntuples(r) ? "," : "");
	printf("%s\n", PQntuples(r) ? "" : " none");
	PQclear(r);
	return 0;
}

/* One run in detail, as text or JSON. */
static int show_run(struct store *st, long run_id, double lease_s, bool json, struct err *e)
{
	struct run_snapshot s;
	char id[32], lim[16], took[16], eta[16], beat[16], dl[16];
	PGresult *w = NULL, *f = NULL;
	double rate, eta_s;
	int rc = -1;

	if (run_snapshot_load(st, run_id, true, &s, e) < 0)
		return -1;
	snprintf(id, sizeof id, "%ld", run_id);
	snprintf(lim, sizeof lim, "%d", FAILURES_SHOWN);
	if (!(w = store_query(st, workers_sql, 1, (const char *[]){ id }, e)) ||
	    !(f = store_query(st, failures_sql, 2, (const char *[]){ id, lim }, e)))
		goto out;
	rate = s.rate;
	eta_s = s.remaining == 0 ? 0 : (s.ended || rate <= 0) ? -1 : (double)s.remaining / rate;
	run_format_duration(s.age_s, took);
	run_format_duration(eta_s, eta);
	run_format_duration(s.heartbeat_age_s, beat);
	run_format_duration(fabs(s.deadline_in_s), dl);
	if (json) {
		json_t *counts = json_object(), *workers = json_array(), *fails = json_array(), *doc;
		char started[32], deadline[32];

		for (int i = 0; i < RS_N; i++)
			if (i != RS_OTHER || s.count[i])
				json_object_set_new(counts, run_state_name((enum run_state)i), json_integer(s.count[i]));
		for (int i = 0; i < PQntuples(w); i++) {
			double left = strtod(PQgetvalue(w, i, 3), NULL);

			json_array_append_new(workers, json_pack("{s:s, s:I, s:s, s:f, s:f}",
				"worker", PQgetvalue(w, i, 0), "tasks", (json_int_t)atol(PQgetvalue(w, i, 1)),
				"lease_until", PQgetvalue(w, i, 2), "lease_left_s", left,
				"heartbeat_age_s", lease_s - left));
		}
		for (int i = 0; i < PQntuples(f); i++)
			json_array_append_new(fails, json_string(PQgetvalue(f, i, 0)));
		doc = json_pack("{s:I, s:s, s:s, s:s, s:s, s:f, s:f, s:o, s:I, s:I, s:I, s:I, s:I, s:f, s:o,"
				" s:f, s:o, s:o, s:o, s:o, s:o}",
			"run_id", (json_int_t)run_id, "kind", s.kind, "status", s.status, "message", s.message,
			"started_at", iso(s.started_at, started), "age_s", s.age_s, "heartbeat_age_s", s.heartbeat_age_s,
			"counts", counts, "total", (json_int_t)s.total, "finished", (json_int_t)s.finished,
			"remaining", (json_int_t)s.remaining, "failures", (json_int_t)s.failures,
			"bad_records", (json_int_t)s.bad_records, "rate", round(rate * 100) / 100,
			"eta_s", eta_s >= 0 ? json_integer((json_int_t)lround(eta_s)) : json_null(),
			"cost", s.cost, "budget", s.has_budget ? json_real(s.budget) : json_null(),
			"deadline", s.deadline[0] ? json_string(iso(s.deadline, deadline)) : json_null(),
			"deadline_in_s", s.deadline[0] ? json_real(s.deadline_in_s) : json_null(),
			"workers", workers, "failures_first", fails);
		if (!doc) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
		putchar('\n');
		json_decref(doc);
		rc = 0;
		goto out;
	}
	printf("%s %ld: %s, started %s UTC, %s %s", s.kind, run_id, s.status, s.started_at,
	       s.ended ? "took" : "running for", took);
	if (!s.ended)
		printf(", heartbeat %s ago", beat);
	if (!s.ended && s.heartbeat_age_s > STALE_S)
		printf(" (stale: the process running it may have died; the next run or worker reaps it"
		       " after 10 minutes)");
	putchar('\n');
	if (s.message[0])
		print_safe("  message: ", s.message);
	printf("  tasks: %ld/%ld finished (%.0f%%): %ld done, %ld skipped, %ld failed, %ld dead, %ld cancelled;"
	       " %ld queued, %ld running, %ld waiting\n",
	       s.finished, s.total, s.total ? 100.0 * (double)s.finished / (double)s.total : 0.0,
	       s.count[RS_DONE], s.count[RS_SKIPPED], s.count[RS_FAILED], s.count[RS_DEAD], s.count[RS_CANCELLED],
	       s.count[RS_QUEUED], s.count[RS_RUNNING], s.count[RS_WAITING]);
	if (s.bad_records)
		printf("  bad records: %ld\n", s.bad_records);
	if (s.ended)
		printf("  rate: %.1f tasks/s over the run\n", rate);
	else
		printf("  rate: %.1f tasks/s over the last minute, eta %s\n", rate, eta);
	if (s.has_budget)
		printf("  cost: %.4f of the budget %.4f (%.0f%%)\n", s.cost, s.budget,
		       s.budget > 0 ? 100 * s.cost / s.budget : 0.0);
	else
		printf("  cost: %.4f (no budget)\n", s.cost);
	if (s.deadline[0])
		printf("  deadline: %s UTC (%s %s)\n", s.deadline, s.deadline_in_s >= 0 ? "in" : "passed", dl);
	else
		printf("  deadline: none\n");
	if (PQntuples(w) == 0)
		printf("  workers: none holds a lease on its tasks\n");
	else
		printf("  workers holding leases:\n");
	for (int i = 0; i < PQntuples(w); i++) {
		double lease_left = strtod(PQgetvalue(w, i, 3), NULL);
		char left[16], hb[16];

		run_format_duration(lease_left, left);
		run_format_duration(lease_s - lease_left, hb);
		if (lease_left < 0)
			printf("    %-30s %6s tasks, lease expired %s UTC: the worker looks dead; its tasks return to the queue\n",
			       PQgetvalue(w, i, 0), PQgetvalue(w, i, 1), PQgetvalue(w, i, 2));
		else
			printf("    %-30s %6s tasks, lease until %s UTC (%s left), last heartbeat about %s ago\n",
			       PQgetvalue(w, i, 0), PQgetvalue(w, i, 1), PQgetvalue(w, i, 2), left, hb);
	}
	if (PQntuples(f))
		printf("  failures (first %d; `skugen report %ld` groups them all by cause):\n", FAILURES_SHOWN, run_id);
	for (int i = 0; i < PQntuples(f); i++)
		print_safe("    ", PQgetvalue(f, i, 0));
	rc = 0;
out:
	PQclear(w);
	PQclear(f);
	return rc;
}

/* Follow run_id with the progress reporter until it ends (or a signal). */
static int watch_run(struct store *st, long run_id, bool log_json, double interval, int *code,
		     struct err *e)
{
	struct progress *p = progress_open(stderr, progress_mode_for(stderr, log_json), run_id);
	const struct run_snapshot *s;
	int rc = -1;

	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	progress_set_interval(p, interval);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop_watching) {
		if (progress_poll(p, st, false, e) < 0)
			goto out;
		if (progress_ended(p))
			break;
		usleep(200 * 1000);
	}
	/* Stopped by a signal: the numbers as they are now. */
	if (!progress_ended(p) && progress_poll(p, st, true, e) < 0)
		goto out;
	s = progress_last(p);
	*code = (s->ended && strcmp(s->status, "done") == 0 && s->failures == 0 && s->bad_records == 0) ?
		EXIT_ALL_DONE : EXIT_SOME_FAILED;
	rc = 0;
out:
	progress_close(p);
	return rc;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },
		{ "log-json", no_argument, NULL, 'J' },
		{ "interval", required_argument, NULL, 'i' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct settings s;
	struct store *st = NULL;
	struct err e;
	char limit[16] = "10";
	bool json = false, watch = false, log_json = false;
	double interval = 10;
	long run_id = 0;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "n:wh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (atoi(optarg) <= 0) {
				fprintf(stderr, "skugen status: --limit must be a positive number, got \"%s\"\n", optarg);
				return EXIT_USAGE;
			}
			snprintf(limit, sizeof limit, "%d", atoi(optarg));
			break;
		case 'j':
			json = true;
			break;
		case 'w':
			watch = true;
			break;
		case 'J':
			log_json = true;
			break;
		case 'i': {
			char *end;

			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.2 && interval <= 86400)) {
				fprintf(stderr, "skugen status: --interval must be between 0.2 and 86400 seconds, got \"%s\"\n", optarg);
				return EXIT_USAGE;
			}
			break;
		}
		default:
			if (cli_option(c, usage_text, &code))
				return code;
		}
	}
	if ((log_json) && !watch) {
		fprintf(stderr, "skugen status: --log-json goes with --watch (for one document use --json)\n");
		return EXIT_USAGE;
	}
	if (cli_run_operand("status", argc, argv, &run_id) < 0)
		return EXIT_USAGE;
	err_clear(&e);
	if (cli_settings(&s, false, &e) < 0)
		return cli_fail(&e);
	if (cli_store(&s, &st, &e) < 0)
		goto fail;
	if (watch && !run_id) {
		if (run_latest(st, &run_id, &e) < 0)
			goto fail;
		if (!run_id) {
			err_set(&e, ERR_USAGE, "status --watch: the store has no runs yet");
			goto fail;
		}
	}
	if (watch) {
		if (watch_run(st, run_id, log_json, interval, &code, &e) < 0)
			goto fail;
	} else if (run_id) {
		if (show_run(st, run_id, s.queue.lease_s > 0 ? s.queue.lease_s : 30, json, &e) < 0)
			goto fail;
	} else if (list_runs(st, limit, json, &e) < 0) {
		goto fail;
	}
	goto out;
fail:
	code = cli_fail(&e);
out:
	store_close(st);
	settings_free(&s);
	return code;
}
