/* review_html.h: the review page, one self-contained HTML file.
 *
 * The page carries its own stylesheet and script (review_page.c) and no
 * external URL.  Its data are JSON inside <script type="application/json">
 * blocks, one card per SKU, written as the rows stream in: a first block of
 * 50 cards, then the script (so the first cards render while the browser is
 * still reading the rest), then blocks of 500.  Every '<', '>' and '&' in the
 * JSON is written as a \u escape, so no value can close the block or open a
 * comment.  The word-level diff of current and generated copy is computed
 * here (review_diff.h) and carried as spans ("=same", "-old", "+new").  A
 * Content-Security-Policy lets only the page's own script and style run (by
 * their sha256) and only local files load.
 */
#ifndef SKUGEN_REVIEW_HTML_H
#define SKUGEN_REVIEW_HTML_H

#include <stdio.h>

#include "batch/review_export.h"
#include "common/buf.h"
#include "common/err.h"

/* The inlined stylesheet and script (review_page.c). */
extern const char review_page_css[];
extern const char review_page_js[];

struct review_html_opts {
	const char *exported_at;  /* shown on the page */
	const char *filters;      /* what the export was restricted to, shown; may be "" */
	const char *export_id;    /* keys the decisions the page keeps in localStorage */
	const char *asset_base;   /* absolute directory the page is written to: absolute
				     asset paths become links relative to it; NULL: as stored */
};

struct review_html;

/* Start a page on out (borrowed; the caller closes it).  The strings in o
 * are copied.  *h is new: free it with review_html_free. */
int review_html_begin(struct review_html **h, FILE *out, const struct review_html_opts *o, struct err *e);

/* Add one generation; rows must come grouped by SKU (export order). */
int review_html_row(struct review_html *h, const struct review_row *row, struct err *e);

/* Finish the page.  *cards (may be NULL) is the number of SKU cards. */
int review_html_end(struct review_html *h, long *cards, struct err *e);

void review_html_free(struct review_html *h);

/* Append json to b with '<', '>' and '&' as \u escapes (valid JSON, inert
 * inside a script block).  -1 on no memory. */
int review_html_json_safe(struct buf *b, const char *json);

/* Append the link to an asset: path made relative to base when both are
 * absolute (base may be NULL), "." and empty components dropped, and every
 * byte but A-Z a-z 0-9 - . _ ~ / percent-encoded, so the link can hold no
 * scheme, no host and no markup.  -1 on no memory. */
int review_html_asset_href(struct buf *b, const char *path, const char *base);

#endif
