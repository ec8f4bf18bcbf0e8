/* executor.c: the task loop (see executor.h).
 *
 * claim -> start each job (exec_job.c) -> drive the provider pool -> commit.
 * Local generators finish inside the claim; remote calls stay in flight (up
 * to a window) while the loop keeps claiming, and results are committed in
 * batches as they arrive, each in the transaction that marks its tasks done,
 * so an answer that has arrived is stored before anything else can lose it.
 */
#include "batch/executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/exec_int.h"
#include "common/buf.h"
#include "common/file_read.h"

#define LEASE "interval '5 minutes'"
#define REMOTE_WINDOW 256      /* tasks in flight at once when a generator is remote */
#define COMMIT_EVERY_MS 250.0  /* commit what has arrived at least this often */

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

static const char *const claim_sql =
	"update skugen.tasks t set state = 'running', attempts = attempts + 1,\n"
	"  lease_until = now() + " LEASE ", worker = $3, started_at = now()\n"
	"where t.id in (select id from skugen.tasks where run_id = $1 and state = 'queued'\n"
	"               order by priority desc, id limit $2 for update skip locked)\n"
	"returning t.id, t.sku, t.output, t.locale, t.channel, t.kind, t.fingerprint,\n"
	"  coalesce(t.templates, jsonb_build_object('prompt', jsonb_build_object(\n"
	"    'name', t.template_name, 'sha256', t.template_sha256)))::text,\n"
	"  t.input::text, t.input_fields::text, t.attempts, t.category";

/* A new generation supersedes the older drafts (and rejected ones) of its
 * slot (sku, output, locale, channel): they describe a product that changed.
 * Approved and published ones stay until a reviewer decides on the new one.
 * --force also supersedes whatever holds the same fingerprint. */
static const char *const supersede_sql =
	"update skugen.generations g set status = 'superseded'\n"
	"from jsonb_to_recordset($1::jsonb) as r(sku text, output text, locale text,\n"
	"  channel text, fingerprint text)\n"
	"where g.sku = r.sku and g.output = r.output and g.locale = r.locale\n"
	"  and g.channel = r.channel and g.status <> 'superseded'\n"
	"  and ((g.fingerprint <> r.fingerprint and g.status in ('draft', 'rejected'))\n"
	"       or (g.fingerprint = r.fingerprint and $2::boolean))";

static const char *const commit_sql =
	"with r as (\n"
	"  select * from jsonb_to_recordset($1::jsonb) as x(\n"
	"    task_id bigint, sku text, output text, locale text, channel text, kind text,\n"
	"    fingerprint text, content text, content_sha256 text, attempt int,\n"
	"    generator text, generator_version text, provider text, model text,\n"
	"    model_version text, request_id text, params jsonb, template_name text,\n"
	"    template_sha256 text, system_template_name text, system_template_sha256 text,\n"
	"    prompt_sha256 text, input_fields jsonb, input_sha256 text,\n"
	"    tokens_in int, tokens_out int, tokens_cached int, tokens_reasoning int,\n"
	"    cost numeric, latency_ms float8, calls int, fallback_from text,\n"
	"    fallback_reason text, started_at timestamptz, ended_at timestamptz)),\n"
	"ins as (\n"
	"  insert into skugen.generations (sku, output, locale, channel, kind, fingerprint,\n"
	"    content, content_sha256, run_id, task_id, current_value, product_name, category)\n"
	"  select r.sku, r.output, r.locale, r.channel, r.kind, r.fingerprint, r.content,\n"
	"    r.content_sha256, $2, r.task_id, t.current_value, t.product_name, t.category\n"
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
	"  select ins.id, 'task:' || r.task_id || '/attempt:' || r.attempt, $2, r.task_id, r.attempt,\n"
	"    r.generator, r.generator_version, r.provider, r.model, r.model_version, r.request_id,\n"
	"    coalesce(r.params, '{}'), r.template_name, r.template_sha256, r.system_template_name,\n"
	"    r.system_template_sha256, r.prompt_sha256, r.input_fields, r.input_sha256,\n"
	"    r.tokens_in, r.tokens_out, r.tokens_cached, r.tokens_reasoning, coalesce(r.cost, 0),\n"
	"    r.latency_ms, r.calls, r.fallback_from, r.fallback_reason, $3, $4, r.started_at,\n"
	"    r.ended_at\n"
	"  from ins join r on r.task_id = ins.task_id)\n"
	"update skugen.tasks t set\n"
	"  state = case when ins.id is null then 'skipped' else 'done' end,\n"
	"  lease_until = null, finished_at = now(),\n"
	"  last_error = case when ins.id is null then 'a generation with this fingerprint was stored meanwhile' end\n"
	"from r left join ins on ins.task_id = r.task_id\n"
	"where t.id = r.task_id\n"
	"returning t.state";

