/* akeneo.c: the "akeneo" connector: configuration, paged reads with the
 * next page prefetched, the watermark, and write-back with overwrite
 * policies (see akeneo.h; HTTP in akeneo_http.c, mapping in
 * akeneo_values.c). */
#include "connectors/akeneo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/show.h"
#include "common/utf8.h"
#include "connectors/akeneo_int.h"

#define DEFAULT_MAX_FIELD ((size_t)1 << 20)
#define MAX_LIMIT ((json_int_t)1 << 30)
#define PATCH_LINES 100
#define LINE_MAX_CHARS 1000000   /* Akeneo's limit on one line of a PATCH */
#define LOOKUP_MAX 100
#define LOOKUP_URL_BYTES 6000    /* keep lookup URLs well under servers' 8 KiB */
#define PRODUCTS_PATH "/api/rest/v1/products-uuid"

struct ak_conn {
	struct conn base;
	struct ak_http *http;
	char *locale, *scope;
	char *identifier;            /* configured, or NULL */
	char *id_attr;               /* learned while reading, or NULL */
	json_t *attributes;          /* owned, or NULL */
	size_t page_size, max_field;

	/* reading */
	bool started, exhausted, dead, link_bad;
	struct err dead_err, link_err;
	struct ak_req *page_req;     /* the page in flight (or done, unread) */
	json_t *page;                /* the page being handed out */
	size_t page_idx;
	unsigned long pages;
	double wm;
	char *wm_str;
};

/* ---- messages ------------------------------------------------------------ */

/* Set an item's status and message (printf); -1 only on no memory. */
static int set_item(struct conn_write_item *it, enum conn_write_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_item(struct conn_write_item *it, enum conn_write_status st, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;
	int n = 0;

	it->status = st;
	free(it->message);
	it->message = NULL;
	if (!fmt)
		return 0;
	va_start(ap, fmt);
	n = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	it->message = m;
	return 0;
}

/* ---- configuration --------------------------------------------------------- */

static const char *const cfg_keys[] = {
	"type", "base_url", "client_id_env", "secret_env", "username_env", "password_env",
	"locale", "scope", "identifier", "attributes", "page_size", "timeout_s",
	"max_field_bytes", NULL,
};

/* A non-empty string option, or NULL when absent. */
static int cfg_string(const json_t *cfg, const char *name, const char **out, struct err *e)
{
	const json_t *v = json_object_get(cfg, name);
	char got[SHOW_JSON_CAP];

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		show_json(got, v);
		return err_set(e, ERR_CONFIG, "source.%s: expected a non-empty string, got %s",
			       name, got);
	}
	*out = json_string_value(v);
	return 0;
}

static int cfg_int(const json_t *cfg, const char *name, json_int_t def, json_int_t min,
		   json_int_t max, json_int_t *out, struct err *e)
{
	const json_t *v = json_object_get(cfg, name);
	char got[SHOW_JSON_CAP];

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		show_json(got, v);
		return err_set(e, ERR_CONFIG, "source.%s: expected an integer from %" JSON_INTEGER_FORMAT
			       " to %" JSON_INTEGER_FORMAT ", got %s", name, min, max, got);
	}
	*out = json_integer_value(v);
	return 0;
}

/* The value of the variable named by cfg[key] (default def): borrowed from
 * the environment; ERR_CONFIG when unset or empty. */
static int cfg_secret(const json_t *cfg, const char *key, const char *def, const char *what,
		      const char **var, const char **out, struct err *e)
{
	const char *v;
	char shown[SHOW_CAP];

	if (cfg_string(cfg, key, var, e) < 0)
		return -1;
	if (!*var)
		*var = def;
	v = getenv(*var);
	if (!v || !*v) {
		show_quoted(shown, *var, strlen(*var));
		return err_set(e, ERR_CONFIG, "source.%s: environment variable \"%s\" is %s (it holds "
			       "the akeneo %s)", key, shown, v ? "empty" : "not set", what);
	}
	*out = v;
	return 0;
}

static int check_url(const char *url, struct err *e)
{
	char shown[SHOW_CAP];

	if ((strncmp(url, "https://", 8) == 0 && url[8]) || (strncmp(url, "http://", 7) == 0 && url[7])) {
		if (!strpbrk(url, "?# \t\r\n"))
			return 0;
	}
	show_quoted(shown, url, strlen(url));
	return err_set(e, ERR_CONFIG, "source.base_url: expected an http:// or https:// URL without "
		       "query, got \"%s\"", shown);
}

static const char *const reserved_fields[] = { "uuid", "family", "categories", NULL };

static int check_attributes(const json_t *v, struct err *e)
{
	const char *field;
	json_t *attr;
	char got[SHOW_JSON_CAP], shown[SHOW_CAP];

	if (!json_is_object(v)) {
		show_json(got, v);
		return err_set(e, ERR_CONFIG, "source.attributes: expected an object mapping field names "
			       "to akeneo attribute codes, got %s", got);
	}
	json_object_foreach((json_t *)v, field, attr) {
		show_quoted(shown, field, strlen(field));
		if (!*field)
			return err_set(e, ERR_CONFIG, "source.attributes: a field name is empty");
		for (size_t i = 0; reserved_fields[i]; i++)
			if (strcmp(field, reserved_fields[i]) == 0)
				return err_set(e, ERR_CONFIG, "source.attributes.\"%s\": the field name is "
					       "taken by the product's %s", shown, field);
		if (!json_is_string(attr) || json_string_length(attr) == 0 ||
		    strlen(json_string_value(attr)) != json_string_length(attr) ||
		    strpbrk(json_string_value(attr), ", ")) {
			show_json(got, attr);
			return err_set(e, ERR_CONFIG, "source.attributes.\"%s\": expected an akeneo "
				       "attribute code, got %s", shown, got);
		}
	}
	return 0;
}

