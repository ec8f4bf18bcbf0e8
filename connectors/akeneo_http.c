/* akeneo_http.c: the akeneo connector's HTTP engine: one libcurl multi
 * handle per connection, at most AK_MAX_IN_FLIGHT transfers at once, the
 * OAuth2 token (password grant, refresh_token grant before it expires and
 * after a 401), and the retry rules for 429, 5xx and dropped connections
 * (see akeneo_int.h). */
#include "connectors/akeneo_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#ifndef SKUGEN_VERSION
#define SKUGEN_VERSION "dev"
#endif

#define TOKEN_PATH "/api/oauth/v1/token"
#define MSG_MAX 2000   /* bytes of Akeneo's answer kept in a message */

struct ak_http {
	CURLM *multi;
	char *base_url;
	char *scheme, *host, *port;    /* the origin the token may be sent to */
	char *client_id, *secret, *username, *password;
	char *creds_from;
	long timeout_s;
	int max_in_flight;

	char *token;                   /* the access token; never in a message */
	char *refresh_token;
	unsigned token_gen;            /* bumped at every new token */
	double token_expires;          /* monotonic seconds */
	double token_margin;           /* refresh this long before expiry */
	bool token_stale;              /* a 401 said so */
	bool auth_failed;
	struct err auth_err;

	struct ak_req *qhead, *qtail;  /* waiting to start, in order */
	struct ak_req *run[AK_MAX_IN_FLIGHT];
	int active;
	double hold_until;             /* no start before this (429) */

	struct ak_http_stats stats;
};

/* ---- small helpers ------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0)
		;
}

const char *ak_method_name(enum ak_method m)
{
	switch (m) {
	case AK_GET: return "GET";
	case AK_PATCH: return "PATCH";
	case AK_POST: return "POST";
	}
	return "?";
}

void ak_url_path(const char *url, char *dst, size_t cap)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? strchr(p + 3, '/') : url;
	if (!p)
		p = "/";
	n = strcspn(p, "?#");
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

int ak_url_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			if (buf_putc(b, (char)*p) < 0)
				return -1;
		} else {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			if (buf_append(b, esc, 3) < 0)
				return -1;
		}
	}
	return 0;
}

/* Append s to b with anything but printable ASCII shown as '?': for text
 * that did not come as JSON (and so may not be UTF-8). */
static int put_printable(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n && i < MSG_MAX; i++) {
		char c = s[i];

		if (buf_putc(b, (c >= 0x20 && c < 0x7f) ? c : (c == '\n' || c == '\t') ? ' ' : '?') < 0)
			return -1;
	}
	return 0;
}

/* Append a JSON string value, cut to MSG_MAX bytes at a character boundary. */
static int put_text(struct buf *b, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (n > MSG_MAX) {
		n = MSG_MAX;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++)
		if (buf_putc(b, s[i] == '\n' || s[i] == '\r' || s[i] == '\0' ? ' ' : s[i]) < 0)
			return -1;
	return 0;
}

