/* fal.c: the `fal` provider: fal's queue API, polled.
 *
 *   POST {base}/{model_id}  (Authorization: Key ...; body: the model's input)
 *     -> {request_id, status_url, response_url, cancel_url}
 *   GET status_url every poll_ms: IN_QUEUE, IN_PROGRESS, COMPLETED
 *   GET response_url -> the result, e.g. {"images": [{"url": ...}]}
 *   every "url" in the result is downloaded at once, in parallel (fal keeps
 *   results only minutes), into download_dir as <sha256>.<ext>: written to a
 *   temporary file while hashing, then renamed, so a file that is there is
 *   whole; size and content type are limited
 *   PUT cancel_url when the pool stops.
 *
 * An attempt is one submission: a failed submit is retried like any call;
 * once a job is queued, failed polls, result fetches and downloads are
 * retried on their own (up to max_attempts each) and never resubmit, which
 * would pay twice.  The key goes only to base_url's origin: a status_url
 * elsewhere is refused, and file downloads carry no key at all.
 * Units for the price: images downloaded (per_image), or the video's
 * duration in seconds from the result or the input (per_video_second).
 *
 * With "webhook_url" (e.g. https://host/v1/webhooks/fal of `skugen serve`)
 * each submit also asks fal to POST the result there (?fal_webhook=...);
 * the server verifies and records it, and a task waiting for that request id
 * is queued again with the answer.  The call then ends right after the
 * submit: ok, with no content, outcome.pending set and the request id (its
 * ledger row costs nothing: fal bills on completion).  A later call with
 * resume_id finishes that job without submitting again: with resume_result
 * (the webhook's payload) it downloads the payload's files; without it
 * (no webhook came within webhook_timeout_s) it polls the request's status
 * and result as a submitted job would.  A resumed job is not cancelled at
 * fal when this worker stops: it belongs to the task, not to the worker;
 * only when its call is given up for good (prov_pool_cancel_if with a
 * filter: its run was cancelled) while fal is still running it.
 *
 * A call with cancel_id only asks fal to cancel that earlier request (its
 * task's run was cancelled while it waited):
 *   PUT {base}/{owner}/{app}/requests/{id}/cancel
 *     -> 202 {"status": "CANCELLATION_REQUESTED"}, 400 {"status":
 *        "ALREADY_COMPLETED"}, 404 (NOT_FOUND)
 * answered as content "cancelled", "completed" or "not_found".
 */
#include "providers/prov_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct fal_conf {
	double poll_ms, job_timeout_ms;
	char *dir;
	size_t max_bytes;
	char **types;                   /* NULL-terminated content-type prefixes */
	char *webhook_q;                /* "?fal_webhook=<escaped URL>", or NULL */
	double webhook_timeout_s;       /* read by the executor; checked here */
};

enum fal_stage { FAL_SUBMIT, FAL_POLL, FAL_RESULT, FAL_DOWNLOAD, FAL_CANCEL };

struct fal_file {
	char *url;
	struct http_xfer *x;
	int fd;
	char *tmp;
	int tries;
	bool done;
	char *path;
	char sha[HASH_HEX_LEN];
	char ctype[96];
	size_t bytes;
};

struct fal_state {
	char *submit_url;
	enum fal_stage stage;
	char *status_url, *response_url, *cancel_url;
	int failures;                   /* consecutive failed polls or fetches */
	double job_ms;                  /* when the job was queued */
	json_t *result;
	char *resume_id;                /* finish this request, submit nothing */
	json_t *resume;                 /* its result (a webhook's payload), or NULL */
	char *cancel_id;                /* only cancel this request at fal */
	struct fal_file *files;
	size_t n_files, n_left;
};

/* A transfer that outlives its call: a cancel going out, or a submit whose
 * answer must be cancelled. */
struct fal_detached {
	struct prov_provider *pv;
	char *url;
};

static const char *const fal_keys[] = {
	"poll_ms", "download_dir", "max_download_bytes", "content_types", "job_timeout_s", "webhook_url", "webhook_timeout_s", NULL,
};

/* ---- configuration ---------------------------------------------------------- */

static void fal_close(struct prov_provider *pv)
{
	struct fal_conf *fc = pv->conf;

	if (!fc)
		return;
	for (size_t i = 0; fc->types && fc->types[i]; i++)
		free(fc->types[i]);
	free(fc->types);
	free(fc->dir);
	free(fc->webhook_q);
	free(fc);
	pv->conf = NULL;
}

