/* prov_int.h: the insides of the provider pool, shared by the files of
 * providers/ and by the unit tests; not for the rest of skugen (which uses
 * provider.h).
 *
 * A back-end (openai.c, anthropic.c, fal.c) is a `const struct prov_ops`
 * in the NULL-terminated prov_backends[] (pool.c).  It builds a call's
 * request once at submit (prepare), starts an attempt (start) and, when its
 * transfers end, reports the attempt to the pool with prov_attempt_end(),
 * which prices it, logs it, and retries or finishes the call.
 *
 * Ownership: the pool owns providers, buckets and calls (struct prov_req);
 * a back-end owns what it hangs on pv->conf and r->st and frees them in
 * close and req_free.
 */
#ifndef SKUGEN_PROV_INT_H
#define SKUGEN_PROV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "common/buf.h"
#include "providers/http.h"
#include "providers/provider.h"
#include "providers/ratelimit.h"

struct prov_req;
struct prov_provider;

/* ---- back-ends ---------------------------------------------------------- */

struct prov_ops {
	const char *name;               /* the configuration's "type" */
	const char *version;
	const char *const *keys;        /* its own configuration keys, NULL-terminated */
	/* Read its own keys of cfg (at path "providers.NAME"), set pv->url,
	 * pv->headers, pv->conf. */
	int (*configure)(struct prov_provider *pv, const json_t *cfg, const char *path, struct err *e);
	/* Build r->body and r->est_tokens from the call (ERR_INPUT on a bad call). */
	int (*prepare)(struct prov_req *r, const struct prov_call *c, struct err *e);
	/* Start an attempt: its first transfer. */
	int (*start)(struct prov_req *r, struct err *e);
	/* A timer set with prov_timer_set(r, ..., PROV_TIMER_OPS) fired.  NULL: none. */
	void (*timer)(struct prov_req *r);
	/* The pool is cancelling r: stop its transfers (r->xfer included) and
	 * whatever runs at the provider.  NULL: the pool aborts r->xfer. */
	void (*cancel)(struct prov_req *r);
	/* Free r->st.  NULL: nothing to free. */
	void (*req_free)(struct prov_req *r);
	/* Free pv->conf.  NULL: nothing to free. */
	void (*close)(struct prov_provider *pv);
};

extern const struct prov_ops prov_openai_ops, prov_anthropic_ops, prov_fal_ops;
extern const struct prov_ops *const prov_backends[];

/* ---- prices (pricing.c) --------------------------------------------------- */

struct prov_price {
	char *model;                    /* "*" prices every model without its own entry */
	double input, output, cached;   /* per million tokens; cached < 0: input's */
	double per_image, per_video_second, per_request;
};

/* Parse a "prices" object (path "providers.NAME.prices") into pv. */
int prov_prices_parse(struct prov_provider *pv, const json_t *prices, const char *path, struct err *e);
/* The entry for model (or "*"), NULL when there is none. */
const struct prov_price *prov_price_find(const struct prov_provider *pv, const char *model);
double prov_price_apply(const struct prov_price *pr, long long tin, long long tout,
			long long tcached, double units);

/* ---- circuit breaker (circuit.c) ------------------------------------------ */

enum prov_cb_state { PROV_CB_CLOSED, PROV_CB_OPEN, PROV_CB_HALF_OPEN };
enum prov_cb_admit { PROV_CB_YES, PROV_CB_PROBE, PROV_CB_NO };

struct prov_circuit {
	int threshold;                  /* consecutive failures that open it; 0: never */
	double cooldown_ms;
	int failures;
	enum prov_cb_state state;
	double opened_ms;
	bool probe_out;
	char last[256];                 /* the failure that opened it */
};

void prov_circuit_init(struct prov_circuit *c, int threshold, double cooldown_ms);
/* Would a call be let through now?  (Does not change anything.) */
bool prov_circuit_available(const struct prov_circuit *c, double now);
/* Let a call through: PROV_CB_PROBE when it is the half-open probe. */
enum prov_cb_admit prov_circuit_admit(struct prov_circuit *c, double now);
/* An attempt ended: healthy when the provider answered at all (anything
 * but 5xx, 529, timeouts, network failures). */
void prov_circuit_record(struct prov_circuit *c, bool probe, bool healthy, const char *msg, double now);

/* ---- retries (retry.c) -------------------------------------------------- */

/* The class of an HTTP error status; code_or_type is the error body's code or
 * type ("insufficient_quota", "rate_limit_error"...), may be NULL. */
