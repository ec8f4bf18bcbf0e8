/* watermark.h: each source's high-water mark, kept in the store.
 *
 * An incremental source (a Postgres table with an updated_at column, Akeneo's
 * "updated") reports the highest watermark it has read; after a run that
 * completed without failed tasks the store keeps it, and the next run reads
 * only what changed after it.  A source is identified by its connector and the
 * sha256 of its configuration, so pointing skugen at another table starts
 * afresh.
 */
#ifndef SKUGEN_WATERMARK_H
#define SKUGEN_WATERMARK_H

#include <jansson.h>

#include "batch/store.h"
#include "common/err.h"
#include "common/hash.h"

#define WATERMARK_KEY_LEN (HASH_HEX_LEN + 64)

/* "<connector>:<sha256 of the canonical source configuration>". */
void watermark_key(const char *connector, const json_t *source_cfg, char key[WATERMARK_KEY_LEN]);

/* The stored value (new string) or *value = NULL when there is none. */
int watermark_get(struct store *st, const char *key, char **value, struct err *e);

/* Store value for key, recording the run that reached it. */
int watermark_set(struct store *st, const char *key, const char *connector, const char *value,
		  long run_id, struct err *e);

#endif
