/* fake_akeneo.c: a fake Akeneo PIM (REST API 7.x, products by uuid) for the
 * akeneo connector's tests and benchmark, on libmicrohttpd.  It follows
 * Akeneo's API description (spec/akeneo/akeneo-web-api.json) strictly, so
 * that a client that works against it sends what the description says:
 *
 *   POST  /api/oauth/v1/token           password and refresh_token grants;
 *                                       HTTP Basic client id and secret;
 *                                       JSON or form body; 400/415/422 as
 *                                       documented
 *   GET   /api/rest/v1/products-uuid     pagination_type page or search_after
 *                                       (opaque random cursors), limit 1..100,
 *                                       search on updated, uuid, family,
 *                                       enabled and the identifier attribute,
 *                                       attributes/locales/scope value filters,
 *                                       absolute _links
 *   PATCH /api/rest/v1/products-uuid     application/vnd.akeneo.collection+json,
 *                                       at most 100 lines, one status per line
 *                                       (400 malformed, 413 too long, 422
 *                                       validation with errors[])
 *   GET   /api/rest/v1/products-uuid/{uuid}
 *   POST  /api/rest/v1/media-files       multipart/form-data: product + file
 *   GET   /api/rest/v1/media-files/{code}[/download]
 * Every /api/rest request needs "Authorization: Bearer <token>" (401 with
 * Akeneo's body otherwise; tokens expire after --token-ttl seconds).
 *
 * Test hooks (no authentication):
 *   GET  /_fake/stats             counters, the request log, PATCH lines,
 *                                 uploaded media (JSON)
 *   GET  /_fake/products/{uuid}   a product as stored now
 *   POST /_fake/revoke            invalidate every access token (refresh
 *                                 tokens stay valid): the next request gets 401
 *
 * Usage: fake_akeneo [--port N] [--products FILE.jsonl] [options]
 *   --port N            0 (default): pick a free port; prints
 *                       "listening on http://127.0.0.1:PORT" and flushes
 *   --products FILE     products, one Akeneo product JSON per line
 *   --client-id S --secret S --username S --password S
 *                       credentials (default client/secret/admin/admin)
 *   --token-ttl S       access token lifetime in seconds (default 3600)
 *   --latency-ms N      delay before answering each /api request
 *   --rate N            more than N /api/rest requests in one second: 429
 *   --429-every N       every Nth /api/rest request: 429 (Retry-After below)
 *   --retry-after S     the Retry-After of those 429s (default 1)
 *   --500-every N       every Nth /api/rest request: 500
 *   --drop-every N      every Nth /api/rest request: the connection is
 *                       closed halfway through the answer
 *   --attribute C=TYPE[:localizable][:scopable]
 *                       declare an attribute (others are inferred from the
 *                       products: attribute_type, else the data's shape)
 *   --identifier C      the identifier attribute (default: the one typed
 *                       pim_catalog_identifier, else "sku")
 *   --link-base URL     write _links with this base instead of our own
 *                       (to test that clients refuse to follow them)
 *   --threads N         ignored (one thread per connection)
 * Runs until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/buf.h"
#include "common/hash.h"

#define LOG_MAX 20000
#define PATCH_LOG_MAX 2000
#define MAX_BODY ((size_t)64 << 20)
#define LINE_MAX_CHARS 1000000

/* ---- options ------------------------------------------------------------- */

static struct {
	int port;
	const char *products;
	const char *client_id, *secret, *username, *password;
	long token_ttl;
	long latency_ms;
	long rate, every_429, every_500, drop_every;
	long retry_after;
	const char *identifier;
} opt = {
	.client_id = "client", .secret = "secret", .username = "admin", .password = "admin",
	.token_ttl = 3600, .retry_after = 1,
};

/* ---- state (all under mu) ------------------------------------------------- */

struct product {
	char *uuid;
	json_t *obj;       /* Akeneo product JSON, without _links */
	double updated;
	char *dump;        /* cached JSON with _links, or NULL */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct product *products;
static size_t nproducts, cap_products;
static json_t *by_identifier;   /* identifier -> uuid */
static json_t *attrs;           /* code -> {type, localizable, scopable} */
static json_t *tokens;          /* access token -> expiry (real, epoch) */
static json_t *refresh_tokens;  /* refresh token -> true */
static json_t *cursors;         /* cursor -> uuid of the last item sent */
static json_t *media;           /* code -> {identifier, attribute, ..., sha256, size} */
static json_t *media_bytes;     /* code -> index into blobs */
static struct buf *blobs;
static size_t nblobs;
static json_t *req_log;         /* array */
static json_t *patch_log;       /* array of arrays of lines */
static json_t *issued;          /* access tokens issued (array), for tests */
static const char *id_attr = "sku";
static char base_url[64];
static const char *link_base;   /* --link-base, or NULL: base_url */
static double started_at;

static struct {
	unsigned long api_requests, token_password, token_refresh, token_refused;
	unsigned long unauthorized, rate_limited, server_errors, drops, bad_cursors;
	unsigned long pages, patch_requests, patch_lines, media_uploads, validation_errors;
	long in_flight, max_in_flight;
	unsigned long rate_second, rate_count;
} st;

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void iso_time(double t, char out[32])
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

/* "2016-06-25T17:56:12+02:00", "...Z", or "2016-06-25 17:56:12" (UTC). */
static int parse_time(const char *s, double *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0, zh = 0, zm = 0;
	const char *p;
	long off = 0;

	if (!s || sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    !n)
		return -1;
	p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		if (sscanf(p + 1, "%2d:%2d", &zh, &zm) != 2)
			return -1;
		off = (zh * 3600L + zm * 60L) * (*p == '+' ? 1 : -1);
	} else if (*p && strcmp(p, "Z") != 0) {
		return -1;
	}
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (double)(timegm(&tm) - off);
	return 0;
}

static void random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	FILE *f = fopen("/dev/urandom", "rb");

	if (nbytes > sizeof b)
		nbytes = sizeof b;
	if (!f || fread(b, 1, nbytes, f) != nbytes) {
		for (size_t i = 0; i < nbytes; i++)
			b[i] = (unsigned char)rand();
	}
	if (f)
		fclose(f);
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

/* ---- products ----------------------------------------------------------------- */

static int cmp_product(const void *a, const void *b)
{
	return strcmp(((const struct product *)a)->uuid, ((const struct product *)b)->uuid);
}

static struct product *find_product(const char *uuid)
{
	struct product key = { .uuid = (char *)uuid };

	return bsearch(&key, products, nproducts, sizeof *products, cmp_product);
}

