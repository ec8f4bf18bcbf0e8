/* retry.c: which failures are worth another attempt, and how long to wait.
 *
 * Retried: 429 rate_limit_exceeded, 408, 409, 5xx, Anthropic's 529
 * overloaded, timeouts and broken connections, malformed answers.  Not
 * retried, because another attempt would fail the same way or spend money
 * for nothing: 429 insufficient_quota (and other spend limits), 400, 401,
 * 403, 404, 413, 422, truncations and refusals, TLS verification failures.
 * The wait is the server's (retry-after-ms, Retry-After) when it gives one,
 * else exponential backoff with full jitter (AWS's "Exponential Backoff And
 * Jitter": uniform in [0, min(cap, base * 2^n))), which spreads a herd of
 * retries out instead of moving it.
 */
#include "providers/prov_int.h"

#include <math.h>
#include <string.h>

const char *prov_error_name(enum prov_error e)
{
	switch (e) {
	case PROV_OK: return "ok";
	case PROV_TRUNCATED: return "truncated";
	case PROV_REFUSED: return "refused";
	case PROV_RATE_LIMITED: return "rate_limited";
	case PROV_QUOTA: return "quota";
	case PROV_AUTH: return "auth";
	case PROV_BAD_REQUEST: return "bad_request";
	case PROV_SERVER: return "server";
	case PROV_TIMEOUT: return "timeout";
	case PROV_NETWORK: return "network";
	case PROV_BAD_ANSWER: return "bad_answer";
	case PROV_CIRCUIT_OPEN: return "circuit_open";
	case PROV_CANCELLED: return "cancelled";
	}
	return "unknown";
}

static bool is_quota(const char *s)
{
	return s && (strcmp(s, "insufficient_quota") == 0 ||
		     strcmp(s, "billing_hard_limit_reached") == 0 ||
		     strcmp(s, "billing_not_active") == 0 ||
		     strcmp(s, "access_terminated") == 0);
}

enum prov_error prov_classify_status(long status, const char *code, const char *type)
{
	if (status == 429)
		return is_quota(code) || is_quota(type) ? PROV_QUOTA : PROV_RATE_LIMITED;
	if (status == 401 || status == 403)
		return PROV_AUTH;
	if (status == 402)
		return PROV_QUOTA;
	if (status == 408)
		return PROV_TIMEOUT;
	if (status == 409 || status >= 500)
		return PROV_SERVER;
	if (status >= 400)
		return PROV_BAD_REQUEST;
	return PROV_BAD_ANSWER; /* 1xx/3xx where an answer was due */
}

enum prov_error prov_classify_curl(CURLcode c, bool *retry)
{
	*retry = true;
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return PROV_TIMEOUT;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_BAD_CONTENT_ENCODING:
		*retry = false;
		return PROV_NETWORK;
	default:
		return PROV_NETWORK;
	}
}

bool prov_error_retryable(enum prov_error e)
{
	switch (e) {
	case PROV_RATE_LIMITED:
	case PROV_SERVER:
	case PROV_TIMEOUT:
	case PROV_NETWORK:
	case PROV_BAD_ANSWER:
		return true;
	default:
		return false;
	}
}

bool prov_error_unhealthy(enum prov_error e)
{
	return e == PROV_SERVER || e == PROV_TIMEOUT || e == PROV_NETWORK;
}

/* xorshift64*: jitter needs spread, not secrecy. */
static double uniform01(unsigned long long *s)
{
	unsigned long long x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return (double)((x * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

double prov_backoff_ms(int attempt, double base_ms, double max_ms, unsigned long long *rng)
{
	double cap = base_ms * ldexp(1.0, attempt > 1 ? (attempt - 1 > 30 ? 30 : attempt - 1) : 0);

	if (cap > max_ms)
		cap = max_ms;
	return cap * uniform01(rng);
}