/* Akeneo's date for "updated > since less a second", in UTC. */
static int since_filter(const char *since, char out[32], struct err *e)
{
	char shown[SHOW_CAP];
	double t;
	time_t secs;
	struct tm tm;

	if (ak_parse_time(since, &t) < 0) {
		show_quoted(shown, since, strlen(since));
		return err_set(e, ERR_USAGE, "since: expected a date such as \"2024-05-01 12:00:00\" "
			       "(UTC) or \"2024-05-01T12:00:00+02:00\", got \"%s\"", shown);
	}
	secs = (time_t)t - 1;
	gmtime_r(&secs, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
	return 0;
}

/* GET products-uuid: the first page's URL.  New string or NULL. */
static char *first_url(const struct ak_conn *ac, const char *since_value)
{
	struct buf b = BUF_INIT;
	bool ok;

	ok = buf_printf(&b, "%s%s?pagination_type=search_after&limit=%zu", ak_http_base(ac->http),
			PRODUCTS_PATH, ac->page_size) == 0;
	if (ok && since_value) {
		json_t *s = json_pack("{s:[{s:s, s:s}]}", "updated", "operator", ">", "value",
				      since_value);
		char *text = s ? json_dumps(s, JSON_COMPACT) : NULL;

		ok = text && buf_puts(&b, "&search=") == 0 && ak_url_encode(&b, text) == 0;
		free(text);
		json_decref(s);
	}
	if (ok && ac->identifier && ac->attributes) {
		const char *k;
		json_t *v;

		ok = buf_puts(&b, "&attributes=") == 0 && ak_url_encode(&b, ac->identifier) == 0;
		json_object_foreach(ac->attributes, k, v)
			if (ok && strcmp(json_string_value(v), ac->identifier) != 0)
				ok = buf_puts(&b, "%2C") == 0 && ak_url_encode(&b, json_string_value(v)) == 0;
	}
	if (!ok) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static int parse_config(struct ak_conn *ac, const json_t *cfg, struct ak_http_opts *ho,
			char **base_out, char **creds_from, struct err *e)
{
	const char *key, *type, *base, *s, *id_var, *sec_var, *user_var, *pass_var;
	char shown[SHOW_CAP];
	json_int_t n;
	json_t *v;

	if (!json_is_object(cfg))
		return err_set(e, ERR_CONFIG, "source: expected an object");
	json_object_foreach((json_t *)cfg, key, v) {
		size_t i;

		for (i = 0; cfg_keys[i]; i++)
			if (strcmp(key, cfg_keys[i]) == 0)
				break;
		if (!cfg_keys[i]) {
			show_quoted(shown, key, strlen(key));
			return err_set(e, ERR_CONFIG, "source.%s: unknown key (expected type, base_url, "
				       "client_id_env, secret_env, username_env, password_env, locale, "
				       "scope, identifier, attributes, page_size, timeout_s or "
				       "max_field_bytes)", shown);
		}
	}
	if (cfg_string(cfg, "type", &type, e) < 0)
		return -1;
	if (type && strcmp(type, "akeneo") != 0) {
		show_quoted(shown, type, strlen(type));
		return err_set(e, ERR_CONFIG, "source.type: expected \"akeneo\", got \"%s\"", shown);
	}
	if (cfg_string(cfg, "base_url", &base, e) < 0)
		return -1;
	if (!base)
		return err_set(e, ERR_CONFIG, "source.base_url: missing (the PIM's address, e.g. "
			       "\"https://pim.example.com\")");
	if (check_url(base, e) < 0)
		return -1;
	if (!(*base_out = strdup(base)))
		return err_set(e, ERR_NOMEM, "out of memory reading the source configuration");
	for (size_t len = strlen(*base_out); len > 8 && (*base_out)[len - 1] == '/'; len--)
		(*base_out)[len - 1] = '\0';
	ho->base_url = *base_out;

	if (cfg_string(cfg, "locale", &s, e) < 0)
		return -1;
	if (!s)
		return err_set(e, ERR_CONFIG, "source.locale: missing (the akeneo locale to read, "
			       "e.g. \"en_US\")");
	if (!(ac->locale = strdup(s)))
		return err_set(e, ERR_NOMEM, "out of memory reading the source configuration");
	if (cfg_string(cfg, "scope", &s, e) < 0)
		return -1;
	if (!s)
		return err_set(e, ERR_CONFIG, "source.scope: missing (the akeneo channel to read, "
			       "e.g. \"ecommerce\")");
	if (!(ac->scope = strdup(s)))
		return err_set(e, ERR_NOMEM, "out of memory reading the source configuration");
	if (cfg_string(cfg, "identifier", &s, e) < 0)
		return -1;
	if (s && strpbrk(s, ", ")) {
		show_quoted(shown, s, strlen(s));
		return err_set(e, ERR_CONFIG, "source.identifier: expected an attribute code, got "
			       "\"%s\"", shown);
	}
	if (s && !(ac->identifier = strdup(s)))
		return err_set(e, ERR_NOMEM, "out of memory reading the source configuration");
	v = json_object_get(cfg, "attributes");
	if (v) {
		if (check_attributes(v, e) < 0)
			return -1;
		if (!(ac->attributes = json_deep_copy(v)))
			return err_set(e, ERR_NOMEM, "out of memory reading the source configuration");
	}
	if (cfg_int(cfg, "page_size", 100, 1, 100, &n, e) < 0)
		return -1;
	ac->page_size = (size_t)n;
	if (cfg_int(cfg, "timeout_s", 30, 1, 3600, &n, e) < 0)
		return -1;
	ho->timeout_s = (long)n;
	if (cfg_int(cfg, "max_field_bytes", (json_int_t)DEFAULT_MAX_FIELD, 1, MAX_LIMIT, &n, e) < 0)
		return -1;
	ac->max_field = (size_t)n;

	if (cfg_secret(cfg, "client_id_env", "AKENEO_CLIENT_ID", "API client id", &id_var,
		       &ho->client_id, e) < 0 ||
	    cfg_secret(cfg, "secret_env", "AKENEO_SECRET", "API client secret", &sec_var,
		       &ho->secret, e) < 0 ||
	    cfg_secret(cfg, "username_env", "AKENEO_USERNAME", "user name", &user_var,
		       &ho->username, e) < 0 ||
	    cfg_secret(cfg, "password_env", "AKENEO_PASSWORD", "user's password", &pass_var,
		       &ho->password, e) < 0)
		return -1;
	if (asprintf(creds_from, "client id and secret from %s and %s, user from %s and %s",
		     id_var, sec_var, user_var, pass_var) < 0) {
		*creds_from = NULL;
		return err_set(e, ERR_NOMEM, "out of memory reading the source configuration");
	}
	ho->creds_from = *creds_from;
	return 0;
}

/* ---- open, close ------------------------------------------------------------ */

static void ak_close(struct conn *c)
{
	struct ak_conn *ac = (struct ak_conn *)c;

	if (!ac)
		return;
	ak_req_free(ac->http, ac->page_req);
	ak_http_free(ac->http);
	json_decref(ac->page);
	json_decref(ac->attributes);
	free(ac->locale);
	free(ac->scope);
	free(ac->identifier);
	free(ac->id_attr);
	free(ac->wm_str);
	free(ac);
}

static int ak_open(struct conn **out, const json_t *cfg, const struct conn_open_opts *o,
		   struct err *e)
{
	struct ak_http_opts ho = { 0 };
	struct ak_conn *ac;
	char *base = NULL, *creds_from = NULL, *url = NULL;
	char since[32];
	int rc = -1;

	*out = NULL;
	ac = calloc(1, sizeof *ac);
	if (!ac)
		return err_set(e, ERR_NOMEM, "out of memory opening an akeneo source");
	ac->base.ops = &conn_akeneo_ops;
	ac->wm = -1;
	if (parse_config(ac, cfg, &ho, &base, &creds_from, e) < 0)
		goto out;
	if (o && o->since && since_filter(o->since, since, e) < 0)
		goto out;
	if (ak_http_new(&ac->http, &ho, e) < 0)
		goto out;
	if (!(url = first_url(ac, o && o->since ? since : NULL)) ||
	    !(ac->page_req = ak_req_new(AK_GET, url))) {
		err_set(e, ERR_NOMEM, "out of memory opening an akeneo source");
		goto out;
	}
	*out = &ac->base;
	ac = NULL;
	rc = 0;
out:
	ak_close(ac ? &ac->base : NULL);
	free(base);
	free(creds_from);
	return rc;
}

void conn_akeneo_get_stats(const struct conn *c, struct conn_akeneo_stats *s)
{
	const struct ak_conn *ac = (const struct ak_conn *)c;
	struct ak_http_stats hs;

	ak_http_get_stats(ac->http, &hs);
	s->requests = hs.requests;
	s->pages = ac->pages;
	s->token_grants = hs.token_grants;
	s->token_refreshes = hs.token_refreshes;
	s->retries_429 = hs.retries_429;
	s->retries_5xx = hs.retries_5xx;
	s->retries_conn = hs.retries_conn;
	s->retries_401 = hs.retries_401;
	s->max_in_flight = hs.max_in_flight;
}

/* ---- reading ------------------------------------------------------------------ */

/* Send for the page at href (a next link): the token only goes to base_url's
 * origin, so a link elsewhere fails the read once this page is handed out. */
static int follow(struct ak_conn *ac, const char *href, const char *path, struct err *e)
{
	char *url;

	if (!ak_http_same_origin(ac->http, href)) {
		ac->link_bad = true;
		err_set(&ac->link_err, ERR_SOURCE, "akeneo: GET %s: the next page's link leaves %s",
			path, ak_http_base(ac->http));
		return 0;
	}
	if (!(url = strdup(href)) || !(ac->page_req = ak_req_new(AK_GET, url)))
		return err_set(e, ERR_NOMEM, "out of memory reading akeneo");
	ak_submit(ac->http, ac->page_req);
	ak_poke(ac->http);
	return 0;
}

/* The _links of a page that begins with them, as Akeneo's do, parsed
 * without the rest of the page (new), or NULL. */
static json_t *leading_links(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && strchr(" \t\r\n", p[i]))
		i++;
	if (i >= n || p[i++] != '{')
		return NULL;
	while (i < n && strchr(" \t\r\n", p[i]))
		i++;
	if (n - i < 8 || memcmp(p + i, "\"_links\"", 8) != 0)
		return NULL;
	for (i += 8; i < n && strchr(" \t\r\n", p[i]); i++)
		;
	if (i >= n || p[i++] != ':')
		return NULL;
	return json_loadb(p + i, n - i, JSON_DISABLE_EOF_CHECK, NULL);
}

/* Wait for the page in flight, send for the next one, parse this one. */
static int take_page(struct ak_conn *ac, struct err *e)
{
	struct ak_req *r = ac->page_req;
	json_t *page = NULL, *early = NULL;
	const json_t *items, *next;
	json_error_t je;
	char path[256];
	bool followed = false;
	int rc = -1;

	ac->page_req = NULL;
	if (ak_wait(ac->http, r, e) < 0)
		goto out;
	ak_url_path(r->url, path, sizeof path);
	if (r->failed) {
		*e = r->err;
		goto out;
	}
	if (r->status != 200) {
		struct buf b = BUF_INIT;

		ak_describe_error(&b, r->status, r->resp.data, r->resp.len);
		err_set(e, ERR_SOURCE, "akeneo: GET %s: %s", path, buf_str(&b));
		buf_free(&b);
		goto out;
	}
	/* the next request goes out before this page is parsed: parsing takes
	 * a few milliseconds, and a search_after chain cannot be overlapped
	 * any other way */
	early = leading_links(r->resp.data ? r->resp.data : "", r->resp.len);
	next = json_object_get(json_object_get(early, "next"), "href");
	if (json_is_string(next)) {
		if (follow(ac, json_string_value(next), path, e) < 0)
			goto out;
		followed = true;
	}
	page = json_loadb(buf_str(&r->resp), r->resp.len, JSON_ALLOW_NUL, &je);
	if (!page) {
		err_set(e, ERR_SOURCE, "akeneo: GET %s: malformed JSON in the answer at byte %d: %s",
			path, je.position, je.text);
		goto out;
	}
	items = json_object_get(json_object_get(page, "_embedded"), "items");
	if (!json_is_array(items)) {
		err_set(e, ERR_SOURCE, "akeneo: GET %s: answer without _embedded.items", path);
		goto out;
	}
	if (json_array_size(items) == 0) {
		/* an empty page ends the read, whatever it links to */
		ak_req_free(ac->http, ac->page_req);
		ac->page_req = NULL;
		ac->link_bad = false;
	} else if (!followed) {
		next = json_object_get(json_object_get(json_object_get(page, "_links"), "next"),
				       "href");
		if (json_is_string(next) && follow(ac, json_string_value(next), path, e) < 0)
			goto out;
	}
	json_decref(ac->page);
	ac->page = page;
	page = NULL;
	ac->page_idx = 0;
	ac->pages++;
	rc = 0;
out:
	ak_req_free(ac->http, r);
	json_decref(early);
	json_decref(page);
	return rc;
}

static int take_product(struct ak_conn *ac, const json_t *p, struct record *r)
{
	struct ak_map m = {
		.locale = ac->locale, .scope = ac->scope,
		.identifier = ac->identifier ? ac->identifier : ac->id_attr,
		.attributes = ac->attributes, .max_field = ac->max_field,
	};
	const char *upd = json_string_value(json_object_get(p, "updated"));
	double t;

	if (!ac->identifier && !ac->id_attr) {
		const char *attr = NULL;
		const json_t *id = ak_product_identifier(p, NULL, &attr);

		/* learn the identifier attribute (for write-back lookups) */
		if (json_is_string(id) && attr && !(ac->id_attr = strdup(attr)))
			return -1;
		m.identifier = NULL;
	}
	if (upd && ak_parse_time(upd, &t) == 0 && t > ac->wm) {
		char *s = strdup(upd);

		if (!s)
			return -1;
		free(ac->wm_str);
		ac->wm_str = s;
		ac->wm = t;
	}
	return ak_product_record(&m, p, r);
}

static int ak_next(struct conn *c, struct record_batch *b, struct err *e)
{
	struct ak_conn *ac = (struct ak_conn *)c;
	int rc = -1;

	record_batch_reset(b);
	if (ac->dead) {
		*e = ac->dead_err;
		return -1;
	}
	if (b->cap == 0)
		return err_set(e, ERR_INTERNAL, "record batch for akeneo has no room");
	if (!ac->started) {
		ac->started = true;
		ak_submit(ac->http, ac->page_req);
	}
	while (b->len < b->cap) {
		const json_t *items = json_object_get(json_object_get(ac->page, "_embedded"), "items");

		if (ac->page_idx < json_array_size(items)) {
			struct record *r = &b->items[b->len++];

			if (take_product(ac, json_array_get(items, ac->page_idx++), r) < 0) {
				err_set(e, ERR_NOMEM, "out of memory reading akeneo");
				goto out;
			}
			continue;
		}
		if (!ac->page_req && ac->link_bad) {
			*e = ac->link_err;
			goto lost;
		}
		if (!ac->page_req) {
			ac->exhausted = true;
			json_decref(ac->page);
			ac->page = NULL;
			break;
		}
		if (take_page(ac, e) < 0)
			goto lost;
	}
	ak_poke(ac->http);
	rc = 0;
	goto out;
lost:
	/* the source is lost: hand out what was read, fail from the next call */
	ac->dead = true;
	ac->dead_err = *e;
	if (b->len > 0) {
		err_clear(e);
		rc = 0;
	}
out:
	if (rc < 0)
		record_batch_reset(b);
	return rc;
}

static const char *ak_watermark(struct conn *c)
{
	return ((struct ak_conn *)c)->wm_str;
}

/* ---- targets ------------------------------------------------------------------ */

struct target {
	const char *attr;
	const char *locale;    /* NULL = null */
	const char *scope;
	bool locale_tpl, scope_tpl;
	bool media;
};

static const char *const target_keys[] = { "attribute", "locale", "scope", "media", NULL };

static int parse_target(const json_t *t, const char *path, struct target *out, struct err *e)
{
	const char *key;
	json_t *v;
	char got[SHOW_JSON_CAP], shown[SHOW_CAP];

	memset(out, 0, sizeof *out);
	if (!json_is_object(t)) {
		show_json(got, t);
		return err_set(e, ERR_CONFIG, "%s: expected an object such as {\"attribute\": "
			       "\"description\", \"locale\": \"{locale}\", \"scope\": \"ecommerce\"}, "
			       "got %s", path, got);
	}
	json_object_foreach((json_t *)t, key, v) {
		size_t i;

		for (i = 0; target_keys[i]; i++)
			if (strcmp(key, target_keys[i]) == 0)
				break;
		if (!target_keys[i]) {
			show_quoted(shown, key, strlen(key));
			return err_set(e, ERR_CONFIG, "%s.%s: unknown key (expected attribute, locale, "
				       "scope or media)", path, shown);
		}
	}
	v = json_object_get(t, "attribute");
	if (!v)
		return err_set(e, ERR_CONFIG, "%s.attribute: missing (the akeneo attribute to write)",
			       path);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    strpbrk(json_string_value(v), ", {}")) {
		show_json(got, v);
		return err_set(e, ERR_CONFIG, "%s.attribute: expected an akeneo attribute code, got %s",
			       path, got);
	}
	out->attr = json_string_value(v);
	v = json_object_get(t, "locale");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);

		if (!s || !*s || strlen(s) != json_string_length(v) ||
		    (strchr(s, '{') && strcmp(s, "{locale}") != 0)) {
			show_json(got, v);
			return err_set(e, ERR_CONFIG, "%s.locale: expected a locale code, \"{locale}\" "
				       "or null, got %s", path, got);
		}
		out->locale = s;
		out->locale_tpl = strcmp(s, "{locale}") == 0;
	}
	v = json_object_get(t, "scope");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);

		if (!s || !*s || strlen(s) != json_string_length(v) ||
		    (strchr(s, '{') && strcmp(s, "{channel}") != 0)) {
			show_json(got, v);
			return err_set(e, ERR_CONFIG, "%s.scope: expected a channel code, \"{channel}\" "
				       "or null, got %s", path, got);
		}
		out->scope = s;
		out->scope_tpl = strcmp(s, "{channel}") == 0;
	}
	v = json_object_get(t, "media");
	if (v && !json_is_boolean(v)) {
		show_json(got, v);
		return err_set(e, ERR_CONFIG, "%s.media: expected true or false, got %s", path, got);
	}
	out->media = json_is_true(v);
	return 0;
}