int ak_describe_error(struct buf *b, long status, const char *body, size_t len)
{
	json_t *j = json_loadb(body ? body : "", len, 0, NULL);
	const json_t *msg = json_object_get(j, "message");
	const json_t *errs = json_object_get(j, "errors");
	const json_t *x;
	size_t i;
	int rc = -1;

	if (buf_printf(b, "%ld", status) < 0)
		goto out;
	if (json_is_string(msg)) {
		if (buf_putc(b, ' ') < 0 || put_text(b, msg) < 0)
			goto out;
	} else if (len && !json_is_object(j)) {
		if (buf_puts(b, " ") < 0 || put_printable(b, body, len < 200 ? len : 200) < 0)
			goto out;
	}
	json_array_foreach(errs, i, x) {
		const json_t *prop = json_object_get(x, "property");
		const json_t *attr = json_object_get(x, "attribute");
		const json_t *loc = json_object_get(x, "locale");
		const json_t *sc = json_object_get(x, "scope");

		if (buf_puts(b, "; ") < 0)
			goto out;
		if (json_is_string(attr)) {
			if (buf_puts(b, "attribute \"") < 0 || put_text(b, attr) < 0 ||
			    buf_puts(b, "\"") < 0)
				goto out;
			if (json_is_string(loc) && (buf_puts(b, " locale ") < 0 || put_text(b, loc) < 0))
				goto out;
			if (json_is_string(sc) && (buf_puts(b, " scope ") < 0 || put_text(b, sc) < 0))
				goto out;
			if (buf_puts(b, ": ") < 0)
				goto out;
		} else if (json_is_string(prop)) {
			if (put_text(b, prop) < 0 || buf_puts(b, ": ") < 0)
				goto out;
		}
		if (json_is_string(json_object_get(x, "message")) &&
		    put_text(b, json_object_get(x, "message")) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* ---- the queue ----------------------------------------------------------- */

static void enqueue(struct ak_http *h, struct ak_req *r, double not_before)
{
	r->not_before = not_before;
	r->qnext = NULL;
	r->queued = true;
	if (h->qtail)
		h->qtail->qnext = r;
	else
		h->qhead = r;
	h->qtail = r;
}

static void dequeue(struct ak_http *h, struct ak_req *r)
{
	struct ak_req **pp = &h->qhead, *prev = NULL;

	while (*pp && *pp != r) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (!*pp)
		return;
	*pp = r->qnext;
	if (h->qtail == r)
		h->qtail = prev;
	r->qnext = NULL;
	r->queued = false;
}

/* Take r's transfer out of the multi handle and free it. */
static void detach(struct ak_http *h, struct ak_req *r)
{
	if (!r->running)
		return;
	curl_multi_remove_handle(h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	curl_mime_free(r->mime);
	r->easy = r->hdrs = r->mime = NULL;
	r->running = false;
	for (int i = 0; i < AK_MAX_IN_FLIGHT; i++)
		if (h->run[i] == r)
			h->run[i] = NULL;
	h->active--;
}

/* ---- requests ------------------------------------------------------------ */

struct ak_req *ak_req_new(enum ak_method method, char *url_stolen)
{
	struct ak_req *r = calloc(1, sizeof *r);

	if (!r || !url_stolen) {
		free(r);
		free(url_stolen);
		return NULL;
	}
	r->method = method;
	r->url = url_stolen;
	return r;
}

void ak_req_free(struct ak_http *h, struct ak_req *r)
{
	if (!r)
		return;
	if (h) {
		detach(h, r);
		dequeue(h, r);
	}
	free(r->url);
	free(r->body);
	free(r->form_product);
	free(r->form_file);
	buf_free(&r->resp);
	free(r->location);
	free(r);
}

static size_t write_cb(char *p, size_t size, size_t n, void *cls)
{
	struct ak_req *r = cls;

	if (r->resp.len + n > AK_MAX_RESPONSE) {
		r->too_big = true;
		return 0;
	}
	return buf_append(&r->resp, p, n) < 0 ? 0 : n;
	(void)size;
}

/* Parse a Retry-After value: seconds, or an HTTP date. */
static double parse_retry_after(const char *v)
{
	char *end;
	double s;
	time_t t;

	while (*v == ' ' || *v == '\t')
		v++;
	s = strtod(v, &end);
	if (end != v && s >= 0)
		return s;
	t = curl_getdate(v, NULL);
	if (t < 0)
		return 0;
	return difftime(t, time(NULL)) > 0 ? difftime(t, time(NULL)) : 0;
}

static size_t header_cb(char *p, size_t size, size_t n, void *cls)
{
	struct ak_req *r = cls;
	char line[1024];
	size_t len = n < sizeof line - 1 ? n : sizeof line - 1;

	memcpy(line, p, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		/* a new answer (after a 100 Continue, say): forget the last one's */
		r->retry_after = 0;
		free(r->location);
		r->location = NULL;
	} else if (strncasecmp(line, "retry-after:", 12) == 0) {
		r->retry_after = parse_retry_after(line + 12);
	} else if (strncasecmp(line, "location:", 9) == 0) {
		const char *v = line + 9;

		while (*v == ' ' || *v == '\t')
			v++;
		free(r->location);
		r->location = strdup(v);
	}
	return n;
	(void)size;
}

/* A configured easy handle for one attempt of r (headers left to the
 * caller); NULL on no memory. */
static CURL *easy_for(struct ak_http *h, struct ak_req *r)
{
	CURL *easy = curl_easy_init();

	if (!easy)
		return NULL;
	buf_reset(&r->resp);
	free(r->location);
	r->location = NULL;
	r->retry_after = 0;
	r->too_big = false;
	r->errbuf[0] = '\0';
	curl_easy_setopt(easy, CURLOPT_URL, r->url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)r);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, h->timeout_s);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, h->timeout_s < 30 ? h->timeout_s : 30L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "skugen/" SKUGEN_VERSION " (akeneo connector 1)");
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
	if (r->method == AK_PATCH || (r->method == AK_POST && r->body)) {
		if (r->method == AK_PATCH)
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "PATCH");
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r->body ? r->body : "");
	}
	return easy;
}