/* First index whose uuid is > uuid. */
static size_t upper_bound(const char *uuid)
{
	size_t lo = 0, hi = nproducts;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(products[mid].uuid, uuid) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const char *identifier_of(const json_t *obj)
{
	const json_t *arr = json_object_get(json_object_get(obj, "values"), id_attr), *x;
	size_t i;

	json_array_foreach(arr, i, x)
		if (json_is_string(json_object_get(x, "data")))
			return json_string_value(json_object_get(x, "data"));
	return json_string_value(json_object_get(obj, "identifier"));
}

/* Declare or refine an attribute from a value's data and its locale/scope. */
static void infer_attr(const char *code, const json_t *entry)
{
	json_t *a = json_object_get(attrs, code);
	const json_t *d = json_object_get(entry, "data");
	const char *type = json_string_value(json_object_get(entry, "attribute_type"));

	if (!a) {
		if (!type) {
			if (json_is_string(d))
				type = strcmp(code, id_attr) == 0 ? "pim_catalog_identifier" :
				       "pim_catalog_textarea";
			else if (json_is_number(d))
				type = "pim_catalog_number";
			else if (json_is_boolean(d))
				type = "pim_catalog_boolean";
			else if (json_is_object(d))
				type = "pim_catalog_metric";
			else if (json_is_array(d) && json_is_object(json_array_get(d, 0)))
				type = "pim_catalog_price_collection";
			else
				type = "pim_catalog_multiselect";
		}
		a = json_pack("{s:s, s:b, s:b}", "type", type, "localizable", 0, "scopable", 0);
		json_object_set_new(attrs, code, a);
	}
	if (json_is_string(json_object_get(entry, "locale")))
		json_object_set_new(a, "localizable", json_true());
	if (json_is_string(json_object_get(entry, "scope")))
		json_object_set_new(a, "scopable", json_true());
}

static int add_product(json_t *obj, bool sort_now)
{
	const char *uuid = json_string_value(json_object_get(obj, "uuid"));
	const char *id, *k, *upd;
	json_t *arr, *x;
	size_t i;
	double t;
	struct product p;

	if (!uuid)
		return -1;
	json_object_foreach(json_object_get(obj, "values"), k, arr)
		json_array_foreach(arr, i, x)
			infer_attr(k, x);
	upd = json_string_value(json_object_get(obj, "updated"));
	if (!upd || parse_time(upd, &t) < 0) {
		char iso[32];

		t = floor(now_real());
		iso_time(t, iso);
		json_object_set_new(obj, "updated", json_string(iso));
	}
	if (nproducts == cap_products) {
		cap_products = cap_products ? cap_products * 2 : 1024;
		products = realloc(products, cap_products * sizeof *products);
		if (!products)
			return -1;
	}
	p.uuid = strdup(uuid);
	p.obj = obj;
	p.updated = t;
	p.dump = NULL;
	if (sort_now) {
		size_t at = upper_bound(uuid);

		memmove(products + at + 1, products + at, (nproducts - at) * sizeof *products);
		products[at] = p;
	} else {
		products[nproducts] = p;
	}
	nproducts++;
	id = identifier_of(obj);
	if (id)
		json_object_set_new(by_identifier, id, json_string(uuid));
	return 0;
}

static void touch(struct product *p)
{
	char iso[32];

	p->updated = floor(now_real());
	iso_time(p->updated, iso);
	json_object_set_new(p->obj, "updated", json_string(iso));
	free(p->dump);
	p->dump = NULL;
}

static int load_products(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;

	if (!f) {
		fprintf(stderr, "fake_akeneo: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* the identifier attribute first, if the products declare it */
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *obj = json_loadb(line, (size_t)n, 0, NULL);
		const char *k;
		json_t *arr;

		json_object_foreach(json_object_get(obj, "values"), k, arr) {
			const char *type = json_string_value(json_object_get(json_array_get(arr, 0),
									     "attribute_type"));

			if (!opt.identifier && type && strcmp(type, "pim_catalog_identifier") == 0)
				opt.identifier = strdup(k);
		}
		json_decref(obj);
		break;
	}
	if (opt.identifier)
		id_attr = opt.identifier;
	rewind(f);
	while ((n = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		json_t *obj;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)n)
			continue;
		obj = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &je);
		if (!obj || add_product(obj, false) < 0) {
			fprintf(stderr, "fake_akeneo: %s:%ld: not a product with a uuid (%s)\n", path,
				lineno, obj ? "no uuid" : je.text);
			json_decref(obj);
			free(line);
			fclose(f);
			return -1;
		}
	}
	free(line);
	fclose(f);
	qsort(products, nproducts, sizeof *products, cmp_product);
	return 0;
}

/* The product as served: with _links; the caller frees. */
static json_t *served(const struct product *p)
{
	json_t *o = json_deep_copy(p->obj);
	char href[256];

	snprintf(href, sizeof href, "%s/api/rest/v1/products-uuid/%s", base_url, p->uuid);
	json_object_set_new(o, "_links", json_pack("{s:{s:s}}", "self", "href", href));
	return o;
}

static const char *cached_dump(struct product *p)
{
	if (!p->dump) {
		json_t *o = served(p);

		p->dump = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(o);
	}
	return p->dump;
}

/* ---- answers -------------------------------------------------------------------- */

struct ctx {
	bool api;            /* counted in flight */
	json_t *body_keys;   /* token requests: the keys of the body (not the values) */
	struct buf body;
	bool too_big;
	struct MHD_PostProcessor *pp;
	struct buf form_product, form_file;
	char *filename;
	bool has_product, has_file;
};

struct answer {
	int status;
	char *body;          /* new */
	size_t len;
	const char *content_type;
	char *location;      /* new or NULL */
	long retry_after;    /* > 0: a Retry-After header */
	bool drop;
};

static void answer_json(struct answer *a, int status, json_t *j)
{
	a->status = status;
	a->body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	a->len = a->body ? strlen(a->body) : 0;
	a->content_type = "application/json";
	json_decref(j);
}

static void answer_error(struct answer *a, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void answer_error(struct answer *a, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	answer_json(a, status, json_pack("{s:i, s:s}", "code", status, "message", msg));
}

static void log_request(const char *method, const char *url, json_t *query, const char *ctype,
			const char *auth, int status, json_t *body_keys)
{
	json_t *entry;

	if (json_array_size(req_log) >= LOG_MAX) {
		json_decref(query);
		json_decref(body_keys);
		return;
	}
	entry = json_pack("{s:s, s:s, s:o, s:i, s:s?, s:s, s:f}", "method", method, "path", url,
			  "query", query ? query : json_object(), "status", status,
			  "content_type", ctype, "auth", auth,
			  "t", now_real() - started_at);
	if (body_keys)
		json_object_set_new(entry, "body_keys", body_keys);
	json_array_append_new(req_log, entry);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	json_object_set_new(cls, key, value ? json_string(value) : json_null());
	return MHD_YES;
	(void)kind;
}

static json_t *query_of(struct MHD_Connection *conn)
{
	json_t *q = json_object();

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, q);
	return q;
}

static int url_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			buf_putc(b, (char)*p);
		} else {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			buf_append(b, esc, 3);
		}
	}
	return 0;
}

/* Absolute URL of path with query q, replacing (or adding) key=value. */
static char *link_to(const char *path, const json_t *q, const char *key, const char *value)
{
	struct buf b = BUF_INIT;
	const char *k;
	json_t *v;
	char sep = '?';

	buf_printf(&b, "%s%s", link_base ? link_base : base_url, path);
	json_object_foreach((json_t *)q, k, v) {
		if (key && strcmp(k, key) == 0)
			continue;
		buf_printf(&b, "%c", sep);
		url_encode(&b, k);
		buf_putc(&b, '=');
		url_encode(&b, json_string_value(v) ? json_string_value(v) : "");
		sep = '&';
	}
	if (key && value) {
		buf_printf(&b, "%c%s=", sep, key);
		url_encode(&b, value);
	}
	return buf_steal(&b);
}

