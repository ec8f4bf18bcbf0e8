/* http.h: the HTTP engine under the providers: one libcurl multi handle
 * driven through its socket interface on an epoll set, on the calling thread.
 *
 * Thousands of transfers run at once without a thread each; connections are
 * kept and reused (HTTP/1.1 keep-alive, HTTP/2 multiplexing over TLS where
 * the server offers it); TLS peers are verified (libcurl's default, never
 * turned off); proxies come from the usual environment variables (libcurl's
 * default).  Only http and https URLs are followed.
 *
 * Transfers (struct http_xfer) are recycled with their easy handles, so a
 * steady stream of requests allocates almost nothing.  Ownership: the engine
 * owns every xfer; a caller borrows one from http_xfer_get() until it hands
 * it back with http_xfer_put().  Internal to providers/.
 */
#ifndef SKUGEN_PROV_HTTP_H
#define SKUGEN_PROV_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <curl/curl.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"

struct http_engine;

struct http_xfer {
	CURL *easy;
	struct http_engine *engine;
	/* results, valid in on_done */
	CURLcode result;
	long status;               /* HTTP status, 0 when none came */
	struct buf resp;           /* the body (API transfers; sink_fd < 0) */
	char errbuf[CURL_ERROR_SIZE];
	bool too_big;              /* aborted: over max_bytes */
	bool bad_type;             /* aborted: content type not allowed */
	char content_type[96];     /* downloads: what the server said */
	size_t bytes;              /* body bytes received */
	char sha256[HASH_HEX_LEN]; /* downloads: digest of what was written */
	double started_ms;
	/* set by the caller before http_xfer_start */
	void (*on_done)(struct http_xfer *x);
	void *ctx;                 /* the caller's */
	int tag;                   /* the caller's */
	/* engine's */
	int sink_fd;
	size_t max_bytes;
	const char *const *allowed_types;
	struct hash_ctx *sha;
	bool active;
	bool io_error;
	struct http_xfer *next_free;
};

/* What to send.  Everything is borrowed and must stay valid until on_done. */
struct http_opts {
	const char *method;              /* "GET", "POST" or "PUT" */
	const char *url;
	const struct curl_slist *headers;/* NULL: none */
	const char *body;                /* POST/PUT; NULL: empty */
	size_t body_len;
	long timeout_ms;                 /* total; 0: none */
	long connect_timeout_ms;         /* 0: libcurl's default */
	long low_speed_time_s;           /* abort below 1 KB/s for this long; 0: off */
	size_t max_bytes;                /* largest body accepted; 0: 64 MiB */
	int sink_fd;                     /* >= 0: write the body there (hashing it)
	                                    instead of into resp */
	const char *const *allowed_types;/* sink: NULL-terminated content-type prefixes
	                                    accepted; NULL: any */
	bool follow;                     /* follow redirects (downloads) */
};

/* Monotonic clock in milliseconds. */
double http_now_ms(void);

int http_engine_new(struct http_engine **out, struct err *e);

/* Abort every active transfer (on_done is not called) and free.  Accepts
 * NULL. */
void http_engine_free(struct http_engine *h);

/* How many connections to keep open in the cache. */
void http_engine_set_maxconnects(struct http_engine *h, long n);

/* A transfer to fill and start (recycled; NULL on no memory). */
struct http_xfer *http_xfer_get(struct http_engine *h);

/* Start x as o describes; on_done(x) is called from http_engine_step when it
 * ends, whatever the outcome.  -1 (nothing started) on a bad option or no
 * memory. */
int http_xfer_start(struct http_xfer *x, const struct http_opts *o, struct err *e);

/* Hand x back: aborts it when still active (on_done is then not called).
 * Accepts NULL. */
void http_xfer_put(struct http_xfer *x);

/* A response header of the finished x (the last one of that name), borrowed
 * until x is started again or put; NULL when absent. */
const char *http_xfer_header(struct http_xfer *x, const char *name);

/* Milliseconds until libcurl wants to be called, -1 when it has no timer. */
long http_engine_timeout(const struct http_engine *h);

/* Wait up to timeout_ms (less when libcurl's timer is due sooner; 0 polls;
 * < 0 waits for activity) for socket activity, drive libcurl, call on_done of the transfers that
 * ended.  Returns the number that ended, or -1 when epoll or libcurl fails. */
int http_engine_step(struct http_engine *h, long timeout_ms);

/* Transfers running now. */
size_t http_engine_active(const struct http_engine *h);

#endif
