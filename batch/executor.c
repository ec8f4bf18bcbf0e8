/* executor.c: the task loop (see executor.h). */
#include "batch/executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/utf8.h"
#include "providers/generator.h"

#define LEASE "interval '5 minutes'"

/* Generator instances, one per configured generator name. */
struct gen_pool {
	json_t *index;        /* name -> integer index */
	struct gen **gens;
	const struct gen_ops **ops;
	size_t n;
};

static void pool_free(struct gen_pool *pool)
{
	for (size_t i = 0; i < pool->n; i++)
		if (pool->gens[i])
			pool->ops[i]->close(pool->gens[i]);
	free(pool->gens);
	free(pool->ops);
	json_decref(pool->index);
	memset(pool, 0, sizeof *pool);
}

static int pool_open(struct gen_pool *pool, const struct settings *s, struct err *e)
{
	const char *name;
	json_t *cfg;
	size_t n = json_object_size(s->generators);

	memset(pool, 0, sizeof *pool);
	pool->index = json_object();
	pool->gens = calloc(n + 1, sizeof *pool->gens);
	pool->ops = calloc(n + 1, sizeof *pool->ops);
	if (!pool->index || !pool->gens || !pool->ops) {
		pool_free(pool);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	json_object_foreach(s->generators, name, cfg) {
		const char *type = json_string_value(json_object_get(cfg, "type"));
		const struct gen_ops *ops = type ? gen_find(type) : NULL;

		if (!ops) {
			pool_free(pool);
			return err_set(e, ERR_CONFIG, "generators.%s: unknown type \"%s\"", name, type ? type : "");
		}
		if (ops->open(&pool->gens[pool->n], name, cfg, e) < 0) {
			pool_free(pool);
			return -1;
		}
		pool->ops[pool->n] = ops;
		json_object_set_new(pool->index, name, json_integer((json_int_t)pool->n));
		pool->n++;
	}
	return 0;
}

static struct gen *pool_get(struct gen_pool *pool, const char *name)
{
	json_t *i = json_object_get(pool->index, name);

	return i ? pool->gens[json_integer_value(i)] : NULL;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* An ISO 8601 UTC timestamp with microseconds, for Postgres. */
static void iso_time(double ms, char out[48])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	int usec = (int)((ms - (double)secs * 1000) * 1000) % 1000000;
	char date[32];

	gmtime_r(&secs, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 48, "%s.%06dZ", date, usec < 0 ? 0 : usec);
}

static const char *const claim_sql =
	"update skugen.tasks t set state = 'running', attempts = attempts + 1,\n"
	"  lease_until = now() + " LEASE ", worker = $3, started_at = now()\n"
	"where t.id in (select id from skugen.tasks where run_id = $1 and state = 'queued'\n"
	"               order by priority desc, id limit $2 for update skip locked)\n"
	"returning t.id, t.sku, t.output, t.locale, t.channel, t.kind, t.fingerprint, t.generator,\n"
	"  t.template_name, t.template_sha256, t.input::text, t.input_fields::text, t.attempts";

enum { C_ID, C_SKU, C_OUTPUT, C_LOCALE, C_CHANNEL, C_KIND, C_FP, C_GEN, C_TNAME, C_TSHA,
       C_INPUT, C_FIELDS, C_ATTEMPTS };

/* A new generation supersedes the older drafts (and rejected ones) of its
 * slot (sku, output, locale, channel): they describe a product that changed.
 * Approved and published ones stay until a reviewer decides on the new one.
 * --force also supersedes whatever holds the same fingerprint. */
static const char *const supersede_sql =
	"update skugen.generations g set status = 'superseded'\n"
	"from jsonb_to_recordset($1::jsonb) as r(sku text, output text, locale text,\n"
	"  channel text, fingerprint text)\n"
	"where g.sku = r.sku and g.output = r.output and g.locale = r.locale\n"
	"  and g.channel = r.channel and g.revises is null and g.status <> 'superseded'\n"
	"  and ((g.fingerprint <> r.fingerprint and g.status in ('draft', 'rejected'))\n"
	"       or (g.fingerprint = r.fingerprint and $2::boolean))";

static const char *const commit_sql =
	"with r as (\n"
	"  select * from jsonb_to_recordset($1::jsonb) as x(\n"
	"    task_id bigint, sku text, output text, locale text, channel text, kind text,\n"
	"    fingerprint text, content text, content_sha256 text, attempt int,\n"
	"    generator text, generator_version text, provider text, model text,\n"
	"    model_version text, request_id text, params jsonb, template_name text,\n"
	"    template_sha256 text, prompt_sha256 text, input_fields jsonb, input_sha256 text,\n"
	"    tokens_in int, tokens_out int, cost numeric, latency_ms float8,\n"
	"    started_at timestamptz, ended_at timestamptz)),\n"
	"ins as (\n"
	"  insert into skugen.generations (sku, output, locale, channel, kind, fingerprint,\n"
	"    content, content_sha256, run_id, task_id)\n"
	"  select sku, output, locale, channel, kind, fingerprint, content, content_sha256, $2, task_id\n"
	"  from r\n"
	"  on conflict (fingerprint) where status <> 'superseded' and revises is null do nothing\n"
	"  returning id, task_id),\n"
	"prov as (\n"
	"  insert into skugen.provenance (generation_id, activity, run_id, task_id, attempt,\n"
	"    generator, generator_version, provider, model, model_version, request_id, params,\n"
	"    template_name, template_sha256, prompt_sha256, input_fields, input_sha256,\n"
	"    tokens_in, tokens_out, cost, latency_ms, attempts, worker, skugen_version,\n"
	"    started_at, ended_at)\n"
	"  select ins.id, 'task:' || r.task_id || '/attempt:' || r.attempt, $2, r.task_id, r.attempt,\n"
	"    r.generator, r.generator_version, r.provider, r.model, r.model_version, r.request_id,\n"
	"    coalesce(r.params, '{}'), r.template_name, r.template_sha256, r.prompt_sha256,\n"
	"    r.input_fields, r.input_sha256, r.tokens_in, r.tokens_out, coalesce(r.cost, 0),\n"
	"    r.latency_ms, r.attempt, $3, $4, r.started_at, r.ended_at\n"
	"  from ins join r on r.task_id = ins.task_id\n"
	"  returning generation_id)\n"
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

/* Generate one claimed task; on success append its row to done, else its
 * error to failed.  Returns -1 only on no memory. */
static int execute_one(const struct settings *s, struct tmpl_lib *lib, struct gen_pool *pool,
		       PGresult *r, int i, json_t *done, json_t *failed)
{
	const char *sku = PQgetvalue(r, i, C_SKU), *gen_name = PQgetvalue(r, i, C_GEN);
	const char *tname = PQgetvalue(r, i, C_TNAME);
	struct tmpl_opts topts = { .strict = s->strict, .escape_html = s->escape_html };
	struct gen_result res;
	struct buf prompt = BUF_INIT;
	struct err e;
	const struct tmpl *t;
	struct gen *g;
	json_t *input = NULL, *row = NULL;
	char prompt_sha[HASH_HEX_LEN], input_sha[HASH_HEX_LEN], content_sha[HASH_HEX_LEN];
	char started[48], ended[48];
	double t0 = now_ms(), t1;
	size_t bad;
	int rc = 0;

	memset(&res, 0, sizeof res);
	err_clear(&e);
	t = tmpl_lib_get(lib, tname, &e);
	if (!t)
		goto failed;
	if (strcmp(tmpl_sha256(t), PQgetvalue(r, i, C_TSHA)) != 0) {
		err_set(&e, ERR_TEMPLATE, "template \"%s\" changed since the task was planned: plan again", tname);
		goto failed;
	}
	input = json_loads(PQgetvalue(r, i, C_INPUT), 0, NULL);
	if (!input) {
		err_set(&e, ERR_INTERNAL, "the task's stored input is not JSON");
		goto failed;
	}
	if (tmpl_render(t, input, &topts, &prompt, &e) < 0)
		goto failed;
	g = pool_get(pool, gen_name);
	if (!g) {
		err_set(&e, ERR_CONFIG, "generator \"%s\" is not configured any more", gen_name);
		goto failed;
	}
	{
		struct gen_request req = {
			.sku = sku, .output = PQgetvalue(r, i, C_OUTPUT), .kind = PQgetvalue(r, i, C_KIND),
			.locale = PQgetvalue(r, i, C_LOCALE), .channel = PQgetvalue(r, i, C_CHANNEL),
			.prompt = buf_str(&prompt), .prompt_len = prompt.len, .input = input,
		};

		if (g->ops->generate(g, &req, &res, &e) < 0)
			goto failed;
	}
	if (memchr(buf_str(&res.content), '\0', res.content.len) ||
	    !utf8_valid(buf_str(&res.content), res.content.len, &bad)) {
		err_set(&e, ERR_GENERATE, "the generator's answer is not valid UTF-8 text");
		goto failed;
	}
	t1 = now_ms();
	iso_time(t0, started);
	iso_time(t1, ended);
	sha256_hex(buf_str(&prompt), prompt.len, prompt_sha);
	sha256_hex(PQgetvalue(r, i, C_INPUT), strlen(PQgetvalue(r, i, C_INPUT)), input_sha);
	sha256_hex(buf_str(&res.content), res.content.len, content_sha);
	row = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s*, s:s*,"
			" s:s*, s:s*, s:O*, s:s, s:s, s:s, s:o*, s:s, s:I, s:I, s:f, s:f, s:s, s:s}",
			"task_id", (json_int_t)atoll(PQgetvalue(r, i, C_ID)), "sku", sku,
			"output", PQgetvalue(r, i, C_OUTPUT), "locale", PQgetvalue(r, i, C_LOCALE),
			"channel", PQgetvalue(r, i, C_CHANNEL), "kind", PQgetvalue(r, i, C_KIND),
			"fingerprint", PQgetvalue(r, i, C_FP), "content", buf_str(&res.content),
			"content_sha256", content_sha, "attempt", atoi(PQgetvalue(r, i, C_ATTEMPTS)),
			"generator", g->ops->name, "generator_version", g->ops->version,
			"provider", res.provider, "model", res.model, "model_version", res.model_version,
			"request_id", res.request_id, "params", res.params,
			"template_name", tname, "template_sha256", tmpl_sha256(t),
			"prompt_sha256", prompt_sha,
			"input_fields", json_loads(PQgetvalue(r, i, C_FIELDS), 0, NULL),
			"input_sha256", input_sha, "tokens_in", (json_int_t)res.tokens_in,
			"tokens_out", (json_int_t)res.tokens_out, "cost", res.cost, "latency_ms", t1 - t0,
			"started_at", started, "ended_at", ended);
	if (!row || json_array_append_new(done, row) < 0)
		rc = -1;
	goto out;
failed:
	{
		struct buf msg = BUF_INIT;

		buf_printf(&msg, "sku \"%s\": output \"%s\" (%s): %s", sku, PQgetvalue(r, i, C_OUTPUT),
			   PQgetvalue(r, i, C_LOCALE), e.msg);
		row = json_pack("{s:I, s:s}", "task_id", (json_int_t)atoll(PQgetvalue(r, i, C_ID)),
				"error", buf_str(&msg));
		buf_free(&msg);
		if (!row || json_array_append_new(failed, row) < 0)
			rc = -1;
	}
out:
	json_decref(input);
	buf_free(&prompt);
	gen_result_clear(&res);
	return rc;
}