/* ---- authentication ---------------------------------------------------------------- */

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Decode base64 s into a new string, or NULL. */
static char *b64_decode(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n + 1);
	unsigned acc = 0;
	int bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		int v = b64_value(s[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return out;
}

static void issue_tokens(struct answer *a)
{
	char tok[65], ref[65];

	random_hex(tok, 24);
	random_hex(ref, 24);
	json_object_set_new(tokens, tok, json_real(now_real() + (double)opt.token_ttl));
	json_object_set_new(refresh_tokens, ref, json_true());
	json_array_append_new(issued, json_string(tok));
	answer_json(a, 200, json_pack("{s:s, s:i, s:s, s:n, s:s}", "access_token", tok,
				      "expires_in", (int)opt.token_ttl, "token_type", "bearer",
				      "scope", "refresh_token", ref));
}

/* Parse an x-www-form-urlencoded body into an object. */
static json_t *parse_form(const char *s)
{
	json_t *o = json_object();
	char *copy = strdup(s), *save = NULL;

	for (char *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');
		char *k = tok, *v = eq ? eq + 1 : (char *)"";

		if (eq)
			*eq = '\0';
		for (char **pp = (char *[]){ k, v, NULL }, **q = pp; *q; q++) {
			char *r = *q, *w = *q;

			while (*r) {
				if (*r == '+') {
					*w++ = ' ';
					r++;
				} else if (*r == '%' && r[1] && r[2]) {
					char h[3] = { r[1], r[2], 0 };

					*w++ = (char)strtol(h, NULL, 16);
					r += 3;
				} else {
					*w++ = *r++;
				}
			}
			*w = '\0';
		}
		json_object_set_new(o, k, json_string(v));
	}
	free(copy);
	return o;
}

static void token_endpoint(struct MHD_Connection *conn, struct ctx *c, struct answer *a)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	char *creds = NULL, *want = NULL;
	json_t *body = NULL;
	const char *grant;

	if (!ct || (strncasecmp(ct, "application/json", 16) != 0 &&
		    strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)) {
		answer_error(a, 415, "\xe2\x80\x98%s\xe2\x80\x99 in \xe2\x80\x98" "Content-type"
			     "\xe2\x80\x99 header is not valid.  Only \xe2\x80\x98" "application/json"
			     "\xe2\x80\x99 is allowed.", ct ? ct : "");
		goto out;
	}
	if (strncasecmp(ct, "application/json", 16) == 0)
		body = json_loadb(buf_str(&c->body), c->body.len, 0, NULL);
	else
		body = parse_form(buf_str(&c->body));
	if (!json_is_object(body)) {
		answer_error(a, 400, "Invalid JSON message received");
		goto out;
	}
	{
		const char *k;
		json_t *v;

		c->body_keys = json_array();
		json_object_foreach(body, k, v)
			json_array_append_new(c->body_keys, json_string(k));
	}
	if (asprintf(&want, "%s:%s", opt.client_id, opt.secret) < 0)
		want = NULL;
	if (auth && strncasecmp(auth, "Basic ", 6) == 0)
		creds = b64_decode(auth + 6);
	if (!creds || !want || strcmp(creds, want) != 0) {
		st.token_refused++;
		answer_error(a, 422, "Parameter \"client_id\" is missing or does not match any client, "
			     "or secret is invalid");
		goto out;
	}
	grant = json_string_value(json_object_get(body, "grant_type"));
	if (grant && strcmp(grant, "password") == 0) {
		const char *u = json_string_value(json_object_get(body, "username"));
		const char *p = json_string_value(json_object_get(body, "password"));

		if (!u || !p) {
			st.token_refused++;
			answer_error(a, 422, "Parameter \"%s\" is missing", !u ? "username" : "password");
		} else if (strcmp(u, opt.username) != 0 || strcmp(p, opt.password) != 0) {
			st.token_refused++;
			answer_error(a, 422, "No user found for the given username and password");
		} else {
			st.token_password++;
			issue_tokens(a);
		}
	} else if (grant && strcmp(grant, "refresh_token") == 0) {
		const char *r = json_string_value(json_object_get(body, "refresh_token"));

		if (!r || !json_object_get(refresh_tokens, r)) {
			st.token_refused++;
			answer_error(a, 422, "Refresh token is invalid or has expired");
		} else {
			json_object_del(refresh_tokens, r);
			st.token_refresh++;
			issue_tokens(a);
		}
	} else {
		st.token_refused++;
		answer_error(a, 422, "Parameter \"grant_type\" has to be one of \"password\" or "
			     "\"refresh_token\"");
	}
out:
	json_decref(body);
	free(creds);
	free(want);
}

/* 0 when the request carries a live token; else a 401 answer. */
static int check_bearer(struct MHD_Connection *conn, double arrived, struct answer *a)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	const json_t *exp;

	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
		answer_error(a, 401, "Authentication is required");
		return -1;
	}
	exp = json_object_get(tokens, auth + 7);
	if (!exp) {
		answer_error(a, 401, "The access token provided is invalid.");
		return -1;
	}
	if (json_real_value(exp) < arrived) {
		answer_error(a, 401, "The access token provided has expired.");
		return -1;
	}
	return 0;
}

/* ---- products-uuid: list ---------------------------------------------------------------- */

enum cond_kind { C_UPDATED, C_UUID, C_ID, C_FAMILY, C_ENABLED };

struct cond {
	enum cond_kind kind;
	char op[16];
	double t1, t2;
	json_t *set;      /* IN / NOT IN: value -> true; "=": one entry */
	bool flag;
};

struct filter {
	struct cond c[32];
	size_t n;
};

static void filter_free(struct filter *f)
{
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->c[i].set);
	f->n = 0;
}

static bool akeneo_date(const json_t *v, double *t)
{
	const char *s = json_string_value(v);
	int y, mo, d, h, mi, sec, n = 0;

	if (!s || sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    (size_t)n != strlen(s))
		return false;
	return parse_time(s, t) == 0;
}

/* Parse the search parameter; on error fill a (422) and return -1. */
static int parse_search(const char *text, struct filter *f, struct answer *a)
{
	json_t *s = json_loads(text, 0, NULL);
	const char *prop;
	json_t *conds;
	int rc = -1;

	f->n = 0;
	if (!json_is_object(s)) {
		answer_error(a, 400, "Search query parameter should be valid JSON.");
		goto out;
	}
	json_object_foreach(s, prop, conds) {
		size_t i;
		json_t *x;

		if (!json_is_array(conds)) {
			answer_error(a, 422, "Structure of filter \"%s\" should respect this structure: "
				     "{\"%s\":[{\"operator\": \"my_operator\", \"value\": \"my_value\"}]}",
				     prop, prop);
			goto out;
		}
		json_array_foreach(conds, i, x) {
			const char *op = json_string_value(json_object_get(x, "operator"));
			const json_t *v = json_object_get(x, "value");
			struct cond *c = &f->c[f->n];

			if (f->n == 32 || !op || strlen(op) >= sizeof c->op) {
				answer_error(a, 422, "Operator is missing for the property \"%s\".", prop);
				goto out;
			}
			memset(c, 0, sizeof *c);
			strcpy(c->op, op);
			if (strcmp(prop, "updated") == 0) {
				c->kind = C_UPDATED;
				if (strcmp(op, "BETWEEN") == 0 || strcmp(op, "NOT BETWEEN") == 0) {
					if (!json_is_array(v) || !akeneo_date(json_array_get(v, 0), &c->t1) ||
					    !akeneo_date(json_array_get(v, 1), &c->t2))
						goto bad_date;
				} else if (strcmp(op, ">") == 0 || strcmp(op, "<") == 0 ||
					   strcmp(op, "=") == 0 || strcmp(op, "!=") == 0) {
					if (!akeneo_date(v, &c->t1))
						goto bad_date;
				} else {
					goto bad_op;
				}
			} else if (strcmp(prop, "uuid") == 0 || strcmp(prop, id_attr) == 0 ||
				   strcmp(prop, "family") == 0) {
				size_t k;
				json_t *y;

				c->kind = strcmp(prop, "uuid") == 0 ? C_UUID :
					  strcmp(prop, "family") == 0 ? C_FAMILY : C_ID;
				c->set = json_object();
				if (strcmp(op, "IN") == 0 || strcmp(op, "NOT IN") == 0) {
					if (!json_is_array(v) || json_array_size(v) == 0 ||
					    json_array_size(v) > 800) {
						answer_error(a, 422, "Property \"%s\" expects an array with "
							     "valid data as data, \"%s\" given.", prop,
							     json_is_array(v) ? "array" : "other");
						f->n++;
						goto out;
					}
					json_array_foreach(v, k, y) {
						if (!json_is_string(y)) {
							answer_error(a, 422, "Property \"%s\" expects an "
								     "array of strings.", prop);
							f->n++;
							goto out;
						}
						json_object_set_new(c->set, json_string_value(y), json_true());
					}
				} else if (strcmp(op, "=") == 0 && c->kind == C_ID && json_is_string(v)) {
					json_object_set_new(c->set, json_string_value(v), json_true());
				} else {
					f->n++;
					goto bad_op;
				}
			} else if (strcmp(prop, "enabled") == 0 && strcmp(op, "=") == 0 &&
				   json_is_boolean(v)) {
				c->kind = C_ENABLED;
				c->flag = json_is_true(v);
			} else {
				goto bad_op;
			}
			f->n++;
		}
	}
	rc = 0;
	goto out;
bad_date:
	answer_error(a, 422, "Property \"updated\" expects a string with the format \"yyyy-mm-dd "
		     "H:i:s\" as data.");
	goto out;
bad_op:
	answer_error(a, 422, "Filter on property \"%s\" is not supported or does not support "
		     "operator \"%s\"", prop,
		     json_string_value(json_object_get(json_array_get(conds, 0), "operator")) ?
		     json_string_value(json_object_get(json_array_get(conds, 0), "operator")) : "");
out:
	json_decref(s);
	return rc;
}

