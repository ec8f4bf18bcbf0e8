/* queue.c: claims, leases, heartbeats, reclaims, retries, budgets and
 * NOTIFY over skugen.tasks (see queue.h). */
#include "batch/queue.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const claim_sql =
	"with c as (\n"
	"  select t.id from skugen.tasks t join skugen.runs r on r.id = t.run_id\n"
	"  where t.state = 'queued' and (t.not_before is null or t.not_before <= now())\n"
	"    and ($1::bigint = 0 or t.run_id = $1) and ($4::text[] is null or t.kind = any ($4))\n"
	"    and r.status = 'running'\n"
	"    -- past the deadline no call starts, but a remote job already paid for\n"
	"    -- (its webhook came, or its wait ran out) is still finished and stored\n"
	"    and (r.deadline is null or r.deadline > now() or t.remote_request_id is not null)\n"
	"  order by t.priority desc, t.id\n"
	"  limit $2 for update of t skip locked)\n"
	"update skugen.tasks t set state = 'running', attempts = t.attempts + 1,\n"
	"  lease_until = now() + make_interval(secs => $5::float8), worker = $3,\n"
	"  started_at = now(), not_before = null, reserved = null,\n"
	"  generation_id = nextval('skugen.generations_id_seq')\n"
	"from c, skugen.runs r\n"
	"where t.id = c.id and r.id = t.run_id\n"
	"returning t.id, t.sku, t.output, t.locale, t.channel, t.kind, t.fingerprint,\n"
	"  coalesce(t.templates, jsonb_build_object('prompt', jsonb_build_object(\n"
	"    'name', t.template_name, 'sha256', t.template_sha256)))::text,\n"
	"  t.input::text, t.input_fields::text, t.attempts, t.category, t.run_id,\n"
	"  t.generation_id, t.remote_result::text, r.force, extract(epoch from r.deadline),\n"
	"  r.budget, t.remote_request_id, t.generator, t.fallback_from, t.fallback_reason";

PGresult *queue_claim(struct store *st, const struct queue_claim *c, struct err *e)
{
	char run_id[32], limit[16], lease[32];
	const char *params[5] = { run_id, limit, c->worker, c->kinds, lease };

	snprintf(run_id, sizeof run_id, "%ld", c->run_id);
	snprintf(limit, sizeof limit, "%d", c->limit);
	snprintf(lease, sizeof lease, "%.3f", c->lease_s);
	return store_query(st, claim_sql, 5, params, e);
}

int queue_heartbeat(struct store *st, const char *worker, double lease_s, json_t **held,
		    struct err *e)
{
	char lease[32];
	const char *params[2] = { worker, lease };
	PGresult *r;

	*held = NULL;
	snprintf(lease, sizeof lease, "%.3f", lease_s);
	r = store_query(st, "update skugen.tasks t set lease_until = now() + make_interval(secs => $2::float8)\n"
			    "from skugen.runs r\n"
			    "where t.worker = $1 and t.state = 'running' and r.id = t.run_id\n"
			    "returning t.id, r.status", 2, params, e);
	if (!r)
		return -1;
	*held = json_object();
	if (!*held) {
		PQclear(r);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < PQntuples(r); i++)
		json_object_set_new(*held, PQgetvalue(r, i, 0), json_string(PQgetvalue(r, i, 1)));
	PQclear(r);
	return 0;
}

/* An expired lease: its worker died, hung or lost the store.  The claim was
 * counted as an attempt; after max_attempts of them the task is dead. */
