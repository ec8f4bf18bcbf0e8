/* pool.c: the provider pool (see provider.h): configuration, submission,
 * admission behind the token buckets and circuit breakers, timers, attempt
 * accounting and the done() callbacks.
 *
 * A call's life: prov_submit builds its request body once and queues it on
 * its (provider, model) bucket.  prov_pool_run admits queued calls in order
 * while the provider has in-flight slots, its circuit lets them through and
 * the bucket has requests and tokens to spare; the back-end starts the
 * attempt; when it ends, prov_attempt_end prices and logs it, then either
 * finishes the call or sets a retry timer.  A retry goes back to the *front*
 * of its bucket's queue, so retried calls do not lose their place.
 */
#include "providers/prov_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/utf8.h"

#define CANCEL_WAIT_MS 5000.0

const struct prov_ops *const prov_backends[] = {
	&prov_openai_ops,
	&prov_anthropic_ops,
	&prov_fal_ops,
	NULL,
};

static const char *const common_keys[] = {
	"type", "base_url", "api_key_env", "rpm", "tpm", "burst_s", "max_attempts", "timeout_s",
	"connect_timeout_s", "max_in_flight", "backoff_ms", "backoff_max_ms", "max_retry_after_s",
	"circuit", "prices", NULL,
};

/* ---- configuration helpers -------------------------------------------------- */

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

int prov_cfg_number(const json_t *obj, const char *path, const char *key, double def,
		    double min, double max, double *out, struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	double d;

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_number(v))
		return err_set(e, ERR_CONFIG, "%s.%s: expected a number, got %s", path, key, json_type_name(v));
	d = json_number_value(v);
	if (!(d >= min && d <= max))
		return err_set(e, ERR_CONFIG, "%s.%s: expected a number from %g to %g, got %g", path, key,
			       min, max, d);
	*out = d;
	return 0;
}

int prov_cfg_string(const json_t *obj, const char *path, const char *key, const char *def,
		    const char **out, struct err *e)
{
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_string(v))
		return err_set(e, ERR_CONFIG, "%s.%s: expected a string, got %s", path, key, json_type_name(v));
	if (json_string_length(v) == 0)
		return err_set(e, ERR_CONFIG, "%s.%s: must not be empty", path, key);
	*out = json_string_value(v);
	return 0;
}

static bool key_known(const char *k, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], k) == 0)
			return true;
	return false;
}

