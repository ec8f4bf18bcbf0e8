/* store.h: skugen's state in Postgres (schema "skugen").
 *
 * store_open() connects to the configured DSN, or starts the embedded
 * cluster when there is none, then applies any pending migrations (under an
 * advisory lock, so that many workers starting at once migrate once).
 *
 * Query helpers wrap libpq with the house error convention; every statement
 * is parameterised (values never pasted into SQL).
 */
#ifndef SKUGEN_STORE_H
#define SKUGEN_STORE_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "common/err.h"

struct store {
	PGconn *pg;
	char *dsn;       /* the connection string used (no password inside for the embedded one) */
	bool embedded;
};

/* How to find the store: dsn when set (config store.dsn or SKUGEN_DSN), else
 * the embedded cluster under home. */
struct store_target {
	const char *dsn;
	const char *home;
};

/* Connect (starting the embedded cluster when needed) and migrate.  *out is
 * new; close with store_close.  ERR_STORE when unreachable. */
int store_open(struct store **out, const struct store_target *t, struct err *e);
void store_close(struct store *s);

/* Apply pending migrations; *applied (may be NULL) counts them. */
int store_migrate(struct store *s, int *applied, struct err *e);

/* The schema version the code expects. */
int store_schema_version(void);

/* Run sql with params (text format; NULL is SQL NULL).  On success returns a
 * new PGresult (PQclear it) with status TUPLES_OK or COMMAND_OK. */
PGresult *store_query(struct store *s, const char *sql, int nparams,
		      const char *const *params, struct err *e);

/* Run sql and discard the result. */
int store_exec(struct store *s, const char *sql, int nparams,
	       const char *const *params, struct err *e);

int store_begin(struct store *s, struct err *e);
int store_commit(struct store *s, struct err *e);
/* Roll back, ignoring errors (used on failure paths). */
void store_rollback(struct store *s);

#endif
