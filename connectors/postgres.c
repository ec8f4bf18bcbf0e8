/* postgres.c: the "postgres" connector: its configuration, connections and
 * ops table.  Reading is in pg_source.c, write-back in pg_sink.c, the row
 * decoder in pg_json.c; postgres.h documents them all. */
#include "connectors/postgres.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"
#include "connectors/pg_int.h"

#define DEFAULT_FETCH_ROWS 1000
#define MAX_FETCH_ROWS 1000000
#define DEFAULT_MAX_FIELD ((long long)1 << 20)
#define MAX_LIMIT ((long long)1 << 30)

/* ---- messages ---------------------------------------------------------- */


const char *conn_pg_message(PGconn *pg, const PGresult *r)
{
	static _Thread_local char clean[ERR_MSG_MAX];
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *msg;
	size_t n;

	if (primary) {
		/* the server's own words, without the "LINE 1: <our SQL>" and
		 * caret that the full message adds */
		snprintf(clean, sizeof clean, "%s%s%s", primary, detail ? " (" : "", detail ? detail : "");
		if (detail && strlen(clean) + 1 < sizeof clean)
			strcat(clean, ")");
	} else {
		msg = r ? PQresultErrorMessage(r) : NULL;
		if (!msg || !*msg)
			msg = pg ? PQerrorMessage(pg) : "";
		if (strncmp(msg, "ERROR:  ", 8) == 0 || strncmp(msg, "FATAL:  ", 8) == 0)
			msg += 8;
		snprintf(clean, sizeof clean, "%s", msg);
	}
	n = strlen(clean);
	while (n && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
		clean[--n] = '\0';
	for (char *p = clean; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	if (!clean[0])
		snprintf(clean, sizeof clean, "no message from libpq");
	return clean;
}

char *conn_pg_quote_ident(PGconn *pg, const char *s, bool qualified)
{
	const char *dot = qualified ? strchr(s, '.') : NULL;
	char *a, *b, *out = NULL;

	if (!dot) {
		a = PQescapeIdentifier(pg, s, strlen(s));
		if (a) {
			out = strdup(a);
			PQfreemem(a);
		}
		return out;
	}
	a = PQescapeIdentifier(pg, s, (size_t)(dot - s));
	b = PQescapeIdentifier(pg, dot + 1, strlen(dot + 1));
	if (a && b && asprintf(&out, "%s.%s", a, b) < 0)
		out = NULL;
	PQfreemem(a);
	PQfreemem(b);
	return out;
}

/* Notices (e.g. from the catalog's own triggers) are not skugen's to print. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int conn_pg_connect(struct pg_conn *pc, PGconn **out, struct err *e)
{
	/* expand_dbname: the DSN is parsed as a connection string and the
	 * keywords after it override what it says */
	const char *const keys[] = { "dbname", "fallback_application_name", "client_encoding", NULL };
	const char *const vals[] = { pc->dsn, "skugen", "UTF8", NULL };
	char name[SHOW_CAP];
	PGconn *pg;
	PGresult *r;
	int rc = -1;

	*out = NULL;
	show_quoted(name, pc->name, strlen(pc->name));
	pg = PQconnectdbParams(keys, vals, 1);
	if (!pg) {
		err_set(e, ERR_NOMEM, "out of memory connecting to the postgres source \"%s\"", name);
		goto out;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		/* libpq's message names the host, never the password */
		err_set(e, ERR_SOURCE, "cannot connect to the postgres source \"%s\": %s", name,
			conn_pg_message(pg, NULL));
		goto out;
	}
	PQsetNoticeProcessor(pg, quiet, NULL);
	/* Values come out the same whatever the server's or the user's
	 * defaults: timestamps in UTC and ISO 8601, floats exact. */
	r = PQexec(pg, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
		   "SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 1");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		err_set(e, ERR_SOURCE, "postgres source \"%s\": cannot set up the session: %s", name,
			conn_pg_message(pg, r));
		PQclear(r);
		goto out;
	}
	PQclear(r);
	*out = pg;
	pg = NULL;
	rc = 0;
out:
	PQfinish(pg);
	return rc;
}

/* ---- configuration ----------------------------------------------------- */

static const char *const cfg_keys[] = {
	"type", "dsn", "dsn_env", "table", "query", "key", "columns", "watermark", "where",
	"fetch_rows", "max_field_bytes", NULL,
};

