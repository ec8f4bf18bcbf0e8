/* pg_sink.c: the postgres connector as a write-back sink (see postgres.h
 * for the targets, the policies and what each item's status means).
 *
 * One write() is one transaction: the items go through one binary COPY into
 * a temporary staging table, then each group of items with the same target
 * (table, key, column, json key after {locale}, upsert, policy) is written by
 * ONE statement: a data-modifying CTE that runs the UPDATE ... FROM staging
 * (or INSERT ... ON CONFLICT DO UPDATE) with the policy in its WHERE, so
 * that a row changed meanwhile by someone else is judged on its new value,
 * and a SELECT that says, for the staged items the UPDATE did not write, why
 * not (no row, already equal, refused, not a JSON object).  Only those come
 * back over the wire.  The SELECT sees the rows as they were before the
 * UPDATE (one snapshot for the whole statement).
 *
 * Items that cannot be staged fail alone before anything is sent (no value,
 * an asset, bad UTF-8, a placeholder without a locale, a target that does not
 * exist); so does an item whose SKU comes again later in the batch for the
 * same target (the later value wins).  A statement that fails rolls the
 * whole batch back: write() returns -1 and every item is PENDING.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/utf8.h"
#include "connectors/pg_int.h"

#define STAGE "pg_temp.skugen_write_stage"
#define COPY_CHUNK ((size_t)1 << 20)
#define TEXTOID 25
#define INT4OID 23

struct pg_target_meta {
	struct pg_target_meta *next;
	char *table, *key, *column;   /* as configured */
	bool upsert, json;            /* how it was asked for (the checks differ) */
	char *key_type;               /* format_type() of the key column */
	bool key_text;                /* the key is a string type: compared as it is */
	char *problem;                /* why every item for this target fails, or NULL */
};

struct group {
	const json_t *target;         /* the first item's (borrowed) */
	const char *locale;           /* the first item's (borrowed), for the quick match */
	const char *table, *key, *column;   /* borrowed from target */
	char *json_key;               /* owned: after {locale}, or NULL */
	bool upsert;
	enum conn_policy policy;
	struct pg_target_meta *meta;  /* borrowed from the conn's list */
	size_t staged;
};

void conn_pg_meta_free(struct pg_target_meta *m)
{
	while (m) {
		struct pg_target_meta *next = m->next;

		free(m->table);
		free(m->key);
		free(m->column);
		free(m->key_type);
		free(m->problem);
		free(m);
		m = next;
	}
}

/* ---- checking a target ------------------------------------------------- */

static const char *const target_keys[] = {
	"table", "key", "column", "json_key", "upsert", NULL,
};

static int target_string(const json_t *t, const char *path, const char *name, bool required,
			 const char **out, struct err *e)
{
	const json_t *v = json_object_get(t, name);

	*out = NULL;
	if (!v && !required)
		return 0;
	if (!v)
		return err_set(e, ERR_CONFIG, "%s.%s: missing", path, name);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return err_set(e, ERR_CONFIG, "%s.%s: expected a non-empty string", path, name);
	*out = json_string_value(v);
	return 0;
}

int conn_pg_check_target(const json_t *target, const char *path, struct err *e)
{
	const char *key, *table, *s;
	char shown[SHOW_CAP];
	json_t *v;

	if (!json_is_object(target))
		return err_set(e, ERR_CONFIG, "%s: expected an object with table, key and column", path);
	json_object_foreach((json_t *)target, key, v) {
		size_t i;

		for (i = 0; target_keys[i]; i++)
			if (strcmp(key, target_keys[i]) == 0)
				break;
		if (!target_keys[i]) {
			show_quoted(shown, key, strlen(key));
			return err_set(e, ERR_CONFIG, "%s.%s: unknown key (expected table, key, column, "
				       "json_key or upsert)", path, shown);
		}
	}
	if (target_string(target, path, "table", true, &table, e) < 0 ||
	    target_string(target, path, "key", true, &s, e) < 0 ||
	    target_string(target, path, "column", true, &s, e) < 0 ||
	    target_string(target, path, "json_key", false, &s, e) < 0)
		return -1;
	{
		const char *dot = strchr(table, '.');

		if (dot == table || (dot && (!dot[1] || strchr(dot + 1, '.')))) {
			show_quoted(shown, table, strlen(table));
			return err_set(e, ERR_CONFIG, "%s.table: expected \"table\" or \"schema.table\", "
				       "got \"%s\"", path, shown);
		}
	}
	/* json_key: the only placeholder is {locale} */
	for (const char *p = s; p && (p = strchr(p, '{')); p++) {
		if (strncmp(p, "{locale}", 8) != 0) {
			show_quoted(shown, s, strlen(s));
			return err_set(e, ERR_CONFIG, "%s.json_key: \"%s\": the only placeholder is "
				       "{locale}", path, shown);
		}
	}
	v = json_object_get(target, "upsert");
	if (v && !json_is_boolean(v))
		return err_set(e, ERR_CONFIG, "%s.upsert: expected true or false", path);
	return 0;
}