enum prov_error prov_classify_status(long status, const char *code, const char *type);
/* The class of a libcurl failure; *retry says whether trying again can help. */
enum prov_error prov_classify_curl(CURLcode c, bool *retry);
bool prov_error_retryable(enum prov_error e);
/* Delay before attempt number `attempt` + 1: exponential from base_ms,
 * capped at max_ms, with full jitter (uniform in [0, that)). */
double prov_backoff_ms(int attempt, double base_ms, double max_ms, unsigned long long *rng);
/* Attempts failing with e count against the circuit? */
bool prov_error_unhealthy(enum prov_error e);

/* ---- JSON (json.c) and schemas (jschema.c) --------------------------------- */

/* Append s as a JSON string (quoted, escaped). */
int prov_json_str(struct buf *b, const char *s);
/* Append v as compact JSON. */
int prov_json_dump(struct buf *b, const json_t *v);

/* A strict JSON scanner over text (jscan.c): walk objects and arrays, decode
 * only the strings wanted, skip (and still validate) the rest.  Every
 * function returns -1 on malformed JSON (and sets bad). */
struct jscan {
	const char *p, *end;
	int depth;
	bool first;                     /* in a container, before its first member */
	bool bad;
};

void jscan_init(struct jscan *s, const char *p, size_t len);
/* The next value's first character ('{', '[', '"', 't', 'f', 'n', a digit,
 * '-'), '\0' at the end. */
char jscan_peek(struct jscan *s);
int jscan_object(struct jscan *s);      /* enter '{' */
/* The next member: 1 with its key in key (truncated to "" when longer than
 * keylen - 1 or escaped) and the scanner at its value; 0 at '}'. */
int jscan_key(struct jscan *s, char *key, size_t keylen);
int jscan_array(struct jscan *s);       /* enter '[' */
int jscan_next(struct jscan *s);        /* 1 at the next element, 0 at ']' */
int jscan_skip(struct jscan *s);        /* over any value */
int jscan_string(struct jscan *s, struct buf *out); /* decode (out NULL: skip) */
int jscan_int(struct jscan *s, long long *v);       /* a number (null: 0) */
int jscan_end(struct jscan *s);         /* only whitespace left, all closed */

/* 0 when inst satisfies schema, else -1 with a reason in why ("$.a[2]:
 * expected string, got integer").  The subset: type (incl. arrays of types,
 * "integer"), properties, required, additionalProperties (bool or schema),
 * items, enum, const, anyOf, $ref to "#/$defs/..." or "#/definitions/...";
 * other keywords (formats, lengths, patterns) are not checked. */
int prov_schema_check(const json_t *schema, const json_t *inst, char *why, size_t whylen);

/* ---- the pool ------------------------------------------------------------ */

struct prov_provider {
	struct prov_pool *pool;
	char *name;                     /* the configuration's key */
	const struct prov_ops *ops;
	char *base_url;                 /* without a trailing slash */
	char *origin;                   /* "scheme://host:port": where the key may go */
	char *key_env;
	char *key;                      /* the secret; NULL: none */
	struct curl_slist *headers;     /* API request headers, the key's included */
	char *url;                      /* openai, anthropic: the endpoint */
	double rpm, tpm, burst_s;
	int max_attempts;
	long timeout_ms, connect_timeout_ms;
	size_t max_in_flight, in_flight;
	double backoff_ms, backoff_max_ms, max_retry_after_ms;
	struct prov_circuit circuit;
	bool priced;                    /* has a "prices" table */
	struct prov_price *prices;
	size_t n_prices;
	struct prov_bucket **buckets;   /* one per model, made on first use */
	size_t n_buckets;
	void *conf;                     /* the back-end's settings */
};

enum prov_req_state { PROV_REQ_QUEUED, PROV_REQ_ACTIVE, PROV_REQ_TIMER };
enum prov_timer_kind { PROV_TIMER_RETRY, PROV_TIMER_OPS };

