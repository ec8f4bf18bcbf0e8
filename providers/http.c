/* http.c: the curl multi engine (see http.h).
 *
 * libcurl's socket interface: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to call it back (CURLMOPT_TIMERFUNCTION);
 * we keep the sockets in an epoll set and call curl_multi_socket_action for
 * the ones that are ready.  Unlike curl_multi_perform, this costs in
 * proportion to the sockets that are ready, not to the transfers in flight,
 * which is what lets one thread carry thousands of them.
 */
#include "providers/http.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BYTES (64u << 20)
#define MAX_EVENTS 256

/* What epoll knows of a descriptor: the events it watches (0: not
 * registered), and whether it is a connection socket curl opened (so that
 * its close reaches us) and idle in curl's connection cache (parked: left
 * registered, to spare two epoll_ctl calls per reuse). */
#define FD_IN 1
#define FD_OUT 2
#define FD_OURS 4
#define FD_PARKED 8

struct http_engine {
	CURLM *multi;
	int epfd;
	unsigned char *fds;        /* by descriptor */
	size_t n_fds;
	bool env_proxy;            /* a proxy variable is set: libcurl reads them */
	double deadline;           /* when curl wants its timeout call; < 0: none */
	size_t active;
	struct http_xfer *free_list;
	struct http_xfer **all;    /* every xfer made, for freeing */
	size_t n_all, cap_all;
};

double http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static unsigned char *fd_state(struct http_engine *h, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= h->n_fds) {
		size_t n = h->n_fds ? h->n_fds : 256;
		unsigned char *v;

		while (n <= (size_t)fd)
			n *= 2;
		v = realloc(h->fds, n);
		if (!v)
			return NULL;
		memset(v + h->n_fds, 0, n - h->n_fds);
		h->fds = v;
		h->n_fds = n;
	}
	return &h->fds[fd];
}

/* Make epoll watch fd for mask (FD_IN|FD_OUT), or nothing (0). */
static void watch(struct http_engine *h, int fd, unsigned char *st, unsigned mask)
{
	struct epoll_event ev;
	unsigned cur = *st & (FD_IN | FD_OUT);

	if (cur == mask)
		return;
	memset(&ev, 0, sizeof ev);
	ev.data.fd = fd;
	ev.events = (mask & FD_IN ? EPOLLIN : 0) | (mask & FD_OUT ? EPOLLOUT : 0);
	if (!mask) {
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
	} else if (cur) {
		if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
			epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev);
	} else if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST) {
		epoll_ctl(h->epfd, EPOLL_CTL_MOD, fd, &ev);
	}
	*st = (unsigned char)((*st & FD_OURS) | mask);
}

/* curl: watch s for what (or stop watching it). */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http_engine *h = userp;
	unsigned char *st = fd_state(h, s);

	(void)easy;
	(void)socketp;
	if (!st) { /* no memory for the table: plain registration */
		struct epoll_event ev = { .events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
						    (what & CURL_POLL_OUT ? EPOLLOUT : 0), .data.fd = s };

		if (what == CURL_POLL_REMOVE)
			epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
		else if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, s, &ev) < 0)
			epoll_ctl(h->epfd, EPOLL_CTL_ADD, s, &ev);
		return 0;
	}
	if (what == CURL_POLL_REMOVE) {
		/* A connection going idle stays registered: curl tells us when it
		 * closes it.  Anything else (a resolver's pipe) goes. */
		if ((*st & FD_OURS) && (*st & (FD_IN | FD_OUT)))
			*st |= FD_PARKED;
		else
			watch(h, s, st, 0);
		return 0;
	}
	*st &= (unsigned char)~FD_PARKED;
	watch(h, s, st, (what & CURL_POLL_IN ? FD_IN : 0) | (what & CURL_POLL_OUT ? FD_OUT : 0));
	return 0;
}

static curl_socket_t open_cb(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_engine *h = userp;
	curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	unsigned char *st = s >= 0 ? fd_state(h, s) : NULL;

	(void)purpose;
	if (st)
		*st = FD_OURS;
	return s;
}

static int close_cb(void *userp, curl_socket_t s)
{
	struct http_engine *h = userp;
	unsigned char *st = fd_state(h, s);

	if (st) {
		if (*st & (FD_IN | FD_OUT))
			epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
		*st = 0;
	}
	return close(s);
}