static int fal_configure(struct prov_provider *pv, const json_t *cfg, const char *path, struct err *e)
{
	struct fal_conf *fc;
	const char *dir, *hook;
	const json_t *types, *t;
	struct buf h = BUF_INIT;
	struct stat st;
	double d;
	size_t i;
	int rc = -1;

	fc = calloc(1, sizeof *fc);
	if (!fc)
		return err_set(e, ERR_NOMEM, "out of memory");
	pv->conf = fc;
	if (prov_cfg_number(cfg, path, "poll_ms", 1000, 1, 600e3, &fc->poll_ms, e) < 0 ||
	    prov_cfg_number(cfg, path, "job_timeout_s", 1800, 0.001, 7 * 86400.0, &d, e) < 0)
		return -1;
	fc->job_timeout_ms = d * 1000;
	if (prov_cfg_number(cfg, path, "max_download_bytes", 512.0 * 1024 * 1024, 1, 1e13, &d, e) < 0)
		return -1;
	fc->max_bytes = (size_t)d;
	if (prov_cfg_string(cfg, path, "download_dir", NULL, &dir, e) < 0)
		return -1;
	if (!dir)
		return err_set(e, ERR_CONFIG, "%s.download_dir: required: where result files are kept", path);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return err_set(e, ERR_CONFIG, "%s.download_dir: cannot create %s: %s", path, dir, strerror(errno));
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(e, ERR_CONFIG, "%s.download_dir: %s is not a directory", path, dir);
	if (!(fc->dir = strdup(dir)))
		return err_set(e, ERR_NOMEM, "out of memory");
	if (prov_cfg_string(cfg, path, "webhook_url", NULL, &hook, e) < 0 ||
	    prov_cfg_number(cfg, path, "webhook_timeout_s", 3600, 0.001, 7 * 86400.0, &fc->webhook_timeout_s, e) < 0)
		return -1;
	if (hook) {
		char *q;

		if (strncmp(hook, "https://", 8) != 0 && strncmp(hook, "http://", 7) != 0)
			return err_set(e, ERR_CONFIG, "%s.webhook_url: expected an http(s) URL", path);
		q = curl_easy_escape(NULL, hook, 0);
		if (!q || asprintf(&fc->webhook_q, "?fal_webhook=%s", q) < 0) {
			fc->webhook_q = NULL;
			curl_free(q);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		curl_free(q);
	}
	types = json_object_get(cfg, "content_types");
	if (types && !json_is_array(types))
		return err_set(e, ERR_CONFIG, "%s.content_types: expected an array of strings", path);
	fc->types = calloc((types ? json_array_size(types) : 3) + 1, sizeof *fc->types);
	if (!fc->types)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (!types) {
		fc->types[0] = strdup("image/");
		fc->types[1] = strdup("video/");
		fc->types[2] = strdup("audio/");
		if (!fc->types[0] || !fc->types[1] || !fc->types[2])
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	json_array_foreach(types, i, t) {
		if (!json_is_string(t))
			return err_set(e, ERR_CONFIG, "%s.content_types[%zu]: expected a string", path, i);
		if (!(fc->types[i] = strdup(json_string_value(t))))
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (!(pv->headers = curl_slist_append(NULL, "Content-Type: application/json")) ||
	    !curl_slist_append(pv->headers, "Accept: application/json") ||
	    !curl_slist_append(pv->headers, "Expect:"))
		goto out;
	if (buf_printf(&h, "Authorization: Key %s", pv->key) < 0 || !curl_slist_append(pv->headers, h.data))
		goto out;
	rc = 0;
out:
	if (rc < 0)
		err_set(e, ERR_NOMEM, "out of memory");
	if (h.data)
		explicit_bzero(h.data, h.len);
	buf_free(&h);
	return rc;
}

/* ---- per-call state ---------------------------------------------------------- */

static void files_drop(struct fal_state *st)
{
	for (size_t i = 0; i < st->n_files; i++) {
		struct fal_file *f = &st->files[i];

		http_xfer_put(f->x);
		if (f->fd >= 0)
			close(f->fd);
		if (f->tmp) {
			unlink(f->tmp);
			free(f->tmp);
		}
		free(f->url);
		free(f->path);
	}
	free(st->files);
	st->files = NULL;
	st->n_files = st->n_left = 0;
}

static void job_reset(struct fal_state *st)
{
	files_drop(st);
	free(st->status_url);
	free(st->response_url);
	free(st->cancel_url);
	st->status_url = st->response_url = st->cancel_url = NULL;
	json_decref(st->result);
	st->result = NULL;
	st->failures = 0;
	st->stage = FAL_SUBMIT;
}

static void fal_req_free(struct prov_req *r)
{
	struct fal_state *st = r->st;

	if (!st)
		return;
	job_reset(st);
	free(st->submit_url);
	free(st->resume_id);
	free(st->cancel_id);
	json_decref(st->resume);
	free(st);
	r->st = NULL;
}

/* A request id of fal's as this client accepts one: it goes into URLs. */
static bool request_id_ok(const char *id)
{
	return *id && strlen(id) < sizeof ((struct prov_req *)0)->request_id && !strpbrk(id, "/?#% ");
}

static bool model_id_ok(const char *m)
{
	if (strstr(m, "..") || m[0] == '/')
		return false;
	for (; *m; m++)
		if (!((*m >= 'a' && *m <= 'z') || (*m >= 'A' && *m <= 'Z') || (*m >= '0' && *m <= '9') ||
		      *m == '/' || *m == '-' || *m == '_' || *m == '.'))
			return false;
	return true;
}

static int fal_prepare(struct prov_req *r, const struct prov_call *c, struct err *e)
{
	const struct fal_conf *fc = r->pv->conf;
	struct fal_state *st;
	json_t *in = NULL;
	int rc;

	if (!model_id_ok(c->model))
		return err_set(e, ERR_INPUT, "%s: \"%s\" is not a fal model id", r->pv->name, c->model);
	st = calloc(1, sizeof *st);
	if (!st)
		return err_set(e, ERR_NOMEM, "out of memory");
	r->st = st;
	if (c->cancel_id) {
		if (!request_id_ok(c->cancel_id))
			return err_set(e, ERR_INPUT, "%s: \"%s\" is not a fal request id", r->pv->name, c->cancel_id);
		if (!(st->cancel_id = strdup(c->cancel_id)))
			return err_set(e, ERR_NOMEM, "out of memory");
		r->est_tokens = 0;
		return 0;
	}
	if (c->resume_id) {
		if (!request_id_ok(c->resume_id))
			return err_set(e, ERR_INPUT, "%s: \"%s\" is not a fal request id", r->pv->name, c->resume_id);
		if (!(st->resume_id = strdup(c->resume_id)))
			return err_set(e, ERR_NOMEM, "out of memory");
		if (c->resume_result && !(st->resume = json_deep_copy(c->resume_result)))
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (asprintf(&st->submit_url, "%s/%s%s", r->pv->base_url, c->model, fc->webhook_q ? fc->webhook_q : "") < 0) {
		st->submit_url = NULL;
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (c->input && (!c->user || json_object_get(c->input, "prompt"))) {
		rc = prov_json_dump(&r->body, c->input);
	} else {
		in = c->input ? json_copy((json_t *)c->input) : json_object();
		rc = !in || json_object_set_new(in, "prompt", json_string(c->user ? c->user : "")) < 0 ||
		     prov_json_dump(&r->body, in) < 0 ? -1 : 0;
		json_decref(in);
	}
	if (rc < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	r->est_tokens = 0;
	return 0;
}

/* ---- transfers ---------------------------------------------------------------- */

static int fal_request(struct prov_req *r, const char *method, const char *url,
		       void (*on_done)(struct http_xfer *x), struct err *e)
{
	struct prov_provider *pv = r->pv;
	struct http_xfer *x = http_xfer_get(pv->pool->http);
	struct http_opts o;

	if (!x)
		return err_set(e, ERR_NOMEM, "out of memory");
	memset(&o, 0, sizeof o);
	o.method = method;
	o.url = url;
	o.headers = pv->headers;
	if (strcmp(method, "POST") == 0) {
		o.body = r->body.data;
		o.body_len = r->body.len;
	}
	o.timeout_ms = pv->timeout_ms;
	o.connect_timeout_ms = pv->connect_timeout_ms;
	if (((struct fal_state *)r->st)->stage == FAL_CANCEL) {
		/* Someone waits on the cancel (skugen cancel): not for long. */
		o.timeout_ms = o.timeout_ms < 10000 ? o.timeout_ms : 10000;
		o.connect_timeout_ms = o.connect_timeout_ms < 10000 ? o.connect_timeout_ms : 10000;
	}
	o.max_bytes = 16u << 20;
	o.sink_fd = -1;
	x->on_done = on_done;
	x->ctx = r;
	if (http_xfer_start(x, &o, e) < 0) {
		http_xfer_put(x);
		return -1;
	}
	r->xfer = x;
	return 0;
}

static void detached_done(struct http_xfer *x)
{
	struct fal_detached *d = x->ctx;

	d->pv->pool->detached--;
	http_xfer_put(x);
	free(d->url);
	free(d);
}

/* PUT url (a cancel_url at the provider's origin) with nobody waiting. */
static void send_cancel(struct prov_provider *pv, const char *url)
{
	struct fal_detached *d;
	struct http_xfer *x;
	struct http_opts o;

	if (!url || !prov_same_origin(pv, url))
		return;
	d = calloc(1, sizeof *d);
	x = d ? http_xfer_get(pv->pool->http) : NULL;
	if (!x || !(d->url = strdup(url))) {
		http_xfer_put(x);
		free(d);
		return;
	}
	d->pv = pv;
	memset(&o, 0, sizeof o);
	o.method = "PUT";
	o.url = d->url;
	o.headers = pv->headers;
	o.timeout_ms = 5000;
	o.connect_timeout_ms = pv->connect_timeout_ms < 5000 ? pv->connect_timeout_ms : 5000;
	o.sink_fd = -1;
	x->on_done = detached_done;
	x->ctx = d;
	if (http_xfer_start(x, &o, NULL) < 0) {
		http_xfer_put(x);
		free(d->url);
		free(d);
		return;
	}
	pv->pool->detached++;
}

/* fal's own URL for a request: {base}/{owner}/{app}/requests/{id}{suffix}. */
static char *request_url(const struct prov_req *r, const char *id, const char *suffix)
{
	const char *m = r->model, *slash = strchr(m, '/');
	size_t app = slash ? (size_t)(strchrnul(slash + 1, '/') - m) : strlen(m);
	char *out;

	if (asprintf(&out, "%s/%.*s/requests/%s%s", r->pv->base_url, (int)app, m, id, suffix) < 0)
		return NULL;
	return out;
}

/* The submit answer's URL key, or fal's documented shape of it. */
static char *answer_url(const struct prov_req *r, const json_t *root, const char *key, const char *id,
			const char *suffix)
{
	const char *u = json_string_value(json_object_get(root, key));

	return u ? strdup(u) : request_url(r, id, suffix);
}

/* A submit answered after its call was cancelled: cancel the job. */
static void orphan_submit_done(struct http_xfer *x)
{
	struct fal_detached *d = x->ctx;
	json_t *root = NULL;

	if (x->result == CURLE_OK && x->status >= 200 && x->status < 300)
		root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, NULL);
	if (json_is_string(json_object_get(root, "cancel_url")))
		send_cancel(d->pv, json_string_value(json_object_get(root, "cancel_url")));
	json_decref(root);
	detached_done(x);
}

/* ---- failing and finishing ----------------------------------------------------------- */

static void fail(struct prov_req *r, enum prov_error err, bool retry, long status, bool billed, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void fail(struct prov_req *r, enum prov_error err, bool retry, long status, bool billed, const char *fmt, ...)
{
	struct fal_state *st = r->st;
	struct prov_attempt a;
	va_list ap;
	size_t n;

	prov_attempt_init(&a);
	a.error = err;
	a.retry = retry;
	a.status = status;
	a.billed = billed;
	if (billed)
		a.units = (double)st->n_files;
	n = (size_t)snprintf(a.msg, sizeof a.msg, "%s: ", r->pv->name);
	if (n < sizeof a.msg) {
		va_start(ap, fmt);
		vsnprintf(a.msg + n, sizeof a.msg - n, fmt, ap);
		va_end(ap);
	}
	files_drop(st);
	prov_attempt_end(r, &a);
}

/* A failed transfer's reason, for messages. */
static void xfer_reason(struct http_xfer *x, char *dst, size_t n)
{
	json_t *root;
	const json_t *detail;
	char ex[200];

	if (x->result != CURLE_OK && !(x->status >= 400)) {
		snprintf(dst, n, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result));
		return;
	}
	root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, NULL);
	detail = json_object_get(root, "detail");
	if (json_is_string(detail)) {
		snprintf(dst, n, "%ld: %s", x->status, json_string_value(detail));
	} else if (json_is_array(detail) && json_is_string(json_object_get(json_array_get(detail, 0), "msg"))) {
		snprintf(dst, n, "%ld: %s", x->status,
			 json_string_value(json_object_get(json_array_get(detail, 0), "msg")));
	} else {
		prov_excerpt(x->resp.data ? x->resp.data : "", x->resp.len, ex, sizeof ex);
		snprintf(dst, n, "HTTP %ld%s%s", x->status, ex[0] ? ": " : "", ex);
	}
	json_decref(root);
}

/* The class of a failed transfer, and whether it is transient. */
static enum prov_error xfer_class(struct http_xfer *x, bool *transient)
{
	enum prov_error err;

	if (x->result != CURLE_OK && x->status < 400)
		return prov_classify_curl(x->result, transient);
	err = prov_classify_status(x->status, NULL, NULL);
	*transient = prov_error_retryable(err);
	return err;
}

static double video_seconds(const struct prov_req *r, const json_t *result)
{
	const json_t *d = json_object_get(json_object_get(result, "video"), "duration");

	if (!json_is_number(d))
		d = json_object_get(r->input, "duration");
	if (json_is_number(d))
		return json_number_value(d);
	if (json_is_string(d))
		return strtod(json_string_value(d), NULL);
	return 0;
}

static void complete(struct prov_req *r)
{
	struct fal_state *st = r->st;
	const struct prov_price *pr = prov_price_find(r->pv, r->model);
	struct prov_attempt a;
	json_t *files = json_array();
	size_t images = 0;

	prov_attempt_init(&a);
	for (size_t i = 0; files && i < st->n_files; i++) {
		struct fal_file *f = &st->files[i];
		json_t *o = json_object();

		if (strncasecmp(f->ctype, "image/", 6) == 0)
			images++;
		if (!o)
			continue;
		json_object_set_new(o, "url", json_string(f->url));
		json_object_set_new(o, "path", json_string(f->path));
		json_object_set_new(o, "sha256", json_string(f->sha));
		json_object_set_new(o, "content_type", json_string(f->ctype));
		json_object_set_new(o, "bytes", json_integer((json_int_t)f->bytes));
		json_array_append_new(files, o);
	}
	if (!files || json_object_set_new(st->result, "files", files) < 0 ||
	    !(r->content_owned = json_dumps(st->result, JSON_COMPACT))) {
		fail(r, PROV_BAD_ANSWER, false, 200, true, "out of memory");
		return;
	}
	r->content = r->content_owned;
	r->content_len = strlen(r->content_owned);
	a.error = PROV_OK;
	a.status = 200;
	a.billed = true;
	a.units = pr && pr->per_video_second > 0 ? video_seconds(r, st->result) : (double)images;
	prov_attempt_end(r, &a);
}

/* ---- stages ------------------------------------------------------------------- */

static void on_submit(struct http_xfer *x);
static void on_cancel(struct http_xfer *x);
static void on_status(struct http_xfer *x);
static void on_result(struct http_xfer *x);
static void on_file(struct http_xfer *x);

static void later(struct prov_req *r, double ms);

static int fal_start(struct prov_req *r, struct err *e)
{
	struct fal_state *st = r->st;

	job_reset(st);
	if (st->cancel_id) {
		snprintf(r->request_id, sizeof r->request_id, "%s", st->cancel_id);
		if (!(st->cancel_url = request_url(r, st->cancel_id, "/cancel")))
			return err_set(e, ERR_NOMEM, "out of memory");
		st->stage = FAL_CANCEL;
		return fal_request(r, "PUT", st->cancel_url, on_cancel, e);
	}
	if (st->resume_id) {
		/* A job submitted earlier: its result, or polls; never a submit.
		 * No cancel_url: stopping this worker leaves the job alone. */
		snprintf(r->request_id, sizeof r->request_id, "%s", st->resume_id);
		st->status_url = request_url(r, st->resume_id, "/status");
		st->response_url = request_url(r, st->resume_id, "");
		if (!st->status_url || !st->response_url)
			return err_set(e, ERR_NOMEM, "out of memory");
		st->stage = st->resume ? FAL_RESULT : FAL_POLL;
		st->job_ms = http_now_ms();
		later(r, 0);
		return 0;
	}
	return fal_request(r, "POST", st->submit_url, on_submit, e);
}

/* Wait poll_ms, then whatever the stage needs next. */
static void later(struct prov_req *r, double ms)
{
	if (prov_timer_set(r, http_now_ms() + ms, PROV_TIMER_OPS) < 0)
		fail(r, PROV_NETWORK, false, 0, r->st && ((struct fal_state *)r->st)->stage >= FAL_RESULT,
		     "out of memory");
}

static void on_submit(struct http_xfer *x)
{
	struct prov_req *r = x->ctx;
	struct fal_state *st = r->st;
	struct prov_attempt a;
	const char *id;
	json_t *root;

	prov_attempt_init(&a);
	r->xfer = NULL;
	if (x->result != CURLE_OK || x->status < 200 || x->status > 299) {
		char why[300];
		bool transient;
		const char *ra = http_xfer_header(x, "retry-after");
		enum prov_error err = xfer_class(x, &transient);

		xfer_reason(x, why, sizeof why);
		if (ra)
			prov_parse_retry_after(ra, prov_unix_ms(), &a.retry_after_ms);
		a.error = err;
		a.retry = transient;
		a.status = x->status;
		http_xfer_put(x);
		snprintf(a.msg, sizeof a.msg, "%s: submit: %s", r->pv->name, why);
		prov_attempt_end(r, &a);
		return;
	}
	root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, NULL);
	http_xfer_put(x);
	id = json_string_value(json_object_get(root, "request_id"));
	if (!id || !*id || strlen(id) >= sizeof r->request_id || strpbrk(id, "/?#% ")) {
		json_decref(root);
		fail(r, PROV_BAD_ANSWER, true, 200, false, "submit: no usable request_id in the answer");
		return;
	}
	snprintf(r->request_id, sizeof r->request_id, "%s", id);
	st->status_url = answer_url(r, root, "status_url", id, "/status");
	st->response_url = answer_url(r, root, "response_url", id, "");
	st->cancel_url = answer_url(r, root, "cancel_url", id, "/cancel");
	json_decref(root);
	if (!st->status_url || !st->response_url || !st->cancel_url) {
		fail(r, PROV_NETWORK, false, 200, false, "out of memory");
		return;
	}
	if (!prov_same_origin(r->pv, st->status_url) || !prov_same_origin(r->pv, st->response_url)) {
		free(st->cancel_url);
		st->cancel_url = NULL;
		fail(r, PROV_BAD_ANSWER, false, 200, false,
		     "submit: the queue's URLs point away from base_url; the key is not sent there");
		return;
	}
	if (((struct fal_conf *)r->pv->conf)->webhook_q) {
		/* The answer comes by webhook: the call ends here, unbilled. */
		prov_attempt_init(&a);
		a.error = PROV_OK;
		a.status = 200;
		r->pending = true;
		prov_attempt_end(r, &a);
		return;
	}
	st->stage = FAL_POLL;
	st->job_ms = http_now_ms();
	later(r, ((struct fal_conf *)r->pv->conf)->poll_ms);
}

/* fal's answer to a cancel_id call: what became of the request. */
static void on_cancel(struct http_xfer *x)
{
	struct prov_req *r = x->ctx;
	struct prov_attempt a;
	const char *status;
	json_t *root;

	prov_attempt_init(&a);
	r->xfer = NULL;
	root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, NULL);
	status = json_string_value(json_object_get(root, "status"));
	a.status = x->status;
	if (x->result == CURLE_OK && x->status >= 200 && x->status < 300) {
		/* 202 CANCELLATION_REQUESTED (OK: removed from the queue) */
		r->content = status && strcmp(status, "ALREADY_COMPLETED") == 0 ? "completed"
			     : status && strcmp(status, "NOT_FOUND") == 0 ? "not_found" : "cancelled";
	} else if (x->result == CURLE_OK && x->status == 400 && status && strcmp(status, "ALREADY_COMPLETED") == 0) {
		r->content = "completed";
	} else if (x->result == CURLE_OK && (x->status == 404 || (status && strcmp(status, "NOT_FOUND") == 0))) {
		r->content = "not_found";
	} else {
		char why[300];
		bool transient;

		a.error = xfer_class(x, &transient);
		a.retry = transient && r->attempt < 2;
		xfer_reason(x, why, sizeof why);
		snprintf(a.msg, sizeof a.msg, "%s: cancel of %s: %s", r->pv->name, r->request_id, why);
	}
	json_decref(root);
	http_xfer_put(x);
	if (r->content) {
		r->content_len = strlen(r->content);
		a.error = PROV_OK;
	}
	prov_attempt_end(r, &a);
}

/* A poll or fetch failed: try it again later, or give up on the job. */
static void step_failed(struct prov_req *r, struct http_xfer *x, const char *what)
{
	struct fal_state *st = r->st;
	char why[300];
	bool transient;
	enum prov_error err = xfer_class(x, &transient);
	long status = x->status;

	xfer_reason(x, why, sizeof why);
	http_xfer_put(x);
	if (transient && ++st->failures < r->pv->max_attempts) {
		later(r, ((struct fal_conf *)r->pv->conf)->poll_ms);
		return;
	}
	if (st->stage == FAL_POLL)
		send_cancel(r->pv, st->cancel_url);
	if (status == 404) {
		/* Lost, or kept no longer: polling again cannot help, and
		 * submitting again could pay twice for a job that ran. */
		fail(r, err, false, status, st->stage >= FAL_RESULT, "%s %s: fal does not know the request any more (%s)",
		     what, r->request_id, why);
		return;
	}
	fail(r, err, false, status, st->stage >= FAL_RESULT, "%s %s: %s", what, r->request_id, why);
}

static void on_status(struct http_xfer *x)
{
	struct prov_req *r = x->ctx;
	struct fal_state *st = r->st;
	const char *status;
	json_t *root;

	r->xfer = NULL;
	if (x->result != CURLE_OK || x->status < 200 || x->status > 299) {
		step_failed(r, x, "status of");
		return;
	}
	st->failures = 0;
	root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, NULL);
	http_xfer_put(x);
	status = json_string_value(json_object_get(root, "status"));
	if (status && strcmp(status, "COMPLETED") == 0) {
		struct err e;

		json_decref(root);
		st->stage = FAL_RESULT;
		if (fal_request(r, "GET", st->response_url, on_result, &e) < 0)
			fail(r, PROV_NETWORK, false, 0, true, "%s", e.msg);
		return;
	}
	if (status && (strcmp(status, "IN_QUEUE") == 0 || strcmp(status, "IN_PROGRESS") == 0)) {
		json_decref(root);
		later(r, ((struct fal_conf *)r->pv->conf)->poll_ms);
		return;
	}
	json_decref(root);
	send_cancel(r->pv, st->cancel_url);
	fail(r, PROV_BAD_ANSWER, false, 200, false, "status of %s: unexpected status %s%s%s", r->request_id,
	     status ? "\"" : "", status ? status : "(none)", status ? "\"" : "");
}

/* Collect every http(s) "url" string of v into the file list. */
static int collect_urls(struct fal_state *st, const json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_object(v)) {
		const json_t *u = json_object_get(v, "url");

		if (json_is_string(u) && (strncmp(json_string_value(u), "https://", 8) == 0 ||
					  strncmp(json_string_value(u), "http://", 7) == 0)) {
			struct fal_file *f = realloc(st->files, (st->n_files + 1) * sizeof *f);

			if (!f)
				return -1;
			st->files = f;
			f = &st->files[st->n_files];
			memset(f, 0, sizeof *f);
			f->fd = -1;
			if (!(f->url = strdup(json_string_value(u))))
				return -1;
			st->n_files++;
		}
		json_object_foreach((json_t *)v, k, c)
			if (strcmp(k, "url") != 0 && collect_urls(st, c) < 0)
				return -1;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c)
			if (collect_urls(st, c) < 0)
				return -1;
	}
	return 0;
}

