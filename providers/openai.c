/* openai.c: the `openai` provider: Chat Completions at base_url +
 * "/chat/completions", so that OpenAI itself, Azure-style gateways, vLLM,
 * llama.cpp's server and Ollama all work.
 *
 * Request: model, messages (system, user), response_format json_schema
 * strict for structured output, params passed through (max_tokens is sent as
 * max_completion_tokens unless the configuration says otherwise).
 * Answer: choices[0].message.content; usage with cached and reasoning
 * tokens; system_fingerprint as the model version (the model id when a
 * server sends none); finish_reason "length" is a truncation and
 * message.refusal a refusal, never successes; content that is not JSON or
 * does not match the schema is a bad answer, retried.
 */
#include "providers/prov_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"

struct openai_conf {
	char max_tokens_field[32];
};

static const char *const openai_keys[] = { "api_key_header", "max_tokens_field", NULL };

static int openai_configure(struct prov_provider *pv, const json_t *cfg, const char *path, struct err *e)
{
	struct openai_conf *oc;
	const char *hname, *mtf;
	struct buf h = BUF_INIT;
	struct curl_slist *l;
	int rc = -1;

	if (prov_cfg_string(cfg, path, "api_key_header", "Authorization", &hname, e) < 0 ||
	    prov_cfg_string(cfg, path, "max_tokens_field", "max_completion_tokens", &mtf, e) < 0)
		return -1;
	for (const char *c = hname; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			return err_set(e, ERR_CONFIG, "%s.api_key_header: not a header name", path);
	if (strcmp(mtf, "max_completion_tokens") != 0 && strcmp(mtf, "max_tokens") != 0)
		return err_set(e, ERR_CONFIG, "%s.max_tokens_field: expected \"max_completion_tokens\" or "
			       "\"max_tokens\"", path);
	oc = calloc(1, sizeof *oc);
	if (!oc)
		return err_set(e, ERR_NOMEM, "out of memory");
	snprintf(oc->max_tokens_field, sizeof oc->max_tokens_field, "%s", mtf);
	pv->conf = oc;
	if (asprintf(&pv->url, "%s/chat/completions", pv->base_url) < 0) {
		pv->url = NULL;
		goto out;
	}
	if (!(l = curl_slist_append(NULL, "Content-Type: application/json")))
		goto out;
	pv->headers = l;
	if (!(l = curl_slist_append(pv->headers, "Accept: application/json")) ||
	    !(l = curl_slist_append(pv->headers, "Expect:")))
		goto out;
	if (pv->key) {
		if (strcasecmp(hname, "Authorization") == 0)
			rc = buf_printf(&h, "Authorization: Bearer %s", pv->key);
		else
			rc = buf_printf(&h, "%s: %s", hname, pv->key);
		if (rc < 0 || !curl_slist_append(pv->headers, h.data)) {
			rc = -1;
			goto out;
		}
	}
	rc = 0;
out:
	if (rc < 0)
		err_set(e, ERR_NOMEM, "out of memory");
	if (h.data)
		explicit_bzero(h.data, h.len);
	buf_free(&h);
	return rc;
}

static void openai_close(struct prov_provider *pv)
{
	free(pv->conf);
	pv->conf = NULL;
}

/* A json_schema name: ^[a-zA-Z0-9_-]{1,64}$ (the schema's title when it is
 * one, else "output"). */
static const char *schema_name(const json_t *schema)
{
	const char *t = json_string_value(json_object_get(schema, "title"));
	size_t n = 0;

	if (!t)
		return "output";
	for (; t[n]; n++)
		if (!isalnum((unsigned char)t[n]) && t[n] != '_' && t[n] != '-')
			return "output";
	return n > 0 && n <= 64 ? t : "output";
}

static int openai_prepare(struct prov_req *r, const struct prov_call *c, struct err *e)
{
	const struct openai_conf *oc = r->pv->conf;
	struct buf *b = &r->body;
	long long max_out = 0;
	const char *k;
	json_t *v;
	int rc = 0;

	if (!c->user)
		return err_set(e, ERR_INPUT, "%s: a call needs a user prompt", r->pv->name);
	if (json_is_true(json_object_get(c->params, "stream")))
		return err_set(e, ERR_INPUT, "%s: params.stream is not supported", r->pv->name);
	/* One allocation for the usual body: prompts, framing, a little JSON. */
	rc |= buf_reserve(b, strlen(c->model) + (c->system ? strlen(c->system) : 0) + strlen(c->user) + 384);
	rc |= buf_puts(b, "{\"model\":");
	rc |= prov_json_str(b, c->model);
	rc |= buf_puts(b, ",\"messages\":[");
	if (c->system) {
		rc |= buf_puts(b, "{\"role\":\"system\",\"content\":");
		rc |= prov_json_str(b, c->system);
		rc |= buf_puts(b, "},");
	}
	rc |= buf_puts(b, "{\"role\":\"user\",\"content\":");
	rc |= prov_json_str(b, c->user);
	rc |= buf_puts(b, "}]");
	if (c->schema) {
		rc |= buf_puts(b, ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":");
		rc |= prov_json_str(b, schema_name(c->schema));
		rc |= buf_puts(b, ",\"strict\":true,\"schema\":");
		rc |= prov_json_dump(b, c->schema);
		rc |= buf_puts(b, "}}");
	}
	json_object_foreach((json_t *)c->params, k, v) {
		const char *name = k; /* k itself drives the iteration: leave it be */

		if (strcmp(k, "model") == 0 || strcmp(k, "messages") == 0 || strcmp(k, "stream") == 0 ||
		    (c->schema && strcmp(k, "response_format") == 0))
			continue;
		if (strcmp(k, "max_tokens") == 0 || strcmp(k, "max_completion_tokens") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1)
				return err_set(e, ERR_INPUT, "%s: params.%s must be a positive integer", r->pv->name, k);
			max_out = json_integer_value(v);
			name = oc->max_tokens_field;
		}
		rc |= buf_putc(b, ',');
		rc |= prov_json_str(b, name);
		rc |= buf_putc(b, ':');
		rc |= prov_json_dump(b, v);
	}
	rc |= buf_putc(b, '}');
	if (rc)
		return err_set(e, ERR_NOMEM, "out of memory");
	/* Prompt tokens plus the few that frame each message, plus the
	 * completion the server reserves. */
	r->est_tokens = prov_estimate_tokens(c->system) + prov_estimate_tokens(c->user) + 11 + max_out;
	return 0;
}

