/* serve_jobs.c: what `skugen serve` does in the store: regenerate (a regen
 * run row, then a child `skugen regen --run ID ...`), job status with its
 * results, fal webhooks (recorded once, completing the task that waits for
 * the answer), and the reaper of the children. */
#include "batch/serve_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "batch/queue.h"
#include "batch/run.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/show.h"

extern char **environ;

#define SKU_MAX_BYTES 256
#define RESULTS_MAX 5000
#define LOG_TAIL_BYTES 4000
#define REAP_TICK_MS 100

/* ---- regenerate ------------------------------------------------------- */

struct regen_request {
	json_t *skus;     /* borrowed from the parsed body */
	json_t *outputs;  /* borrowed, or NULL: every output */
	bool force;
};

/* An output's name, or the kind of one (text, image, video), as `skugen
 * regen --outputs` takes them. */
static bool output_known(const struct settings *st, const char *name)
{
	for (size_t i = 0; i < st->n_outputs; i++)
		if (strcmp(st->outputs[i].name, name) == 0 ||
		    (st->outputs[i].kind && strcmp(st->outputs[i].kind, name) == 0))
			return true;
	return false;
}

/* Check the body; on a problem fill r (400, naming the field) and return -1. */
static int parse_regen(const struct serve *s, json_t *root, struct regen_request *q, struct serve_reply *r)
{
	static const char *const keys[] = { "skus", "outputs", "force", NULL };
	const char *k;
	json_t *v;
	size_t i;
	char field[64], shown[SHOW_JSON_CAP];

	if (!json_is_object(root)) {
		show_json(shown, root);
		serve_reply_error(r, MHD_HTTP_BAD_REQUEST, "body", "expected a JSON object, got %s", shown);
		return -1;
	}
	json_object_foreach(root, k, v) {
		bool known = false;

		for (i = 0; keys[i]; i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known) {
			char name[SHOW_CAP];

			show_quoted(name, k, strlen(k));
			serve_reply_error(r, MHD_HTTP_BAD_REQUEST, name, "unknown field \"%s\" (expected skus, outputs, force)", name);
			return -1;
		}
	}
	q->skus = json_object_get(root, "skus");
	if (!json_is_array(q->skus)) {
		show_json(shown, q->skus);
		serve_reply_error(r, MHD_HTTP_BAD_REQUEST, "skus", q->skus ? "expected an array of SKUs, got %s"
					   : "missing: the SKUs to regenerate%s", q->skus ? shown : "");
		return -1;
	}
	if (json_array_size(q->skus) == 0 || json_array_size(q->skus) > s->o.max_skus) {
		serve_reply_error(r, MHD_HTTP_BAD_REQUEST, "skus", "%zu SKUs: expected 1 to %u",
				  json_array_size(q->skus), s->o.max_skus);
		return -1;
	}
	json_array_foreach(q->skus, i, v) {
		const char *sku = json_string_value(v);

		snprintf(field, sizeof field, "skus[%zu]", i);
		if (!sku || !*sku || json_string_length(v) > SKU_MAX_BYTES) {
			show_json(shown, v);
			serve_reply_error(r, MHD_HTTP_BAD_REQUEST, field, "expected a SKU (a string of 1 to %d bytes), got %s",
					  SKU_MAX_BYTES, shown);
			return -1;
		}
	}
	q->outputs = json_object_get(root, "outputs");
	if (json_is_null(q->outputs))
		q->outputs = NULL;
	if (q->outputs && !json_is_array(q->outputs)) {
		show_json(shown, q->outputs);
		serve_reply_error(r, MHD_HTTP_BAD_REQUEST, "outputs", "expected an array of output names or kinds, got %s", shown);
		return -1;
	}
	json_array_foreach(q->outputs, i, v) {
		snprintf(field, sizeof field, "outputs[%zu]", i);
		show_json(shown, v);
		if (!json_is_string(v)) {
			serve_reply_error(r, MHD_HTTP_BAD_REQUEST, field, "expected an output name, got %s", shown);
			return -1;
		}
		if (!output_known(s->o.settings, json_string_value(v))) {
			serve_reply_error(r, MHD_HTTP_BAD_REQUEST, field, "no output (or output kind) %s in the configuration", shown);
			return -1;
		}
	}
	v = json_object_get(root, "force");
	if (v && !json_is_boolean(v) && !json_is_null(v)) {
		show_json(shown, v);
		serve_reply_error(r, MHD_HTTP_BAD_REQUEST, "force", "expected true or false, got %s", shown);
		return -1;
	}
	q->force = json_is_true(v);
	return 0;
}

