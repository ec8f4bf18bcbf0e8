/* serve.c: the HTTP daemon of `skugen serve` (see serve.h): listening,
 * routing, the bearer token, body and connection limits, dropping slow
 * clients, JSON errors, and the pool of store connections the handlers use.
 * The handlers themselves live in serve_jobs.c. */
#include "batch/serve_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/show.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define WATCHDOG_TICK_MS 250
#define DISCARD_FACTOR 4

enum route { ROUTE_NONE, ROUTE_HEALTH, ROUTE_REGENERATE, ROUTE_JOB, ROUTE_WEBHOOK_FAL };

/* One request's state across the calls of the access handler. */
struct serve_req {
	enum route route;
	struct buf body;
	bool too_big;
	size_t discarded;  /* bytes thrown away past the limit */
};

/* One TCP connection, watched for the request deadline. */
struct serve_conn {
	struct serve_conn *prev, *next;
	int fd;
	struct timespec deadline;  /* CLOCK_MONOTONIC */
	bool dropped;
};

static void deadline_in(struct timespec *t, unsigned seconds)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += seconds;
}

/* ---- options ---------------------------------------------------------- */

int serve_opts_from_settings(struct serve_opts *o, const struct settings *s, struct err *e)
{
	static const char *const keys[] = {
		"listen", "max_body_bytes", "max_connections", "max_connections_per_client",
		"idle_timeout_s", "request_timeout_s", "threads", "max_skus", "max_jobs",
		"fal_jwks", "jwks_refresh_s", "fal_user_id", "log_dir", NULL,
	};
	const struct config *c = &s->cfg;
	const json_t *obj = s->serve;
	long long v[9];
	const char *jwks = NULL, *log_dir = NULL;

	memset(o, 0, sizeof *o);
	o->settings = s;
	o->exe = "/proc/self/exe";
	if (config_check_keys(c, obj, "serve", keys, e) < 0 ||
	    config_string(c, obj, "serve", "listen", DEFAULT_LISTEN, &o->listen, e) < 0 ||
	    config_int(c, obj, "serve", "max_body_bytes", 1 << 20, 1024, 1LL << 30, &v[0], e) < 0 ||
	    config_int(c, obj, "serve", "max_connections", 256, 4, 65536, &v[1], e) < 0 ||
	    config_int(c, obj, "serve", "max_connections_per_client", 32, 0, 65536, &v[2], e) < 0 ||
	    config_int(c, obj, "serve", "idle_timeout_s", 15, 1, 3600, &v[3], e) < 0 ||
	    config_int(c, obj, "serve", "request_timeout_s", 30, 1, 3600, &v[4], e) < 0 ||
	    config_int(c, obj, "serve", "threads", 4, 1, 256, &v[5], e) < 0 ||
	    config_int(c, obj, "serve", "max_skus", 1000, 1, 1000000, &v[6], e) < 0 ||
	    config_int(c, obj, "serve", "max_jobs", 8, 1, 1024, &v[7], e) < 0 ||
	    config_int(c, obj, "serve", "jwks_refresh_s", 3600, 10, 7 * 86400, &v[8], e) < 0 ||
	    config_string(c, obj, "serve", "fal_jwks", NULL, &jwks, e) < 0 ||
	    config_string(c, obj, "serve", "fal_user_id", NULL, &o->fal_user_id, e) < 0 ||
	    config_string(c, obj, "serve", "log_dir", NULL, &log_dir, e) < 0)
		return -1;
	o->max_body_bytes = (size_t)v[0];
	o->max_connections = (unsigned)v[1];
	o->max_per_client = (unsigned)v[2];
	o->idle_timeout_s = (unsigned)v[3];
	o->request_timeout_s = (unsigned)v[4];
	o->threads = (unsigned)v[5];
	o->max_skus = (unsigned)v[6];
	o->max_jobs = (unsigned)v[7];
	o->jwks_refresh_s = (long)v[8];
	if (o->fal_user_id && !*o->fal_user_id)
		o->fal_user_id = NULL;
	o->config_path = s->loaded ? s->cfg.path : NULL;
	/* A file path is relative to the configuration; a URL is not. */
	if (jwks && *jwks) {
		bool url = strncmp(jwks, "http://", 7) == 0 || strncmp(jwks, "https://", 8) == 0;

		o->fal_jwks = o->owned_jwks = url ? strdup(jwks) : config_resolve_path(c, jwks);
		if (!o->owned_jwks)
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (log_dir && *log_dir) {
		o->log_dir = o->owned_log_dir = config_resolve_path(c, log_dir);
		if (!o->owned_log_dir)
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	return 0;
}

void serve_opts_free(struct serve_opts *o)
{
	if (!o)
		return;
	free(o->owned_jwks);
	free(o->owned_log_dir);
	o->owned_jwks = o->owned_log_dir = NULL;
}

/* ---- replies ---------------------------------------------------------- */

void serve_reply_error(struct serve_reply *r, unsigned status, const char *field,
		       const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_decref(r->body);
	r->status = status;
	r->body = json_pack("{s:{s:i, s:s}}", "error", "status", (int)status, "message", msg);
	if (r->body && field)
		json_object_set_new(json_object_get(r->body, "error"), "field", json_string(field));
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct serve_reply *r)
{
	char *text = r->body ? json_dumps(r->body, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (r->body && !text) {
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		text = strdup("{\"error\":{\"status\":500,\"message\":\"out of memory\"}}");
	}
	resp = text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
		    : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(text);
		json_decref(r->body);
		r->body = NULL;
		return MHD_NO;
	}
	if (text)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->header)
		MHD_add_response_header(resp, r->header, r->header_value);
	rc = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	json_decref(r->body);
	r->body = NULL;
	return rc;
}

/* ---- the store pool --------------------------------------------------- */

struct store *serve_store_get(struct serve *s, struct err *e)
{
	struct store_target t = { .dsn = s->o.settings->dsn, .home = s->o.settings->home };
	struct store *st = NULL;

	pthread_mutex_lock(&s->pool_lock);
	if (s->pool_len)
		st = s->pool[--s->pool_len];
	pthread_mutex_unlock(&s->pool_lock);
	if (st && PQstatus(st->pg) != CONNECTION_OK) {
		store_close(st);
		st = NULL;
	}
	if (!st && store_open(&st, &t, e) < 0)
		return NULL;
	return st;
}

void serve_store_put(struct serve *s, struct store *st, bool ok)
{
	if (!st)
		return;
	if (ok && PQstatus(st->pg) == CONNECTION_OK && PQtransactionStatus(st->pg) == PQTRANS_IDLE) {
		pthread_mutex_lock(&s->pool_lock);
		if (s->pool_len < s->pool_cap) {
			s->pool[s->pool_len++] = st;
			st = NULL;
		}
		pthread_mutex_unlock(&s->pool_lock);
	}
	store_close(st);
}

/* ---- routing and the token -------------------------------------------- */

static bool authorized(const struct serve *s, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	char got[HASH_HEX_LEN];

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	/* Hash both sides: the comparison then takes the same time whatever
	 * the length or the content of what was sent. */
	sha256_hex(h, strlen(h), got);
	return CRYPTO_memcmp(got, s->token_sha, HASH_HEX_LEN - 1) == 0;
}

/* The route for (method, url); *allowed is set when the path exists but
 * the method does not (405). */
static enum route route_of(const char *method, const char *url, const char **allowed)
{
	static const struct { const char *method, *path; enum route r; } routes[] = {
		{ "GET", "/healthz", ROUTE_HEALTH },
		{ "POST", "/v1/regenerate", ROUTE_REGENERATE },
		{ "POST", "/v1/webhooks/fal", ROUTE_WEBHOOK_FAL },
	};

	*allowed = NULL;
	if (strncmp(url, "/v1/jobs/", 9) == 0 && url[9] && !strchr(url + 9, '/')) {
		if (strcmp(method, "GET") == 0)
			return ROUTE_JOB;
		*allowed = "GET";
		return ROUTE_NONE;
	}
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		if (strcmp(url, routes[i].path) == 0) {
			if (strcmp(method, routes[i].method) == 0)
				return routes[i].r;
			*allowed = routes[i].method;
			return ROUTE_NONE;
		}
	return ROUTE_NONE;
}

static void health(struct serve *s, struct serve_reply *r)
{
	struct err e;
	struct store *st;
	bool ok = false;

	err_clear(&e);
	st = serve_store_get(s, &e);
	if (st)
		ok = store_exec(st, "select 1", 0, NULL, &e) == 0;
	serve_store_put(s, st, ok);
	if (!ok) {
		/* /healthz needs no token: the store's own words (host, user,
		 * why it refused) go to the log, not to whoever asks. */
		fprintf(stderr, "skugen serve: healthz: the store is unreachable: %s\n", e.msg);
		serve_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "the store is unreachable");
		return;
	}
	r->status = MHD_HTTP_OK;
	r->body = json_pack("{s:s, s:s}", "status", "ok", "store", "ok");
}