static bool matches(const struct filter *f, const struct product *p)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct cond *c = &f->c[i];
		double t = p->updated;
		const char *key;
		bool in;

		switch (c->kind) {
		case C_UPDATED:
			if ((strcmp(c->op, ">") == 0 && !(t > c->t1)) ||
			    (strcmp(c->op, "<") == 0 && !(t < c->t1)) ||
			    (strcmp(c->op, "=") == 0 && !(t == c->t1)) ||
			    (strcmp(c->op, "!=") == 0 && !(t != c->t1)) ||
			    (strcmp(c->op, "BETWEEN") == 0 && !(t >= c->t1 && t <= c->t2)) ||
			    (strcmp(c->op, "NOT BETWEEN") == 0 && (t >= c->t1 && t <= c->t2)))
				return false;
			break;
		case C_UUID:
		case C_ID:
		case C_FAMILY:
			key = c->kind == C_UUID ? p->uuid : c->kind == C_ID ? identifier_of(p->obj) :
			      json_string_value(json_object_get(p->obj, "family"));
			in = key && json_object_get(c->set, key);
			if (strcmp(c->op, "NOT IN") == 0 ? in : !in)
				return false;
			break;
		case C_ENABLED:
			if (json_is_true(json_object_get(p->obj, "enabled")) != c->flag)
				return false;
			break;
		}
	}
	return true;
}

/* Keep only the values asked for (attributes, locales, scope params). */
static void filter_values(json_t *o, const char *attributes, const char *locales,
			  const char *scope)
{
	json_t *values = json_object_get(o, "values"), *arr;
	const char *k;
	void *tmp;

	json_object_foreach_safe(values, tmp, k, arr) {
		if (attributes) {
			char *list = strdup(attributes), *save = NULL;
			bool keep = false;

			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
				keep |= strcmp(t, k) == 0;
			free(list);
			if (!keep) {
				json_object_del(values, k);
				continue;
			}
		}
		for (size_t i = json_array_size(arr); i-- > 0; ) {
			json_t *x = json_array_get(arr, i);
			const char *l = json_string_value(json_object_get(x, "locale"));
			const char *s = json_string_value(json_object_get(x, "scope"));

			if ((locales && l && !strstr(locales, l)) || (scope && s && strcmp(scope, s) != 0))
				json_array_remove(arr, i);
		}
	}
}

static const char *const list_params[] = {
	"search", "scope", "locales", "attributes", "pagination_type", "page", "search_after",
	"limit", "with_count", "with_attribute_options", "with_quality_scores",
	"with_completenesses", NULL,
};

static void list_products(struct MHD_Connection *conn, const char *path, json_t *q,
			  struct answer *a)
{
	const char *k, *ptype, *limit_s, *search, *cursor, *page_s;
	const char *attributes, *locales, *scope;
	struct filter f = { .n = 0 };
	struct buf body = BUF_INIT;
	long limit = 10, page = 1;
	size_t i = 0, sent = 0, skip = 0;
	const char *last = NULL;
	bool more = false, plain;
	char *self = NULL, *first = NULL, *next = NULL;
	json_t *v;

	json_object_foreach(q, k, v) {
		size_t j;

		for (j = 0; list_params[j]; j++)
			if (strcmp(k, list_params[j]) == 0)
				break;
		if (!list_params[j]) {
			answer_error(a, 400, "Unknown query parameter \"%s\".", k);
			goto out;
		}
	}
	ptype = json_string_value(json_object_get(q, "pagination_type"));
	if (!ptype)
		ptype = "page";
	if (strcmp(ptype, "page") != 0 && strcmp(ptype, "search_after") != 0) {
		answer_error(a, 422, "Pagination type does not exist.");
		goto out;
	}
	limit_s = json_string_value(json_object_get(q, "limit"));
	if (limit_s) {
		char *end;

		limit = strtol(limit_s, &end, 10);
		if (*end || end == limit_s || limit < 1) {
			answer_error(a, 422, "\"%s\" is not a valid limit number.", limit_s);
			goto out;
		}
		if (limit > 100) {
			answer_error(a, 422, "You cannot request more than 100 items.");
			goto out;
		}
	}
	page_s = json_string_value(json_object_get(q, "page"));
	if (page_s) {
		char *end;

		if (strcmp(ptype, "page") != 0) {
			answer_error(a, 422, "Page parameter is only for pagination_type \"page\".");
			goto out;
		}
		page = strtol(page_s, &end, 10);
		if (*end || page < 1) {
			answer_error(a, 422, "\"%s\" is not a valid page number.", page_s);
			goto out;
		}
	}
	search = json_string_value(json_object_get(q, "search"));
	if (search && parse_search(search, &f, a) < 0)
		goto out;
	cursor = json_string_value(json_object_get(q, "search_after"));
	if (cursor && strcmp(ptype, "search_after") != 0) {
		answer_error(a, 422, "search_after is only for pagination_type \"search_after\".");
		goto out;
	}
	if (cursor) {
		const char *after = json_string_value(json_object_get(cursors, cursor));

		if (!after) {
			st.bad_cursors++;
			answer_error(a, 422, "The search_after cursor \"%s\" is not valid.", cursor);
			goto out;
		}
		i = upper_bound(after);
	}
	attributes = json_string_value(json_object_get(q, "attributes"));
	locales = json_string_value(json_object_get(q, "locales"));
	scope = json_string_value(json_object_get(q, "scope"));
	plain = !attributes && !locales && !scope;
	if (strcmp(ptype, "page") == 0)
		skip = (size_t)(page - 1) * (size_t)limit;

	self = link_to(path, q, NULL, NULL);
	first = link_to(path, q, strcmp(ptype, "page") == 0 ? "page" : "search_after",
			strcmp(ptype, "page") == 0 ? "1" : NULL);
	for (; i < nproducts; i++) {
		struct product *p = &products[i];

		if (!matches(&f, p))
			continue;
		if (skip) {
			skip--;
			continue;
		}
		if (sent == (size_t)limit) {
			more = true;
			break;
		}
		if (sent)
			buf_putc(&body, ',');
		if (plain) {
			buf_puts(&body, cached_dump(p));
		} else {
			json_t *o = served(p);
			char *s;

			filter_values(o, attributes, locales, scope);
			s = json_dumps(o, JSON_COMPACT);
			buf_puts(&body, s);
			free(s);
			json_decref(o);
		}
		last = p->uuid;
		sent++;
	}
	if (more) {
		if (strcmp(ptype, "search_after") == 0) {
			char tok[65];

			random_hex(tok, 20);
			json_object_set_new(cursors, tok, json_string(last));
			next = link_to(path, q, "search_after", tok);
		} else {
			char num[32];

			snprintf(num, sizeof num, "%ld", page + 1);
			next = link_to(path, q, "page", num);
		}
	}
	{
		struct buf head = BUF_INIT;
		json_t *links = json_pack("{s:{s:s}, s:{s:s}}", "self", "href", self, "first", "href",
					  first);
		char *ls;

		if (next)
			json_object_set_new(links, "next", json_pack("{s:s}", "href", next));
		ls = json_dumps(links, JSON_COMPACT);
		json_decref(links);
		buf_puts(&head, "{\"_links\":");
		buf_puts(&head, ls);
		free(ls);
		if (strcmp(ptype, "page") == 0)
			buf_printf(&head, ",\"current_page\":%ld", page);
		buf_puts(&head, ",\"_embedded\":{\"items\":[");
		buf_append(&head, buf_str(&body), body.len);
		buf_puts(&head, "]}}");
		a->status = 200;
		a->len = head.len;
		a->body = buf_steal(&head);
		a->content_type = "application/json";
	}
	st.pages++;
out:
	(void)conn;
	filter_free(&f);
	buf_free(&body);
	free(self);
	free(first);
	free(next);
}

/* ---- products-uuid: PATCH ------------------------------------------------------------------ */

static const char *const product_props[] = {
	"uuid", "identifier", "enabled", "family", "categories", "groups", "parent", "values",
	"associations", "quantified_associations", "created", "updated", "metadata",
	"quality_scores", "completenesses", "add_categories", "remove_categories", NULL,
};

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static const char *type_name(const json_t *d)
{
	switch (json_typeof(d)) {
	case JSON_OBJECT: return "array";   /* PHP's name for it */
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "double";
	case JSON_TRUE: case JSON_FALSE: return "boolean";
	case JSON_NULL: return "NULL";
	}
	return "unknown";
}