static const char *ext_for(const char *ctype)
{
	static const char *const map[][2] = {
		{ "image/png", ".png" }, { "image/jpeg", ".jpg" }, { "image/webp", ".webp" },
		{ "image/gif", ".gif" }, { "image/avif", ".avif" }, { "video/mp4", ".mp4" },
		{ "video/webm", ".webm" }, { "video/quicktime", ".mov" }, { "audio/mpeg", ".mp3" },
		{ "audio/wav", ".wav" }, { "model/gltf-binary", ".glb" },
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcasecmp(ctype, map[i][0]) == 0)
			return map[i][1];
	return ".bin";
}

static int start_file(struct prov_req *r, size_t i)
{
	struct fal_conf *fc = r->pv->conf;
	struct fal_file *f = &((struct fal_state *)r->st)->files[i];
	struct http_opts o;
	struct err e;

	if (f->fd < 0) {
		if (asprintf(&f->tmp, "%s/.fal-XXXXXX", fc->dir) < 0) {
			f->tmp = NULL;
			return -1;
		}
		f->fd = mkostemp(f->tmp, O_CLOEXEC);
		if (f->fd < 0) {
			free(f->tmp);
			f->tmp = NULL;
			return -1;
		}
	} else if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0) {
		return -1;
	}
	f->x = http_xfer_get(r->pv->pool->http);
	if (!f->x)
		return -1;
	memset(&o, 0, sizeof o);
	o.method = "GET";
	o.url = f->url;
	o.headers = NULL; /* file hosts get no key */
	o.timeout_ms = r->pv->timeout_ms;
	o.connect_timeout_ms = r->pv->connect_timeout_ms;
	o.low_speed_time_s = 30;
	o.max_bytes = fc->max_bytes;
	o.sink_fd = f->fd;
	o.allowed_types = (const char *const *)fc->types;
	o.follow = true;
	f->x->on_done = on_file;
	f->x->ctx = r;
	f->x->tag = (int)i;
	if (http_xfer_start(f->x, &o, &e) < 0) {
		http_xfer_put(f->x);
		f->x = NULL;
		return -1;
	}
	return 0;
}