/* "scheme://host:port" of url, lowercase; new string or NULL. */
static char *origin_of(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto done;
	if (asprintf(&out, "%s://%s:%s", scheme, host, port) < 0)
		out = NULL;
	for (char *c = out; c && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

bool prov_same_origin(const struct prov_provider *pv, const char *url)
{
	char *o = url ? origin_of(url) : NULL;
	bool same = o && pv->origin && strcmp(o, pv->origin) == 0;

	free(o);
	return same;
}

static void provider_free(struct prov_provider *pv)
{
	if (!pv)
		return;
	if (pv->ops && pv->ops->close)
		pv->ops->close(pv);
	for (struct curl_slist *h = pv->headers; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(pv->headers);
	if (pv->key) {
		explicit_bzero(pv->key, strlen(pv->key));
		free(pv->key);
	}
	for (size_t i = 0; i < pv->n_buckets; i++) {
		free(pv->buckets[i]->model);
		free(pv->buckets[i]);
	}
	free(pv->buckets);
	for (size_t i = 0; i < pv->n_prices; i++)
		free(pv->prices[i].model);
	free(pv->prices);
	free(pv->name);
	free(pv->base_url);
	free(pv->origin);
	free(pv->key_env);
	free(pv->url);
	free(pv);
}

static int open_provider(struct prov_pool *p, const char *name, const json_t *cfg, struct err *e)
{
	struct prov_provider *pv;
	const struct prov_ops *ops = NULL;
	const char *type, *base, *env, *k;
	const json_t *v, *circuit;
	char path[256];
	double d, fails, cool;
	int rc = -1;

	snprintf(path, sizeof path, "providers.%s", name);
	if (!json_is_object(cfg))
		return err_set(e, ERR_CONFIG, "%s: expected an object, got %s", path, json_type_name(cfg));
	if (prov_cfg_string(cfg, path, "type", NULL, &type, e) < 0)
		return -1;
	if (!type)
		return err_set(e, ERR_CONFIG, "%s.type: required (openai, anthropic or fal)", path);
	for (size_t i = 0; prov_backends[i]; i++)
		if (strcmp(prov_backends[i]->name, type) == 0)
			ops = prov_backends[i];
	if (!ops)
		return err_set(e, ERR_CONFIG, "%s.type: unknown provider type \"%s\" (expected openai, "
			       "anthropic or fal)", path, type);
	json_object_foreach((json_t *)cfg, k, v)
		if (!key_known(k, common_keys) && !key_known(k, ops->keys))
			return err_set(e, ERR_CONFIG, "%s.%s: unknown key", path, k);

	pv = calloc(1, sizeof *pv);
	if (!pv)
		return err_set(e, ERR_NOMEM, "out of memory");
	pv->pool = p;
	pv->ops = ops;
	pv->name = strdup(name);
	if (!pv->name) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}

	if (prov_cfg_string(cfg, path, "base_url",
			    strcmp(type, "openai") == 0 ? "https://api.openai.com/v1" :
			    strcmp(type, "anthropic") == 0 ? "https://api.anthropic.com" :
			    "https://queue.fal.run", &base, e) < 0)
		goto out;
	if (strncasecmp(base, "http://", 7) != 0 && strncasecmp(base, "https://", 8) != 0) {
		err_set(e, ERR_CONFIG, "%s.base_url: expected an http:// or https:// URL", path);
		goto out;
	}
	pv->base_url = strdup(base);
	if (!pv->base_url) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	while (strlen(pv->base_url) > 8 && pv->base_url[strlen(pv->base_url) - 1] == '/')
		pv->base_url[strlen(pv->base_url) - 1] = '\0';
	pv->origin = origin_of(pv->base_url);
	if (!pv->origin) {
		err_set(e, ERR_CONFIG, "%s.base_url: not a valid URL", path);
		goto out;
	}

	if (prov_cfg_string(cfg, path, "api_key_env", NULL, &env, e) < 0)
		goto out;
	if (!env && strcmp(type, "openai") != 0) {
		err_set(e, ERR_CONFIG, "%s.api_key_env: required: the environment variable that holds "
			"the key", path);
		goto out;
	}
	if (env) {
		const char *key = getenv(env);

		pv->key_env = strdup(env);
		if (!pv->key_env) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		if (!key || !*key) {
			err_set(e, ERR_CONFIG, "%s.api_key_env: the environment variable %s is not set", path, env);
			goto out;
		}
		for (const char *c = key; *c; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				err_set(e, ERR_CONFIG, "%s.api_key_env: the key in %s holds control characters",
					path, env);
				goto out;
			}
		}
		pv->key = strdup(key);
		if (!pv->key) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
	}

	if (prov_cfg_number(cfg, path, "rpm", 0, 0, 1e9, &pv->rpm, e) < 0 ||
	    prov_cfg_number(cfg, path, "tpm", 0, 0, 1e13, &pv->tpm, e) < 0 ||
	    prov_cfg_number(cfg, path, "burst_s", 1, 0.001, 3600, &pv->burst_s, e) < 0)
		goto out;
	if (prov_cfg_number(cfg, path, "max_attempts", 5, 1, 100, &d, e) < 0)
		goto out;
	pv->max_attempts = (int)d;
	if (prov_cfg_number(cfg, path, "timeout_s", 120, 0.001, 86400, &d, e) < 0)
		goto out;
	pv->timeout_ms = (long)ceil(d * 1000);
	if (prov_cfg_number(cfg, path, "connect_timeout_s", 10, 0.001, 3600, &d, e) < 0)
		goto out;
	pv->connect_timeout_ms = (long)ceil(d * 1000);
	if (prov_cfg_number(cfg, path, "max_in_flight", 512, 1, 100000, &d, e) < 0)
		goto out;
	pv->max_in_flight = (size_t)d;
	if (prov_cfg_number(cfg, path, "backoff_ms", 500, 0, 3600e3, &pv->backoff_ms, e) < 0 ||
	    prov_cfg_number(cfg, path, "backoff_max_ms", 30000, 0, 3600e3, &pv->backoff_max_ms, e) < 0 ||
	    prov_cfg_number(cfg, path, "max_retry_after_s", 120, 0, 86400, &d, e) < 0)
		goto out;
	pv->max_retry_after_ms = d * 1000;

	circuit = json_object_get(cfg, "circuit");
	if (circuit && !json_is_object(circuit)) {
		err_set(e, ERR_CONFIG, "%s.circuit: expected an object, got %s", path, json_type_name(circuit));
		goto out;
	}
	if (circuit) {
		char cpath[300];

		snprintf(cpath, sizeof cpath, "%s.circuit", path);
		json_object_foreach((json_t *)circuit, k, v) {
			if (strcmp(k, "failures") != 0 && strcmp(k, "cooldown_s") != 0) {
				err_set(e, ERR_CONFIG, "%s.%s: unknown key (expected failures, cooldown_s)", cpath, k);
				goto out;
			}
		}
		if (prov_cfg_number(circuit, cpath, "failures", 5, 0, 1e6, &fails, e) < 0 ||
		    prov_cfg_number(circuit, cpath, "cooldown_s", 30, 0, 86400, &cool, e) < 0)
			goto out;
	} else {
		fails = 5;
		cool = 30;
	}
	prov_circuit_init(&pv->circuit, (int)fails, cool * 1000);

	if ((v = json_object_get(cfg, "prices")) && !json_is_null(v)) {
		char ppath[300];

		snprintf(ppath, sizeof ppath, "%s.prices", path);
		if (prov_prices_parse(pv, v, ppath, e) < 0)
			goto out;
	}
	if (ops->configure(pv, cfg, path, e) < 0)
		goto out;
	p->pv[p->n_pv++] = pv;
	pv = NULL;
	rc = 0;
out:
	provider_free(pv);
	return rc;
}

int prov_pool_open(struct prov_pool **out, const json_t *providers_cfg, struct err *e)
{
	struct prov_pool *p;
	const char *name;
	json_t *cfg;
	long conns = 16;

	if (providers_cfg && !json_is_object(providers_cfg))
		return err_set(e, ERR_CONFIG, "providers: expected an object, got %s",
			       json_type_name(providers_cfg));
	p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	p->rng = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32) ^
		 (unsigned long long)(uintptr_t)p;
	if (http_engine_new(&p->http, e) < 0)
		goto fail;
	p->pv = calloc(providers_cfg ? json_object_size(providers_cfg) + 1 : 1, sizeof *p->pv);
	if (!p->pv) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (providers_cfg) {
		json_object_foreach((json_t *)providers_cfg, name, cfg) {
			if (open_provider(p, name, cfg, e) < 0)
				goto fail;
			conns += (long)p->pv[p->n_pv - 1]->max_in_flight;
		}
	}
	/* Keep a connection for every slot, so that a dip in load does not
	 * close connections the next burst needs. */
	http_engine_set_maxconnects(p->http, conns);
	*out = p;
	return 0;
fail:
	prov_pool_free(p);
	return -1;
}

