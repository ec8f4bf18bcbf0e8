/* pg_json.h: a fast decoder from the JSON text Postgres writes to jansson
 * values, for the postgres source connector (connectors/pg_source.c).
 *
 * Why not json_loadb(): the source turns every row into JSON on the server
 * (row_to_json) and decodes it here.  jansson's general-purpose parser costs
 * about 5.5 us for a typical 400-byte, 12-column product row; building the
 * same values directly costs under 1 us, and the difference decides whether
 * the client keeps up with the server (bench/connectors).  The text comes
 * from Postgres in UTF-8 (the connection forces client_encoding UTF8), so
 * strings without escapes are taken as they are; everything else is checked.
 *
 * What the decoder produces (and refuses):
 *   - objects, arrays, strings, true, false, null as jansson does; a key seen
 *     twice in one object (possible in a `json` column) keeps its last value;
 *   - an integer literal becomes a JSON integer when it fits 64 bits, else a
 *     string holding its digits (a numeric(30) id loses nothing); any other
 *     number becomes a real, or a string when it overflows a double;
 *   - refused, with a message: malformed text, "\u0000" (NUL cannot be kept in
 *     the C strings the rest of skugen uses), a lone UTF-16 surrogate escape,
 *     nesting deeper than 1000, a top level that is not an object, and a
 *     top-level field whose size is over max_field bytes (a string's bytes;
 *     for an array or object, the total of the strings and keys inside it, as
 *     the file connector counts).
 */
#ifndef SKUGEN_PG_JSON_H
#define SKUGEN_PG_JSON_H

#include <stddef.h>

#include <jansson.h>

/* Decode the JSON object text p[0..n) into *out (a new reference).
 * Returns 0 on success; 1 when the text is refused, with *out NULL and msg
 * (cap bytes) saying why, naming the top-level field when there is one
 * (`field "description" is 10485760 bytes, limit 1048576`); -1 when memory
 * runs out. */
int conn_pg_json_object(const char *p, size_t n, size_t max_field, json_t **out,
			char *msg, size_t cap);

#endif
