/* cmd_db.c: `skugen db start|stop|status|dsn|psql`: the embedded store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/cli.h"
#include "batch/pg_embedded.h"

/* Hand the DSN to psql through libpq's environment variables (PGHOST,
 * PGDATABASE, ...), not its command line, where `ps` would show it to every
 * user of the machine. */
static int dsn_to_env(const char *dsn, struct err *e)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &msg);

	if (!opts) {
		err_set(e, ERR_CONFIG, "the store's DSN does not parse: %s", msg ? msg : "out of memory");
		PQfreemem(msg);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && o->val[0] && o->envvar && setenv(o->envvar, o->val, 1) < 0) {
			PQconninfoFree(opts);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
	PQconninfoFree(opts);
	return 0;
}

static const char usage_text[] =
	"usage: skugen db start|stop|status|dsn|psql [PSQL-ARGS...]\n"
	"\n"
	"Manages the embedded store: a private Postgres cluster under SKUGEN_HOME\n"
	"(default ./.skugen, or store.home in the configuration) on a unix socket.\n"
	"\n"
	"  start   create it if needed, start it, migrate it, print its DSN\n"
	"  stop    stop it (the data stays)\n"
	"  status  say whether it exists and runs, and its schema version\n"
	"  dsn     print the connection string (SKUGEN_DSN's when one is set)\n"
	"  psql    open psql on the store, with any further arguments\n";

int cmd_db(int argc, char **argv)
{
	struct settings s;
	struct store *st = NULL;
	struct err e;
	const char *action;
	char *dsn = NULL;
	int code = EXIT_ALL_DONE;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_ALL_DONE;
	}
	action = argv[1];
	err_clear(&e);
	if (cli_settings(&s, false, &e) < 0)
		return cli_fail(&e);
	if (strcmp(action, "start") == 0) {
		if (cli_store(&s, &st, &e) < 0)
			goto fail;
		printf("%s\n", st->dsn);
	} else if (strcmp(action, "stop") == 0) {
		if (s.dsn) {
			err_set(&e, ERR_USAGE, "the store is external (SKUGEN_DSN or store.dsn): skugen does not stop it");
			goto fail;
		}
		if (pg_embedded_stop(s.home, &e) < 0)
			goto fail;
		if (!cli.quiet)
			printf("stopped the embedded store in %s\n", s.home);
	} else if (strcmp(action, "status") == 0) {
		bool exists = false, running = false;

		if (s.dsn) {
			if (cli_store(&s, &st, &e) < 0)
				goto fail;
			printf("external store: reachable, schema version %d\n", store_schema_version());
		} else {
			if (pg_embedded_status(s.home, &exists, &running, &e) < 0)
				goto fail;
			printf("embedded store in %s: %s\n", s.home,
			       !exists ? "not created" : running ? "running" : "stopped");
			if (!running)
				code = EXIT_UNREACHABLE;
		}
	} else if (strcmp(action, "dsn") == 0) {
		if (s.dsn)
			printf("%s\n", s.dsn);
		else if (pg_embedded_dsn(s.home, &dsn, &e) < 0)
			goto fail;
		else
			printf("%s\n", dsn);
	} else if (strcmp(action, "psql") == 0) {
		char **args = calloc((size_t)argc + 2, sizeof *args);
		int n = 0;

		if (!args) {
			err_set(&e, ERR_NOMEM, "out of memory");
			goto fail;
		}
		if (cli_store(&s, &st, &e) < 0 || dsn_to_env(st->dsn, &e) < 0) {
			free(args);
			goto fail;
		}
		args[n++] = "psql";
		for (int i = 2; i < argc; i++)
			args[n++] = argv[i];
		fflush(NULL);
		execvp("psql", args);
		free(args);
		err_set(&e, ERR_IO, "cannot run psql: is the postgresql-client package installed?");
		goto fail;
	} else {
		fprintf(stderr, "skugen db: unknown action \"%s\"\n", action);
		fputs(usage_text, stderr);
		code = EXIT_USAGE;
	}
	goto out;
fail:
	code = cli_fail(&e);
out:
	free(dsn);
	store_close(st);
	settings_free(&s);
	return code;
}