/* ---- timers ------------------------------------------------------------------ */

static void heap_swap(struct prov_pool *p, size_t a, size_t b)
{
	struct prov_req *t = p->heap[a];

	p->heap[a] = p->heap[b];
	p->heap[b] = t;
	p->heap[a]->heap_i = a;
	p->heap[b]->heap_i = b;
}

static void heap_up(struct prov_pool *p, size_t i)
{
	while (i > 0 && p->heap[(i - 1) / 2]->wake_ms > p->heap[i]->wake_ms) {
		heap_swap(p, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct prov_pool *p, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < p->n_heap && p->heap[l]->wake_ms < p->heap[m]->wake_ms)
			m = l;
		if (r < p->n_heap && p->heap[r]->wake_ms < p->heap[m]->wake_ms)
			m = r;
		if (m == i)
			return;
		heap_swap(p, i, m);
		i = m;
	}
}

void prov_timer_clear(struct prov_req *r)
{
	struct prov_pool *p = r->pool;
	size_t i = r->heap_i;

	if (i == SIZE_MAX)
		return;
	r->heap_i = SIZE_MAX;
	p->n_heap--;
	if (i == p->n_heap)
		return;
	p->heap[i] = p->heap[p->n_heap];
	p->heap[i]->heap_i = i;
	heap_up(p, i);
	heap_down(p, p->heap[i]->heap_i);
}

