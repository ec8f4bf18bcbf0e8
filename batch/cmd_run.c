/* cmd_run.c: `skugen run` and `skugen regen SKU...`.
 *
 * Both read the configured source, plan tasks into the shared queue
 * (skipping what an unchanged fingerprint says is already made, and what
 * another run has queued already), execute them with N local worker
 * processes (this one and N-1 `skugen worker --run ID` children; 0: workers
 * elsewhere do it), wait until every task of the run is final, and print a
 * summary.  regen plans only the SKUs it is given, at priority 100 (nightly
 * work is 0), so any worker takes them first; with --wait it prints each
 * result as it lands; with --run ID it adopts a run `skugen serve` made.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch/cli.h"
#include "batch/executor.h"
#include "batch/planner.h"
#include "batch/progress.h"
#include "batch/publish.h"
#include "batch/queue.h"
#include "batch/remote_cancel.h"
#include "batch/report.h"
#include "batch/run.h"
#include "batch/watermark.h"
#include "common/buf.h"
#include "connectors/connector.h"
#include "templates/tmpl.h"

#define RECORDS_PER_BATCH 500
#define ERRORS_SHOWN 20
#define REGEN_PRIORITY 100
#define MAX_WORKERS 256

struct run_args {
	const char *kind;     /* "run" or "regen" */
	bool force;
	bool full;            /* ignore the stored watermark: read everything */
	bool dry_run;         /* plan and estimate, call nothing, keep nothing */
	double budget;        /* --budget: overrides the configuration's (0: keep it) */
	const char *since;    /* read only what changed after this (overrides the store) */
	json_t *only;         /* regen's SKUs */
	json_t *outputs;      /* regen --outputs: names or kinds, or NULL */
	int batch_size;
	int workers;          /* local workers, this process included; 0: none */
	bool wait;            /* regen --wait: print each result as it lands */
	long adopt;           /* regen --run ID: the run skugen serve made */
	double deadline_s;    /* --deadline SECONDS (overrides budget.deadline_s) */
	bool log_json;        /* --log-json: progress as one JSON object per line */
	const char *report_dir; /* --report DIR (default SKUGEN_HOME/reports); "" = none */
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* What --wait has printed: task id -> true. */
struct waiter {
	struct store *st;
	long run_id;
	json_t *printed;
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* regen --wait: print each task of the run that became final since the last
 * look, with its content (first line, at most 200 bytes) or its error. */
static void print_landed(const struct run_counts *c, void *ctx)
{
	struct waiter *w = ctx;
	char id[32];
	PGresult *r;

	(void)c;
	snprintf(id, sizeof id, "%ld", w->run_id);
	r = store_query(w->st, "select t.id, t.sku, t.output, t.locale, t.state,\n"
			       "  coalesce(g.asset_path, left(split_part(g.content, E'\\n', 1), 200), ''),\n"
			       "  coalesce(t.last_error, ''), coalesce(g.id::text, '')\n"
			       "from skugen.tasks t left join skugen.generations g on g.id = t.generation_id\n"
			       "where t.run_id = $1 and t.state not in ('queued', 'running', 'waiting')\n"
			       "order by t.finished_at, t.id", 1, (const char *[]){ id }, NULL);
	if (!r)
		return;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *state = PQgetvalue(r, i, 4);

		if (json_object_get(w->printed, PQgetvalue(r, i, 0)))
			continue;
		json_object_set_new(w->printed, PQgetvalue(r, i, 0), json_true());
		if (strcmp(state, "done") == 0)
			printf("%s %s %s: done (generation %s): %s\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
			       PQgetvalue(r, i, 3), PQgetvalue(r, i, 7), PQgetvalue(r, i, 5));
		else if (strcmp(state, "skipped") == 0)
			printf("%s %s %s: unchanged\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
		else
			printf("%s %s %s: %s: %s\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
			       state, PQgetvalue(r, i, 6));
	}
	fflush(stdout);
	PQclear(r);
}

/* Start n-1 `skugen worker --run ID` processes beside this one. */
static int spawn_workers(long run_id, int n, const struct run_args *a, pid_t *pids, int *spawned,
			 struct err *e)
{
	char id[32], batch[16];

