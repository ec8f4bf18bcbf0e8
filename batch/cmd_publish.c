/* cmd_publish.c: `skugen publish`: approved content back to the source. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/cli.h"
#include "batch/publish.h"

static const char usage_text[] =
	"usage: skugen publish [--output NAME]\n"
	"\n"
	"Writes approved generations (and drafts of outputs set to \"publish\": \"auto\")\n"
	"back to the system of record, through the source's connector, to each output's\n"
	"\"target\", with its overwrite policy: never (fill empty values only),\n"
	"if_generated (replace only what skugen wrote; the default) or always.  Written\n"
	"generations become published; publishing again writes nothing new.  Every\n"
	"attempt, refused and failed ones too, is recorded in skugen.publications.\n"
	"\n"
	"  -o, --output NAME  only this output\n"
	"\n"
	"exit codes: 0 all written; 1 some refused or failed; 2 configuration error;\n"
	"  3 cannot reach the store or the target\n";

void cli_print_publish(const struct publish_counts *c)
{
	printf("publish: %ld written, %ld already there, %ld refused by the overwrite policy, %ld failed\n",
	       c->written, c->unchanged, c->refused, c->failed);
}

int cmd_publish(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct publish_opts po = { 0 };
	struct publish_counts counts = { 0 };
	struct settings s;
	struct store *st = NULL;
	struct conn *sink = NULL;
	const struct conn_ops *ops;
	struct err e;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'o')
			po.output = optarg;
		else if (cli_option(c, usage_text, &code))
			return code;
	}
	err_clear(&e);
	if (cli_settings(&s, true, &e) < 0)
		return cli_fail(&e);
	if (settings_require_pipeline(&s, &e) < 0)
		goto fail;
	if (po.output) {
		size_t i;

		for (i = 0; i < s.n_outputs && strcmp(s.outputs[i].name, po.output) != 0; i++)
			;
		if (i == s.n_outputs || !s.outputs[i].target) {
			err_set(&e, ERR_USAGE, "output \"%s\" %s", po.output,
				i == s.n_outputs ? "is not in the configuration" : "has no \"target\" to publish to");
			goto fail;
		}
	}
	ops = conn_find(json_string_value(json_object_get(s.source, "type")));
	if (cli_store(&s, &st, &e) < 0 ||
	    ops->open(&sink, s.source, &(struct conn_open_opts){ .base_dir = s.cfg.dir }, &e) < 0 ||
	    publish_outputs(st, &s, sink, &po, &counts, &e) < 0)
		goto fail;
	cli_print_publish(&counts);
	code = (counts.refused || counts.failed) ? EXIT_SOME_FAILED : EXIT_ALL_DONE;
	goto out;
fail:
	code = cli_fail(&e);
out:
	if (sink)
		sink->ops->close(sink);
	store_close(st);
	settings_free(&s);
	return code;
}
