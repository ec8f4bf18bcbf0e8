/* review_export.h: the generations a merchandiser reviews, streamed from the
 * store with filters, and the CSV and JSON forms of them (the HTML page is
 * batch/review_html.h).
 *
 * Rows come in the order sku, output, locale, channel, id, one at a time
 * (libpq single-row mode), so an export of millions runs in constant memory.
 */
#ifndef SKUGEN_REVIEW_EXPORT_H
#define SKUGEN_REVIEW_EXPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

#include "batch/store.h"
#include "common/buf.h"
#include "common/err.h"

/* Which generations.  Each list is a borrowed JSON array of strings, or NULL
 * for no restriction. */
struct review_filter {
	json_t *runs;         /* run ids (digits) */
	json_t *statuses;     /* NULL: every status but superseded */
	json_t *outputs;
	json_t *categories;   /* "" matches a generation without a category */
	json_t *locales;
	json_t *skus;
	const char *since;    /* changed (made, decided, published) at or after this time */
};

/* One generation as the export sees it.  Every pointer is borrowed from the
 * current result and valid only during the callback.  Nullable ones are
 * NULL when the store has no value. */
struct review_row {
	const char *generation_id, *sku, *product_name, *category;
	const char *output, *locale, *channel, *kind, *status, *version;
	const char *current_value;    /* nullable: the source had no current value */
	size_t current_len;
	const char *content;          /* nullable: an asset-only generation */
	size_t content_len;
	const char *asset_path;       /* nullable */
	const char *model, *generator, *provider, *cost;  /* nullable */
	const char *checks;           /* JSON text: [{name, ok, detail}] */
	const char *run_id;           /* nullable */
	const char *created_at, *updated_at;
	const char *last_decision, *last_reviewer, *last_comment, *last_reviewed_at;  /* nullable */
};

/* The WHERE clause of an export over skugen.generations g, with its
 * parameters $1..$7 in this order: runs, statuses, outputs, categories,
 * locales, skus (JSON text each, or NULL), since.  Shared with the
 * provenance export. */
extern const char review_export_where[];

/* The seven parameters for review_export_where.  The strings in params are
 * new: free them with review_filter_params_free. */
int review_filter_params(const struct review_filter *f, char *params[7], struct err *e);
void review_filter_params_free(char *params[7]);

/* Call fn for each generation that f selects, in export order; *rows counts
 * them.  Stops at the first -1 from fn. */
int review_export_stream(struct store *st, const struct review_filter *f,
			 int (*fn)(void *ctx, const struct review_row *row, struct err *e), void *ctx,
			 long *rows, struct err *e);

/* CSV for spreadsheets: the BOM and the header, then one record per row.
 * Columns: sku, product_name, output, locale, current_value, generated_value,
 * status, decision, edited_text, comment, generation_id, model, cost, version.
 * b is scratch space (reused). */
int review_csv_begin(FILE *out, struct err *e);
int review_csv_row(FILE *out, struct buf *b, const struct review_row *row, struct err *e);

/* JSON for other tools: "[" and the rows as objects, one per line, with
 * null decision, edited_text and comment (fill them in and `skugen import`
 * takes the array back); review_json_end writes "]". */
int review_json_row(FILE *out, const struct review_row *row, bool first, struct err *e);
int review_json_end(FILE *out, bool any, struct err *e);

/* The row's checks (JSON text) as a new array of {name, ok, detail}
 * objects, keeping only well-formed items; an empty array when there are
 * none or the text is not an array.  NULL only on no memory. */
json_t *review_checks(const char *checks_json);

#endif
