/* executor.c: the task loop (see executor.h).
 *
 * claim -> start each job (exec_job.c) -> drive the provider pool -> commit
 * -> heartbeat.  Local generators finish inside the claim; remote calls stay
 * in flight (up to a window) while the loop keeps claiming.  Whatever arrived
 * in one turn of the provider pool is committed before the next turn, in the
 * transaction that marks its tasks done, so an answer that has arrived is
 * stored before the worker asks for anything more.  Heartbeats renew the
 * leases, reclaim the expired leases of dead workers and notice runs that
 * were cancelled (their calls in flight are stopped).
 */
#include "batch/executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/checks.h"
#include "batch/exec_int.h"
#include "batch/exec_media.h"
#include "batch/queue.h"
#include "common/buf.h"
#include "common/file_read.h"

#define REMOTE_WINDOW 256      /* tasks in flight at once when a generator is remote */
#define QUEUE_AHEAD_S 1.0      /* at a rate limit: claim about this much work beyond
				  what is on the wire, so that work claimed later at a
				  higher priority (regen) waits no longer than this */

static void gens_free(struct gen_pool *pool)
{
	for (size_t i = 0; i < pool->n; i++)
		if (pool->gens[i])
			pool->ops[i]->close(pool->gens[i]);
	free(pool->gens);
	free(pool->ops);
	json_decref(pool->index);
	memset(pool, 0, sizeof *pool);
}

/* Open the local generators, load the llm generators' schemas, and say
 * whether any generator is remote. */
static int gens_open(struct exec *x, bool *remote, struct err *e)
{
	struct gen_pool *pool = &x->gens;
	const char *name;
	json_t *cfg;
	size_t n = json_object_size(x->s->generators);

	*remote = false;
	pool->index = json_object();
	pool->gens = calloc(n + 1, sizeof *pool->gens);
	pool->ops = calloc(n + 1, sizeof *pool->ops);
	if (!pool->index || !pool->gens || !pool->ops)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_object_foreach(x->s->generators, name, cfg) {
		const char *type = json_string_value(json_object_get(cfg, "type"));
		const char *schema = json_string_value(json_object_get(cfg, "schema"));
		const struct gen_ops *ops;

		if (exec_media_hosted(cfg))
			*remote = true;   /* a hosted image model (exec_media.h) */
		if (type && strcmp(type, "llm") == 0) {
			*remote = true;
			if (schema) {
				struct buf path = BUF_INIT, text = BUF_INIT;
				json_error_t je;
				json_t *doc;

				buf_printf(&path, "%s/%s", x->s->templates_dir, schema);
				if (file_read_all(buf_str(&path), &text, e) < 0) {
					buf_free(&path);
					buf_free(&text);
					e->code = ERR_CONFIG;
					return err_prefix(e, "generators.%s.schema", name);
				}
				doc = json_loadb(buf_str(&text), text.len, 0, &je);
				buf_free(&text);
				if (!json_is_object(doc)) {
					json_decref(doc);
					err_set(e, ERR_CONFIG, "generators.%s.schema: %s:%d:%d: %s", name,
						buf_str(&path), je.line, je.column, doc ? "not an object" : je.text);
					buf_free(&path);
					return -1;
				}
				buf_free(&path);
				json_object_set_new(x->schemas, name, doc);
			}
			continue;
		}
		ops = type ? gen_find(type) : NULL;
		if (!ops)
			return err_set(e, ERR_CONFIG, "generators.%s: unknown type \"%s\"", name, type ? type : "");
		if (ops->open(&pool->gens[pool->n], name, cfg, e) < 0)
			return -1;
		pool->ops[pool->n] = ops;
		json_object_set_new(pool->index, name, json_integer((json_int_t)pool->n));
		pool->n++;
	}
	return 0;
}

/* A new generation supersedes the older drafts (and rejected ones) of its
 * slot (sku, output, locale, channel): they describe a product that changed.
 * Approved and published ones stay until a reviewer decides on the new one.
 * A forced run also supersedes whatever holds the same fingerprint. */
