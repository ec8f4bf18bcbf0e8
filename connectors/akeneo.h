/* akeneo.h: the "akeneo" connector: products from Akeneo PIM's REST API
 * (version 7 and later, products addressed by uuid), and write-back of
 * generated text and images.  Requests and answers follow Akeneo's API
 * description (spec/akeneo/akeneo-web-api.json beside the repository).
 *
 * Configuration (the source object, borrowed by open; unknown keys and wrong
 * types are ERR_CONFIG errors naming the key, e.g. `source.page_size:
 * expected an integer from 1 to 100, got 500`):
 *
 *   type             "akeneo"
 *   base_url         "https://pim.example.com" (http:// too, for tests and
 *                    private networks); a path prefix is kept
 *   client_id_env    variables holding the API connection's client id and
 *   secret_env       secret and the API user's name and password; defaults
 *   username_env     AKENEO_CLIENT_ID, AKENEO_SECRET, AKENEO_USERNAME,
 *   password_env     AKENEO_PASSWORD.  Secrets never sit in the file; an
 *                    unset or empty variable is an ERR_CONFIG error naming it
 *   locale           the locale whose values are read, e.g. "en_US" (required)
 *   scope            the channel whose values are read, e.g. "ecommerce"
 *                    (required)
 *   identifier       the identifier attribute, e.g. "sku"; default: the
 *                    product's "identifier" property, else the attribute
 *                    whose attribute_type is pim_catalog_identifier, else "sku"
 *   attributes       {"field": "akeneo_attribute", ...}: which values become
 *                    which record fields; default every attribute, each
 *                    under its own code.  Field names "uuid", "family" and
 *                    "categories" are taken
 *   page_size        products per page, 1 to 100; default 100
 *   timeout_s        limit of one HTTP transfer, 1 to 3600; default 30
 *   max_field_bytes  a bigger value fails its record; default 1 MiB
 *
 * Connection: open gets a token (OAuth2 password grant at
 * POST /api/oauth/v1/token, HTTP Basic client id and secret, JSON body):
 * refused credentials are ERR_CONFIG (naming the variables, never their
 * values), an unreachable PIM ERR_SOURCE.  The token is renewed with the
 * refresh_token grant when a fifth of its life (at most a minute) is left,
 * and after a 401 (the request is then sent again, once).  At most 4
 * requests are in flight; a 429 is retried after its Retry-After and holds
 * every new request until then; a 5xx, a refused, dropped or timed-out
 * connection is retried with backoff, 5 attempts in all, after which the
 * operation fails with ERR_SOURCE naming the method and the URL's path.
 * TLS peers are verified; redirects are not followed; proxies come from the
 * environment (libcurl's http_proxy, https_proxy, no_proxy).
 *
 * Reading: GET /api/rest/v1/products-uuid?pagination_type=search_after&
 * limit=<page_size>, with search={"updated":[{"operator":">","value":...}]}
 * when o->since is set, and attributes=<identifier and mapped attributes>
 * when both "identifier" and "attributes" are configured.  Then only the
 * _links.next.href of each page is followed (never a URL built here; the
 * link must stay on base_url's scheme, host and port, or the read fails:
 * the token goes nowhere else).  The next page is requested as soon as a
 * page arrives, while its records are handed out.  A search_after page is
 * idempotent, so a page whose connection drops is asked for again.
 *
 * Incremental reads: o->since is a watermark() from an earlier run, or a
 * date "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601 with an offset; anything else
 * is ERR_USAGE.  Akeneo compares whole seconds, so the filter asks for
 * "updated > since minus one second": products changed in the watermark's
 * own second are read again rather than missed (the planner skips what is
 * unchanged).  The value is sent in UTC (Akeneo's server time zone, UTC on
 * Akeneo's cloud).  watermark() is the largest "updated" seen, as Akeneo
 * wrote it, or NULL before the first product.
 *
 * Records (connectors/record.h):
 *   sku     the identifier
 *   fields  each mapped attribute's value for the configured locale and
 *           scope: the entry of values[attr] whose locale is the configured
 *           one or null and whose scope is the configured one or null; its
 *           data is kept as JSON (text, prices arrays, metric objects,
 *           booleans, option codes); an attribute without a value is left
 *           out.  Plus "uuid", "family", "categories" (as Akeneo gives
 *           them), and "sku" (the identifier) unless a field has that name.
 *   origin  "akeneo:<uuid>"
 *   error   NULL, or why the record is unusable (fields is then NULL):
 *             product has no uuid
 *             product has no identifier (attribute "sku")
 *             identifier attribute "sku" must be a string, got an integer
 *             attribute "name": no value for locale "de_DE"
 *             attribute "description": no value for scope "mobile" (locale "en_US")
 *             attribute "description" is 10485760 bytes, limit 1048576
 *             attribute "x": NUL character (\u0000) in the value
 *           The locale and scope errors are for attributes named in
 *           "attributes" only: with the default mapping, an attribute that
 *           has no value for the locale and scope is left out.
 * next() fails (ERR_SOURCE) when a page cannot be had: after the retries
 * above, an answer that is not 200, not JSON, or without _embedded.items,
 * or a next link elsewhere.  The records already read are handed out first
 * (that call returns them); the next call returns -1, and so do all after.
 *
 * Write-back (write()).  An output's target (check_target):
 *   {"attribute": "description", "locale": "{locale}" | "en_US" | null,
 *    "scope": "{channel}" | "ecommerce" | null, "media": false}
 * "{locale}" and "{channel}" take the item's locale and channel; an absent
 * locale or scope is null (a value that is not localisable or scopable);
 * "media": true uploads the item's asset_path to a media attribute.
 * For a batch, write():
 *   1. looks the products up by identifier (GET products-uuid with
 *      search={"<identifier attribute>":[{"operator":"IN",...}]}, up to 100
 *      per request, and attributes= the target attributes), which gives each
 *      product's uuid and current values in one request; PATCH creates a
 *      product whose uuid is unknown, so nothing is written to a SKU that is
 *      not found (FAILED: no product with identifier "X" in akeneo);
 *   2. compares with the current value of the slot (attribute, locale,
 *      scope): the same text is UNCHANGED; then the policy: never writes
 *      only into an empty value (absent, null, "" or []), if_generated only
 *      into an empty one or one whose sha256 is item->prior_sha256,
 *      always writes; the others are REFUSED, with the reason;
 *   3. writes text with PATCH /api/rest/v1/products-uuid
 *      (application/vnd.akeneo.collection+json, one line per item
 *      {"uuid", "values": {attr: [{"locale", "scope", "data"}]}}, at most
 *      100 lines per request), reading each line's status_code: 201 or 204
 *      is WRITTEN, anything else FAILED with Akeneo's message and errors[];
 *   4. uploads media with POST /api/rest/v1/media-files (multipart/form-data:
 *      "product" = {"identifier", "attribute", "scope", "locale"}, "file");
 *      201 is WRITTEN.  For if_generated, the current file is downloaded
 *      (GET media-files/{code}/download) and its sha256 compared with
 *      prior_sha256 and with the new file's (UNCHANGED when equal); never
 *      only needs to know that the slot is empty; always uploads without
 *      comparing.
 * Lookups, PATCHes, downloads and uploads share the 4 slots.  write()
 * returns -1 (ERR_SOURCE) when the lookup cannot be made (nothing is
 * written then) or when a PATCH or an upload cannot be made after its
 * retries: its items stay PENDING, the others say what happened.
 */
#ifndef SKUGEN_CONN_AKENEO_H
#define SKUGEN_CONN_AKENEO_H

#include "connectors/connector.h"

extern const struct conn_ops conn_akeneo_ops;

/* Counters of an open akeneo connection c, for tests and benchmarks. */
struct conn_akeneo_stats {
	unsigned long requests;        /* HTTP transfers, retries included */
	unsigned long pages;           /* product pages read */
	unsigned long token_grants;    /* password grants */
	unsigned long token_refreshes; /* refresh_token grants */
	unsigned long retries_429, retries_5xx, retries_conn, retries_401;
	int max_in_flight;             /* most transfers running at once */
};
void conn_akeneo_get_stats(const struct conn *c, struct conn_akeneo_stats *s);

#endif
