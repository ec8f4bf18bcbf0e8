/* exec_int.h: what executor.c (the loop: claim, commit, heartbeat) and
 * exec_job.c (one task through its generator chain) share.  Internal to
 * batch/. */
#ifndef SKUGEN_EXEC_INT_H
#define SKUGEN_EXEC_INT_H

#include <stdbool.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "batch/executor.h"
#include "batch/queue.h"
#include "providers/generator.h"
#include "providers/provider.h"

/* Local generator instances, one per configured "template" generator. */
struct gen_pool {
	json_t *index;        /* name -> integer index */
	struct gen **gens;
	const struct gen_ops **ops;
	size_t n;
};

struct exec {
	struct store *st;
	const struct settings *s;
	struct tmpl_lib *lib;
	const struct executor_opts *o;
	struct run_counts *counts;
	const char *worker;        /* run_worker_name() */
	struct gen_pool gens;
	struct prov_pool *prov;    /* NULL when no generator is remote */
	json_t *schemas;           /* generator name -> its JSON Schema (loaded once) */
	/* Waiting for the next commit, each checked against the claim (worker,
	 * attempt) when it is applied: */
	json_t *done;              /* rows of finished tasks */
	json_t *failed;            /* {task_id, attempt, error, retry} */
	json_t *ledger;            /* one row per provider attempt (with run_id) */
	json_t *released;          /* {task_id, attempt}: back to the queue, not counted */
	json_t *cancelled;         /* {task_id, attempt, error} */
	size_t in_flight;          /* tasks waiting on a provider */
	json_t *inflight_runs;     /* run id -> calls in flight */
	json_t *stopped_runs;      /* run id -> why no call of it may start any more */
	double last_run_hb;        /* when the run's heartbeat was last written */
	double wire_ms;            /* calls' latency on the wire (moving average) */
	struct err fatal;          /* set when a callback hits a fatal error */
	bool has_fatal;
};

/* Take claimed row i of r (queue_claim()'s columns) through its generator
 * chain: a local generator finishes at once, a remote one later from
 * prov_pool_run().  -1 only on a fatal error (no memory, the store). */
int exec_job_start(struct exec *x, PGresult *r, int i);

/* Stop every call of run_id that has not started (why: the task's
 * last_error): its queued tasks are cancelled in the store at once. */
int exec_stop_run(struct exec *x, long run_id, const char *why);

/* For prov_pool_cancel_if: whether the job behind a call (the ctx every
 * call of exec_job.c carries) belongs to one of the runs cancelled (a JSON
 * object keyed by run id).  Only those: a run stopped by its budget or
 * deadline lets the calls it sent finish and be stored, its resumed fal
 * jobs among them (paid for). */
bool exec_job_run_cancelled(void *call_ctx, void *cancelled);

/* Wall-clock milliseconds. */
double exec_now_ms(void);

#endif
