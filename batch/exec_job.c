/* exec_job.c: one claimed task through its output's generator chain.
 *
 * The chain is the output's "generator" then each "fallback".  A local
 * (template) generator renders and answers at once; an llm generator renders
 * the system and user prompts and submits a call to the provider pool, whose
 * callback finishes the job.  When a generator fails (its circuit is open, its
 * retries are spent, it refused, truncated or answered badly) the next one in
 * the chain is tried and provenance records fallback_from and the reason.
 * Every provider attempt becomes a cost-ledger row, whether the task
 * succeeds or not.  Results wait in x->done / x->failed for the loop to
 * commit them in one transaction with the task's state.
 *
 * Before a call starts: the run must not be stopped (cancelled, past its
 * deadline or its budget), and a run with a budget must get the call's
 * estimate reserved in the store (queue_reserve), so that no worker starts a
 * call past the cap.  A task whose answer is already stored on it
 * (remote_result: a webhook's, or an earlier attempt's) is finished from it
 * without asking again.
 *
 * A fal provider with webhook_url answers a submit with outcome.pending: the
 * task goes 'waiting' for the webhook (queue_await_remote).  Claimed again
 * with the webhook's body as remote_result, or with only its
 * remote_request_id once webhook_timeout_s passed, it is resumed: the same
 * hosted generator finishes that request (the webhook's payload, or polls)
 * through the pool and exec_media, never submitting it again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch/checks.h"
#include "batch/exec_int.h"
#include "batch/exec_media.h"
#include "batch/image_opts.h"
#include "batch/run.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/random.h"
#include "common/utf8.h"
#include "templates/tmpl.h"

/* How long a task waits when the run's budget is held by calls in flight. */
#define BUDGET_WAIT_S 0.2

struct job {
	struct exec *x;
	long long task_id;
	long run_id;
	long long generation_id;     /* reserved at claim */
	bool force;                  /* the run's --force */
	double deadline_ms;          /* the run's deadline (epoch ms), 0: none */
	bool has_budget;             /* the run has a budget: reserve before calling */
	bool retry;                  /* the last failure is worth another attempt later */
	json_t *remote_result;       /* an answer already stored on the task, or NULL */
	char *resume_id;             /* a fal request submitted earlier, to finish */
	char *generator;             /* the task's generator: for a resume, the submitter */
	const json_t *resume_payload; /* its result from the webhook (in remote_result) */
	int attempt;
	char *sku, *output, *locale, *channel, *kind, *fingerprint;
	json_t *templates;           /* role -> {name, sha256} */
	json_t *input;               /* the projection the templates read */
	char *input_text, *input_fields;
	const struct output_settings *out;
	size_t chain_pos;
	char *fallback_from, *fallback_reason;
	double t0;
	char prompt_sha[HASH_HEX_LEN];
	char system_name[256], system_sha[HASH_HEX_LEN];
	char template_name[256], template_sha[HASH_HEX_LEN];
};

double exec_now_ms(void)
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

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->sku);
	free(j->output);
	free(j->locale);
	free(j->channel);
	free(j->kind);
	free(j->fingerprint);
	free(j->input_text);
	free(j->input_fields);
	free(j->fallback_from);
	free(j->fallback_reason);
	json_decref(j->templates);
	json_decref(j->input);
	json_decref(j->remote_result);
	free(j->resume_id);
	free(j->generator);
	free(j);
}

static void fatal(struct exec *x, const char *what)
{
	if (!x->has_fatal) {
		err_set(&x->fatal, ERR_NOMEM, "%s: out of memory", what);
		x->has_fatal = true;
	}
}

static const struct output_settings *find_output(const struct settings *s, const char *name)
{
	for (size_t i = 0; i < s->n_outputs; i++)
		if (strcmp(s->outputs[i].name, name) == 0)
			return &s->outputs[i];
	return NULL;
}

/* Render the template the task planned for role into out; name/sha are
 * copied for provenance.  A template edited since planning is refused: its
 * sha256 is part of the fingerprint. */
