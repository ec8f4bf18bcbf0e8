/* checks.h: what a generated text is checked for before a reviewer sees it.
 *
 * Each output may carry a "checks" object in the configuration:
 *
 *   "checks": { "min_length": 80, "max_length": 1000,
 *               "banned_words": ["cheap", "best ever"],
 *               "grounded_numbers": true, "duplicates": true }
 *
 * Checks never fail a task: a generation that misses one is stored like any
 * other and carries the result, [{name, ok, detail}], in generations.checks,
 * where the review export and page show it.  The reviewer decides.
 *
 * - min_length / max_length: in characters (Unicode code points).
 * - banned_words: whole words or phrases, case-insensitive for ASCII letters;
 *   non-ASCII letters count as word characters and compare exactly.
 * - grounded_numbers: every number of two or more digits in the text must
 *   appear among the numbers of the inputs the template read (the task's
 *   input projection), read in both decimal conventions ("1,5" and "1.5",
 *   "10,000" and "10.000").  A claimed "5000 mAh" that the record does not
 *   hold is the typical hallucination this catches.  Single digits are not
 *   checked: "2 pockets" reads like a count the model may take from prose.
 * - duplicates: no other live generation of the same output and locale has
 *   the same text (checked in the store at commit, see checks_duplicates_sql).
 */
#ifndef SKUGEN_CHECKS_H
#define SKUGEN_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "common/config.h"
#include "common/err.h"

struct checks;

/* Validate and compile obj (at objpath in c; may be NULL: no checks).  *out
 * is new (free with checks_free), or NULL when obj is NULL. */
int checks_compile(const struct config *c, const json_t *obj, const char *objpath,
		   struct checks **out, struct err *e);

void checks_free(struct checks *ch);

/* Whether the duplicates check is asked for. */
bool checks_want_duplicates(const struct checks *ch);

/* Run the text checks on content (UTF-8) against input (the projection the
 * templates read; may be NULL).  Returns a new array of {name, ok, detail}
 * (empty when ch is NULL), or NULL when out of memory. */
json_t *checks_run(const struct checks *ch, const char *content, size_t len, const json_t *input);

/* SQL, run in the commit's transaction after the generations are inserted,
 * with $1 the commit's rows ([{generation_id, task_id, check_duplicates}]):
 * appends the "duplicate" result to the checks of each generation whose row
 * asks for it, naming the first other SKU whose live generation of the same
 * output and locale has the same text (a row whose insert was skipped has
 * no generation with its id and task, and is left alone). */
extern const char *const checks_duplicates_sql;

#endif
