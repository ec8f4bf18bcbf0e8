/* ratelimit.h: token buckets for requests and tokens per minute, corrected
 * live from the providers' rate-limit headers, and the parsers for the
 * times those headers carry.  Internal to providers/.
 *
 * A bucket holds up to burst_s seconds of its rate and refills continuously,
 * so a late wake-up loses nothing.  Headers only ever slow a bucket down:
 * the configuration is the ceiling (a user may give skugen less than the
 * account's limit), the server's word is the floor.
 */
#ifndef SKUGEN_PROV_RATELIMIT_H
#define SKUGEN_PROV_RATELIMIT_H

#include <stdbool.h>

struct prov_req;

struct prov_bucket {
	char *model;                  /* owned */
	double burst_s;
	double rate_req, cap_req, level_req;  /* per ms; rate 0: unlimited */
	double rate_tok, cap_tok, level_tok;
	double last_ms;               /* last refill */
	double blocked_until_ms;      /* nothing goes before this (429, reset) */
	unsigned long long sent_req;  /* requests admitted so far */
	unsigned long long sent_tok;  /* tokens admitted so far */
	/* the queue of calls waiting to be admitted (intrusive list) */
	struct prov_req *head, *tail;
	unsigned long queued;
};

/* What one response said about the limits; a field < 0 was absent.  Times
 * are milliseconds from now. */
struct prov_rl_headers {
	double limit_req, remaining_req, reset_req_ms;
	double limit_tok, remaining_tok, reset_tok_ms;
	double retry_after_ms;
};

void prov_rl_headers_init(struct prov_rl_headers *h);

void prov_bucket_init(struct prov_bucket *b, double rpm, double tpm, double burst_s, double now_ms);

/* 0 when a call costing tokens may go now, else the milliseconds until it
 * may.  A call dearer than the whole token bucket goes when the bucket is
 * full (and leaves it in debt). */
double prov_bucket_wait(struct prov_bucket *b, long long tokens, double now_ms);

/* How much longer than needed a wait may be (ms) so that one wake-up admits
 * several calls without losing rate: up to 20 ms, while the bucket can hold
 * what refills meanwhile; 0 with a token limit. */
double prov_bucket_slack(const struct prov_bucket *b);

/* Admit one call costing tokens. */
void prov_bucket_take(struct prov_bucket *b, long long tokens);

/* The call's real usage differs from what was taken by delta tokens. */
void prov_bucket_adjust(struct prov_bucket *b, long long delta);

/* Correct the bucket from a response to a call admitted when sent_req and
 * sent_tok had the values given: requests admitted after it are not in the
 * server's count yet, so they come off what it says remains. */
void prov_bucket_observe(struct prov_bucket *b, const struct prov_rl_headers *h,
			 unsigned long long sent_req_at, unsigned long long sent_tok_at, double now_ms);

/* Nothing goes before now_ms + ms. */
void prov_bucket_block(struct prov_bucket *b, double ms, double now_ms);

/* Go's time.Duration text ("6m0s", "1.5s", "120ms", "1h2m3.5s", "20us",
 * "0s") in milliseconds.  -1 when it is not one. */
int prov_parse_go_duration(const char *s, double *ms);

/* RFC 3339 ("2024-05-01T12:00:30Z", "...30.5+02:00") as Unix milliseconds. */
int prov_parse_rfc3339(const char *s, double *unix_ms);

/* Retry-After: delay-seconds or an HTTP date (RFC 9110), as milliseconds from
 * now_unix_ms (never negative). */
int prov_parse_retry_after(const char *s, double now_unix_ms, double *ms);

/* Wall clock in Unix milliseconds. */
double prov_unix_ms(void);

#endif
