/* pg_source.c: the postgres connector as a source: one statement streams the
 * rows, each turned into JSON by the server and into a record here (see
 * postgres.h for the configuration and the records).
 *
 * How the rows travel, chosen by bench/connectors on a 1M-row, 12-column
 * product table (2 cores; the server alone needs ~3.7 s to make the JSON):
 *   - single-row mode (PQsetSingleRowMode), what is used: the server sends
 *     the rows as fast as it makes them while the client decodes, so the two
 *     work in parallel; memory is one row in libpq's buffer; the since value
 *     is an ordinary bind parameter ($1).  Measured 3.5-4.0 s to receive.
 *   - COPY (SELECT ...) TO STDOUT: as fast (3.9-4.1 s), but COPY takes no bind
 *     parameters, so $1 would need a detour (set_config + current_setting).
 *   - a cursor with FETCH n: 15% slower (4.4-4.6 s) before any decoding, and
 *     the server stops between fetches, so it cannot overlap with the client.
 * The JSON is made by row_to_json on the server (types preserved: numbers,
 * booleans, json/jsonb nested, arrays) and decoded by pg_json.c, which is
 * ~5x faster than json_loadb and is what lets the client keep up.
 *
 * The highest watermark: for the common types (integers, floats, numeric,
 * date, timestamp, timestamptz) the client compares each row's value, which
 * costs the server nothing.  For other types the server computes a running
 * max() window over the stream (about 10% more server time, measured), so any
 * type with an ordering works.  Ordering the stream by the watermark would
 * sort the whole table, and a separate max() query would run a `query` twice.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "connectors/pg_int.h"
#include "connectors/pg_json.h"

/* Type OIDs (pg_type.dat); stable across Postgres versions. */
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define OIDOID 26
#define FLOAT4OID 700
#define FLOAT8OID 701
#define DATEOID 1082
#define TIMESTAMPOID 1114
#define TIMESTAMPTZOID 1184
#define NUMERICOID 1700

/* ---- comparing watermarks ---------------------------------------------- */

static int cmp_ll(long long a, long long b)
{
	return a < b ? -1 : a > b;
}

static int cmp_int(const char *a, const char *b)
{
	return cmp_ll(strtoll(a, NULL, 10), strtoll(b, NULL, 10));
}

/* As Postgres orders floats: NaN above everything. */
static int cmp_float(const char *a, const char *b)
{
	double x = strtod(a, NULL), y = strtod(b, NULL);

	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return x < y ? -1 : x > y;
}

/* numeric_out: "NaN", "Infinity", "-Infinity", or [-]digits[.digits]. */
static int num_class(const char *s)
{
	if (strcmp(s, "NaN") == 0)
		return 3;
	if (strcmp(s, "Infinity") == 0)
		return 2;
	if (strcmp(s, "-Infinity") == 0)
		return 0;
	return 1;
}