/* The environment of a child: ours without the API token. */
static char **child_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 1, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "SKUGEN_API_TOKEN=", 17) != 0)
			env[k++] = environ[i];
	return env;
}

/* Start `skugen [--config FILE] regen --run ID [--force] [--outputs A,B] -- SKU...`
 * with its output in the job's log.  *pid is set. */
static int spawn_regen(struct serve *s, long job_id, const struct regen_request *q, const char *log_path,
		       pid_t *pid, struct err *e)
{
	char id[32];
	struct buf outputs = BUF_INIT;
	const char **argv = calloc(json_array_size(q->skus) + 16, sizeof *argv);
	char **env = child_env();
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	size_t n = 0, i;
	json_t *v;
	int rc = -1;

	if (!argv || !env) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	snprintf(id, sizeof id, "%ld", job_id);
	argv[n++] = "skugen";
	if (s->o.config_path) {
		argv[n++] = "--config";
		argv[n++] = s->o.config_path;
	}
	argv[n++] = "regen";
	argv[n++] = "--run";
	argv[n++] = id;
	if (q->force)
		argv[n++] = "--force";
	json_array_foreach(q->outputs, i, v) {
		if (i)
			buf_putc(&outputs, ',');
		buf_puts(&outputs, json_string_value(v));
	}
	if (q->outputs && json_array_size(q->outputs)) {
		argv[n++] = "--outputs";
		argv[n++] = buf_str(&outputs);
	}
	argv[n++] = "--";
	json_array_foreach(q->skus, i, v)
		argv[n++] = json_string_value(v);
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	/* The server's threads run with SIGTERM and SIGINT blocked and SIGPIPE
	 * ignored; a child would inherit both and could not be stopped (its
	 * stop handler would never run): it starts with an empty mask and
	 * default dispositions. */
	{
		sigset_t none, defaults;

		sigemptyset(&none);
		sigemptyset(&defaults);
		sigaddset(&defaults, SIGPIPE);
		sigaddset(&defaults, SIGTERM);
		sigaddset(&defaults, SIGINT);
		posix_spawnattr_init(&sa);
		posix_spawnattr_setsigmask(&sa, &none);
		posix_spawnattr_setsigdefault(&sa, &defaults);
		posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	}
	errno = posix_spawn(pid, s->o.exe, &fa, &sa, (char *const *)argv, env);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	if (errno) {
		err_set(e, ERR_IO, "cannot start %s regen: %s", s->o.exe, strerror(errno));
		goto cleanup;
	}
	rc = 0;
cleanup:
	buf_free(&outputs);
	free(argv);
	free(env);
	return rc;
}