static bool retryable(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

static double backoff(int failures)
{
	double d = 0.25 * pow(2, failures > 1 ? failures - 1 : 0);

	if (d > 8)
		d = 8;
	return d * (0.75 + 0.5 * ((double)rand() / RAND_MAX));
}

enum verdict { V_DONE, V_RETRY, V_FAIL };

/* What to do after an attempt of r ended with code and status: done (the
 * caller reads the status), again after *delay seconds, or failed (r->err
 * set).  401 is the caller's business. */
static enum verdict classify(struct ak_http *h, struct ak_req *r, CURLcode code, long status,
			     int *failures, double *delay)
{
	char path[256];

	*delay = 0;
	ak_url_path(r->url, path, sizeof path);
	if (code != CURLE_OK) {
		if (r->too_big) {
			err_set(&r->err, ERR_SOURCE, "akeneo: %s %s: answer over %zu bytes",
				ak_method_name(r->method), path, AK_MAX_RESPONSE);
			return V_FAIL;
		}
		++*failures;
		if (!retryable(code) || *failures >= AK_MAX_ATTEMPTS) {
			err_set(&r->err, ERR_SOURCE, "akeneo: %s %s: %s (%d attempt%s)",
				ak_method_name(r->method), path,
				r->errbuf[0] ? r->errbuf : curl_easy_strerror(code),
				r->attempts, r->attempts == 1 ? "" : "s");
			return V_FAIL;
		}
		h->stats.retries_conn++;
		*delay = backoff(*failures);
		return V_RETRY;
	}
	if (status == 429) {
		if (r->n429 >= AK_MAX_429)
			return V_DONE;
		r->n429++;
		h->stats.retries_429++;
		*delay = r->retry_after > 0 ? r->retry_after : 1.0;
		if (*delay > AK_MAX_RETRY_AFTER_S)
			*delay = AK_MAX_RETRY_AFTER_S;
		if (h->hold_until < now_s() + *delay)
			h->hold_until = now_s() + *delay;
		return V_RETRY;
	}
	if (status >= 500 && status <= 599) {
		++*failures;
		if (*failures >= AK_MAX_ATTEMPTS) {
			struct buf b = BUF_INIT;

			ak_describe_error(&b, status, r->resp.data, r->resp.len);
			err_set(&r->err, ERR_SOURCE, "akeneo: %s %s: %s (%d attempts)",
				ak_method_name(r->method), path, buf_str(&b), r->attempts);
			buf_free(&b);
			return V_FAIL;
		}
		h->stats.retries_5xx++;
		*delay = r->retry_after > 0 ? r->retry_after : backoff(*failures);
		if (*delay > AK_MAX_RETRY_AFTER_S)
			*delay = AK_MAX_RETRY_AFTER_S;
		return V_RETRY;
	}
	return V_DONE;
}

/* ---- the token ------------------------------------------------------------ */

/* One token grant, synchronous (other transfers wait meanwhile; tokens last
 * long).  0 on success; -1 with e set.  A refused refresh_token grant is
 * -1 with ERR_CONFIG too: the caller then tries the password grant. */
static int token_grant(struct ak_http *h, bool refresh, struct err *e)
{
	struct ak_req r;
	json_t *body = NULL, *ans = NULL;
	char *text = NULL;
	struct curl_slist *hdrs = NULL;
	int failures = 0, rc = -1;

	memset(&r, 0, sizeof r);
	r.method = AK_POST;
	if (asprintf(&r.url, "%s%s", h->base_url, TOKEN_PATH) < 0) {
		r.url = NULL;
		err_set(e, ERR_NOMEM, "out of memory asking akeneo for a token");
		goto out;
	}
	if (refresh)
		body = json_pack("{s:s, s:s}", "grant_type", "refresh_token",
				 "refresh_token", h->refresh_token);
	else
		body = json_pack("{s:s, s:s, s:s}", "grant_type", "password",
				 "username", h->username, "password", h->password);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	hdrs = hdrs ? curl_slist_append(hdrs, "Accept: application/json") : NULL;
	hdrs = hdrs ? curl_slist_append(hdrs, "Expect:") : NULL;
	if (!text || !hdrs) {
		err_set(e, ERR_NOMEM, "out of memory asking akeneo for a token");
		goto out;
	}
	r.body = text;
	r.body_len = strlen(text);
	for (;;) {
		CURL *easy = easy_for(h, &r);
		CURLcode code;
		long status = 0;
		double delay;
		enum verdict v;

		if (!easy) {
			err_set(e, ERR_NOMEM, "out of memory asking akeneo for a token");
			goto out;
		}
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(easy, CURLOPT_USERNAME, h->client_id);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, h->secret);
		r.attempts++;
		code = curl_easy_perform(easy);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(easy);
		v = classify(h, &r, code, status, &failures, &delay);
		if (v == V_FAIL) {
			*e = r.err;
			goto out;
		}
		if (v == V_RETRY) {
			sleep_s(delay);
			continue;
		}
		if (status != 200) {
			struct buf b = BUF_INIT;

			ak_describe_error(&b, status, r.resp.data, r.resp.len);
			if (status == 429 || status >= 500)
				err_set(e, ERR_SOURCE, "akeneo: POST %s: %s", TOKEN_PATH, buf_str(&b));
			else if (refresh)
				err_set(e, ERR_CONFIG, "akeneo refused the refresh token: %s", buf_str(&b));
			else
				err_set(e, ERR_CONFIG, "akeneo refused the credentials (%s): %s",
					h->creds_from, buf_str(&b));
			buf_free(&b);
			goto out;
		}
		break;
	}
	ans = json_loadb(buf_str(&r.resp), r.resp.len, 0, NULL);
	{
		const json_t *tok = json_object_get(ans, "access_token");
		const json_t *ref = json_object_get(ans, "refresh_token");
		const json_t *exp = json_object_get(ans, "expires_in");
		double life = json_is_integer(exp) ? (double)json_integer_value(exp) :
			      json_is_real(exp) ? json_real_value(exp) : 3600;
		char *t, *rt = NULL;

		if (!json_is_string(tok) || json_string_length(tok) == 0) {
			err_set(e, ERR_SOURCE, "akeneo: POST %s: answer without an access_token",
				TOKEN_PATH);
			goto out;
		}
		if (!(t = strdup(json_string_value(tok))) ||
		    (json_is_string(ref) && !(rt = strdup(json_string_value(ref))))) {
			free(t);
			err_set(e, ERR_NOMEM, "out of memory keeping the akeneo token");
			goto out;
		}
		free(h->token);
		h->token = t;
		if (rt) {
			free(h->refresh_token);
			h->refresh_token = rt;
		}
		if (life <= 0)
			life = 3600;
		h->token_gen++;
		h->token_stale = false;
		h->token_expires = now_s() + life;
		h->token_margin = life * 0.2 < 60 ? life * 0.2 : 60;
		if (refresh)
			h->stats.token_refreshes++;
		else
			h->stats.token_grants++;
	}
	rc = 0;
out:
	curl_slist_free_all(hdrs);
	json_decref(body);
	json_decref(ans);
	free(text);
	free(r.url);
	buf_free(&r.resp);
	free(r.location);
	return rc;
}

