/* queue.h: the shared task queue in Postgres (skugen.tasks).
 *
 * Every worker, of any run and on any machine that reaches the DSN, claims
 * from one queue: queued tasks of running runs, highest priority first (regen
 * 100 > nightly 0), then oldest, in batches with FOR UPDATE SKIP LOCKED,
 * filtered by output kind, never before a task's retry time (not_before).
 * A claim is a lease: state running, worker and attempt set, lease_until
 * renewed by heartbeats while the worker holds it.  The (worker, attempt)
 * pair identifies the claim: commits and failures check it, so a task whose
 * lease expired and was reclaimed is never finished twice.
 *
 * Reclaim: an expired lease (its worker died or hung) returns the task to the
 * queue, or makes it dead once it used max_attempts claims.  Retryable
 * failures go back with exponential backoff and jitter, and are dead after
 * max_attempts too; last_error always keeps why.
 *
 * Budgets and deadlines hold across workers: a call of a run with a budget
 * starts only after queue_reserve() set its estimate on the task under the
 * run's row lock, so that spent + every reservation stays within the budget,
 * whichever worker spends.
 *
 * NOTIFY skugen_tasks is sent when work becomes claimable (planning,
 * requeues, reclaims); idle workers LISTEN and poll as a fallback.
 */
#ifndef SKUGEN_QUEUE_H
#define SKUGEN_QUEUE_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "batch/settings.h"
#include "batch/store.h"
#include "common/err.h"

#define QUEUE_CHANNEL "skugen_tasks"

/* Why tasks of a run were cancelled before they started: the exact texts
 * stored in last_error. */
#define QUEUE_BUDGET_REASON "budget reached before it started"
#define QUEUE_DEADLINE_REASON "deadline passed before it started"

struct queue_claim {
	const char *worker;     /* the claimer's name (run_worker_name()) */
	long run_id;            /* 0: any running run; else only this run's tasks */
	const char *kinds;      /* NULL: every kind; else a Postgres array, "{text,image}" */
	int limit;
	double lease_s;
};

/* Columns of queue_claim()'s result. */
enum { Q_ID, Q_SKU, Q_OUTPUT, Q_LOCALE, Q_CHANNEL, Q_KIND, Q_FP, Q_TEMPLATES, Q_INPUT,
       Q_FIELDS, Q_ATTEMPT, Q_CATEGORY, Q_RUN_ID, Q_GENERATION_ID, Q_REMOTE_RESULT, Q_FORCE,
       Q_DEADLINE, Q_BUDGET, Q_REMOTE_REQUEST_ID, Q_GENERATOR, Q_FALLBACK_FROM, Q_FALLBACK_REASON };

/* Claim up to c->limit tasks: new PGresult (PQclear it), one row per task,
 * with a generation id reserved from skugen.generations_id_seq.  Q_DEADLINE
 * is the run's deadline in epoch seconds or NULL; Q_BUDGET the run's budget
 * or NULL; Q_REMOTE_REQUEST_ID the remote job a waiting task was waiting for
 * (fal's request id), or NULL; Q_GENERATOR the generator that submitted it
 * (else the chain's first, as planned); Q_FALLBACK_FROM and
 * Q_FALLBACK_REASON the generator the chain fell back from before that
 * submit, and why (NULL when it did not). */
PGresult *queue_claim(struct store *st, const struct queue_claim *c, struct err *e);

/* Renew the leases worker holds.  *held (new JSON object, may be NULL on
 * error) maps each task id still held to its run's status ("running",
 * "cancelled", ...): a task missing from it was reclaimed. */
int queue_heartbeat(struct store *st, const char *worker, double lease_s, json_t **held,
		    struct err *e);

/* Return expired leases to the queue (or dead, or cancelled when their run
 * is no longer running); *n (may be NULL) counts them. */
int queue_reclaim(struct store *st, long *n, struct err *e);

/* Set a reservation of cost on task (held by worker, claim attempt) of run
 * when spent + the run's reservations + cost stays within its budget.
 * *ok false: it would not; then *wait true when it still may, once the
 * calls holding the other reservations have come in (spent + cost fits), and
 * false when the budget is spent; *wait is true too when the task is no
 * longer this claim's (the caller then lets it go).  A reservation adds to
 * the task's earlier one (a fallback after a call whose cost is not yet in
 * the run's spent).  Runs its own transaction. */
int queue_reserve(struct store *st, long run_id, long long task_id, int attempt,
		  const char *worker, double cost, bool *ok, bool *wait, struct err *e);

/* Cancel the queued tasks of run_id with reason (their last_error); *n (may
 * be NULL) counts them. */
int queue_cancel_unstarted(struct store *st, long run_id, const char *reason, long *n,
			   struct err *e);

/* SQL for the executor's commit (jsonb_to_recordset of rows):
 * queue_fail_sql($1 rows {task_id, attempt, error, retry}, $2 worker,
 *   $3 backoff_s, $4 backoff_max_s): failed, or queued again with backoff, or
 *   dead after max_attempts; returns the new states.
 * queue_release_sql($1 rows {task_id, attempt, delay_s}, $2 worker): claimed
 *   but not started (or stopped): queued again, the attempt not counted, not
 *   claimable for delay_s (may be absent).
 * queue_cancel_sql($1 rows {task_id, attempt, error}, $2 worker): cancelled. */
extern const char *const queue_fail_sql;
extern const char *const queue_release_sql;
extern const char *const queue_cancel_sql;

/* NOTIFY idle workers that work may be claimable. */
int queue_notify(struct store *st, struct err *e);

/* LISTEN on the store's connection. */
int queue_listen(struct store *st, struct err *e);

/* The claimed task (task_id, attempt, still held by worker) is a remote job
 * whose answer comes by webhook: it goes 'waiting' with request_id, its
 * lease released and its budget reservation kept, until the webhook queues
 * it again with remote_result, or until timeout_s passes and queue_reclaim()
 * queues it to be polled (remote_request_id kept: never submitted again).
 * A webhook that came first queues it at once (migration 7's trigger).
 * The task's generator becomes the one that submitted (which finishes it);
 * fallback_from and fallback_reason (NULL: none) say which generator failed
 * before it and why, for the provenance of the finished task.
 * *held (may be NULL): false when the claim was lost meanwhile. */
int queue_await_remote(struct store *st, long long task_id, int attempt, const char *worker,
		       const char *generator, const char *request_id, const char *fallback_from,
		       const char *fallback_reason, double timeout_s, bool *held, struct err *e);

/* Wait up to timeout_ms for a notification (or for the socket to say
 * something); true when one came.  Consumes what is pending. */
bool queue_wait(struct store *st, int timeout_ms);

/* Live tasks (queued, running, waiting) of run_id; *soonest (may be NULL)
 * gets the seconds until the earliest not_before of its queued tasks (0 when
 * one is claimable now, -1 when none is queued). */
int queue_live(struct store *st, long run_id, long *live, double *soonest, struct err *e);

/* Live tasks of running runs of the given kinds (NULL: all), for
 * --exit-when-idle. */
int queue_live_all(struct store *st, const char *kinds, long *live, struct err *e);

/* Move finished tasks of runs finished more than older_than_s ago to
 * skugen.tasks_archive; *n (may be NULL) counts them. */
int queue_archive(struct store *st, double older_than_s, long *n, struct err *e);

#endif
