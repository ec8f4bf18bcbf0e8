/* progress.h: a run's progress as it goes, for people and for machines.
 *
 * A reporter follows one run by polling the store (run_stats.h) at most once
 * a second (less often for runs so big that counting them takes more than a
 * fifth of that), so it shows the same numbers whether the run is executed
 * by this process or by workers elsewhere.  Three ways to print:
 *   PROGRESS_TTY    one line redrawn in place ("\r", erase to the end):
 *                   finished/total, rate, ETA, cost so far, failures
 *   PROGRESS_PLAIN  the same line, newline-terminated, every interval
 *                   (for logs: stderr is not a terminal)
 *   PROGRESS_JSON   one JSON object per line every interval (--log-json):
 *                   {"event": "progress" | "end" (the run ended) | "stop"
 *                   (the reporter closed first), "run_id", "ts" (UTC,
 *                   ISO 8601), "status", "counts": {state: n}, "total",
 *                   "finished", "rate" (tasks/s over the last minute),
 *                   "eta_s" (null when unknown), "cost", "budget" (null when
 *                   none), "failures", "bad_records", "heartbeat_age_s"}
 * A running run whose row has not been touched for PROGRESS_STALE_S says so
 * on its line ("no heartbeat for 3m05s"): its process may have died (the
 * next run or worker reaps it after ten minutes).
 *
 * Typical use:
 *   p = progress_open(stderr, progress_mode_for(stderr, log_json), run_id);
 *   while (working) progress_poll(p, st, false, &e);   // cheap when called often
 *   progress_poll(p, st, true, &e);                    // the final numbers
 *   progress_close(p);                                 // the final line
 * In `skugen run`, make the forced poll after run_finish(): the last line then
 * says how the run ended ("done after 12s", JSON event "end") rather than
 * "stop" with the run still marked running.
 *
 * progress_poll queries through st's connection: call it between
 * transactions (or give it a connection of its own).
 */
#ifndef SKUGEN_PROGRESS_H
#define SKUGEN_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "batch/run_stats.h"
#include "batch/store.h"
#include "common/err.h"

enum progress_mode { PROGRESS_TTY, PROGRESS_PLAIN, PROGRESS_JSON };

#define PROGRESS_STALE_S 60

/* JSON when asked, else TTY when out is a terminal (and TERM is not
 * "dumb"), else PLAIN. */
enum progress_mode progress_mode_for(FILE *out, bool json);

struct progress;

/* A reporter for run_id printing on out (borrowed: it must outlive the
 * reporter).  New; NULL on no memory.  Plain and JSON lines come every 10
 * seconds unless progress_set_interval says otherwise. */
struct progress *progress_open(FILE *out, enum progress_mode mode, long run_id);

/* Seconds between plain or JSON lines (at least 0.2). */
void progress_set_interval(struct progress *p, double seconds);

/* Read the run's standing (at most once a second, see above, unless force) and print
 * what the mode calls for: the TTY line on every read, a plain or JSON line
 * when the interval has passed, when forced, on the first read and when the
 * run has just ended.  -1 when the store fails (nothing printed). */
int progress_poll(struct progress *p, struct store *st, bool force, struct err *e);

/* Whether the last read found the run ended (done, failed, cancelled...). */
bool progress_ended(const struct progress *p);

/* The last snapshot read (borrowed), NULL before the first. */
const struct run_snapshot *progress_last(const struct progress *p);

/* Print the final line from the last read (the TTY line is finished with a
 * newline; JSON mode writes an "end" event) and free p.  Accepts NULL. */
void progress_close(struct progress *p);

/* For executor_opts.progress (batch/executor.h), which the executor calls
 * after each commit and while idle, outside any transaction:
 *   struct progress_hook h = { .p = p, .st = st };
 *   eo.progress = progress_hook; eo.progress_ctx = &h;
 * It polls (at most once a second); a failed read is ignored (progress must
 * never stop a run) and kept in h.e for who wants to know. */
struct run_counts;
struct progress_hook {
	struct progress *p;   /* borrowed */
	struct store *st;     /* borrowed */
	struct err e;         /* the last failed read, if any */
};
void progress_hook(const struct run_counts *c, void *hook);

/* The human line for a snapshot into out (at most cap bytes, cut). */
void progress_format_line(const struct run_snapshot *snap, char *out, size_t cap);

#endif
