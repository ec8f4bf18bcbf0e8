/* review_diff.h: word-level differences between today's copy and the
 * generated one, for the review page (batch/review_html.c).
 *
 * Both texts are cut into tokens: runs of word characters (ASCII letters,
 * digits, '_' and every byte of a multi-byte UTF-8 sequence, so a sequence is
 * never split), runs of whitespace, and single punctuation characters.  The
 * shortest edit script over the tokens is Myers' O(ND) algorithm, bounded by
 * max_edits: past it, the differing middle (after the common prefix and
 * suffix) is shown as one deletion and one insertion, which is still true,
 * only coarser.  Whitespace-only runs that sit between two changes are folded
 * into them, so "the red coat" -> "a blue coat" reads as one change, not two.
 *
 * Ownership: the spans point into the two texts given (borrowed); the array
 * of spans is owned by the struct review_diff and freed by review_diff_free.
 */
#ifndef SKUGEN_REVIEW_DIFF_H
#define SKUGEN_REVIEW_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

enum review_diff_op {
	REVIEW_DIFF_EQUAL = '=',   /* in both: p points into the old text */
	REVIEW_DIFF_DELETE = '-',  /* only in the old text */
	REVIEW_DIFF_INSERT = '+',  /* only in the new text */
};

struct review_diff_span {
	char op;                   /* enum review_diff_op */
	const char *p;             /* borrowed: into the old or the new text */
	size_t n;
};

struct review_diff {
	struct review_diff_span *spans;
	size_t n, cap;
	bool coarse;               /* max_edits was reached: one change in the middle */
};

/* The default bound on edits (tokens inserted plus deleted). */
#define REVIEW_DIFF_MAX_EDITS 1000

/* Fill d (reset first; a zeroed struct is a valid empty one) with the spans
 * that turn old into new: the EQUAL and DELETE spans, in order, spell old;
 * the EQUAL and INSERT spans spell new.  Adjacent spans never share an op.
 * ERR_NOMEM only. */
int review_diff_words(const char *old, size_t old_len, const char *new_text, size_t new_len,
		      size_t max_edits, struct review_diff *d, struct err *e);

/* Free the spans; d becomes empty.  Accepts NULL. */
void review_diff_free(struct review_diff *d);

#endif
