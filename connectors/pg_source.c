/* pg_source.c: the postgres connector as a source: one statement streams the
 * rows, each turned into JSON by the server and into a record here (see
 * postgres.h for the configuration and the records).
 *
 * How the rows travel, chosen by measuring on a 1M-row, 12-column product
 * table (bench/connectors; 2 cores; the server alone needs ~3.7 s to make the
 * JSON, which bounds every approach):
 *   - COPY (SELECT ...) TO STDOUT (FORMAT binary), what is used: the server
 *     streams rows as fast as it makes them while the client decodes, so the
 *     two work in parallel; memory is one row in libpq's buffer.  Each row
 *     arrives in one malloc'd buffer of its own size.  25,400 client
 *     instructions per row (callgrind, 100k rows), 23,600 after the string
 *     scan below went to memchr.
 *   - single-row mode (PQsetSingleRowMode): as fast on the server, but each
 *     row is a PGresult with a 2 KB block, and that large malloc makes glibc
 *     consolidate the small chunks the previous batch's records freed: 35,500
 *     instructions per row, 40% more.  It would take since as a plain $1.
 *   - a cursor with FETCH n: 15% slower before any decoding, and the server
 *     stops between fetches, so it cannot overlap with the client.
 * COPY takes no bind parameters, so since is bound as $1 of set_config() on
 * the session and read back by current_setting() in the statement, cast to
 * the watermark column's type: never pasted into SQL.
 *
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
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
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

/* The session setting that carries since into the COPY statement. */
#define SINCE_GUC "skugen.since"

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
	char name[SHOW_CAP];

	if (PQstatus(pc->pg) == CONNECTION_BAD) {
		show_quoted(name, pc->name, strlen(pc->name));
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
	char c[SHOW_CAP], name[SHOW_CAP];

	show_quoted(c, col, strlen(col));
	if (pc->query_mode)
		return err_set(e, ERR_CONFIG, "%s: no column \"%s\" in the query's result", keypath, c);
	show_quoted(name, pc->name, strlen(pc->name));
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
	/* binary COPY sends each column in its binary form: ask for text */
	buf_printf(&b, "SELECT t.%s::text, ", qkey);
	if (pc->wm_kind == PG_WM_NONE)
		buf_puts(&b, "NULL::text");
	else if (pc->wm_kind == PG_WM_SERVER)
		buf_printf(&b, "(max(t.%s) OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))::text",
			   qwm);
	else
		buf_printf(&b, "t.%s::text", qwm);
	buf_printf(&b, ", row_to_json(%s) FROM (SELECT * FROM %s", columns ? "m" : "t", from);
	if (with_where && where)
		buf_printf(&b, " WHERE (%s\n)", where);   /* \n: a trailing -- comment stays shut */
	/* COPY takes no bind parameters: since was bound as $1 of set_config()
	 * (see start_stream) and is read back here, never pasted */
	if (pc->since)
		buf_printf(&b, " %s %s > current_setting('" SINCE_GUC "', true)::%s",
			   with_where && where ? "AND" : "WHERE", qwm, pc->wm_type_name);
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
				char path[SHOW_CAP + 32], f[SHOW_CAP];

				show_quoted(f, field, strlen(field));
				snprintf(path, sizeof path, "source.columns.%s", f);
				no_column(pc, path, json_string_value(col), e);
				goto out;
			}
		}
	}

	/* since, checked now rather than when the first batch is read: the
	 * server reads it as the column's type; its type's name, for the cast
	 * in the statement */
	if (since && wm) {
		char oid[16], s[SHOW_CAP], w[SHOW_CAP];
		const char *vals[2] = { since, oid };
		const Oid types[2] = { wm_type, 0 };

		snprintf(oid, sizeof oid, "%u", wm_type);
		r2 = PQexecParams(pc->pg, "SELECT $1, format_type($2::oid, NULL)", 2, types, vals,
				  NULL, NULL, 0);
		if (PQresultStatus(r2) != PGRES_TUPLES_OK) {
			show_quoted(s, since, strlen(since));
			show_quoted(w, wm, strlen(wm));
			if (PQstatus(pc->pg) == CONNECTION_BAD)
				db_error(pc, r2, "", e);
			else
				err_set(e, ERR_CONFIG, "since \"%s\" is not a value of the watermark "
					"column \"%s\": %s", s, w, conn_pg_message(pc->pg, r2));
			goto out;
		}
		if (!(pc->since = strdup(since)) || !(pc->wm_type_name = strdup(PQgetvalue(r2, 0, 1))))
			goto nomem;
	}

	/* the statement, checked by preparing it */
	if (!(qkey = conn_pg_quote_ident(pc->pg, pc->key, false)) ||
	    (wm && !(qwm = conn_pg_quote_ident(pc->pg, wm, false))))
		goto nomem;
	if (build_sql(pc, cfg, from, qkey, qwm, true, &pc->sql, e) < 0)
		goto out;
	PQclear(r2);
	if ((r2 = try_prepare(pc, pc->sql, 0))) {
		PGresult *r3 = NULL;

		/* blame the filter when the statement works without it */
		if (where && PQstatus(pc->pg) != CONNECTION_BAD &&
		    build_sql(pc, cfg, from, qkey, qwm, false, &sql, e) == 0 &&
		    !(r3 = try_prepare(pc, sql, 0)))
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

/* One row of the binary COPY: key, watermark, JSON, each NULL (v == NULL)
 * or n bytes at v.  key and watermark are NUL-terminated in place. */
struct row {
	char *v[3];
	size_t n[3];
};

/* Turn one row into r: -1 only when memory runs out. */
static int make_record(struct pg_conn *pc, const struct row *row, struct record *r)
{
	char msg[ERR_MSG_MAX], key[SHOW_CAP];
	int got;

	pc->rows++;
	if (pc->wm_kind != PG_WM_NONE && row->v[1] && wm_above(pc, row->v[1])) {
		char *copy = strdup(row->v[1]);

		if (!copy)
			return -1;
		free(pc->wm_max);
		pc->wm_max = copy;
	}
	if (!row->v[0] || all_space(row->v[0], row->n[0])) {
		if (asprintf(&r->origin, "%s:row %zu", pc->name, pc->rows) < 0) {
			r->origin = NULL;
			return -1;
		}
		show_quoted(key, pc->key, strlen(pc->key));
		snprintf(msg, sizeof msg, !row->v[0] ? "missing key column \"%s\"" :
			 "key column \"%s\" is empty", key);
		return fail_record(r, msg);
	}
	if (!(r->sku = strndup(row->v[0], row->n[0])))
		return -1;
	if (asprintf(&r->origin, "%s:%s", pc->name, r->sku) < 0) {
		r->origin = NULL;
		return -1;
	}
	if (!row->v[2])
		return fail_record(r, "the row has no JSON");   /* row_to_json never gives NULL */
	got = conn_pg_json_object(row->v[2], row->n[2], pc->max_field, &r->fields, msg, sizeof msg);
	if (got > 0)
		return fail_record(r, msg);
	return got;
}

static uint32_t get32(const char *p)
{
	uint32_t x;

	memcpy(&x, p, 4);
	return ntohl(x);
}

static uint16_t get16(const char *p)
{
	uint16_t x;

	memcpy(&x, p, 2);
	return ntohs(x);
}

/* The next row of the COPY message in pc->cbuf: 1 and *row; 0 when the
 * message is used up (or at the trailer: *end set); -1 when it does not
 * parse.  The format (COPY BINARY): a header once, then per row an int16
 * field count and, per field, an int32 length (-1: NULL) and the bytes; an
 * int16 -1 at the end.  Postgres sends one row per message, the header
 * with the first. */
static int parse_row(struct pg_conn *pc, struct row *row, bool *end)
{
	static const char sig[11] = "PGCOPY\n\377\r\n\0";
	char *p = pc->cbuf + pc->cpos, *lim = pc->cbuf + pc->clen;
	uint32_t ext;
	int16_t nf;

	if (!pc->header_done) {
		if (lim - p < 19 || memcmp(p, sig, 11) != 0)
			return -1;
		ext = get32(p + 15);
		if ((size_t)(lim - p - 19) < ext)
			return -1;
		p += 19 + ext;
		pc->header_done = true;
	}
	if (p == lim) {
		pc->cpos = pc->clen;
		return 0;
	}
	if (lim - p < 2)
		return -1;
	nf = (int16_t)get16(p);
	p += 2;
	if (nf == -1) {
		*end = true;
		pc->cpos = (size_t)(p - pc->cbuf);
		return 0;
	}
	if (nf != 3)
		return -1;
	for (int i = 0; i < 3; i++) {
		int32_t n;

		if (lim - p < 4)
			return -1;
		n = (int32_t)get32(p);
		p += 4;
		if (n == -1) {
			row->v[i] = NULL;
			row->n[i] = 0;
			continue;
		}
		if (n < 0 || lim - p < n)
			return -1;
		row->v[i] = p;
		row->n[i] = (size_t)n;
		p += n;
	}
	/* key and watermark end where the next length began, which is read:
	 * terminate them there for the C string functions */
	for (int i = 0; i < 2; i++)
		if (row->v[i])
			row->v[i][row->n[i]] = '\0';
	pc->cpos = (size_t)(p - pc->cbuf);
	return 1;
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
	char name[SHOW_CAP];

	show_quoted(name, pc->name, strlen(pc->name));
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

/* Send the COPY: since goes in as $1 of set_config(), for the statement to
 * read back (COPY takes no parameters of its own). */
static int start_stream(struct pg_conn *pc, struct err *e)
{
	char *copy = NULL;
	PGresult *r = NULL;
	int rc = -1;

	if (pc->since) {
		const char *vals[1] = { pc->since };

		r = PQexecParams(pc->pg, "SELECT set_config('" SINCE_GUC "', $1, false)", 1, NULL,
				 vals, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			goto failed;
		PQclear(r);
		r = NULL;
	}
	if (asprintf(&copy, "COPY (%s) TO STDOUT (FORMAT binary)", pc->sql) < 0) {
		copy = NULL;
		err_set(e, ERR_NOMEM, "out of memory starting the postgres source");
		goto out;
	}
	/* extended protocol: one statement, whatever the filter holds */
	r = PQexecParams(pc->pg, copy, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COPY_OUT)
		goto failed;
	pc->state = PG_STREAMING;
	pc->header_done = false;
	rc = 0;
	goto out;
failed:
	stream_failed(pc, r, e);
out:
	PQclear(r);
	free(copy);
	return rc;
}

/* After the COPY's last message: the statement's own result. */
static int finish_stream(struct pg_conn *pc, struct err *e)
{
	PGresult *r;
	int rc = 0;

	while ((r = PQgetResult(pc->pg))) {
		if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = stream_failed(pc, r, e);
		PQclear(r);
	}
	if (rc == 0)
		pc->state = PG_DONE;
	return rc;
}

int conn_pg_next(struct conn *c, struct record_batch *b, struct err *e)
{
	struct pg_conn *pc = (struct pg_conn *)c;
	size_t limit = b->cap < pc->fetch_rows ? b->cap : pc->fetch_rows;
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
	if (pc->state == PG_IDLE && start_stream(pc, e) < 0)
		return -1;
	while (b->len < limit) {
		struct row row;
		bool end = false;
		int got = 0;

		if (pc->cbuf)
			got = parse_row(pc, &row, &end);
		if (got < 0) {
			char name[SHOW_CAP];

			show_quoted(name, pc->name, strlen(pc->name));
			err_set(&pc->failure, ERR_SOURCE, "postgres source \"%s\": the server's COPY "
				"data does not parse after %zu rows", name, pc->rows);
			pc->state = PG_FAILED;
			*e = pc->failure;
			goto out;
		}
		if (got > 0) {
			if (make_record(pc, &row, &b->items[b->len++]) < 0) {
				err_set(e, ERR_NOMEM, "out of memory reading the postgres source");
				goto out;
			}
			continue;
		}
		/* this message is used up: the next one */
		PQfreemem(pc->cbuf);
		pc->cbuf = NULL;
		if (!end) {
			int n = PQgetCopyData(pc->pg, &pc->cbuf, 0);

			if (n > 0) {
				pc->cpos = 0;
				pc->clen = (size_t)n;
				continue;
			}
			pc->cbuf = NULL;
			if (n == -2) {
				stream_failed(pc, NULL, e);
				goto out;
			}
		}
		/* the end (n == -1 or the trailer): the statement's result says
		 * whether it ended well */
		if (end) {
			char *rest = NULL;

			while (PQgetCopyData(pc->pg, &rest, 0) > 0)
				PQfreemem(rest);
		}
		if (finish_stream(pc, e) < 0)
			goto out;
		break;
	}
	rc = 0;
out:
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
