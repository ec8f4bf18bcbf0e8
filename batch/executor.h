/* executor.h: claim queued tasks, generate, store the results.
 *
 * Tasks are claimed in batches with FOR UPDATE SKIP LOCKED under a lease (so
 * several processes can share a run), rendered, handed to their generator,
 * and committed in one transaction per batch that inserts the generations and
 * their provenance and marks the tasks done: a result is never stored without
 * its task being marked, nor a task marked without its result.  The unique
 * live fingerprint makes a second insert of the same work a no-op (the task
 * is then "skipped"), so a crash at any point stores nothing twice.
 */
#ifndef SKUGEN_EXECUTOR_H
#define SKUGEN_EXECUTOR_H

#include <stdbool.h>

#include "batch/run.h"
#include "batch/settings.h"
#include "batch/store.h"
#include "templates/tmpl.h"

struct executor_opts {
	long run_id;
	bool force;          /* supersede a live generation with the same fingerprint */
	int batch_size;      /* tasks per claim and per commit */
	bool dry_run;        /* estimate tokens and cost, call nothing, store nothing */
	void (*progress)(const struct run_counts *c, void *ctx);  /* may be NULL */
	void *progress_ctx;
};

/* Run until no queued task of the run is left.  Adds to counts->done,
 * ->skipped and ->failed.  -1 only when the store fails. */
int executor_run(struct store *st, const struct settings *s, struct tmpl_lib *lib,
		 const struct executor_opts *o, struct run_counts *counts, struct err *e);

#endif
