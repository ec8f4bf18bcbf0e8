/* ratelimit.c: token buckets and rate-limit header parsing (see ratelimit.h).
 *
 * Headers, and what they do to a bucket:
 *   x-ratelimit-limit-requests / -tokens (OpenAI): the server's per-minute
 *     limit; when lower than the configured rate, the bucket adopts it.
 *   x-ratelimit-remaining-requests / -tokens: what the server has left when it
 *     answered; less the calls admitted since, it caps the bucket's level.
 *   x-ratelimit-reset-requests / -tokens: Go durations until the server's
 *     bucket is full again.  With a known rate this is redundant (OpenAI's
 *     reset with nothing remaining is a whole minute, not the wait for the
 *     next request), so it is used only when no rate is known: nothing
 *     remaining then blocks until the reset.
 *   anthropic-ratelimit-{requests,tokens,input-tokens}-{limit,remaining,reset}:
 *     the same, with RFC 3339 reset times (parsed in anthropic.c).
 *   retry-after-ms, Retry-After (seconds or HTTP date): block the bucket.
 */
#include "providers/ratelimit.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#define EPS 1e-9

void prov_rl_headers_init(struct prov_rl_headers *h)
{
	h->limit_req = h->remaining_req = h->reset_req_ms = -1;
	h->limit_tok = h->remaining_tok = h->reset_tok_ms = -1;
	h->retry_after_ms = -1;
}

void prov_bucket_init(struct prov_bucket *b, double rpm, double tpm, double burst_s, double now_ms)
{
	b->burst_s = burst_s > 0 ? burst_s : 1.0;
	b->rate_req = rpm > 0 ? rpm / 60000.0 : 0;
	b->cap_req = rpm > 0 ? fmax(1.0, rpm * b->burst_s / 60.0) : 0;
	b->level_req = b->cap_req;
	b->rate_tok = tpm > 0 ? tpm / 60000.0 : 0;
	b->cap_tok = tpm > 0 ? fmax(1.0, tpm * b->burst_s / 60.0) : 0;
	b->level_tok = b->cap_tok;
	b->last_ms = now_ms;
	b->blocked_until_ms = 0;
}

static void refill(struct prov_bucket *b, double now)
{
	double dt = now - b->last_ms;

	if (dt <= 0)
		return;
	b->last_ms = now;
	if (b->rate_req > 0)
		b->level_req = fmin(b->cap_req, b->level_req + dt * b->rate_req);
	if (b->rate_tok > 0)
		b->level_tok = fmin(b->cap_tok, b->level_tok + dt * b->rate_tok);
}

double prov_bucket_wait(struct prov_bucket *b, long long tokens, double now)
{
	double w = 0;

	refill(b, now);
	if (now < b->blocked_until_ms)
		w = b->blocked_until_ms - now;
	if (b->rate_req > 0 && b->level_req < 1.0 - EPS)
		w = fmax(w, (1.0 - b->level_req) / b->rate_req);
	if (b->rate_tok > 0) {
		double need = fmin((double)tokens, b->cap_tok);

		if (b->level_tok < need - EPS)
			w = fmax(w, (need - b->level_tok) / b->rate_tok);
	}
	return w;
}

double prov_bucket_slack(const struct prov_bucket *b)
{
	double slack = 20.0;

	/* Only as long as the bucket can hold what refills meanwhile, or the
	 * wait would cost rate. */
	if (b->rate_req > 0)
		slack = fmin(slack, (b->cap_req - 1.0) / b->rate_req);
	if (b->rate_tok > 0)
		slack = 0; /* token costs vary: do not guess */
	return slack > 0 ? slack : 0;
}

void prov_bucket_take(struct prov_bucket *b, long long tokens)
{
	if (b->rate_req > 0)
		b->level_req -= 1.0;
	if (b->rate_tok > 0)
		b->level_tok -= (double)tokens;
	b->sent_req++;
	b->sent_tok += tokens > 0 ? (unsigned long long)tokens : 0;
}

void prov_bucket_adjust(struct prov_bucket *b, long long delta)
{
	if (b->rate_tok > 0)
		b->level_tok = fmin(b->cap_tok, b->level_tok - (double)delta);
	if (delta > 0)
		b->sent_tok += (unsigned long long)delta;
}

