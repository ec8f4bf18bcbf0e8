/* run_stats.c: a run's standing from the store (see run_stats.h). */
#include "batch/run_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[RS_N] = {
	"queued", "running", "waiting", "done", "skipped", "failed", "dead", "cancelled", "other",
};

const char *run_state_name(enum run_state s)
{
	return s < RS_N ? state_names[s] : "other";
}

static enum run_state state_of(const char *name)
{
	for (int i = 0; i < RS_OTHER; i++)
		if (strcmp(name, state_names[i]) == 0)
			return (enum run_state)i;
	return RS_OTHER;
}

static const char *const run_sql =
	"select r.status, r.kind, to_char(r.started_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'),\n"
	"  left(coalesce(r.message, ''), 250),\n"
	"  extract(epoch from coalesce(r.finished_at, now()) - r.started_at),\n"
	"  extract(epoch from now() - r.heartbeat_at), r.budget,\n"
	"  to_char(r.deadline at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'),\n"
	"  extract(epoch from r.deadline - now()),\n"
	"  (select coalesce(sum(l.cost), 0) from skugen.cost_ledger l where l.run_id = r.id),\n"
	"  (select count(*) from skugen.record_errors b where b.run_id = r.id)\n"
	"from skugen.runs r where r.id = $1";

static const char *const states_recent_sql =
	"select state, count(*), count(*) filter (where finished_at > now() - interval '60 seconds'\n"
	"  and state in ('done', 'failed', 'dead'))\n"
	"from skugen.tasks_all where run_id = $1 group by state";

static const char *const states_sql =
	"select state, count(*), 0 from skugen.tasks_all where run_id = $1 group by state";

static void copy_field(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

int run_snapshot_load(struct store *st, long run_id, bool recent, struct run_snapshot *snap,
		      struct err *e)
{
	char id[32];
	const char *params[1] = { id };
	PGresult *r;

	memset(snap, 0, sizeof *snap);
	snap->run_id = run_id;
	snprintf(id, sizeof id, "%ld", run_id);
	r = store_query(st, run_sql, 1, params, e);
	if (!r)
		return err_prefix(e, "reading run %ld", run_id);
	if (PQntuples(r) == 0) {
		PQclear(r);
		return err_set(e, ERR_USAGE, "run %ld: no such run in the store", run_id);
	}
	copy_field(snap->status, sizeof snap->status, PQgetvalue(r, 0, 0));
	copy_field(snap->kind, sizeof snap->kind, PQgetvalue(r, 0, 1));
	copy_field(snap->started_at, sizeof snap->started_at, PQgetvalue(r, 0, 2));
	copy_field(snap->message, sizeof snap->message, PQgetvalue(r, 0, 3));
	snap->age_s = strtod(PQgetvalue(r, 0, 4), NULL);
	snap->heartbeat_age_s = strtod(PQgetvalue(r, 0, 5), NULL);
	snap->has_budget = !PQgetisnull(r, 0, 6);
	snap->budget = snap->has_budget ? strtod(PQgetvalue(r, 0, 6), NULL) : 0;
	if (!PQgetisnull(r, 0, 7)) {
		copy_field(snap->deadline, sizeof snap->deadline, PQgetvalue(r, 0, 7));
		snap->deadline_in_s = strtod(PQgetvalue(r, 0, 8), NULL);
	}
	snap->cost = strtod(PQgetvalue(r, 0, 9), NULL);
	snap->bad_records = atol(PQgetvalue(r, 0, 10));
	snap->ended = strcmp(snap->status, "running") != 0;
	PQclear(r);

	r = store_query(st, recent ? states_recent_sql : states_sql, 1, params, e);
	if (!r)
		return err_prefix(e, "counting the tasks of run %ld", run_id);
	for (int i = 0; i < PQntuples(r); i++) {
		long n = atol(PQgetvalue(r, i, 1));

		snap->count[state_of(PQgetvalue(r, i, 0))] += n;
		snap->total += n;
		snap->worked_last_min += atol(PQgetvalue(r, i, 2));
	}
	PQclear(r);
	snap->remaining = snap->count[RS_QUEUED] + snap->count[RS_RUNNING] + snap->count[RS_WAITING];
	snap->failures = snap->count[RS_FAILED] + snap->count[RS_DEAD];
	snap->worked = snap->count[RS_DONE] + snap->failures;
	snap->finished = snap->worked + snap->count[RS_SKIPPED] + snap->count[RS_CANCELLED];
	snap->rate = (recent || snap->ended) ? run_snapshot_rate(snap) : 0;
	return 0;
}

int run_latest(struct store *st, long *run_id, struct err *e)
{
	PGresult *r = store_query(st, "select coalesce(max(id), 0) from skugen.runs", 0, NULL, e);

	if (!r)
		return -1;
	*run_id = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

double run_snapshot_rate(const struct run_snapshot *snap)
{
	double window = snap->age_s < 60 ? snap->age_s : 60;

	if (snap->ended)
		return snap->age_s > 0 ? (double)snap->worked / (snap->age_s < 1 ? 1 : snap->age_s) : 0;

	if (snap->worked_last_min <= 0 || window <= 0)
		return 0;
	if (window < 1)
		window = 1;
	return (double)snap->worked_last_min / window;
}

void run_format_duration(double s, char out[16])
{
	unsigned v;

	if (!isfinite(s) || s < 0 || s > 1e9) {
		snprintf(out, 16, "-");
		return;
	}
	v = (unsigned)lround(s);
	if (v < 60)
		snprintf(out, 16, "%us", v);
	else if (v < 3600)
		snprintf(out, 16, "%um%02us", v / 60, v % 60);
	else if (v < 86400)
		snprintf(out, 16, "%uh%02um", v / 3600, v / 60 % 60);
	else
		snprintf(out, 16, "%ud%02uh", v / 86400 % 100000, v / 3600 % 24);
}