static void dispatch(struct serve *s, struct MHD_Connection *c, struct serve_req *q, const char *url,
		     struct serve_reply *r)
{
	switch (q->route) {
	case ROUTE_HEALTH:
		health(s, r);
		break;
	case ROUTE_REGENERATE:
		serve_regenerate(s, buf_str(&q->body), q->body.len, r);
		break;
	case ROUTE_JOB:
		serve_job(s, url + 9, r);
		break;
	case ROUTE_WEBHOOK_FAL: {
		struct webhook_fal_headers h = {
			.request_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Fal-Webhook-Request-Id"),
			.user_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Fal-Webhook-User-Id"),
			.timestamp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Fal-Webhook-Timestamp"),
			.signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Fal-Webhook-Signature"),
		};

		serve_webhook_fal(s, &h, buf_str(&q->body), q->body.len, r);
		break;
	}
	case ROUTE_NONE:
		serve_reply_error(r, MHD_HTTP_NOT_FOUND, NULL, "no such resource");
		break;
	}
}

/* The first call for a request: route, token and announced length are
 * checked before any of the body is read.  Returns 0 to go on reading, or
 * 1 with r filled to answer now. */
static int admit(struct serve *s, struct MHD_Connection *c, const char *method, const char *url,
		 struct serve_req *q, struct serve_reply *r)
{
	const char *allowed, *cl;