/* A token that will last the next request: refreshed when a 401 said the
 * current one is dead or when it is about to expire. */
static int ensure_token(struct ak_http *h, struct err *e)
{
	int rc = 0;

	if (h->auth_failed) {
		*e = h->auth_err;
		return -1;
	}
	if (h->token && !h->token_stale && now_s() < h->token_expires - h->token_margin)
		return 0;
	if (h->refresh_token)
		rc = token_grant(h, true, e);
	if (!h->refresh_token || rc < 0)
		rc = token_grant(h, false, e);
	if (rc < 0) {
		h->auth_failed = true;
		h->auth_err = *e;
	}
	return rc;
}

/* ---- transfers ------------------------------------------------------------ */

static void finish(struct ak_req *r, bool failed, long status)
{
	r->failed = failed;
	r->status = failed ? 0 : status;
	r->done = true;
}

/* Start r's next attempt; on failure r is done and failed. */
static void start(struct ak_http *h, struct ak_req *r)
{
	struct curl_slist *hdrs = NULL;
	char *auth = NULL, *ct = NULL;
	CURL *easy = NULL;
	int slot;

	if (ensure_token(h, &r->err) < 0) {
		finish(r, true, 0);
		return;
	}
	if (asprintf(&auth, "Authorization: Bearer %s", h->token) < 0)
		auth = NULL;
	if (r->content_type && asprintf(&ct, "Content-Type: %s", r->content_type) < 0)
		ct = NULL;
	if (!auth || (r->content_type && !ct) || !(easy = easy_for(h, r)))
		goto nomem;
	hdrs = curl_slist_append(NULL, auth);
	if (hdrs && r->method == AK_GET)
		hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (hdrs && ct)
		hdrs = curl_slist_append(hdrs, ct);
	if (hdrs)
		hdrs = curl_slist_append(hdrs, "Expect:");
	if (!hdrs)
		goto nomem;
	if (r->form_product) {
		curl_mime *mime = curl_mime_init(easy);
		curl_mimepart *part;

		if (!mime)
			goto nomem;
		r->mime = mime;
		part = curl_mime_addpart(mime);
		if (!part || curl_mime_name(part, "product") != CURLE_OK ||
		    curl_mime_data(part, r->form_product, CURL_ZERO_TERMINATED) != CURLE_OK)
			goto nomem;
		part = curl_mime_addpart(mime);
		if (!part || curl_mime_name(part, "file") != CURLE_OK ||
		    curl_mime_filedata(part, r->form_file) != CURLE_OK) {
			char path[256];

			ak_url_path(r->url, path, sizeof path);
			err_set(&r->err, ERR_IO, "akeneo: POST %s: cannot read %s", path, r->form_file);
			goto fail;
		}
		curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime);
	}
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
	for (slot = 0; slot < AK_MAX_IN_FLIGHT && h->run[slot]; slot++)
		;
	if (slot == AK_MAX_IN_FLIGHT || curl_multi_add_handle(h->multi, easy) != CURLM_OK) {
		err_set(&r->err, ERR_INTERNAL, "akeneo: cannot start a transfer");
		goto fail;
	}
	r->easy = easy;
	r->hdrs = hdrs;
	r->token_gen = h->token_gen;
	r->attempts++;
	r->running = true;
	h->run[slot] = r;
	h->active++;
	h->stats.requests++;
	if (h->active > h->stats.max_in_flight)
		h->stats.max_in_flight = h->active;
	free(auth);
	free(ct);
	return;