static void use_result(struct prov_req *r, json_t *root);

static void on_result(struct http_xfer *x)
{
	struct prov_req *r = x->ctx;
	struct fal_state *st = r->st;
	json_error_t je;
	json_t *root;

	r->xfer = NULL;
	if (x->result != CURLE_OK || x->status < 200 || x->status > 299) {
		step_failed(r, x, "result of");
		return;
	}
	root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, &je);
	http_xfer_put(x);
	if (!json_is_object(root)) {
		json_decref(root);
		/* The result may be fetched again while fal keeps it. */
		if (++st->failures < r->pv->max_attempts) {
			later(r, ((struct fal_conf *)r->pv->conf)->poll_ms);
			return;
		}
		fail(r, PROV_BAD_ANSWER, false, 200, true, "result of %s: not a JSON object", r->request_id);
		return;
	}
	use_result(r, root);
}

/* The job's result (stolen): download its files, then complete. */
static void use_result(struct prov_req *r, json_t *root)
{
	struct fal_state *st = r->st;

	st->result = root;
	if (collect_urls(st, root) < 0) {
		fail(r, PROV_NETWORK, false, 200, true, "out of memory");
		return;
	}
	if (st->n_files == 0) {
		complete(r);
		return;
	}
	st->stage = FAL_DOWNLOAD;
	st->n_left = st->n_files;
	for (size_t i = 0; i < st->n_files; i++) {
		if (start_file(r, i) < 0) {
			fail(r, PROV_NETWORK, false, 200, true, "file %zu of %s: cannot start the download: %s", i,
			     r->request_id, strerror(errno));
			return;
		}
	}
}

