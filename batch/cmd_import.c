/* cmd_import.c: `skugen import FILE`: a reviewer's decisions back into the
 * store (the work is in review_import.c). */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/cli.h"
#include "batch/review_import.h"

static const char usage_text[] =
	"usage: skugen import FILE [--partial] [--reviewer NAME]\n"
	"\n"
	"Takes a reviewer's decisions back: the CSV of `skugen export` after Excel or\n"
	"LibreOffice (a BOM or none, CRLF or LF, comma, semicolon or tab) with the\n"
	"decision column filled in, or the decisions file the review page saves.\n"
	"\n"
	"  decision     approve, reject or edit (any case); empty: no decision, skipped\n"
	"  edited_text  the new text, for edit: it becomes a new version of the\n"
	"               generation (approved, with the reviewer as its provenance) and\n"
	"               the old version is superseded\n"
	"  comment      kept with the decision\n"
	"\n"
	"Every row is checked first: a generation that does not exist, a SKU that\n"
	"does not match its generation, a generation superseded since the export, a\n"
	"decision not understood, an edit without text.  Each bad row is listed with\n"
	"its line, and nothing is applied unless every row is good.  Decisions the\n"
	"store already has are skipped, so importing a file twice changes nothing.\n"
	"Approved generations are written to the source by `skugen publish`.\n"
	"\n"
	"  --partial        apply the good rows even when some are bad (exit 1)\n"
	"  --reviewer NAME  who decided (default: the name in the page's file, else\n"
	"                   $SKUGEN_REVIEWER, else the login name)\n"
	"\n"
	"exit codes: 0 applied (or nothing new); 1 bad rows (listed); 2 usage;\n"
	"  3 cannot read the file or reach the store\n";

static const char *login_name(void)
{
	const char *env = getenv("SKUGEN_REVIEWER");
	struct passwd *pw;

	if (env && *env)
		return env;
	pw = getpwuid(geteuid());
	return pw ? pw->pw_name : "unknown";
}

static void print_report(const char *path, const struct review_import_report *r, bool partial)
{
	for (size_t i = 0; i < r->n_problems; i++) {
		const struct review_problem *p = &r->problems[i];

		if (p->entry >= 0)
			fprintf(stderr, "%s:%ld: %s[%ld]: %s\n", path, p->line,
				r->bare_array ? "" : "decisions", p->entry, p->message);
		else
			fprintf(stderr, "%s:%ld: %s\n", path, p->line, p->message);
	}
	if (!r->applied) {
		printf("import %s: nothing applied: %ld of %ld rows %s bad (fix %s, or use --partial to apply "
		       "the rest)\n", path, r->bad, r->rows, r->bad == 1 ? "is" : "are",
		       r->bad == 1 ? "it" : "them");
		return;
	}
	if (r->approved + r->rejected + r->edited == 0 && r->bad == 0) {
		printf("import %s: nothing new: %ld decision%s already recorded, %ld row%s without a decision\n",
		       path, r->already, r->already == 1 ? " was" : "s were", r->undecided,
		       r->undecided == 1 ? "" : "s");
		return;
	}
	printf("import %s: %ld approved, %ld rejected, %ld edited (new versions), %ld already recorded, "
	       "%ld without a decision; reviewer %s\n", path, r->approved, r->rejected, r->edited,
	       r->already, r->undecided, r->reviewer);
	if (r->bad && partial)
		printf("import %s: %ld bad row%s not applied (listed above)\n", path, r->bad,
		       r->bad == 1 ? "" : "s");
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "partial", no_argument, NULL, 'p' },
		{ "reviewer", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct review_import_opts o = { 0 };
	struct review_import_report rep = { 0 };
	struct settings s;
	struct store *st = NULL;
	struct err e;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.partial = true; break;
		case 'r': o.reviewer = optarg; break;
		default:
			if (cli_option(c, usage_text, &code))
				return code;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "skugen import: give one file (see skugen import --help)\n");
		return EXIT_USAGE;
	}
	o.path = argv[optind];
	o.default_reviewer = login_name();
	err_clear(&e);
	if (cli_settings(&s, false, &e) < 0 || cli_store(&s, &st, &e) < 0 ||
	    review_import(st, &o, &rep, &e) < 0)
		goto fail;
	print_report(o.path, &rep, o.partial);
	code = rep.bad ? EXIT_SOME_FAILED : EXIT_ALL_DONE;
	goto out;
fail:
	code = cli_fail(&e);
out:
	review_import_report_free(&rep);
	store_close(st);
	settings_free(&s);
	return code;
}