void serve_regenerate(struct serve *s, const char *body, size_t len, struct serve_reply *r)
{
	const struct settings *set = s->o.settings;
	struct regen_request q = { 0 };
	struct serve_child *child = NULL;
	json_error_t je;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	struct store *st = NULL;
	struct err e;
	char id[32], *skus = NULL, *outputs = NULL, log_path[4096];
	long job_id = 0;
	pid_t pid;
	bool ok = false, slot = false, run_open = false;

	err_clear(&e);
	if (!root) {
		serve_reply_error(r, MHD_HTTP_BAD_REQUEST, "body", "not JSON: line %d, column %d: %s",
				  je.line, je.column, je.text);
		goto cleanup;
	}
	if (parse_regen(s, root, &q, r) < 0)
		goto cleanup;
	pthread_mutex_lock(&s->jobs_lock);
	if (s->running_jobs < s->o.max_jobs) {
		s->running_jobs++;
		slot = true;
	}
	pthread_mutex_unlock(&s->jobs_lock);
	if (!slot) {
		serve_reply_error(r, MHD_HTTP_TOO_MANY_REQUESTS, NULL, "%u jobs are running: try again shortly",
				  s->o.max_jobs);
		r->header = MHD_HTTP_HEADER_RETRY_AFTER;
		r->header_value = "5";
		goto cleanup;
	}
	skus = json_dumps(q.skus, JSON_COMPACT);
	outputs = q.outputs ? json_dumps(q.outputs, JSON_COMPACT) : NULL;
	st = serve_store_get(s, &e);
	if (!st || !skus || (q.outputs && !outputs))
		goto store_failed;
	/* The run row and the job, then the child that adopts the run. */
	if (store_begin(st, &e) < 0 ||
	    run_begin(st, "regen", json_string_value(json_object_get(set->source, "type")),
		      set->loaded ? set->cfg.path : NULL, set->loaded ? set->config_sha256 : NULL,
		      q.force, &job_id, &e) < 0)
		goto store_failed;
	snprintf(id, sizeof id, "%ld", job_id);
	if (store_exec(st, "insert into skugen.api_jobs (run_id, skus, outputs, force) values ($1, $2, $3, $4)",
		       4, (const char *[]){ id, skus, outputs, q.force ? "t" : "f" }, &e) < 0 ||
	    store_commit(st, &e) < 0)
		goto store_failed;
	run_open = true;
	snprintf(log_path, sizeof log_path, "%s/job-%ld.log", s->o.log_dir, job_id);
	child = calloc(1, sizeof *child);
	if (!child || !(child->log_path = strdup(log_path))) {
		err_set(&e, ERR_NOMEM, "out of memory");
		goto spawn_failed;
	}
	if (spawn_regen(s, job_id, &q, log_path, &pid, &e) < 0)
		goto spawn_failed;
	child->pid = pid;
	child->job_id = job_id;
	pthread_mutex_lock(&s->jobs_lock);
	child->next = s->children;
	s->children = child;
	child = NULL;
	slot = false;  /* the reaper gives it back */
	pthread_mutex_unlock(&s->jobs_lock);
	{
		char pidstr[32];

		snprintf(pidstr, sizeof pidstr, "%ld", (long)pid);
		store_exec(st, "update skugen.api_jobs set pid = $2 where run_id = $1", 2,
			   (const char *[]){ id, pidstr }, NULL);
	}
	ok = true;
	r->status = MHD_HTTP_ACCEPTED;
	{
		char href[64];

		snprintf(href, sizeof href, "/v1/jobs/%ld", job_id);
		r->body = json_pack("{s:I, s:s, s:s}", "job_id", (json_int_t)job_id, "state", "running",
				    "href", href);
	}
	goto cleanup;
spawn_failed:
	run_finish(st, job_id, "failed", e.msg, NULL);
	serve_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "%s", e.msg);
	ok = true;
	goto cleanup;
store_failed:
	if (st)
		store_rollback(st);
	if (run_open)
		run_finish(st, job_id, "failed", e.msg, NULL);
	serve_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "%s", e.msg[0] ? e.msg : "out of memory");
cleanup:
	if (slot) {
		pthread_mutex_lock(&s->jobs_lock);
		s->running_jobs--;
		pthread_mutex_unlock(&s->jobs_lock);
	}
	if (child)
		free(child->log_path);
	free(child);
	serve_store_put(s, st, ok);
	free(skus);
	free(outputs);
	json_decref(root);
}

/* ---- job status ------------------------------------------------------- */

/* A job id: digits, not too many for a bigint. */
static bool is_job_id(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && n < 19 && s[n] == '\0';
}

static json_t *text_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_t *int_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null() : json_integer(atoll(PQgetvalue(res, row, col)));
}

static json_t *json_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null() : json_loads(PQgetvalue(res, row, col), 0, NULL);
}

static int job_counts(struct store *st, const char *id, json_t *job, struct err *e)
{
	PGresult *res = store_query(st, "select state, count(*) from skugen.tasks_all where run_id = $1 group by state",
				    1, (const char *[]){ id }, e);
	static const char *const states[] = { "queued", "running", "waiting", "done", "skipped", "failed",
					      "dead", "cancelled", NULL };
	json_t *counts = json_object();
	long total = 0;

	if (!res) {
		json_decref(counts);
		return -1;
	}
	for (size_t i = 0; states[i]; i++)
		json_object_set_new(counts, states[i], json_integer(0));
	for (int i = 0; i < PQntuples(res); i++) {
		json_object_set_new(counts, PQgetvalue(res, i, 0), json_integer(atol(PQgetvalue(res, i, 1))));
		total += atol(PQgetvalue(res, i, 1));
	}
	json_object_set_new(counts, "total", json_integer(total));
	json_object_set_new(job, "counts", counts);
	PQclear(res);
	return 0;
}

