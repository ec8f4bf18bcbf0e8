/* postgres.h: the "postgres" connector: product records from a table or a
 * query in the catalog's own Postgres database, and write-back of published
 * values into it.
 *
 * Source configuration (the source object, borrowed by open; unknown keys
 * and wrong types are ERR_CONFIG errors naming the key, "source.where: ..."):
 *
 *   type             "postgres" (optional here; the registry picks by it)
 *   dsn_env          the environment variable that holds the libpq connection
 *                    string (it may carry a password; it is never quoted in a
 *                    message); or
 *   dsn              the connection string itself, refused when it holds a
 *                    password (key=value or URI form)
 *   table            "products" or "schema.products"; or
 *   query            any SELECT (a trailing ";" is allowed); its columns
 *                    become the fields.  Table, schema and column names are
 *                    quoted (PQescapeIdentifier): they are exact, case and all
 *   key              the column that holds the SKU; default "sku"
 *   columns          {"field": "column", ...}: fields are these columns only,
 *                    renamed; default every column under its own name
 *   watermark        a column for incremental reads, e.g. "updated_at"
 *   where            a filter, e.g. "status NOT IN ('deleted','disabled')":
 *                    SQL pasted into the statement as it is, so it must come
 *                    from the trusted configuration file, never from data.
 *                    It sees the table's (or the query's) columns.
 *   fetch_rows       most records one next() returns; default 1000
 *   max_field_bytes  a bigger field fails its record; default 1 MiB
 *
 * open() connects (client_encoding UTF8; session TimeZone UTC, DateStyle
 * ISO) and checks the configuration against the database: a missing table,
 * key, watermark or mapped column, a query or filter that does not parse, or
 * a since value that is not a valid value of the watermark column, is an
 * ERR_CONFIG error naming the key; a database that cannot be reached is
 * ERR_SOURCE naming the source ("public.products" or "query"), never the
 * DSN.  The rows are not read until the first next().
 *
 * Reading: one statement, streamed row by row (a binary COPY of a SELECT),
 * so memory stays at one row and one batch whatever the table's size; rows
 * come in the order the server produces them (no ORDER BY).  The since value
 * is a bind parameter (of set_config(), read back by the statement: COPY has
 * none of its own); nothing from data is ever pasted into SQL.
 *
 * Incremental: with a watermark column and o->since, only rows whose
 * watermark is greater than since are read (since is cast to the column's
 * type by the server).  watermark() is the highest value read so far as
 * Postgres writes it (timestamps in ISO 8601, UTC: "2024-05-01
 * 10:00:00.25+00"), or since when no newer row has come yet; NULL without a
 * watermark column.  Without a watermark column since is ignored and
 * everything is read.  Rows whose watermark is NULL are read on a full read
 * only.
 *
 * Records (connectors/record.h):
 *   sku     the key column's text form
 *   fields  the row as a JSON object, made by the server's row_to_json:
 *           numbers stay numbers (an integer beyond 64 bits becomes a string
 *           of its digits), booleans booleans, json/jsonb nested JSON, arrays
 *           arrays, timestamps ISO 8601 strings in UTC; a SQL NULL is JSON
 *           null (the field is there, empty), which templates treat as
 *           missing.  Other types come as Postgres's JSON for them.
 *   origin  "<table as configured, or query>:<sku>", e.g.
 *           "public.products:ABC-1"; "public.products:row 17" (the 17th row
 *           read) when the key is missing
 *   error   NULL, or:
 *             missing key column "sku"          (NULL key)
 *             key column "sku" is empty         (empty or only whitespace)
 *             field "description" is 10485760 bytes, limit 1048576
 *             field "spec": NUL character (\u0000) in a string   (json columns)
 *             field "spec": lone UTF-16 surrogate \ud800 in a string
 *
 * next() returns -1 only when the whole source fails: the connection drops
 * or the statement fails mid-read (ERR_SOURCE, "postgres source
 * \"public.products\": lost the connection after 1200 rows: ..."); the batch
 * is then empty (nothing half-emitted) and every later next() fails the same.
 *
 * Write-back: each output's "target" object (check_target names the path,
 * e.g. "outputs[2].target.column"):
 *
 *   table     "products" or "schema.products"
 *   key       the column matched against the item's SKU (a key of another
 *             type than text is compared with the SKU cast to it: a SKU
 *             that does not cast fails the whole batch)
 *   column    the column to write: a text (string-type) column; or, with
 *   json_key  a key inside that column, which must be jsonb: the value is set
 *             as a JSON string with jsonb_set, the object created when the
 *             column is NULL.  "{locale}" in json_key is replaced by the
 *             item's locale ("description_{locale}" -> "description_de")
 *   upsert    true: insert a row (key, column) for a SKU that has none
 *             (INSERT ... ON CONFLICT (key) DO UPDATE, the policy in the
 *             WHERE of DO UPDATE); needs a unique index on the key alone.
 *             Default false: a SKU without a row fails.
 *
 * write() is one transaction per call (see pg_sink.c for how).  The policy,
 * applied to the target's current value (for json_key, the key's value as
 * text):
 *   never         write only when it is NULL or ""
 *   if_generated  also when its sha256 (hex of its UTF-8) is the item's
 *                 prior_sha256, i.e. skugen wrote it and nobody changed it
 *   always        write
 * and a value already equal to the item's is never written again.  Each
 * item's status:
 *   WRITTEN
 *   UNCHANGED  the target already held exactly this value
 *   REFUSED    "the target already holds a value (policy never)",
 *              "the target holds a value skugen did not write (policy if_generated)"
 *   FAILED     "no row with sku \"X\" in public.products", "no table ...",
 *              "no column ...", "column \"content\" of public.products is text,
 *              not jsonb ...", "column ... of sku \"X\" ... holds a JSON array,
 *              not an object", "the value is not valid UTF-8", an asset
 *              (the sink writes text), a json_key with {locale} and no locale,
 *              "superseded by a later value for sku \"X\" and the same target
 *              in this batch" (the later one is written)
 * write() returns -1 (every item PENDING, nothing written) when a statement
 * fails or the connection drops: ERR_SOURCE naming the table and column.
 * A write while a read is under way on the same conn uses a second
 * connection of its own.
 */
#ifndef SKUGEN_CONN_POSTGRES_H
#define SKUGEN_CONN_POSTGRES_H

#include "connectors/connector.h"

extern const struct conn_ops conn_postgres_ops;

#endif
