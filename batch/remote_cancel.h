/* remote_cancel.h: telling fal to stop the jobs of tasks that will never take
 * their answer.
 *
 * A task waiting for a fal job (state waiting, or queued to poll it after
 * webhook_timeout_s) whose run is cancelled would leave the job running at
 * fal, and billed when it completes.  remote_cancel_jobs() asks fal to cancel
 * each such request through the provider of the generator that submitted it
 * (the task's generator: its base URL and key; the key is never printed or
 * stored), and appends what came of it to the task's last_error:
 *   "cancelled at fal (request ID)"
 *   "fal had already completed it (request ID: billed)"
 *   "fal did not know request ID"
 *   "not cancelled at fal (request ID): why"   (unreachable, no key, ...)
 * A provider that cannot be reached never makes this fail: it is counted and
 * noted on the task.
 */
#ifndef SKUGEN_REMOTE_CANCEL_H
#define SKUGEN_REMOTE_CANCEL_H

#include <libpq-fe.h>

#include "batch/settings.h"
#include "batch/store.h"
#include "common/err.h"

struct remote_cancel_counts {
	long asked;          /* requests fal was asked to cancel (or tried) */
	long cancelled;      /* fal took the cancellation */
	long completed;      /* ALREADY_COMPLETED: the job ran and is billed */
	long not_found;      /* fal did not know the request */
	long failed;         /* not cancelled: unreachable, no key, no such generator */
};

/* The jobs of rows (borrowed; columns: task id, generator, remote request
 * id; rows whose request id is NULL are skipped), cancelled at fal, each
 * outcome appended to its task's last_error.  Waits at most timeout_s for
 * fal's answers.  -1 only when the store cannot be written (or no memory). */
int remote_cancel_jobs(struct store *st, const struct settings *s, PGresult *rows, double timeout_s,
		       struct remote_cancel_counts *c, struct err *e);

/* A run that ends without finishing (it failed, or was stopped by a signal):
 * no worker will take its tasks' remote answers any more, so its tasks
 * waiting for a remote job (waiting, or queued to finish one) are cancelled
 * with why as their last_error, and their jobs at fal as above (at most
 * timeout_s).  *c (may be NULL) counts what fal answered. */
int remote_cancel_run(struct store *st, const struct settings *s, long run_id, const char *why,
		      double timeout_s, struct remote_cancel_counts *c, struct err *e);

/* "; fal: 2 jobs cancelled, 1 had already completed, 1 not cancelled (see
 * the tasks' last_error)" into out (size n), or "" when none was asked. */
void remote_cancel_summary(const struct remote_cancel_counts *c, char *out, size_t n);

#endif