static int ak_check_target(const json_t *target, const char *path, struct err *e)
{
	struct target t;

	return parse_target(target, path ? path : "target", &t, e);
}

/* ---- writing ------------------------------------------------------------------ */

enum action { ACT_NONE, ACT_PATCH, ACT_UPLOAD, ACT_CHECK_MEDIA };

/* What write() knows about one item. */
struct witem {
	struct target t;
	const char *locale, *scope;   /* resolved; NULL = null */
	const json_t *product;        /* from the lookup (borrowed from found) */
	const char *uuid;
	enum action act;
	struct ak_req *dl;            /* current media file (if_generated) */
	char file_sha[HASH_HEX_LEN];
};

static bool json_empty(const json_t *d)
{
	return !d || json_is_null(d) || (json_is_string(d) && json_string_length(d) == 0) ||
	       (json_is_array(d) && json_array_size(d) == 0);
}

/* sha256 of a current value: a string's bytes, else its compact JSON. */
static int value_sha(const json_t *d, char hex[HASH_HEX_LEN])
{
	char *s;

	if (json_is_string(d)) {
		sha256_hex(json_string_value(d), json_string_length(d), hex);
		return 0;
	}
	if (!(s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)))
		return -1;
	sha256_hex(s, strlen(s), hex);
	free(s);
	return 0;
}

