/* publish.h: write approved generations back to the system of record.
 *
 * For every output with a "target", the live generations that are approved
 * (or drafts, for outputs set to "publish": "auto") and not yet published go
 * through the source connector's write(), in batches, with the output's
 * overwrite policy.  "if_generated" compares the target's current value with
 * the sha256 of what skugen last wrote to that slot.  Every attempt is
 * recorded in skugen.publications; a generation that was written (or that
 * the target already held) becomes published, so publishing twice writes
 * nothing the second time.  Refused and failed ones keep their status and
 * are tried again by the next publish.
 */
#ifndef SKUGEN_PUBLISH_H
#define SKUGEN_PUBLISH_H

#include <stdbool.h>

#include "batch/settings.h"
#include "batch/store.h"
#include "connectors/connector.h"

struct publish_counts {
	long written, unchanged, refused, failed;
};

struct publish_opts {
	const char *output;   /* NULL: every output with a target */
	bool auto_only;       /* only outputs with "publish": "auto" (after a run) */
	int batch_size;       /* items per write (default 100) */
};

/* -1 when the store fails or the connector fails a whole batch (what was
 * recorded before stays recorded). */
int publish_outputs(struct store *st, const struct settings *s, struct conn *sink,
		    const struct publish_opts *o, struct publish_counts *counts, struct err *e);

#endif