static const char *const reclaim_sql =
	"with x as (\n"
	"  select id from skugen.tasks where state = 'running' and lease_until < now()\n"
	"  order by lease_until limit 1000 for update skip locked)\n"
	"update skugen.tasks t set\n"
	"  state = case when r.status <> 'running' then 'cancelled'\n"
	"               when t.attempts >= t.max_attempts then 'dead' else 'queued' end,\n"
	"  last_error = case when r.status <> 'running' then 'run ' || r.status\n"
	"    else 'attempt ' || t.attempts || ': the lease of worker ' || coalesce(t.worker, '?')\n"
	"      || ' expired (the worker stopped)'\n"
	"      || case when t.attempts >= t.max_attempts then '; dead after ' || t.attempts || ' attempts'\n"
	"              else '' end end,\n"
	"  finished_at = case when r.status <> 'running' or t.attempts >= t.max_attempts then now() end,\n"
	"  lease_until = null, worker = null, reserved = null\n"
	"from x, skugen.runs r\n"
	"where t.id = x.id and r.id = t.run_id\n"
	"returning t.state";

/* A remote job whose webhook never came within its timeout: queued again,
 * to be polled by request id (not counted in *n: no worker died). */
static const char *const waited_sql =
	"update skugen.tasks set state = 'queued', not_before = null\n"
	"where state = 'waiting' and remote_result is null and not_before <= now()\n"
	"returning id";

int queue_reclaim(struct store *st, long *n, struct err *e)
{
	PGresult *r = store_query(st, reclaim_sql, 0, NULL, e);
	bool requeued = false;

	if (n)
		*n = 0;
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		requeued |= strcmp(PQgetvalue(r, i, 0), "queued") == 0;
	if (n)
		*n = PQntuples(r);
	PQclear(r);
	r = store_query(st, waited_sql, 0, NULL, e);
	if (!r)
		return -1;
	requeued |= PQntuples(r) > 0;
	PQclear(r);
	return requeued ? queue_notify(st, e) : 0;
}

int queue_await_remote(struct store *st, long long task_id, int attempt, const char *worker,
		       const char *generator, const char *request_id, const char *fallback_from,
		       const char *fallback_reason, double timeout_s, bool *held, struct err *e)
{
	char task[32], att[16], t[32];
	const char *params[8] = { task, att, worker, request_id, t, generator, fallback_from, fallback_reason };
	PGresult *r;
	bool queued;

	snprintf(task, sizeof task, "%lld", task_id);
	snprintf(att, sizeof att, "%d", attempt);
	snprintf(t, sizeof t, "%.3f", timeout_s);
	/* The early-webhook trigger may turn 'waiting' into 'queued' here. */
	r = store_query(st,
		"update skugen.tasks set state = 'waiting', remote_request_id = $4, remote_result = null,\n"
		"  lease_until = null, worker = null, generator = $6, fallback_from = $7, fallback_reason = $8,\n"
		"  not_before = now() + make_interval(secs => $5::float8)\n"
		"where id = $1 and attempts = $2 and worker = $3 and state = 'running'\n"
		"returning state", 8, params, e);
	if (!r)
		return -1;
	if (held)
		*held = PQntuples(r) == 1;
	queued = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "queued") == 0;
	PQclear(r);
	if (queued && store_exec(st, "update skugen.tasks set not_before = null where id = $1 and state = 'queued'",
				 1, params, e) < 0)
		return -1;
	return 0;
}

