/* exec_int.h: what executor.c (the loop: claim, commit) and exec_job.c (one
 * task through its generator chain) share.  Internal to batch/. */
#ifndef SKUGEN_EXEC_INT_H
#define SKUGEN_EXEC_INT_H

#include <stdbool.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "batch/executor.h"
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
	struct gen_pool gens;
	struct prov_pool *prov;    /* NULL when no generator is remote */
	json_t *schemas;           /* generator name -> its JSON Schema (loaded once) */
	json_t *done;              /* rows of finished tasks, waiting for the commit */
	json_t *failed;            /* {task_id, error} of failed tasks */
	json_t *ledger;            /* one row per provider attempt */
	json_t *requeue;           /* task ids put back (budget reached before submitting) */
	size_t in_flight;          /* tasks waiting on a provider */
	double spent;              /* the run's cost so far (ledger) */
	double reserved;           /* estimated cost of the calls in flight */
	bool budget_stop;          /* the next call could exceed the budget: claim no more */
	struct err fatal;          /* set when a callback hits a fatal error */
	bool has_fatal;
};

/* Columns of the claim query. */
enum { C_ID, C_SKU, C_OUTPUT, C_LOCALE, C_CHANNEL, C_KIND, C_FP, C_TEMPLATES, C_INPUT,
       C_FIELDS, C_ATTEMPT, C_CATEGORY };

/* Take claimed row i of r through its generator chain: a local generator
 * finishes at once, a remote one later from prov_pool_run().  -1 only on a
 * fatal error (no memory). */
int exec_job_start(struct exec *x, PGresult *r, int i);

/* Wall-clock milliseconds. */
double exec_now_ms(void);

#endif