/* Validate the values of a PATCH line: NULL when fine, else the line's
 * answer (status 422). */
static json_t *check_values(const json_t *values, long line, const char *uuid)
{
	json_t *errors = json_array();
	const char *k;
	json_t *arr;

	if (values && !json_is_object(values)) {
		json_decref(errors);
		return json_pack("{s:i, s:s, s:i, s:s}", "line", (int)line, "uuid", uuid,
				 "status_code", 422, "message",
				 "Property \"values\" expects an array as data, \"array\" given.");
	}
	json_object_foreach((json_t *)values, k, arr) {
		const json_t *a = json_object_get(attrs, k);
		const char *type = json_string_value(json_object_get(a, "type"));
		size_t i;
		json_t *x;

		if (!a) {
			json_array_append_new(errors, json_pack("{s:s, s:s, s:s}", "property", "values",
				"message", "The attribute does not exist in your PIM.", "attribute", k));
			continue;
		}
		if (!json_is_array(arr)) {
			json_decref(errors);
			return json_pack("{s:i, s:s, s:i, s:s}", "line", (int)line, "uuid", uuid,
					 "status_code", 422, "message",
					 "Property \"values\" expects an array of values per attribute.");
		}
		json_array_foreach(arr, i, x) {
			const json_t *loc = json_object_get(x, "locale");
			const json_t *sc = json_object_get(x, "scope");
			const json_t *d = json_object_get(x, "data");
			bool want_loc = json_is_true(json_object_get(a, "localizable"));
			bool want_sc = json_is_true(json_object_get(a, "scopable"));
			char msg[512];
			bool text, ok;

			if (!json_is_object(x) || !json_object_get(x, "locale") ||
			    !json_object_get(x, "scope") || !json_object_get(x, "data") ||
			    json_object_size(x) != 3) {
				char m[256];

				snprintf(m, sizeof m, "Property \"%s\" expects an array with the keys "
					 "\"locale\", \"scope\" and \"data\".", k);
				json_decref(errors);
				return json_pack("{s:i, s:s, s:i, s:s}", "line", (int)line, "uuid", uuid,
						 "status_code", 422, "message", m);
			}
			if (want_loc != json_is_string(loc)) {
				snprintf(msg, sizeof msg, want_loc ? "The %s attribute requires a locale." :
					 "The %s attribute does not require a locale, \"%s\" was detected.",
					 k, json_string_value(loc) ? json_string_value(loc) : "");
				json_array_append_new(errors, json_pack("{s:s, s:s, s:s, s:O, s:O}",
					"property", "values", "message", msg, "attribute", k, "locale", loc,
					"scope", sc));
				continue;
			}
			if (want_sc != json_is_string(sc)) {
				snprintf(msg, sizeof msg, want_sc ? "The %s attribute requires a channel." :
					 "The %s attribute does not require a channel, \"%s\" was detected.",
					 k, json_string_value(sc) ? json_string_value(sc) : "");
				json_array_append_new(errors, json_pack("{s:s, s:s, s:s, s:O, s:O}",
					"property", "values", "message", msg, "attribute", k, "locale", loc,
					"scope", sc));
				continue;
			}
			if (json_is_null(d))
				continue;
			text = strcmp(type, "pim_catalog_text") == 0 ||
			       strcmp(type, "pim_catalog_textarea") == 0 ||
			       strcmp(type, "pim_catalog_identifier") == 0 ||
			       strcmp(type, "pim_catalog_simpleselect") == 0 ||
			       strcmp(type, "pim_catalog_date") == 0 ||
			       strcmp(type, "pim_catalog_image") == 0 ||
			       strcmp(type, "pim_catalog_file") == 0;
			if (text)
				ok = json_is_string(d);
			else if (strcmp(type, "pim_catalog_number") == 0)
				ok = json_is_number(d) || json_is_string(d);
			else if (strcmp(type, "pim_catalog_boolean") == 0)
				ok = json_is_boolean(d);
			else if (strcmp(type, "pim_catalog_metric") == 0)
				ok = json_is_object(d);
			else
				ok = json_is_array(d);
			if (!ok) {
				char m[512];

				snprintf(m, sizeof m, "Property \"%s\" expects a%s as data, \"%s\" given.",
					 k, text ? " string" : strcmp(type, "pim_catalog_number") == 0 ?
					 " numeric" : strcmp(type, "pim_catalog_boolean") == 0 ?
					 " boolean" : "n array", type_name(d));
				json_decref(errors);
				return json_pack("{s:i, s:s, s:i, s:s, s:{s:{s:s}}}", "line", (int)line,
						 "uuid", uuid, "status_code", 422, "message", m, "_links",
						 "documentation", "href",
						 "http://api.akeneo.com/api-reference-paas-70.html");
			}
			if ((strcmp(type, "pim_catalog_text") == 0 && utf8_chars(json_string_value(d)) > 255) ||
			    (strcmp(type, "pim_catalog_textarea") == 0 &&
			     utf8_chars(json_string_value(d)) > 65535)) {
				snprintf(msg, sizeof msg, "This value is too long. It should have %d "
					 "characters or less.",
					 strcmp(type, "pim_catalog_text") == 0 ? 255 : 65535);
				json_array_append_new(errors, json_pack("{s:s, s:s, s:s, s:O, s:O}",
					"property", "values", "message", msg, "attribute", k, "locale", loc,
					"scope", sc));
			}
			if ((strcmp(type, "pim_catalog_image") == 0 ||
			     strcmp(type, "pim_catalog_file") == 0) &&
			    !json_object_get(media, json_string_value(d))) {
				snprintf(msg, sizeof msg, "The file \"%s\" does not exist.",
					 json_string_value(d));
				json_array_append_new(errors, json_pack("{s:s, s:s, s:s, s:O, s:O}",
					"property", "values", "message", msg, "attribute", k, "locale", loc,
					"scope", sc));
			}
		}
	}
	if (json_array_size(errors) == 0) {
		json_decref(errors);
		return NULL;
	}
	return json_pack("{s:i, s:s, s:i, s:s, s:o}", "line", (int)line, "uuid", uuid,
			 "status_code", 422, "message", "Validation failed.", "errors", errors);
}

/* Set one value entry (same locale and scope replaced) in product obj. */
static void set_value(json_t *obj, const char *attr, const json_t *entry)
{
	json_t *values = json_object_get(obj, "values"), *arr, *x;
	size_t i;

	if (!json_is_object(values)) {
		values = json_object();
		json_object_set_new(obj, "values", values);
	}
	arr = json_object_get(values, attr);
	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(values, attr, arr);
	}
	json_array_foreach(arr, i, x) {
		if (json_equal(json_object_get(x, "locale"), json_object_get(entry, "locale")) &&
		    json_equal(json_object_get(x, "scope"), json_object_get(entry, "scope"))) {
			json_object_set(x, "data", json_object_get(entry, "data"));
			return;
		}
	}
	json_array_append_new(arr, json_pack("{s:O, s:O, s:O}", "locale",
					     json_object_get(entry, "locale"), "scope",
					     json_object_get(entry, "scope"), "data",
					     json_object_get(entry, "data")));
}

