/* akeneo_int.h: internals shared by the files of the akeneo connector: the
 * HTTP engine (akeneo_http.c) and the mapping between Akeneo products and
 * skugen records (akeneo_values.c).  Not a public API: see akeneo.h.
 *
 * The engine drives every transfer of one connection through one libcurl
 * multi handle, at most AK_MAX_IN_FLIGHT at once.  A caller fills a struct
 * ak_req, submits it, and later waits for it (or for all); meanwhile the
 * engine keeps the OAuth2 token fresh and applies the retry rules:
 *   - 401: the token is refreshed and the request sent again, once;
 *   - 429: Retry-After is honoured (no new request starts until it has
 *     passed), up to AK_MAX_429 times per request;
 *   - 5xx, a refused or dropped connection, a timeout: sent again after a
 *     backoff, up to AK_MAX_ATTEMPTS attempts in all.
 * A request that runs out of attempts is done with failed set and err
 * naming the method and the URL's path (never the query, never a token).
 */
#ifndef SKUGEN_AKENEO_INT_H
#define SKUGEN_AKENEO_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "connectors/record.h"

#define AK_MAX_IN_FLIGHT 4
#define AK_MAX_ATTEMPTS 5
#define AK_MAX_429 20
#define AK_MAX_RETRY_AFTER_S 120.0
#define AK_MAX_RESPONSE ((size_t)1 << 30)

enum ak_method { AK_GET, AK_PATCH, AK_POST };

struct ak_http;

struct ak_http_opts {
	const char *base_url;       /* scheme://host[:port][/prefix], no trailing '/' */
	const char *client_id;      /* the secrets (borrowed for the call; copied) */
	const char *secret;
	const char *username;
	const char *password;
	const char *creds_from;     /* for messages: which variables held them */
	long timeout_s;             /* whole-transfer limit of one attempt */
	int max_in_flight;          /* 1..AK_MAX_IN_FLIGHT; 0 = AK_MAX_IN_FLIGHT */
};

/* One request.  The caller allocates it (ak_req_new), fills the inputs,
 * submits it and frees it with ak_req_free (which also withdraws it from
 * the engine when it is still queued or running). */
struct ak_req {
	/* Inputs (owned by the request; set before ak_submit): */
	enum ak_method method;
	char *url;                  /* absolute */
	const char *content_type;   /* static string, or NULL */
	char *body;                 /* PATCH body, or NULL */
	size_t body_len;
	char *form_product;         /* POST multipart: the "product" part (JSON text) */
	char *form_file;            /* POST multipart: the file part's path */
	size_t tag;                 /* the caller's */

	/* Outputs, valid once done: */
	bool done;
	bool failed;                /* no usable answer: err says why */
	struct err err;
	long status;                /* the final HTTP status (0 when failed) */
	struct buf resp;            /* the final answer's body */
	char *location;             /* its Location header, or NULL */
	int attempts;               /* transfers made, retries included */

	/* Engine state: */
	void *easy;
	void *hdrs;
	void *mime;
	char errbuf[256];
	double not_before;
	double retry_after;
	unsigned token_gen;
	int n429;
	bool retried_401;
	bool too_big;
	bool queued, running;
	struct ak_req *qnext;
};

/* New engine: checks the base URL and gets a first token (password grant).
 * ERR_CONFIG when Akeneo refuses the credentials (naming the variables, not
 * their values), ERR_SOURCE when it cannot be reached.  *out is new. */
int ak_http_new(struct ak_http **out, const struct ak_http_opts *o, struct err *e);
/* Free (every request still queued or running is withdrawn).  Accepts NULL. */
void ak_http_free(struct ak_http *h);

/* The base URL (borrowed). */
const char *ak_http_base(const struct ak_http *h);
/* True when url (absolute) has the base URL's scheme, host and port: the
 * token is only ever sent there. */
bool ak_http_same_origin(const struct ak_http *h, const char *url);

/* A new zeroed request (NULL on no memory); free with ak_req_free. */
struct ak_req *ak_req_new(enum ak_method method, char *url_stolen);
void ak_req_free(struct ak_http *h, struct ak_req *r);

/* Queue r; it starts as soon as a slot is free.  r must not be queued. */
void ak_submit(struct ak_http *h, struct ak_req *r);
/* Run transfers until r is done.  -1 only when the engine itself fails (no
 * memory, a libcurl error): r's own failures are in r. */
int ak_wait(struct ak_http *h, struct ak_req *r, struct err *e);
/* Run transfers until every request in rs[0..n) is done. */
int ak_wait_all(struct ak_http *h, struct ak_req **rs, size_t n, struct err *e);
/* Make progress without blocking (sends what can be sent). */
void ak_poke(struct ak_http *h);

/* Engine counters, for tests and diagnostics. */
struct ak_http_stats {
	unsigned long requests;     /* transfers started, retries included */
	unsigned long token_grants; /* password grants */
	unsigned long token_refreshes;
	unsigned long retries_429, retries_5xx, retries_conn, retries_401;
	int max_in_flight;
};
void ak_http_get_stats(const struct ak_http *h, struct ak_http_stats *s);

/* "GET", "PATCH", "POST". */
const char *ak_method_name(enum ak_method m);
/* The path of an absolute URL (no query), for messages, into dst (cap). */
void ak_url_path(const char *url, char *dst, size_t cap);
/* Append s percent-encoded (RFC 3986 unreserved kept) to b; -1 on no memory. */
int ak_url_encode(struct buf *b, const char *s);
/* Akeneo's error answer {"code", "message", "errors": [...]} as one line
 * ("422 Validation failed.; values: name: This value...") into b. */
int ak_describe_error(struct buf *b, long status, const char *body, size_t len);

/* ---- product mapping (akeneo_values.c) ----------------------------------- */

struct ak_map {
	const char *locale;         /* e.g. "en_US" */
	const char *scope;          /* e.g. "ecommerce" */
	const char *identifier;     /* the identifier attribute, or NULL: guess */
	const json_t *attributes;   /* {field: attribute} or NULL: every attribute */
	size_t max_field;
};

/* The identifier of product p (its JSON value, borrowed from p; NULL when
 * there is none): the configured attribute's value; else the "identifier"
 * property; else the value of the attribute whose attribute_type is
 * pim_catalog_identifier; else the "sku" attribute.  *attr_out (may be
 * NULL) gets the attribute it came from (borrowed), NULL for the property. */
const json_t *ak_product_identifier(const json_t *p, const char *identifier,
				    const char **attr_out);

/* Fill r (zeroed) from product p (borrowed): sku, fields (the mapped
 * values, "uuid", "family", "categories", and "sku" unless a mapped field
 * has that name) and origin "akeneo:<uuid>"; or error when the product is
 * unusable (see akeneo.h).  -1 only when memory runs out. */
int ak_product_record(const struct ak_map *m, const json_t *p, struct record *r);

/* The entry of values[attr] for exactly this locale and scope (NULL means
 * the JSON null), or NULL. */
const json_t *ak_value_entry(const json_t *p, const char *attr, const char *locale,
			     const char *scope);

/* Seconds since the epoch (UTC) of an Akeneo date: "2016-06-25T17:56:12+02:00",
 * "...Z", "2016-06-25 17:56:12" (UTC), with optional fractional seconds.
 * -1 when it does not parse. */
int ak_parse_time(const char *s, double *out);

#endif