static int file_sha(const char *path, char hex[HASH_HEX_LEN], struct err *e)
{
	struct hash_ctx *h = hash_new();
	char buf[65536];
	ssize_t n;
	int fd = -1, rc = -1;

	if (!h) {
		err_set(e, ERR_NOMEM, "out of memory hashing %s", path);
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = read(fd, buf, sizeof buf)) > 0)
		hash_update(h, buf, (size_t)n);
	if (n < 0) {
		err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	hash_final_hex(h, hex);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	hash_free(h);
	return rc;
}

/* "description (locale en_US, scope ecommerce)" for messages. */
static void slot_name(char *dst, size_t cap, const struct witem *w)
{
	char a[SHOW_CAP], l[SHOW_CAP], s[SHOW_CAP];

	show_quoted(a, w->t.attr, strlen(w->t.attr));
	show_quoted(l, w->locale ? w->locale : "null", strlen(w->locale ? w->locale : "null"));
	show_quoted(s, w->scope ? w->scope : "null", strlen(w->scope ? w->scope : "null"));
	snprintf(dst, cap, "attribute \"%s\" (locale %s, scope %s)", a, l, s);
}

static int cmp_sku(const void *a, const void *b)
{
	const struct conn_write_item *const *x = a, *const *y = b;

	return strcmp((*x)->sku, (*y)->sku);
}

