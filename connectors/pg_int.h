/* pg_int.h: what the files of the postgres connector share (postgres.c:
 * configuration, connections, the ops table; pg_source.c: reading;
 * pg_sink.c: write-back; pg_json.c: decoding rows).  Not a public API: see
 * postgres.h for that. */
#ifndef SKUGEN_PG_INT_H
#define SKUGEN_PG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/show.h"
#include "connectors/connector.h"


/* How the highest watermark is found (pg_source.c). */
enum pg_wm_kind {
	PG_WM_NONE,      /* no watermark column configured */
	PG_WM_INT,       /* compared here: int2, int4, int8, oid */
	PG_WM_FLOAT,     /* float4, float8 */
	PG_WM_NUMERIC,   /* numeric, as decimal text */
	PG_WM_TIME,      /* date, timestamp, timestamptz (DateStyle ISO, UTC) */
	PG_WM_SERVER,    /* any other type: a running max() computed by the server */
};

enum pg_state { PG_IDLE, PG_STREAMING, PG_DONE, PG_FAILED };

/* A write-back target's table, as the catalog describes it (pg_sink.c). */
struct pg_target_meta;

struct pg_conn {
	struct conn base;
	PGconn *pg;            /* owned: the source's connection; the sink's too when idle */
	PGconn *wpg;           /* owned: the sink's own, made when a write comes mid-read */
	char *dsn;             /* owned, wiped at close: to make wpg (may hold a password) */
	char *name;            /* owned: "public.products" or "query", for origins and messages */
	bool query_mode;       /* source.query rather than source.table */

	/* source */
	char *sql;             /* owned: the statement that streams the rows */
	char *since;           /* owned: o->since when it applies (a watermark is set), or NULL */
	char *wm_type_name;    /* owned: the watermark column's type, as format_type() names it */
	char *key;             /* owned: the key column, as configured */
	size_t fetch_rows;     /* most records per next() */
	size_t max_field;
	enum pg_wm_kind wm_kind;
	char *wm_max;          /* owned: the highest watermark seen, as text, or NULL */
	enum pg_state state;
	size_t rows;           /* rows read so far */
	char *cbuf;            /* libpq's: the COPY message being parsed, or NULL */
	size_t cpos, clen;     /* where in it, and its length */
	bool header_done;      /* the binary COPY header has been read */
	struct err failure;    /* why the stream failed (state PG_FAILED) */

	/* sink */
	PGconn *stage_conn;    /* the connection whose session holds the staging table */
	PGconn *stage_index_conn;   /* ... and whose staging table has its (grp, sku) index */
	struct pg_target_meta *meta;   /* owned list: targets already looked up */
};


/* libpq's message for r (or for pg when r is NULL) on one line, without the
 * trailing newline, in a static thread-local buffer. */
const char *conn_pg_message(PGconn *pg, const PGresult *r);

/* Connect to pc->dsn with skugen's session settings (UTF-8, UTC, ISO dates,
 * quiet notices).  *out is new; ERR_SOURCE naming pc->name, never the DSN. */
int conn_pg_connect(struct pg_conn *pc, PGconn **out, struct err *e);

/* PQescapeIdentifier of s, or of each dot-separated part of a qualified name
 * ("public.products" -> "public"."products").  New string; NULL on no
 * memory (libpq's escape only fails for want of it, or on bad encoding). */
char *conn_pg_quote_ident(PGconn *pg, const char *s, bool qualified);

/* pg_source.c: after the configuration is read and pc->pg connected, look
 * the source up in the database (columns, the watermark's type, since), and
 * build pc->sql.  ERR_CONFIG naming the key ("source.key: ...") for what the
 * database says does not exist. */
int conn_pg_source_prepare(struct pg_conn *pc, const json_t *cfg, const char *since,
			   struct err *e);
int conn_pg_next(struct conn *c, struct record_batch *b, struct err *e);
const char *conn_pg_watermark(struct conn *c);

/* pg_sink.c */
int conn_pg_check_target(const json_t *target, const char *path, struct err *e);
int conn_pg_write(struct conn *c, struct conn_write_item *items, size_t n, struct err *e);
void conn_pg_meta_free(struct pg_target_meta *m);

#endif