static json_t *patch_line(const char *text, size_t len, long line, json_t *logged)
{
	json_t *obj, *res = NULL, *values, *arr, *x;
	const char *uuid, *k;
	struct product *p;
	size_t i;
	bool created = false;

	if (len > LINE_MAX_CHARS)
		return json_pack("{s:i, s:i, s:s}", "line", (int)line, "status_code", 413, "message",
				 "Line is too long.");
	obj = json_loadb(text, len, 0, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		json_array_append_new(logged, json_string("(malformed)"));
		return json_pack("{s:i, s:i, s:s}", "line", (int)line, "status_code", 400, "message",
				 "Invalid json message received");
	}
	json_array_append(logged, obj);
	uuid = json_string_value(json_object_get(obj, "uuid"));
	if (!uuid) {
		res = json_pack("{s:i, s:i, s:s}", "line", (int)line, "status_code", 422, "message",
				"Property \"uuid\" is required.");
		goto out;
	}
	json_object_foreach(obj, k, x) {
		for (i = 0; product_props[i]; i++)
			if (strcmp(product_props[i], k) == 0)
				break;
		if (!product_props[i]) {
			char m[256];

			snprintf(m, sizeof m, "Property \"%s\" does not exist.", k);
			res = json_pack("{s:i, s:s, s:i, s:s}", "line", (int)line, "uuid", uuid,
					"status_code", 422, "message", m);
			goto out;
		}
	}
	values = json_object_get(obj, "values");
	if ((res = check_values(values, line, uuid)))
		goto out;
	p = find_product(uuid);
	if (!p) {
		json_t *fresh = json_pack("{s:s, s:b, s:n, s:[], s:[], s:n, s:{}}", "uuid", uuid,
					  "enabled", 1, "family", "categories", "groups", "parent",
					  "values");

		add_product(fresh, true);
		p = find_product(uuid);
		created = true;
	}
	json_object_foreach(values, k, arr)
		json_array_foreach(arr, i, x)
			set_value(p->obj, k, x);
	if (json_object_get(obj, "family"))
		json_object_set(p->obj, "family", json_object_get(obj, "family"));
	if (json_object_get(obj, "categories"))
		json_object_set(p->obj, "categories", json_object_get(obj, "categories"));
	if (json_object_get(obj, "enabled"))
		json_object_set(p->obj, "enabled", json_object_get(obj, "enabled"));
	touch(p);
	{
		const char *id = identifier_of(p->obj);

		if (id)
			json_object_set_new(by_identifier, id, json_string(p->uuid));
	}
	res = json_pack("{s:i, s:s, s:i}", "line", (int)line, "uuid", uuid, "status_code",
			created ? 201 : 204);
out:
	if (json_is_object(res) && json_integer_value(json_object_get(res, "status_code")) == 422)
		st.validation_errors++;
	json_decref(obj);
	return res;
}

static void patch_products(struct MHD_Connection *conn, struct ctx *c, struct answer *a)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	const char *p = buf_str(&c->body), *end = p + c->body.len;
	struct buf out = BUF_INIT;
	json_t *logged = json_array();
	long line = 0, lines = 0;

	if (!ct || strcmp(ct, "application/vnd.akeneo.collection+json") != 0) {
		answer_error(a, 415, "\xe2\x80\x98%s\xe2\x80\x99 in \xe2\x80\x98" "Content-type"
			     "\xe2\x80\x99 header is not valid.  Only \xe2\x80\x98"
			     "application/vnd.akeneo.collection+json\xe2\x80\x99 is allowed.",
			     ct ? ct : "");
		json_decref(logged);
		return;
	}
	for (const char *q = p; q < end; q++)
		lines += *q == '\n';
	lines += c->body.len && end[-1] != '\n';
	if (lines > 100) {
		answer_error(a, 413, "Too many resources to process, 100 is the maximum allowed.");
		json_decref(logged);
		return;
	}
	st.patch_requests++;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_t *res;
		char *s;

		line++;
		res = patch_line(p, len, line, logged);
		s = json_dumps(res, JSON_COMPACT);
		if (out.len)
			buf_putc(&out, '\n');
		buf_puts(&out, s);
		free(s);
		json_decref(res);
		st.patch_lines++;
		p += len + (nl ? 1 : 0);
	}
	if (json_array_size(patch_log) < PATCH_LOG_MAX)
		json_array_append(patch_log, logged);
	json_decref(logged);
	a->status = 200;
	a->len = out.len;
	a->body = buf_steal(&out);
	a->content_type = "application/vnd.akeneo.collection+json";
}

/* ---- media files ---------------------------------------------------------------------- */

static enum MHD_Result form_part(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *filename, const char *content_type,
				 const char *transfer_encoding, const char *data, uint64_t off,
				 size_t size)
{
	struct ctx *c = cls;

	if (strcmp(key, "product") == 0) {
		c->has_product = true;
		buf_append(&c->form_product, data, size);
	} else if (strcmp(key, "file") == 0) {
		c->has_file = true;
		if (filename && !c->filename)
			c->filename = strdup(filename);
		if (c->form_file.len + size > MAX_BODY)
			c->too_big = true;
		else
			buf_append(&c->form_file, data, size);
	}
	return MHD_YES;
	(void)kind, (void)content_type, (void)transfer_encoding, (void)off;
}

static void upload_media(struct MHD_Connection *conn, struct ctx *c, struct answer *a)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	json_t *prod = NULL, *attr;
	const char *id, *uuid, *code_attr;
	const json_t *loc, *sc;
	struct product *p = NULL;
	char hex[HASH_HEX_LEN], code[512], href[700];
	bool want_loc, want_sc;

	if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0 || !c->pp) {
		answer_error(a, 415, "\xe2\x80\x98%s\xe2\x80\x99 in \xe2\x80\x98" "Content-type"
			     "\xe2\x80\x99 header is not valid.  Only \xe2\x80\x98" "multipart/form-data"
			     "\xe2\x80\x99 is allowed.", ct ? ct : "");
		goto out;
	}
	if (!c->has_file) {
		answer_error(a, 422, "Property \"file\" is required.");
		goto out;
	}
	if (!c->has_product) {
		answer_error(a, 422, "You should at least give one of the following properties: "
			     "\"product\" or \"product_model\".");
		goto out;
	}
	prod = json_loadb(buf_str(&c->form_product), c->form_product.len, 0, NULL);
	if (!json_is_object(prod)) {
		answer_error(a, 400, "Invalid JSON message received");
		goto out;
	}
	id = json_string_value(json_object_get(prod, "identifier"));
	uuid = json_string_value(json_object_get(prod, "uuid"));
	code_attr = json_string_value(json_object_get(prod, "attribute"));
	loc = json_object_get(prod, "locale");
	sc = json_object_get(prod, "scope");
	if ((!id && !uuid) || !code_attr || !loc || !sc) {
		answer_error(a, 422, "Property \"product\" expects the keys \"identifier\", "
			     "\"attribute\", \"scope\" and \"locale\".");
		goto out;
	}
	if (id && !uuid)
		uuid = json_string_value(json_object_get(by_identifier, id));
	p = uuid ? find_product(uuid) : NULL;
	if (!p) {
		answer_error(a, 422, "Product \"%s\" does not exist.", id ? id : uuid);
		goto out;
	}
	attr = json_object_get(attrs, code_attr);
	if (!attr) {
		answer_error(a, 422, "Attribute \"%s\" does not exist.", code_attr);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(attr, "type")), "pim_catalog_image") != 0 &&
	    strcmp(json_string_value(json_object_get(attr, "type")), "pim_catalog_file") != 0) {
		answer_error(a, 422, "Attribute \"%s\" is not a media attribute.", code_attr);
		goto out;
	}
	want_loc = json_is_true(json_object_get(attr, "localizable"));
	want_sc = json_is_true(json_object_get(attr, "scopable"));
	if (want_loc != json_is_string(loc) || want_sc != json_is_string(sc)) {
		answer_error(a, 422, "Validation failed: the %s attribute %s a locale and %s a channel.",
			     code_attr, want_loc ? "requires" : "does not take",
			     want_sc ? "requires" : "does not take");
		goto out;
	}
	sha256_hex(c->form_file.data ? c->form_file.data : "", c->form_file.len, hex);
	{
		char rnd[41];

		/* like Akeneo's: a fresh code for every upload */
		random_hex(rnd, 20);
		snprintf(code, sizeof code, "%c/%c/%c/%c/%s_%s", rnd[0], rnd[1], rnd[2], rnd[3],
			 rnd + 4, c->filename ? c->filename : "file");
	}
	if (!json_object_get(media_bytes, code)) {
		blobs = realloc(blobs, (nblobs + 1) * sizeof *blobs);
		blobs[nblobs] = c->form_file;
		memset(&c->form_file, 0, sizeof c->form_file);
		json_object_set_new(media_bytes, code, json_integer((json_int_t)nblobs++));
	}
	json_object_set_new(media, code, json_pack("{s:s, s:s?, s:s, s:O, s:O, s:s, s:I, s:s?}",
		"code", code, "identifier", id, "attribute", code_attr, "locale", loc, "scope", sc,
		"sha256", hex, "size", (json_int_t)blobs[json_integer_value(json_object_get(
		media_bytes, code))].len, "filename", c->filename));
	{
		json_t *entry = json_pack("{s:O, s:O, s:s}", "locale", loc, "scope", sc, "data", code);

		set_value(p->obj, code_attr, entry);
		json_decref(entry);
		touch(p);
	}
	st.media_uploads++;
	snprintf(href, sizeof href, "%s/api/rest/v1/media-files/%s", base_url, code);
	a->status = 201;
	a->body = strdup("");
	a->len = 0;
	a->content_type = "application/json";
	a->location = strdup(href);
