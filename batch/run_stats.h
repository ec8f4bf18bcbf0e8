/* run_stats.h: where one run stands, read from the store alone.
 *
 * A snapshot counts the run's tasks by state, what it has spent (the cost
 * ledger), its budget and deadline, and how many tasks finished in the last
 * minute.  It reads only the store, so it works the same whether the run is
 * executed by this process, by other processes or by workers on other
 * machines.  `skugen status`, the progress reporter (progress.h) and the run
 * report (report.h) all start from it.
 */
#ifndef SKUGEN_RUN_STATS_H
#define SKUGEN_RUN_STATS_H

#include <stdbool.h>

#include "batch/store.h"
#include "common/err.h"

/* The task states, in the order they are shown. */
enum run_state {
	RS_QUEUED, RS_RUNNING, RS_WAITING, RS_DONE, RS_SKIPPED, RS_FAILED, RS_DEAD,
	RS_CANCELLED, RS_OTHER, RS_N
};

/* The name of a state ("other" for RS_OTHER). */
const char *run_state_name(enum run_state s);

struct run_snapshot {
	long run_id;
	char status[16];       /* runs.status: running, done, failed, interrupted, cancelled */
	char kind[16];         /* run or regen */
	char started_at[32];   /* "YYYY-MM-DD HH:MM:SS+00" in UTC */
	char message[256];     /* runs.message, cut; "" when none */
	double age_s;          /* seconds since the run started (to its end when it ended) */
	double heartbeat_age_s;/* seconds since the run row's heartbeat */
	bool ended;            /* status is not running */
	long count[RS_N];      /* tasks by state */
	long total;            /* all tasks of the run */
	long finished;         /* tasks in a final state: done, skipped, failed, dead, cancelled */
	long worked;           /* tasks a generator worked on: done, failed, dead */
	long remaining;        /* tasks still to do: queued, running, waiting */
	long failures;         /* failed and dead tasks */
	long bad_records;      /* records the source could not give (record_errors) */
	long worked_last_min;  /* done, failed or dead in the last 60 seconds (recent reads) */
	double rate;           /* tasks per second: run_snapshot_rate() of a recent read;
				  0 (unknown) after a plain one, for the caller to fill */
	double cost;           /* sum of the run's cost ledger */
	bool has_budget;
	double budget;         /* runs.budget when has_budget */
	char deadline[32];     /* runs.deadline in UTC, "" when none */
	double deadline_in_s;  /* seconds until the deadline (negative: past) when deadline[0] */
};

/* Fill *snap for run_id.  recent: also count what finished in the last
 * minute, for the rate (that needs the tasks' rows; without it the counts
 * come from the (run_id, state) index alone, about twice as fast on a big
 * run).  ERR_USAGE when there is no such run. */
int run_snapshot_load(struct store *st, long run_id, bool recent, struct run_snapshot *snap,
		      struct err *e);

/* The newest run's id, 0 when the store has none. */
int run_latest(struct store *st, long *run_id, struct err *e);

/* Tasks per second (done, failed, dead) over the last minute, or since the
 * run started when it is younger than a minute; for an ended run, over its
 * whole duration.  0 when nothing finished. */
double run_snapshot_rate(const struct run_snapshot *snap);

/* Format seconds as "42s", "3m05s", "2h07m" or "3d04h" into out (16 bytes);
 * "-" for a negative or non-finite value. */
void run_format_duration(double s, char out[16]);

#endif
