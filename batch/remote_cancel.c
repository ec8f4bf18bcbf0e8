/* remote_cancel.c: cancelling at fal the jobs of tasks cancelled while they
 * waited (see remote_cancel.h). */
#include "batch/remote_cancel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "providers/provider.h"

enum outcome { NOT_CANCELLED, CANCELLED, COMPLETED, NOT_FOUND };

struct job {
	const char *task_id, *request_id;
	const char *provider, *model;   /* borrowed from the settings; NULL: unknown */
	enum outcome outcome;
	char note[700];                 /* what came of it: appended to last_error */
};

static void on_done(void *ctx, const struct prov_outcome *o)
{
	struct job *j = ctx;

	j->outcome = !o->ok ? NOT_CANCELLED : strcmp(o->content, "cancelled") == 0 ? CANCELLED
		     : strcmp(o->content, "completed") == 0 ? COMPLETED : NOT_FOUND;
	if (!o->ok)
		snprintf(j->note, sizeof j->note, "not cancelled at fal (request %s): %s", j->request_id,
			 o->error == PROV_CANCELLED ? "no answer in time" : o->message ? o->message : prov_error_name(o->error));
	else if (j->outcome == CANCELLED)
		snprintf(j->note, sizeof j->note, "cancelled at fal (request %s)", j->request_id);
	else if (j->outcome == COMPLETED)
		snprintf(j->note, sizeof j->note, "fal had already completed it (request %s: billed)", j->request_id);
	else
		snprintf(j->note, sizeof j->note, "fal did not know request %s", j->request_id);
}

/* Which provider and model submitted the task's job: its generator's. */
static void resolve(struct job *j, const struct settings *s, const char *generator)
{
	const json_t *g = json_object_get(s->generators, generator);
	const char *provider = json_string_value(json_object_get(g, "provider"));
	const json_t *pc = provider ? json_object_get(s->providers, provider) : NULL;
	const char *type = json_string_value(json_object_get(pc, "type"));
	const char *model = json_string_value(json_object_get(g, "model"));

	if (!model)
		model = json_string_value(json_object_get(g, "scene_model"));
	if (!g)
		snprintf(j->note, sizeof j->note, "not cancelled at fal (request %s): generator \"%s\" is not configured any more",
			 j->request_id, generator);
	else if (!type || strcmp(type, "fal") != 0 || !model)
		snprintf(j->note, sizeof j->note, "not cancelled at fal (request %s): generator \"%s\" has no fal provider and model",
			 j->request_id, generator);
	else {
		j->provider = provider;
		j->model = model;
	}
}

static int record(struct store *st, struct job *jobs, size_t n, struct err *e)
{
	json_t *rows = json_array();
	char *text = NULL;
	int rc = -1;

	if (!rows)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(rows, json_pack("{s:s, s:s}", "task_id", jobs[i].task_id, "note", jobs[i].note)) < 0)
			goto nomem;
	if (!(text = json_dumps(rows, JSON_COMPACT)))
		goto nomem;
	rc = store_exec(st, "update skugen.tasks t set last_error = coalesce(t.last_error || '; ', '') || x.note\n"
			    "from jsonb_to_recordset($1::jsonb) as x(task_id bigint, note text) where t.id = x.task_id",
			1, (const char *[]){ text }, e);
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory");
out:
	free(text);
	json_decref(rows);
	return rc;
}

int remote_cancel_jobs(struct store *st, const struct settings *s, PGresult *rows, double timeout_s,
		       struct remote_cancel_counts *c, struct err *e)
{
	struct job *jobs = calloc((size_t)PQntuples(rows) + 1, sizeof *jobs);
	json_t *providers = json_object();
	struct prov_pool *pool = NULL;
	struct err pe;
	size_t n = 0;
	int rc = -1;

	memset(c, 0, sizeof *c);
	if (!jobs || !providers) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < PQntuples(rows); i++) {
		struct job *j = &jobs[n];

		if (PQgetisnull(rows, i, 2))
			continue;
		j->task_id = PQgetvalue(rows, i, 0);
		j->request_id = PQgetvalue(rows, i, 2);
		resolve(j, s, PQgetvalue(rows, i, 1));
		/* Only the providers needed: another's missing key is no reason
		 * to leave these jobs running. */
		if (j->provider && json_object_set(providers, j->provider, json_object_get(s->providers, j->provider)) < 0) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	if (n == 0) {
		rc = 0;
		goto out;
	}
	err_clear(&pe);
	if (json_object_size(providers) && prov_pool_open(&pool, providers, &pe) < 0)
		pool = NULL;
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		struct prov_call call = { .provider = j->provider, .model = j->model, .cancel_id = j->request_id,
					  .done = on_done, .ctx = j };

		if (!j->provider)
			continue;
		if (!pool)
			snprintf(j->note, sizeof j->note, "not cancelled at fal (request %s): %.500s", j->request_id, pe.msg);
		else if (prov_submit(pool, &call, &pe) < 0)
			snprintf(j->note, sizeof j->note, "not cancelled at fal (request %s): %.500s", j->request_id, pe.msg);
	}
	if (pool) {
		double until = clock_mono_s() + timeout_s;

		while (prov_pool_pending(pool) > 0 && clock_mono_s() < until)
			if (prov_pool_run(pool, 100) < 0)
				break;
		prov_pool_free(pool); /* what is left ends cancelled: "no answer in time" */
		pool = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		c->asked++;
		c->cancelled += jobs[i].outcome == CANCELLED;
		c->completed += jobs[i].outcome == COMPLETED;
		c->not_found += jobs[i].outcome == NOT_FOUND;
		c->failed += jobs[i].outcome == NOT_CANCELLED;
	}
	rc = record(st, jobs, n, e);
out:
	prov_pool_free(pool);
	json_decref(providers);
	free(jobs);
	return rc;
}

int remote_cancel_run(struct store *st, const struct settings *s, long run_id, const char *why,
		      double timeout_s, struct remote_cancel_counts *c, struct err *e)
{
	struct remote_cancel_counts mine;
	char id[32];
	PGresult *r;
	int rc;

	snprintf(id, sizeof id, "%ld", run_id);
	r = store_query(st, "update skugen.tasks set state = 'cancelled', lease_until = null, reserved = null,\n"
			    "  not_before = null, finished_at = now(), last_error = $2\n"
			    "where run_id = $1 and (state = 'waiting' or (state = 'queued' and remote_request_id is not null))\n"
			    "returning id, generator, case when remote_result is null then remote_request_id end",
			2, (const char *[]){ id, why }, e);
	if (!r)
		return -1;
	rc = remote_cancel_jobs(st, s, r, timeout_s, c ? c : &mine, e);
	PQclear(r);
	return rc;
}

void remote_cancel_summary(const struct remote_cancel_counts *c, char *out, size_t n)
{
	struct buf b = BUF_INIT;

	out[0] = '\0';
	if (c->asked == 0)
		return;
	buf_printf(&b, "; fal: %ld %s cancelled", c->cancelled, c->cancelled == 1 ? "job" : "jobs");
	if (c->completed)
		buf_printf(&b, ", %ld had already completed (billed)", c->completed);
	if (c->not_found)
		buf_printf(&b, ", %ld unknown to fal", c->not_found);
	if (c->failed)
		buf_printf(&b, ", %ld not cancelled (see the tasks' last_error)", c->failed);
	snprintf(out, n, "%s", b.data ? buf_str(&b) : "");
	buf_free(&b);
}