int prov_timer_set(struct prov_req *r, double at, enum prov_timer_kind kind)
{
	struct prov_pool *p = r->pool;

	prov_timer_clear(r);
	if (p->n_heap == p->cap_heap) {
		size_t cap = p->cap_heap ? p->cap_heap * 2 : 256;
		struct prov_req **h = realloc(p->heap, cap * sizeof *h);

		if (!h)
			return -1;
		p->heap = h;
		p->cap_heap = cap;
	}
	r->wake_ms = at;
	r->timer = kind;
	r->state = PROV_REQ_TIMER;
	r->heap_i = p->n_heap;
	p->heap[p->n_heap++] = r;
	heap_up(p, r->heap_i);
	return 0;
}

/* ---- queues ------------------------------------------------------------------ */

static struct prov_bucket *bucket_for(struct prov_provider *pv, const char *model)
{
	struct prov_bucket *b, **v;

	for (size_t i = 0; i < pv->n_buckets; i++)
		if (strcmp(pv->buckets[i]->model, model) == 0)
			return pv->buckets[i];
	v = realloc(pv->buckets, (pv->n_buckets + 1) * sizeof *v);
	if (!v)
		return NULL;
	pv->buckets = v;
	b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->model = strdup(model);
	if (!b->model) {
		free(b);
		return NULL;
	}
	prov_bucket_init(b, pv->rpm, pv->tpm, pv->burst_s, http_now_ms());
	pv->buckets[pv->n_buckets++] = b;
	return b;
}

static void enqueue(struct prov_req *r, bool front)
{
	struct prov_bucket *b = r->bucket;

	r->state = PROV_REQ_QUEUED;
	r->prev = r->next = NULL;
	if (!b->head) {
		b->head = b->tail = r;
	} else if (front) {
		r->next = b->head;
		b->head->prev = r;
		b->head = r;
	} else {
		r->prev = b->tail;
		b->tail->next = r;
		b->tail = r;
	}
	b->queued++;
}

static void dequeue(struct prov_req *r)
{
	struct prov_bucket *b = r->bucket;

	if (r->prev)
		r->prev->next = r->next;
	else
		b->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		b->tail = r->prev;
	r->prev = r->next = NULL;
	r->state = PROV_REQ_ACTIVE;
	b->queued--;
}

/* ---- finishing ------------------------------------------------------------------ */

static void clear_answer(struct prov_req *r)
{
	json_decref(r->answer);
	r->answer = NULL;
	free(r->content_owned);
	r->content_owned = NULL;
	r->content = NULL;
	r->content_len = 0;
	free(r->model_version);
	r->model_version = NULL;
}

static void req_free(struct prov_req *r)
{
	if (!r)
		return;
	if (r->pv && r->pv->ops->req_free)
		r->pv->ops->req_free(r);
	http_xfer_put(r->xfer);
	clear_answer(r);
	buf_free(&r->body);
	json_decref(r->schema);
	json_decref(r->input);
	json_decref(r->log);
	free(r->model);
	free(r);
}

/* End the call: one done() and the call is gone. */
static void finish(struct prov_req *r, enum prov_error error, const char *msg)
{
	struct prov_pool *p = r->pool;
	struct prov_outcome o;

	if (r->state == PROV_REQ_QUEUED)
		dequeue(r);
	prov_timer_clear(r);
	if (r->holds_slot) {
		r->pv->in_flight--;
		r->holds_slot = false;
	}
	if (r->all_prev)
		r->all_prev->all_next = r->all_next;
	else
		p->all = r->all_next;
	if (r->all_next)
		r->all_next->all_prev = r->all_prev;
	p->pending--;

	memset(&o, 0, sizeof o);
	o.ok = error == PROV_OK;
	o.error = error;
	o.message = o.ok ? NULL : msg;
	if (o.ok) {
		o.content = r->content ? r->content : "";
		o.content_len = r->content_len;
	}
	o.model_version = r->model_version;
	o.request_id = r->request_id[0] ? r->request_id : NULL;
	o.pending = o.ok && r->pending;
	o.tokens_in = r->tin;
	o.tokens_out = r->tout;
	o.tokens_cached = r->tcached;
	o.tokens_reasoning = r->treason;
	o.attempts = r->attempt;
	o.latency_ms = http_now_ms() - r->submit_ms;
	o.cost = r->cost;
	o.attempts_log = r->log;
	r->done(r->ctx, &o);
	req_free(r);
}

static json_t *num_or_null(double v)
{
	return v >= 0 ? json_real(v) : json_null();
}