	*spawned = 0;
	snprintf(id, sizeof id, "%ld", run_id);
	snprintf(batch, sizeof batch, "%d", a->batch_size > 0 ? a->batch_size : 64);
	fflush(stdout);
	fflush(stderr);
	for (int i = 1; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return err_set(e, ERR_IO, "starting worker %d: %s", i, strerror(errno));
		if (pid == 0) {
			char *argv[] = { "skugen", "--config", (char *)cli.config_path, "-q", "worker",
					 "--run", id, "--batch-size", batch, NULL };

			execv("/proc/self/exe", argv);
			fprintf(stderr, "skugen: starting a worker: %s\n", strerror(errno));
			_exit(127);
		}
		pids[(*spawned)++] = pid;
	}
	return 0;
}

/* Wait for the workers; SIGTERM them first when stop is set. */
static void reap_workers(pid_t *pids, int n, bool stop)
{
	for (int i = 0; i < n; i++)
		if (stop)
			kill(pids[i], SIGTERM);
	for (int i = 0; i < n; i++) {
		int status;

		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
	}
}

/* Every output's default template must load in every locale before anything
 * is spent: a broken template is a configuration error, found now. */
static int check_templates(const struct settings *s, struct tmpl_lib *lib, struct err *e)
{
	for (size_t i = 0; i < s->n_outputs; i++) {
		size_t k;
		json_t *loc;

		json_array_foreach(s->outputs[i].locales, k, loc)
			if (!tmpl_lib_select(lib, s->outputs[i].template_base, NULL, json_string_value(loc), e))
				return err_prefix(e, "output \"%s\"", s->outputs[i].name);
	}
	return 0;
}

/* Print the first bad records and failed tasks of the run. */
static void print_errors(struct store *st, long run_id)
{
	char id[32], lim[16];
	const char *params[2] = { id, lim };
	PGresult *r;

	snprintf(id, sizeof id, "%ld", run_id);
	snprintf(lim, sizeof lim, "%d", ERRORS_SHOWN);
	r = store_query(st, "(select message from skugen.record_errors where run_id = $1 order by id limit $2)"
			    " union all (select coalesce(origin || ': ', '') || last_error from skugen.tasks"
			    "  where run_id = $1 and state = 'failed' order by id limit $2) limit $2",
			2, params, NULL);
	if (!r)
		return;
	for (int i = 0; i < PQntuples(r); i++)
		fprintf(stderr, "skugen: error: %s\n", PQgetvalue(r, i, 0));
	if (PQntuples(r) == ERRORS_SHOWN)
		fprintf(stderr, "skugen: (more errors: see `skugen status %ld`)\n", run_id);
	PQclear(r);
}

static void print_summary(long run_id, const struct run_args *a, const struct run_counts *c, double secs)
{
	printf("%s %ld: %ld records (%ld bad), %ld tasks: %ld generated, %ld unchanged, %ld failed, in %.2f s",
	       a->kind, run_id, c->records, c->bad_records, c->tasks, c->done, c->skipped, c->failed, secs);
	if (c->cost > 0)
		printf(", cost %.4f", c->cost);
	putchar('\n');
	if (c->elsewhere > 0)
		printf("%ld of the unchanged were queued by another run, which makes them (and keeps the source's watermark)\n",
		       c->elsewhere);
	if (c->tasks > 0 && c->done == 0 && c->failed == 0)
		printf("nothing new to generate: every task's inputs, template and generator are unchanged (--force to redo)\n");
}

/* Print what a dry run would cost, then delete the run: nothing is kept. */
static int report_dry_run(struct store *st, long run_id, const struct run_counts *c, double budget,
			  struct err *e)
{
	char id[32];