out:
	json_decref(prod);
}

static void get_media(const char *code, bool download, struct answer *a)
{
	const json_t *m = json_object_get(media, code);
	const json_t *idx = json_object_get(media_bytes, code);

	if (!m || !idx) {
		answer_error(a, 404, "Media file \"%s\" does not exist.", code);
		return;
	}
	if (download) {
		const struct buf *b = &blobs[json_integer_value(idx)];

		a->status = 200;
		a->len = b->len;
		a->body = malloc(b->len ? b->len : 1);
		memcpy(a->body, b->data ? b->data : "", b->len);
		a->content_type = "application/octet-stream";
		return;
	}
	answer_json(a, 200, json_pack("{s:s, s:s, s:I}", "code", code, "original_filename",
				      json_string_value(json_object_get(m, "filename")) ?
				      json_string_value(json_object_get(m, "filename")) : "file",
				      "size", json_integer_value(json_object_get(m, "size"))));
}

/* ---- stats ------------------------------------------------------------------------------ */

static void stats(struct answer *a)
{
	json_t *s = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			      " s:I, s:I, s:I}",
		"api_requests", (json_int_t)st.api_requests,
		"token_password", (json_int_t)st.token_password,
		"token_refresh", (json_int_t)st.token_refresh,
		"token_refused", (json_int_t)st.token_refused,
		"unauthorized", (json_int_t)st.unauthorized,
		"rate_limited", (json_int_t)st.rate_limited,
		"server_errors", (json_int_t)st.server_errors,
		"drops", (json_int_t)st.drops,
		"bad_cursors", (json_int_t)st.bad_cursors,
		"pages", (json_int_t)st.pages,
		"patch_requests", (json_int_t)st.patch_requests,
		"patch_lines", (json_int_t)st.patch_lines,
		"media_uploads", (json_int_t)st.media_uploads,
		"validation_errors", (json_int_t)st.validation_errors,
		"in_flight", (json_int_t)st.in_flight,
		"max_in_flight", (json_int_t)st.max_in_flight,
		"products", (json_int_t)nproducts);
	json_t *m = json_array();
	const char *k;
	json_t *v;

	json_object_foreach(media, k, v)
		json_array_append(m, v);
	json_object_set(s, "log", req_log);
	json_object_set(s, "patches", patch_log);
	json_object_set(s, "tokens_issued", issued);
	json_object_set_new(s, "media", m);
	json_object_set_new(s, "cursors_issued", json_integer((json_int_t)json_object_size(cursors)));
	answer_json(a, 200, s);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static ssize_t drop_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct answer *a = cls;
	size_t half = a->len / 2;

	if (pos >= half)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (max > half - pos)
		max = half - (size_t)pos;
	memcpy(buf, a->body + pos, max);
	return (ssize_t)max;
}

static void drop_free(void *cls)
{
	struct answer *a = cls;

	free(a->body);
	free(a);
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, struct answer *a)
{
	struct MHD_Response *resp;
	enum MHD_Result r;
	char ra[32];

	if (!a->body) {
		a->status = 500;
		a->body = strdup("{\"code\":500,\"message\":\"fake out of memory\"}");
		a->len = strlen(a->body);
		a->content_type = "application/json";
	}
	if (a->drop && a->len >= 2) {
		struct answer *copy = malloc(sizeof *copy);

		*copy = *a;
		a->body = NULL;
		resp = MHD_create_response_from_callback(copy->len, 4096, drop_reader, copy, drop_free);
	} else {
		resp = MHD_create_response_from_buffer(a->len, a->body, MHD_RESPMEM_MUST_FREE);
		a->body = NULL;
	}
	if (!resp)
		return MHD_NO;
	if (a->content_type)
		MHD_add_response_header(resp, "Content-Type", a->content_type);
	if (a->location)
		MHD_add_response_header(resp, "Location", a->location);
	if (a->retry_after > 0) {
		snprintf(ra, sizeof ra, "%ld", a->retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	r = MHD_queue_response(conn, (unsigned)a->status, resp);
	MHD_destroy_response(resp);
	free(a->location);
	return r;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) < 0)
		;
}

static void route(struct MHD_Connection *conn, const char *url, const char *method, struct ctx *c,
		  struct answer *a)
{
	static const char *const prefix = "/api/rest/v1/products-uuid";
	static const char *const mprefix = "/api/rest/v1/media-files/";
	const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");

