/* run.h: the life of one run in the store.
 *
 * A run is one `skugen run` or `skugen regen`: it plans tasks, executes them
 * and ends as done (every task finished, some perhaps failed) or failed (it
 * could not go on).  A run whose process died is found by the next one (same
 * host and its pid gone, or no heartbeat for ten minutes), marked
 * interrupted, and its unfinished tasks cancelled: the new run plans them
 * again and the fingerprints make sure nothing finished is made twice.
 */
#ifndef SKUGEN_RUN_H
#define SKUGEN_RUN_H

#include <stdbool.h>

#include "batch/store.h"
#include "common/err.h"

struct run_counts {
	long records;      /* records read from the source */
	long bad_records;  /* records that could not be used */
	long tasks;        /* tasks planned */
	long queued;       /* tasks that needed work */
	long skipped;      /* tasks whose fingerprint already had a generation */
	long done;         /* tasks that produced a new generation */
	long failed;       /* tasks that failed */
	double cost;       /* what the run has spent (the cost ledger) */
	bool budget_stopped; /* the budget stopped new submissions: tasks are left queued */
	long deadline_stopped; /* tasks cancelled because the run's deadline passed */
	long elsewhere;    /* tasks planned skipped because another run had them queued */
	/* Dry runs: what the queued tasks would cost. */
	long est_calls;    /* remote calls */
	long est_local;    /* tasks a local generator would make for free */
	long long est_tokens_in, est_tokens_out;
	double est_cost;
};

struct settings;

/* Mark dead runs interrupted and cancel their unfinished tasks; the fal
 * jobs those tasks waited for are cancelled at fal with s's providers
 * (remote_cancel.h; s NULL: not).  *reaped (may be NULL) counts them. */
int run_reap_dead(struct store *st, const struct settings *s, long *reaped, struct err *e);

/* Start a run row: kind "run" or "regen".  *run_id is set. */
int run_begin(struct store *st, const char *kind, const char *source, const char *config_path,
	      const char *config_sha256, bool force, long *run_id, struct err *e);

/* Take over a running regen run another process made (skugen serve):
 * host and pid become this process's.  ERR_INPUT when id is not one. */
int run_adopt(struct store *st, long run_id, struct err *e);

/* Set the run's budget (> 0) and deadline (> 0: seconds after its start),
 * which every worker enforces from the store. */
int run_set_limits(struct store *st, long run_id, double budget, double deadline_s, struct err *e);

/* The run's task outcomes from the store, whoever executed them: done,
 * skipped, failed (failed and dead), budget_stopped, deadline_stopped, cost.
 * The planner's counts are left alone. */
int run_load_counts(struct store *st, long run_id, struct run_counts *c, struct err *e);

/* Prove the run is alive (workers of other processes see it). */
int run_heartbeat(struct store *st, long run_id, struct err *e);

/* End it with status "done", "failed" or "cancelled" and a short message.
 * A failed run's queued tasks are cancelled (running ones are left to their
 * workers, whose answers are stored).  ERR_STORE when the run is
 * no longer running (another process reaped it as dead). */
int run_finish(struct store *st, long run_id, const char *status, const char *message,
	       struct err *e);

/* "host:pid", the worker name used in tasks and provenance (static storage). */
const char *run_worker_name(void);

#endif
