/* run.c: run rows, heartbeats and reaping dead runs (see run.h). */
#include "batch/run.h"
#include "batch/remote_cancel.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char hostname[256];

static const char *host(void)
{
	if (!hostname[0] && gethostname(hostname, sizeof hostname - 1) < 0)
		snprintf(hostname, sizeof hostname, "unknown");
	return hostname;
}

const char *run_worker_name(void)
{
	static char name[300];

	snprintf(name, sizeof name, "%s:%ld", host(), (long)getpid());
	return name;
}

static bool pid_alive(long pid)
{
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int run_reap_dead(struct store *st, const struct settings *s, long *reaped, struct err *e)
{
	const char *params[1] = { host() };
	PGresult *r;
	long n = 0;

	if (reaped)
		*reaped = 0;
	r = store_query(st, "select id, host, pid, heartbeat_at < now() - interval '10 minutes'"
			    " from skugen.runs where status = 'running'", 0, NULL, e);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		bool same_host = strcmp(PQgetvalue(r, i, 1), params[0]) == 0;
		long pid = atol(PQgetvalue(r, i, 2));
		bool stale = PQgetvalue(r, i, 3)[0] == 't';
		const char *id = PQgetvalue(r, i, 0);
		const char *p[1] = { id };
		PGresult *tasks = NULL;

		if (same_host && pid == (long)getpid())
			continue;
		if (!stale && !(same_host && !pid_alive(pid)))
			continue;
		if (store_begin(st, e) < 0 ||
		    store_exec(st, "update skugen.runs set status = 'interrupted', finished_at = now(),"
				   " message = 'the process running it stopped' where id = $1 and status = 'running'",
			       1, p, e) < 0 ||
		    /* Its queued tasks, and those its own process held; tasks that
		     * live workers elsewhere hold are theirs to finish. */
		    /* Only those with a fal job come back (remote_cancel.h). */
		    !(tasks = store_query(st, "with c as (update skugen.tasks t set state = 'cancelled', lease_until = null,"
					  " last_error = 'run interrupted', finished_at = now(), reserved = null"
					  " from skugen.runs r where r.id = t.run_id and t.run_id = $1"
					  " and (t.state in ('queued', 'waiting') or (t.state = 'running'"
					  "  and (t.worker = r.host || ':' || r.pid or t.lease_until < now())))"
					  " returning t.id, t.generator,"
					  "  case when t.remote_result is null then t.remote_request_id end as request_id)"
					  " select * from c where request_id is not null",
				  1, p, e)) ||
		    store_commit(st, e) < 0) {
			store_rollback(st);
			PQclear(tasks);
			PQclear(r);
			return -1;
		}
		n++;
		/* Nobody takes their answers now: their fal jobs are stopped. */
		if (s) {
			struct remote_cancel_counts c;
			int rc = remote_cancel_jobs(st, s, tasks, 15, &c, e);

			if (rc < 0) {
				PQclear(tasks);
				PQclear(r);
				return -1;
			}
		}
		PQclear(tasks);
	}
	PQclear(r);
	if (reaped)
		*reaped = n;
	return 0;
}

