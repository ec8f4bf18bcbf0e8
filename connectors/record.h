/* record.h: one product record as it comes out of a source connector.
 *
 * A record is a SKU plus its fields as a JSON object.  A record that could not
 * be read (malformed line, invalid UTF-8, no SKU, oversized field...) still
 * comes out, with fields == NULL and error set, so that the planner can record
 * it as failed and the run goes on.
 *
 * Ownership: a record owns its strings and its reference to fields.
 */
#ifndef SKUGEN_RECORD_H
#define SKUGEN_RECORD_H

#include <jansson.h>

struct record {
	char *sku;        /* new; NULL when the record has none (or is unreadable) */
	json_t *fields;   /* owned reference to a JSON object; NULL when error is set */
	char *origin;     /* new; where it came from: "catalog.jsonl:17" */
	char *error;      /* new; NULL, or why the record is unusable (names field and problem) */
};

/* Release what r owns and zero it.  Accepts NULL. */
void record_clear(struct record *r);

/* A batch that a connector fills; the caller owns it and reuses it. */
struct record_batch {
	struct record *items;  /* cap entries */
	size_t len;
	size_t cap;
};

/* Allocate room for cap records; -1 on no memory. */
int record_batch_init(struct record_batch *b, size_t cap);
/* Clear every record (keeping the room). */
void record_batch_reset(struct record_batch *b);
/* Clear and free.  Accepts NULL. */
void record_batch_free(struct record_batch *b);

#endif