static void log_attempt(struct prov_req *r, const struct prov_attempt *a, double cost, double now)
{
	json_t *o = json_object();

	if (!o)
		return;
	json_object_set_new(o, "attempt", json_integer(r->attempt));
	json_object_set_new(o, "status", json_integer(a->status));
	json_object_set_new(o, "error", json_string(prov_error_name(a->error)));
	json_object_set_new(o, "message", a->error == PROV_OK ? json_null() : json_string(a->msg));
	json_object_set_new(o, "tokens_in", json_integer(a->tin));
	json_object_set_new(o, "tokens_out", json_integer(a->tout));
	json_object_set_new(o, "tokens_cached", json_integer(a->tcached));
	json_object_set_new(o, "tokens_reasoning", json_integer(a->treason));
	json_object_set_new(o, "units", json_real(a->units));
	json_object_set_new(o, "cost", json_real(cost));
	json_object_set_new(o, "request_id", r->request_id[0] ? json_string(r->request_id) : json_null());
	json_object_set_new(o, "retry_after_ms", num_or_null(a->retry_after_ms));
	json_object_set_new(o, "latency_ms", json_real(now - r->attempt_ms));
	json_array_append_new(r->log, o);
}

void prov_attempt_init(struct prov_attempt *a)
{
	memset(a, 0, sizeof *a);
	a->retry_after_ms = -1;
}

void prov_attempt_from_curl(struct prov_attempt *a, const struct prov_provider *pv,
			    const struct http_xfer *x)
{
	a->error = prov_classify_curl(x->result, &a->retry);
	a->status = x->status;
	if (x->result == CURLE_OPERATION_TIMEDOUT)
		snprintf(a->msg, sizeof a->msg, "%s: timeout after %.0f ms (%s)", pv->name,
			 http_now_ms() - x->started_ms, x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result));
	else if (x->too_big)
		snprintf(a->msg, sizeof a->msg, "%s: the answer is larger than %zu bytes", pv->name, x->max_bytes);
	else
		snprintf(a->msg, sizeof a->msg, "%s: network: %s (curl %d)", pv->name,
			 x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result), (int)x->result);
	if (x->too_big)
		a->retry = false;
}

void prov_attempt_end(struct prov_req *r, struct prov_attempt *a)
{
	struct prov_pool *p = r->pool;
	struct prov_provider *pv = r->pv;
	double now = http_now_ms(), cost = 0;
	char msg[sizeof a->msg + 96];

	if (r->xfer) {
		http_xfer_put(r->xfer);
		r->xfer = NULL;
	}
	if (r->holds_slot) {
		pv->in_flight--;
		r->holds_slot = false;
	}
	prov_scrub(p, a->msg);
	prov_circuit_record(&pv->circuit, r->probe, a->error == PROV_OK || !prov_error_unhealthy(a->error),
			    a->msg, now);
	r->probe = false;
	if (a->billed) {
		if (pv->priced)
			cost = prov_price_apply(prov_price_find(pv, r->model), a->tin, a->tout, a->tcached, a->units);
		/* Charge the token bucket for what the estimate missed (never refund:
		 * servers count the reservation). */
		if (a->tin + a->tout > r->est_tokens)
			prov_bucket_adjust(r->bucket, a->tin + a->tout - r->est_tokens);
	}
	r->tin += a->tin;
	r->tout += a->tout;
	r->tcached += a->tcached;
	r->treason += a->treason;
	r->cost += cost;
	log_attempt(r, a, cost, now);
	if (a->error == PROV_OK) {
		finish(r, PROV_OK, NULL);
		return;
	}
	snprintf(r->last_msg, sizeof r->last_msg, "%s", a->msg);
	if (a->retry && r->attempt < pv->max_attempts) {
		double delay;

		if (a->retry_after_ms > pv->max_retry_after_ms) {
			snprintf(msg, sizeof msg, "%s (the server asks for a retry after %.0f s, more than "
				 "max_retry_after_s)", a->msg, a->retry_after_ms / 1000);
			finish(r, a->error, msg);
			return;
		}
		clear_answer(r);
		delay = a->retry_after_ms >= 0 ? a->retry_after_ms
					       : prov_backoff_ms(r->attempt, pv->backoff_ms, pv->backoff_max_ms, &p->rng);
		if (prov_timer_set(r, now + delay, PROV_TIMER_RETRY) < 0)
			enqueue(r, true); /* no memory for a timer: retry without waiting */
		return;
	}
	if (r->attempt > 1)
		snprintf(msg, sizeof msg, "%s (after %d attempts)", a->msg, r->attempt);
	else
		snprintf(msg, sizeof msg, "%s", a->msg);
	finish(r, a->error, msg);
}