/* ---- grouping ---------------------------------------------------------- */

static int item_fail(struct conn_write_item *it, enum conn_write_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int item_fail(struct conn_write_item *it, enum conn_write_status st, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	free(it->message);
	it->message = msg;
	it->status = st;
	return 0;
}

/* json_key with {locale} replaced: new string, or NULL (and *bad set when
 * the item has no locale to put there). */
static char *resolve_json_key(const char *tmpl, const char *locale, bool *bad)
{
	struct buf b = BUF_INIT;
	const char *p = tmpl, *q;

	*bad = false;
	while ((q = strstr(p, "{locale}"))) {
		if (!locale || !locale[0]) {
			*bad = true;
			buf_free(&b);
			return NULL;
		}
		if (buf_append(&b, p, (size_t)(q - p)) < 0 || buf_puts(&b, locale) < 0)
			goto nomem;
		p = q + 8;
	}
	if (buf_puts(&b, p) < 0)
		goto nomem;
	return buf_steal(&b);
nomem:
	buf_free(&b);
	return NULL;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool uses_locale(const json_t *target)
{
	const char *k = json_string_value(json_object_get(target, "json_key"));

	return k && strstr(k, "{locale}");
}

/* ---- target metadata ---------------------------------------------------- */

static const char *const META_SQL =
	"SELECT c.oid IS NOT NULL,"
	" (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
	"   WHERE a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped),"
	" (SELECT y.typcategory = 'S' FROM pg_attribute a JOIN pg_type y ON y.oid = a.atttypid"
	"   WHERE a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped),"
	" (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
	"   WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped),"
	" (SELECT y.typcategory = 'S' FROM pg_attribute a JOIN pg_type y ON y.oid = a.atttypid"
	"   WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped),"
	" (SELECT a.atttypid = 'jsonb'::regtype FROM pg_attribute a"
	"   WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped),"
	" EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a"
	"   ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
	"   WHERE i.indrelid = c.oid AND i.indisunique AND i.indnkeyatts = 1"
	"   AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = $2)"
	" FROM (SELECT to_regclass($1) AS oid) c";

static int meta_lookup(struct pg_conn *pc, PGconn *pg, struct group *g, struct err *e)
{
	struct pg_target_meta *m;
	char t[SHOW_CAP], k[SHOW_CAP], col[SHOW_CAP], *qt = NULL;
	const char *vals[3];
	PGresult *r = NULL;
	int rc = -1;

	for (m = pc->meta; m; m = m->next)
		if (strcmp(m->table, g->table) == 0 && strcmp(m->key, g->key) == 0 &&
		    strcmp(m->column, g->column) == 0 && m->upsert == g->upsert &&
		    m->json == (g->json_key != NULL)) {
			g->meta = m;
			return 0;
		}
	if (!(m = calloc(1, sizeof *m)))
		goto nomem;
	m->upsert = g->upsert;
	m->json = g->json_key != NULL;
	if (!(m->table = strdup(g->table)) || !(m->key = strdup(g->key)) ||
	    !(m->column = strdup(g->column)) || !(qt = conn_pg_quote_ident(pg, g->table, true)))
		goto nomem_m;
	vals[0] = qt;
	vals[1] = g->key;
	vals[2] = g->column;
	r = PQexecParams(pg, META_SQL, 3, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		err_set(e, ERR_SOURCE, "postgres sink: looking up %s: %s", g->table,
			conn_pg_message(pg, r));
		conn_pg_meta_free(m);
		goto out;
	}
	show_quoted(t, g->table, strlen(g->table));
	show_quoted(k, g->key, strlen(g->key));
	show_quoted(col, g->column, strlen(g->column));
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		if (asprintf(&m->problem, "no table %s", t) < 0)
			goto nomem_m;
	} else if (PQgetisnull(r, 0, 1)) {
		if (asprintf(&m->problem, "no column \"%s\" in %s", k, t) < 0)
			goto nomem_m;
	} else if (PQgetisnull(r, 0, 3)) {
		if (asprintf(&m->problem, "no column \"%s\" in %s", col, t) < 0)
			goto nomem_m;
	} else if (m->json && strcmp(PQgetvalue(r, 0, 5), "t") != 0) {
		if (asprintf(&m->problem, "column \"%s\" of %s is %s, not jsonb (json_key needs a "
			     "jsonb column)", col, t, PQgetvalue(r, 0, 3)) < 0)
			goto nomem_m;
	} else if (!m->json && strcmp(PQgetvalue(r, 0, 4), "t") != 0) {
		if (asprintf(&m->problem, "column \"%s\" of %s is %s, not text (a key inside a "
			     "jsonb column takes json_key)", col, t, PQgetvalue(r, 0, 3)) < 0)
			goto nomem_m;
	} else if (m->upsert && strcmp(PQgetvalue(r, 0, 6), "t") != 0) {
		if (asprintf(&m->problem, "upsert needs a unique index on %s (\"%s\") alone", t, k) < 0)
			goto nomem_m;
	}
	if (!m->problem) {
		m->key_text = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
		if (!(m->key_type = strdup(PQgetvalue(r, 0, 1))))
			goto nomem_m;
	}
	m->next = pc->meta;
	pc->meta = m;
	g->meta = m;
	rc = 0;
	goto out;
nomem_m:
	conn_pg_meta_free(m);
nomem:
	err_set(e, ERR_NOMEM, "out of memory looking up a write-back target");
out:
	PQclear(r);
	free(qt);
	return rc;
}

/* ---- staging ----------------------------------------------------------- */

static void put16(struct buf *b, int16_t v)
{
	uint16_t n = htons((uint16_t)v);

	buf_append(b, &n, 2);
}

static void put32(struct buf *b, int32_t v)
{
	uint32_t n = htonl((uint32_t)v);

	buf_append(b, &n, 4);
}

static void put_text(struct buf *b, const char *s, size_t n)
{
	if (!s) {
		put32(b, -1);
		return;
	}
	put32(b, (int32_t)n);
	buf_append(b, s, n);
}

static int exec_ok(PGconn *pg, const char *sql, const char *what, struct err *e)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		err_set(e, ERR_SOURCE, "postgres sink: %s: %s", what, conn_pg_message(pg, r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

/* COPY the staged items (item_group[i] >= 0) into the staging table. */
static int stage(PGconn *pg, struct conn_write_item *items, size_t n, const int *item_group,
		 struct err *e)
{
	static const char header[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	struct buf b = BUF_INIT;
	PGresult *r;
	int rc = -1;

	r = PQexec(pg, "COPY " STAGE " (grp, idx, sku, value, prior_sha256) FROM STDIN (FORMAT binary)");
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		err_set(e, ERR_SOURCE, "postgres sink: staging the batch: %s", conn_pg_message(pg, r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	buf_append(&b, header, sizeof header - 1);
	for (size_t i = 0; i < n; i++) {
		const struct conn_write_item *it = &items[i];

		if (item_group[i] < 0)
			continue;
		put16(&b, 5);
		put32(&b, 4);
		put32(&b, item_group[i]);
		put32(&b, 4);
		put32(&b, (int32_t)i);
		put_text(&b, it->sku, strlen(it->sku));
		put_text(&b, it->value, it->value_len);
		put_text(&b, it->prior_sha256, it->prior_sha256 ? strlen(it->prior_sha256) : 0);
		if (b.len >= COPY_CHUNK) {
			if (PQputCopyData(pg, b.data, (int)b.len) != 1)
				goto copy_failed;
			buf_reset(&b);
		}
	}
	put16(&b, -1);
	if (!b.data) {
		err_set(e, ERR_NOMEM, "out of memory staging the batch");
		PQputCopyEnd(pg, "out of memory");
		goto drain;
	}
	if (PQputCopyData(pg, b.data, (int)b.len) != 1 || PQputCopyEnd(pg, NULL) != 1)
		goto copy_failed;
	r = PQgetResult(pg);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		err_set(e, ERR_SOURCE, "postgres sink: staging the batch: %s", conn_pg_message(pg, r));
		PQclear(r);
		goto drain;
	}
	PQclear(r);
	rc = 0;
	goto drain;
copy_failed:
	err_set(e, ERR_SOURCE, "postgres sink: staging the batch: %s", conn_pg_message(pg, NULL));
drain:
	while ((r = PQgetResult(pg)))
		PQclear(r);
	buf_free(&b);
	return rc;
}

/* ---- the statement of one group ---------------------------------------- */

/* The statement for g: $1 is the group, $2 the JSON key.  It writes, and
 * returns (idx, found, same, json type) for each staged item it did not
 * write. */
static char *group_sql(PGconn *pg, const struct group *g)
{
	const struct pg_target_meta *m = g->meta;
	char *tbl = conn_pg_quote_ident(pg, g->table, true);
	char *k = conn_pg_quote_ident(pg, g->key, false);
	char *c = conn_pg_quote_ident(pg, g->column, false);
	char *sku_cast = NULL, *cur = NULL, *differs = NULL, *policy = NULL, *prior = NULL;
	struct buf b = BUF_INIT;
	char *out = NULL;
	bool json = g->json_key != NULL;

	if (!tbl || !k || !c)
		goto out;
	/* how a staged SKU meets the key column */
	if (m->key_text ? !(sku_cast = strdup("s.sku")) :
	    asprintf(&sku_cast, "s.sku::%s", m->key_type) < 0) {
		sku_cast = NULL;
		goto out;
	}
	/* the target's current value, as text, and whether it differs from the
	 * new one (new: s.value, or the row proposed by INSERT: excluded) */
	if (asprintf(&cur, json ? "(t.%s ->> $2::text)" : "t.%s", c) < 0) {
		cur = NULL;
		goto out;
	}
	if (g->upsert) {
		if (asprintf(&differs, json ? "(t.%1$s -> $2::text) IS DISTINCT FROM (excluded.%1$s -> $2::text)" :
			     "t.%1$s IS DISTINCT FROM excluded.%1$s", c) < 0)
			differs = NULL;
		if (asprintf(&prior, "(SELECT s2.prior_sha256 FROM " STAGE " AS s2 WHERE s2.grp = $1 "
			     "AND s2.sku = excluded.%s::text LIMIT 1)", k) < 0)
			prior = NULL;
	} else {
		if (asprintf(&differs, json ? "(t.%s -> $2::text) IS DISTINCT FROM to_jsonb(s.value)" :
			     "t.%s IS DISTINCT FROM s.value", c) < 0)
			differs = NULL;
		prior = strdup("s.prior_sha256");
	}
	if (!differs || !prior)
		goto out;
	switch (g->policy) {
	case CONN_OVERWRITE_NEVER:
		if (asprintf(&policy, "(%1$s IS NULL OR %1$s = '')", cur) < 0)
			policy = NULL;
		break;
	case CONN_OVERWRITE_IF_GENERATED:
		if (asprintf(&policy, "(%1$s IS NULL OR %1$s = '' OR encode(sha256(convert_to(%1$s, "
			     "'UTF8')), 'hex') = %2$s)", cur, prior) < 0)
			policy = NULL;
		break;
	case CONN_OVERWRITE_ALWAYS:
		policy = strdup("true");
		break;
	}
	if (!policy)
		goto out;
	buf_puts(&b, "WITH u AS (");
	if (!g->upsert) {
		buf_printf(&b, "UPDATE %s AS t SET %s = ", tbl, c);
		if (json)
			buf_printf(&b, "jsonb_set(coalesce(t.%s, '{}'), ARRAY[$2::text], to_jsonb(s.value))", c);
		else
			buf_puts(&b, "s.value");
		buf_printf(&b, " FROM " STAGE " AS s WHERE s.grp = $1 AND t.%s = %s AND %s AND %s",
			   k, sku_cast, differs, policy);
		if (json)
			buf_printf(&b, " AND (t.%1$s IS NULL OR jsonb_typeof(t.%1$s) = 'object')", c);
		buf_puts(&b, " RETURNING s.idx)");
	} else {
		buf_printf(&b, "INSERT INTO %s AS t (%s, %s) SELECT %s, ", tbl, k, c, sku_cast);
		if (json)
			buf_puts(&b, "jsonb_build_object($2::text, s.value)");
		else
			buf_puts(&b, "s.value");
		buf_printf(&b, " FROM " STAGE " AS s WHERE s.grp = $1 ON CONFLICT (%s) DO UPDATE SET %s = ",
			   k, c);
		if (json)
			buf_printf(&b, "jsonb_set(coalesce(t.%1$s, '{}'), ARRAY[$2::text], "
				   "excluded.%1$s -> $2::text)", c);
		else
			buf_printf(&b, "excluded.%s", c);
		buf_printf(&b, " WHERE %s AND %s", differs, policy);
		if (json)
			buf_printf(&b, " AND (t.%1$s IS NULL OR jsonb_typeof(t.%1$s) = 'object')", c);
		buf_printf(&b, " RETURNING t.%s AS k)", k);
	}
	/* what was not written, and why (the rows as they were before) */
	buf_printf(&b, " SELECT s.idx, x.found, coalesce(x.same, false), x.jtype FROM " STAGE " AS s"
		   " LEFT JOIN LATERAL (SELECT true AS found, ");
	if (json)
		buf_printf(&b, "(t.%1$s -> $2::text) IS NOT DISTINCT FROM to_jsonb(s.value) AS same, "
			   "jsonb_typeof(t.%1$s) AS jtype", c);
	else
		buf_printf(&b, "t.%s IS NOT DISTINCT FROM s.value AS same, NULL::text AS jtype", c);
	/* NOT IN, not NOT EXISTS: the planner cannot estimate what the
	 * UPDATE returns (it guesses 1 row) and chose a nested-loop anti join,
	 * n x n comparisons (5 s for 10k items); NOT IN is a hashed subplan
	 * whatever the estimate, as long as it fits work_mem (see write) */
	buf_printf(&b, " FROM %s AS t WHERE t.%s = %s LIMIT 1) AS x ON true"
		   " WHERE s.grp = $1 AND ", tbl, k, sku_cast);
	if (g->upsert)
		buf_printf(&b, "%s NOT IN (SELECT k FROM u)", sku_cast);
	else
		buf_puts(&b, "s.idx NOT IN (SELECT idx FROM u)");
	if (b.data)
		out = buf_steal(&b);
out:
	buf_free(&b);
	free(tbl);
	free(k);
	free(c);
	free(sku_cast);
	free(cur);
	free(differs);
	free(policy);
	free(prior);
	return out;
}

static int run_group(struct pg_conn *pc, PGconn *pg, struct group *g, int gi,
		     struct conn_write_item *items, size_t n, const int *item_group, struct err *e)
{
	static const Oid types[2] = { INT4OID, TEXTOID };
	char gnum[16], t[SHOW_CAP], col[SHOW_CAP];
	const char *vals[2] = { gnum, g->json_key };
	char *sql = group_sql(pg, g);
	PGresult *r = NULL;
	int rc = -1;

	(void)pc;
	if (!sql)
		return err_set(e, ERR_NOMEM, "out of memory building a write-back statement");
	snprintf(gnum, sizeof gnum, "%d", gi);
	r = PQexecParams(pg, sql, g->json_key ? 2 : 1, types, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		show_quoted(t, g->table, strlen(g->table));
		show_quoted(col, g->column, strlen(g->column));
		err_set(e, ERR_SOURCE, "postgres sink: writing %s.%s: %s", t, col,
			conn_pg_message(pg, r));
		goto out;
	}
	/* everything staged for this group was written, but what comes back */
	for (size_t i = 0; i < n; i++)
		if (item_group[i] == gi)
			items[i].status = CONN_WRITE_WRITTEN;
	show_quoted(t, g->table, strlen(g->table));
	show_quoted(col, g->column, strlen(g->column));
	for (int row = 0; row < PQntuples(r); row++) {
		long idx = strtol(PQgetvalue(r, row, 0), NULL, 10);
		struct conn_write_item *it;
		char sku[SHOW_CAP];
		int got;

		if (idx < 0 || (size_t)idx >= n || item_group[idx] != gi) {
			err_set(e, ERR_INTERNAL, "postgres sink: the server named item %ld, not staged", idx);
			goto out;
		}
		it = &items[idx];
		show_quoted(sku, it->sku, strlen(it->sku));
		if (PQgetisnull(r, row, 1))
			got = item_fail(it, CONN_WRITE_FAILED, "no row with sku \"%s\" in %s", sku, t);
		else if (strcmp(PQgetvalue(r, row, 2), "t") == 0)
			got = (it->status = CONN_WRITE_UNCHANGED, 0);
		else if (!PQgetisnull(r, row, 3) && strcmp(PQgetvalue(r, row, 3), "object") != 0)
			got = item_fail(it, CONN_WRITE_FAILED, "column \"%s\" of sku \"%s\" in %s holds "
					"a JSON %s, not an object", col, sku, t, PQgetvalue(r, row, 3));
		else if (g->policy == CONN_OVERWRITE_NEVER)
			got = item_fail(it, CONN_WRITE_REFUSED, "the target already holds a value "
					"(policy never)");
		else if (g->policy == CONN_OVERWRITE_IF_GENERATED)
			got = item_fail(it, CONN_WRITE_REFUSED, "the target holds a value skugen did "
					"not write (policy if_generated)");
		else
			got = item_fail(it, CONN_WRITE_FAILED, "the row for sku \"%s\" in %s was not "
					"written", sku, t);
		if (got < 0) {
			err_set(e, ERR_NOMEM, "out of memory recording write results");
			goto out;
		}
	}
	rc = 0;
out:
	PQclear(r);
	free(sql);
	return rc;
}

/* ---- write ------------------------------------------------------------- */

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Fail every staged item whose (group, sku) comes again later in the batch:
 * the last value for a slot is the one written. */
static int drop_superseded(struct conn_write_item *items, size_t n, int *item_group)
{
	size_t cap = 16, staged = 0;
	size_t *slots;

	for (size_t i = 0; i < n; i++)
		staged += item_group[i] >= 0;
	while (cap < staged * 2)
		cap *= 2;
	if (!(slots = malloc(cap * sizeof *slots)))
		return -1;
	for (size_t i = 0; i < cap; i++)
		slots[i] = SIZE_MAX;
	for (size_t i = n; i-- > 0;) {
		size_t h;
		char sku[SHOW_CAP];

		if (item_group[i] < 0)
			continue;
		h = (size_t)fnv1a(items[i].sku, 1469598103934665603ull ^ (uint64_t)item_group[i] *
				  0x9e3779b97f4a7c15ull) & (cap - 1);
		while (slots[h] != SIZE_MAX && !(item_group[slots[h]] == item_group[i] &&
						 strcmp(items[slots[h]].sku, items[i].sku) == 0))
			h = (h + 1) & (cap - 1);
		if (slots[h] == SIZE_MAX) {
			slots[h] = i;
			continue;
		}
		show_quoted(sku, items[i].sku, strlen(items[i].sku));
		if (item_fail(&items[i], CONN_WRITE_FAILED, "superseded by a later value for sku "
			      "\"%s\" and the same target in this batch", sku) < 0) {
			free(slots);
			return -1;
		}
		item_group[i] = -1;
	}
	free(slots);
	return 0;
}

/* Put item i in a group (adding one when needed): 0, 1 when the item failed
 * on its own, -1 on no memory. */
static int assign(struct conn_write_item *it, struct group **groups, size_t *ngroups,
		  size_t *cap, int *gi)
{
	const json_t *t = it->target;
	const char *tmpl = json_string_value(json_object_get(t, "json_key"));
	bool upsert = json_is_true(json_object_get(t, "upsert")), bad = false;
	char *jk = NULL;
	struct group *g;

	*gi = -1;
	/* quick: the same target object, locale and policy as a group has */
	for (size_t k = *ngroups; k-- > 0;) {
		g = &(*groups)[k];
		if (g->target == t && g->policy == it->policy &&
		    (!uses_locale(t) || same_str(g->locale, it->locale))) {
			*gi = (int)k;
			return 0;
		}
	}
	if (tmpl && !(jk = resolve_json_key(tmpl, it->locale, &bad))) {
		if (!bad)
			return -1;
		return item_fail(it, CONN_WRITE_FAILED, "json_key \"%s\" needs a locale, and the "
				 "item has none", tmpl) < 0 ? -1 : 1;
	}
	for (size_t k = 0; k < *ngroups; k++) {
		g = &(*groups)[k];
		if (strcmp(g->table, json_string_value(json_object_get(t, "table"))) == 0 &&
		    strcmp(g->key, json_string_value(json_object_get(t, "key"))) == 0 &&
		    strcmp(g->column, json_string_value(json_object_get(t, "column"))) == 0 &&
		    same_str(g->json_key, jk) && g->upsert == upsert && g->policy == it->policy) {
			free(jk);
			*gi = (int)k;
			return 0;
		}
	}
	if (*ngroups == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct group *ng = realloc(*groups, ncap * sizeof *ng);

		if (!ng) {
			free(jk);
			return -1;
		}
		*groups = ng;
		*cap = ncap;
	}
	g = &(*groups)[*ngroups];
	memset(g, 0, sizeof *g);
	g->target = t;
	g->locale = it->locale;
	g->table = json_string_value(json_object_get(t, "table"));
	g->key = json_string_value(json_object_get(t, "key"));
	g->column = json_string_value(json_object_get(t, "column"));
	g->json_key = jk;
	g->upsert = upsert;
	g->policy = it->policy;
	*gi = (int)(*ngroups)++;
	return 0;
}

/* Why the text s[0..n) cannot be staged, or NULL. */
static const char *text_problem(const char *s, size_t n)
{
	if (memchr(s, '\0', n))
		return "holds a NUL byte";
	if (!utf8_valid(s, n, NULL))
		return "is not valid UTF-8";
	return NULL;
}

/* The connection to write on: the source's, unless a read is under way on it. */
static int sink_conn(struct pg_conn *pc, PGconn **pg, struct err *e)
{
	if (pc->state != PG_STREAMING) {
		*pg = pc->pg;
		return 0;
	}
	if (!pc->wpg && conn_pg_connect(pc, &pc->wpg, e) < 0)
		return -1;
	*pg = pc->wpg;
	return 0;
}

int conn_pg_write(struct conn *c, struct conn_write_item *items, size_t n, struct err *e)
{
	struct pg_conn *pc = (struct pg_conn *)c;
	struct group *groups = NULL;
	size_t ngroups = 0, gcap = 0, staged = 0;
	int *item_group = NULL;
	bool in_tx = false, need_index = false;
	PGconn *pg;
	int rc = -1;

	conn_write_items_reset(items, n);
	if (n == 0)
		return 0;
	if (n > INT32_MAX)
		return err_set(e, ERR_INTERNAL, "postgres sink: %zu items in one batch", n);
	if (sink_conn(pc, &pg, e) < 0)
		return -1;
	if (!(item_group = malloc(n * sizeof *item_group)))
		goto nomem;

	/* 1. what can be staged, and in which group */
	for (size_t i = 0; i < n; i++) {
		struct conn_write_item *it = &items[i];
		const char *why;
		struct err te;
		int got;

		item_group[i] = -1;
		if (conn_pg_check_target(it->target, "target", &te) < 0)
			got = item_fail(it, CONN_WRITE_FAILED, "%s", te.msg);
		else if (!it->value)
			got = item_fail(it, CONN_WRITE_FAILED, "the postgres sink writes text; an asset "
					"(a file) cannot go into a column");
		else if (!it->sku || !it->sku[0])
			got = item_fail(it, CONN_WRITE_FAILED, "the item has no sku");
		else if ((why = text_problem(it->sku, strlen(it->sku))))
			got = item_fail(it, CONN_WRITE_FAILED, "the sku %s", why);
		else if ((why = text_problem(it->value, it->value_len)))
			got = item_fail(it, CONN_WRITE_FAILED, "the value %s", why);
		else if (it->value_len > INT32_MAX - 1)
			got = item_fail(it, CONN_WRITE_FAILED, "the value is %zu bytes, over 2 GiB",
					it->value_len);
		else
			got = assign(it, &groups, &ngroups, &gcap, &item_group[i]);
		if (got < 0)
			goto nomem;
	}

	/* 2. the targets as the database has them */
	for (size_t k = 0; k < ngroups; k++) {
		if (meta_lookup(pc, pg, &groups[k], e) < 0)
			goto fail;
		need_index |= groups[k].upsert && groups[k].policy == CONN_OVERWRITE_IF_GENERATED;
	}
	for (size_t i = 0; i < n; i++) {
		const struct pg_target_meta *m;

		if (item_group[i] < 0)
			continue;
		m = groups[item_group[i]].meta;
		if (m->problem) {
			if (item_fail(&items[i], CONN_WRITE_FAILED, "%s", m->problem) < 0)
				goto nomem;
			item_group[i] = -1;
		}
	}
	if (drop_superseded(items, n, item_group) < 0)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (item_group[i] >= 0) {
			groups[item_group[i]].staged++;
			staged++;
		}
	if (staged == 0) {
		rc = 0;
		goto out;
	}

	/* 3. one transaction: stage, then one statement per group */
	if (pc->stage_conn != pg) {
		if (exec_ok(pg, "CREATE TEMP TABLE IF NOT EXISTS " STAGE " (grp int4 NOT NULL, "
			    "idx int4 NOT NULL, sku text NOT NULL, value text NOT NULL, "
			    "prior_sha256 text) ON COMMIT DELETE ROWS", "creating the staging table",
			    e) < 0)
			goto fail;
		pc->stage_conn = pg;
	}
	if (need_index && pc->stage_index_conn != pg) {
		if (exec_ok(pg, "CREATE INDEX IF NOT EXISTS skugen_write_stage_sku ON " STAGE
			    " (grp, sku)", "indexing the staging table", e) < 0)
			goto fail;
		pc->stage_index_conn = pg;
	}
	/* work_mem: the join of a big batch with its table, and the hashed
	 * NOT IN of the written items (group_sql), fit in memory */
	{
		char begin[96];

		snprintf(begin, sizeof begin, "BEGIN; SET LOCAL work_mem = '%zuMB'",
			 staged / 8192 > 64 ? staged / 8192 : 64);   /* 128 bytes an item */
		if (exec_ok(pg, begin, "starting the batch", e) < 0)
			goto fail;
	}
	in_tx = true;
	if (stage(pg, items, n, item_group, e) < 0)
		goto fail;
	for (size_t k = 0; k < ngroups; k++)
		if (groups[k].staged && run_group(pc, pg, &groups[k], (int)k, items, n, item_group, e) < 0)
			goto fail;
	if (exec_ok(pg, "COMMIT", "committing the batch", e) < 0) {
		in_tx = false;   /* a failed COMMIT has rolled back */
		goto fail;
	}
	in_tx = false;
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory writing %zu items", n);
fail:
	if (in_tx && PQstatus(pg) == CONNECTION_OK)
		PQclear(PQexec(pg, "ROLLBACK"));
	conn_write_items_reset(items, n);   /* nothing was written */
out:
	for (size_t k = 0; k < ngroups; k++)
		free(groups[k].json_key);
	free(groups);
	free(item_group);
	return rc;
}