	snprintf(id, sizeof id, "%ld", run_id);
	printf("dry run: %ld records, %ld tasks: %ld unchanged, %ld to generate: %ld by local generators (free), %ld remote calls\n"
	       "estimate: %lld tokens in, up to %lld tokens out, cost %.4f%s\n",
	       c->records, c->tasks, c->skipped, c->queued, c->est_local, c->est_calls,
	       c->est_tokens_in, c->est_tokens_out, c->est_cost,
	       budget > 0 ? (c->est_cost > budget ? " (over the budget)" : " (within the budget)") : "");
	return store_exec(st, "delete from skugen.runs where id = $1", 1, (const char *[]){ id }, e);
}

/* Outputs set to "publish": "auto" go out at the end of the run. */
static int publish_auto(struct store *st, const struct settings *s, struct conn *sink,
			long *problems, struct err *e)
{
	struct publish_opts po = { .auto_only = true };
	struct publish_counts pc = { 0 };
	bool any = false;

	for (size_t i = 0; i < s->n_outputs; i++)
		any |= s->outputs[i].auto_publish && s->outputs[i].target;
	if (!any)
		return 0;
	if (publish_outputs(st, s, sink, &po, &pc, e) < 0)
		return -1;
	cli_print_publish(&pc);
	*problems = pc.failed + pc.refused;
	return 0;
}

/* The budget stopped new calls: the tasks it left are cancelled with the
 * reason (the next run plans them again, since nothing was made for their
 * fingerprints), and the run's message says what was spent. */
static int cancel_unstarted(struct store *st, long run_id, const struct run_counts *c, double budget,
			    char *msg, size_t cap, struct err *e)
{
	snprintf(msg, cap, "budget reached: spent %.4f of %.4f; the tasks not started are left for the next run",
		 c->cost, budget);
	fprintf(stderr, "skugen: %s\n", msg);
	return queue_cancel_unstarted(st, run_id, QUEUE_BUDGET_REASON, NULL, e);
}

/* Whether someone cancelled the run (skugen cancel) while it ran: then it
 * says so, with what was made, and the run is not finished again. */
static int run_cancelled(struct store *st, long run_id, const struct run_counts *c,
			 const struct run_args *a)
{
	char id[32];
	PGresult *r;
	int cancelled;

	snprintf(id, sizeof id, "%ld", run_id);
	r = store_query(st, "select status, coalesce(message, '') from skugen.runs where id = $1", 1,
			(const char *[]){ id }, NULL);
	if (!r)
		return 0;
	cancelled = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "cancelled") == 0;
	if (cancelled)
		fprintf(stderr, "skugen: %s %ld was cancelled%s%s: %ld generated before it stopped\n", a->kind, run_id,
			PQgetvalue(r, 0, 1)[0] ? ": " : "", PQgetvalue(r, 0, 1), c->done);
	PQclear(r);
	return cancelled;
}

/* The reporter's last line, read after the run ended so it says how. */
static void finish_progress(struct progress **prog, struct store *st)
{
	struct err e;

	if (!*prog)
		return;
	if (st)
		progress_poll(*prog, st, true, &e);
	progress_close(*prog);
	*prog = NULL;
}

/* The run's report as JSON and HTML in --report DIR (default
 * SKUGEN_HOME/reports).  A report that cannot be written is a warning: the
 * run's work is stored either way. */
static void write_report(struct store *st, long run_id, const struct run_args *a,
			 const struct settings *s)
{
	struct buf dir = BUF_INIT, json = BUF_INIT, html = BUF_INIT;
	struct err e;

	if (a->dry_run || (a->report_dir && !a->report_dir[0]))
		return;
	if (a->report_dir)
		buf_puts(&dir, a->report_dir);
	else
		buf_printf(&dir, "%s/reports", s->home);
	buf_printf(&json, "%s/run-%ld.json", buf_str(&dir), run_id);
	buf_printf(&html, "%s/run-%ld.html", buf_str(&dir), run_id);
	err_clear(&e);
	if (mkdir(buf_str(&dir), 0755) < 0 && errno != EEXIST)
		fprintf(stderr, "skugen: warning: no report: cannot create %s: %s\n", buf_str(&dir), strerror(errno));
	else if (report_write(st, run_id, buf_str(&json), buf_str(&html), &e) < 0)
		fprintf(stderr, "skugen: warning: the run's report was not written: %s\n", e.msg);
	else if (!cli.quiet)
		fprintf(stderr, "%s %ld: report in %s and %s\n", a->kind, run_id, buf_str(&json), buf_str(&html));
	buf_free(&dir);
	buf_free(&json);
	buf_free(&html);
}

