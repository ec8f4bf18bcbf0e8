/* cli.c: helpers shared by the subcommands (see cli.h). */
#include "batch/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
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

bool cli_option(int c, const char *usage, int *code)
{
	switch (c) {
	case 'c':
		cli.config_path = optarg;
		return false;
	case 'q':
		cli.quiet = true;
		return false;
	case 'h':
		fputs(usage, stdout);
		*code = EXIT_ALL_DONE;
		return true;
	default:
		fputs(usage, stderr);
		*code = EXIT_USAGE;
		return true;
	}
}

bool cli_run_number(const char *who, const char *what, const char *arg)
{
	if (cli_is_run_id(arg))
		return true;
	fprintf(stderr, "%s: %s a run number, got \"%s\"\n", who, what, arg);
	return false;
}

int cli_run_operand(const char *cmd, int argc, char **argv, long *run_id)
{
	char who[64];

	snprintf(who, sizeof who, "skugen %s", cmd);
	*run_id = 0;
	if (optind < argc) {
		if (!cli_run_number(who, "RUN must be", argv[optind]))
			return -1;
		*run_id = atol(argv[optind++]);
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", who, argv[optind]);
		return -1;
	}
	return 0;
}
