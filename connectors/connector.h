/* connector.h: the interface every system of record implements.
 *
 * A back-end is a `const struct conn_ops` table, registered in the
 * NULL-terminated conn_backends[] (connectors/registry.c), as curl does for
 * its TLS back-ends.  Instance state embeds struct conn first:
 *
 *     struct file_conn { struct conn base; FILE *fp; ... };
 *
 * Lifecycle: open -> next ... next (until it yields an empty batch) -> close.
 * next() returns -1 only when the whole source fails (unreadable file, lost
 * connection); a bad record is returned inside the batch with its error set,
 * and the run goes on.
 */
#ifndef SKUGEN_CONNECTOR_H
#define SKUGEN_CONNECTOR_H

#include <jansson.h>

#include "common/err.h"
#include "connectors/record.h"

struct conn;

struct conn_ops {
	const char *name;     /* "file", "postgres", "akeneo": the config's source.type */
	const char *version;  /* goes into provenance */

	/* Open a source from its configuration object (borrowed).  base_dir is
	 * the directory relative paths in the configuration are resolved against.
	 * On success *out is new (close it with close). */
	int (*open)(struct conn **out, const json_t *cfg, const char *base_dir, struct err *e);

	/* Reset b and fill it with up to b->cap records; b->len == 0 means the
	 * source is exhausted. */
	int (*next)(struct conn *c, struct record_batch *b, struct err *e);

	/* Close and free.  Accepts NULL. */
	void (*close)(struct conn *c);
};

struct conn {
	const struct conn_ops *ops;
};

/* NULL-terminated table of the built-in back-ends. */
extern const struct conn_ops *const conn_backends[];

/* The back-end called name, or NULL. */
const struct conn_ops *conn_find(const char *name);

#endif