	q->route = route_of(method, url, &allowed);
	if (q->route == ROUTE_NONE) {
		if (allowed) {
			char shown[SHOW_CAP];

			/* The path is the client's: quoted, it stays valid UTF-8. */
			show_quoted(shown, url, strlen(url));
			serve_reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, "\"%s\": use %s", shown, allowed);
			r->header = MHD_HTTP_HEADER_ALLOW;
			r->header_value = allowed;
		} else {
			serve_reply_error(r, MHD_HTTP_NOT_FOUND, NULL, "no such resource");
		}
		return 1;
	}
	if (q->route == ROUTE_WEBHOOK_FAL && !s->keys) {
		serve_reply_error(r, MHD_HTTP_NOT_FOUND, NULL, "webhooks are off: set serve.fal_jwks");
		return 1;
	}
	/* The webhook is authenticated by its signature, the health check by
	 * nothing (load balancers ask it); everything else by the token. */
	if (q->route != ROUTE_HEALTH && q->route != ROUTE_WEBHOOK_FAL && !authorized(s, c)) {
		serve_reply_error(r, MHD_HTTP_UNAUTHORIZED, "authorization",
				  "a valid \"Authorization: Bearer TOKEN\" header is required");
		r->header = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
		r->header_value = "Bearer realm=\"skugen\"";
		return 1;
	}
	/* The daemon answers a Content-Length that is not a number itself,
	 * before this is called; the message still says the number read, not
	 * the client's text (leading zeros, or whatever a lenient parser let
	 * through). */
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		unsigned long long announced;

		errno = 0;
		announced = strtoull(cl, NULL, 10);
		if (errno == ERANGE || announced > s->o.max_body_bytes) {
			if (errno == ERANGE)
				serve_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "the body is over the limit of %zu bytes",
						  s->o.max_body_bytes);
			else
				serve_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "the body is %llu bytes, limit %zu",
						  announced, s->o.max_body_bytes);
			return 1;
		}
	}
	return 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_data_size,
			      void **con_cls)
{
	struct serve *s = cls;
	struct serve_req *q = *con_cls;
	struct serve_reply r = { 0 };

	(void)version;
	if (!q) {
		q = calloc(1, sizeof *q);
		if (!q)
			return MHD_NO;
		*con_cls = q;
		if (admit(s, c, method, url, q, &r))
			return send_reply(c, &r);
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* A body without an announced length that grows past the limit
		 * is read on and thrown away, for a 413 at its end (the daemon
		 * cannot answer in the middle of a body); one that goes on past
		 * DISCARD_FACTOR times the limit has its connection closed. */
		if (!q->too_big && q->body.len + *upload_data_size > s->o.max_body_bytes) {
			q->too_big = true;
			buf_free(&q->body);
		}
		if (q->too_big) {
			q->discarded += *upload_data_size;
			if (q->discarded > DISCARD_FACTOR * s->o.max_body_bytes)
				return MHD_NO;
		} else if (buf_append(&q->body, upload_data, *upload_data_size) < 0) {
			return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (q->too_big)
		serve_reply_error(&r, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "the body is over the limit of %zu bytes",
				  s->o.max_body_bytes);
	else
		dispatch(s, c, q, url, &r);
	if (!r.status)
		serve_reply_error(&r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "no answer");
	return send_reply(c, &r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct serve *s = cls;
	struct serve_req *q = *con_cls;
	const union MHD_ConnectionInfo *ci;

	(void)toe;
	if (q) {
		buf_free(&q->body);
		free(q);
		*con_cls = NULL;
	}
	/* The next request on this connection gets its own deadline, after
	 * the idle time the daemon allows between requests. */
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && ci->socket_context) {
		struct serve_conn *sc = ci->socket_context;

		pthread_mutex_lock(&s->conns_lock);
		deadline_in(&sc->deadline, s->o.idle_timeout_s + s->o.request_timeout_s);
		pthread_mutex_unlock(&s->conns_lock);
	}
}

/* ---- slow clients ----------------------------------------------------- */

static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			enum MHD_ConnectionNotificationCode toe)
{
	struct serve *s = cls;
	struct serve_conn *sc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		sc = calloc(1, sizeof *sc);
		if (!sc || !ci)
			return (void)free(sc);
		sc->fd = ci->connect_fd;
		deadline_in(&sc->deadline, s->o.request_timeout_s);
		pthread_mutex_lock(&s->conns_lock);
		sc->next = s->conns;
		if (s->conns)
			s->conns->prev = sc;
		s->conns = sc;
		pthread_mutex_unlock(&s->conns_lock);
		*socket_context = sc;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && sc) {
		/* Called before the daemon closes the socket: under the lock the
		 * watchdog never touches an fd that is gone. */
		pthread_mutex_lock(&s->conns_lock);
		if (sc->prev)
			sc->prev->next = sc->next;
		else
			s->conns = sc->next;
		if (sc->next)
			sc->next->prev = sc->prev;
		pthread_mutex_unlock(&s->conns_lock);
		free(sc);
		*socket_context = NULL;
	}
}