/* curl: call me back in timeout_ms (-1: never mind). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_engine *h = userp;

	(void)multi;
	h->deadline = timeout_ms < 0 ? -1.0 : http_now_ms() + (double)timeout_ms;
	return 0;
}

static const char *const proxy_vars[] = {
	"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
};

int http_engine_new(struct http_engine **out, struct err *e)
{
	static bool curl_ready;
	struct http_engine *h;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return err_set(e, ERR_INTERNAL, "libcurl failed to initialise");
		curl_ready = true;
	}
	h = calloc(1, sizeof *h);
	if (!h)
		return err_set(e, ERR_NOMEM, "out of memory");
	h->deadline = -1.0;
	/* libcurl looks the proxy variables up for every transfer; when none is
	 * set (the usual case) tell it so once, and spare it the lookups. */
	for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++) {
		const char *v = getenv(proxy_vars[i]);

		if (v && *v)
			h->env_proxy = true;
	}
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		err_set(e, ERR_IO, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	h->multi = curl_multi_init();
	if (!h->multi) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*out = h;
	return 0;
fail:
	http_engine_free(h);
	return -1;
}

static void xfer_destroy(struct http_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	buf_free(&x->resp);
	hash_free(x->sha);
	free(x);
}

void http_engine_free(struct http_engine *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_all; i++) {
		struct http_xfer *x = h->all[i];

		if (x->active)
			curl_multi_remove_handle(h->multi, x->easy);
		xfer_destroy(x);
	}
	free(h->all);
	if (h->multi)
		curl_multi_cleanup(h->multi); /* closes the cached connections */
	free(h->fds);
	if (h->epfd >= 0)
		close(h->epfd);
	free(h);
}

void http_engine_set_maxconnects(struct http_engine *h, long n)
{
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, n);
}

static size_t write_mem(char *p, size_t size, size_t n, void *userp)
{
	struct http_xfer *x = userp;
	size_t len = size * n;

	if (x->resp.len + len > x->max_bytes) {
		x->too_big = true;
		return 0;
	}
	if (buf_append(&x->resp, p, len) < 0) {
		x->io_error = true;
		return 0;
	}
	x->bytes += len;
	return len;
}

/* Is the response's content type one of the allowed prefixes?  Remembers
 * the type in x->content_type. */
static bool type_allowed(struct http_xfer *x)
{
	char *ct = NULL;

	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
	if (ct) {
		size_t n = strcspn(ct, ";");

		while (n > 0 && ct[n - 1] == ' ')
			n--;
		if (n >= sizeof x->content_type)
			n = sizeof x->content_type - 1;
		memcpy(x->content_type, ct, n);
		x->content_type[n] = '\0';
	}
	if (!x->allowed_types)
		return true;
	for (size_t i = 0; x->allowed_types[i]; i++)
		if (strncasecmp(x->content_type, x->allowed_types[i], strlen(x->allowed_types[i])) == 0)
			return true;
	return false;
}

static size_t write_sink(char *p, size_t size, size_t n, void *userp)
{
	struct http_xfer *x = userp;
	size_t len = size * n, off = 0;

	if (x->bytes == 0 && !type_allowed(x)) {
		x->bad_type = true;
		return 0;
	}
	if (x->bytes + len > x->max_bytes) {
		x->too_big = true;
		return 0;
	}
	while (off < len) {
		ssize_t w = write(x->sink_fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			x->io_error = true;
			return 0;
		}
		off += (size_t)w;
	}
	hash_update(x->sha, p, len);
	x->bytes += len;
	return len;
}

struct http_xfer *http_xfer_get(struct http_engine *h)
{
	struct http_xfer *x = h->free_list;

	if (x) {
		h->free_list = x->next_free;
		x->next_free = NULL;
		return x;
	}
	if (h->n_all == h->cap_all) {
		size_t cap = h->cap_all ? h->cap_all * 2 : 64;
		struct http_xfer **all = realloc(h->all, cap * sizeof *all);

		if (!all)
			return NULL;
		h->all = all;
		h->cap_all = cap;
	}
	x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->easy = curl_easy_init();
	if (!x->easy) {
		free(x);
		return NULL;
	}
	x->engine = h;
	x->sink_fd = -1;
	/* What every transfer shares; per-transfer options are set at start. */
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Close connections idle a minute (curl's default is two): servers drop
	 * them about then anyway, and curl checks every idle one each second. */
	curl_easy_setopt(x->easy, CURLOPT_MAXAGE_CONN, 60L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "skugen/" SKUGEN_VERSION);
	if (!h->env_proxy) {
		curl_easy_setopt(x->easy, CURLOPT_PROXY, "");
		curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "");
	}
	curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, open_cb);
	curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, h);
	curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
	curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETDATA, h);
	h->all[h->n_all++] = x;
	return x;
}