/* Free an array of requests. */
static void free_reqs(struct ak_http *h, struct ak_req **rs, size_t n)
{
	for (size_t i = 0; rs && i < n; i++)
		ak_req_free(h, rs[i]);
	free(rs);
}

/* Look up the products of the items still pending: found[identifier] = the
 * product (with the target attributes' values).  -1 when a lookup cannot be
 * made. */
static int lookup(struct ak_conn *ac, struct conn_write_item *items, struct witem *w, size_t n,
		  json_t *found, struct err *e)
{
	const char *id_attr = ac->identifier ? ac->identifier : ac->id_attr ? ac->id_attr : "sku";
	const struct conn_write_item **order = NULL;
	struct ak_req **rs = NULL;
	size_t nu = 0, nr = 0, i = 0;
	struct buf attrs = BUF_INIT;
	json_t *seen = json_object();
	int rc = -1;

	order = calloc(n ? n : 1, sizeof *order);
	rs = calloc(n ? n : 1, sizeof *rs);
	if (!order || !rs || !seen || ak_url_encode(&attrs, id_attr) < 0)
		goto nomem;
	for (size_t k = 0; k < n; k++) {
		if (items[k].status != CONN_WRITE_PENDING)
			continue;
		order[nu++] = &items[k];
		if (!json_object_get(seen, w[k].t.attr)) {
			if (json_object_set_new(seen, w[k].t.attr, json_true()) < 0)
				goto nomem;
			if (strcmp(w[k].t.attr, id_attr) != 0 &&
			    (buf_puts(&attrs, "%2C") < 0 || ak_url_encode(&attrs, w[k].t.attr) < 0))
				goto nomem;
		}
	}
	qsort(order, nu, sizeof *order, cmp_sku);
	while (i < nu) {
		json_t *search = json_pack("{s:[{s:s, s:[]}]}", id_attr, "operator", "IN", "value");
		json_t *vals = json_object_get(json_array_get(json_object_get(search, id_attr), 0),
					       "value");
		struct buf url = BUF_INIT;
		size_t bytes = 0, count = 0;
		char *text;

		if (!search)
			goto nomem;
		for (; i < nu && count < LOOKUP_MAX && bytes < LOOKUP_URL_BYTES; i++) {
			if (i > 0 && strcmp(order[i]->sku, order[i - 1]->sku) == 0)
				continue;
			if (json_array_append_new(vals, json_string(order[i]->sku)) < 0) {
				json_decref(search);
				goto nomem;
			}
			bytes += strlen(order[i]->sku) * 3 + 9;
			count++;
		}
		text = json_dumps(search, JSON_COMPACT);
		json_decref(search);
		if (!text || buf_printf(&url, "%s%s?search=", ak_http_base(ac->http), PRODUCTS_PATH) < 0 ||
		    ak_url_encode(&url, text) < 0 ||
		    buf_printf(&url, "&attributes=%s&limit=%d", buf_str(&attrs), LOOKUP_MAX) < 0 ||
		    !(rs[nr] = ak_req_new(AK_GET, buf_steal(&url)))) {
			free(text);
			buf_free(&url);
			goto nomem;
		}
		free(text);
		ak_submit(ac->http, rs[nr++]);
	}
	if (ak_wait_all(ac->http, rs, nr, e) < 0)
		goto out;
	for (size_t k = 0; k < nr; k++) {
		const json_t *list, *p;
		char path[256];
		json_t *page;
		size_t j;

		if (rs[k]->failed) {
			*e = rs[k]->err;
			err_prefix(e, "looking products up");
			goto out;
		}
		ak_url_path(rs[k]->url, path, sizeof path);
		if (rs[k]->status != 200) {
			struct buf b = BUF_INIT;

			ak_describe_error(&b, rs[k]->status, rs[k]->resp.data, rs[k]->resp.len);
			err_set(e, ERR_SOURCE, "akeneo: GET %s (looking products up by %s): %s", path,
				id_attr, buf_str(&b));
			buf_free(&b);
			goto out;
		}
		page = json_loadb(buf_str(&rs[k]->resp), rs[k]->resp.len, 0, NULL);
		list = json_object_get(json_object_get(page, "_embedded"), "items");
		if (!json_is_array(list)) {
			json_decref(page);
			err_set(e, ERR_SOURCE, "akeneo: GET %s (looking products up): answer without "
				"_embedded.items", path);
			goto out;
		}
		json_array_foreach(list, j, p) {
			const json_t *id = ak_product_identifier(p, id_attr, NULL);

			if (!json_is_string(id) || !json_is_string(json_object_get(p, "uuid")))
				continue;
			if (json_object_set(found, json_string_value(id), (json_t *)p) < 0) {
				json_decref(page);
				goto nomem;
			}
		}
		json_decref(page);
	}
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory looking products up in akeneo");
out:
	free_reqs(ac->http, rs, nr);
	free(order);
	buf_free(&attrs);
	json_decref(seen);
	return rc;
}

