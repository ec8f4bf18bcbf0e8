/* cmd_worker.c: `skugen worker`, a long-lived worker of the shared queue.
 *
 * It runs on any machine that reaches the store's DSN, with the same
 * configuration as the planner (templates, generators, providers), and
 * claims tasks of every running run, highest priority first, of the output
 * kinds it is given (--outputs text,image,video: GPU machines take media,
 * others copy).  SIGTERM or SIGINT stops it gracefully: it claims nothing
 * more, finishes and commits what is in flight (cancelling calls that run
 * past half a lease), puts back what it still holds, and exits 0.
 * `skugen run --workers N` starts N-1 of these with --run ID.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/cli.h"
#include "batch/executor.h"
#include "batch/run.h"
#include "common/buf.h"
#include "templates/tmpl.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* "text,image" -> the Postgres array "{text,image}"; -1 on a kind that is
 * not known. */
static int parse_kinds(const char *list, struct buf *out)
{
	static const char *const known[] = { "text", "image", "video", NULL };
	char *copy = strdup(list), *save = NULL;
	int n = 0, rc = 0;

	if (!copy)
		return -1;
	buf_puts(out, "{");
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool ok = false;

		for (size_t i = 0; known[i]; i++)
			ok |= strcmp(t, known[i]) == 0;
		if (!ok) {
			fprintf(stderr, "skugen worker: --outputs: unknown kind \"%s\" (known: text, image, video)\n", t);
			rc = -1;
			break;
		}
		buf_printf(out, "%s%s", n++ ? "," : "", t);
	}
	buf_puts(out, "}");
	free(copy);
	if (rc == 0 && n == 0) {
		fprintf(stderr, "skugen worker: --outputs: no kind given\n");
		rc = -1;
	}
	return rc;
}

int cmd_worker(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: skugen worker [--outputs text,image,video] [--exit-when-idle] [--batch-size N]\n"
		"\n"
		"Works the shared task queue of the configured store until stopped: claims the\n"
		"tasks of every running run, highest priority first (regen before nightly\n"
		"work), generates them and stores the results.  Run as many as you like, on any\n"
		"machine that reaches the store; a worker that dies leaves its tasks to the\n"
		"others once its lease expires (queue.lease_s).  SIGTERM finishes and commits\n"
		"what is in flight, puts back the rest, and exits.\n"
		"\n"
		"  -o, --outputs KINDS    only tasks of these output kinds (default: all)\n"
		"  -x, --exit-when-idle   exit when no task of these kinds is left to do\n"
		"  -b, --batch-size N     tasks per claim (default 64)\n"
		"\n"
		"exit codes: 0 stopped or idle; 2 configuration error; 3 cannot reach the store\n";
	static const struct option opts[] = {
		{ "outputs", required_argument, NULL, 'o' },
		{ "exit-when-idle", no_argument, NULL, 'x' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "run", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct executor_opts eo = { .stop = &stop_requested };
	struct buf kinds = BUF_INIT;
	struct settings s;
	struct tmpl_lib *lib = NULL;
	struct store *st = NULL;
	struct run_counts counts;
	struct sigaction sa = { .sa_handler = on_stop };
	struct err e;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "o:xb:c:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			buf_reset(&kinds);
			if (parse_kinds(optarg, &kinds) < 0) {
				buf_free(&kinds);
				return EXIT_USAGE;
			}
			break;
		case 'x':
			eo.exit_when_idle = true;
			break;
		case 'b':
			eo.batch_size = atoi(optarg);
			if (eo.batch_size < 1 || eo.batch_size > 10000) {
				fprintf(stderr, "skugen worker: --batch-size must be between 1 and 10000\n");
				buf_free(&kinds);
				return EXIT_USAGE;
			}
			break;
		case 'r':
			/* Internal: one run's worker, started by `skugen run --workers N`. */
			if (!cli_run_number("skugen worker", "--run expects", optarg)) {
				buf_free(&kinds);
				return EXIT_USAGE;
			}
			eo.run_id = atol(optarg);
			break;
		default:
			if (cli_option(c, usage_text, &code)) {
				buf_free(&kinds);
				return code;
			}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "skugen worker: unexpected argument \"%s\"\n", argv[optind]);
		buf_free(&kinds);
		return EXIT_USAGE;
	}
	eo.kinds = kinds.len ? buf_str(&kinds) : NULL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	memset(&counts, 0, sizeof counts);
	err_clear(&e);
	if (cli_settings(&s, true, &e) < 0) {
		buf_free(&kinds);
		return cli_fail(&e);
	}
	if (settings_require_pipeline(&s, &e) < 0)
		goto fail;
	lib = tmpl_lib_open_dir(s.templates_dir, &e);
	if (!lib || cli_store(&s, &st, &e) < 0)
		goto fail;
	if (!cli.quiet)
		fprintf(stderr, "worker %s: claiming %s tasks%s\n", run_worker_name(), eo.kinds ? eo.kinds : "all",
			eo.exit_when_idle ? " until none is left" : " (SIGTERM stops)");
	if (executor_run(st, &s, lib, &eo, &counts, &e) < 0)
		goto fail;
	if (!cli.quiet)
		printf("worker %s: %ld generated, %ld unchanged, %ld failed%s\n", run_worker_name(), counts.done,
		       counts.skipped, counts.failed, stop_requested ? " (stopped)" : "");
	goto out;
fail:
	code = cli_fail(&e);
out:
	store_close(st);
	tmpl_lib_free(lib);
	settings_free(&s);
	buf_free(&kinds);
	return code;
}