static int render_role(struct job *j, const char *role, struct buf *out, char *name,
		       size_t name_cap, char sha[HASH_HEX_LEN], struct err *e)
{
	json_t *planned = json_object_get(j->templates, role);
	const char *tname = json_string_value(json_object_get(planned, "name"));
	const char *tsha = json_string_value(json_object_get(planned, "sha256"));
	struct tmpl_opts topts = { .strict = j->x->s->strict, .escape_html = j->x->s->escape_html };
	const struct tmpl *t;

	if (!tname || !tsha)
		return err_set(e, ERR_INTERNAL, "the task has no planned template for %s", role);
	t = tmpl_lib_get(j->x->lib, tname, e);
	if (!t)
		return -1;
	if (strcmp(tmpl_sha256(t), tsha) != 0)
		return err_set(e, ERR_TEMPLATE, "template \"%s\" changed since the task was planned: plan again", tname);
	snprintf(name, name_cap, "%s", tname);
	snprintf(sha, HASH_HEX_LEN, "%s", tsha);
	return tmpl_render(t, j->input, &topts, out, e);
}

/* The finished task's row for the commit. */
static int succeed(struct job *j, const char *generator, const char *generator_version,
		   const char *content, size_t len, const char *provider, const char *model,
		   const char *model_version, const char *request_id, const json_t *params,
		   long long tokens_in, long long tokens_out, long long tokens_cached,
		   long long tokens_reasoning, double cost, int calls, const char *asset_path,
		   const char *asset_sha256, struct err *e)
{
	char content_sha[HASH_HEX_LEN], input_sha[HASH_HEX_LEN], started[48], ended[48];
	double t1 = exec_now_ms();
	json_t *row, *checks = NULL;

	if (memchr(content, '\0', len) || !utf8_valid(content, len, NULL))
		return err_set(e, ERR_GENERATE, "the answer is not valid UTF-8 text");
	sha256_hex(content, len, content_sha);
	sha256_hex(j->input_text, strlen(j->input_text), input_sha);
	iso_time(j->t0, started);
	iso_time(t1, ended);
	/* Text is checked for the reviewer; a media task's content describes
	 * its file, which these checks do not read. */
	if (strcmp(j->kind, "text") == 0 && j->out && j->out->checks) {
		checks = checks_run(j->out->checks, content, len, j->input);
		if (!checks)
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	row = json_pack("{s:o*, s:b, s:I, s:I, s:I, s:b, s:s*, s:s*,"
			" s:s, s:s, s:s, s:s, s:s, s:s, s:s%, s:s, s:i, s:s, s:s, s:s*, s:s*,"
			" s:s*, s:s*, s:O*, s:s, s:s, s:s*, s:s*, s:s, s:o*, s:s, s:I, s:I, s:I, s:I,"
			" s:f, s:f, s:i, s:s*, s:s*, s:s, s:s}",
			"checks", checks,
			"check_duplicates", strcmp(j->kind, "text") == 0 && j->out &&
				checks_want_duplicates(j->out->checks),
			"task_id", (json_int_t)j->task_id, "run_id", (json_int_t)j->run_id,
			"generation_id", (json_int_t)j->generation_id, "force", j->force,
			"asset_path", asset_path, "asset_sha256", asset_sha256,
			"sku", j->sku, "output", j->output,
			"locale", j->locale, "channel", j->channel, "kind", j->kind,
			"fingerprint", j->fingerprint, "content", content, len,
			"content_sha256", content_sha, "attempt", j->attempt,
			"generator", generator, "generator_version", generator_version,
			"provider", provider, "model", model, "model_version", model_version,
			"request_id", request_id, "params", params,
			"template_name", j->template_name, "template_sha256", j->template_sha,
			"system_template_name", j->system_name[0] ? j->system_name : NULL,
			"system_template_sha256", j->system_name[0] ? j->system_sha : NULL,
			"prompt_sha256", j->prompt_sha,
			"input_fields", json_loads(j->input_fields, 0, NULL),
			"input_sha256", input_sha, "tokens_in", (json_int_t)tokens_in,
			"tokens_out", (json_int_t)tokens_out, "tokens_cached", (json_int_t)tokens_cached,
			"tokens_reasoning", (json_int_t)tokens_reasoning, "cost", cost,
			"latency_ms", t1 - j->t0, "calls", calls,
			"fallback_from", j->fallback_from, "fallback_reason", j->fallback_reason,
			"started_at", started, "ended_at", ended);
	if (!row || json_array_append_new(j->x->done, row) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	return 0;
}

static int fail(struct job *j, const char *message)
{
	struct buf msg = BUF_INIT;
	json_t *row;
	int rc = 0;

	buf_printf(&msg, "sku \"%s\": output \"%s\" (%s): %s", j->sku, j->output, j->locale, message);
	row = json_pack("{s:I, s:i, s:s, s:b}", "task_id", (json_int_t)j->task_id, "attempt", j->attempt,
			"error", buf_str(&msg), "retry", j->retry);
	if (!row || json_array_append_new(j->x->failed, row) < 0)
		rc = -1;
	buf_free(&msg);
	return rc;
}

/* The claim goes back to the queue, its attempt not counted, claimable
 * again after delay_s. */
static int release(struct job *j, double delay_s)
{
	json_t *row = json_pack("{s:I, s:i, s:f}", "task_id", (json_int_t)j->task_id, "attempt", j->attempt,
				"delay_s", delay_s);

	return row && json_array_append_new(j->x->released, row) == 0 ? 0 : -1;
}

/* The task ends cancelled, with why. */
static int cancel(struct job *j, const char *why)
{
	json_t *row = json_pack("{s:I, s:i, s:s}", "task_id", (json_int_t)j->task_id,
				"attempt", j->attempt, "error", why);

	return row && json_array_append_new(j->x->cancelled, row) == 0 ? 0 : -1;
}

static void run_key(long run_id, char out[32])
{
	snprintf(out, 32, "%ld", run_id);
}

/* Why calls of the job's run may not start any more, or NULL. */
static const char *stopped(struct job *j)
{
	char key[32];

	run_key(j->run_id, key);
	return json_string_value(json_object_get(j->x->stopped_runs, key));
}

bool exec_job_run_cancelled(void *call_ctx, void *cancelled)
{
	struct job *j = call_ctx;
	char key[32];

	run_key(j->run_id, key);
	return json_object_get(cancelled, key) != NULL;
}

static void inflight_add(struct job *j, int d)
{
	char key[32];
	json_t *n;

	run_key(j->run_id, key);
	n = json_object_get(j->x->inflight_runs, key);
	json_object_set_new(j->x->inflight_runs, key,
			    json_integer((n ? json_integer_value(n) : 0) + d));
}

/* Remember why the chain moved on; the first failing generator is the one
 * provenance names. */
static void fall_back(struct job *j, const char *generator, const char *reason)
{
	if (!j->fallback_from) {
		j->fallback_from = strdup(generator);
		j->fallback_reason = strdup(reason);
	}
	j->chain_pos++;
	j->retry = false;
}

static int run_chain(struct job *j);

/* A local template generator: render, tidy, done. */
static int run_template(struct job *j, const char *name)
{
	struct exec *x = j->x;
	struct gen *g = NULL;
	json_t *gi = json_object_get(x->gens.index, name);
	struct gen_result res;
	struct buf prompt = BUF_INIT;
	struct err e;
	char role[96];
	int rc;

	memset(&res, 0, sizeof res);
	err_clear(&e);
	snprintf(role, sizeof role, "gen:%s", name);
	if (!json_object_get(j->templates, role))
		snprintf(role, sizeof role, "prompt");
	if (gi)
		g = x->gens.gens[json_integer_value(gi)];
	if (!g) {
		err_set(&e, ERR_CONFIG, "generator \"%s\" is not configured any more", name);
		goto next;
	}
	if (render_role(j, role, &prompt, j->template_name, sizeof j->template_name, j->template_sha, &e) < 0)
		goto next;
	sha256_hex(buf_str(&prompt), prompt.len, j->prompt_sha);
	{
		struct gen_request req = {
			.sku = j->sku, .output = j->output, .kind = j->kind, .locale = j->locale,
			.channel = j->channel, .prompt = buf_str(&prompt), .prompt_len = prompt.len,
			.input = j->input, .run_id = j->run_id, .task_id = j->task_id,
			.generation_id = j->generation_id,
			.template_sha256 = j->template_sha,
			.options = j->out->image ? j->out->image->resolved : NULL,
		};

		if (g->ops->generate(g, &req, &res, &e) < 0)
			goto next;
	}
	j->system_name[0] = '\0';
	rc = succeed(j, g->ops->name, g->ops->version, buf_str(&res.content), res.content.len,
		     res.provider, res.model, res.model_version, res.request_id, res.params,
		     res.tokens_in, res.tokens_out, 0, 0, res.cost, 0, res.asset_path, res.asset_sha256, &e);
	if (rc < 0 && e.code == ERR_NOMEM)
		goto nomem;
	if (rc < 0)
		goto next;
	buf_free(&prompt);
	gen_result_clear(&res);
	job_free(j);
	return 0;
next:
	buf_free(&prompt);
	gen_result_clear(&res);
	fall_back(j, name, e.msg);
	if (j->chain_pos < j->out->chain_len)
		return run_chain(j);
	rc = fail(j, e.msg);
	job_free(j);
	return rc;
nomem:
	buf_free(&prompt);
	gen_result_clear(&res);
	job_free(j);
	return -1;
}

/* The ledger rows of one call's attempts. */
static void add_ledger(struct job *j, const char *generator, const char *provider,
		       const char *model, const json_t *attempts)
{
	size_t i;
	json_t *a;

	json_array_foreach(attempts, i, a) {
		json_t *row = json_deep_copy(a);
		char key[RANDOM_UUID_LEN];

		/* The row's identity from here on: a commit sent twice stores it once. */
		if (!row || random_uuid(key) < 0) {
			json_decref(row);
			fatal(j->x, "recording the cost ledger");
			continue;
		}
		json_object_set_new(row, "call_key", json_string(key));
		json_object_set_new(row, "run_id", json_integer((json_int_t)j->run_id));
		json_object_set_new(row, "task_id", json_integer((json_int_t)j->task_id));
		json_object_set_new(row, "task_attempt", json_integer(j->attempt));
		json_object_set_new(row, "generator", json_string(generator));
		json_object_set_new(row, "provider", json_string(provider));
		json_object_set_new(row, "model", json_string(model));
		if (json_array_append_new(j->x->ledger, row) < 0)
			fatal(j->x, "recording the cost ledger");
	}
}

/* A hosted image model's request for this task (exec_media.h). */
static void media_request(struct job *j, const char *prompt, size_t prompt_len, struct gen_request *req)
{
	*req = (struct gen_request){
		.sku = j->sku, .output = j->output, .kind = j->kind, .locale = j->locale,
		.channel = j->channel, .prompt = prompt, .prompt_len = prompt_len, .input = j->input,
		.run_id = j->run_id, .task_id = j->task_id, .generation_id = j->generation_id,
		.template_sha256 = j->template_sha,
		.options = j->out->image ? j->out->image->resolved : NULL,
	};
}

/* A hosted image model answered: make the stored image from its files. */
static int media_done(struct job *j, const json_t *g, const char *provider,
		      const struct prov_outcome *o, struct err *e)
{
	struct gen_request req;
	struct gen_result res;
	struct buf alt = BUF_INIT;
	int rc;

	memset(&res, 0, sizeof res);
	/* The rendered template again: the image's alt text. */
	rc = render_role(j, "prompt", &alt, j->template_name, sizeof j->template_name, j->template_sha, e);
	media_request(j, buf_str(&alt), alt.len, &req);
	if (rc == 0)
		rc = exec_media_finish(g, &req, provider, o->content, o->content_len, o->request_id, &res, e);
	if (rc == 0)
		rc = succeed(j, json_string_value(json_object_get(g, "type")), "1", buf_str(&res.content),
			     res.content.len, provider, res.model,
			     o->model_version, o->request_id, res.params, 0, 0, 0, 0, o->cost, o->attempts,
			     res.asset_path, res.asset_sha256, e);
	gen_result_clear(&res);
	buf_free(&alt);
	return rc;
}

/* The provider took the job and answers by webhook: the task waits for it,
 * at most the provider's webhook_timeout_s before it is polled. */
static void await_remote(struct job *j, const char *generator, const char *provider, const char *request_id)
{
	struct exec *x = j->x;
	json_t *t = json_object_get(json_object_get(x->s->providers, provider), "webhook_timeout_s");
	struct err e;

	err_clear(&e);
	if (!request_id) {
		if (fail(j, "the provider queued the job but named no request id") < 0)
			fatal(x, "recording a failure");
		return;
	}
	if (queue_await_remote(x->st, j->task_id, j->attempt, x->worker, generator, request_id, j->fallback_from,
			       j->fallback_reason, json_is_number(t) ? json_number_value(t) : 3600, NULL, &e) < 0 &&
	    !x->has_fatal) {
		x->fatal = e;
		x->has_fatal = true;
	}
}

static void llm_done(void *ctx, const struct prov_outcome *o)
{
	struct job *j = ctx;
	struct exec *x = j->x;
	const char *name = j->out->chain[j->chain_pos];
	json_t *g = json_object_get(x->s->generators, name);
	const char *provider = json_string_value(json_object_get(g, "provider"));
	const char *model = json_string_value(json_object_get(g, exec_media_hosted(g) && !json_object_get(g, "model")
								     ? "scene_model" : "model"));
	struct err e;

	x->in_flight--;
	inflight_add(j, -1);
	{
		/* The last attempt's time on the wire, for the claim window. */
		size_t n = json_array_size(o->attempts_log);
		json_t *ms = n ? json_object_get(json_array_get(o->attempts_log, n - 1), "latency_ms") : NULL;

		if (json_is_number(ms))
			x->wire_ms = 0.8 * x->wire_ms + 0.2 * json_number_value(ms);
	}
	add_ledger(j, name, provider, model, o->attempts_log);
	err_clear(&e);
	if (o->ok && o->pending) {
		await_remote(j, name, provider, o->request_id);
		job_free(j);
		return;
	}
	if (o->ok && exec_media_hosted(g)) {
		if (media_done(j, g, provider, o, &e) == 0) {
			job_free(j);
			return;
		}
		if (e.code == ERR_NOMEM) {
			fatal(x, "storing an image");
			job_free(j);
			return;
		}
	} else if (o->ok) {
		if (succeed(j, "llm", "1", o->content, o->content_len, provider, model, o->model_version,
			    o->request_id, json_object_get(g, "params"), o->tokens_in, o->tokens_out,
			    o->tokens_cached, o->tokens_reasoning, o->cost, o->attempts, NULL, NULL, &e) == 0) {
			job_free(j);
			return;
		}
		if (e.code == ERR_NOMEM) {
			fatal(x, "storing an answer");
			job_free(j);
			return;
		}
	} else {
		err_set(&e, ERR_GENERATE, "%s", o->message ? o->message : prov_error_name(o->error));
	}
	if (!o->ok && o->error == PROV_CANCELLED) {
		/* Stopping, not failing: the task goes back to the queue, or ends
		 * with its run. */
		const char *why = stopped(j);

		if ((why ? cancel(j, why) : release(j, 0)) < 0)
			fatal(x, "requeueing a cancelled task");
		job_free(j);
		return;
	}
	fall_back(j, name, e.msg);
	j->retry = !o->ok && (o->error == PROV_RATE_LIMITED || o->error == PROV_SERVER ||
			      o->error == PROV_TIMEOUT || o->error == PROV_NETWORK ||
			      o->error == PROV_CIRCUIT_OPEN);
	if (j->resume_id)
		j->chain_pos = j->out->chain_len; /* a submitted job is finished, never replaced */
	if (j->chain_pos < j->out->chain_len) {
		if (run_chain(j) < 0)
			fatal(x, "falling back");
		return;
	}
	if (fail(j, e.msg) < 0)
		fatal(x, "recording a failure");
	job_free(j);
}

/* Estimated cost of a call: the prompts' tokens in, max_tokens (or 512) out.
 * Costs are estimated with the prompts actually rendered for the task. */
static double estimate(struct exec *x, const char *provider, const char *model, const json_t *params,
		       const char *system, const char *user)
{
	json_t *max = json_object_get(params, "max_tokens");
	long long out = json_is_integer(max) ? (long long)json_integer_value(max) : 512;
	double cost = 0;

	prov_price(x->prov, provider, model, prov_estimate_tokens(system) + prov_estimate_tokens(user),
		   out, 0, 1, &cost, NULL);
	return cost;
}

/* A remote llm generator: render both prompts, mind the budget, submit. */
static int run_llm(struct job *j, const char *name)
{
	struct exec *x = j->x;
	json_t *g = json_object_get(x->s->generators, name);
	const char *provider = json_string_value(json_object_get(g, "provider"));
	const char *model = json_string_value(json_object_get(g, exec_media_hosted(g) && !json_object_get(g, "model")
								     ? "scene_model" : "model"));
	const json_t *params = json_object_get(g, "params");
	json_t *media_input = NULL;
	struct buf user = BUF_INIT, system = BUF_INIT;
	struct err e;
	double cost;
	int rc = 0;

	err_clear(&e);
	if (!x->prov || !prov_pool_available(x->prov, provider)) {
		err_set(&e, ERR_GENERATE, "provider \"%s\" is unavailable (its circuit is open)", provider);
		fall_back(j, name, e.msg);
		j->retry = true;
		goto chain;
	}
	if (render_role(j, "prompt", &user, j->template_name, sizeof j->template_name, j->template_sha, &e) < 0)
		goto next;
	j->system_name[0] = '\0';
	if (json_object_get(j->templates, "system") &&
	    render_role(j, "system", &system, j->system_name, sizeof j->system_name, j->system_sha, &e) < 0)
		goto next;
	{
		struct hash_ctx *h = hash_new();

		if (!h)
			goto nomem;
		hash_update_str(h, system.len ? buf_str(&system) : NULL);
		hash_update_str(h, buf_str(&user));
		hash_final_hex(h, j->prompt_sha);
		hash_free(h);
	}
	cost = estimate(x, provider, model, params, buf_str(&system), buf_str(&user));
	if (x->o->dry_run) {
		json_t *max = json_object_get(params, "max_tokens");

		x->counts->est_calls++;
		x->counts->est_tokens_in += prov_estimate_tokens(buf_str(&system)) + prov_estimate_tokens(buf_str(&user));
		x->counts->est_tokens_out += json_is_integer(max) ? (long long)json_integer_value(max) : 512;
		x->counts->est_cost += cost;
		rc = cancel(j, "dry run");
		goto done;
	}
	if (!stopped(j) && !j->resume_id && j->deadline_ms > 0 && exec_now_ms() >= j->deadline_ms &&
	    exec_stop_run(x, j->run_id, QUEUE_DEADLINE_REASON) < 0)
		goto nomem;
	/* A resumed job is already paid for at the provider: no new reservation. */
	if (!stopped(j) && j->has_budget && !j->resume_id) {
		struct err re;
		bool ok = false, wait = false;

		err_clear(&re);
		if (queue_reserve(x->st, j->run_id, j->task_id, j->attempt, x->worker, cost, &ok, &wait, &re) < 0) {
			x->fatal = re;
			x->has_fatal = true;
			goto nomem;
		}
		if (!ok && wait) {
			/* Calls in flight hold the rest of the budget: try again
			 * once they have come in. */
			rc = release(j, BUDGET_WAIT_S);
			goto done;
		}
		/* The next call could take the run past its budget. */
		if (!ok && exec_stop_run(x, j->run_id, QUEUE_BUDGET_REASON) < 0)
			goto nomem;
	}
	/* A resumed job was paid for before the deadline or the budget
	 * stopped its run: it is still stored; only a cancel drops it. */
	if (stopped(j) && !(j->resume_id && (strcmp(stopped(j), QUEUE_BUDGET_REASON) == 0 ||
					     strcmp(stopped(j), QUEUE_DEADLINE_REASON) == 0))) {
		rc = cancel(j, stopped(j));
		goto done;
	}
	if (exec_media_hosted(g)) {
		/* The model's input: the photo (a bad one fails here, before
		 * anything is paid) and the rendered scene text. */
		struct gen_request req;

		media_request(j, buf_str(&user), user.len, &req);
		if (exec_media_input(g, &req, &model, &media_input, &e) < 0)
			goto next;
	}
	{
		struct prov_call call = {
			.provider = provider, .model = model,
			.system = system.len ? buf_str(&system) : NULL,
			.user = media_input ? NULL : buf_str(&user), .input = media_input,
			.schema = json_object_get(x->schemas, name), .params = media_input ? NULL : params,
			.resume_id = j->resume_id, .resume_result = j->resume_payload,
			.done = llm_done, .ctx = j,
		};

		if (prov_submit(x->prov, &call, &e) < 0)
			goto next;
	}
	json_decref(media_input);
	x->in_flight++;
	inflight_add(j, 1);
	buf_free(&user);
	buf_free(&system);
	return 0;
next:
	fall_back(j, name, e.msg);
chain:
	if (j->resume_id)
		j->chain_pos = j->out->chain_len; /* a submitted job is finished, never replaced */
	json_decref(media_input);
	media_input = NULL;
	buf_free(&user);
	buf_free(&system);
	if (j->chain_pos < j->out->chain_len)
		return run_chain(j);
	rc = fail(j, e.msg);
done:
	json_decref(media_input);
	buf_free(&user);
	buf_free(&system);
	job_free(j);
	return rc;
nomem:
	json_decref(media_input);
	buf_free(&user);
	buf_free(&system);
	job_free(j);
	return -1;
}

static int run_chain(struct job *j)
{
	const char *name = j->out->chain[j->chain_pos];
	json_t *g = json_object_get(j->x->s->generators, name);
	const char *type = json_string_value(json_object_get(g, "type"));

	if (type && (strcmp(type, "llm") == 0 || exec_media_hosted(g)))
		return run_llm(j, name);
	if (j->x->o->dry_run) {
		int rc = cancel(j, "dry run");

		j->x->counts->est_local++;
		job_free(j);
		return rc;
	}
	return run_template(j, name);
}

/* The answer is already on the task (a webhook's, or an earlier attempt's):
 * store it without asking again.  remote_result: {generator,
 * generator_version, provider, model, model_version, request_id, content,
 * asset_path, asset_sha256, tokens_in, tokens_out, cost}; a result without
 * content fails the task with the result's "error". */
static int finish_stored(struct job *j)
{
	json_t *rr = j->remote_result;
	json_t *prompt = json_object_get(j->templates, "prompt");
	const char *content = json_string_value(json_object_get(rr, "content"));
	const char *error = json_string_value(json_object_get(rr, "error"));
	const char *generator = json_string_value(json_object_get(rr, "generator"));
	const char *version = json_string_value(json_object_get(rr, "generator_version"));
	const char *tname = json_string_value(json_object_get(prompt, "name"));
	const char *tsha = json_string_value(json_object_get(prompt, "sha256"));
	struct err e;
	int rc;

	err_clear(&e);
	snprintf(j->template_name, sizeof j->template_name, "%s", tname ? tname : "");
	snprintf(j->template_sha, sizeof j->template_sha, "%s", tsha ? tsha : "");
	if (!content) {
		rc = fail(j, error ? error : "the stored remote result has no content");
		job_free(j);
		return rc;
	}
	rc = succeed(j, generator ? generator : "remote", version ? version : "1", content, strlen(content),
		     json_string_value(json_object_get(rr, "provider")),
		     json_string_value(json_object_get(rr, "model")),
		     json_string_value(json_object_get(rr, "model_version")),
		     json_string_value(json_object_get(rr, "request_id")), json_object_get(rr, "params"),
		     json_integer_value(json_object_get(rr, "tokens_in")),
		     json_integer_value(json_object_get(rr, "tokens_out")), 0, 0,
		     json_number_value(json_object_get(rr, "cost")), 0,
		     json_string_value(json_object_get(rr, "asset_path")),
		     json_string_value(json_object_get(rr, "asset_sha256")), &e);
	if (rc < 0 && e.code != ERR_NOMEM)
		rc = fail(j, e.msg);
	job_free(j);
	return rc;
}

/* A fal webhook's body ({request_id, status, payload, error}) rather than
 * a stored answer of skugen's own. */
static bool is_fal_webhook(const json_t *rr)
{
	return json_is_string(json_object_get(rr, "request_id")) && json_is_string(json_object_get(rr, "status")) &&
	       !json_object_get(rr, "content");
}

/* Resume the submitted job j->resume_id with the generator that submitted
 * it (the task's generator), else the output's first hosted one. */
static int resume_chain(struct job *j)
{
	for (size_t k = 0; k < j->out->chain_len; k++)
		if (j->generator && strcmp(j->out->chain[k], j->generator) == 0 &&
		    exec_media_hosted(json_object_get(j->x->s->generators, j->out->chain[k]))) {
			j->chain_pos = k;
			return run_llm(j, j->out->chain[k]);
		}
	for (size_t k = 0; k < j->out->chain_len; k++) {
		json_t *g = json_object_get(j->x->s->generators, j->out->chain[k]);

		if (exec_media_hosted(g)) {
			j->chain_pos = k;
			return run_llm(j, j->out->chain[k]);
		}
	}
	{
		struct buf msg = BUF_INIT;
		int rc;

		buf_printf(&msg, "fal request %s: the output has no hosted generator to finish it with any more",
			   j->resume_id);
		rc = fail(j, msg.data ? buf_str(&msg) : "out of memory");
		buf_free(&msg);
		job_free(j);
		return rc;
	}
}

/* fal's webhook came: OK finishes the job from its payload, ERROR fails the
 * task with fal's message (not retried: a new attempt would pay again). */
static int resume_webhook(struct job *j)
{
	const json_t *rr = j->remote_result;
	const char *id = json_string_value(json_object_get(rr, "request_id"));
	const char *status = json_string_value(json_object_get(rr, "status"));
	const json_t *payload = json_object_get(rr, "payload");
	struct buf msg = BUF_INIT;
	int rc;

	free(j->resume_id);
	if (!(j->resume_id = strdup(id))) {
		job_free(j);
		return -1;
	}
	if (strcmp(status, "OK") == 0 && json_is_object(payload)) {
		j->resume_payload = payload;
		return resume_chain(j);
	}
	if (strcmp(status, "OK") == 0) {
		buf_printf(&msg, "fal request %s: the webhook says OK but carries no payload object", id);
	} else {
		const char *error = json_string_value(json_object_get(rr, "error"));
		const json_t *d0 = json_array_get(json_object_get(payload, "detail"), 0);
		const char *detail = json_string_value(json_object_get(d0, "msg"));

		if (!detail)
			detail = json_string_value(json_object_get(payload, "detail"));
		buf_printf(&msg, "fal request %s failed (webhook status %s): %s%s%s", id, status,
			   error ? error : "no error given", detail ? ": " : "", detail ? detail : "");
	}
	rc = fail(j, msg.data ? buf_str(&msg) : "out of memory");
	buf_free(&msg);
	job_free(j);
	return rc;
}

int exec_job_start(struct exec *x, PGresult *r, int i)
{
	struct job *j = calloc(1, sizeof *j);
	json_error_t je;

	if (!j)
		return -1;
	j->x = x;
	j->t0 = exec_now_ms();
	j->task_id = atoll(PQgetvalue(r, i, Q_ID));
	j->attempt = atoi(PQgetvalue(r, i, Q_ATTEMPT));
	j->run_id = atol(PQgetvalue(r, i, Q_RUN_ID));
	j->generation_id = atoll(PQgetvalue(r, i, Q_GENERATION_ID));
	j->force = PQgetvalue(r, i, Q_FORCE)[0] == 't';
	if (!PQgetisnull(r, i, Q_DEADLINE))
		j->deadline_ms = atof(PQgetvalue(r, i, Q_DEADLINE)) * 1000;
	j->has_budget = !PQgetisnull(r, i, Q_BUDGET);
	if (!PQgetisnull(r, i, Q_REMOTE_RESULT))
		j->remote_result = json_loads(PQgetvalue(r, i, Q_REMOTE_RESULT), 0, NULL);
	if ((!PQgetisnull(r, i, Q_GENERATOR) && !(j->generator = strdup(PQgetvalue(r, i, Q_GENERATOR)))) ||
	    (!PQgetisnull(r, i, Q_REMOTE_REQUEST_ID) && !(j->resume_id = strdup(PQgetvalue(r, i, Q_REMOTE_REQUEST_ID))))) {
		job_free(j);
		return -1;
	}
	/* A submitted job's provenance names the fallback that led to it. */
	if (j->resume_id && !PQgetisnull(r, i, Q_FALLBACK_FROM) &&
	    (!(j->fallback_from = strdup(PQgetvalue(r, i, Q_FALLBACK_FROM))) ||
	     !(j->fallback_reason = strdup(PQgetisnull(r, i, Q_FALLBACK_REASON) ? "" : PQgetvalue(r, i, Q_FALLBACK_REASON))))) {
		job_free(j);
		return -1;
	}
	j->sku = strdup(PQgetvalue(r, i, Q_SKU));
	j->output = strdup(PQgetvalue(r, i, Q_OUTPUT));
	j->locale = strdup(PQgetvalue(r, i, Q_LOCALE));
	j->channel = strdup(PQgetvalue(r, i, Q_CHANNEL));
	j->kind = strdup(PQgetvalue(r, i, Q_KIND));
	j->fingerprint = strdup(PQgetvalue(r, i, Q_FP));
	j->input_text = strdup(PQgetvalue(r, i, Q_INPUT));
	j->input_fields = strdup(PQgetvalue(r, i, Q_FIELDS));
	if (!j->sku || !j->output || !j->locale || !j->channel || !j->kind || !j->fingerprint ||
	    !j->input_text || !j->input_fields) {
		job_free(j);
		return -1;
	}
	j->templates = json_loads(PQgetvalue(r, i, Q_TEMPLATES), 0, &je);
	j->input = json_loads(j->input_text, 0, &je);
	j->out = find_output(x->s, j->output);
	if (!j->out) {
		int rc = fail(j, "the output is not in the configuration any more");

		job_free(j);
		return rc;
	}
	if (!j->templates || !j->input) {
		int rc = fail(j, "the task's stored templates or input are not JSON");

		job_free(j);
		return rc;
	}
	if (j->remote_result && is_fal_webhook(j->remote_result))
		return resume_webhook(j);
	if (j->remote_result)
		return finish_stored(j);
	if (j->resume_id)
		return resume_chain(j); /* its webhook never came: poll it */
	return run_chain(j);
}