static int cmp_magnitude(const char *a, const char *b)
{
	size_t ia, ib;
	const char *fa, *fb;
	int c;

	while (*a == '0')
		a++;
	while (*b == '0')
		b++;
	ia = strcspn(a, ".");
	ib = strcspn(b, ".");
	if (ia != ib)
		return ia < ib ? -1 : 1;
	c = memcmp(a, b, ia);
	if (c)
		return c < 0 ? -1 : 1;
	fa = a[ia] ? a + ia + 1 : "";
	fb = b[ib] ? b + ib + 1 : "";
	while (*fa || *fb) {
		char x = *fa ? *fa++ : '0', y = *fb ? *fb++ : '0';

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static int cmp_numeric(const char *a, const char *b)
{
	int ca = num_class(a), cb = num_class(b);
	bool na, nb;

	if (ca != cb || ca != 1)
		return ca < cb ? -1 : ca > cb;
	na = *a == '-';
	nb = *b == '-';
	if (na != nb)
		return na ? -1 : 1;
	return na ? -cmp_magnitude(a + 1, b + 1) : cmp_magnitude(a, b);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (y may be <= 0). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool digits(const char **p, int n, long long *out)
{
	long long v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return false;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return true;
}

/* A date, timestamp or timestamptz in DateStyle ISO as (class, seconds since
 * the epoch, microseconds): "2024-05-01", "2024-05-01 10:00:00.25",
 * "2024-05-01 10:00:00+00", "0044-03-15 BC", "infinity", "-infinity". */
static bool time_key(const char *s, int *cls, long long *sec, long long *usec)
{
	long long y = 0, mo, d, h = 0, mi = 0, se = 0, us = 0, oh = 0, om = 0, os = 0;
	int osign = 0, ny = 0;

	*cls = 1;
	*sec = *usec = 0;
	if (strcmp(s, "infinity") == 0) {
		*cls = 2;
		return true;
	}
	if (strcmp(s, "-infinity") == 0) {
		*cls = 0;
		return true;
	}
	while (*s >= '0' && *s <= '9' && ny < 9)
		y = y * 10 + (*s++ - '0'), ny++;
	if (ny < 4 || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' || !digits(&s, 2, &d))
		return false;
	if (*s == ' ' && s[1] >= '0' && s[1] <= '9') {
		s++;
		if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' ||
		    !digits(&s, 2, &se))
			return false;
		if (*s == '.') {
			int n = 0;

			s++;
			while (*s >= '0' && *s <= '9') {
				if (n < 6)
					us = us * 10 + (*s - '0'), n++;
				s++;
			}
			while (n++ < 6)
				us *= 10;
		}
		if (*s == '+' || *s == '-') {
			osign = *s++ == '-' ? -1 : 1;
			if (!digits(&s, 2, &oh))
				return false;
			if (*s == ':' && (s++, !digits(&s, 2, &om)))
				return false;
			if (*s == ':' && (s++, !digits(&s, 2, &os)))
				return false;
		}
	}
	if (strcmp(s, " BC") == 0)
		y = 1 - y;
	else if (*s)
		return false;
	*sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se -
	       osign * (oh * 3600 + om * 60 + os);
	*usec = us;
	return true;
}

static int cmp_time(const char *a, const char *b)
{
	int ca, cb;
	long long sa, ua, sb, ub;

	if (!time_key(a, &ca, &sa, &ua) || !time_key(b, &cb, &sb, &ub))
		return strcmp(a, b) < 0 ? -1 : strcmp(a, b) > 0;   /* not expected */
	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (sa != sb)
		return cmp_ll(sa, sb);
	return cmp_ll(ua, ub);
}

/* Whether a watermark value v is above the highest seen so far. */
static bool wm_above(const struct pg_conn *pc, const char *v)
{
	if (!pc->wm_max)
		return true;
	switch (pc->wm_kind) {
	case PG_WM_INT: return cmp_int(v, pc->wm_max) > 0;
	case PG_WM_FLOAT: return cmp_float(v, pc->wm_max) > 0;
	case PG_WM_NUMERIC: return cmp_numeric(v, pc->wm_max) > 0;
	case PG_WM_TIME: return cmp_time(v, pc->wm_max) > 0;
	case PG_WM_SERVER: return true;   /* the server's running max */
	case PG_WM_NONE: break;
	}
	return false;
}

static enum pg_wm_kind wm_kind_of(Oid type)
{
	switch (type) {
	case INT2OID: case INT4OID: case INT8OID: case OIDOID:
		return PG_WM_INT;
	case FLOAT4OID: case FLOAT8OID:
		return PG_WM_FLOAT;
	case NUMERICOID:
		return PG_WM_NUMERIC;
	case DATEOID: case TIMESTAMPOID: case TIMESTAMPTZOID:
		return PG_WM_TIME;
	default:
		return PG_WM_SERVER;
	}
}

/* ---- preparing --------------------------------------------------------- */

/* ERR_SOURCE when the connection is gone, else ERR_CONFIG: what the
 * database refused is something the configuration names. */
static int db_error(struct pg_conn *pc, PGresult *r, const char *keypath, struct err *e)
{
	char name[PG_SHOW_CAP];

	if (PQstatus(pc->pg) == CONNECTION_BAD) {
		conn_pg_show(name, pc->name, strlen(pc->name));
		return err_set(e, ERR_SOURCE, "postgres source \"%s\": lost the connection: %s", name,
			       conn_pg_message(pc->pg, r));
	}
	return err_set(e, ERR_CONFIG, "%s: %s", keypath, conn_pg_message(pc->pg, r));
}

/* The column called name in the description r, or -1. */
static int find_column(const PGresult *r, const char *name)
{
	for (int i = 0; i < PQnfields(r); i++)
		if (strcmp(PQfname(r, i), name) == 0)
			return i;
	return -1;
}

static int no_column(struct pg_conn *pc, const char *keypath, const char *col, struct err *e)
{
	char c[PG_SHOW_CAP], name[PG_SHOW_CAP];

	conn_pg_show(c, col, strlen(col));
	if (pc->query_mode)
		return err_set(e, ERR_CONFIG, "%s: no column \"%s\" in the query's result", keypath, c);
	conn_pg_show(name, pc->name, strlen(pc->name));
	return err_set(e, ERR_CONFIG, "%s: no column \"%s\" in %s", keypath, c, name);
}

/* A prepared-statement check: 0, or the PGresult of the failure (owned). */
static PGresult *try_prepare(struct pg_conn *pc, const char *sql, int nparams)
{
	PGresult *r = PQprepare(pc->pg, "", sql, nparams, NULL);

	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		PQclear(r);
		return NULL;
	}
	return r ? r : PQmakeEmptyPGresult(pc->pg, PGRES_FATAL_ERROR);
}

/* The stream's statement, with or without the where filter. */
static int build_sql(struct pg_conn *pc, const json_t *cfg, const char *from, const char *qkey,
		     const char *qwm, bool with_where, char **out, struct err *e)
{
	const json_t *columns = json_object_get(cfg, "columns");
	const char *where = json_string_value(json_object_get(cfg, "where"));
	struct buf b = BUF_INIT;
	int rc = -1;

	*out = NULL;
	buf_printf(&b, "SELECT t.%s, ", qkey);
	if (pc->wm_kind == PG_WM_NONE)
		buf_puts(&b, "NULL");
	else if (pc->wm_kind == PG_WM_SERVER)
		buf_printf(&b, "max(t.%s) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)", qwm);
	else
		buf_printf(&b, "t.%s", qwm);
	buf_printf(&b, ", row_to_json(%s) FROM (SELECT * FROM %s", columns ? "m" : "t", from);
	if (with_where && where)
		buf_printf(&b, " WHERE (%s\n)", where);   /* \n: a trailing -- comment stays shut */
	if (pc->since)
		buf_printf(&b, " %s %s > $1", with_where && where ? "AND" : "WHERE", qwm);
	buf_puts(&b, ") AS t");
	if (columns) {
		const char *field;
		json_t *col;
		bool first = true;

		buf_puts(&b, " CROSS JOIN LATERAL (SELECT ");
		json_object_foreach((json_t *)columns, field, col) {
			char *qf = conn_pg_quote_ident(pc->pg, field, false);
			char *qc = conn_pg_quote_ident(pc->pg, json_string_value(col), false);

			if (!qf || !qc) {
				free(qf);
				free(qc);
				goto nomem;
			}
			buf_printf(&b, "%st.%s AS %s", first ? "" : ", ", qc, qf);
			first = false;
			free(qf);
			free(qc);
		}
		buf_puts(&b, ") AS m");
	}
	if (!b.data || !(*out = buf_steal(&b)))
		goto nomem;
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory building the source's query");
out:
	buf_free(&b);
	return rc;
}

int conn_pg_source_prepare(struct pg_conn *pc, const json_t *cfg, const char *since,
			   struct err *e)
{
	const char *table = json_string_value(json_object_get(cfg, "table"));
	const char *query = json_string_value(json_object_get(cfg, "query"));
	const char *wm = json_string_value(json_object_get(cfg, "watermark"));
	const char *where = json_string_value(json_object_get(cfg, "where"));
	const json_t *columns = json_object_get(cfg, "columns");
	const char *keypath = table ? "source.table" : "source.query";
	char *from = NULL, *qkey = NULL, *qwm = NULL, *sql = NULL, *q = NULL;
	PGresult *r = NULL, *r2 = NULL;
	struct buf b = BUF_INIT;
	int rc = -1, wcol = -1;
	Oid wm_type = 0;

	/* where the rows come from */
	if (table) {
		if (!(from = conn_pg_quote_ident(pc->pg, table, true)))
			goto nomem;
	} else {
		size_t n = strlen(query);

		/* a hand-written query often ends in a semicolon */
		while (n && strchr(" \t\r\n;", query[n - 1]))
			n--;
		if (n == 0) {
			err_set(e, ERR_CONFIG, "source.query: expected a SELECT, got only semicolons");
			goto out;
		}
		if (!(q = strndup(query, n)) || asprintf(&from, "(%s\n) AS q", q) < 0) {
			from = NULL;
			goto nomem;
		}
	}

	/* what it holds */
	if (buf_printf(&b, "SELECT * FROM %s LIMIT 0", from) < 0)
		goto nomem;
	r = PQexecParams(pc->pg, b.data, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_error(pc, r, keypath, e);
		goto out;
	}
	if (find_column(r, pc->key) < 0) {
		no_column(pc, "source.key", pc->key, e);
		goto out;
	}
	if (wm) {
		if ((wcol = find_column(r, wm)) < 0) {
			no_column(pc, "source.watermark", wm, e);
			goto out;
		}
		wm_type = PQftype(r, wcol);
		pc->wm_kind = wm_kind_of(wm_type);
	}
	if (columns) {
		const char *field;
		json_t *col;

		json_object_foreach((json_t *)columns, field, col) {
			if (find_column(r, json_string_value(col)) < 0) {
				char path[PG_SHOW_CAP + 32], f[PG_SHOW_CAP];

				conn_pg_show(f, field, strlen(field));
				snprintf(path, sizeof path, "source.columns.%s", f);
				no_column(pc, path, json_string_value(col), e);
				goto out;
			}
		}
	}

	/* since, checked now rather than when the first batch is read */
	if (since && wm) {
		const Oid types[1] = { wm_type };
		const char *vals[1] = { since };
		char s[PG_SHOW_CAP], w[PG_SHOW_CAP];

		r2 = PQexecParams(pc->pg, "SELECT $1", 1, types, vals, NULL, NULL, 0);
		if (PQresultStatus(r2) != PGRES_TUPLES_OK) {
			conn_pg_show(s, since, strlen(since));
			conn_pg_show(w, wm, strlen(wm));
			if (PQstatus(pc->pg) == CONNECTION_BAD)
				db_error(pc, r2, "", e);
			else
				err_set(e, ERR_CONFIG, "since \"%s\" is not a value of the watermark "
					"column \"%s\": %s", s, w, conn_pg_message(pc->pg, r2));
			goto out;
		}
		if (!(pc->since = strdup(since)))
			goto nomem;
	}

	/* the statement, checked by preparing it */
	if (!(qkey = conn_pg_quote_ident(pc->pg, pc->key, false)) ||
	    (wm && !(qwm = conn_pg_quote_ident(pc->pg, wm, false))))
		goto nomem;
	if (build_sql(pc, cfg, from, qkey, qwm, true, &pc->sql, e) < 0)
		goto out;
	PQclear(r2);
	if ((r2 = try_prepare(pc, pc->sql, pc->since ? 1 : 0))) {
		PGresult *r3 = NULL;

		/* blame the filter when the statement works without it */
		if (where && PQstatus(pc->pg) != CONNECTION_BAD &&
		    build_sql(pc, cfg, from, qkey, qwm, false, &sql, e) == 0 &&
		    !(r3 = try_prepare(pc, sql, pc->since ? 1 : 0)))
			db_error(pc, r2, "source.where", e);
		else if (pc->wm_kind == PG_WM_SERVER)
			db_error(pc, r2, "source.watermark", e);
		else
			db_error(pc, r2, keypath, e);
		PQclear(r3);
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory preparing the postgres source");
out:
	PQclear(r);
	PQclear(r2);
	buf_free(&b);
	free(from);
	free(q);
	free(qkey);
	free(qwm);
	free(sql);
	return rc;
}

/* ---- reading ----------------------------------------------------------- */

static int fail_record(struct record *r, const char *msg)
{
	json_decref(r->fields);
	r->fields = NULL;
	free(r->error);
	r->error = strdup(msg);
	return r->error ? 0 : -1;
}

static bool all_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n\f\v", s[i]) || s[i] == '\0')
			return false;
	return true;
}

/* Turn one row into r: -1 only when memory runs out. */
static int make_record(struct pg_conn *pc, const PGresult *row, struct record *r)
{
	char msg[ERR_MSG_MAX], key[PG_SHOW_CAP];
	const char *sku = PQgetvalue(row, 0, 0);
	size_t sku_len = (size_t)PQgetlength(row, 0, 0);
	int got;

	pc->rows++;
	if (pc->wm_kind != PG_WM_NONE && !PQgetisnull(row, 0, 1)) {
		const char *v = PQgetvalue(row, 0, 1);

		if (wm_above(pc, v)) {
			char *copy = strdup(v);

			if (!copy)
				return -1;
			free(pc->wm_max);
			pc->wm_max = copy;
		}
	}
	if (PQgetisnull(row, 0, 0) || all_space(sku, sku_len)) {
		if (asprintf(&r->origin, "%s:row %zu", pc->name, pc->rows) < 0) {
			r->origin = NULL;
			return -1;
		}
		conn_pg_show(key, pc->key, strlen(pc->key));
		snprintf(msg, sizeof msg, PQgetisnull(row, 0, 0) ? "missing key column \"%s\"" :
			 "key column \"%s\" is empty", key);
		return fail_record(r, msg);
	}
	if (!(r->sku = strndup(sku, sku_len)))
		return -1;
	if (asprintf(&r->origin, "%s:%s", pc->name, r->sku) < 0) {
		r->origin = NULL;
		return -1;
	}
	got = conn_pg_json_object(PQgetvalue(row, 0, 2), (size_t)PQgetlength(row, 0, 2),
				  pc->max_field, &r->fields, msg, sizeof msg);
	if (got > 0)
		return fail_record(r, msg);
	return got;
}

/* Whether r (or the connection) says the server went away: libpq's own
 * error, or SQLSTATE class 08 (connection exception) or 57P (operator
 * intervention: terminated, shut down). */
static bool connection_lost(PGconn *pg, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return PQstatus(pg) == CONNECTION_BAD || !state || strncmp(state, "08", 2) == 0 ||
	       strncmp(state, "57P", 3) == 0;
}

static int stream_failed(struct pg_conn *pc, PGresult *r, struct err *e)
{
	char name[PG_SHOW_CAP];

	conn_pg_show(name, pc->name, strlen(pc->name));
	if (connection_lost(pc->pg, r))
		err_set(&pc->failure, ERR_SOURCE, "postgres source \"%s\": lost the connection after "
			"%zu rows: %s", name, pc->rows, conn_pg_message(pc->pg, r));
	else
		err_set(&pc->failure, ERR_SOURCE, "postgres source \"%s\": reading failed after %zu "
			"rows: %s", name, pc->rows, conn_pg_message(pc->pg, r));
	pc->state = PG_FAILED;
	if (e)
		*e = pc->failure;
	return -1;
}

int conn_pg_next(struct conn *c, struct record_batch *b, struct err *e)
{
	struct pg_conn *pc = (struct pg_conn *)c;
	size_t limit = b->cap < pc->fetch_rows ? b->cap : pc->fetch_rows;
	PGresult *r = NULL;
	int rc = -1;

	record_batch_reset(b);
	if (pc->state == PG_FAILED) {
		*e = pc->failure;
		return -1;
	}
	if (pc->state == PG_DONE)
		return 0;
	if (b->cap == 0)
		return err_set(e, ERR_INTERNAL, "record batch for the postgres source has no room");
	if (pc->state == PG_IDLE) {
		const char *params[1] = { pc->since };

		if (!PQsendQueryParams(pc->pg, pc->sql, pc->since ? 1 : 0, NULL, params, NULL, NULL, 0) ||
		    !PQsetSingleRowMode(pc->pg))
			return stream_failed(pc, NULL, e);
		pc->state = PG_STREAMING;
	}
	while (b->len < limit) {
		ExecStatusType st;

		r = PQgetResult(pc->pg);
		st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE) {
			if (make_record(pc, r, &b->items[b->len++]) < 0) {
				err_set(e, ERR_NOMEM, "out of memory reading the postgres source");
				goto out;
			}
			PQclear(r);
			r = NULL;
			continue;
		}
		if (st == PGRES_TUPLES_OK || !r) {
			/* the end: whatever follows is the end of the statement */
			PQclear(r);
			while ((r = PQgetResult(pc->pg))) {
				if (PQresultStatus(r) != PGRES_TUPLES_OK &&
				    PQresultStatus(r) != PGRES_COMMAND_OK) {
					stream_failed(pc, r, e);
					goto out;
				}
				PQclear(r);
			}
			pc->state = PG_DONE;
			break;
		}
		stream_failed(pc, r, e);
		/* libpq's own end of the failed statement */
		PQclear(r);
		r = NULL;
		while (PQstatus(pc->pg) == CONNECTION_OK && (r = PQgetResult(pc->pg)))
			PQclear(r);
		r = NULL;
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	if (rc < 0)
		record_batch_reset(b);   /* nothing half-emitted */
	return rc;
}

const char *conn_pg_watermark(struct conn *c)
{
	struct pg_conn *pc = (struct pg_conn *)c;

	if (pc->wm_kind == PG_WM_NONE)
		return NULL;
	return pc->wm_max ? pc->wm_max : pc->since;
}