/* ---- submitting and running -------------------------------------------------------- */

static struct prov_provider *find_provider(const struct prov_pool *p, const char *name)
{
	for (size_t i = 0; name && i < p->n_pv; i++)
		if (strcmp(p->pv[i]->name, name) == 0)
			return p->pv[i];
	return NULL;
}

static int check_text(const char *what, const char *s, struct err *e)
{
	size_t bad;

	if (s && !utf8_valid(s, strlen(s), &bad))
		return err_set(e, ERR_INPUT, "%s is not valid UTF-8 (byte %zu)", what, bad);
	return 0;
}

int prov_submit(struct prov_pool *p, const struct prov_call *c, struct err *e)
{
	struct prov_provider *pv;
	struct prov_req *r;

	if (!c || !c->done)
		return err_set(e, ERR_INPUT, "a call needs a done callback");
	if (p->stopping)
		return err_set(e, ERR_INPUT, "the provider pool is cancelling its calls");
	pv = find_provider(p, c->provider);
	if (!pv)
		return err_set(e, ERR_INPUT, "no provider \"%s\" is configured", c->provider ? c->provider : "(null)");
	if (!c->model || !*c->model)
		return err_set(e, ERR_INPUT, "%s: a call needs a model", pv->name);
	if (check_text("the system prompt", c->system, e) < 0 || check_text("the user prompt", c->user, e) < 0 ||
	    check_text("the model", c->model, e) < 0)
		return err_prefix(e, "%s", pv->name);
	if ((c->schema && !json_is_object(c->schema)) || (c->params && !json_is_object(c->params)) ||
	    (c->input && !json_is_object(c->input)))
		return err_set(e, ERR_INPUT, "%s: schema, params and input must be JSON objects", pv->name);
	if (pv->priced && !prov_price_find(pv, c->model))
		return err_set(e, ERR_INPUT, "providers.%s.prices: no price for model \"%s\"", pv->name, c->model);

	r = calloc(1, sizeof *r);
	if (!r)
		return err_set(e, ERR_NOMEM, "out of memory");
	r->pool = p;
	r->pv = pv;
	r->heap_i = SIZE_MAX;
	r->done = c->done;
	r->ctx = c->ctx;
	r->model = strdup(c->model);
	r->log = json_array();
	r->bucket = r->model ? bucket_for(pv, c->model) : NULL;
	if (!r->model || !r->log || !r->bucket) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (c->schema)
		r->schema = json_incref((json_t *)c->schema);
	if (c->input)
		r->input = json_incref((json_t *)c->input);
	if (pv->ops->prepare(r, c, e) < 0)
		goto fail;
	r->submit_ms = http_now_ms();
	r->all_next = p->all;
	if (p->all)
		p->all->all_prev = r;
	p->all = r;
	p->pending++;
	enqueue(r, false);
	return 0;
fail:
	req_free(r);
	return -1;
}

static void start_attempt(struct prov_req *r, bool probe, double now)
{
	struct prov_provider *pv = r->pv;
	struct prov_attempt a;
	struct err e;

	prov_bucket_take(r->bucket, r->est_tokens);
	r->sent_req_at = r->bucket->sent_req;
	r->sent_tok_at = r->bucket->sent_tok;
	r->attempt++;
	r->probe = probe;
	r->holds_slot = true;
	pv->in_flight++;
	r->state = PROV_REQ_ACTIVE;
	r->attempt_ms = now;
	r->request_id[0] = '\0';
	err_clear(&e);
	if (pv->ops->start(r, &e) == 0)
		return;
	prov_attempt_init(&a);
	a.error = PROV_NETWORK;
	snprintf(a.msg, sizeof a.msg, "%s: could not start the request: %.400s", pv->name, e.msg);
	prov_attempt_end(r, &a);
}

/* Admit what may go now.  Returns the ms until a bucket lets the next call
 * go, or -1 when no bucket is waiting on time. */