static void on_file(struct http_xfer *x)
{
	struct prov_req *r = x->ctx;
	struct fal_state *st = r->st;
	struct fal_conf *fc = r->pv->conf;
	size_t i = (size_t)x->tag;
	struct fal_file *f = &st->files[i];

	f->x = NULL;
	if (x->result == CURLE_OK && x->status >= 200 && x->status < 300) {
		snprintf(f->sha, sizeof f->sha, "%s", x->sha256);
		snprintf(f->ctype, sizeof f->ctype, "%s", x->content_type);
		f->bytes = x->bytes;
		http_xfer_put(x);
		if (asprintf(&f->path, "%s/%s%s", fc->dir, f->sha, ext_for(f->ctype)) < 0) {
			f->path = NULL;
			fail(r, PROV_NETWORK, false, 200, true, "out of memory");
			return;
		}
		close(f->fd);
		f->fd = -1;
		if (rename(f->tmp, f->path) < 0) {
			fail(r, PROV_NETWORK, false, 200, true, "file %zu of %s: cannot rename into %s: %s", i,
			     r->request_id, fc->dir, strerror(errno));
			return;
		}
		free(f->tmp);
		f->tmp = NULL;
		f->done = true;
		if (--st->n_left == 0)
			complete(r);
		return;
	}
	if (x->bad_type) {
		char ct[96];

		snprintf(ct, sizeof ct, "%s", x->content_type[0] ? x->content_type : "(none)");
		http_xfer_put(x);
		fail(r, PROV_BAD_ANSWER, false, 200, true, "file %zu of %s: content type %s is not allowed", i,
		     r->request_id, ct);
		return;
	}
	if (x->too_big || x->result == CURLE_FILESIZE_EXCEEDED) {
		http_xfer_put(x);
		fail(r, PROV_BAD_ANSWER, false, 200, true, "file %zu of %s: larger than max_download_bytes (%zu)",
		     i, r->request_id, fc->max_bytes);
		return;
	}
	{
		char why[300];
		bool transient;
		enum prov_error err = xfer_class(x, &transient);

		xfer_reason(x, why, sizeof why);
		http_xfer_put(x);
		if (transient && ++f->tries < r->pv->max_attempts) {
			if (r->heap_i == SIZE_MAX)
				later(r, r->pv->backoff_ms);
			return;
		}
		fail(r, err == PROV_BAD_REQUEST ? PROV_BAD_ANSWER : err, false, 200, true,
		     "file %zu of %s: %s", i, r->request_id, why);
	}
}

