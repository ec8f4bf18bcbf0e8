/* anthropic.c: the `anthropic` provider: the Messages API, POST base_url +
 * "/v1/messages" with x-api-key and anthropic-version.
 *
 * Request: model, max_tokens (required by the API: params.max_tokens, else
 * the configuration's), system, one user message, params passed through
 * (seed is dropped: the API has none).  Structured output is asked for with
 * a forced tool whose input_schema is the schema; its input is the answer,
 * checked against the schema here as well.
 * Answer: the text blocks (or the tool's input); usage with cache tokens
 * (tokens_in counts cache reads and writes too, tokens_cached the reads);
 * stop_reason "max_tokens" is a truncation and "refusal" a refusal; the
 * request-id header is the request id and the answering model the version.
 * 529 overloaded is retried like a 5xx.
 */
#include "providers/prov_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOL_NAME "structured_output"

struct anthropic_conf {
	long long max_tokens;
};

static const char *const anthropic_keys[] = { "version", "max_tokens", NULL };

static int anthropic_configure(struct prov_provider *pv, const json_t *cfg, const char *path, struct err *e)
{
	struct anthropic_conf *ac;
	const char *version;
	struct buf h = BUF_INIT;
	double mt;
	int rc = -1;

	if (prov_cfg_string(cfg, path, "version", "2023-06-01", &version, e) < 0 ||
	    prov_cfg_number(cfg, path, "max_tokens", 1024, 1, 1e7, &mt, e) < 0)
		return -1;
	for (const char *c = version; *c; c++)
		if ((unsigned char)*c < 0x20)
			return err_set(e, ERR_CONFIG, "%s.version: holds control characters", path);
	ac = calloc(1, sizeof *ac);
	if (!ac)
		return err_set(e, ERR_NOMEM, "out of memory");
	ac->max_tokens = (long long)mt;
	pv->conf = ac;
	if (asprintf(&pv->url, "%s/v1/messages", pv->base_url) < 0) {
		pv->url = NULL;
		goto out;
	}
	if (!(pv->headers = curl_slist_append(NULL, "Content-Type: application/json")) ||
	    !curl_slist_append(pv->headers, "Accept: application/json") ||
	    !curl_slist_append(pv->headers, "Expect:"))
		goto out;
	if (buf_printf(&h, "anthropic-version: %s", version) < 0 || !curl_slist_append(pv->headers, h.data))
		goto out;
	buf_reset(&h);
	if (buf_printf(&h, "x-api-key: %s", pv->key) < 0 || !curl_slist_append(pv->headers, h.data))
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

static void anthropic_close(struct prov_provider *pv)
{
	free(pv->conf);
	pv->conf = NULL;
}

static int anthropic_prepare(struct prov_req *r, const struct prov_call *c, struct err *e)
{
	const struct anthropic_conf *ac = r->pv->conf;
	struct buf *b = &r->body;
	long long max_out = ac->max_tokens;
	const json_t *mt = json_object_get(c->params, "max_tokens");
	const char *k;
	json_t *v;
	int rc = 0;

	if (!c->user)
		return err_set(e, ERR_INPUT, "%s: a call needs a user prompt", r->pv->name);
	if (json_is_true(json_object_get(c->params, "stream")))
		return err_set(e, ERR_INPUT, "%s: params.stream is not supported", r->pv->name);
	if (mt) {
		if (!json_is_integer(mt) || json_integer_value(mt) < 1)
			return err_set(e, ERR_INPUT, "%s: params.max_tokens must be a positive integer", r->pv->name);
		max_out = json_integer_value(mt);
	}
	if (c->schema && !json_is_string(json_object_get(c->schema, "type")))
		return err_set(e, ERR_INPUT, "%s: a schema must have a type", r->pv->name);
	/* One allocation for the usual body: prompts, framing, a little JSON. */
	rc |= buf_reserve(b, strlen(c->model) + (c->system ? strlen(c->system) : 0) + strlen(c->user) + 384);
	rc |= buf_puts(b, "{\"model\":");
	rc |= prov_json_str(b, c->model);
	rc |= buf_printf(b, ",\"max_tokens\":%lld", max_out);
	if (c->system) {
		rc |= buf_puts(b, ",\"system\":");
		rc |= prov_json_str(b, c->system);
	}
	rc |= buf_puts(b, ",\"messages\":[{\"role\":\"user\",\"content\":");
	rc |= prov_json_str(b, c->user);
	rc |= buf_puts(b, "}]");
	if (c->schema) {
		rc |= buf_puts(b, ",\"tools\":[{\"name\":\"" TOOL_NAME "\",\"description\":\"Give the answer "
			      "as this tool's input.\",\"input_schema\":");
		rc |= prov_json_dump(b, c->schema);
		rc |= buf_puts(b, "}],\"tool_choice\":{\"type\":\"tool\",\"name\":\"" TOOL_NAME "\"}");
	}
	json_object_foreach((json_t *)c->params, k, v) {
		if (strcmp(k, "model") == 0 || strcmp(k, "messages") == 0 || strcmp(k, "system") == 0 ||
		    strcmp(k, "max_tokens") == 0 || strcmp(k, "seed") == 0 || strcmp(k, "stream") == 0 ||
		    (c->schema && (strcmp(k, "tools") == 0 || strcmp(k, "tool_choice") == 0)))
			continue;
		rc |= buf_putc(b, ',');
		rc |= prov_json_str(b, k);
		rc |= buf_putc(b, ':');
		rc |= prov_json_dump(b, v);
	}
	rc |= buf_putc(b, '}');
	if (rc)
		return err_set(e, ERR_NOMEM, "out of memory");
	r->est_tokens = prov_estimate_tokens(c->system) + prov_estimate_tokens(c->user) + 8 + max_out;
	return 0;
}

static void on_done(struct http_xfer *x);

static int anthropic_start(struct prov_req *r, struct err *e)
{
	return prov_post(r, on_done, e);
}

static double header_number(struct http_xfer *x, const char *name)
{
	const char *v = http_xfer_header(x, name);
	char *end;
	double d;

	if (!v)
		return -1;
	d = strtod(v, &end);
	return end == v || d < 0 ? -1 : d;
}

/* An RFC 3339 reset time as milliseconds from now. */
static double header_reset(struct http_xfer *x, const char *name)
{
	const char *v = http_xfer_header(x, name);
	double t;

	if (!v || prov_parse_rfc3339(v, &t) < 0)
		return -1;
	t -= prov_unix_ms();
	return t > 0 ? t : 0;
}

static void read_headers(struct prov_req *r, struct http_xfer *x, struct prov_attempt *a)
{
	struct prov_rl_headers h;
	const char *ra;
	double ms;

	prov_header_copy(x, "request-id", r->request_id, sizeof r->request_id);
	prov_rl_headers_init(&h);
	h.limit_req = header_number(x, "anthropic-ratelimit-requests-limit");
	h.remaining_req = header_number(x, "anthropic-ratelimit-requests-remaining");
	h.reset_req_ms = header_reset(x, "anthropic-ratelimit-requests-reset");
	if (http_xfer_header(x, "anthropic-ratelimit-tokens-remaining")) {
		h.limit_tok = header_number(x, "anthropic-ratelimit-tokens-limit");
		h.remaining_tok = header_number(x, "anthropic-ratelimit-tokens-remaining");
		h.reset_tok_ms = header_reset(x, "anthropic-ratelimit-tokens-reset");
	} else {
		h.limit_tok = header_number(x, "anthropic-ratelimit-input-tokens-limit");
		h.remaining_tok = header_number(x, "anthropic-ratelimit-input-tokens-remaining");
		h.reset_tok_ms = header_reset(x, "anthropic-ratelimit-input-tokens-reset");
	}
	if ((ms = header_number(x, "retry-after-ms")) >= 0)
		a->retry_after_ms = ms;
	else if ((ra = http_xfer_header(x, "retry-after")) && prov_parse_retry_after(ra, prov_unix_ms(), &ms) == 0)
		a->retry_after_ms = ms;
	if (x->status == 429 || x->status == 529 || x->status == 503)
		h.retry_after_ms = a->retry_after_ms;
	prov_observe_limits(r, &h);
}

/* {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}} */
static void http_error(struct prov_req *r, struct http_xfer *x, struct prov_attempt *a)
{
	json_t *root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, NULL);
	json_t *err = json_object_get(root, "error");
	const char *type = json_string_value(json_object_get(err, "type"));
	const char *msg = json_string_value(json_object_get(err, "message"));
	char excerpt[240];

	a->status = x->status;
	a->error = prov_classify_status(x->status, NULL, type);
	if (msg && a->error == PROV_BAD_REQUEST && strstr(msg, "credit balance"))
		a->error = PROV_QUOTA;
	a->retry = prov_error_retryable(a->error);
	if (msg) {
		snprintf(a->msg, sizeof a->msg, "%s: %ld %s%s%s", r->pv->name, x->status, type ? type : "",
			 type ? ": " : "", msg);
	} else {
		prov_excerpt(x->resp.data ? x->resp.data : "", x->resp.len, excerpt, sizeof excerpt);
		snprintf(a->msg, sizeof a->msg, "%s: HTTP %ld%s%s", r->pv->name, x->status,
			 excerpt[0] ? ": " : "", excerpt);
	}
	json_decref(root);
}