/* Shut down the sockets of connections past their deadline: the daemon
 * then sees the end of the stream and closes them.  A client that sends a
 * header a byte at a time resets the idle timeout but not this. */
static void *watchdog(void *arg)
{
	struct serve *s = arg;

	do {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		pthread_mutex_lock(&s->conns_lock);
		for (struct serve_conn *sc = s->conns; sc; sc = sc->next)
			if (!sc->dropped && (now.tv_sec > sc->deadline.tv_sec ||
					     (now.tv_sec == sc->deadline.tv_sec && now.tv_nsec >= sc->deadline.tv_nsec))) {
				shutdown(sc->fd, SHUT_RDWR);
				sc->dropped = true;
			}
		pthread_mutex_unlock(&s->conns_lock);
	} while (serve_sleep(s, WATCHDOG_TICK_MS));
	return NULL;
}

bool serve_sleep(struct serve *s, long ms)
{
	struct timespec wake;
	bool go_on;

	clock_gettime(CLOCK_MONOTONIC, &wake);
	wake.tv_sec += ms / 1000;
	wake.tv_nsec += (ms % 1000) * 1000000L;
	if (wake.tv_nsec >= 1000000000L) {
		wake.tv_sec++;
		wake.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->stop_lock);
	if (!s->stopping)
		pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &wake);
	go_on = !s->stopping;
	pthread_mutex_unlock(&s->stop_lock);
	return go_on;
}

/* ---- start and stop --------------------------------------------------- */

/* "ADDR:PORT", "[V6]:PORT", ":PORT" or "*:PORT" into a bound, listening
 * socket. */