static int execute(const struct run_args *a)
{
	struct settings s;
	struct tmpl_lib *lib = NULL;
	struct store *st = NULL;
	struct conn *src = NULL;
	const struct conn_ops *ops;
	struct planner *pl = NULL;
	struct record_batch batch = { 0 };
	struct run_counts counts;
	struct timespec t0;
	struct err e;
	long run_id = 0;
	char wm_key[WATERMARK_KEY_LEN];
	char *since = NULL;
	long publish_problems = 0;
	char budget_msg[160] = "";
	int code = EXIT_ALL_DONE;
	bool run_open = false;
	struct progress *prog = NULL;
	struct progress_hook hook = { 0 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&counts, 0, sizeof counts);
	{
		struct sigaction sa = { .sa_handler = on_stop };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	err_clear(&e);
	if (cli_settings(&s, true, &e) < 0)
		return cli_fail(&e);
	if (settings_require_pipeline(&s, &e) < 0)
		goto fail;
	if (a->budget > 0)
		s.budget = a->budget;
	if (a->deadline_s > 0)
		s.deadline_s = a->deadline_s;
	lib = tmpl_lib_open_dir(s.templates_dir, &e);
	if (!lib || check_templates(&s, lib, &e) < 0)
		goto fail;
	ops = conn_find(json_string_value(json_object_get(s.source, "type")));
	if (!ops) {
		config_error(&s.cfg, &e, "source.type", "unknown source type");
		goto fail;
	}
	/* The store first: the source's watermark lives there. */
	if (cli_store(&s, &st, &e) < 0)
		goto fail;
	watermark_key(ops->name, s.source, wm_key);
	if (a->since)
		since = strdup(a->since);
	else if (!a->full && !a->only && watermark_get(st, wm_key, &since, &e) < 0)
		goto fail;
	if (since && !cli.quiet)
		fprintf(stderr, "%s: reading what changed after %s%s\n", a->kind, since,
			a->since ? "" : " (the last successful run; --full reads everything)");
	{
		struct conn_open_opts oo = { .base_dir = s.cfg.dir, .since = since, .skus = a->only };

		if (ops->open(&src, s.source, &oo, &e) < 0)
			goto fail;
	}
	if (run_reap_dead(st, &s, NULL, &e) < 0)
		goto fail;
	if (a->adopt) {
		run_id = a->adopt;
		if (run_adopt(st, run_id, &e) < 0)
			goto fail;
	} else if (run_begin(st, a->kind, ops->name, s.cfg.path, s.config_sha256, a->force, &run_id, &e) < 0)
		goto fail;
	run_open = true;
	if (!a->dry_run && run_set_limits(st, run_id, s.budget, s.deadline_s, &e) < 0)
		goto fail;
	{
		struct planner_opts po = { .run_id = run_id, .force = a->force, .only = a->only,
					   .priority = a->only ? REGEN_PRIORITY : 0,
					   .max_attempts = s.queue.max_attempts, .outputs = a->outputs };

		if (planner_new(&pl, st, &s, lib, &po, &e) < 0 ||
		    record_batch_init(&batch, RECORDS_PER_BATCH) < 0)
			goto fail;
	}
	for (;;) {
		if (ops->next(src, &batch, &e) < 0)
			goto fail;
		if (batch.len == 0)
			break;
		if (planner_add(pl, &batch, &e) < 0 || run_heartbeat(st, run_id, &e) < 0)
			goto fail;
	}
	counts = *planner_counts(pl);
	if (!cli.quiet)
		fprintf(stderr, "%s %ld: planned %ld tasks from %ld records (%ld to generate, %ld unchanged)\n",
			a->kind, run_id, counts.tasks, counts.records, counts.queued, counts.skipped);
	{
		struct waiter w = { .st = st, .run_id = run_id, .printed = json_object() };
		struct executor_opts eo = { .run_id = run_id, .batch_size = a->batch_size,
					    .dry_run = a->dry_run, .stop = &stop_requested,
					    .watch_only = a->workers == 0 && !a->dry_run,
					    .progress = NULL };
		pid_t pids[MAX_WORKERS];
		int spawned = 0, rc;

		if (a->wait) {
			eo.progress = print_landed;
			eo.progress_ctx = &w;
		} else if ((!cli.quiet || a->log_json) && !a->dry_run) {
			/* The whole run's progress, read from the store, so the
			 * line counts what every worker does, not only this one. */
			prog = progress_open(stderr, progress_mode_for(stderr, a->log_json), run_id);
			if (!prog) {
				err_set(&e, ERR_NOMEM, "out of memory");
				json_decref(w.printed);
				goto fail;
			}
			hook.p = prog;
			hook.st = st;
			eo.progress = progress_hook;
			eo.progress_ctx = &hook;
		}
		if (!a->dry_run && spawn_workers(run_id, a->workers, a, pids, &spawned, &e) < 0) {
			reap_workers(pids, spawned, true);
			json_decref(w.printed);
			goto fail;
		}
		rc = executor_run(st, &s, lib, &eo, &counts, &e);
		reap_workers(pids, spawned, rc < 0 || stop_requested);
		if (rc == 0 && a->wait)
			print_landed(&counts, &w);
		json_decref(w.printed);
		if (rc < 0)
			goto fail;
		if (stop_requested) {
			err_set(&e, ERR_INTERNAL, "stopped by a signal: the tasks not started are cancelled, and the next run plans them again");
			goto fail;
		}
	}
	if (!a->dry_run && run_load_counts(st, run_id, &counts, &e) < 0)
		goto fail;
	if (!a->dry_run && run_cancelled(st, run_id, &counts, a) != 0) {
		run_open = false;
		code = EXIT_SOME_FAILED;
		goto out;
	}
	if (a->dry_run) {
		if (report_dry_run(st, run_id, &counts, s.budget, &e) < 0)
			goto fail;
		run_open = false;
		code = EXIT_ALL_DONE;
		goto out;
	}
	if (a->only) {
		json_t *missing = planner_unmatched(pl), *v;
		size_t i;

		json_array_foreach(missing, i, v) {
			fprintf(stderr, "skugen: error: sku \"%s\": not found in the source\n", json_string_value(v));
			counts.failed++;
		}
		json_decref(missing);
	}
	if (publish_auto(st, &s, src, &publish_problems, &e) < 0)
		goto fail;
	if (counts.budget_stopped && cancel_unstarted(st, run_id, &counts, s.budget, budget_msg,
						      sizeof budget_msg, &e) < 0)
		goto fail;
	if (!counts.budget_stopped && counts.deadline_stopped) {
		snprintf(budget_msg, sizeof budget_msg, "deadline passed: %ld tasks not started are left for the next run",
			 counts.deadline_stopped);
		fprintf(stderr, "skugen: %s\n", budget_msg);
	}
	/* The queue table stays small: finished runs' tasks move to the archive. */
	{
		long moved = 0;

		if (queue_archive(st, s.queue.archive_after_s, &moved, &e) < 0)
			goto fail;
		if (moved && !cli.quiet)
			fprintf(stderr, "%s %ld: archived %ld tasks of other runs that ended more than %.0f s ago\n", a->kind,
				run_id, moved, s.queue.archive_after_s);
	}
	if (run_finish(st, run_id, "done", budget_msg[0] ? budget_msg : NULL, &e) < 0)
		goto fail;
	run_open = false;
	finish_progress(&prog, st);
	write_report(st, run_id, a, &s);
	/* Advance the watermark only when every task was made: a failed task,
	 * or one the budget left, must be read again next time.  (A bad record
	 * is read again when it is fixed, since fixing it moves its watermark.) */
	/* Nor when another run holds some of its work: that run's own success
	 * moves the watermark. */
	if (!a->only && counts.failed == 0 && !counts.budget_stopped && !counts.deadline_stopped &&
	    !counts.elsewhere &&
	    ops->watermark && ops->watermark(src) &&
	    watermark_set(st, wm_key, ops->name, ops->watermark(src), run_id, &e) < 0)
		goto fail;
	print_errors(st, run_id);
	print_summary(run_id, a, &counts, seconds_since(&t0));
	code = (counts.failed || counts.bad_records || publish_problems || counts.budget_stopped ||
		counts.deadline_stopped) ?
		EXIT_SOME_FAILED : EXIT_ALL_DONE;
	goto out;
fail:
	code = cli_fail(&e);
	if (run_open) {
		/* No worker takes a failed run's remote answers: the jobs its
		 * tasks wait for are cancelled at fal, not left to be billed. */
		struct remote_cancel_counts rcc;
		char fal[300];
		struct err ce;

		err_clear(&ce);
		if (remote_cancel_run(st, &s, run_id, "the run failed", 15, &rcc, &ce) == 0) {
			remote_cancel_summary(&rcc, fal, sizeof fal);
			if (fal[0])
				fprintf(stderr, "skugen: %s %ld: its tasks waiting for remote jobs are cancelled%s\n",
					a->kind, run_id, fal);
		}
		run_finish(st, run_id, "failed", e.msg, NULL);
	}
	if (run_open && st)
		write_report(st, run_id, a, &s);
out:
	finish_progress(&prog, st);
	record_batch_free(&batch);
	planner_free(pl);
	if (src)
		src->ops->close(src);
	store_close(st);
	tmpl_lib_free(lib);
	settings_free(&s);
	free(since);
	return code;
}

static int parse(int argc, char **argv, struct run_args *a, const char *usage_text)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "full", no_argument, NULL, 'F' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "budget", required_argument, NULL, 'B' },
		{ "since", required_argument, NULL, 's' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "workers", required_argument, NULL, 'w' },
		{ "deadline", required_argument, NULL, 'D' },
		{ "outputs", required_argument, NULL, 'o' },
		{ "wait", no_argument, NULL, 'W' },
		{ "run", required_argument, NULL, 'r' },
		{ "log-json", no_argument, NULL, 'J' },
		{ "report", required_argument, NULL, 'R' },
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, code;

	while ((c = getopt_long(argc, argv, "fb:c:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			a->force = true;
			break;
		case 'F':
			a->full = true;
			break;
		case 'n':
			a->dry_run = true;
			break;
		case 'B': {
			char *end;

			a->budget = strtod(optarg, &end);
			if (*end || !(a->budget > 0)) {
				fprintf(stderr, "skugen: --budget must be a positive amount, got \"%s\"\n", optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 's':
			a->since = optarg;
			break;
		case 'b':
			a->batch_size = atoi(optarg);
			if (a->batch_size < 1 || a->batch_size > 10000) {
				fprintf(stderr, "skugen: --batch-size must be between 1 and 10000\n");
				return EXIT_USAGE;
			}
			break;
		case 'w': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end || n < 0 || n > MAX_WORKERS) {
				fprintf(stderr, "skugen: --workers must be between 0 and %d, got \"%s\"\n", MAX_WORKERS, optarg);
				return EXIT_USAGE;
			}
			a->workers = (int)n;
			break;
		}
		case 'D': {
			char *end;

			a->deadline_s = strtod(optarg, &end);
			if (*end || !(a->deadline_s > 0)) {
				fprintf(stderr, "skugen: --deadline must be a positive number of seconds, got \"%s\"\n", optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'o': {
			char *list = strdup(optarg), *save = NULL;

			if (!a->outputs)
				a->outputs = json_array();
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
				if (*t)
					json_array_append_new(a->outputs, json_string(t));
			free(list);
			break;
		}
		case 'W':
			a->wait = true;
			break;
		case 'J':
			a->log_json = true;
			break;
		case 'R':
			a->report_dir = optarg;
			break;
		case 'r':
			if (!cli_run_number("skugen", "--run expects", optarg))
				return EXIT_USAGE;
			a->adopt = atol(optarg);
			break;
		default:
			if (cli_option(c, usage_text, &code))
				return code;
		}
	}
	return -1;
}

int cmd_run(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: skugen run [--force] [--full | --since VALUE] [--dry-run] [--budget AMOUNT]\n"
		"                  [--deadline SECONDS] [--workers N] [--batch-size N]\n"
		"                  [--log-json] [--report DIR]\n"
		"\n"
		"Reads every record of the configured source, plans one task per SKU, output\n"
		"and locale, skips tasks whose fingerprint (the fields the template reads,\n"
		"the template's sha256, the generator's configuration) already has a\n"
		"generation, generates the rest and stores them with their provenance.\n"
		"\n"
		"  -f, --force         make every task again (older generations are superseded)\n"
		"      --full          read the whole source, not only what changed since the\n"
		"                      last successful run (sources with a watermark)\n"
		"      --since VALUE   read only what changed after VALUE (e.g. a timestamp)\n"
		"  -n, --dry-run       plan and estimate tokens and cost; call nothing, keep nothing\n"
		"      --budget AMOUNT stop submitting when the next call could take the run's\n"
		"                      cost past AMOUNT (overrides budget.max_cost)\n"
		"      --deadline SECONDS  start no call this long after the run began; what is\n"
		"                      left is cancelled for the next run (budget.deadline_s)\n"
		"  -w, --workers N     local worker processes, this one included (default 1);\n"
		"                      0: plan, then wait while `skugen worker`s elsewhere work\n"
		"  -b, --batch-size N  tasks per claim (default 64)\n"
		"      --log-json      progress as one JSON object per line on stderr (else a\n"
		"                      live line on a terminal, a plain line every 10 s otherwise)\n"
		"      --report DIR    write the run's report (run-N.json, run-N.html) into DIR\n"
		"                      (default SKUGEN_HOME/reports; \"\" writes none)\n"
		"\n"
		"exit codes: 0 all done; 1 some tasks or records failed (or the budget or\n"
		"  deadline left some); 2 configuration error; 3 cannot reach the store or\n"
		"  the source\n";
	struct run_args a = { .kind = "run", .workers = 1 };
	int rc = parse(argc, argv, &a, usage_text);

	if (rc >= 0)
		return rc;
	if (optind < argc) {
		fprintf(stderr, "skugen run: unexpected argument \"%s\" (to regenerate SKUs use skugen regen)\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (a.outputs || a.wait || a.adopt) {
		fprintf(stderr, "skugen run: --outputs, --wait and --run are options of skugen regen\n");
		json_decref(a.outputs);
		return EXIT_USAGE;
	}
	return execute(&a);
}

int cmd_regen(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: skugen regen [--force] [--outputs LIST] [--wait] [--workers N] [--run ID] SKU...\n"
		"\n"
		"Plans and generates only the given SKUs, ahead of other queued work (priority\n"
		"100: every worker takes them before nightly tasks).  Without --force an\n"
		"unchanged SKU is skipped as in `skugen run`; with --force it is made again and\n"
		"its previous generations are superseded.  It returns when every task is final.\n"
		"\n"
		"  -f, --force          ignore fingerprints: make them again\n"
		"  -o, --outputs LIST   only these outputs (names or kinds: text,image,video)\n"
		"  -W, --wait           print each result as it lands\n"
		"  -w, --workers N      local workers (default 1); 0: leave the work to running\n"
		"                       `skugen worker`s and wait\n"
		"      --run ID         adopt run ID, made by `skugen serve`, instead of a new one\n"
		"\n"
		"exit codes: as for skugen run; a SKU that is not in the source counts as failed\n";
	struct run_args a = { .kind = "regen", .workers = 1 };
	int rc = parse(argc, argv, &a, usage_text);

	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	a.only = json_array();
	for (int i = optind; i < argc; i++)
		json_array_append_new(a.only, json_string(argv[i]));
	rc = execute(&a);
	json_decref(a.only);
	json_decref(a.outputs);
	return rc;
}