static const char *const supersede_sql =
	"update skugen.generations g set status = 'superseded'\n"
	"from jsonb_to_recordset($1::jsonb) as r(sku text, output text, locale text,\n"
	"  channel text, fingerprint text, force boolean)\n"
	"where g.sku = r.sku and g.output = r.output and g.locale = r.locale\n"
	"  and g.channel = r.channel and g.status <> 'superseded'\n"
	"  and ((g.fingerprint <> r.fingerprint and g.status in ('draft', 'rejected'))\n"
	"       or (g.fingerprint = r.fingerprint and r.force))";

/* The finished tasks this worker still holds, locked until the commit: a
 * reclaimer skips them, and one reclaimed before is left out.  A task this
 * worker's own attempt already finished (a commit sent again after the
 * connection dropped, when the first had landed) comes back as not running. */
static const char *const own_sql =
	"select t.id, t.state from skugen.tasks t\n"
	"  join jsonb_to_recordset($1::jsonb) as r(task_id bigint, attempt int) on r.task_id = t.id\n"
	"where t.worker = $2 and t.attempts = r.attempt\n"
	"  and t.state in ('running', 'done', 'skipped')\n"
	"for update of t";

static const char *const commit_sql =
	"with r as (\n"
	"  select * from jsonb_to_recordset($1::jsonb) as x(\n"
	"    task_id bigint, run_id bigint, generation_id bigint, sku text, output text,\n"
	"    locale text, channel text, kind text,\n"
	"    fingerprint text, content text, content_sha256 text, asset_path text,\n"
	"    asset_sha256 text, attempt int,\n"
	"    generator text, generator_version text, provider text, model text,\n"
	"    model_version text, request_id text, params jsonb, template_name text,\n"
	"    template_sha256 text, system_template_name text, system_template_sha256 text,\n"
	"    prompt_sha256 text, input_fields jsonb, input_sha256 text,\n"
	"    tokens_in int, tokens_out int, tokens_cached int, tokens_reasoning int,\n"
	"    cost numeric, latency_ms float8, calls int, fallback_from text,\n"
	"    fallback_reason text, started_at timestamptz, ended_at timestamptz, checks jsonb)),\n"
	"ins as (\n"
	"  insert into skugen.generations (id, sku, output, locale, channel, kind, fingerprint,\n"
	"    content, content_sha256, asset_path, asset_sha256, run_id, task_id, current_value,\n"
	"    product_name, category, checks)\n"
	"  select coalesce(r.generation_id, nextval('skugen.generations_id_seq')), r.sku, r.output,\n"
	"    r.locale, r.channel, r.kind, r.fingerprint, r.content, r.content_sha256, r.asset_path,\n"
	"    r.asset_sha256, r.run_id, r.task_id, t.current_value, t.product_name, t.category,\n"
	"    coalesce(r.checks, '[]')\n"
	"  from r join skugen.tasks t on t.id = r.task_id\n"
	"  on conflict (fingerprint) where status <> 'superseded' and revises is null do nothing\n"
	"  returning id, task_id),\n"
	"prov as (\n"
	"  insert into skugen.provenance (generation_id, activity, run_id, task_id, attempt,\n"
	"    generator, generator_version, provider, model, model_version, request_id, params,\n"
	"    template_name, template_sha256, system_template_name, system_template_sha256,\n"
	"    prompt_sha256, input_fields, input_sha256, tokens_in, tokens_out, tokens_cached,\n"
	"    tokens_reasoning, cost, latency_ms, attempts, fallback_from, fallback_reason,\n"
	"    worker, skugen_version, started_at, ended_at)\n"
	"  select ins.id, 'task:' || r.task_id || '/attempt:' || r.attempt, r.run_id, r.task_id,\n"
	"    r.attempt, r.generator, r.generator_version, r.provider, r.model, r.model_version,\n"
	"    r.request_id, coalesce(r.params, '{}'), r.template_name, r.template_sha256,\n"
	"    r.system_template_name, r.system_template_sha256, r.prompt_sha256, r.input_fields,\n"
	"    r.input_sha256, r.tokens_in, r.tokens_out, r.tokens_cached, r.tokens_reasoning,\n"
	"    coalesce(r.cost, 0), r.latency_ms, r.calls, r.fallback_from, r.fallback_reason, $2, $3,\n"
	"    r.started_at, r.ended_at\n"
	"  from ins join r on r.task_id = ins.task_id)\n"
	"update skugen.tasks t set\n"
	"  state = case when ins.id is null then 'skipped' else 'done' end,\n"
	"  lease_until = null, reserved = null, finished_at = now(), generation_id = ins.id,\n"
	"  last_error = case when ins.id is null then 'a generation with this fingerprint was stored meanwhile' end\n"
	"from r left join ins on ins.task_id = r.task_id\n"
	"where t.id = r.task_id\n"
	"returning t.state";