/* One row per task: its state, and its generation (made by the task, or the
 * live one its unchanged fingerprint already had). */
static int job_results(struct store *st, const char *id, json_t *job, struct err *e)
{
	char lim[16];
	PGresult *res;
	json_t *results = json_array();

	snprintf(lim, sizeof lim, "%d", RESULTS_MAX + 1);
	res = store_query(st,
		"select t.sku, t.output, t.locale, t.channel, t.state, t.last_error, g.id, g.kind, g.content,"
		"  g.asset_path, g.status"
		" from skugen.tasks_all t"
		" left join lateral ("
		"   (select id, kind, content, asset_path, status from skugen.generations"
		"     where run_id = t.run_id and task_id = t.id order by id desc limit 1)"
		"   union all"
		"   (select id, kind, content, asset_path, status from skugen.generations"
		"     where fingerprint = t.fingerprint and status <> 'superseded' and revises is null limit 1)"
		"   limit 1) g on t.state in ('done', 'skipped')"
		" where t.run_id = $1 order by t.sku, t.output, t.locale, t.channel, t.id limit $2",
		2, (const char *[]){ id, lim }, e);
	if (!res) {
		json_decref(results);
		return -1;
	}
	for (int i = 0; i < PQntuples(res) && i < RESULTS_MAX; i++) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "sku", PQgetvalue(res, i, 0),
				      "output", PQgetvalue(res, i, 1), "locale", PQgetvalue(res, i, 2),
				      "channel", PQgetvalue(res, i, 3), "state", PQgetvalue(res, i, 4));

		if (!PQgetisnull(res, i, 6)) {
			json_object_set_new(o, "generation_id", json_integer(atoll(PQgetvalue(res, i, 6))));
			json_object_set_new(o, "kind", json_string(PQgetvalue(res, i, 7)));
			json_object_set_new(o, "status", json_string(PQgetvalue(res, i, 10)));
			if (!PQgetisnull(res, i, 8))
				json_object_set_new(o, "content", json_string(PQgetvalue(res, i, 8)));
			if (!PQgetisnull(res, i, 9))
				json_object_set_new(o, "asset_path", json_string(PQgetvalue(res, i, 9)));
		}
		if (!PQgetisnull(res, i, 5) && strcmp(PQgetvalue(res, i, 4), "done") != 0 &&
		    strcmp(PQgetvalue(res, i, 4), "skipped") != 0)
			json_object_set_new(o, "error", json_string(PQgetvalue(res, i, 5)));
		json_array_append_new(results, o);
	}
	json_object_set_new(job, "results", results);
	json_object_set_new(job, "results_truncated", json_boolean(PQntuples(res) > RESULTS_MAX));
	PQclear(res);
	return 0;
}

static int job_record_errors(struct store *st, const char *id, json_t *job, struct err *e)
{
	PGresult *res = store_query(st, "select sku, message from skugen.record_errors where run_id = $1"
				    " order by id limit 100", 1, (const char *[]){ id }, e);
	json_t *errors = json_array();

	if (!res) {
		json_decref(errors);
		return -1;
	}
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(errors, json_pack("{s:o, s:s}", "sku", text_or_null(res, i, 0),
							"message", PQgetvalue(res, i, 1)));
	json_object_set_new(job, "record_errors", errors);
	PQclear(res);
	return 0;
}

void serve_job(struct serve *s, const char *id, struct serve_reply *r)
{
	struct store *st = NULL;
	PGresult *res = NULL;
	json_t *job = NULL;
	struct err e;
	bool ok = false;

	err_clear(&e);
	if (!is_job_id(id)) {
		serve_reply_error(r, MHD_HTTP_NOT_FOUND, "id", "no job with that id");
		return;
	}
	st = serve_store_get(s, &e);
	if (!st)
		goto fail;
	/* One snapshot for the run, its counts and its results. */
	if (store_exec(st, "begin isolation level repeatable read read only", 0, NULL, &e) < 0)
		goto fail;
	res = store_query(st,
		"select r.status, r.message, to_json(r.started_at) #>> '{}', to_json(r.finished_at) #>> '{}',"
		"  j.skus, j.outputs, j.force,"
		"  j.exit_code, j.log_tail"
		" from skugen.runs r join skugen.api_jobs j on j.run_id = r.id where r.id = $1",
		1, (const char *[]){ id }, &e);
	if (!res)
		goto fail;
	if (PQntuples(res) == 0) {
		store_rollback(st);
		ok = true;
		serve_reply_error(r, MHD_HTTP_NOT_FOUND, "id", "no job %s", id);
		goto cleanup;
	}
	job = json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o}",
			"job_id", (json_int_t)atoll(id), "state", PQgetvalue(res, 0, 0),
			"message", text_or_null(res, 0, 1), "started_at", text_or_null(res, 0, 2),
			"finished_at", text_or_null(res, 0, 3), "skus", json_or_null(res, 0, 4),
			"outputs", json_or_null(res, 0, 5), "force", strcmp(PQgetvalue(res, 0, 6), "t") == 0,
			"exit_code", int_or_null(res, 0, 7), "log", text_or_null(res, 0, 8));
	if (!job || job_counts(st, id, job, &e) < 0 || job_results(st, id, job, &e) < 0 ||
	    job_record_errors(st, id, job, &e) < 0)
		goto fail;
	store_rollback(st);
	ok = true;
	r->status = MHD_HTTP_OK;
	r->body = job;
	job = NULL;
	goto cleanup;