/* Resolve each item's target; items that cannot be written are FAILED. */
static int prepare(struct conn_write_item *items, struct witem *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct conn_write_item *it = &items[i];
		struct err te;

		if (parse_target(it->target, "target", &w[i].t, &te) < 0) {
			if (set_item(it, CONN_WRITE_FAILED, "%s", te.msg) < 0)
				return -1;
			continue;
		}
		w[i].locale = w[i].t.locale_tpl ? it->locale : w[i].t.locale;
		w[i].scope = w[i].t.scope_tpl ? it->channel : w[i].t.scope;
		if (!it->sku || !*it->sku) {
			if (set_item(it, CONN_WRITE_FAILED, "no sku") < 0)
				return -1;
		} else if (w[i].t.locale_tpl && !it->locale) {
			if (set_item(it, CONN_WRITE_FAILED, "the target's locale is \"{locale}\" but the "
				     "item has none") < 0)
				return -1;
		} else if (w[i].t.scope_tpl && !it->channel) {
			if (set_item(it, CONN_WRITE_FAILED, "the target's scope is \"{channel}\" but the "
				     "item has no channel") < 0)
				return -1;
		} else if (w[i].t.media && !it->asset_path) {
			if (set_item(it, CONN_WRITE_FAILED, "the target is a media attribute but the "
				     "item has no asset file") < 0)
				return -1;
		} else if (!w[i].t.media && !it->value) {
			if (set_item(it, CONN_WRITE_FAILED, "the item has no text to write") < 0)
				return -1;
		} else if (!utf8_valid(it->sku, strlen(it->sku), NULL)) {
			if (set_item(it, CONN_WRITE_FAILED, "the sku is not valid UTF-8") < 0)
				return -1;
		} else if (!w[i].t.media && !utf8_valid(it->value, it->value_len, NULL)) {
			if (set_item(it, CONN_WRITE_FAILED, "the value is not valid UTF-8") < 0)
				return -1;
		}
	}
	return 0;
}

/* Decide each pending item's fate from its product's current value. */
static int decide(struct ak_conn *ac, struct conn_write_item *items, struct witem *w, size_t n,
		  const json_t *found, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		struct conn_write_item *it = &items[i];
		const json_t *cur, *entry;
		char slot[SHOW_CAP * 3 + 64], sku[SHOW_CAP], hex[HASH_HEX_LEN];

		if (it->status != CONN_WRITE_PENDING)
			continue;
		w[i].product = json_object_get(found, it->sku);
		if (!w[i].product) {
			show_quoted(sku, it->sku, strlen(it->sku));
			if (set_item(it, CONN_WRITE_FAILED, "no product with identifier \"%s\" in akeneo",
				     sku) < 0)
				goto nomem;
			continue;
		}
		w[i].uuid = json_string_value(json_object_get(w[i].product, "uuid"));
		entry = ak_value_entry(w[i].product, w[i].t.attr, w[i].locale, w[i].scope);
		cur = json_object_get(entry, "data");
		slot_name(slot, sizeof slot, &w[i]);
		if (!w[i].t.media && json_is_string(cur) && json_string_length(cur) == it->value_len &&
		    memcmp(json_string_value(cur), it->value, it->value_len) == 0) {
			if (set_item(it, CONN_WRITE_UNCHANGED, NULL) < 0)
				goto nomem;
			continue;
		}
		switch (it->policy) {
		case CONN_OVERWRITE_NEVER:
			if (!json_empty(cur)) {
				if (set_item(it, CONN_WRITE_REFUSED, "policy never: akeneo already holds a "
					     "value in %s", slot) < 0)
					goto nomem;
				continue;
			}
			break;
		case CONN_OVERWRITE_IF_GENERATED:
			if (json_empty(cur))
				break;
			if (w[i].t.media) {
				w[i].act = ACT_CHECK_MEDIA;
				continue;
			}
			if (value_sha(cur, hex) < 0)
				goto nomem;
			if (!it->prior_sha256 || strcmp(hex, it->prior_sha256) != 0) {
				if (set_item(it, CONN_WRITE_REFUSED, "policy if_generated: the value in "
					     "%s is not the one skugen wrote (sha256 %.12s...)", slot,
					     hex) < 0)
					goto nomem;
				continue;
			}
			break;
		case CONN_OVERWRITE_ALWAYS:
			break;
		}
		w[i].act = w[i].t.media ? ACT_UPLOAD : ACT_PATCH;
	}
	return 0;
nomem:
	(void)ac;
	return err_set(e, ERR_NOMEM, "out of memory writing to akeneo");
}