static double dispatch(struct prov_pool *p, double now)
{
	double next = -1;

	for (size_t i = 0; i < p->n_pv; i++) {
		struct prov_provider *pv = p->pv[i];

		for (size_t j = 0; j < pv->n_buckets; j++) {
			struct prov_bucket *b = pv->buckets[j];
			/* Calls that done() queues while this runs wait for the next
			 * turn: a caller resubmitting on PROV_CIRCUIT_OPEN must not
			 * spin here. */
			unsigned long budget = b->queued;

			while (b->head && budget-- > 0) {
				struct prov_req *r = b->head;
				enum prov_cb_admit admit;
				double w;

				if (!prov_circuit_available(&pv->circuit, now)) {
					char msg[sizeof r->last_msg + 160];

					snprintf(msg, sizeof msg, "%s: circuit open after %d consecutive failures, "
						 "for %.0f s more (last: %s)", pv->name, pv->circuit.failures,
						 fmax(0, (pv->circuit.opened_ms + pv->circuit.cooldown_ms - now) / 1000),
						 pv->circuit.last);
					dequeue(r);
					finish(r, PROV_CIRCUIT_OPEN, msg);
					continue;
				}
				if (pv->in_flight >= pv->max_in_flight)
					break;
				w = prov_bucket_wait(b, r->est_tokens, now);
				if (w > 0) {
					/* Let a few tokens gather: one wake-up admits several
					 * calls, and completions often wake us before it. */
					w = fmax(w, prov_bucket_slack(b));
					if (next < 0 || w < next)
						next = w;
					break;
				}
				admit = prov_circuit_admit(&pv->circuit, now);
				dequeue(r);
				start_attempt(r, admit == PROV_CB_PROBE, now);
			}
		}
	}
	return next;
}

static void fire_timers(struct prov_pool *p, double now)
{
	while (p->n_heap && p->heap[0]->wake_ms <= now) {
		struct prov_req *r = p->heap[0];

		prov_timer_clear(r);
		if (r->timer == PROV_TIMER_RETRY) {
			enqueue(r, true);
		} else {
			r->state = PROV_REQ_ACTIVE;
			r->pv->ops->timer(r);
		}
	}
}

int prov_pool_run(struct prov_pool *p, int timeout_ms)
{
	double now, next;
	long wait = timeout_ms;

	if (p->pending == 0 && p->detached == 0)
		return 0;
	now = http_now_ms();
	fire_timers(p, now);
	next = dispatch(p, now);
	if (p->pending == 0 && p->detached == 0)
		return 0;
	if (p->n_heap) {
		double t = p->heap[0]->wake_ms - now;
		long tl = t <= 0 ? 0 : (long)ceil(t);

		if (wait < 0 || tl < wait)
			wait = tl;
	}
	if (next >= 0 && (wait < 0 || (long)ceil(next) < wait))
		wait = (long)ceil(next);
	if (http_engine_step(p->http, wait) < 0)
		return -1;
	now = http_now_ms();
	fire_timers(p, now);
	dispatch(p, now);
	return (int)(p->pending > INT32_MAX ? INT32_MAX : p->pending);
}

size_t prov_pool_pending(const struct prov_pool *p)
{
	return p->pending;
}

bool prov_pool_available(const struct prov_pool *p, const char *provider)
{
	const struct prov_provider *pv = find_provider(p, provider);

	return pv && prov_circuit_available(&pv->circuit, http_now_ms());
}

void prov_pool_cancel_if(struct prov_pool *p, bool (*which)(void *ctx, void *arg), void *arg)
{
	struct prov_req *r, *next;
	double deadline;

	if (!p)
		return;
	p->stopping = true;
	p->abandoning = which != NULL;
	/* A done() may submit (refused while stopping) but frees no other
	 * request, so the next one saved before finishing this one stays valid. */
	for (r = p->all; r; r = next) {
		char msg[300];

		next = r->all_next;
		if (which && !which(r->ctx, arg))
			continue;
		if (r->state == PROV_REQ_QUEUED)
			dequeue(r);
		prov_timer_clear(r);
		r->state = PROV_REQ_ACTIVE;
		if (r->pv->ops->cancel)
			r->pv->ops->cancel(r);
		if (r->xfer) {
			http_xfer_put(r->xfer);
			r->xfer = NULL;
		}
		if (r->probe) {
			r->pv->circuit.probe_out = false;
			r->probe = false;
		}
		snprintf(msg, sizeof msg, "%s: cancelled", r->pv->name);
		if (r->holds_slot) {
			/* The attempt in progress gets its ledger row too. */
			struct prov_attempt a;

			prov_attempt_init(&a);
			a.error = PROV_CANCELLED;
			snprintf(a.msg, sizeof a.msg, "%s", msg);
			log_attempt(r, &a, 0, http_now_ms());
		}
		finish(r, PROV_CANCELLED, msg);
	}
	deadline = http_now_ms() + CANCEL_WAIT_MS;
	while (p->detached > 0) {
		double left = deadline - http_now_ms();

		if (left <= 0 || http_engine_step(p->http, left > 100 ? 100 : (long)ceil(left)) < 0)
			break;
	}
	p->stopping = false;
	p->abandoning = false;
}

