/* provider.h: remote generation through OpenAI, Anthropic and fal on one
 * libcurl multi engine, at the providers' rate limits, with retries, circuit
 * breakers and the cost of every attempt.
 *
 * A struct prov_pool holds every configured provider.  Calls are submitted
 * (never blocking), wait behind their provider's token buckets, run as
 * HTTP transfers on the calling thread's one curl multi handle, are retried
 * when the failure is transient, and end in exactly one done() callback with
 * a struct prov_outcome.  Everything happens on the thread that calls
 * prov_pool_run(); the pool is not thread-safe (use one per worker thread).
 *
 * Configuration (the "providers" object; every key is checked, unknown keys
 * are errors naming their path, e.g. "providers.claude.rpm: ..."):
 *
 *   "NAME": {
 *     "type": "openai" | "anthropic" | "fal",
 *     "base_url": "https://api.openai.com/v1",   (openai: + "/chat/completions";
 *                                                 anthropic: + "/v1/messages";
 *                                                 fal: + "/" + model id)
 *     "api_key_env": "OPENAI_API_KEY",  the environment variable holding the key
 *                                       (required for anthropic and fal; optional
 *                                       for openai-compatible local servers)
 *     "rpm": 5000, "tpm": 2000000,      requests and tokens per minute per model
 *                                       (0 or absent: unlimited)
 *     "burst_s": 1,                     bucket depth in seconds of rate (default 1:
 *                                       providers enforce per-minute limits in
 *                                       short quanta)
 *     "max_attempts": 5, "timeout_s": 120, "connect_timeout_s": 10,
 *                                       timeout_s bounds each request (an LLM
 *                                       answers nothing until it is done, so no
 *                                       low-speed limit there); fal downloads
 *                                       also abort below 1 KB/s for 30 s
 *     "max_in_flight": 512,
 *     "backoff_ms": 500, "backoff_max_ms": 30000, "max_retry_after_s": 120,
 *     "circuit": {"failures": 5, "cooldown_s": 30},
 *     "prices": {"MODEL" or "*": {"input_per_mtok", "output_per_mtok",
 *                "cached_per_mtok", "per_image" | "per_video_second",
 *                "per_request"}},
 *                                       no "prices" object: the provider is free
 *                                       (a local server); with one, a call for a
 *                                       model it does not price is refused
 *     openai:    "api_key_header": "Authorization" (sent as "Bearer KEY"; any
 *                other name, e.g. "api-key" for Azure-style gateways, carries
 *                the bare key), "max_tokens_field": "max_completion_tokens"
 *                (or "max_tokens" for older compatible servers)
 *     anthropic: "version": "2023-06-01", "max_tokens": 1024 (default when
 *                params has none; the API requires it)
 *     fal:       "poll_ms": 1000, "download_dir": "...", "max_download_bytes",
 *                "content_types": ["image/", "video/"], "job_timeout_s": 1800,
 *                "webhook_url": "https://host/v1/webhooks/fal" (answers by
 *                webhook: see outcome.pending), "webhook_timeout_s": 3600 (then
 *                the executor polls the request instead)
 *   }
 *
 * Secrets: keys are read from the environment at open, kept in memory and
 * sent only in request headers, and only to base_url's origin.  They never
 * appear in messages, outcomes or attempt logs (messages from providers are
 * scrubbed of anything that looks like a key).
 */
#ifndef SKUGEN_PROVIDER_H
#define SKUGEN_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "common/err.h"

struct prov_pool;