static long long usage_int(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

static void bad_answer(struct prov_req *r, struct prov_attempt *a, const char *what, const char *detail)
{
	a->error = PROV_BAD_ANSWER;
	a->retry = true;
	snprintf(a->msg, sizeof a->msg, "%s: bad answer: %s%s%s", r->pv->name, what, detail ? ": " : "",
		 detail ? detail : "");
}

static void parse_answer(struct prov_req *r, struct http_xfer *x, struct prov_attempt *a)
{
	json_error_t je;
	json_t *root, *usage, *blocks, *blk, *text = NULL, *tool = NULL;
	const char *stop, *model;
	size_t i, n_text = 0;

	a->status = x->status;
	root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, &je);
	if (!json_is_object(root)) {
		json_decref(root);
		bad_answer(r, a, "the response is not a JSON object", root ? NULL : je.text);
		return;
	}
	usage = json_object_get(root, "usage");
	if (json_is_object(usage)) {
		long long cread = usage_int(usage, "cache_read_input_tokens");

		a->billed = true;
		a->tin = usage_int(usage, "input_tokens") + usage_int(usage, "cache_creation_input_tokens") + cread;
		a->tcached = cread;
		a->tout = usage_int(usage, "output_tokens");
	}
	model = json_string_value(json_object_get(root, "model"));
	free(r->model_version);
	r->model_version = model ? strdup(model) : NULL;
	stop = json_string_value(json_object_get(root, "stop_reason"));
	if (stop && strcmp(stop, "max_tokens") == 0) {
		a->error = PROV_TRUNCATED;
		snprintf(a->msg, sizeof a->msg, "%s: truncated: stop_reason max_tokens after %lld output tokens",
			 r->pv->name, a->tout);
		goto fail;
	}
	blocks = json_object_get(root, "content");
	json_array_foreach(blocks, i, blk) {
		const char *t = json_string_value(json_object_get(blk, "type"));

		if (t && strcmp(t, "text") == 0 && json_is_string(json_object_get(blk, "text"))) {
			if (!text)
				text = json_object_get(blk, "text");
			n_text++;
		} else if (t && strcmp(t, "tool_use") == 0 && !tool) {
			tool = json_object_get(blk, "input");
		}
	}
	if (stop && strcmp(stop, "refusal") == 0) {
		a->error = PROV_REFUSED;
		snprintf(a->msg, sizeof a->msg, "%s: refused: %s", r->pv->name,
			 text ? json_string_value(text) : "stop_reason refusal");
		goto fail;
	}
	if (r->schema) {
		char why[400];

		if (!tool) {
			bad_answer(r, a, "no " TOOL_NAME " tool_use block", NULL);
			goto fail;
		}
		if (prov_schema_check(r->schema, tool, why, sizeof why) < 0) {
			bad_answer(r, a, "the content does not match the schema", why);
			goto fail;
		}
		r->content_owned = json_dumps(tool, JSON_COMPACT);
		if (!r->content_owned) {
			bad_answer(r, a, "out of memory", NULL);
			goto fail;
		}
		r->content = r->content_owned;
		r->content_len = strlen(r->content_owned);
	} else if (n_text == 1) {
		r->content = json_string_value(text);
		r->content_len = json_string_length(text);
	} else if (n_text > 1) {
		struct buf all = BUF_INIT;

		json_array_foreach(blocks, i, blk) {
			const char *t = json_string_value(json_object_get(blk, "type"));
			json_t *s = json_object_get(blk, "text");

			if (t && strcmp(t, "text") == 0 && json_is_string(s))
				buf_append(&all, json_string_value(s), json_string_length(s));
		}
		r->content_len = all.len;
		r->content = r->content_owned = buf_steal(&all);
	} else {
		bad_answer(r, a, "no text content", NULL);
		goto fail;
	}
	a->error = PROV_OK;
	r->answer = root;
	return;
fail:
	json_decref(root);
}

static void on_done(struct http_xfer *x)
{
	struct prov_req *r = x->ctx;
	struct prov_attempt a;

	prov_attempt_init(&a);
	if (x->status)
		read_headers(r, x, &a);
	if (x->result != CURLE_OK)
		prov_attempt_from_curl(&a, r->pv, x);
	else if (x->status < 200 || x->status > 299)
		http_error(r, x, &a);
	else
		parse_answer(r, x, &a);
	prov_attempt_end(r, &a);
}

const struct prov_ops prov_anthropic_ops = {
	.name = "anthropic",
	.version = "1",
	.keys = anthropic_keys,
	.configure = anthropic_configure,
	.prepare = anthropic_prepare,
	.start = anthropic_start,
	.close = anthropic_close,
};