/* The calls' ledger rows, and what they cost their runs.  A row stored
 * before (same call_key: the commit was sent again after the connection
 * dropped, and the first had landed) is neither stored nor counted again. */
static const char *const ledger_sql =
	"with x as (\n"
	"  select * from jsonb_to_recordset($1::jsonb) as x(run_id bigint, task_id bigint,\n"
	"    task_attempt int, generator text, provider text, model text, status text, error text,\n"
	"    request_id text, tokens_in int, tokens_out int, tokens_cached int, units float8,\n"
	"    cost numeric, call_key uuid)),\n"
	"l as (\n"
	"  insert into skugen.cost_ledger (run_id, task_id, attempt, generator, provider, model,\n"
	"    status, error, request_id, tokens_in, tokens_out, tokens_cached, units, cost, call_key)\n"
	"  select run_id, task_id, task_attempt, generator, provider, model, status, error,\n"
	"    request_id, tokens_in, tokens_out, tokens_cached, units, coalesce(cost, 0), call_key\n"
	"  from x\n"
	"  on conflict (call_key) do nothing\n"
	"  returning run_id, cost)\n"
	"update skugen.runs r set spent = r.spent + s.cost\n"
	"from (select run_id, sum(cost) as cost from l group by run_id) s\n"
	"where r.id = s.run_id and s.cost <> 0";

static int exec_json(struct store *st, const char *sql, json_t *doc, const char *worker,
		     const char *extra1, const char *extra2, struct err *e)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	const char *params[4] = { text, worker, extra1, extra2 };
	int n = extra2 ? 4 : worker ? 2 : 1;
	int rc;

	if (!text)
		return err_set(e, ERR_NOMEM, "out of memory");
	rc = store_exec(st, sql, n, params, e);
	free(text);
	return rc;
}

static size_t waiting(const struct exec *x)
{
	return json_array_size(x->done) + json_array_size(x->failed) + json_array_size(x->ledger) +
	       json_array_size(x->released) + json_array_size(x->cancelled);
}

/* The done rows whose claim this worker still holds (locked till commit);
 * the states of those its own earlier commit stored are added to stored. */
static json_t *owned_rows(struct exec *x, json_t *stored, struct err *e)
{
	json_t *owned = json_array(), *ids = json_object(), *row;
	char *doc = json_dumps(x->done, JSON_COMPACT);
	PGresult *r = NULL;
	size_t i;

	if (!owned || !ids || !doc) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	r = store_query(x->st, own_sql, 2, (const char *[]){ doc, x->worker }, e);
	if (!r)
		goto fail;
	for (int k = 0; k < PQntuples(r); k++)
		json_object_set_new(ids, PQgetvalue(r, k, 0), json_string(PQgetvalue(r, k, 1)));
	json_array_foreach(x->done, i, row) {
		const char *state;
		char id[32];

		snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(row, "task_id")));
		state = json_string_value(json_object_get(ids, id));
		if (state && strcmp(state, "running") == 0)
			json_array_append(owned, row);
		else if (state)   /* stored by the commit whose answer was lost */
			json_array_append_new(stored, json_string(state));
		else
			fprintf(stderr, "skugen: warning: task %s: its lease was taken back before the commit (a heartbeat came too late); its answer is not stored\n", id);
	}
	PQclear(r);
	json_decref(ids);
	free(doc);
	return owned;