/* Store the batch's results in one transaction. */
static int commit_batch(struct store *st, const struct executor_opts *o, json_t *done,
			json_t *failed, struct run_counts *counts, struct err *e)
{
	char run_id[32];
	char *done_doc = json_dumps(done, JSON_COMPACT), *failed_doc = json_dumps(failed, JSON_COMPACT);
	PGresult *r = NULL;
	int rc = -1;

	snprintf(run_id, sizeof run_id, "%ld", o->run_id);
	if (!done_doc || !failed_doc) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (store_begin(st, e) < 0)
		goto out;
	if (json_array_size(done) &&
	    store_exec(st, supersede_sql, 2, (const char *[]){ done_doc, o->force ? "t" : "f" }, e) < 0)
		goto rollback;
	if (json_array_size(done)) {
		const char *params[4] = { done_doc, run_id, run_worker_name(), SKUGEN_VERSION };

		r = store_query(st, commit_sql, 4, params, e);
		if (!r)
			goto rollback;
		for (int i = 0; i < PQntuples(r); i++) {
			if (strcmp(PQgetvalue(r, i, 0), "done") == 0)
				counts->done++;
			else
				counts->skipped++;
		}
	}
	if (json_array_size(failed)) {
		if (store_exec(st, fail_sql, 1, (const char *[]){ failed_doc }, e) < 0)
			goto rollback;
		counts->failed += (long)json_array_size(failed);
	}
	if (store_commit(st, e) < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	store_rollback(st);
out:
	PQclear(r);
	free(done_doc);
	free(failed_doc);
	return rc;
}

int executor_run(struct store *st, const struct settings *s, struct tmpl_lib *lib,
		 const struct executor_opts *o, struct run_counts *counts, struct err *e)
{
	struct gen_pool pool;
	char run_id[32], limit[16];
	const char *params[3] = { run_id, limit, run_worker_name() };
	int rc = -1;

	snprintf(run_id, sizeof run_id, "%ld", o->run_id);
	snprintf(limit, sizeof limit, "%d", o->batch_size > 0 ? o->batch_size : 64);
	if (pool_open(&pool, s, e) < 0)
		return -1;
	for (;;) {
		PGresult *r = store_query(st, claim_sql, 3, params, e);
		json_t *done, *failed;
		int n;

		if (!r)
			goto out;
		n = PQntuples(r);
		if (n == 0) {
			PQclear(r);
			break;
		}
		done = json_array();
		failed = json_array();
		for (int i = 0; i < n && done && failed; i++)
			if (execute_one(s, lib, &pool, r, i, done, failed) < 0)
				break;
		PQclear(r);
		if (!done || !failed || json_array_size(done) + json_array_size(failed) != (size_t)n) {
			json_decref(done);
			json_decref(failed);
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		n = commit_batch(st, o, done, failed, counts, e);
		json_decref(done);
		json_decref(failed);
		if (n < 0 || run_heartbeat(st, o->run_id, e) < 0)
			goto out;
		if (o->progress)
			o->progress(counts, o->progress_ctx);
	}
	rc = 0;
out:
	pool_free(&pool);
	return rc;
}