	if (strcmp(method, "GET") == 0 && accept && !strstr(accept, "application/json") &&
	    !strstr(accept, "*/*")) {
		answer_error(a, 406, "\xe2\x80\x98%s\xe2\x80\x99 in \xe2\x80\x98" "Accept\xe2\x80\x98 "
			     "header is not valid. Only \xe2\x80\x98" "application/json\xe2\x80\x98 "
			     "is allowed.", accept);
		return;
	}
	if (strcmp(url, prefix) == 0) {
		if (strcmp(method, "GET") == 0) {
			json_t *q = query_of(conn);

			list_products(conn, url, q, a);
			json_decref(q);
			return;
		}
		if (strcmp(method, "PATCH") == 0) {
			patch_products(conn, c, a);
			return;
		}
		answer_error(a, 405, "No route found for \"%s %s\": Method Not Allowed (Allow: GET, "
			     "PATCH, POST)", method, url);
		return;
	}
	if (strncmp(url, prefix, strlen(prefix)) == 0 && url[strlen(prefix)] == '/' &&
	    !strchr(url + strlen(prefix) + 1, '/')) {
		struct product *p = find_product(url + strlen(prefix) + 1);

		if (strcmp(method, "GET") != 0) {
			answer_error(a, 405, "No route found for \"%s %s\": Method Not Allowed (Allow: "
				     "GET, PATCH, DELETE)", method, url);
		} else if (!p) {
			answer_error(a, 404, "Product \"%s\" does not exist.", url + strlen(prefix) + 1);
		} else {
			answer_json(a, 200, served(p));
		}
		return;
	}
	if (strcmp(url, "/api/rest/v1/media-files") == 0) {
		if (strcmp(method, "POST") == 0)
			upload_media(conn, c, a);
		else
			answer_error(a, 405, "No route found for \"%s %s\": Method Not Allowed "
				     "(Allow: GET, POST)", method, url);
		return;
	}
	if (strncmp(url, mprefix, strlen(mprefix)) == 0 && strcmp(method, "GET") == 0) {
		char *code = strdup(url + strlen(mprefix));
		size_t n = strlen(code);
		bool download = n > 9 && strcmp(code + n - 9, "/download") == 0;

		if (download)
			code[n - 9] = '\0';
		get_media(code, download, a);
		free(code);
		return;
	}
	answer_error(a, 404, "No route found for \"%s %s\"", method, url);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct ctx *c = *con_cls;
	struct answer a = { 0 };
	const char *auth_hdr;
	const char *ct;
	bool rest;
	unsigned long nth = 0;
	double arrived;

	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c)
			return MHD_NO;
		*con_cls = c;
		ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
		if (strcmp(url, "/api/rest/v1/media-files") == 0 && strcmp(method, "POST") == 0 &&
		    ct && strncasecmp(ct, "multipart/form-data", 19) == 0)
			c->pp = MHD_create_post_processor(conn, 65536, form_part, c);
		if (strncmp(url, "/api/", 5) == 0) {
			c->api = true;
			pthread_mutex_lock(&mu);
			st.in_flight++;
			if (st.in_flight > st.max_in_flight)
				st.max_in_flight = st.in_flight;
			pthread_mutex_unlock(&mu);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (c->pp) {
			MHD_post_process(c->pp, upload_data, *upload_data_size);
		} else if (c->body.len + *upload_data_size > MAX_BODY) {
			c->too_big = true;
		} else {
			buf_append(&c->body, upload_data, *upload_data_size);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	rest = strncmp(url, "/api/rest/", 10) == 0;
	arrived = now_real();   /* a token is checked as of the request's arrival */
	if ((rest || strncmp(url, "/api/oauth/", 11) == 0) && opt.latency_ms > 0)
		sleep_ms(opt.latency_ms);
	pthread_mutex_lock(&mu);
	if (c->too_big) {
		answer_error(&a, 413, "Request Entity Too Large");
	} else if (strcmp(url, "/_fake/stats") == 0) {
		stats(&a);
	} else if (strncmp(url, "/_fake/products/", 16) == 0) {
		struct product *p = find_product(url + 16);

		if (p)
			answer_json(&a, 200, json_deep_copy(p->obj));
		else
			answer_error(&a, 404, "no product %s", url + 16);
	} else if (strcmp(url, "/_fake/revoke") == 0 && strcmp(method, "POST") == 0) {
		json_object_clear(tokens);
		answer_json(&a, 200, json_pack("{s:b}", "revoked", 1));
	} else if (strcmp(url, "/api/oauth/v1/token") == 0) {
		if (strcmp(method, "POST") == 0)
			token_endpoint(conn, c, &a);
		else
			answer_error(&a, 405, "No route found for \"%s %s\": Method Not Allowed "
				     "(Allow: POST)", method, url);
	} else if (rest) {
		unsigned long sec = (unsigned long)now_real();

		st.api_requests++;
		nth = st.api_requests;
		if (sec != st.rate_second) {
			st.rate_second = sec;
			st.rate_count = 0;
		}
		st.rate_count++;
		if (check_bearer(conn, arrived, &a) < 0) {
			st.unauthorized++;
		} else if ((opt.rate > 0 && st.rate_count > (unsigned long)opt.rate) ||
			   (opt.every_429 > 0 && nth % (unsigned long)opt.every_429 == 0)) {
			st.rate_limited++;
			answer_error(&a, 429, "You have exceeded the limit of API requests per second.");
			a.retry_after = opt.retry_after;
		} else if (opt.every_500 > 0 && nth % (unsigned long)opt.every_500 == 0) {
			st.server_errors++;
			answer_error(&a, 500, "Internal Server Error");
		} else {
			route(conn, url, method, c, &a);
			if (opt.drop_every > 0 && nth % (unsigned long)opt.drop_every == 0) {
				st.drops++;
				a.drop = true;
			}
		}
	} else {
		answer_error(&a, 404, "No route found for \"%s %s\"", method, url);
	}
	if (strncmp(url, "/api/", 5) == 0) {
		auth_hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		log_request(method, url, query_of(conn),
			    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
			    !auth_hdr ? "none" : strncasecmp(auth_hdr, "Bearer ", 7) == 0 ? "bearer" :
			    strncasecmp(auth_hdr, "Basic ", 6) == 0 ? "basic" : "other", a.status,
			    c->body_keys);
		c->body_keys = NULL;
	}
	pthread_mutex_unlock(&mu);
	return send_answer(conn, &a);
	(void)cls, (void)version;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct ctx *c = *con_cls;

	if (!c)
		return;
	if (c->api) {
		pthread_mutex_lock(&mu);
		st.in_flight--;
		pthread_mutex_unlock(&mu);
	}
	if (c->pp)
		MHD_destroy_post_processor(c->pp);
	json_decref(c->body_keys);
	buf_free(&c->body);
	buf_free(&c->form_product);
	buf_free(&c->form_file);
	free(c->filename);
	free(c);
	*con_cls = NULL;
	(void)cls, (void)conn, (void)toe;
}

/* ---- main ----------------------------------------------------------------------------------- */

static int declare_attribute(const char *spec)
{
	char *copy = strdup(spec), *eq = strchr(copy, '='), *save = NULL, *type;
	json_t *a;

	if (!eq) {
		free(copy);
		return -1;
	}
	*eq = '\0';
	type = strtok_r(eq + 1, ":", &save);
	if (!type) {
		free(copy);
		return -1;
	}
	a = json_pack("{s:s, s:b, s:b}", "type", type, "localizable", 0, "scopable", 0);
	for (char *f = strtok_r(NULL, ":", &save); f; f = strtok_r(NULL, ":", &save))
		json_object_set_new(a, f, json_true());
	json_object_set_new(attrs, copy, a);
	free(copy);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: fake_akeneo [--port N] [--products FILE.jsonl] [--client-id S] "
		"[--secret S]\n  [--username S] [--password S] [--token-ttl S] [--latency-ms N] "
		"[--rate N]\n  [--429-every N] [--retry-after S] [--500-every N] [--drop-every N]\n"
		"  [--attribute CODE=TYPE[:localizable][:scopable]] [--identifier CODE]\n");
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "products", required_argument, NULL, 'f' },
		{ "client-id", required_argument, NULL, 'c' },
		{ "secret", required_argument, NULL, 's' },
		{ "username", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'w' },
		{ "token-ttl", required_argument, NULL, 't' },
		{ "latency-ms", required_argument, NULL, 'l' },
		{ "rate", required_argument, NULL, 'r' },
		{ "429-every", required_argument, NULL, '4' },
		{ "retry-after", required_argument, NULL, 'a' },
		{ "500-every", required_argument, NULL, '5' },
		{ "drop-every", required_argument, NULL, 'd' },
		{ "attribute", required_argument, NULL, 'A' },
		{ "identifier", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 'T' },
		{ "link-base", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	sigset_t set;
	int o, sig;

	by_identifier = json_object();
	attrs = json_object();
	tokens = json_object();
	refresh_tokens = json_object();
	cursors = json_object();
	media = json_object();
	media_bytes = json_object();
	req_log = json_array();
	patch_log = json_array();
	issued = json_array();
	while ((o = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (o) {
		case 'p': opt.port = atoi(optarg); break;
		case 'f': opt.products = optarg; break;
		case 'c': opt.client_id = optarg; break;
		case 's': opt.secret = optarg; break;
		case 'u': opt.username = optarg; break;
		case 'w': opt.password = optarg; break;
		case 't': opt.token_ttl = atol(optarg); break;
		case 'l': opt.latency_ms = atol(optarg); break;
		case 'r': opt.rate = atol(optarg); break;
		case '4': opt.every_429 = atol(optarg); break;
		case 'a': opt.retry_after = atol(optarg); break;
		case '5': opt.every_500 = atol(optarg); break;
		case 'd': opt.drop_every = atol(optarg); break;
		case 'A':
			if (declare_attribute(optarg) < 0) {
				usage();
				return 2;
			}
			break;
		case 'i': opt.identifier = optarg; break;
		case 'T': break;
		case 'L': link_base = optarg; break;
		default:
			usage();
			return 2;
		}
	}
	if (optind < argc && !opt.products)
		opt.products = argv[optind++];
	if (optind < argc)
		opt.port = atoi(argv[optind++]);
	if (opt.identifier)
		id_attr = opt.identifier;
	if (opt.products && load_products(opt.products) < 0)
		return 1;
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	started_at = now_real();

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)opt.port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
			     (uint16_t)opt.port, NULL, NULL, handle, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "fake_akeneo: cannot listen on 127.0.0.1:%d\n", opt.port);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", info ? info->port : 0);
	/* serialise every product now, so that pages cost a copy, not a dump:
	 * the fake must not be what a benchmark measures */
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nproducts; i++)
		cached_dump(&products[i]);
	pthread_mutex_unlock(&mu);
	printf("listening on %s\n", base_url);
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	for (size_t i = 0; i < nproducts; i++) {
		free(products[i].uuid);
		free(products[i].dump);
		json_decref(products[i].obj);
	}
	free(products);
	for (size_t i = 0; i < nblobs; i++)
		buf_free(&blobs[i]);
	free(blobs);
	json_decref(by_identifier);
	json_decref(attrs);
	json_decref(tokens);
	json_decref(refresh_tokens);
	json_decref(cursors);
	json_decref(media);
	json_decref(media_bytes);
	json_decref(req_log);
	json_decref(patch_log);
	json_decref(issued);
	return 0;
}