void prov_pool_cancel_all(struct prov_pool *p)
{
	prov_pool_cancel_if(p, NULL, NULL);
}

void prov_pool_free(struct prov_pool *p)
{
	if (!p)
		return;
	prov_pool_cancel_all(p);
	http_engine_free(p->http); /* aborts what cancelling left */
	for (size_t i = 0; i < p->n_pv; i++)
		provider_free(p->pv[i]);
	free(p->pv);
	free(p->heap);
	free(p);
}

/* ---- helpers for the back-ends ------------------------------------------------------ */

int prov_post(struct prov_req *r, void (*on_done)(struct http_xfer *x), struct err *e)
{
	struct prov_provider *pv = r->pv;
	struct http_xfer *x = http_xfer_get(r->pool->http);
	struct http_opts o;

	if (!x)
		return err_set(e, ERR_NOMEM, "out of memory");
	memset(&o, 0, sizeof o);
	o.method = "POST";
	o.url = pv->url;
	o.headers = pv->headers;
	o.body = r->body.data;
	o.body_len = r->body.len;
	o.timeout_ms = pv->timeout_ms;
	o.connect_timeout_ms = pv->connect_timeout_ms;
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

void prov_observe_limits(struct prov_req *r, const struct prov_rl_headers *h)
{
	prov_bucket_observe(r->bucket, h, r->sent_req_at, r->sent_tok_at, http_now_ms());
}

void prov_header_copy(struct http_xfer *x, const char *name, char *dst, size_t n)
{
	const char *v = http_xfer_header(x, name);

	snprintf(dst, n, "%s", v ? v : "");
}

void prov_excerpt(const char *s, size_t len, char *dst, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 1 < n; i++)
		dst[j++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
	if (n)
		dst[j] = '\0';
}

static bool tokch(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == ':' || c == '.' || c == '*';
}

/* Star out the token after each occurrence of prefix when it is at least
 * min characters long. */
static void scrub_after(char *s, const char *prefix, size_t min, bool icase)
{
	size_t pl = strlen(prefix);

	for (char *q = s; *q; q++) {
		size_t n = 0;

		if (icase ? strncasecmp(q, prefix, pl) != 0 : strncmp(q, prefix, pl) != 0)
			continue;
		while (tokch(q[pl + n]))
			n++;
		if (n >= min)
			memset(q + pl, '*', n);
		q += pl + n - 1;
	}
}

void prov_scrub(const struct prov_pool *p, char *s)
{
	if (!s)
		return;
	for (size_t i = 0; p && i < p->n_pv; i++) {
		const char *k = p->pv[i]->key;
		size_t kl = k ? strlen(k) : 0;
		char *q;

		if (kl < 4)
			continue;
		while ((q = strstr(s, k)))
			memset(q, '*', kl);
	}
	scrub_after(s, "sk-", 6, false);
	scrub_after(s, "Bearer ", 8, true);
	scrub_after(s, "Key ", 16, false);
	scrub_after(s, "x-api-key: ", 8, true);
}

long long prov_estimate_tokens(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	long long ascii = 0, two = 0, more = 0;

	if (!s)
		return 0;
	for (; *s; s++) {
		if (*s < 0x80)
			ascii++;
		else if ((*s & 0xe0) == 0xc0)
			two++;
		else if ((*s & 0xc0) == 0xc0)
			more++;
	}
	/* ceil(ascii/4 + two/2 + more) in integers */
	return (ascii + 2 * two + 4 * more + 3) / 4;
}