static void on_done(struct http_xfer *x);

static int openai_start(struct prov_req *r, struct err *e)
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

static double header_duration(struct http_xfer *x, const char *name)
{
	const char *v = http_xfer_header(x, name);
	double ms;

	return v && prov_parse_go_duration(v, &ms) == 0 ? ms : -1;
}

/* Rate-limit headers and the request id of any response. */
static void read_headers(struct prov_req *r, struct http_xfer *x, struct prov_attempt *a)
{
	struct prov_rl_headers h;
	const char *ra;
	double ms;

	prov_header_copy(x, "x-request-id", r->request_id, sizeof r->request_id);
	prov_rl_headers_init(&h);
	h.limit_req = header_number(x, "x-ratelimit-limit-requests");
	h.remaining_req = header_number(x, "x-ratelimit-remaining-requests");
	h.reset_req_ms = header_duration(x, "x-ratelimit-reset-requests");
	h.limit_tok = header_number(x, "x-ratelimit-limit-tokens");
	h.remaining_tok = header_number(x, "x-ratelimit-remaining-tokens");
	h.reset_tok_ms = header_duration(x, "x-ratelimit-reset-tokens");
	if ((ms = header_number(x, "retry-after-ms")) >= 0)
		a->retry_after_ms = ms;
	else if ((ra = http_xfer_header(x, "retry-after")) && prov_parse_retry_after(ra, prov_unix_ms(), &ms) == 0)
		a->retry_after_ms = ms;
	if (x->status == 429 || x->status == 503)
		h.retry_after_ms = a->retry_after_ms;
	prov_observe_limits(r, &h);
}