struct prov_req {
	struct prov_pool *pool;
	struct prov_provider *pv;
	struct prov_bucket *bucket;
	struct prov_req *prev, *next;   /* in the bucket's queue */
	struct prov_req *all_prev, *all_next;  /* every pending call */
	size_t heap_i;                  /* in the timer heap; SIZE_MAX: not */
	double wake_ms;
	enum prov_timer_kind timer;
	enum prov_req_state state;
	char *model;
	struct buf body;                /* the request, built at submit */
	json_t *schema, *input;         /* references */
	long long est_tokens;           /* taken from the token bucket per attempt */
	void (*done)(void *ctx, const struct prov_outcome *o);
	void *ctx;
	int attempt;                    /* attempts started */
	bool probe;                     /* this attempt is the circuit's probe */
	bool holds_slot;                /* counted in pv->in_flight */
	unsigned long long sent_req_at, sent_tok_at;
	double submit_ms, attempt_ms;
	struct http_xfer *xfer;         /* the transfer of a single-request attempt */
	/* totals over attempts */
	long long tin, tout, tcached, treason;
	double cost;
	json_t *log;
	/* the last attempt, filled by the back-end */
	char request_id[128];
	char *model_version;            /* owned */
	json_t *answer;                 /* owned: the parsed answer content points into */
	char *content_owned;
	bool pending;                   /* fal: submitted, the answer comes by webhook */
	const char *content;
	size_t content_len;
	char last_msg[600];             /* the last failure, for circuit-open messages */
	void *st;                       /* the back-end's per-call state */
};

struct prov_pool {
	struct http_engine *http;
	struct prov_provider **pv;
	size_t n_pv;
	struct prov_req **heap;         /* timers: a binary min-heap on wake_ms */
	size_t n_heap, cap_heap;
	struct prov_req *all;           /* every pending call */
	size_t pending;
	size_t detached;                /* transfers no call waits for (fal cancels) */
	bool stopping;                  /* in prov_pool_cancel_all: no new calls */
	bool abandoning;                /* in prov_pool_cancel_if with a filter: the
	                                   calls are given up for good */
	unsigned long long rng;
};

/* What one attempt came to; prov_attempt_init first. */
struct prov_attempt {
	enum prov_error error;          /* PROV_OK: r->content holds the answer */
	bool retry;                     /* another attempt may help */
	long status;                    /* HTTP status, 0: none */
	char msg[600];                  /* why it failed, "NAME: ..." */
	long long tin, tout, tcached, treason;
	double units;                   /* images or video seconds, for the price */
	bool billed;                    /* the provider charged for it */
	double retry_after_ms;          /* the server's wish, < 0: none */
};

void prov_attempt_init(struct prov_attempt *a);
/* Fill a->error/retry/msg from a failed transfer (curl error) of pv. */
void prov_attempt_from_curl(struct prov_attempt *a, const struct prov_provider *pv,
			    const struct http_xfer *x);
/* r's attempt has ended: price it, log it, then retry or finish the call.
 * r may be freed by the time this returns. */
void prov_attempt_end(struct prov_req *r, struct prov_attempt *a);

/* POST r->body to pv->url with pv->headers; on_done gets the transfer with
 * ctx = r (r->xfer is it).  For single-request back-ends. */
int prov_post(struct prov_req *r, void (*on_done)(struct http_xfer *x), struct err *e);

/* Feed a response's rate-limit headers to r's bucket. */
void prov_observe_limits(struct prov_req *r, const struct prov_rl_headers *h);

/* Timers: at `at` (monotonic ms), ops->timer(r) or a retry.  -1 on no
 * memory (nothing set). */
int prov_timer_set(struct prov_req *r, double at, enum prov_timer_kind kind);
void prov_timer_clear(struct prov_req *r);

/* Star out, in place, every provider key and anything that looks like one
 * ("sk-...", "Bearer ...", "Key ...") in s. */
void prov_scrub(const struct prov_pool *p, char *s);

/* Is url at pv's origin (the only place its key may be sent)? */
bool prov_same_origin(const struct prov_provider *pv, const char *url);

/* Copy the value of header name of x into dst (size n), "" when absent. */
void prov_header_copy(struct http_xfer *x, const char *name, char *dst, size_t n);

/* A short printable excerpt of an error body for messages: control
 * characters become spaces, at most n - 1 bytes. */
void prov_excerpt(const char *s, size_t len, char *dst, size_t n);

/* Read a number (integer or real) obj[key] into *out (def when absent),
 * checking min <= value <= max; errors name path.key. */
int prov_cfg_number(const json_t *obj, const char *path, const char *key, double def,
		    double min, double max, double *out, struct err *e);
/* obj[key] a non-empty string (or absent: def, which may be NULL). */
int prov_cfg_string(const json_t *obj, const char *path, const char *key, const char *def,
		    const char **out, struct err *e);

#endif