void prov_bucket_block(struct prov_bucket *b, double ms, double now)
{
	if (ms > 0 && now + ms > b->blocked_until_ms)
		b->blocked_until_ms = now + ms;
}

/* One dimension (requests or tokens) of the correction. */
static void observe_one(double *rate, double *cap, double *level, double burst_s,
			double limit, double remaining, double reset_ms,
			unsigned long long since, double now, double *blocked_until)
{
	if (limit > 0) {
		double r = limit / 60000.0;

		if (*rate <= 0 || r < *rate - EPS) {
			bool was_unlimited = *rate <= 0;

			*rate = r;
			*cap = fmax(1.0, limit * burst_s / 60.0);
			if (was_unlimited || *level > *cap)
				*level = *cap;
		}
	}
	if (remaining >= 0) {
		double corrected = remaining - (double)since;

		if (corrected < 0)
			corrected = 0;
		if (*rate > 0 && corrected < *level)
			*level = corrected;
		if (*rate <= 0 && corrected < 1 && reset_ms > 0 && now + reset_ms > *blocked_until)
			*blocked_until = now + reset_ms;
	}
}

void prov_bucket_observe(struct prov_bucket *b, const struct prov_rl_headers *h,
			 unsigned long long sent_req_at, unsigned long long sent_tok_at, double now)
{
	refill(b, now);
	observe_one(&b->rate_req, &b->cap_req, &b->level_req, b->burst_s, h->limit_req,
		    h->remaining_req, h->reset_req_ms, b->sent_req - sent_req_at, now,
		    &b->blocked_until_ms);
	observe_one(&b->rate_tok, &b->cap_tok, &b->level_tok, b->burst_s, h->limit_tok,
		    h->remaining_tok, h->reset_tok_ms, b->sent_tok - sent_tok_at, now,
		    &b->blocked_until_ms);
	if (h->retry_after_ms > 0)
		prov_bucket_block(b, h->retry_after_ms, now);
}

int prov_parse_go_duration(const char *s, double *ms)
{
	double total = 0;
	const char *p = s;
	char *end;

	if (!s || !*s)
		return -1;
	while (*p == ' ')
		p++;
	/* A bare number: seconds (some gateways send that; Go allows only "0"). */
	{
		double v = strtod(p, &end);

		if (end != p && *end == '\0' && v >= 0 && isdigit((unsigned char)*p)) {
			*ms = v * 1000.0;
			return 0;
		}
	}
	while (*p) {
		double v, unit;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		v = strtod(p, &end);
		if (end == p)
			return -1;
		p = end;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1.0;
			p += 2;
		} else if (strncmp(p, "us", 2) == 0) {
			unit = 1e-3;
			p += 2;
		} else if (strncmp(p, "\xc2\xb5s", 3) == 0 || strncmp(p, "\xce\xbcs", 3) == 0) {
			unit = 1e-3;
			p += 3;
		} else if (strncmp(p, "ns", 2) == 0) {
			unit = 1e-6;
			p += 2;
		} else if (*p == 'h') {
			unit = 3600e3;
			p++;
		} else if (*p == 'm') {
			unit = 60e3;
			p++;
		} else if (*p == 's') {
			unit = 1e3;
			p++;
		} else {
			return -1;
		}
		total += v * unit;
	}
	*ms = total;
	return 0;
}

static int digits(const char *p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

int prov_parse_rfc3339(const char *s, double *unix_ms)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, off = 0;
	double frac = 0;
	const char *p;
	time_t t;

	if (!s || strlen(s) < 20)
		return -1;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	p = s + 19;
	if (*p == '.') {
		double scale = 0.1;

		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;

		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
			return -1;
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*unix_ms = ((double)t - off + frac) * 1000.0;
	return 0;
}

int prov_parse_retry_after(const char *s, double now_unix_ms, double *ms)
{
	char *end;
	double v;
	time_t t;

	if (!s)
		return -1;
	while (*s == ' ')
		s++;
	if (isdigit((unsigned char)*s)) {
		v = strtod(s, &end);
		while (*end == ' ')
			end++;
		if (*end == '\0' && v >= 0) {
			*ms = v * 1000.0;
			return 0;
		}
	}
	t = curl_getdate(s, NULL);
	if (t == (time_t)-1)
		return -1;
	v = (double)t * 1000.0 - now_unix_ms;
	*ms = v > 0 ? v : 0;
	return 0;
}

double prov_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