static const char *const fail_sql =
	"update skugen.tasks t set state = 'failed', lease_until = null, finished_at = now(),\n"
	"  last_error = x.error\n"
	"from jsonb_to_recordset($1::jsonb) as x(task_id bigint, error text)\n"
	"where t.id = x.task_id";

static const char *const ledger_sql =
	"insert into skugen.cost_ledger (run_id, task_id, attempt, generator, provider, model,\n"
	"  status, error, request_id, tokens_in, tokens_out, tokens_cached, units, cost)\n"
	"select $2, task_id, task_attempt, generator, provider, model, status::text, error,\n"
	"  request_id, tokens_in, tokens_out, tokens_cached, units, coalesce(cost, 0)\n"
	"from jsonb_to_recordset($1::jsonb) as x(task_id bigint, task_attempt int, generator text,\n"
	"  provider text, model text, status text, error text, request_id text, tokens_in int,\n"
	"  tokens_out int, tokens_cached int, units float8, cost numeric)";

/* A dry run's tasks are only looked at: they end cancelled (the run is then
 * deleted). */
static const char *const dry_sql =
	"update skugen.tasks set state = 'cancelled', lease_until = null\n"
	"where id in (select (jsonb_array_elements_text($1::jsonb))::bigint)";

/* Put tasks back in the queue untouched (claimed, then not started). */
static const char *const requeue_sql =
	"update skugen.tasks set state = 'queued', lease_until = null, worker = null,\n"
	"  attempts = attempts - 1\n"
	"where id in (select (jsonb_array_elements_text($1::jsonb))::bigint)";

static int exec_json(struct store *st, const char *sql, json_t *doc, const char *run_id,
		     struct err *e)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	int rc;

	if (!text)
		return err_set(e, ERR_NOMEM, "out of memory");
	rc = store_exec(st, sql, run_id ? 2 : 1, (const char *[]){ text, run_id }, e);
	free(text);
	return rc;
}

static size_t waiting(const struct exec *x)
{
	return json_array_size(x->done) + json_array_size(x->failed) + json_array_size(x->ledger) +
	       json_array_size(x->requeue);
}

/* Store what has arrived in one transaction, then empty the lists. */
static int commit(struct exec *x, struct err *e)
{
	char run_id[32];
	char *done_doc = NULL;
	PGresult *r = NULL;
	int rc = -1;

	if (waiting(x) == 0)
		return 0;
	snprintf(run_id, sizeof run_id, "%ld", x->o->run_id);
	if (store_begin(x->st, e) < 0)
		return -1;
	if (json_array_size(x->done)) {
		const char *params[4] = { NULL, run_id, run_worker_name(), SKUGEN_VERSION };

		done_doc = json_dumps(x->done, JSON_COMPACT);
		if (!done_doc) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto rollback;
		}
		params[0] = done_doc;
		if (store_exec(x->st, supersede_sql, 2, (const char *[]){ done_doc, x->o->force ? "t" : "f" }, e) < 0)
			goto rollback;
		r = store_query(x->st, commit_sql, 4, params, e);
		if (!r)
			goto rollback;
	}
	if ((json_array_size(x->failed) && exec_json(x->st, fail_sql, x->failed, NULL, e) < 0) ||
	    (json_array_size(x->ledger) && exec_json(x->st, ledger_sql, x->ledger, run_id, e) < 0) ||
	    (json_array_size(x->requeue) &&
	     exec_json(x->st, x->o->dry_run ? dry_sql : requeue_sql, x->requeue, NULL, e) < 0) ||
	    store_commit(x->st, e) < 0)
		goto rollback;
	for (int i = 0; r && i < PQntuples(r); i++) {
		if (strcmp(PQgetvalue(r, i, 0), "done") == 0)
			x->counts->done++;
		else
			x->counts->skipped++;
	}
	x->counts->failed += (long)json_array_size(x->failed);
	json_array_clear(x->done);
	json_array_clear(x->failed);
	json_array_clear(x->ledger);
	json_array_clear(x->requeue);
	rc = 0;
	goto out;
rollback:
	store_rollback(x->st);
out:
	PQclear(r);
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
	return commit(x, e);
}

