/* executor.h: claim tasks from the shared queue, generate, store the results.
 *
 * Tasks are claimed in batches from the queue (batch/queue.h: any running
 * run's, or one run's, priority first) under a lease renewed by heartbeats,
 * rendered, handed to their generator, and committed in one transaction that
 * inserts the generations and their provenance and marks the tasks done: a
 * result is never stored without its task being marked, nor a task marked
 * without its result.  Answers are committed as soon as they arrive, before
 * the loop asks any provider for more, and every commit checks the claim
 * (worker and attempt), so a task reclaimed from a worker thought dead is
 * never finished twice.  The unique live fingerprint makes a second insert of
 * the same work a no-op (the task is then "skipped").
 */
#ifndef SKUGEN_EXECUTOR_H
#define SKUGEN_EXECUTOR_H

#include <signal.h>
#include <stdbool.h>

#include "batch/run.h"
#include "batch/settings.h"
#include "batch/store.h"
#include "templates/tmpl.h"

struct executor_opts {
	long run_id;         /* 0: claim from every running run (skugen worker) */
	const char *kinds;   /* NULL: every output kind; else a Postgres array "{text,image}" */
	bool exit_when_idle; /* run_id 0: return when no live task of these kinds is left */
	int batch_size;      /* tasks per claim (default 64) */
	bool dry_run;        /* estimate tokens and cost, call nothing, store nothing */
	bool watch_only;     /* claim nothing: wait (heartbeating the run) while workers
				elsewhere finish the run's tasks */
	volatile sig_atomic_t *stop; /* may be NULL; non-zero: claim no more, finish and
					commit what is in flight, release the rest, return */
	void (*progress)(const struct run_counts *c, void *ctx);  /* may be NULL; after
					each commit and while idle */
	void *progress_ctx;
};

/* With a run_id: run until no live task (queued, running, waiting) of the run
 * is left.  Without: until stopped, or idle with exit_when_idle.  Adds to
 * counts->done, ->skipped and ->failed what this process finished.  -1 only
 * when the store fails. */
int executor_run(struct store *st, const struct settings *s, struct tmpl_lib *lib,
		 const struct executor_opts *o, struct run_counts *counts, struct err *e);

#endif