static void fal_timer(struct prov_req *r)
{
	struct fal_state *st = r->st;
	struct fal_conf *fc = r->pv->conf;
	struct err e;

	switch (st->stage) {
	case FAL_POLL:
		if (http_now_ms() - st->job_ms > fc->job_timeout_ms) {
			send_cancel(r->pv, st->cancel_url);
			fail(r, PROV_TIMEOUT, false, 0, false, "job %s not done after %.0f s (job_timeout_s); cancelled",
			     r->request_id, fc->job_timeout_ms / 1000);
			return;
		}
		if (fal_request(r, "GET", st->status_url, on_status, &e) < 0)
			fail(r, PROV_NETWORK, false, 0, false, "%s", e.msg);
		return;
	case FAL_RESULT:
		if (st->resume) {
			use_result(r, json_incref(st->resume));
			return;
		}
		if (fal_request(r, "GET", st->response_url, on_result, &e) < 0)
			fail(r, PROV_NETWORK, false, 0, true, "%s", e.msg);
		return;
	case FAL_DOWNLOAD:
		for (size_t i = 0; i < st->n_files; i++) {
			if (st->files[i].done || st->files[i].x)
				continue;
			if (start_file(r, i) < 0) {
				fail(r, PROV_NETWORK, false, 200, true, "file %zu of %s: cannot start the download: %s",
				     i, r->request_id, strerror(errno));
				return;
			}
		}
		return;
	case FAL_SUBMIT:
	case FAL_CANCEL:
		return;
	}
}

