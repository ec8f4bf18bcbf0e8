/* connector.h: the interface every system of record implements.
 *
 * A back-end is a `const struct conn_ops` table, registered in the
 * NULL-terminated conn_backends[] (connectors/registry.c), as curl does for
 * its TLS back-ends.  Instance state embeds struct conn first:
 *
 *     struct file_conn { struct conn base; FILE *fp; ... };
 *
 * As a source: open -> next ... next (until it yields an empty batch) ->
 * close.  next() returns -1 only when the whole source fails (unreadable
 * file, lost connection); a bad record is returned inside the batch with its
 * error set, and the run goes on.
 *
 * Incremental reads: open() is given the high-water mark of the last
 * successful run (o->since, NULL for a full read); a source that supports it
 * reads only records changed after it, and watermark() reports the highest
 * value it has seen, which the store keeps once the run has succeeded.
 *
 * As a write-back sink: write() takes a batch of published values, applies
 * each output's overwrite policy, and sets every item's status; it returns -1
 * only when the whole batch could not be attempted (nothing was written then,
 * or the back-end says in the items what was).
 */
#ifndef SKUGEN_CONNECTOR_H
#define SKUGEN_CONNECTOR_H

#include <jansson.h>

#include "common/err.h"
#include "connectors/record.h"

struct conn;

struct conn_open_opts {
	const char *base_dir;  /* relative paths in the configuration resolve here */
	const char *since;     /* NULL: read everything; else only what changed after it */
	const json_t *skus;    /* NULL, or an array of SKUs: a source may read only
				* these (regen); the planner filters in any case */
};

/* What happens to a value already in the target. */
enum conn_policy {
	CONN_OVERWRITE_NEVER,         /* only fill empty (NULL or "") values */
	CONN_OVERWRITE_IF_GENERATED,  /* replace only a value skugen wrote (same sha256) */
	CONN_OVERWRITE_ALWAYS,
};

enum conn_write_status {
	CONN_WRITE_PENDING = 0,   /* not attempted (the batch failed as a whole) */
	CONN_WRITE_WRITTEN,
	CONN_WRITE_UNCHANGED,     /* the target already holds exactly this value */
	CONN_WRITE_REFUSED,       /* the policy kept the target's value */
	CONN_WRITE_FAILED,        /* the target rejected it: message says why */
};

/* One value to write back.  The caller owns everything but message. */
struct conn_write_item {
	const char *sku;
	const char *output;
	const char *locale;
	const char *channel;
	const char *value;            /* the text to write (NULL for an asset) */
	size_t value_len;
	const char *asset_path;       /* a file to upload, or NULL */
	long long generation_id;
	const char *prior_sha256;     /* sha256 of what skugen last wrote to this slot, or NULL */
	const json_t *target;         /* the output's "target" object from the configuration */
	enum conn_policy policy;
	/* Set by write(): */
	enum conn_write_status status;
	char *message;                /* new or NULL: the target's answer or the reason */
};

struct conn_ops {
	const char *name;     /* "file", "postgres", "akeneo": the config's source.type */
	const char *version;  /* goes into provenance */

	/* Open from the source's configuration object (borrowed).  On success
	 * *out is new (close it with close).  ERR_CONFIG for a bad
	 * configuration, ERR_SOURCE when the system cannot be reached. */
	int (*open)(struct conn **out, const json_t *cfg, const struct conn_open_opts *o,
		    struct err *e);

	/* Reset b and fill it with up to b->cap records; b->len == 0 means the
	 * source is exhausted. */
	int (*next)(struct conn *c, struct record_batch *b, struct err *e);

	/* The highest watermark seen so far (borrowed, valid until the next call
	 * or close), or NULL when the source has none.  May be NULL. */
	const char *(*watermark)(struct conn *c);

	/* Check an output's "target" object (borrowed) at configuration time,
	 * naming the key path in errors (path is e.g. "outputs[2].target").
	 * NULL when the back-end cannot write. */
	int (*check_target)(const json_t *target, const char *path, struct err *e);

	/* Write n items (see above).  NULL when the back-end cannot write. */
	int (*write)(struct conn *c, struct conn_write_item *items, size_t n, struct err *e);

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

/* "never", "if_generated", "always" -> policy; -1 when unknown. */
int conn_policy_parse(const char *s, enum conn_policy *out);
const char *conn_policy_name(enum conn_policy p);
const char *conn_write_status_name(enum conn_write_status s);

/* pattern with "{locale}" and "{channel}" replaced by the item's (new
 * string; NULL on no memory): target names such as "description_{locale}". */
char *conn_expand(const char *pattern, const struct conn_write_item *item);

/* Free every item's message and reset its status.  Accepts n == 0. */
void conn_write_items_reset(struct conn_write_item *items, size_t n);

#endif