int queue_reserve(struct store *st, long run_id, long long task_id, int attempt,
		  const char *worker, double cost, bool *ok, bool *wait, struct err *e)
{
	char run[32], task[32], att[16], c[64];
	const char *params[5] = { run, task, att, worker, c };
	PGresult *r = NULL;

	*ok = false;
	*wait = false;
	snprintf(run, sizeof run, "%ld", run_id);
	snprintf(task, sizeof task, "%lld", task_id);
	snprintf(att, sizeof att, "%d", attempt);
	snprintf(c, sizeof c, "%.9f", cost);
	/* The run's row lock serialises reservations; the update is a statement
	 * of its own so that it sees every reservation committed before. */
	if (store_begin(st, e) < 0)
		return -1;
	if (store_exec(st, "select 1 from skugen.runs where id = $1 for update", 1, params, e) < 0)
		goto fail;
	r = store_query(st,
		"with held as (select coalesce(sum(o.reserved), 0) as sum from skugen.tasks o\n"
		"  where o.run_id = $1 and o.state in ('running', 'waiting') and o.reserved is not null\n"
		"    and o.id <> $2),\n"
		"mine as (select coalesce(t.reserved, 0) as sum from skugen.tasks t\n"
		"  where t.id = $2 and t.attempts = $3 and t.worker = $4 and t.state = 'running'),\n"
		"u as (\n"
		"  -- a fallback's call adds to the reservation of the call before it,\n"
		"  -- whose cost is not in spent until the commit\n"
		"  update skugen.tasks t set reserved = mine.sum + $5::numeric\n"
		"  from skugen.runs r, held, mine\n"
		"  where r.id = $1 and t.id = $2 and t.attempts = $3 and t.worker = $4 and t.state = 'running'\n"
		"    and (r.budget is null or r.spent + mine.sum + $5::numeric + held.sum <= r.budget)\n"
		"  returning 1)\n"
		"select (select count(*) from u), (select sum from held) > 0,\n"
		"  (select r.spent + coalesce((select sum from mine), 0) + $5::numeric <= r.budget\n"
		"   from skugen.runs r where r.id = $1),\n"
		"  exists (select 1 from mine)",
		5, params, e);
	if (!r)
		goto fail;
	*ok = atoi(PQgetvalue(r, 0, 0)) == 1;
	/* Refused while other calls hold reservations that may yet come in
	 * under their estimate: not known yet whether this one fits.  A task
	 * this worker no longer holds (reclaimed meanwhile) is not a budget
	 * stop either: *wait sends it to a release that its new owner's claim
	 * makes a no-op. */
	*wait = !*ok && ((PQgetvalue(r, 0, 1)[0] == 't' && PQgetvalue(r, 0, 2)[0] == 't') ||
			 PQgetvalue(r, 0, 3)[0] != 't');
	PQclear(r);
	return store_commit(st, e);
fail:
	store_rollback(st);
	return -1;
}

int queue_cancel_unstarted(struct store *st, long run_id, const char *reason, long *n,
			   struct err *e)
{
	char id[32];
	const char *params[2] = { id, reason };
	PGresult *r;

	snprintf(id, sizeof id, "%ld", run_id);
	/* A queued task with a remote request is a paid job whose answer came
	 * (or is to be fetched): not unstarted, so a budget or a deadline does
	 * not drop it.  `skugen cancel` cancels those too, with its own SQL. */
	r = store_query(st, "update skugen.tasks set state = 'cancelled', finished_at = now(),"
			    " last_error = $2, not_before = null"
			    " where run_id = $1 and state = 'queued' and remote_request_id is null",
			2, params, e);
	if (!r)
		return -1;
	if (n)
		*n = atol(PQcmdTuples(r));
	PQclear(r);
	return 0;
}

const char *const queue_fail_sql =
	"update skugen.tasks t set\n"
	"  state = case when not x.retry then 'failed'\n"
	"               when t.attempts >= t.max_attempts then 'dead' else 'queued' end,\n"
	"  not_before = case when x.retry and t.attempts < t.max_attempts then now() +\n"
	"    make_interval(secs => least($3::float8 * power(2, t.attempts - 1), $4::float8)\n"
	"                          * (0.5 + random() / 2)) end,\n"
	"  finished_at = case when x.retry and t.attempts < t.max_attempts then null else now() end,\n"
	"  last_error = case when x.retry and t.attempts >= t.max_attempts\n"
	"    then x.error || ' (dead after ' || t.attempts || ' attempts)' else x.error end,\n"
	"  lease_until = null, reserved = null,\n"
	"  worker = case when x.retry and t.attempts < t.max_attempts then null else t.worker end\n"
	"from jsonb_to_recordset($1::jsonb) as x(task_id bigint, attempt int, error text, retry boolean)\n"
	"where t.id = x.task_id and t.state = 'running' and t.worker = $2 and t.attempts = x.attempt\n"
	"returning t.state";