static void fal_cancel(struct prov_req *r)
{
	struct fal_state *st = r->st;
	struct fal_detached *d;

	switch (st->stage) {
	case FAL_SUBMIT:
		/* Not started yet (held back by the pool's limits): a resumed
		 * job is at fal all the same, and given up for good it is
		 * cancelled there as a polled one is. */
		if (!r->xfer && st->resume_id && !st->resume && r->pool->abandoning) {
			if (!st->cancel_url)
				st->cancel_url = request_url(r, st->resume_id, "/cancel");
			send_cancel(r->pv, st->cancel_url);
		}
		/* The job may exist once the submit answers: let it answer, then
		 * cancel what it made. */
		if (r->xfer && (d = calloc(1, sizeof *d))) {
			d->pv = r->pv;
			r->xfer->on_done = orphan_submit_done;
			r->xfer->ctx = d;
			r->xfer = NULL;
			r->pv->pool->detached++;
		}
		break;
	case FAL_POLL:
		http_xfer_put(r->xfer);
		r->xfer = NULL;
		if (!st->cancel_url && st->resume_id && r->pool->abandoning)
			st->cancel_url = request_url(r, st->resume_id, "/cancel");
		send_cancel(r->pv, st->cancel_url);
		break;
	case FAL_RESULT:
	case FAL_DOWNLOAD:
		break; /* done at fal already */
	case FAL_CANCEL:
		http_xfer_put(r->xfer);
		r->xfer = NULL;
		break;
	}
	files_drop(st);
}

const struct prov_ops prov_fal_ops = {
	.name = "fal",
	.version = "1",
	.keys = fal_keys,
	.configure = fal_configure,
	.prepare = fal_prepare,
	.start = fal_start,
	.timer = fal_timer,
	.cancel = fal_cancel,
	.req_free = fal_req_free,
	.close = fal_close,
};