fail:
	PQclear(r);
	json_decref(owned);
	json_decref(ids);
	free(doc);
	return NULL;
}

/* Whether a row of the commit asks for the duplicates check (checks.h). */
static bool wants_duplicate_check(const json_t *rows)
{
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row)
		if (json_is_true(json_object_get(row, "check_duplicates")))
			return true;
	return false;
}

/* A task this worker's commit finished: done, or skipped (its fingerprint
 * was stored meanwhile). */
static void count_finished(struct exec *x, const char *state)
{
	if (strcmp(state, "done") == 0)
		x->counts->done++;
	else
		x->counts->skipped++;
}

/* Store what has arrived in one transaction, then empty the lists. */
static int commit(struct exec *x, struct err *e)
{
	char backoff[32], backoff_max[32];
	char *done_doc = NULL;
	json_t *owned = NULL, *stored = NULL, *state;
	PGresult *r = NULL, *f = NULL;
	size_t i;
	int rc = -1;

	if (waiting(x) == 0)
		return 0;
	snprintf(backoff, sizeof backoff, "%.3f", x->s->queue.backoff_s);
	snprintf(backoff_max, sizeof backoff_max, "%.3f", x->s->queue.backoff_max_s);
	if (store_begin(x->st, e) < 0)
		return -1;
	if (json_array_size(x->done)) {
		stored = json_array();
		if (!stored) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto rollback;
		}
		owned = owned_rows(x, stored, e);
		if (!owned)
			goto rollback;
	}
	if (json_array_size(owned)) {
		done_doc = json_dumps(owned, JSON_COMPACT);
		if (!done_doc) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto rollback;
		}
		if (store_exec(x->st, supersede_sql, 1, (const char *[]){ done_doc }, e) < 0)
			goto rollback;
		r = store_query(x->st, commit_sql, 3, (const char *[]){ done_doc, x->worker, SKUGEN_VERSION }, e);
		if (!r || (wants_duplicate_check(owned) &&
			   store_exec(x->st, checks_duplicates_sql, 1, (const char *[]){ done_doc }, e) < 0))
			goto rollback;
	}
	if (json_array_size(x->failed)) {
		char *doc = json_dumps(x->failed, JSON_COMPACT);

		f = doc ? store_query(x->st, queue_fail_sql, 4,
				      (const char *[]){ doc, x->worker, backoff, backoff_max }, e) : NULL;
		free(doc);
		if (!f)
			goto rollback;
	}
	if ((json_array_size(x->ledger) && exec_json(x->st, ledger_sql, x->ledger, NULL, NULL, NULL, e) < 0) ||
	    (json_array_size(x->released) &&
	     exec_json(x->st, queue_release_sql, x->released, x->worker, NULL, NULL, e) < 0) ||
	    (json_array_size(x->cancelled) &&
	     exec_json(x->st, queue_cancel_sql, x->cancelled, x->worker, NULL, NULL, e) < 0) ||
	    ((json_array_size(x->released) || (f && PQntuples(f))) && queue_notify(x->st, e) < 0) ||
	    store_commit(x->st, e) < 0)
		goto rollback;
	for (int k = 0; r && k < PQntuples(r); k++)
		count_finished(x, PQgetvalue(r, k, 0));
	json_array_foreach(stored, i, state)
		count_finished(x, json_string_value(state));
	for (int k = 0; f && k < PQntuples(f); k++)
		if (strcmp(PQgetvalue(f, k, 0), "queued") != 0)
			x->counts->failed++;
	json_array_clear(x->done);
	json_array_clear(x->failed);
	json_array_clear(x->ledger);
	json_array_clear(x->released);
	json_array_clear(x->cancelled);
	rc = 0;
	goto out;
rollback:
	store_rollback(x->st);
out:
	PQclear(r);
	PQclear(f);
	json_decref(owned);
	json_decref(stored);
	free(done_doc);
	return rc;
}

/* Commit, and when the connection to the store broke, reconnect and commit
 * once more: answers already paid for must not be lost to a blip. */
