/* pg_embedded.h: skugen's private Postgres cluster, the embedded default.
 *
 * With no DSN configured, skugen keeps its own cluster under a home directory
 * (SKUGEN_HOME, default ./.skugen): created with initdb on first use, started
 * with pg_ctl, listening on a unix socket only, reused by every later command
 * until `skugen db stop`.  Postgres refuses to run as root; when skugen runs
 * as root the server runs as an unprivileged user (SKUGEN_PG_USER, else
 * "postgres", else "nobody") that owns the data directory.
 *
 * Binaries are found through SKUGEN_PG_BIN, then PATH, then Debian's
 * /usr/lib/postgresql/<version>/bin (the newest).
 */
#ifndef SKUGEN_PG_EMBEDDED_H
#define SKUGEN_PG_EMBEDDED_H

#include <stdbool.h>

#include "common/err.h"

/* Create (if needed) and start (if not running) the cluster under home.  On
 * success *dsn is a new libpq connection string for it. */
int pg_embedded_start(const char *home, char **dsn, struct err *e);

/* Stop the cluster under home, if it runs ("fast" shutdown). */
int pg_embedded_stop(const char *home, struct err *e);

/* Whether a cluster exists under home and whether it runs. */
int pg_embedded_status(const char *home, bool *exists, bool *running, struct err *e);

/* The connection string for the cluster under home (new), whether or not it
 * runs. */
int pg_embedded_dsn(const char *home, char **dsn, struct err *e);

#endif