nomem:
	err_set(&r->err, ERR_NOMEM, "out of memory starting an akeneo request");
fail:
	curl_mime_free(r->mime);
	r->mime = NULL;
	curl_easy_cleanup(easy);
	curl_slist_free_all(hdrs);
	free(auth);
	free(ct);
	finish(r, true, 0);
}

/* The failures counted for r so far (connection errors and 5xx): attempts
 * less 429s and the one 401 retry. */
static int failures_of(const struct ak_req *r)
{
	return r->attempts - 1 - r->n429 - (r->retried_401 ? 1 : 0);
}

static void attempt_done(struct ak_http *h, struct ak_req *r, CURLcode code)
{
	long status = 0;
	int failures = failures_of(r);
	double delay;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	detach(h, r);
	if (code == CURLE_OK && status == 401 && !r->retried_401) {
		r->retried_401 = true;
		h->stats.retries_401++;
		if (r->token_gen == h->token_gen)
			h->token_stale = true;
		enqueue(h, r, 0);
		return;
	}
	switch (classify(h, r, code, status, &failures, &delay)) {
	case V_RETRY:
		enqueue(h, r, now_s() + delay);
		return;
	case V_FAIL:
		finish(r, true, 0);
		return;
	case V_DONE:
		finish(r, false, status);
		return;
	}
}

