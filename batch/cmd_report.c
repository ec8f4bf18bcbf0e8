/* cmd_report.c: `skugen report [RUN] [--json FILE] [--html FILE]`: a run's
 * report (report.h) as JSON and as an HTML page. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/cli.h"
#include "batch/report.h"
#include "batch/run_stats.h"

static const char usage_text[] =
	"usage: skugen report [RUN] [--json FILE] [--html FILE]\n"
	"\n"
	"Writes the report of a run (default: the newest): tasks by state, by output\n"
	"and by provider and model, cost, p50/p95 latency, throughput, failures grouped\n"
	"by cause with example SKUs, the budget's and the deadline's outcome, timings.\n"
	"The run may still be going: the report says where it stands.\n"
	"\n"
	"  --json FILE   the report as JSON (\"-\": stdout; the default without --html)\n"
	"  --html FILE   a self-contained HTML page (\"-\": stdout)\n"
	"\n"
	"exit codes: 0 written; 2 usage error or no such run; 3 cannot reach the store\n"
	"  or write a file\n";

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", required_argument, NULL, 'j' },
		{ "html", required_argument, NULL, 'H' },
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *json_path = NULL, *html_path = NULL;
	struct settings s;
	struct store *st = NULL;
	struct err e;
	long run_id = 0;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json_path = optarg;
			break;
		case 'H':
			html_path = optarg;
			break;
		default:
			if (cli_option(c, usage_text, &code))
				return code;
		}
	}
	if (cli_run_operand("report", argc, argv, &run_id) < 0)
		return EXIT_USAGE;
	if (!json_path && !html_path)
		json_path = "-";
	err_clear(&e);
	if (cli_settings(&s, false, &e) < 0)
		return cli_fail(&e);
	if (cli_store(&s, &st, &e) < 0)
		goto fail;
	if (!run_id) {
		if (run_latest(st, &run_id, &e) < 0)
			goto fail;
		if (!run_id) {
			err_set(&e, ERR_USAGE, "report: the store has no runs yet");
			goto fail;
		}
	}
	if (report_write(st, run_id, json_path, html_path, &e) < 0)
		goto fail;
	if (!cli.quiet && html_path && strcmp(html_path, "-") != 0)
		fprintf(stderr, "report of run %ld written to %s\n", run_id, html_path);
	goto out;
fail:
	code = cli_fail(&e);
out:
	store_close(st);
	settings_free(&s);
	return code;
}
