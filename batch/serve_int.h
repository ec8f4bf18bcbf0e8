/* serve_int.h: what serve.c (the daemon, routing, limits) and serve_jobs.c
 * (regenerate, job status, webhooks in the store) share.  Not a public API. */
#ifndef SKUGEN_SERVE_INT_H
#define SKUGEN_SERVE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "batch/serve.h"
#include "batch/webhook_fal.h"
#include "common/hash.h"

/* A regen child the server started and has not reaped yet. */
struct serve_child {
	struct serve_child *next;
	pid_t pid;
	long job_id;
	char *log_path;  /* new */
};

struct serve {
	struct serve_opts o;
	struct MHD_Daemon *mhd;
	unsigned port;
	struct webhook_fal_keys *keys;     /* NULL: no webhook configured */
	char token_sha[HASH_HEX_LEN];        /* of the bearer token */
	char warning[ERR_MSG_MAX + 80];    /* what went wrong at start but did not stop it */

	/* Idle store connections (one per handler thread at most in use). */
	pthread_mutex_t pool_lock;
	struct store **pool;
	size_t pool_len, pool_cap;

	/* Open connections, for the request deadline (serve.c). */
	pthread_mutex_t conns_lock;
	struct serve_conn *conns;
	pthread_t watchdog;
	bool watchdog_started;

	/* Children (serve_jobs.c). */
	pthread_mutex_t jobs_lock;
	struct serve_child *children;
	unsigned running_jobs;
	pthread_t reaper;
	bool reaper_started;
	char log_dir[4096];                /* the default log_dir, when not configured */

	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping;
};

/* One answer: a status, a JSON body (owned, may be NULL: no body) and an
 * optional extra header. */
struct serve_reply {
	unsigned status;
	json_t *body;
	const char *header, *header_value;  /* static strings */
};

/* Fill r with {"error": {"status", "message", "field"?}}.  field may be NULL. */
void serve_reply_error(struct serve_reply *r, unsigned status, const char *field,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A store connection for this request (new or pooled); give it back with
 * serve_store_put, ok false when it failed (it is then closed). */
struct store *serve_store_get(struct serve *s, struct err *e);
void serve_store_put(struct serve *s, struct store *st, bool ok);

/* The handlers.  body is the raw request body (NUL-terminated). */
void serve_regenerate(struct serve *s, const char *body, size_t len, struct serve_reply *r);
void serve_job(struct serve *s, const char *id, struct serve_reply *r);
void serve_webhook_fal(struct serve *s, const struct webhook_fal_headers *h,
		       const char *body, size_t len, struct serve_reply *r);

/* Wait ms or until serve_stop; false when the server is stopping. */
bool serve_sleep(struct serve *s, long ms);

/* The reaper thread for the regen children. */
int serve_jobs_start(struct serve *s, struct err *e);
void serve_jobs_stop(struct serve *s);

#endif