/* Describe a JSON value for "got ..." in a message. */
static void describe(char *dst, size_t cap, const json_t *v)
{
	char shown[SHOW_CAP];

	switch (json_typeof(v)) {
	case JSON_STRING:
		show_quoted(shown, json_string_value(v), json_string_length(v));
		snprintf(dst, cap, "\"%s\"", shown);
		return;
	case JSON_INTEGER:
		snprintf(dst, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return;
	case JSON_REAL:
		snprintf(dst, cap, "%g", json_real_value(v));
		return;
	case JSON_OBJECT: snprintf(dst, cap, "an object"); return;
	case JSON_ARRAY: snprintf(dst, cap, "an array"); return;
	case JSON_TRUE: snprintf(dst, cap, "true"); return;
	case JSON_FALSE: snprintf(dst, cap, "false"); return;
	case JSON_NULL: snprintf(dst, cap, "null"); return;
	}
	snprintf(dst, cap, "something else");
}

/* A non-empty string without NUL (or NULL when absent). */
static int cfg_string(const json_t *cfg, const char *name, const char **out, struct err *e)
{
	const json_t *v = json_object_get(cfg, name);
	char got[SHOW_CAP + 8];

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		describe(got, sizeof got, v);
		return err_set(e, ERR_CONFIG, "source.%s: expected a non-empty string, got %s",
			       name, got);
	}
	*out = json_string_value(v);
	return 0;
}

static int cfg_int(const json_t *cfg, const char *name, long long def, long long max,
		   size_t *out, struct err *e)
{
	const json_t *v = json_object_get(cfg, name);
	char got[SHOW_CAP + 8];

	*out = (size_t)def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
		describe(got, sizeof got, v);
		return err_set(e, ERR_CONFIG, "source.%s: expected an integer from 1 to %lld, got %s",
			       name, max, got);
	}
	*out = (size_t)json_integer_value(v);
	return 0;
}

/* Whether a libpq connection string sets a password (in key=value form or
 * in a URI's user:password@). */