/* Start what may start; true when a request finished on the way. */
static bool start_eligible(struct ak_http *h)
{
	double now = now_s();
	bool finished = false;
	struct ak_req *r = h->qhead;

	while (r && h->active < h->max_in_flight && now >= h->hold_until) {
		struct ak_req *next = r->qnext;

		if (r->not_before <= now) {
			dequeue(h, r);
			start(h, r);
			finished |= r->done;
		}
		r = next;
	}
	return finished;
}

/* One round: start, transfer, collect; wait a little when nothing
 * happened and block is set. */
static int step(struct ak_http *h, bool block, struct err *e)
{
	bool progressed = start_eligible(h);
	CURLMcode mc;
	CURLMsg *m;
	int running, left;

	mc = curl_multi_perform(h->multi, &running);
	if (mc != CURLM_OK)
		return err_set(e, ERR_SOURCE, "akeneo: libcurl: %s", curl_multi_strerror(mc));
	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct ak_req *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		attempt_done(h, r, m->data.result);
		progressed = true;
	}
	if (progressed || !block)
		return 0;
	{
		double now = now_s(), wait = 1.0;

		if (h->qhead && h->active < h->max_in_flight) {
			for (struct ak_req *r = h->qhead; r; r = r->qnext) {
				double at = r->not_before > h->hold_until ? r->not_before : h->hold_until;

				if (at - now < wait)
					wait = at - now;
			}
		}
		if (wait <= 0)
			return 0;
		if (h->active == 0) {
			sleep_s(wait);
			return 0;
		}
		mc = curl_multi_poll(h->multi, NULL, 0, (int)ceil(wait * 1000), NULL);
		if (mc != CURLM_OK)
			return err_set(e, ERR_SOURCE, "akeneo: libcurl: %s", curl_multi_strerror(mc));
	}
	return 0;
}

void ak_submit(struct ak_http *h, struct ak_req *r)
{
	r->done = r->failed = false;
	r->status = 0;
	r->attempts = r->n429 = 0;
	r->retried_401 = false;
	err_clear(&r->err);
	enqueue(h, r, 0);
}

int ak_wait(struct ak_http *h, struct ak_req *r, struct err *e)
{
	while (!r->done) {
		if (!r->queued && !r->running)
			return err_set(e, ERR_INTERNAL, "akeneo: waiting for a request never submitted");
		if (step(h, true, e) < 0)
			return -1;
	}
	return 0;
}

