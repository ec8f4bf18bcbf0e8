/* main.c: the skugen command line: global options and subcommand dispatch. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/cli.h"
#include "media/image.h"

struct cli_globals cli = { .config_path = "skugen.json" };

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{ "run", cmd_run, "plan and generate everything that changed in the configured source" },
	{ "regen", cmd_regen, "regenerate only the given SKUs (--force ignores fingerprints)" },
	{ "worker", cmd_worker, "work the shared task queue (on any machine that reaches the store)" },
	{ "status", cmd_status, "where runs stand: tasks by state, rate, ETA, cost, workers (--watch follows one)" },
	{ "cancel", cmd_cancel, "cancel a run: its tasks not started are cancelled, workers stop the rest" },
	{ "report", cmd_report, "a run's report: counts, cost, latency, failures by cause (JSON, HTML)" },
	{ "export", cmd_export, "write generations for review (CSV, HTML, JSON) or with their provenance" },
	{ "import", cmd_import, "take a reviewer's decisions back: approve, reject, edit" },
	{ "publish", cmd_publish, "write approved generations back to the system of record" },
	{ "render", cmd_render, "render a template against a JSON file (for template authors)" },
	{ "serve", cmd_serve, "the HTTP API: regenerate SKUs on demand, job status, fal webhooks" },
	{ "db", cmd_db, "manage the embedded store: start, stop, status, dsn, psql" },
};

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: skugen [--config FILE] [-q] [--device auto|gpu|cpu] COMMAND [ARGS]\n"
		"\n"
		"Generates product content (copy now; images and video to come) for a catalog,\n"
		"with provenance, and remembers what it made so nothing is made twice.\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(fp, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp,
		"\n"
		"options:\n"
		"  --config FILE  the configuration (default ./skugen.json)\n"
		"  -q, --quiet    print only errors and the final summary\n"
		"  --device auto|gpu|cpu  where images and video are made (default auto:\n"
		"                 the GPU when a CUDA device is present, else the CPU)\n"
		"  --version      print the version\n"
		"  -h, --help     this help; `skugen COMMAND --help` for a command's own\n"
		"\n"
		"environment: SKUGEN_DSN (use this Postgres instead of the embedded one),\n"
		"  SKUGEN_HOME (where the embedded store lives, default ./.skugen)\n"
		"\n"
		"exit codes: 0 all done; 1 done but some tasks failed; 2 usage or\n"
		"  configuration error; 3 cannot reach the store or a source\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "device", required_argument, NULL, 'D' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* Stop at the first non-option: it is the subcommand. */
	while ((c = getopt_long(argc, argv, "+c:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'q':
			cli.quiet = true;
			break;
		case 'D': {
			/* The media generators read SKUGEN_DEVICE (so a worker's
			 * environment can say it too); the word is checked here. */
			enum media_device d;
			struct err e;

			if (media_device_parse(optarg, &d, &e)) {
				fprintf(stderr, "skugen: %s\n", e.msg);
				return EXIT_USAGE;
			}
			setenv("SKUGEN_DEVICE", media_device_name(d), 1);
			break;
		}
		case 'V':
			printf("skugen %s\n", SKUGEN_VERSION);
			return EXIT_ALL_DONE;
		case 'h':
			usage(stdout);
			return EXIT_ALL_DONE;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			optind = 0; /* glibc: 0 fully restarts getopt (1 keeps the "+" mode) */
			return commands[i].fn(sub_argc, sub_argv);
		}
	}
	fprintf(stderr, "skugen: unknown command \"%s\" (see skugen --help)\n", argv[optind]);
	return EXIT_USAGE;
}
