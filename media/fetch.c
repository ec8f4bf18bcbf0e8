/* fetch.c: downloading a product photo named by URL in a record.
 *
 * A record's image URL is untrusted: it may point at a page instead of an
 * image, at a file of gigabytes, at a server that never answers, or redirect
 * to file:// or gopher://.  One blocking libcurl transfer per call (it runs
 * on a media worker thread), with limits on each of those: http(s) only,
 * redirects (at most 5) only to http(s), a whole-transfer and a connect
 * timeout, a size limit enforced while the body arrives (not only from
 * Content-Length, which a server may omit or lie about), a Content-Type of
 * image/... or application/octet-stream, status 200.  Every connection,
 * the first and each redirect's, goes only to an address the guard lets
 * through (fetch_guard.h: public ones, and those the configuration allows),
 * checked on the address libcurl is about to connect to; no proxy is used.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "media/fetch_guard.h"
#include "media/image_int.h"

struct sink {
	CURL *curl;
	struct buf *out;
	size_t start;      /* out->len before the transfer */
	size_t limit;
	bool too_big;
	bool nomem;
	bool checked;      /* status and type looked at (first body bytes) */
	bool refused;      /* not 200, or not an image: stopped early */
};

static bool type_ok(const char *ct);

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	/* The headers are in: an error page or an HTML page is not worth
	 * downloading (curl skips the bodies of redirects it follows). */
	if (!s->checked) {
		long status = 0;
		const char *ct = NULL;

		s->checked = true;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &ct);
		if (status != 200 || !type_ok(ct)) {
			s->refused = true;
			return 0;
		}
	}

	if (s->out->len - s->start + len > s->limit) {
		s->too_big = true;
		return 0;   /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (buf_append(s->out, p, len)) {
		s->nomem = true;
		return 0;
	}
	return len;
}

/* The connect-time check: every socket libcurl opens for a connection is
 * for one resolved address; one the policy refuses gets no socket (curl
 * then tries the host's next address, or fails with CURLE_COULDNT_CONNECT).
 * The first refused address is kept for the message, which a failed
 * connection gets only when the refusal is why: when no address of that
 * hop was allowed.  localhost is 127.0.0.1 and ::1 to curl; with only
 * 127.0.0.1 allowed and nothing listening there, the download could not
 * connect (worth a retry), it was not refused. */
struct guard {
	const struct media_fetch_policy *policy;
	bool refused;
	bool allowed;   /* an address of this hop was allowed */
	enum media_addr_class cls;
	char addr[INET6_ADDRSTRLEN];
};

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct guard *g = arg;
	struct sockaddr_storage ss;
	const void *ip = NULL;
	enum media_addr_class cls = MEDIA_ADDR_RESERVED;

	memset(&ss, 0, sizeof ss);
	memcpy(&ss, &a->addr, a->addrlen < sizeof ss ? a->addrlen : sizeof ss);
	if (purpose == CURLSOCKTYPE_IPCXN && a->family == AF_INET)
		ip = &((const struct sockaddr_in *)&ss)->sin_addr;
	else if (purpose == CURLSOCKTYPE_IPCXN && a->family == AF_INET6)
		ip = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
	if (ip && media_fetch_addr_allowed(g->policy, a->family, ip, &cls)) {
		g->allowed = true;
		return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	}
	if (!g->refused) {
		g->refused = true;
		g->cls = cls;
		if (!ip || !inet_ntop(a->family, ip, g->addr, sizeof g->addr))
			snprintf(g->addr, sizeof g->addr, "an address of family %d", a->family);
	}
	return CURL_SOCKET_BAD;
}

/* A connection is made (or reused) for the next request: what was refused
 * or allowed before it explains nothing after, say a redirect's hop. */