int ak_wait_all(struct ak_http *h, struct ak_req **rs, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++)
		if (rs[i] && ak_wait(h, rs[i], e) < 0)
			return -1;
	return 0;
}

void ak_poke(struct ak_http *h)
{
	struct err e;

	step(h, false, &e);
}

void ak_http_get_stats(const struct ak_http *h, struct ak_http_stats *s)
{
	*s = h->stats;
}

const char *ak_http_base(const struct ak_http *h)
{
	return h->base_url;
}

/* ---- origin ---------------------------------------------------------------- */

static int split_origin(const char *url, char **scheme, char **host, char **port)
{
	CURLU *u = curl_url();
	int rc = -1;

	*scheme = *host = *port = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		curl_free(*scheme);
		curl_free(*host);
		curl_free(*port);
		*scheme = *host = *port = NULL;
	}
	curl_url_cleanup(u);
	return rc;
}

bool ak_http_same_origin(const struct ak_http *h, const char *url)
{
	char *scheme, *host, *port;
	bool same;

	if (split_origin(url, &scheme, &host, &port) < 0)
		return false;
	same = strcasecmp(scheme, h->scheme) == 0 && strcasecmp(host, h->host) == 0 &&
	       strcmp(port, h->port) == 0;
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	return same;
}

/* ---- life -------------------------------------------------------------------- */

void ak_http_free(struct ak_http *h)
{
	if (!h)
		return;
	for (int i = 0; i < AK_MAX_IN_FLIGHT; i++)
		if (h->run[i])
			detach(h, h->run[i]);
	while (h->qhead)
		dequeue(h, h->qhead);
	curl_multi_cleanup(h->multi);
	free(h->base_url);
	curl_free(h->scheme);
	curl_free(h->host);
	curl_free(h->port);
	free(h->client_id);
	if (h->secret)
		memset(h->secret, 0, strlen(h->secret));
	free(h->secret);
	free(h->username);
	if (h->password)
		memset(h->password, 0, strlen(h->password));
	free(h->password);
	free(h->creds_from);
	free(h->token);
	free(h->refresh_token);
	free(h);
}

int ak_http_new(struct ak_http **out, const struct ak_http_opts *o, struct err *e)
{
	static bool curl_ready;
	struct ak_http *h;
	int rc = -1;

	*out = NULL;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return err_set(e, ERR_SOURCE, "akeneo: libcurl does not start");
		curl_ready = true;
	}
	h = calloc(1, sizeof *h);
	if (!h)
		return err_set(e, ERR_NOMEM, "out of memory opening akeneo");
	h->timeout_s = o->timeout_s > 0 ? o->timeout_s : 30;
	h->max_in_flight = o->max_in_flight > 0 && o->max_in_flight <= AK_MAX_IN_FLIGHT ?
			   o->max_in_flight : AK_MAX_IN_FLIGHT;
	if (!(h->multi = curl_multi_init()) || !(h->base_url = strdup(o->base_url)) ||
	    !(h->client_id = strdup(o->client_id)) || !(h->secret = strdup(o->secret)) ||
	    !(h->username = strdup(o->username)) || !(h->password = strdup(o->password)) ||
	    !(h->creds_from = strdup(o->creds_from ? o->creds_from : "the environment"))) {
		err_set(e, ERR_NOMEM, "out of memory opening akeneo");
		goto out;
	}
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->max_in_flight);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->max_in_flight);
	if (split_origin(h->base_url, &h->scheme, &h->host, &h->port) < 0) {
		err_set(e, ERR_CONFIG, "source.base_url: not a URL libcurl can parse");
		goto out;
	}
	if (ensure_token(h, e) < 0)
		goto out;
	*out = h;
	h = NULL;
	rc = 0;
out:
	ak_http_free(h);
	return rc;
}