static int commit_or_retry(struct exec *x, struct err *e)
{
	if (commit(x, e) == 0)
		return 0;
	if (PQstatus(x->st->pg) != CONNECTION_BAD)
		return -1;
	PQreset(x->st->pg);
	if (PQstatus(x->st->pg) != CONNECTION_OK)
		return -1;
	if (queue_listen(x->st, NULL) < 0)
		return -1;
	return commit(x, e);
}

/* Claim up to n queued tasks and start them.  Returns how many were claimed. */
static int claim(struct exec *x, int n, struct err *e)
{
	struct queue_claim c = { .worker = x->worker, .run_id = x->o->run_id, .kinds = x->o->kinds,
				 .limit = n, .lease_s = x->s->queue.lease_s };
	PGresult *r = queue_claim(x->st, &c, e);
	double renewed = exec_now_ms();
	int got;

	if (!r)
		return -1;
	got = PQntuples(r);
	for (int i = 0; i < got; i++) {
		/* Local media jobs take seconds each (a clip about five): a
		 * batch of them can outlast the lease, and another worker would
		 * reclaim the tasks still waiting here.  Between jobs, store
		 * what is finished and renew the leases in time. */
		if (i > 0 && exec_now_ms() - renewed >= x->s->queue.lease_s * 1000 / 3) {
			json_t *held = NULL;

			if (commit_or_retry(x, e) < 0 ||
			    queue_heartbeat(x->st, x->worker, x->s->queue.lease_s, &held, e) < 0) {
				PQclear(r);
				return -1;
			}
			json_decref(held);
			renewed = exec_now_ms();
		}
		if (exec_job_start(x, r, i) < 0 || x->has_fatal) {
			if (!x->has_fatal)
				err_set(e, ERR_NOMEM, "out of memory running task %s", PQgetvalue(r, i, Q_ID));
			else
				*e = x->fatal;
			PQclear(r);
			return -1;
		}
	}
	PQclear(r);
	return got;
}

int exec_stop_run(struct exec *x, long run_id, const char *why)
{
	char id[32];
	struct err e;

	snprintf(id, sizeof id, "%ld", run_id);
	if (json_object_get(x->stopped_runs, id))
		return 0;
	json_object_set_new(x->stopped_runs, id, json_string(why));
	if (strcmp(why, QUEUE_BUDGET_REASON) == 0 && (x->o->run_id == 0 || x->o->run_id == run_id))
		x->counts->budget_stopped = true;
	err_clear(&e);
	if (queue_cancel_unstarted(x->st, run_id, why, NULL, &e) < 0) {
		x->fatal = e;
		x->has_fatal = true;
		return -1;
	}
	return 0;
}

/* Renew the leases, reclaim dead workers' tasks, and stop the calls of runs
 * that were cancelled meanwhile. */