int run_begin(struct store *st, const char *kind, const char *source, const char *config_path,
	      const char *config_sha256, bool force, long *run_id, struct err *e)
{
	char pid[32];
	const char *params[8] = { kind, source, config_path, config_sha256, force ? "t" : "f",
				  host(), pid, SKUGEN_VERSION };
	PGresult *r;

	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	r = store_query(st, "insert into skugen.runs (kind, source, config_path, config_sha256, force,"
			    " host, pid, skugen_version) values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
			8, params, e);
	if (!r)
		return -1;
	*run_id = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int run_adopt(struct store *st, long run_id, struct err *e)
{
	char id[32], pid[32];
	const char *params[3] = { id, host(), pid };
	PGresult *r;
	int n;

	snprintf(id, sizeof id, "%ld", run_id);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	r = store_query(st, "update skugen.runs set host = $2, pid = $3, heartbeat_at = now()"
			    " where id = $1 and status = 'running' and kind = 'regen'", 3, params, e);
	if (!r)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	if (n == 0)
		return err_set(e, ERR_INPUT, "run %ld is not a running regen run: nothing to adopt", run_id);
	return 0;
}

int run_set_limits(struct store *st, long run_id, double budget, double deadline_s, struct err *e)
{
	char id[32], b[64], d[64];
	const char *params[3] = { id, budget > 0 ? b : NULL, deadline_s > 0 ? d : NULL };

	snprintf(id, sizeof id, "%ld", run_id);
	snprintf(b, sizeof b, "%.6f", budget);
	snprintf(d, sizeof d, "%.3f", deadline_s);
	return store_exec(st, "update skugen.runs set budget = coalesce($2::numeric, budget),"
			      " deadline = coalesce(started_at + make_interval(secs => $3::float8), deadline)"
			      " where id = $1", 3, params, e);
}

int run_load_counts(struct store *st, long run_id, struct run_counts *c, struct err *e)
{
	char id[32];
	const char *params[1] = { id };
	PGresult *r;

	snprintf(id, sizeof id, "%ld", run_id);
	r = store_query(st, "select count(*) filter (where state = 'done'),\n"
			    "  count(*) filter (where state = 'skipped'),\n"
			    "  count(*) filter (where state in ('failed', 'dead')),\n"
			    "  count(*) filter (where state = 'cancelled' and last_error = 'budget reached before it started'),\n"
			    "  count(*) filter (where state = 'cancelled' and last_error = 'deadline passed before it started'),\n"
			    "  (select spent from skugen.runs where id = $1),\n"
			    "  count(*) filter (where state = 'skipped' and last_error like 'already queued by run %')\n"
			    "from skugen.tasks where run_id = $1", 1, params, e);
	if (!r)
		return -1;
	c->done = atol(PQgetvalue(r, 0, 0));
	c->skipped = atol(PQgetvalue(r, 0, 1));
	c->failed = atol(PQgetvalue(r, 0, 2));
	c->budget_stopped = c->budget_stopped || atol(PQgetvalue(r, 0, 3)) > 0;
	c->deadline_stopped = atol(PQgetvalue(r, 0, 4));
	c->cost = atof(PQgetvalue(r, 0, 5));
	c->elsewhere = atol(PQgetvalue(r, 0, 6));
	PQclear(r);
	return 0;
}

int run_heartbeat(struct store *st, long run_id, struct err *e)
{
	char id[32];
	const char *params[1] = { id };

	snprintf(id, sizeof id, "%ld", run_id);
	return store_exec(st, "update skugen.runs set heartbeat_at = now() where id = $1", 1, params, e);
}

int run_finish(struct store *st, long run_id, const char *status, const char *message,
	       struct err *e)
{
	char id[32];
	const char *params[3] = { id, status, message };
	PGresult *r;
	int n;

	snprintf(id, sizeof id, "%ld", run_id);
	/* Only a run still marked running: another process may have found it
	 * dead (no heartbeat) and cancelled its tasks; then it did not finish. */
	r = store_query(st, "update skugen.runs set status = $2, message = $3, finished_at = now(),"
			    " heartbeat_at = now() where id = $1 and status = 'running'", 3, params, e);
	if (!r)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	if (n == 0)
		return err_set(e, ERR_STORE, "run %ld was marked interrupted by another process while it ran (no heartbeat): its unfinished tasks were cancelled; run again", run_id);
	/* Only what has not started: a running task's answer may already be
	 * paid for, and its worker (here or elsewhere) still stores it; a lease
	 * that runs out on a task of a run no longer running cancels it then
	 * (queue.c's reclaim). */
	if (strcmp(status, "failed") == 0 &&
	    store_exec(st, "update skugen.tasks set state = 'cancelled', lease_until = null,"
			   " last_error = 'the run failed', finished_at = now()"
			   " where run_id = $1 and state = 'queued'", 1, params, e) < 0)
		return -1;
	return 0;
}