/* Claim up to n queued tasks and start them.  Returns how many were claimed. */
static int claim(struct exec *x, int n, struct err *e)
{
	char run_id[32], limit[16];
	const char *params[3] = { run_id, limit, run_worker_name() };
	PGresult *r;
	int got;

	snprintf(run_id, sizeof run_id, "%ld", x->o->run_id);
	snprintf(limit, sizeof limit, "%d", n);
	r = store_query(x->st, claim_sql, 3, params, e);
	if (!r)
		return -1;
	got = PQntuples(r);
	for (int i = 0; i < got; i++) {
		if (x->budget_stop) {
			/* Past the budget: the rest go back untouched. */
			json_array_append_new(x->requeue, json_integer(atoll(PQgetvalue(r, i, C_ID))));
			continue;
		}
		if (exec_job_start(x, r, i) < 0 || x->has_fatal) {
			PQclear(r);
			return err_set(e, ERR_NOMEM, "out of memory running task %s", PQgetvalue(r, i, C_ID));
		}
	}
	PQclear(r);
	return got;
}

static int load_spent(struct exec *x, struct err *e)
{
	char run_id[32];
	PGresult *r;

	snprintf(run_id, sizeof run_id, "%ld", x->o->run_id);
	r = store_query(x->st, "select coalesce(sum(cost), 0) from skugen.cost_ledger where run_id = $1",
			1, (const char *[]){ run_id }, e);
	if (!r)
		return -1;
	x->spent = atof(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int executor_run(struct store *st, const struct settings *s, struct tmpl_lib *lib,
		 const struct executor_opts *o, struct run_counts *counts, struct err *e)
{
	struct exec x = { .st = st, .s = s, .lib = lib, .o = o, .counts = counts };
	int batch = o->batch_size > 0 ? o->batch_size : 64;
	size_t window = (size_t)batch;
	double last_commit = exec_now_ms();
	bool remote = false, drained = false;
	int rc = -1;

	err_clear(&x.fatal);
	x.done = json_array();
	x.failed = json_array();
	x.ledger = json_array();
	x.requeue = json_array();
	x.schemas = json_object();
	if (!x.done || !x.failed || !x.ledger || !x.requeue || !x.schemas) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (gens_open(&x, &remote, e) < 0 || load_spent(&x, e) < 0)
		goto out;
	if (remote) {
		if (prov_pool_open(&x.prov, s->providers, e) < 0)
			goto out;
		window = REMOTE_WINDOW > window ? REMOTE_WINDOW : window;
	}
	for (;;) {
		size_t room = window > x.in_flight ? window - x.in_flight : 0;

		if (!drained && !x.budget_stop && room > 0) {
			int got = claim(&x, room < (size_t)batch ? (int)room : batch, e);

			if (got < 0)
				goto out;
			if (got == 0)
				drained = true;
		}
		if (x.prov && x.in_flight > 0) {
			/* Wait for answers, but not past the next commit. */
			double until_commit = COMMIT_EVERY_MS - (exec_now_ms() - last_commit);
			int wait = waiting(&x) ? (until_commit > 0 ? (int)until_commit : 0) : (int)COMMIT_EVERY_MS;

			if (prov_pool_run(x.prov, wait) < 0) {
				err_set(e, ERR_GENERATE, "the HTTP engine failed");
				goto out;
			}
		}
		if (x.has_fatal) {
			*e = x.fatal;
			goto out;
		}
		if (waiting(&x) && (x.in_flight == 0 || json_array_size(x.done) >= (size_t)batch ||
				    exec_now_ms() - last_commit >= COMMIT_EVERY_MS)) {
			if (commit_or_retry(&x, e) < 0 || run_heartbeat(st, o->run_id, e) < 0)
				goto out;
			last_commit = exec_now_ms();
			if (o->progress)
				o->progress(counts, o->progress_ctx);
		}
		if ((drained || x.budget_stop) && x.in_flight == 0 && waiting(&x) == 0)
			break;
	}
	if (x.budget_stop)
		counts->budget_stopped = true;
	counts->cost = x.spent;
	rc = 0;
out:
	/* Calls still in flight are cancelled (their tasks go back to the queue)
	 * and whatever arrived is stored, even when the loop failed. */
	prov_pool_free(x.prov);
	if (rc < 0 && waiting(&x))
		commit_or_retry(&x, NULL);
	gens_free(&x.gens);
	json_decref(x.done);
	json_decref(x.failed);
	json_decref(x.ledger);
	json_decref(x.requeue);
	json_decref(x.schemas);
	return rc;
}