static int heartbeat(struct exec *x, struct err *e)
{
	json_t *held = NULL, *cancelled = json_object();

	if (!cancelled)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (queue_heartbeat(x->st, x->worker, x->s->queue.lease_s, &held, e) < 0 ||
	    queue_reclaim(x->st, NULL, e) < 0) {
		json_decref(held);
		json_decref(cancelled);
		return -1;
	}
	/* Which runs of the calls in flight are no longer running. */
	{
		const char *run;
		json_t *n;
		char *ids = NULL;
		struct buf list = BUF_INIT;
		PGresult *r;

		buf_puts(&list, "{");
		json_object_foreach(x->inflight_runs, run, n)
			if (json_integer_value(n) > 0)
				buf_printf(&list, "%s%s", list.len > 1 ? "," : "", run);
		buf_puts(&list, "}");
		ids = strdup(buf_str(&list));
		buf_free(&list);
		if (!ids) {
			json_decref(held);
			json_decref(cancelled);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		/* Cancelled only: a run that failed or was found dead leaves its
		 * calls in flight to finish and be stored. */
		r = store_query(x->st, "select id, status from skugen.runs where id = any ($1::bigint[]) and status = 'cancelled'",
				1, (const char *[]){ ids }, e);
		free(ids);
		if (!r) {
			json_decref(held);
			json_decref(cancelled);
			return -1;
		}
		for (int i = 0; i < PQntuples(r); i++) {
			/* A cancel overrides a budget or deadline stop seen before:
			 * the run's resumed fal jobs go too (cancelled at fal). */
			json_object_set_new(x->stopped_runs, PQgetvalue(r, i, 0), json_string("run cancelled"));
			json_object_set_new(cancelled, PQgetvalue(r, i, 0), json_true());
		}
		PQclear(r);
	}
	json_decref(held);
	if (json_object_size(cancelled) && x->prov) {
		/* Only the cancelled runs' calls: another run's call stopped
		 * here would go back to the queue and be asked (and paid) again. */
		prov_pool_cancel_if(x->prov, exec_job_run_cancelled, cancelled);
	}
	json_decref(cancelled);
	return 0;
}

/* Nothing claimable and nothing in flight: whether the loop is over, else
 * wait for a NOTIFY, a retry time or the poll interval. */
static int idle(struct exec *x, bool *over, struct err *e)
{
	double poll_s = x->s->queue.poll_s, soonest = -1;
	long live = 0;

	*over = false;
	if (x->o->stop && *x->o->stop) {
		*over = true;
		return 0;
	}
	if (x->o->run_id) {
		PGresult *r;
		char id[32];

		if (queue_live(x->st, x->o->run_id, &live, &soonest, e) < 0)
			return -1;
		if (live == 0) {
			*over = true;
			return 0;
		}
		/* A deadline that passed leaves queued tasks no one may claim. */
		snprintf(id, sizeof id, "%ld", x->o->run_id);
		r = store_query(x->st, "select deadline <= now(), status from skugen.runs where id = $1", 1,
				(const char *[]){ id }, e);
		if (!r)
			return -1;
		if (PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't') {
			PQclear(r);
			return exec_stop_run(x, x->o->run_id, QUEUE_DEADLINE_REASON) < 0 ? (*e = x->fatal, -1) : 0;
		}
		if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 1), "running") != 0) {
			/* Cancelled (or ended) by someone else: nothing more to do here. */
			PQclear(r);
			*over = true;
			return 0;
		}
		PQclear(r);
	} else if (x->o->exit_when_idle) {
		if (queue_live_all(x->st, x->o->kinds, &live, e) < 0)
			return -1;
		if (live == 0) {
			*over = true;
			return 0;
		}
	}
	if (x->o->progress)
		x->o->progress(x->counts, x->o->progress_ctx);
	if (soonest >= 0 && soonest < poll_s)
		poll_s = soonest + 0.005;
	if (x->o->watch_only && poll_s > 0.1)
		poll_s = 0.1;
	if (x->o->run_id && (x->o->watch_only || live > 0) && exec_now_ms() - x->last_run_hb > 10000) {
		if (run_heartbeat(x->st, x->o->run_id, e) < 0)
			return -1;
		x->last_run_hb = exec_now_ms();
	}
	queue_wait(x->st, (int)(poll_s * 1000));
	return 0;
}

/* The lowest rate limit (requests per second) of the providers the llm
 * generators use; 0 when none is limited. */
static double lowest_rate(const struct settings *s)
{
	const char *name;
	json_t *g;
	double low = 0;

	json_object_foreach(s->generators, name, g) {
		const char *provider = json_string_value(json_object_get(g, "provider"));
		json_t *rpm = json_object_get(json_object_get(s->providers, provider ? provider : ""), "rpm");
		double r = json_is_number(rpm) ? json_number_value(rpm) / 60 : 0;

		(void)name;
		if (r > 0 && (low == 0 || r < low))
			low = r;
	}
	return low;
}

/* How many tasks to hold in flight: with a rate-limited provider, what its
 * rate keeps on the wire (the calls' measured latency) plus QUEUE_AHEAD_S of
 * work waiting for the limiter, no more: a worker does not hoard claims the
 * others (or a regen) could use.  Unlimited: REMOTE_WINDOW. */