int http_xfer_start(struct http_xfer *x, const struct http_opts *o, struct err *e)
{
	CURL *c = x->easy;
	bool https = strncasecmp(o->url, "https:", 6) == 0;
	CURLMcode mc;

	buf_reset(&x->resp);
	x->result = CURLE_OK;
	x->status = 0;
	x->errbuf[0] = '\0';
	x->too_big = x->bad_type = x->io_error = false;
	x->content_type[0] = '\0';
	x->sha256[0] = '\0';
	x->bytes = 0;
	x->max_bytes = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES;
	x->sink_fd = o->sink_fd;
	x->allowed_types = o->allowed_types;
	if (o->sink_fd >= 0) {
		if (!x->sha && !(x->sha = hash_new()))
			return err_set(e, ERR_NOMEM, "out of memory");
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_sink);
		curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_bytes);
	} else {
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_mem);
		curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
	}
	curl_easy_setopt(c, CURLOPT_URL, o->url);
	if (strcmp(o->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(o->method, "POST") == 0 || strcmp(o->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body ? o->body : "");
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method[1] == 'U' ? "PUT" : NULL);
	} else {
		return err_set(e, ERR_INTERNAL, "http: unsupported method %s", o->method);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, o->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_time_s > 0 ? 1024L : 0L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, o->follow ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, o->sink_fd >= 0 ? 1L : 0L);
	/* Wait for a connection that can multiplex rather than open another
	 * (HTTP/2 over TLS); plain http stays HTTP/1.1, one request per
	 * connection at a time, connections kept alive. */
	curl_easy_setopt(c, CURLOPT_PIPEWAIT, https ? 1L : 0L);
	if (x->sink_fd >= 0)
		hash_final_hex(x->sha, x->sha256); /* reset the context */
	x->sha256[0] = '\0';
	x->started_ms = http_now_ms();
	mc = curl_multi_add_handle(x->engine->multi, c);
	if (mc != CURLM_OK)
		return err_set(e, ERR_INTERNAL, "http: %s", curl_multi_strerror(mc));
	x->active = true;
	x->engine->active++;
	return 0;
}

void http_xfer_put(struct http_xfer *x)
{
	struct http_engine *h;

	if (!x)
		return;
	h = x->engine;
	if (x->active) {
		curl_multi_remove_handle(h->multi, x->easy);
		x->active = false;
		h->active--;
	}
	if (x->resp.cap > (1u << 20))
		buf_free(&x->resp);
	x->on_done = NULL;
	x->ctx = NULL;
	x->tag = 0;
	x->sink_fd = -1;
	x->next_free = h->free_list;
	h->free_list = x;
}

const char *http_xfer_header(struct http_xfer *x, const char *name)
{
	struct curl_header *hd;

	if (curl_easy_header(x->easy, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	if (hd->amount > 1 &&
	    curl_easy_header(x->easy, name, hd->amount - 1, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	return hd->value;
}

long http_engine_timeout(const struct http_engine *h)
{
	double left;

	if (h->deadline < 0)
		return -1;
	left = h->deadline - http_now_ms();
	return left <= 0 ? 0 : (long)ceil(left);
}

size_t http_engine_active(const struct http_engine *h)
{
	return h->active;
}

/* Hand every finished transfer to its owner. */
static int collect(struct http_engine *h)
{
	CURLMsg *m;
	int left, n = 0;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct http_xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		x->result = m->data.result;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		curl_multi_remove_handle(h->multi, x->easy);
		x->active = false;
		h->active--;
		if (x->sink_fd >= 0) {
			if (x->result == CURLE_OK && x->bytes == 0 && !type_allowed(x)) {
				x->bad_type = true;
				x->result = CURLE_WRITE_ERROR;
			}
			hash_final_hex(x->sha, x->sha256);
		}
		n++;
		if (x->on_done)
			x->on_done(x);
	}
	return n;
}

int http_engine_step(struct http_engine *h, long timeout_ms)
{
	struct epoll_event ev[MAX_EVENTS];
	long t = http_engine_timeout(h);
	int n, running;

	if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
		timeout_ms = t;
	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	n = epoll_wait(h->epfd, ev, MAX_EVENTS, (int)timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		unsigned char *st = (size_t)ev[i].data.fd < h->n_fds ? &h->fds[ev[i].data.fd] : NULL;
		int flags = 0;

		if (st && (*st & FD_PARKED)) {
			/* An idle connection stirred (the server closed it): stop
			 * watching; curl finds out when it next looks at it. */
			*st &= (unsigned char)~FD_PARKED;
			watch(h, ev[i].data.fd, st, 0);
			continue;
		}

		if (ev[i].events & (EPOLLIN | EPOLLHUP))
			flags |= CURL_CSELECT_IN;
		if (ev[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (ev[i].events & EPOLLERR)
			flags |= CURL_CSELECT_ERR;
		if (curl_multi_socket_action(h->multi, ev[i].data.fd, flags, &running) != CURLM_OK)
			return -1;
	}
	if (h->deadline >= 0 && http_now_ms() >= h->deadline) {
		h->deadline = -1.0;
		if (curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
			return -1;
	}
	return collect(h);
}