fail:
	if (st)
		store_rollback(st);
	serve_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "%s", e.msg[0] ? e.msg : "out of memory");
cleanup:
	PQclear(res);
	json_decref(job);
	serve_store_put(s, st, ok);
}

/* ---- the fal webhook -------------------------------------------------- */

/* What the store already has for a delivery's request id: *n deliveries,
 * *same of them with this body; other_sha (HASH_HEX_LEN) is another body's
 * sha256 when one differs. */
static int delivered_before(struct store *st, const char *request_id, const char *body_sha, long *n,
			    long *same, char *other_sha, struct err *e)
{
	PGresult *res = store_query(st,
		"select count(*), count(*) filter (where body_sha256 = $2),"
		"  coalesce(min(body_sha256) filter (where body_sha256 <> $2), '')"
		" from skugen.webhook_deliveries where provider = 'fal' and request_id = $1",
		2, (const char *[]){ request_id, body_sha }, e);

	if (!res)
		return -1;
	*n = atol(PQgetvalue(res, 0, 0));
	*same = atol(PQgetvalue(res, 0, 1));
	snprintf(other_sha, HASH_HEX_LEN, "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	return 0;
}

/* A verified delivery: a request id is taken once.  The same body again (fal
 * retrying because our answer was lost, with a new timestamp and signature,
 * or a captured delivery replayed within the allowed skew) gets 200 and
 * changes nothing, so fal stops retrying and a replay achieves nothing; a
 * different body for a request id already taken is refused (409) and
 * logged. */
void serve_webhook_fal(struct serve *s, const struct webhook_fal_headers *h,
		       const char *body, size_t len, struct serve_reply *r)
{
	struct store *st = NULL;
	PGresult *res = NULL;
	json_t *payload = NULL;
	json_error_t je;
	struct err e;
	char body_sha[HASH_HEX_LEN], other_sha[HASH_HEX_LEN], sent[32], rid[SHOW_CAP];
	enum webhook_fal_result v;
	bool ok = false;
	long before = 0, same = 0;
	int tasks = 0;

	err_clear(&e);
	v = webhook_fal_verify(s->keys, h, body, len, time(NULL), &e);
	if (v == WEBHOOK_FAL_NO_KEYS) {
		serve_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "cannot check signatures: %s", e.msg);
		return;
	}
	if (v != WEBHOOK_FAL_OK) {
		serve_reply_error(r, MHD_HTTP_UNAUTHORIZED, NULL, "%s", e.msg);
		return;
	}
	show_quoted(rid, h->request_id, strlen(h->request_id));
	/* Signed by fal, but for another fal account than this server's (the
	 * user id is part of what is signed). */
	if (s->o.fal_user_id && strcmp(h->user_id, s->o.fal_user_id) != 0) {
		char uid[SHOW_CAP];

		show_quoted(uid, h->user_id, strlen(h->user_id));
		fprintf(stderr, "skugen serve: webhook: fal request \"%s\" refused: its user id \"%s\" is not "
			"serve.fal_user_id\n", rid, uid);
		serve_reply_error(r, MHD_HTTP_FORBIDDEN, "x-fal-webhook-user-id",
				  "user id \"%s\": this server takes webhooks for another fal user", uid);
		return;
	}
	payload = json_loadb(body, len, 0, &je);
	if (!json_is_object(payload)) {
		serve_reply_error(r, MHD_HTTP_BAD_REQUEST, "body", "expected a JSON object (line %d: %s)", je.line,
				  payload ? "not an object" : je.text);
		goto cleanup;
	}
	sha256_hex(body, len, body_sha);
	snprintf(sent, sizeof sent, "%lld", atoll(h->timestamp));
	st = serve_store_get(s, &e);
	if (!st || store_begin(st, &e) < 0)
		goto store_failed;
	/* Serialised with the trigger that lets a task take an answer that came
	 * early (migration 7): one of the two always sees the other.  It also
	 * serialises deliveries of one request id, so the look below sees any
	 * that committed first. */
	res = store_query(st, "select pg_advisory_xact_lock(hashtext('webhook:' || $1))", 1,
			  (const char *[]){ h->request_id }, &e);
	if (!res)
		goto store_failed;
	PQclear(res);
	res = NULL;
	if (delivered_before(st, h->request_id, body_sha, &before, &same, other_sha, &e) < 0)
		goto store_failed;
	if (same) {
		store_rollback(st);
		ok = true;
		fprintf(stderr, "skugen serve: webhook: fal request \"%s\" came again with the body received "
			"before: answered 200, nothing done again\n", rid);
		r->status = MHD_HTTP_OK;
		r->body = json_pack("{s:b, s:b, s:i, s:s}", "received", 1, "already_received", 1, "tasks", 0,
				    "message", "this delivery was received before: nothing was done again");
		goto cleanup;
	}
	if (before) {
		store_rollback(st);
		ok = true;
		fprintf(stderr, "skugen serve: webhook: fal request \"%s\" refused: a body (sha256 %.16s...) other "
			"than the one received before (sha256 %.16s...)\n", rid, body_sha, other_sha);
		serve_reply_error(r, MHD_HTTP_CONFLICT, "x-fal-webhook-request-id",
				  "request id \"%s\" was received before with another body: refused", rid);
		goto cleanup;
	}
	res = store_query(st,
		"insert into skugen.webhook_deliveries (provider, request_id, signature, user_id, sent_at,"
		"  body_sha256, payload) values ('fal', $1, lower($2), $3, to_timestamp($4), $5, $6)"
		" on conflict (provider, request_id, signature) do nothing returning id",
		6, (const char *[]){ h->request_id, h->signature, h->user_id, sent, body_sha, body }, &e);
	if (!res)
		goto store_failed;
	if (PQntuples(res) == 0) {
		/* The same signature over another body cannot verify: kept as
		 * the store's own guard. */
		store_rollback(st);
		ok = true;
		fprintf(stderr, "skugen serve: webhook: fal request \"%s\" refused: its signature was received "
			"before\n", rid);
		serve_reply_error(r, MHD_HTTP_CONFLICT, "x-fal-webhook-request-id",
				  "a replay: this delivery (request id and signature) was received before");
		goto cleanup;
	}
	{
		char did[32];

		snprintf(did, sizeof did, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		res = store_query(st,
			"with t as (update skugen.tasks set state = 'queued', remote_result = $2::jsonb,"
			"    remote_at = now(), lease_until = null, not_before = null"
			"  where remote_request_id = $1 and state = 'waiting' returning id, run_id),"
			" d as (update skugen.webhook_deliveries set task_id = (select min(id) from t)"
			"  where id = $3 and exists (select 1 from t))"
			" select count(*), pg_notify('" QUEUE_CHANNEL "', coalesce(min(run_id)::text, ''))"
			" from t having count(*) > 0",
			3, (const char *[]){ h->request_id, body, did }, &e);
	}
	if (!res || store_commit(st, &e) < 0)
		goto store_failed;
	tasks = PQntuples(res) ? atoi(PQgetvalue(res, 0, 0)) : 0;
	ok = true;
	r->status = MHD_HTTP_OK;
	r->body = json_pack("{s:b, s:i}", "received", 1, "tasks", tasks);
	goto cleanup;
store_failed:
	if (st)
		store_rollback(st);
	/* fal retries a delivery that failed: say it is ours, not theirs. */
	serve_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "%s", e.msg[0] ? e.msg : "out of memory");
cleanup:
	PQclear(res);
	json_decref(payload);
	serve_store_put(s, st, ok);
}