static size_t remote_window(const struct exec *x, double rate, int batch)
{
	double w;

	if (rate <= 0)
		return REMOTE_WINDOW;
	w = rate * (x->wire_ms / 1000 + QUEUE_AHEAD_S);
	if (w < batch)
		w = batch;
	return w > REMOTE_WINDOW ? REMOTE_WINDOW : (size_t)w;
}

int executor_run(struct store *st, const struct settings *s, struct tmpl_lib *lib,
		 const struct executor_opts *o, struct run_counts *counts, struct err *e)
{
	struct exec x = { .st = st, .s = s, .lib = lib, .o = o, .counts = counts,
			  .worker = run_worker_name(), .wire_ms = 1000 };
	int batch = o->batch_size > 0 ? o->batch_size : 64;
	size_t window = (size_t)batch;
	double rate = 0;
	double hb_every = s->queue.lease_s * 1000 / 3, last_hb = exec_now_ms(), stop_at = 0;
	bool remote = false;
	int rc = -1;

	err_clear(&x.fatal);
	x.done = json_array();
	x.failed = json_array();
	x.ledger = json_array();
	x.released = json_array();
	x.cancelled = json_array();
	x.schemas = json_object();
	x.inflight_runs = json_object();
	x.stopped_runs = json_object();
	if (!x.done || !x.failed || !x.ledger || !x.released || !x.cancelled || !x.schemas ||
	    !x.inflight_runs || !x.stopped_runs) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (gens_open(&x, &remote, e) < 0 || queue_listen(st, e) < 0)
		goto out;
	if (remote) {
		if (prov_pool_open(&x.prov, s->providers, e) < 0)
			goto out;
		rate = lowest_rate(s);
	}
	for (;;) {
		bool stopping = o->stop && *o->stop;
		size_t room;

		if (x.prov)
			window = remote_window(&x, rate, batch);
		room = window > x.in_flight ? window - x.in_flight : 0;
		int got = -1;

		if (!stopping && !o->watch_only && room > 0 && (x.in_flight == 0 || room >= window / 4 || room >= (size_t)batch)) {
			got = claim(&x, room < (size_t)batch ? (int)room : batch, e);
			if (got < 0)
				goto out;
		}
		if (x.prov && x.in_flight > 0) {
			/* One turn of the pool; what it brought is committed below
			 * before the next. */
			if (prov_pool_run(x.prov, waiting(&x) ? 0 : 100) < 0) {
				err_set(e, ERR_GENERATE, "the HTTP engine failed");
				goto out;
			}
		}
		if (x.has_fatal) {
			*e = x.fatal;
			goto out;
		}
		if (waiting(&x)) {
			if (commit_or_retry(&x, e) < 0)
				goto out;
			if (o->progress)
				o->progress(counts, o->progress_ctx);
		}
		if (exec_now_ms() - last_hb >= hb_every) {
			if (heartbeat(&x, e) < 0 || (o->run_id && run_heartbeat(st, o->run_id, e) < 0))
				goto out;
			last_hb = exec_now_ms();
		}
		if (stopping && x.in_flight > 0) {
			/* Finish what is in flight, but not past the lease. */
			if (stop_at == 0)
				stop_at = exec_now_ms();
			else if (exec_now_ms() - stop_at > s->queue.lease_s * 1000 / 2 && x.prov)
				prov_pool_cancel_all(x.prov);
			continue;
		}
		if (x.in_flight == 0 && waiting(&x) == 0 && got <= 0) {
			bool over;

			if (idle(&x, &over, e) < 0)
				goto out;
			if (over)
				break;
		}
	}
	rc = 0;
out:
	/* Calls still in flight are cancelled (their tasks go back to the queue)
	 * and whatever arrived is stored, even when the loop failed. */
	prov_pool_free(x.prov);
	x.prov = NULL;
	if (waiting(&x) && commit_or_retry(&x, rc < 0 ? NULL : e) < 0)
		rc = -1;
	gens_free(&x.gens);
	json_decref(x.done);
	json_decref(x.failed);
	json_decref(x.ledger);
	json_decref(x.released);
	json_decref(x.cancelled);
	json_decref(x.schemas);
	json_decref(x.inflight_runs);
	json_decref(x.stopped_runs);
	return rc;
}
