/* store.c: connecting to the store and migrating it (see store.h). */
#include "batch/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/migrations.h"
#include "batch/pg_embedded.h"

/* Any fixed number: the key of the advisory lock that serialises migrations. */
#define MIGRATION_LOCK_KEY "7261836401"

/* libpq's messages end with a newline; ours do not. */
static const char *pg_message(const char *msg)
{
	static _Thread_local char clean[ERR_MSG_MAX];
	size_t n;

	snprintf(clean, sizeof clean, "%s", msg ? msg : "");
	n = strlen(clean);
	while (n && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
		clean[--n] = '\0';
	for (char *p = clean; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return clean;
}

int store_schema_version(void)
{
	int v = 0;

	for (size_t i = 0; store_migrations[i].version; i++)
		v = store_migrations[i].version;
	return v;
}

PGresult *store_query(struct store *s, const char *sql, int nparams,
		      const char *const *params, struct err *e)
{
	PGresult *r = PQexecParams(s->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	if (PQstatus(s->pg) == CONNECTION_BAD)
		err_set(e, ERR_STORE, "lost the connection to the store: %s", pg_message(PQerrorMessage(s->pg)));
	else
		err_set(e, ERR_STORE, "store query failed: %s", pg_message(r ? PQresultErrorMessage(r) : PQerrorMessage(s->pg)));
	PQclear(r);
	return NULL;
}

int store_exec(struct store *s, const char *sql, int nparams,
	       const char *const *params, struct err *e)
{
	PGresult *r = store_query(s, sql, nparams, params, e);

	PQclear(r);
	return r ? 0 : -1;
}

int store_begin(struct store *s, struct err *e)
{
	return store_exec(s, "begin", 0, NULL, e);
}

int store_commit(struct store *s, struct err *e)
{
	return store_exec(s, "commit", 0, NULL, e);
}

void store_rollback(struct store *s)
{
	PQclear(PQexec(s->pg, "rollback"));
}

int store_migrate(struct store *s, int *applied, struct err *e)
{
	PGresult *r = NULL;
	int current = 0, n = 0;

	if (applied)
		*applied = 0;
	if (store_exec(s, "select pg_advisory_lock(" MIGRATION_LOCK_KEY ")", 0, NULL, e) < 0)
		return err_prefix(e, "migrating the store");
	if (store_exec(s, "create schema if not exists skugen", 0, NULL, e) < 0 ||
	    store_exec(s, "create table if not exists skugen.schema_migrations ("
			  " version integer primary key, name text not null,"
			  " applied_at timestamptz not null default now())", 0, NULL, e) < 0)
		goto fail;
	r = store_query(s, "select coalesce(max(version), 0) from skugen.schema_migrations", 0, NULL, e);
	if (!r)
		goto fail;
	current = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (current > store_schema_version()) {
		err_set(e, ERR_STORE, "the store's schema is version %d but this skugen knows only up to %d: upgrade skugen",
			current, store_schema_version());
		goto fail;
	}
	for (size_t i = 0; store_migrations[i].version; i++) {
		const struct migration *m = &store_migrations[i];
		char version[16];
		const char *params[2] = { version, m->name };

		if (m->version <= current)
			continue;
		snprintf(version, sizeof version, "%d", m->version);
		if (store_begin(s, e) < 0)
			goto fail;
		/* A multi-statement script must go through the simple protocol. */
		r = PQexec(s->pg, m->sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			err_set(e, ERR_STORE, "migration %d (%s) failed: %s", m->version, m->name,
				pg_message(PQresultErrorMessage(r)));
			PQclear(r);
			store_rollback(s);
			goto fail;
		}
		PQclear(r);
		if (store_exec(s, "insert into skugen.schema_migrations (version, name) values ($1, $2)",
			       2, params, e) < 0 || store_commit(s, e) < 0) {
			store_rollback(s);
			goto fail;
		}
		n++;
	}
	store_exec(s, "select pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", 0, NULL, NULL);
	if (applied)
		*applied = n;
	return 0;
fail:
	PQclear(PQexec(s->pg, "select pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"));
	return -1;
}

int store_open(struct store **out, const struct store_target *t, struct err *e)
{
	struct store *s = calloc(1, sizeof *s);

	*out = NULL;
	if (!s)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (t->dsn && *t->dsn) {
		s->dsn = strdup(t->dsn);
	} else {
		s->embedded = true;
		if (pg_embedded_start(t->home, &s->dsn, e) < 0)
			goto fail;
	}
	if (!s->dsn) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	s->pg = PQconnectdb(s->dsn);
	if (PQstatus(s->pg) != CONNECTION_OK) {
		/* The DSN may hold a password: name the store by its host only. */
		err_set(e, ERR_STORE, "cannot connect to the store%s: %s",
			s->embedded ? " (embedded)" : "", pg_message(PQerrorMessage(s->pg)));
		goto fail;
	}
	PQclear(PQexec(s->pg, "set client_min_messages = warning"));
	if (store_migrate(s, NULL, e) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return -1;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	PQfinish(s->pg);
	free(s->dsn);
	free(s);
}