static int listen_on(const char *spec, int *fd_out, bool *v6, struct err *e)
{
	char host[256];
	const char *colon = strrchr(spec, ':'), *h = spec;
	size_t hlen;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	int fd = -1, one = 1, rc;

	if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(colon + 1) > 5)
		return err_set(e, ERR_USAGE, "listen address \"%s\": expected ADDR:PORT, e.g. 127.0.0.1:8080", spec);
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen >= sizeof host)
		return err_set(e, ERR_USAGE, "listen address \"%s\": the host is too long", spec);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	rc = getaddrinfo(hlen && strcmp(host, "*") != 0 ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0)
		return err_set(e, ERR_USAGE, "listen address \"%s\": %s (a numeric address is expected)", spec,
			       gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		err_set(e, ERR_IO, "cannot listen on %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	*fd_out = fd;
	return 0;
}

static unsigned bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int serve_start(struct serve **out, const struct serve_opts *o, struct err *e)
{
	struct serve *s = calloc(1, sizeof *s);
	pthread_condattr_t ca;
	struct store *st = NULL;
	int fd = -1;
	bool v6 = false;

	if (!s)
		return err_set(e, ERR_NOMEM, "out of memory");
	s->o = *o;
	s->o.owned_jwks = s->o.owned_log_dir = NULL;  /* still the caller's */
	if (!s->o.max_body_bytes) s->o.max_body_bytes = 1 << 20;
	if (!s->o.max_connections) s->o.max_connections = 256;
	if (!s->o.idle_timeout_s) s->o.idle_timeout_s = 15;
	if (!s->o.request_timeout_s) s->o.request_timeout_s = 30;
	if (!s->o.threads) s->o.threads = 4;
	if (!s->o.max_skus) s->o.max_skus = 1000;
	if (!s->o.max_jobs) s->o.max_jobs = 8;
	if (!s->o.exe) s->o.exe = "/proc/self/exe";
	sha256_hex(o->token, strlen(o->token), s->token_sha);
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_mutex_init(&s->conns_lock, NULL);
	pthread_mutex_init(&s->jobs_lock, NULL);
	pthread_mutex_init(&s->stop_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->stop_cond, &ca);
	pthread_condattr_destroy(&ca);
	s->pool_cap = s->o.threads + 2;
	s->pool = calloc(s->pool_cap, sizeof *s->pool);
	if (!s->pool) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	/* The store first: it must be there (and migrated) before anyone asks. */
	st = serve_store_get(s, e);
	if (!st)
		goto fail;
	serve_store_put(s, st, true);
	/* A JWKS file that cannot be read is a configuration error; fal's URL
	 * being down is not a reason to refuse regenerations: webhooks then
	 * answer 503 (fal retries) until the keys load. */
	if (o->fal_jwks) {
		struct err ke;

		if (webhook_fal_keys_new(&s->keys, o->fal_jwks, o->jwks_refresh_s, e) < 0)
			goto fail;
		err_clear(&ke);
		if (webhook_fal_keys_load(s->keys, NULL, &ke) < 0) {
			if (strncmp(o->fal_jwks, "http://", 7) != 0 && strncmp(o->fal_jwks, "https://", 8) != 0) {
				err_set(e, ERR_CONFIG, "serve.fal_jwks: %s", ke.msg);
				goto fail;
			}
			snprintf(s->warning, sizeof s->warning,
				 "serve.fal_jwks: %s (webhooks answer 503 until the keys load)", ke.msg);
		}
	}
	if (listen_on(s->o.listen, &fd, &v6, e) < 0)
		goto fail;
	s->port = bound_port(fd);
	if (serve_jobs_start(s, e) < 0)
		goto fail;
	if (pthread_create(&s->watchdog, NULL, watchdog, s) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the watchdog thread");
		goto fail;
	}
	s->watchdog_started = true;
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, handle, s,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_THREAD_POOL_SIZE, s->o.threads,
				  MHD_OPTION_CONNECTION_LIMIT, s->o.max_connections,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->o.max_per_client,
				  MHD_OPTION_CONNECTION_TIMEOUT, s->o.idle_timeout_s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
				  MHD_OPTION_NOTIFY_COMPLETED, completed, s,
				  MHD_OPTION_NOTIFY_CONNECTION, conn_notify, s,
				  MHD_OPTION_END);
	if (!s->mhd) {
		err_set(e, ERR_IO, "cannot start the HTTP server on %s", s->o.listen);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (fd >= 0 && !s->mhd)
		close(fd);
	serve_stop(s);
	return -1;
}

unsigned serve_port(const struct serve *s)
{
	return s->port;
}

const char *serve_warning(const struct serve *s)
{
	return s->warning[0] ? s->warning : NULL;
}

void serve_stop(struct serve *s)
{
	if (!s)
		return;
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	pthread_mutex_lock(&s->stop_lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->stop_cond);
	pthread_mutex_unlock(&s->stop_lock);
	if (s->watchdog_started)
		pthread_join(s->watchdog, NULL);
	serve_jobs_stop(s);
	for (size_t i = 0; i < s->pool_len; i++)
		store_close(s->pool[i]);
	free(s->pool);
	webhook_fal_keys_free(s->keys);
	pthread_cond_destroy(&s->stop_cond);
	pthread_mutex_destroy(&s->stop_lock);
	pthread_mutex_destroy(&s->jobs_lock);
	pthread_mutex_destroy(&s->conns_lock);
	pthread_mutex_destroy(&s->pool_lock);
	free(s);
}