/* ---- the reaper ------------------------------------------------------- */

/* The last bytes of a job's log, from the start of a line, valid UTF-8. */
static char *log_tail(const char *path)
{
	char buf[LOG_TAIL_BYTES + 1], *p = buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t size;
	ssize_t n;

	if (fd < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size > LOG_TAIL_BYTES)
		lseek(fd, size - LOG_TAIL_BYTES, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, LOG_TAIL_BYTES);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if (size > LOG_TAIL_BYTES && (p = strchr(buf, '\n')))
		p++;
	else
		p = buf;
	/* Progress lines end in \r; keep what a reader wants. */
	for (char *c = p; *c; c++)
		if (*c == '\r' || (unsigned char)*c >= 0x80 || (*c < 0x20 && *c != '\n'))
			*c = *c == '\r' ? '\n' : '?';
	return strdup(p);
}

static void finish_child(struct serve *s, struct serve_child *c, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	char id[32], codestr[16], msg[256];
	char *tail = log_tail(c->log_path);
	struct store *st;
	struct err e;
	bool ok;

	snprintf(id, sizeof id, "%ld", c->job_id);
	snprintf(codestr, sizeof codestr, "%d", code);
	st = serve_store_get(s, &e);
	if (!st) {
		fprintf(stderr, "skugen serve: job %ld ended (status %d) but the store is unreachable: %s\n",
			c->job_id, code, e.msg);
		free(tail);
		return;
	}
	ok = store_exec(st, "update skugen.api_jobs set exit_code = $2, log_tail = $3, finished_at = now()"
			    " where run_id = $1", 3, (const char *[]){ id, codestr, tail }, &e) == 0;
	/* A child that died before it ended its run leaves it running: end it. */
	if (WIFSIGNALED(status))
		snprintf(msg, sizeof msg, "regen was killed by signal %d", WTERMSIG(status));
	else
		snprintf(msg, sizeof msg, "regen exited with status %d before it finished the run", code);
	if (ok) {
		PGresult *res = store_query(st, "select 1 from skugen.runs where id = $1 and status = 'running'",
					    1, (const char *[]){ id }, &e);

		ok = res != NULL;
		if (res && PQntuples(res))
			run_finish(st, c->job_id, "failed", msg, NULL);
		PQclear(res);
	}
	if (!ok)
		fprintf(stderr, "skugen serve: job %ld: %s\n", c->job_id, e.msg);
	serve_store_put(s, st, ok);
	free(tail);
}