/* A non-2xx answer: {"error": {"message", "type", "param", "code"}}. */
static void http_error(struct prov_req *r, struct http_xfer *x, struct prov_attempt *a)
{
	json_t *root = json_loadb(x->resp.data ? x->resp.data : "", x->resp.len, 0, NULL);
	json_t *err = json_object_get(root, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	const char *type = json_string_value(json_object_get(err, "type"));
	const char *msg = json_string_value(json_object_get(err, "message"));
	char excerpt[240];

	if (!err && json_is_string(json_object_get(root, "error")))
		msg = json_string_value(json_object_get(root, "error")); /* vLLM, Ollama */
	a->status = x->status;
	a->error = prov_classify_status(x->status, code, type);
	a->retry = prov_error_retryable(a->error);
	if (msg) {
		snprintf(a->msg, sizeof a->msg, "%s: %ld %s%s%s", r->pv->name, x->status,
			 code ? code : type ? type : "", code || type ? ": " : "", msg);
	} else {
		prov_excerpt(x->resp.data ? x->resp.data : "", x->resp.len, excerpt, sizeof excerpt);
		snprintf(a->msg, sizeof a->msg, "%s: HTTP %ld%s%s", r->pv->name, x->status,
			 excerpt[0] ? ": " : "", excerpt);
	}
	json_decref(root);
}

static void bad_answer(struct prov_req *r, struct prov_attempt *a, const char *what, const char *detail)
{
	a->error = PROV_BAD_ANSWER;
	a->retry = true;
	snprintf(a->msg, sizeof a->msg, "%s: bad answer: %s%s%s", r->pv->name, what, detail ? ": " : "",
		 detail ? detail : "");
}

/* What a Chat Completions answer says, read with jscan. */
struct answer {
	bool usage, message;
	long long prompt, completion, cached, reasoning;
	bool content_is_string, refusal_is_string;
	struct buf content, refusal, fingerprint, model;
	char finish[32];
};

/* A string member into b, anything else skipped. */
static int string_or_skip(struct jscan *s, struct buf *b, bool *is_string)
{
	if (jscan_peek(s) != '"')
		return jscan_skip(s);
	if (is_string)
		*is_string = true;
	return jscan_string(s, b);
}

/* {"<want>": n, ...} or null */
static int scan_detail(struct jscan *s, const char *want, long long *out)
{
	char k[32];
	int rc;

	if (jscan_peek(s) != '{')
		return jscan_skip(s);
	if (jscan_object(s) < 0)
		return -1;
	while ((rc = jscan_key(s, k, sizeof k)) == 1)
		if ((strcmp(k, want) == 0 ? jscan_int(s, out) : jscan_skip(s)) < 0)
			return -1;
	return rc;
}

static int scan_usage(struct jscan *s, struct answer *an)
{
	char k[40];
	int rc;

	if (jscan_peek(s) != '{')
		return jscan_skip(s);
	an->usage = true;
	if (jscan_object(s) < 0)
		return -1;
	while ((rc = jscan_key(s, k, sizeof k)) == 1) {
		if (strcmp(k, "prompt_tokens") == 0)
			rc = jscan_int(s, &an->prompt);
		else if (strcmp(k, "completion_tokens") == 0)
			rc = jscan_int(s, &an->completion);
		else if (strcmp(k, "prompt_tokens_details") == 0)
			rc = scan_detail(s, "cached_tokens", &an->cached);
		else if (strcmp(k, "completion_tokens_details") == 0)
			rc = scan_detail(s, "reasoning_tokens", &an->reasoning);
		else
			rc = jscan_skip(s);
		if (rc < 0)
			return -1;
	}
	return rc;
}

static int scan_choice(struct jscan *s, struct answer *an)
{
	char k[32];
	int rc;

	if (jscan_object(s) < 0)
		return -1;
	while ((rc = jscan_key(s, k, sizeof k)) == 1) {
		if (strcmp(k, "message") == 0 && jscan_peek(s) == '{') {
			char mk[16];

			an->message = true;
			if (jscan_object(s) < 0)
				return -1;
			while ((rc = jscan_key(s, mk, sizeof mk)) == 1) {
				if (strcmp(mk, "content") == 0)
					rc = string_or_skip(s, &an->content, &an->content_is_string);
				else if (strcmp(mk, "refusal") == 0)
					rc = string_or_skip(s, &an->refusal, &an->refusal_is_string);
				else
					rc = jscan_skip(s);
				if (rc < 0)
					return -1;
			}
		} else if (strcmp(k, "finish_reason") == 0 && jscan_peek(s) == '"') {
			struct buf f = BUF_INIT;

			rc = jscan_string(s, &f);
			snprintf(an->finish, sizeof an->finish, "%s", buf_str(&f));
			buf_free(&f);
		} else {
			rc = jscan_skip(s);
		}
		if (rc < 0)
			return -1;
	}
	return rc;
}

static int scan_answer(const char *text, size_t len, struct answer *an)
{
	struct jscan s;
	char k[32];
	int rc;

	jscan_init(&s, text, len);
	if (jscan_object(&s) < 0)
		return -1;
	while ((rc = jscan_key(&s, k, sizeof k)) == 1) {
		if (strcmp(k, "choices") == 0 && jscan_peek(&s) == '[') {
			bool first = true;

			if (jscan_array(&s) < 0)
				return -1;
			while ((rc = jscan_next(&s)) == 1) {
				rc = first && jscan_peek(&s) == '{' ? scan_choice(&s, an) : jscan_skip(&s);
				first = false;
				if (rc < 0)
					return -1;
			}
		} else if (strcmp(k, "usage") == 0) {
			rc = scan_usage(&s, an);
		} else if (strcmp(k, "system_fingerprint") == 0) {
			rc = string_or_skip(&s, &an->fingerprint, NULL);
		} else if (strcmp(k, "model") == 0) {
			rc = string_or_skip(&s, &an->model, NULL);
		} else {
			rc = jscan_skip(&s);
		}
		if (rc < 0)
			return -1;
	}
	return rc < 0 ? -1 : jscan_end(&s);
}

static void answer_free(struct answer *an)
{
	buf_free(&an->content);
	buf_free(&an->refusal);
	buf_free(&an->fingerprint);
	buf_free(&an->model);
}

static long long nonneg(long long v)
{
	return v > 0 ? v : 0;
}

static void parse_answer(struct prov_req *r, struct http_xfer *x, struct prov_attempt *a)
{
	struct answer an;
	const char *fp;

	memset(&an, 0, sizeof an);
	a->status = x->status;
	if (scan_answer(x->resp.data ? x->resp.data : "", x->resp.len, &an) < 0) {
		bad_answer(r, a, "the response is not a JSON object", NULL);
		goto out;
	}
	if (an.usage) {
		a->billed = true;
		a->tin = nonneg(an.prompt);
		a->tout = nonneg(an.completion);
		a->tcached = nonneg(an.cached);
		a->treason = nonneg(an.reasoning);
	}
	fp = an.fingerprint.len ? an.fingerprint.data : an.model.len ? an.model.data : NULL;
	free(r->model_version);
	r->model_version = fp ? strdup(fp) : NULL;
	if (!an.message) {
		bad_answer(r, a, "no choices[0].message", NULL);
		goto out;
	}
	if (an.refusal_is_string && an.refusal.len > 0) {
		a->error = PROV_REFUSED;
		snprintf(a->msg, sizeof a->msg, "%s: refused: %s", r->pv->name, an.refusal.data);
		goto out;
	}
	if (strcmp(an.finish, "length") == 0) {
		a->error = PROV_TRUNCATED;
		snprintf(a->msg, sizeof a->msg, "%s: truncated: finish_reason length after %lld output tokens",
			 r->pv->name, a->tout);
		goto out;
	}
	if (strcmp(an.finish, "content_filter") == 0) {
		a->error = PROV_REFUSED;
		snprintf(a->msg, sizeof a->msg, "%s: refused: finish_reason content_filter", r->pv->name);
		goto out;
	}
	if (!an.content_is_string) {
		bad_answer(r, a, "choices[0].message.content is not a string", NULL);
		goto out;
	}
	if (!utf8_valid(buf_str(&an.content), an.content.len, NULL)) {
		bad_answer(r, a, "the content is not valid UTF-8", NULL);
		goto out;
	}
	if (r->schema) {
		json_error_t je;
		json_t *doc = json_loadb(buf_str(&an.content), an.content.len, 0, &je);
		char why[400];

		if (!doc) {
			bad_answer(r, a, "the content is not JSON", je.text);
			goto out;
		}
		if (prov_schema_check(r->schema, doc, why, sizeof why) < 0) {
			json_decref(doc);
			bad_answer(r, a, "the content does not match the schema", why);
			goto out;
		}
		json_decref(doc);
	}
	a->error = PROV_OK;
	r->content_len = an.content.len;
	r->content = r->content_owned = buf_steal(&an.content);
	if (!r->content_owned)
		bad_answer(r, a, "out of memory", NULL);
out:
	answer_free(&an);
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

const struct prov_ops prov_openai_ops = {
	.name = "openai",
	.version = "1",
	.keys = openai_keys,
	.configure = openai_configure,
	.prepare = openai_prepare,
	.start = openai_start,
	.close = openai_close,
};