static bool has_password(const char *dsn)
{
	PQconninfoOption *opts;
	bool found = false;

	if (strcasestr(dsn, "password"))
		return true;
	opts = PQconninfoParse(dsn, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
			found = true;
	PQconninfoFree(opts);
	return found;
}

static int parse_config(struct pg_conn *pc, const json_t *cfg, struct err *e)
{
	const char *key, *type, *dsn, *dsn_env, *table, *query, *field;
	char shown[SHOW_CAP], *perr = NULL;
	PQconninfoOption *opts = NULL;
	const json_t *columns;
	json_t *v;
	int rc = -1;

	if (!json_is_object(cfg)) {
		err_set(e, ERR_CONFIG, "source: expected an object");
		goto out;
	}
	json_object_foreach((json_t *)cfg, key, v) {
		size_t i;

		for (i = 0; cfg_keys[i]; i++)
			if (strcmp(key, cfg_keys[i]) == 0)
				break;
		if (!cfg_keys[i]) {
			show_quoted(shown, key, strlen(key));
			err_set(e, ERR_CONFIG, "source.%s: unknown key (expected type, dsn, dsn_env, "
				"table, query, key, columns, watermark, where, fetch_rows or "
				"max_field_bytes)", shown);
			goto out;
		}
	}
	if (cfg_string(cfg, "type", &type, e) < 0)
		goto out;
	if (type && strcmp(type, "postgres") != 0) {
		show_quoted(shown, type, strlen(type));
		err_set(e, ERR_CONFIG, "source.type: expected \"postgres\", got \"%s\"", shown);
		goto out;
	}

	/* the DSN: from the environment, or from the file without a password */
	if (cfg_string(cfg, "dsn", &dsn, e) < 0 || cfg_string(cfg, "dsn_env", &dsn_env, e) < 0)
		goto out;
	if (dsn && dsn_env) {
		err_set(e, ERR_CONFIG, "source.dsn: give source.dsn or source.dsn_env, not both");
		goto out;
	}
	if (!dsn && !dsn_env) {
		err_set(e, ERR_CONFIG, "source.dsn_env: missing (the environment variable that holds "
			"the DSN; or source.dsn, without a password)");
		goto out;
	}
	if (dsn) {
		if (has_password(dsn)) {
			err_set(e, ERR_CONFIG, "source.dsn: holds a password; put the DSN in an "
				"environment variable and name it in source.dsn_env");
			goto out;
		}
		opts = PQconninfoParse(dsn, &perr);
		if (!opts && !perr)
			goto nomem;
		if (!opts) {
			char *nl = strchr(perr, '\n');

			if (nl)
				*nl = '\0';
			err_set(e, ERR_CONFIG, "source.dsn: %s", perr);
			goto out;
		}
	} else {
		show_quoted(shown, dsn_env, strlen(dsn_env));
		dsn = getenv(dsn_env);
		if (!dsn || !dsn[0]) {
			err_set(e, ERR_CONFIG, "source.dsn_env: the environment variable %s is not set",
				shown);
			goto out;
		}
		/* the value may hold a password: never quote it */
		opts = PQconninfoParse(dsn, &perr);
		if (!opts) {
			err_set(e, ERR_CONFIG, "source.dsn_env: the value of %s is not a libpq "
				"connection string", shown);
			goto out;
		}
	}
	if (!(pc->dsn = strdup(dsn)))
		goto nomem;

	if (cfg_string(cfg, "table", &table, e) < 0 || cfg_string(cfg, "query", &query, e) < 0)
		goto out;
	if (table && query) {
		err_set(e, ERR_CONFIG, "source.table: give source.table or source.query, not both");
		goto out;
	}
	if (!table && !query) {
		err_set(e, ERR_CONFIG, "source.table: missing (the table to read, or source.query)");
		goto out;
	}
	if (table) {
		const char *dot = strchr(table, '.');

		if (dot == table || (dot && (!dot[1] || strchr(dot + 1, '.')))) {
			show_quoted(shown, table, strlen(table));
			err_set(e, ERR_CONFIG, "source.table: expected \"table\" or \"schema.table\", "
				"got \"%s\"", shown);
			goto out;
		}
	}
	pc->query_mode = !table;
	if (!(pc->name = strdup(table ? table : "query")))
		goto nomem;

	if (cfg_string(cfg, "key", &field, e) < 0)
		goto out;
	if (!(pc->key = strdup(field ? field : "sku")))
		goto nomem;
	if (cfg_string(cfg, "watermark", &field, e) < 0 || cfg_string(cfg, "where", &field, e) < 0)
		goto out;
	columns = json_object_get(cfg, "columns");
	if (columns) {
		const char *from;
		json_t *to;

		if (!json_is_object(columns) || json_object_size(columns) == 0) {
			char got[SHOW_CAP + 8];

			describe(got, sizeof got, columns);
			err_set(e, ERR_CONFIG, "source.columns: expected an object mapping field names "
				"to column names, got %s", got);
			goto out;
		}
		json_object_foreach((json_t *)columns, from, to) {
			if (!from[0] || !json_is_string(to) || json_string_length(to) == 0 ||
			    strlen(json_string_value(to)) != json_string_length(to)) {
				char got[SHOW_CAP + 8];

				describe(got, sizeof got, to);
				show_quoted(shown, from, strlen(from));
				err_set(e, ERR_CONFIG, "source.columns.%s: expected a non-empty field "
					"name mapped to a column name, got %s", shown, got);
				goto out;
			}
		}
	}
	if (cfg_int(cfg, "fetch_rows", DEFAULT_FETCH_ROWS, MAX_FETCH_ROWS, &pc->fetch_rows, e) < 0 ||
	    cfg_int(cfg, "max_field_bytes", DEFAULT_MAX_FIELD, MAX_LIMIT, &pc->max_field, e) < 0)
		goto out;
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory reading the source configuration");
out:
	PQconninfoFree(opts);
	PQfreemem(perr);
	return rc;
}

/* ---- the connector ----------------------------------------------------- */

static void pg_close(struct conn *c)
{
	struct pg_conn *pc = (struct pg_conn *)c;

	if (!pc)
		return;
	PQfinish(pc->pg);
	PQfinish(pc->wpg);
	if (pc->dsn) {
		explicit_bzero(pc->dsn, strlen(pc->dsn));
		free(pc->dsn);
	}
	conn_pg_meta_free(pc->meta);
	free(pc->name);
	free(pc->sql);
	free(pc->since);
	free(pc->wm_type_name);
	PQfreemem(pc->cbuf);
	free(pc->key);
	free(pc->wm_max);
	free(pc);
}

static int pg_open(struct conn **out, const json_t *cfg, const struct conn_open_opts *o,
		   struct err *e)
{
	struct pg_conn *pc;
	int rc = -1;

	*out = NULL;
	pc = calloc(1, sizeof *pc);
	if (!pc)
		return err_set(e, ERR_NOMEM, "out of memory opening a postgres source");
	pc->base.ops = &conn_postgres_ops;
	if (parse_config(pc, cfg, e) < 0)
		goto out;
	if (conn_pg_connect(pc, &pc->pg, e) < 0)
		goto out;
	if (conn_pg_source_prepare(pc, cfg, o ? o->since : NULL, e) < 0)
		goto out;
	*out = &pc->base;
	pc = NULL;
	rc = 0;
out:
	pg_close(pc ? &pc->base : NULL);
	return rc;
}

const struct conn_ops conn_postgres_ops = {
	.name = "postgres",
	.version = "1",
	.open = pg_open,
	.next = conn_pg_next,
	.watermark = conn_pg_watermark,
	.check_target = conn_pg_check_target,
	.write = conn_pg_write,
	.close = pg_close,
};
