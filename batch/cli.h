/* cli.h: what the subcommands of the skugen CLI share.
 *
 * Exit codes (documented in README.md and `skugen --help`):
 *   0  all done
 *   1  done, but some tasks or records failed
 *   2  usage or configuration error (bad flags, bad configuration, a template
 *      that does not load)
 *   3  cannot reach the store or a source
 */
#ifndef SKUGEN_CLI_H
#define SKUGEN_CLI_H

#include <stdbool.h>

#include "batch/settings.h"
#include "batch/store.h"
#include "common/err.h"

enum {
	EXIT_ALL_DONE = 0,
	EXIT_SOME_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

/* Options every subcommand accepts before or after its name. */
struct cli_globals {
	const char *config_path;  /* --config, default ./skugen.json */
	bool quiet;               /* -q: only errors and the final summary */
};

extern struct cli_globals cli;

/* Print "skugen: <message>" on stderr and return the exit code for e. */
int cli_fail(const struct err *e);

/* The exit code that an error of this kind calls for. */
int cli_exit_code(enum err_code code);

/* Load the configuration: required (run, regen, export...) or optional (db). */
int cli_settings(struct settings *s, bool required, struct err *e);

/* Open the store the settings point at. */
int cli_store(const struct settings *s, struct store **st, struct err *e);

/* Whether s is a run number (digits only, not empty). */
bool cli_is_run_id(const char *s);

/* For getopt_long's answer c, the cases every subcommand shares: 'c'
 * (--config) and 'q' (--quiet) set cli and return false (go on); 'h'
 * (--help) prints usage on stdout and returns true with *code EXIT_ALL_DONE;
 * anything else prints usage on stderr and returns true with *code
 * EXIT_USAGE.  The subcommand's option table decides which of these
 * getopt_long can answer. */
bool cli_option(int c, const char *usage, int *code);

/* Whether arg is a run number; if not, prints "WHO: WHAT a run number, got
 * "ARG"" on stderr (who "skugen report", what "RUN must be"). */
bool cli_run_number(const char *who, const char *what, const char *arg);

/* The optional RUN of `skugen CMD [RUN]` at argv[optind] (*run_id: 0 when
 * absent) and nothing after it: 0, or -1 after "skugen CMD: RUN must be a run
 * number, got ..." or "skugen CMD: unexpected argument ..." on stderr. */
int cli_run_operand(const char *cmd, int argc, char **argv, long *run_id);

/* The subcommands: argv[0] is the subcommand's name. */
int cmd_run(int argc, char **argv);
int cmd_regen(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_db(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_serve(int argc, char **argv);

struct publish_counts;
/* The one-line summary of a publish. */
void cli_print_publish(const struct publish_counts *c);

#endif