enum prov_error {
	PROV_OK,
	PROV_TRUNCATED,     /* finish_reason length / stop_reason max_tokens: never a success */
	PROV_REFUSED,       /* the model refused; message carries its text */
	PROV_RATE_LIMITED,  /* 429 rate_limit_exceeded (retried) */
	PROV_QUOTA,         /* 429 insufficient_quota, spend limit (not retried) */
	PROV_AUTH,          /* 401, 403 (not retried) */
	PROV_BAD_REQUEST,   /* 400, 404, 413, 422 (not retried) */
	PROV_SERVER,        /* 409, 5xx, 529 overloaded (retried) */
	PROV_TIMEOUT,       /* 408, client timeout (retried) */
	PROV_NETWORK,       /* connection failed or broke off (retried) */
	PROV_BAD_ANSWER,    /* malformed JSON, schema mismatch, bad file (retried when
	                       a new attempt can help) */
	PROV_CIRCUIT_OPEN,  /* the provider's circuit breaker is open: failed fast */
	PROV_CANCELLED,     /* prov_pool_cancel_all() or prov_pool_free() */
};

/* What a call ended with.  Passed to done(); every pointer is borrowed and
 * valid only until done() returns: copy what must outlive it. */
struct prov_outcome {
	bool ok;
	enum prov_error error;        /* PROV_OK when ok; else the final error */
	const char *message;          /* NULL when ok; else why, e.g. "openai: 429
	                                 insufficient_quota: You exceeded your current
	                                 quota" (scrubbed: never a key) */
	const char *content;          /* the answer (NULL when !ok): text; for a schema
	                                 call the JSON text, validated; fal: JSON of the
	                                 result plus "files": [{url, path, sha256,
	                                 content_type, bytes}] already downloaded */
	size_t content_len;
	const char *model_version;    /* system_fingerprint (else the answering model
	                                 id); anthropic: the model id; fal: NULL */
	const char *request_id;       /* x-request-id / request-id / fal request_id of
	                                 the last attempt; may be NULL */
	long long tokens_in, tokens_out, tokens_cached, tokens_reasoning;
	                              /* summed over attempts: what the call consumed */
	int attempts;                 /* HTTP attempts made (0 when failed before any) */
	double latency_ms;            /* submit to outcome */
	double cost;                  /* sum over attempts of the priced usage, billed
	                                 failures included (truncations, refusals, bad
	                                 answers) */
	bool pending;                 /* fal with webhook_url: ok, but the job is only
	                                 queued at fal (request_id names it); its
	                                 answer comes by webhook, or by a later call
	                                 with resume_id */
	const json_t *attempts_log;   /* array, one object per attempt: {attempt, status,
	                                 error, message, tokens_in, tokens_out,
	                                 tokens_cached, tokens_reasoning, units, cost,
	                                 request_id, retry_after_ms, latency_ms}: the
	                                 cost ledger's rows.  fal: one per submission
	                                 (polls and downloads are not attempts). */
};

/* One call.  Everything is borrowed for the duration of prov_submit() only:
 * strings are copied, JSON values referenced (json_incref; do not modify them
 * until done() fires). */
struct prov_call {
	const char *provider;         /* a key of the providers configuration */
	const char *model;            /* model name; fal: the model id "fal-ai/flux/dev" */
	const char *system;           /* NULL allowed */
	const char *user;             /* the prompt; fal: becomes input.prompt when the
	                                 input has none */
	const json_t *schema;         /* NULL, or a JSON Schema object for structured
	                                 output (openai: response_format json_schema
	                                 strict; anthropic: a forced tool); the answer
	                                 is validated against it */
	const json_t *params;         /* NULL or an object: temperature, top_p, seed,
	                                 max_tokens (sent as max_completion_tokens to
	                                 openai), anything else is passed through */
	const json_t *input;          /* fal: the model's input object */
	const char *resume_id;        /* fal: finish this earlier request instead of
	                                 submitting (never pays twice): */
	const json_t *resume_result;  /* its result (a webhook's payload): files are
	                                 downloaded; NULL: poll its status and result */
	const char *cancel_id;        /* fal: only ask fal to cancel this earlier
	                                 request (model: the one it was submitted to);
	                                 one attempt (two when the first failed
	                                 transiently), at most 10 s each.  ok with
	                                 content "cancelled" (fal took the
	                                 cancellation), "completed" (ALREADY_COMPLETED:
	                                 it ran and is billed) or "not_found" (fal
	                                 does not know the request); else not ok, the
	                                 message saying why.  Nothing is billed. */
	void (*done)(void *ctx, const struct prov_outcome *o);
	                              /* called exactly once, from prov_pool_run(),
	                                 prov_pool_cancel_all() or prov_pool_free(); it may
	                                 call prov_submit(), not the other pool functions */
	void *ctx;
};