static void *reaper(void *arg)
{
	struct serve *s = arg;

	do {
		for (;;) {
			struct serve_child *done = NULL, **pp;
			int status = 0;

			pthread_mutex_lock(&s->jobs_lock);
			for (pp = &s->children; *pp; pp = &(*pp)->next)
				if (waitpid((*pp)->pid, &status, WNOHANG) == (*pp)->pid) {
					done = *pp;
					*pp = done->next;
					s->running_jobs--;
					break;
				}
			pthread_mutex_unlock(&s->jobs_lock);
			if (!done)
				break;
			finish_child(s, done, status);
			free(done->log_path);
			free(done);
		}
	} while (serve_sleep(s, REAP_TICK_MS));
	return NULL;
}

int serve_jobs_start(struct serve *s, struct err *e)
{
	/* By default the logs live beside the embedded store's files. */
	if (!s->o.log_dir) {
		const char *home = s->o.settings->home ? s->o.settings->home : ".skugen";

		if (mkdir(home, 0700) < 0 && errno != EEXIST)
			return err_set(e, ERR_IO, "cannot make %s: %s", home, strerror(errno));
		snprintf(s->log_dir, sizeof s->log_dir, "%s/serve-jobs", home);
		s->o.log_dir = s->log_dir;
	}
	if (mkdir(s->o.log_dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "cannot make the job log folder %s: %s", s->o.log_dir, strerror(errno));
	if (pthread_create(&s->reaper, NULL, reaper, s) != 0)
		return err_set(e, ERR_INTERNAL, "cannot start the reaper thread");
	s->reaper_started = true;
	return 0;
}

void serve_jobs_stop(struct serve *s)
{
	struct serve_child *c, *next;

	if (s->reaper_started)
		pthread_join(s->reaper, NULL);
	s->reaper_started = false;
	/* Children still running finish their runs on their own. */
	for (c = s->children; c; c = next) {
		next = c->next;
		free(c->log_path);
		free(c);
	}
	s->children = NULL;
}
