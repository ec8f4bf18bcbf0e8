/* drain.c: read a whole source, checking the batch contract (see drain.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "tests/support/drain.h"

int drain_records(const struct conn_ops *ops, struct conn *c, size_t cap, struct record **v,
		  size_t *n, struct err *e)
{
	struct record_batch b;
	int rc;

	*v = NULL;
	*n = 0;
	assert_int_equal(record_batch_init(&b, cap), 0);
	for (;;) {
		rc = ops->next(c, &b, e);
		if (rc < 0 || b.len == 0)
			break;
		assert_true(b.len <= cap);
		*v = realloc(*v, (*n + b.len) * sizeof **v);
		assert_non_null(*v);
		for (size_t i = 0; i < b.len; i++) {
			struct record *r = &b.items[i];

			assert_non_null(r->origin);
			assert_true((r->error == NULL) != (r->fields == NULL));
			if (r->error)
				assert_true(utf8_valid(r->error, strlen(r->error), NULL));
			else
				assert_true(json_is_object(r->fields) && r->sku);
			(*v)[(*n)++] = *r;
			memset(r, 0, sizeof *r);
		}
	}
	/* exhausted stays exhausted */
	if (rc == 0) {
		assert_int_equal(ops->next(c, &b, e), 0);
		assert_int_equal(b.len, 0);
	}
	record_batch_free(&b);
	return rc;
}
