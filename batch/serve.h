/* serve.h: `skugen serve`, the HTTP API (libmicrohttpd).
 *
 *   GET  /healthz                the store answers: 200 {"status": "ok"}, else 503
 *   POST /v1/regenerate          {"skus": [...], "outputs": [...], "force": bool}
 *                                -> 202 {"job_id": N}; the job runs as a child
 *                                `skugen regen --run N ...`
 *   GET  /v1/jobs/{id}           the job: state, task counts, results, errors
 *   POST /v1/webhooks/fal        a fal webhook, verified by its Ed25519
 *                                signature (webhook_fal.h) and user id
 *                                (fal_user_id: 403), completing the task that
 *                                waits for it; a request id is taken once (the
 *                                same body again: 200, nothing done; another
 *                                body: 409)
 *
 * Everything but /healthz and the webhook needs "Authorization: Bearer
 * TOKEN" (the token is compared in constant time).  Errors are JSON:
 *   {"error": {"status": 400, "message": "...", "field": "skus[2]"}}
 * Robustness: bodies over max_body_bytes get 413 (at once when the length is
 * announced, else at the body's end; a chunked body past four times the
 * limit has its connection closed), connections are capped in all and per
 * client address, a connection idle for idle_timeout_s is closed, and one
 * that takes longer than request_timeout_s to send a request (a slow
 * client) is dropped.
 */
#ifndef SKUGEN_SERVE_H
#define SKUGEN_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "batch/settings.h"
#include "batch/store.h"
#include "common/err.h"

struct serve_opts {
	const char *listen;          /* "ADDR:PORT" (IPv4, or [IPv6]); port 0 picks one */
	const char *token;           /* the bearer token (borrowed, not empty) */
	size_t max_body_bytes;       /* default 1 MiB */
	unsigned max_connections;    /* default 256 */
	unsigned max_per_client;     /* connections per client address, default 32 */
	unsigned idle_timeout_s;     /* default 15 */
	unsigned request_timeout_s;  /* default 30 */
	unsigned threads;            /* default 4 */
	unsigned max_skus;           /* per regenerate request, default 1000 */
	unsigned max_jobs;           /* jobs running at once, default 8; 429 beyond */
	const char *fal_jwks;        /* JWKS file or URL; NULL: the webhook answers 404 */
	long jwks_refresh_s;         /* default 3600 */
	const char *fal_user_id;     /* the only X-Fal-Webhook-User-Id taken (403
					for another); NULL or "": any */
	const char *config_path;     /* handed to the regen children (--config) */
	const char *exe;             /* the skugen binary for the children: /proc/self/exe */
	const char *log_dir;         /* where each job's output goes (job-N.log);
					default HOME/serve-jobs of the store */
	const struct settings *settings;  /* borrowed: outputs, store target */
	char *owned_jwks, *owned_log_dir; /* what serve_opts_free frees */
};

/* Read the configuration's "serve" object into o (defaults for what is
 * absent), with located errors for bad values.  Strings are borrowed from
 * s, or new and freed by serve_opts_free (resolved paths). */
int serve_opts_from_settings(struct serve_opts *o, const struct settings *s, struct err *e);
void serve_opts_free(struct serve_opts *o);

struct serve;

/* Connect to the store, load the webhook keys (when configured) and start
 * listening.  *out is new: stop it with serve_stop. */
int serve_start(struct serve **out, const struct serve_opts *o, struct err *e);

/* The port it listens on (useful with port 0). */
unsigned serve_port(const struct serve *s);

/* What went wrong at start without stopping it (fal's JWKS URL did not
 * answer), or NULL.  Borrowed. */
const char *serve_warning(const struct serve *s);

/* Stop listening, wait for the handlers and the reaper; regen children
 * already started run on.  Accepts NULL. */
void serve_stop(struct serve *s);

#endif
