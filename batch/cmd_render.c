/* cmd_render.c: `skugen render TEMPLATE --data FILE`: for template authors.
 *
 * Renders one template file against a JSON document and prints the result
 * exactly (no newline added), with the same engine, partials and strictness
 * the batch uses, so that a template can be tried before a run spends money.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/cli.h"
#include "common/buf.h"
#include "common/file_read.h"
#include "templates/tmpl.h"

static const char usage_text[] =
	"usage: skugen render TEMPLATE --data FILE [--partials DIR] [options]\n"
	"\n"
	"Renders the Mustache file TEMPLATE against the JSON in FILE (- for stdin) and\n"
	"prints the result.  Partials ({{> name}}) are NAME.mustache under DIR\n"
	"(default: TEMPLATE's own folder).  Prompt defaults: strict (a missing key is an\n"
	"error naming its line and column) and no HTML escaping.\n"
	"\n"
	"  -d, --data FILE      the data (a JSON document)\n"
	"  -p, --partials DIR   where partials are found\n"
	"      --no-strict      render a missing key as empty, as plain Mustache does\n"
	"      --escape         HTML-escape {{name}} as plain Mustache does\n"
	"      --spec           plain Mustache: --no-strict --escape, missing partials empty\n"
	"  -e, --explain        print the key paths the template reads, not the render\n";

/* The template's name: its file name without a .mustache suffix. */
static char *template_name(const char *path)
{
	const char *base = strrchr(path, '/');
	char *name = strdup(base ? base + 1 : path);
	size_t n = name ? strlen(name) : 0;

	if (n > 9 && strcmp(name + n - 9, ".mustache") == 0)
		name[n - 9] = '\0';
	return name;
}

int cmd_render(int argc, char **argv)
{
	enum { OPT_NO_STRICT = 256, OPT_ESCAPE, OPT_SPEC };
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "partials", required_argument, NULL, 'p' },
		{ "no-strict", no_argument, NULL, OPT_NO_STRICT },
		{ "escape", no_argument, NULL, OPT_ESCAPE },
		{ "spec", no_argument, NULL, OPT_SPEC },
		{ "explain", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tmpl_opts topts = { .strict = true, .escape_html = false };
	const char *data_path = NULL, *partials = NULL;
	struct buf src = BUF_INIT, data_text = BUF_INIT, out = BUF_INIT;
	struct tmpl_lib *lib = NULL;
	const struct tmpl *t;
	char *name = NULL, *dir = NULL;
	json_t *data = NULL;
	json_error_t je;
	struct err e;
	bool explain = false, spec = false;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "d:p:eh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data_path = optarg; break;
		case 'p': partials = optarg; break;
		case 'e': explain = true; break;
		case OPT_NO_STRICT: topts.strict = false; break;
		case OPT_ESCAPE: topts.escape_html = true; break;
		case OPT_SPEC: topts.strict = false; topts.escape_html = true; spec = true; break;
		default:
			if (cli_option(c, usage_text, &code))
				return code;
		}
	}
	if (optind != argc - 1 || (!data_path && !explain)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if (file_read_all(argv[optind], &src, &e) < 0)
		goto fail;
	if (!partials) {
		dir = strdup(argv[optind]);
		partials = dir ? dirname(dir) : ".";
	}
	name = template_name(argv[optind]);
	lib = tmpl_lib_open_dir(partials, &e);
	if (!name || !lib || tmpl_lib_add(lib, name, buf_str(&src), src.len, &e) < 0)
		goto fail;
	/* Plain Mustache renders a missing partial as nothing; skugen refuses. */
	tmpl_lib_set_missing_partials_ok(lib, spec);
	t = tmpl_lib_get(lib, name, &e);
	if (!t)
		goto fail;
	if (explain) {
		json_t *paths = tmpl_read_paths(t);
		char *text = paths ? json_dumps(paths, JSON_INDENT(2)) : NULL;

		printf("template %s\nsha256 %s\nreads %s\n", tmpl_name(t), tmpl_sha256(t),
		       text ? text : "(everything: the read set cannot be bounded)");
		free(text);
		json_decref(paths);
		goto out;
	}
	if (file_read_all(data_path, &data_text, &e) < 0)
		goto fail;
	data = json_loadb(buf_str(&data_text), data_text.len, JSON_DECODE_ANY, &je);
	if (!data) {
		err_set(&e, ERR_USAGE, "%s:%d:%d: %s", data_path, je.line, je.column, je.text);
		goto fail;
	}
	if (tmpl_render(t, data, &topts, &out, &e) < 0)
		goto fail;
	fwrite(buf_str(&out), 1, out.len, stdout);
	if (fflush(stdout) != 0) {
		err_set(&e, ERR_IO, "cannot write the output: %s", strerror(errno));
		goto fail;
	}
	goto out;
fail:
	/* A template that does not load or render is the author's error (2). */
	code = cli_fail(&e);
out:
	json_decref(data);
	tmpl_lib_free(lib);
	free(name);
	free(dir);
	buf_free(&src);
	buf_free(&data_text);
	buf_free(&out);
	return code;
}
