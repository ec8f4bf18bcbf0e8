/* record.c: records and record batches (see record.h). */
#include "record.h"

#include <stdlib.h>
#include <string.h>

void record_clear(struct record *r)
{
	if (!r)
		return;
	free(r->sku);
	json_decref(r->fields);
	free(r->origin);
	free(r->error);
	memset(r, 0, sizeof *r);
}

int record_batch_init(struct record_batch *b, size_t cap)
{
	b->items = calloc(cap, sizeof *b->items);
	b->len = 0;
	b->cap = b->items ? cap : 0;
	return b->items ? 0 : -1;
}

void record_batch_reset(struct record_batch *b)
{
	for (size_t i = 0; i < b->len; i++)
		record_clear(&b->items[i]);
	b->len = 0;
}

void record_batch_free(struct record_batch *b)
{
	if (!b)
		return;
	record_batch_reset(b);
	free(b->items);
	b->items = NULL;
	b->cap = 0;
}
