/* review_import.h: a reviewer's decisions back into the store.
 *
 * The file is the review CSV after a spreadsheet has been through it
 * (review_csv.h says what is accepted) or the decisions file that the review
 * page saves (JSON: {"reviewer": ..., "decisions": [{generation_id, sku,
 * output, locale, decision, edited_text, comment}, ...]}; a bare array of such
 * objects, as `skugen export --format json` writes, is taken too).
 *
 * Every row is checked before anything is written, in one transaction:
 * the decision is approve, reject or edit (any case; empty means no decision
 * and the row is skipped), an edit has its text, the generation exists and is
 * still the SKU (output, locale) the row says, it is decided once in the
 * file, and nothing superseded it since the export.  A row whose decision the
 * store already has (the same decision, the same edited text) is skipped,
 * so importing a file twice applies nothing the second time.  Unless every
 * row is good, nothing is applied (partial: the good ones are).
 *
 * Applying: approve makes the generation approved (a published one stays
 * published), reject makes it rejected, edit makes a new generation (version
 * + 1, revises the old one, the edited text, approved) with human provenance
 * (generator "human", activity "review:<review id>", the reviewer, the time,
 * the comment) and supersedes the old one.  Every decision is a row in
 * skugen.reviews, with the file and line it came from.
 */
#ifndef SKUGEN_REVIEW_IMPORT_H
#define SKUGEN_REVIEW_IMPORT_H

#include <stdbool.h>

#include "batch/store.h"
#include "common/err.h"

struct review_import_opts {
	const char *path;              /* the file; "-" is standard input (CSV only) */
	const char *reviewer;          /* wins over the file's; NULL: the file's */
	const char *default_reviewer;  /* when neither names one */
	bool partial;                  /* apply the good rows even when some are bad */
};

/* One bad row: where it is and what is wrong (message owned by the report). */
struct review_problem {
	long line;
	long entry;                    /* JSON: the index in the decisions array; CSV: -1 */
	char *message;
};

struct review_import_report {
	const char *format;            /* "csv" or "json" (static) */
	char *reviewer;                /* who the decisions are recorded for (owned) */
	bool bare_array;               /* JSON: a top-level array, not {"decisions": [...]} */
	long rows;                     /* rows (CSV records after the header, JSON entries) */
	long undecided;                /* rows without a decision: skipped */
	long approved, rejected, edited;
	long already;                  /* decisions the store already had: skipped */
	long bad;                      /* rows refused, each in problems, sorted by line */
	struct review_problem *problems;
	size_t n_problems, cap;
	bool applied;                  /* the good decisions were written */
};

/* Read, check and (when every row is good, or with partial) apply.  Bad rows
 * are not an error: they are in the report, and nothing is applied unless
 * partial.  -1 when the file cannot be read or is not a review file
 * (ERR_IO, ERR_INPUT: nothing applied) or the store fails (ERR_STORE).
 * Free the report with review_import_report_free, after either outcome. */
int review_import(struct store *st, const struct review_import_opts *o,
		  struct review_import_report *rep, struct err *e);

void review_import_report_free(struct review_import_report *rep);

#endif