/* URL of a media file's download; new string or NULL. */
static char *download_url(struct ak_conn *ac, const char *code)
{
	struct buf b = BUF_INIT;
	bool ok = buf_printf(&b, "%s/api/rest/v1/media-files/", ak_http_base(ac->http)) == 0;

	/* media codes are paths ("1/2/3/abc_file.png"): keep the slashes */
	for (const char *p = code; ok && *p; ) {
		size_t seg = strcspn(p, "/");
		char *part = strndup(p, seg);

		ok = part && ak_url_encode(&b, part) == 0;
		free(part);
		p += seg;
		if (ok && *p == '/') {
			ok = buf_putc(&b, '/') == 0;
			p++;
		}
	}
	ok = ok && buf_puts(&b, "/download") == 0;
	if (!ok) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* if_generated on media: download the current files, compare. */
static int check_media(struct ak_conn *ac, struct conn_write_item *items, struct witem *w,
		       size_t n, struct err *e)
{
	struct ak_req **rs = calloc(n ? n : 1, sizeof *rs);
	size_t nr = 0;
	int rc = -1;

	if (!rs)
		return err_set(e, ERR_NOMEM, "out of memory writing to akeneo");
	for (size_t i = 0; i < n; i++) {
		const json_t *cur;
		char *url;

		if (w[i].act != ACT_CHECK_MEDIA)
			continue;
		cur = json_object_get(ak_value_entry(w[i].product, w[i].t.attr, w[i].locale,
						     w[i].scope), "data");
		if (!json_is_string(cur) || !(url = download_url(ac, json_string_value(cur))) ||
		    !(rs[nr] = ak_req_new(AK_GET, url))) {
			if (set_item(&items[i], CONN_WRITE_REFUSED, "policy if_generated: the current "
				     "media value is not a file code") < 0)
				goto nomem;
			w[i].act = ACT_NONE;
			continue;
		}
		rs[nr]->tag = i;
		ak_submit(ac->http, rs[nr++]);
	}
	if (ak_wait_all(ac->http, rs, nr, e) < 0)
		goto out;
	for (size_t k = 0; k < nr; k++) {
		struct ak_req *r = rs[k];
		size_t i = r->tag;
		char hex[HASH_HEX_LEN], slot[SHOW_CAP * 3 + 64];
		struct err fe;

		slot_name(slot, sizeof slot, &w[i]);
		w[i].act = ACT_NONE;
		if (r->failed || r->status != 200) {
			struct buf b = BUF_INIT;

			if (r->failed)
				buf_puts(&b, r->err.msg);
			else
				ak_describe_error(&b, r->status, r->resp.data, r->resp.len);
			if (set_item(&items[i], CONN_WRITE_FAILED, "policy if_generated: cannot download "
				     "the current file of %s: %s", slot, buf_str(&b)) < 0) {
				buf_free(&b);
				goto nomem;
			}
			buf_free(&b);
			continue;
		}
		sha256_hex(r->resp.data ? r->resp.data : "", r->resp.len, hex);
		if (file_sha(items[i].asset_path, w[i].file_sha, &fe) < 0) {
			if (set_item(&items[i], CONN_WRITE_FAILED, "%s", fe.msg) < 0)
				goto nomem;
		} else if (strcmp(hex, w[i].file_sha) == 0) {
			if (set_item(&items[i], CONN_WRITE_UNCHANGED, NULL) < 0)
				goto nomem;
		} else if (!items[i].prior_sha256 || strcmp(hex, items[i].prior_sha256) != 0) {
			if (set_item(&items[i], CONN_WRITE_REFUSED, "policy if_generated: the file in "
				     "%s is not the one skugen wrote (sha256 %.12s...)", slot, hex) < 0)
				goto nomem;
		} else {
			w[i].act = ACT_UPLOAD;
		}
	}
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory writing to akeneo");
out:
	free_reqs(ac->http, rs, nr);
	return rc;
}

/* A PATCH line for item i; new string or NULL. */
static char *patch_line(const struct conn_write_item *it, const struct witem *w)
{
	json_t *line = json_pack("{s:s, s:{s:[{s:o, s:o, s:o}]}}", "uuid", w->uuid, "values",
				 w->t.attr, "locale", w->locale ? json_string(w->locale) : json_null(),
				 "scope", w->scope ? json_string(w->scope) : json_null(),
				 "data", json_stringn(it->value, it->value_len));
	char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;

	json_decref(line);
	return s;
}

/* Read a PATCH answer into its items (idx[0..nl) are the lines' items). */
static int read_patch(struct ak_req *r, struct conn_write_item *items, const size_t *idx,
		      size_t nl)
{
	const char *p = buf_str(&r->resp), *end = p + r->resp.len;
	bool *seen = calloc(nl ? nl : 1, sizeof *seen);
	int rc = -1;

	if (!seen)
		return -1;
	if (r->status != 200) {
		struct buf b = BUF_INIT;

		ak_describe_error(&b, r->status, r->resp.data, r->resp.len);
		for (size_t k = 0; k < nl; k++)
			if (set_item(&items[idx[k]], CONN_WRITE_FAILED, "akeneo: PATCH %s: %s",
				     PRODUCTS_PATH, buf_str(&b)) < 0) {
				buf_free(&b);
				goto out;
			}
		buf_free(&b);
		rc = 0;
		goto out;
	}
	while (p < end) {
		const char *nl_at = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl_at ? (size_t)(nl_at - p) : (size_t)(end - p);
		json_t *ans = json_loadb(p, len, 0, NULL);
		json_int_t line = json_integer_value(json_object_get(ans, "line"));
		json_int_t code = json_integer_value(json_object_get(ans, "status_code"));

		p += len + (nl_at ? 1 : 0);
		if (!ans || line < 1 || (size_t)line > nl || seen[line - 1]) {
			json_decref(ans);
			continue;
		}
		seen[line - 1] = true;
		if (code == 201 || code == 204) {
			if (set_item(&items[idx[line - 1]], CONN_WRITE_WRITTEN, NULL) < 0) {
				json_decref(ans);
				goto out;
			}
		} else {
			struct buf b = BUF_INIT;
			char *text = json_dumps(ans, JSON_COMPACT);
			int bad = !text || ak_describe_error(&b, (long)code, text, strlen(text)) < 0 ||
				  set_item(&items[idx[line - 1]], CONN_WRITE_FAILED, "akeneo: %s",
					   buf_str(&b)) < 0;

			free(text);
			buf_free(&b);
			if (bad) {
				json_decref(ans);
				goto out;
			}
		}
		json_decref(ans);
	}
	for (size_t k = 0; k < nl; k++)
		if (!seen[k] && set_item(&items[idx[k]], CONN_WRITE_FAILED, "akeneo's answer has no "
					 "status for this line") < 0)
			goto out;
	rc = 0;
out:
	free(seen);
	return rc;
}

struct patch_chunk {
	size_t *idx;     /* the items of its lines, in order */
	size_t n;
};

static int ak_write(struct conn *c, struct conn_write_item *items, size_t n, struct err *e)
{
	struct ak_conn *ac = (struct ak_conn *)c;
	struct witem *w = NULL;
	json_t *found = NULL;
	struct ak_req **rs = NULL;
	struct patch_chunk *chunks = NULL;
	size_t nr = 0, nchunks = 0;
	struct buf body = BUF_INIT;
	bool lost = false;
	int rc = -1;

	conn_write_items_reset(items, n);
	if (n == 0)
		return 0;
	w = calloc(n, sizeof *w);
	found = json_object();
	rs = calloc(n, sizeof *rs);
	chunks = calloc(n, sizeof *chunks);
	if (!w || !found || !rs || !chunks)
		goto nomem;
	if (prepare(items, w, n) < 0)
		goto nomem;
	if (lookup(ac, items, w, n, found, e) < 0)
		goto out;
	if (decide(ac, items, w, n, found, e) < 0 || check_media(ac, items, w, n, e) < 0)
		goto out;

	/* text: PATCH, up to 100 lines a request */
	for (size_t i = 0; i < n; ) {
		struct patch_chunk *ch = &chunks[nchunks];
		char *url;

		buf_reset(&body);
		for (; i < n && ch->n < PATCH_LINES; i++) {
			char *line;
			size_t len;

			if (w[i].act != ACT_PATCH)
				continue;
			if (!(line = patch_line(&items[i], &w[i])))
				goto nomem;
			len = strlen(line);
			if (len > LINE_MAX_CHARS) {
				free(line);
				if (set_item(&items[i], CONN_WRITE_FAILED, "the value is too long for "
					     "akeneo: a line of %zu bytes, limit %d", len,
					     LINE_MAX_CHARS) < 0)
					goto nomem;
				continue;
			}
			if (!ch->idx && !(ch->idx = calloc(PATCH_LINES, sizeof *ch->idx))) {
				free(line);
				goto nomem;
			}
			if ((body.len && buf_putc(&body, '\n') < 0) || buf_append(&body, line, len) < 0) {
				free(line);
				goto nomem;
			}
			free(line);
			ch->idx[ch->n++] = i;
		}
		if (ch->n == 0)
			break;
		if (asprintf(&url, "%s%s", ak_http_base(ac->http), PRODUCTS_PATH) < 0 ||
		    !(rs[nr] = ak_req_new(AK_PATCH, url)))
			goto nomem;
		rs[nr]->content_type = "application/vnd.akeneo.collection+json";
		rs[nr]->body_len = body.len;
		rs[nr]->body = buf_steal(&body);
		rs[nr]->tag = nchunks++;
		if (!rs[nr]->body)
			goto nomem;
		ak_submit(ac->http, rs[nr++]);
	}
	/* media: one upload each */
	for (size_t i = 0; i < n; i++) {
		json_t *prod;
		char *url;

		if (w[i].act != ACT_UPLOAD)
			continue;
		prod = json_pack("{s:s, s:s, s:o, s:o}", "identifier", items[i].sku, "attribute",
				 w[i].t.attr, "scope", w[i].scope ? json_string(w[i].scope) : json_null(),
				 "locale", w[i].locale ? json_string(w[i].locale) : json_null());
		if (!prod || asprintf(&url, "%s/api/rest/v1/media-files", ak_http_base(ac->http)) < 0 ||
		    !(rs[nr] = ak_req_new(AK_POST, url))) {
			json_decref(prod);
			goto nomem;
		}
		rs[nr]->form_product = json_dumps(prod, JSON_COMPACT);
		rs[nr]->form_file = strdup(items[i].asset_path);
		rs[nr]->tag = n + i;   /* above n: an upload, for item tag - n */
		json_decref(prod);
		if (!rs[nr]->form_product || !rs[nr]->form_file) {
			nr++;
			goto nomem;
		}
		ak_submit(ac->http, rs[nr++]);
	}
	if (ak_wait_all(ac->http, rs, nr, e) < 0)
		goto out;
	for (size_t k = 0; k < nr; k++) {
		struct ak_req *r = rs[k];

		if (r->failed && r->err.code != ERR_IO) {
			/* not attempted to the end: the items stay pending */
			if (!lost)
				*e = r->err;
			lost = true;
			continue;
		}
		if (r->tag < n) {
			if (read_patch(r, items, chunks[r->tag].idx, chunks[r->tag].n) < 0)
				goto nomem;
			continue;
		}
		if (r->failed) {
			if (set_item(&items[r->tag - n], CONN_WRITE_FAILED, "%s", r->err.msg) < 0)
				goto nomem;
		} else if (r->status == 201) {
			if (set_item(&items[r->tag - n], CONN_WRITE_WRITTEN, NULL) < 0)
				goto nomem;
		} else {
			struct buf b = BUF_INIT;
			int bad = ak_describe_error(&b, r->status, r->resp.data, r->resp.len) < 0 ||
				  set_item(&items[r->tag - n], CONN_WRITE_FAILED,
					   "akeneo: POST /api/rest/v1/media-files: %s", buf_str(&b)) < 0;

			buf_free(&b);
			if (bad)
				goto nomem;
		}
	}
	rc = lost ? -1 : 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory writing to akeneo");
out:
	free_reqs(ac->http, rs, nr);
	for (size_t k = 0; chunks && k < n; k++)
		free(chunks[k].idx);
	free(chunks);
	buf_free(&body);
	json_decref(found);
	free(w);
	return rc;
}

const struct conn_ops conn_akeneo_ops = {
	.name = "akeneo",
	.version = "1",
	.open = ak_open,
	.next = ak_next,
	.watermark = ak_watermark,
	.check_target = ak_check_target,
	.write = ak_write,
	.close = ak_close,
};
