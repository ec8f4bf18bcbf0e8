/* drain.h: a connector test's read of a whole source (test_conn_*.c): the
 * records of every batch next() gives, moved into one array, with the batch
 * contract checked on the way by cmocka asserts: never more than cap records,
 * each with an origin and either an error (valid UTF-8) or fields (an object,
 * with a sku); a source read to its end stays there.  Unit tests only: it
 * needs cmocka. */
#ifndef SKUGEN_TESTS_DRAIN_H
#define SKUGEN_TESTS_DRAIN_H

#include <stddef.h>

#include "connectors/connector.h"

/* Read c (opened with ops) to its end, or to next()'s first error, in
 * batches of cap; the records are appended to *v (grown with realloc; the
 * caller owns it: record_clear each, then free) and counted in *n, both
 * zeroed first.  next()'s result: 0, or -1 with e filled. */
int drain_records(const struct conn_ops *ops, struct conn *c, size_t cap, struct record **v,
		  size_t *n, struct err *e);

#endif
