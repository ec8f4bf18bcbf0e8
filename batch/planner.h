/* planner.h: records in, tasks out.
 *
 * For every usable record and every (output, locale) the configuration asks
 * for, the planner selects the template (by the record's category and the
 * locale), projects the record onto the fields that template reads, and
 * computes the task's fingerprint:
 *
 *   sha256( output, kind, locale, channel, template sha256,
 *           generator type + configuration, canonical JSON of the projection )
 *
 * A task whose fingerprint already has a live generation is planned as
 * "skipped" (unless forced); the rest are queued.  Bad records and duplicate
 * SKUs are recorded in skugen.record_errors with their origin; the run goes on.
 * Tasks are written in one statement per batch of records.
 */
#ifndef SKUGEN_PLANNER_H
#define SKUGEN_PLANNER_H

#include <stdbool.h>

#include "batch/run.h"
#include "batch/settings.h"
#include "batch/store.h"
#include "connectors/record.h"
#include "templates/tmpl.h"

struct planner;

struct planner_opts {
	long run_id;
	bool force;            /* queue even when the fingerprint has a generation */
	const json_t *only;    /* NULL, or an array of SKUs: plan only those (regen) */
	int priority;          /* higher is claimed first */
	int max_attempts;      /* claims before a task is dead (0: 5) */
	const json_t *outputs; /* NULL, or an array of output names or kinds: plan only those */
};

/* Borrowed: st, s, lib must outlive the planner. */
int planner_new(struct planner **out, struct store *st, const struct settings *s,
		struct tmpl_lib *lib, const struct planner_opts *o, struct err *e);

/* Plan one batch.  -1 only when the store fails; bad records are counted. */
int planner_add(struct planner *p, const struct record_batch *b, struct err *e);

/* Counts so far (records, bad_records, tasks, queued, skipped, failed). */
const struct run_counts *planner_counts(const struct planner *p);

/* SKUs from `only` that no record matched, as a new JSON array. */
json_t *planner_unmatched(const struct planner *p);

void planner_free(struct planner *p);

#endif