const char *const queue_release_sql =
	"update skugen.tasks t set state = 'queued', attempts = t.attempts - 1, lease_until = null,\n"
	"  worker = null, reserved = null, generation_id = null,\n"
	"  not_before = case when x.delay_s > 0 then now() + make_interval(secs => x.delay_s) end\n"
	"from jsonb_to_recordset($1::jsonb) as x(task_id bigint, attempt int, delay_s float8)\n"
	"where t.id = x.task_id and t.state = 'running' and t.worker = $2 and t.attempts = x.attempt";

const char *const queue_cancel_sql =
	"update skugen.tasks t set state = 'cancelled', lease_until = null, reserved = null,\n"
	"  finished_at = now(), last_error = x.error\n"
	"from jsonb_to_recordset($1::jsonb) as x(task_id bigint, attempt int, error text)\n"
	"where t.id = x.task_id and t.state = 'running' and t.worker = $2 and t.attempts = x.attempt";

int queue_notify(struct store *st, struct err *e)
{
	return store_exec(st, "select pg_notify('" QUEUE_CHANNEL "', '')", 0, NULL, e);
}

int queue_listen(struct store *st, struct err *e)
{
	return store_exec(st, "listen " QUEUE_CHANNEL, 0, NULL, e);
}

static bool drain_notifies(struct store *st)
{
	PGnotify *n;
	bool any = false;

	while ((n = PQnotifies(st->pg)) != NULL) {
		any = true;
		PQfreemem(n);
	}
	return any;
}

bool queue_wait(struct store *st, int timeout_ms)
{
	struct pollfd pfd = { .fd = PQsocket(st->pg), .events = POLLIN };

	if (PQconsumeInput(st->pg) && drain_notifies(st))
		return true;
	if (pfd.fd < 0 || timeout_ms <= 0)
		return false;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return false;
	PQconsumeInput(st->pg);
	return drain_notifies(st);
}

int queue_live(struct store *st, long run_id, long *live, double *soonest, struct err *e)
{
	char id[32];
	const char *params[1] = { id };
	PGresult *r;

	snprintf(id, sizeof id, "%ld", run_id);
	r = store_query(st, "select count(*),\n"
			    "  coalesce(greatest(0, extract(epoch from (min(coalesce(not_before, now()))\n"
			    "    filter (where state = 'queued')) - now())), -1)\n"
			    "from skugen.tasks where run_id = $1 and state in ('queued', 'running', 'waiting')",
			1, params, e);
	if (!r)
		return -1;
	*live = atol(PQgetvalue(r, 0, 0));
	if (soonest)
		*soonest = atof(PQgetvalue(r, 0, 1));
	PQclear(r);
	return 0;
}

int queue_live_all(struct store *st, const char *kinds, long *live, struct err *e)
{
	const char *params[1] = { kinds };
	PGresult *r;

	r = store_query(st, "select count(*) from skugen.tasks t join skugen.runs r on r.id = t.run_id\n"
			    "where t.state in ('queued', 'running', 'waiting') and r.status = 'running'\n"
			    "  and ($1::text[] is null or t.kind = any ($1))", 1, params, e);
	if (!r)
		return -1;
	*live = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/* tasks_archive was made "like" tasks: a migration that adds a column to
 * skugen.tasks adds it to skugen.tasks_archive too, in the same place. */
int queue_archive(struct store *st, double older_than_s, long *n, struct err *e)
{
	char age[32];
	const char *params[1] = { age };
	PGresult *r;

	snprintf(age, sizeof age, "%.3f", older_than_s);
	r = store_query(st, "with moved as (\n"
			    "  delete from skugen.tasks t using skugen.runs r\n"
			    "  where r.id = t.run_id and r.status <> 'running'\n"
			    "    and r.finished_at < now() - make_interval(secs => $1::float8)\n"
			    "    and t.state not in ('queued', 'running', 'waiting')\n"
			    "  returning t.*)\n"
			    "insert into skugen.tasks_archive select * from moved", 1, params, e);
	if (!r)
		return -1;
	if (n)
		*n = atol(PQcmdTuples(r));
	PQclear(r);
	return 0;
}