/* Open every provider of providers_cfg (borrowed; a JSON object, may be empty).
 * *out is new: free with prov_pool_free().  ERR_CONFIG names the key path
 * ("providers.claude.rpm: expected a number >= 0") or the unset environment
 * variable ("providers.openai.api_key_env: OPENAI_API_KEY is not set"). */
int prov_pool_open(struct prov_pool **out, const json_t *providers_cfg, struct err *e);

/* Queue a call.  Never blocks and never calls done() itself.  On -1
 * (ERR_INPUT: unknown provider, no model, invalid UTF-8, unpriced model, or
 * a done() of prov_pool_cancel_all resubmitting) nothing was queued and
 * done() will not be called. */
int prov_submit(struct prov_pool *p, const struct prov_call *c, struct err *e);

/* Drive the engine: admit queued calls as limits allow, wait up to timeout_ms
 * (< 0: until something happens) for network activity or the next timer,
 * complete transfers, fire done() callbacks.  One wait per call: loop on it
 * while it returns > 0.  Returns the number of calls still pending (0: idle,
 * returns at once), or -1 on a fatal engine error (epoll or curl multi
 * failed). */
int prov_pool_run(struct prov_pool *p, int timeout_ms);

/* Calls submitted whose done() has not fired yet. */
size_t prov_pool_pending(const struct prov_pool *p);

/* False when provider is unknown or its circuit is open (or half-open with
 * its single probe already out): a call now would fail with
 * PROV_CIRCUIT_OPEN. */
bool prov_pool_available(const struct prov_pool *p, const char *provider);

/* Estimated tokens in text, for dry runs and budgets: ASCII bytes / 4, plus
 * one half per 2-byte UTF-8 character (accented Latin, Cyrillic, Greek...)
 * and one per longer character (CJK and the like), rounded up.  BPE
 * tokenizers land within about 20% of this on product copy, mostly below
 * it.  NULL counts 0. */
long long prov_estimate_tokens(const char *text);

/* The price of a usage of provider/model from the configured price table:
 * (tokens_in - tokens_cached) * input + tokens_cached * cached (input's
 * price when not set) + tokens_out * output, per million, plus units *
 * per_image or per_video_second (whichever the model has), plus per_request.
 * A free provider (no "prices") costs 0.  ERR_INPUT for an unknown provider
 * or an unpriced model. */
int prov_price(const struct prov_pool *p, const char *provider, const char *model,
	       long long tokens_in, long long tokens_out, long long tokens_cached,
	       double units, double *cost, struct err *e);

/* Stop: every pending call ends with done(PROV_CANCELLED) before this
 * returns; fal jobs already submitted are cancelled (PUT cancel_url), waiting
 * up to 5 s for those requests to go out. */
void prov_pool_cancel_all(struct prov_pool *p);

/* The same for the pending calls whose ctx which(ctx, arg) picks; the others
 * go on untouched.  which NULL: every call.  Calls picked by a which are
 * given up for good (their run was cancelled): a fal job that such a call
 * was finishing (resume_id) is cancelled at fal too, where a worker merely
 * stopping (which NULL, prov_pool_cancel_all) leaves it to its task. */
void prov_pool_cancel_if(struct prov_pool *p, bool (*which)(void *ctx, void *arg), void *arg);

/* Cancel what is pending (as prov_pool_cancel_all) and free.  Accepts NULL. */
void prov_pool_free(struct prov_pool *p);

/* "ok", "truncated", "refused", "rate_limited", "quota", "auth",
 * "bad_request", "server", "timeout", "network", "bad_answer",
 * "circuit_open", "cancelled": static strings, for ledgers and reports. */
const char *prov_error_name(enum prov_error e);

#endif
