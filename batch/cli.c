/* cli.c: helpers shared by the subcommands (see cli.h). */
#include "batch/cli.h"

#include <stdio.h>
#include <string.h>

int cli_exit_code(enum err_code code)
{
	switch (code) {
	case ERR_USAGE:
	case ERR_CONFIG:
	case ERR_TEMPLATE:
		return EXIT_USAGE;
	case ERR_STORE:
	case ERR_SOURCE:
	case ERR_IO:
		return EXIT_UNREACHABLE;
	default:
		return EXIT_SOME_FAILED;
	}
}

int cli_fail(const struct err *e)
{
	fprintf(stderr, "skugen: %s\n", e->msg[0] ? e->msg : "failed");
	return cli_exit_code(e->code);
}

int cli_settings(struct settings *s, bool required, struct err *e)
{
	if (settings_load(s, cli.config_path, !required, e) < 0)
		return -1;
	return 0;
}

int cli_store(const struct settings *s, struct store **st, struct err *e)
{
	struct store_target t = { .dsn = s->dsn, .home = s->home };

	return store_open(st, &t, e);
}

bool cli_is_run_id(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 19;
}