static int connected(void *arg, char *remote_ip, char *local_ip, int remote_port, int local_port)
{
	struct guard *g = arg;

	g->refused = false;
	g->allowed = false;
	return CURL_PREREQFUNC_OK;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void init_curl(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool type_ok(const char *ct)
{
	if (!ct)
		return true;   /* no Content-Type: the decoder decides by the bytes */
	return strncasecmp(ct, "image/", 6) == 0 ||
	       strncasecmp(ct, "application/octet-stream", 24) == 0 ||
	       strncasecmp(ct, "binary/octet-stream", 19) == 0;
}

/* The URL as messages show it: no user name or password, no query or
 * fragment.  A catalog's photo URL may carry credentials or a presigned
 * token (X-Amz-Signature=...), and messages end up in task errors, reports
 * and logs. */
static void url_for_messages(const char *url, char *out, size_t cap)
{
	CURLU *h = curl_url();
	char *clean = NULL;

	if (h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_URL, &clean, 0) == CURLUE_OK)
		snprintf(out, cap, "%s", clean);
	else
		snprintf(out, cap, "a URL that does not parse");
	curl_free(clean);
	curl_url_cleanup(h);
}

int media_fetch(const char *url, const struct media_load_opts *opts, const char *ctx,
		struct buf *out, struct err *e)
{
	struct sink s = { .out = out, .start = out->len, .limit = MEDIA_MAX_BYTES_DEFAULT };
	struct guard g = { .policy = opts ? opts->fetch : NULL };
	long timeout = MEDIA_TIMEOUT_MS_DEFAULT, connect_timeout = 10000;
	char curl_msg[CURL_ERROR_SIZE] = "";
	char where[ERR_MSG_MAX / 2];
	const char *ct = NULL;
	long status = 0;
	CURLcode rc;
	CURL *c = NULL;
	int ret = -1;

	if (opts && opts->max_bytes)
		s.limit = opts->max_bytes;
	if (opts && opts->timeout_ms)
		timeout = opts->timeout_ms;
	if (opts && opts->connect_timeout_ms)
		connect_timeout = opts->connect_timeout_ms;
	{
		char shown[ERR_MSG_MAX / 4];

		url_for_messages(url, shown, sizeof shown);
		if (ctx && *ctx)
			snprintf(where, sizeof where, "%s: %s", ctx, shown);
		else
			snprintf(where, sizeof where, "%s", shown);
	}

	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
		return media_err(e, ERR_INPUT, where, "only http and https URLs are fetched");
	pthread_once(&curl_once, init_curl);
	if (curl_init_rc != CURLE_OK)
		return err_set(e, ERR_INTERNAL, "libcurl failed to initialise");
	c = curl_easy_init();
	if (!c)
		return err_set(e, ERR_NOMEM, "out of memory");
	s.curl = c;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s.limit);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "skugen/" SKUGEN_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &g);
	curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, connected);
	curl_easy_setopt(c, CURLOPT_PREREQDATA, &g);
	/* Guarded, no proxy, not even from the environment: through one the
	 * guard would see the proxy's address, not the photo's.  Unguarded
	 * (allow_private), the environment's proxy as before the guard. */
	if (!g.policy || !g.policy->allow_private)
		curl_easy_setopt(c, CURLOPT_PROXY, "");

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	if (s.nomem) {
		media_err(e, ERR_NOMEM, where, "out of memory downloading");
		goto done;
	}
	if (s.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		media_err(e, ERR_INPUT, where, "download is over the limit of %zu bytes", s.limit);
		goto done;
	}
	if (s.refused)
		rc = CURLE_OK;   /* stopped on purpose: status or type says why below */
	if (rc == CURLE_UNSUPPORTED_PROTOCOL && status >= 300 && status < 400) {
		media_err(e, ERR_INPUT, where, "redirected to a URL that is not http or https");
		goto done;
	}
	if (g.refused && !g.allowed && rc == CURLE_COULDNT_CONNECT) {
		const char *eff = NULL;
		char hop[ERR_MSG_MAX / 4 + 32] = "";

		/* A redirect's target is named too: the record's URL was not it. */
		curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
		if (eff) {
			char first[ERR_MSG_MAX / 4], last[ERR_MSG_MAX / 4];

			url_for_messages(url, first, sizeof first);
			url_for_messages(eff, last, sizeof last);
			if (strcmp(first, last) != 0)
				snprintf(hop, sizeof hop, "redirected to %s: ", last);
		}
		media_err(e, ERR_INPUT, where, "%srefusing to connect to %s (%s); set media.fetch.allow_private "
			  "or add it to media.fetch.allow", hop, g.addr, media_addr_class_name(g.cls));
		goto done;
	}
	if (rc == CURLE_TOO_MANY_REDIRECTS) {
		media_err(e, ERR_INPUT, where, "too many redirects");
		goto done;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		media_err(e, ERR_IO, where, "download timed out after %ld ms", timeout);
		goto done;
	}
	if (rc != CURLE_OK) {
		media_err(e, ERR_IO, where, "download failed: %s",
			  *curl_msg ? curl_msg : curl_easy_strerror(rc));
		goto done;
	}
	if (status != 200) {
		media_err(e, ERR_INPUT, where, "download failed: http status %ld", status);
		goto done;
	}
	if (!type_ok(ct)) {
		char shown[64];

		snprintf(shown, sizeof shown, "%s", ct);
		for (char *q = shown; *q; q++)
			if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
				*q = '?';
		media_err(e, ERR_INPUT, where, "not an image: content-type \"%s\"", shown);
		goto done;
	}
	if (out->len == s.start) {
		media_err(e, ERR_INPUT, where, "empty download (0 bytes)");
		goto done;
	}
	ret = 0;
done:
	if (ret) {
		/* Nothing half-written: drop what arrived. */
		out->len = s.start;
		if (out->data)
			out->data[out->len] = '\0';
	}
	curl_easy_cleanup(c);
	return ret;
}
