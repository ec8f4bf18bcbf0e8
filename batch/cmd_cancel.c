/* cmd_cancel.c: `skugen cancel RUN`: stop a run that any process executes.
 *
 * The run is marked cancelled and its tasks that nobody has started (queued,
 * or waiting for a remote job) are cancelled with the reason, in one
 * transaction.  Tasks already running are left to the workers holding them:
 * a worker sees the run's status at its next heartbeat and stops them.  A
 * NOTIFY on "skugen_cancel" (payload: the run id) tells listening workers at
 * once.
 *
 * Once that is committed, the fal jobs those tasks were waiting for (their
 * answer not yet in) are cancelled at fal (remote_cancel.h), so that they
 * stop and are not billed; each task's last_error says what fal answered.
 * fal being unreachable is reported, never a failed cancel.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/cli.h"
#include "batch/remote_cancel.h"

static const char usage_text[] =
	"usage: skugen cancel [--reason TEXT] RUN\n"
	"\n"
	"Marks the run cancelled and cancels its tasks that have not started, with the\n"
	"reason; tasks already running are stopped by their workers at their next\n"
	"heartbeat.  Nothing generated so far is lost; a later run plans the cancelled\n"
	"work again.  fal jobs that tasks were waiting for are cancelled at fal.\n"
	"\n"
	"  --reason TEXT   why (kept in the run's message and on each cancelled task)\n"
	"\n"
	"exit codes: 0 cancelled (or already cancelled); 2 no such run, or it had\n"
	"  already ended; 3 cannot reach the store\n";

static const char *const lock_sql =
	"select status, coalesce(to_char(finished_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '')\n"
	"from skugen.runs where id = $1 for update";

static const char *const cancel_run_sql =
	"update skugen.runs set status = 'cancelled', finished_at = now(), message = $2\n"
	"where id = $1 and status = 'running'";

/* Only the tasks with a fal job come back, each with the number cancelled
 * (one row of NULLs and the number when none has a job): a nightly run's
 * millions of queued tasks are counted, not carried here. */
static const char *const cancel_tasks_sql =
	"with c as (\n"
	"  update skugen.tasks set state = 'cancelled', lease_until = null, finished_at = now(),\n"
	"    last_error = $2\n"
	"  where run_id = $1 and state in ('queued', 'waiting')\n"
	"  returning id, generator, case when remote_result is null then remote_request_id end as request_id),\n"
	"n as (select count(*) as n from c)\n"
	"select c.id, c.generator, c.request_id, n.n from n left join c on c.request_id is not null";

static const char *const running_sql =
	"select count(*), count(distinct worker) from skugen.tasks where run_id = $1 and state = 'running'";

static const char *who(void)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

int cmd_cancel(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *reason = NULL, *run;
	char message[600];
	struct settings s;
	struct store *st = NULL;
	struct err e;
	PGresult *r = NULL, *tasks = NULL;
	struct remote_cancel_counts rc_counts;
	char fal_summary[300];
	bool in_tx = false;
	long cancelled = 0;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			reason = optarg;
			break;
		default:
			if (cli_option(c, usage_text, &code))
				return code;
		}
	}
	if (optind + 1 != argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	run = argv[optind];
	if (!cli_run_number("skugen cancel", "RUN must be", run))
		return EXIT_USAGE;
	snprintf(message, sizeof message, "cancelled by %s with skugen cancel%s%.400s", who(),
		 reason ? ": " : "", reason ? reason : "");
	err_clear(&e);
	if (cli_settings(&s, false, &e) < 0)
		return cli_fail(&e);
	if (cli_store(&s, &st, &e) < 0)
		goto fail;
	if (store_begin(st, &e) < 0)
		goto fail;
	in_tx = true;
	r = store_query(st, lock_sql, 1, (const char *[]){ run }, &e);
	if (!r)
		goto fail;
	if (PQntuples(r) == 0) {
		err_set(&e, ERR_USAGE, "cancel: run %s: no such run in the store", run);
		goto fail;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "cancelled") == 0) {
		printf("run %s was already cancelled (at %s UTC)\n", run, PQgetvalue(r, 0, 1));
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "running") != 0) {
		err_set(&e, ERR_USAGE, "cancel: run %s already ended (%s at %s UTC): nothing to cancel", run,
			PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
		goto fail;
	}
	PQclear(r);
	r = NULL;
	if (store_exec(st, cancel_run_sql, 2, (const char *[]){ run, message }, &e) < 0)
		goto fail;
	tasks = store_query(st, cancel_tasks_sql, 2, (const char *[]){ run, message }, &e);
	if (!tasks)
		goto fail;
	cancelled = atol(PQgetvalue(tasks, 0, 3));
	if (store_exec(st, "select pg_notify('skugen_cancel', $1)", 1, (const char *[]){ run }, &e) < 0 ||
	    store_commit(st, &e) < 0)
		goto fail;
	in_tx = false;
	if (remote_cancel_jobs(st, &s, tasks, 30, &rc_counts, &e) < 0)
		goto fail;
	remote_cancel_summary(&rc_counts, fal_summary, sizeof fal_summary);
	r = store_query(st, running_sql, 1, (const char *[]){ run }, &e);
	if (!r)
		goto fail;
	printf("cancelled run %s: %ld tasks that had not started are cancelled%s", run, cancelled, fal_summary);
	if (atol(PQgetvalue(r, 0, 0)) > 0)
		printf("; %s running tasks are left to their %s workers, who stop at their next heartbeat",
		       PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
	putchar('\n');
	goto out;
fail:
	if (in_tx)
		store_rollback(st);
	code = cli_fail(&e);
out:
	if (in_tx && code == EXIT_ALL_DONE)
		store_rollback(st);
	PQclear(r);
	PQclear(tasks);
	store_close(st);
	settings_free(&s);
	return code;
}
