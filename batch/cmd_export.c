/* cmd_export.c: `skugen export --format csv|json`: generations with provenance.
 *
 * Rows stream from Postgres in single-row mode and are written as they come,
 * so an export of millions of generations runs in constant memory.  CSV is
 * RFC 4180 (UTF-8, CRLF, quotes doubled); JSON is one array of objects.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/cli.h"

static const char usage_text[] =
	"usage: skugen export [--format csv|json] [--run N] [--all] [--out FILE]\n"
	"\n"
	"Writes the generations in the store with their provenance (generator, model,\n"
	"template and its sha256, prompt and input sha256, tokens, cost, timings).\n"
	"\n"
	"  --format csv|json  default csv\n"
	"  --run N            only generations made by run N\n"
	"  --all              include superseded generations\n"
	"  --out FILE         write to FILE (written to a temporary name, then renamed)\n";

static const char *const export_sql =
	"select g.id as generation_id, g.sku, g.output, g.locale, g.channel, g.kind, g.status,\n"
	"  g.version, g.content, g.content_sha256, g.fingerprint, g.run_id, g.created_at,\n"
	"  p.generator, p.generator_version, p.provider, p.model, p.model_version,\n"
	"  p.template_name, p.template_sha256, p.prompt_sha256, p.input_fields, p.input_sha256,\n"
	"  p.tokens_in, p.tokens_out, p.cost, p.latency_ms, p.attempts, p.worker,\n"
	"  p.skugen_version, p.started_at, p.ended_at\n"
	"from skugen.generations g left join skugen.provenance p on p.generation_id = g.id\n"
	"where ($1::bigint is null or g.run_id = $1) and ($2::boolean or g.status <> 'superseded')\n"
	"order by g.sku, g.output, g.locale, g.id";

static void csv_field(FILE *out, const char *v)
{
	if (!strpbrk(v, ",\"\r\n")) {
		fputs(v, out);
		return;
	}
	fputc('"', out);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', out);
		fputc(*v, out);
	}
	fputc('"', out);
}

static void write_csv_row(FILE *out, PGresult *r, bool header)
{
	for (int c = 0; c < PQnfields(r); c++) {
		if (c)
			fputc(',', out);
		csv_field(out, header ? PQfname(r, c) : PQgetvalue(r, 0, c));
	}
	fputs("\r\n", out);
}

static int stream(struct store *st, const char *run, bool all, bool json, FILE *out, long *rows,
		  struct err *e)
{
	const char *params[2] = { run, all ? "t" : "f" };
	const char *sql = export_sql;
	char *wrapped = NULL;
	PGresult *r;
	int rc = 0;

	if (json) {
		size_t n = strlen(export_sql) + 64;

		wrapped = malloc(n);
		if (!wrapped)
			return err_set(e, ERR_NOMEM, "out of memory");
		snprintf(wrapped, n, "select row_to_json(x)::text from (%s) x", export_sql);
		sql = wrapped;
	}
	if (!PQsendQueryParams(st->pg, sql, 2, NULL, params, NULL, NULL, 0) || !PQsetSingleRowMode(st->pg)) {
		free(wrapped);
		return err_set(e, ERR_STORE, "export query failed: %s", PQerrorMessage(st->pg));
	}
	free(wrapped);
	if (json)
		fputs("[", out);
	while ((r = PQgetResult(st->pg)) != NULL) {
		ExecStatusType s = PQresultStatus(r);

		if (s == PGRES_SINGLE_TUPLE) {
			if (json) {
				fputs(*rows ? ",\n" : "\n", out);
				fputs(PQgetvalue(r, 0, 0), out);
			} else {
				if (*rows == 0)
					write_csv_row(out, r, true);
				write_csv_row(out, r, false);
			}
			(*rows)++;
		} else if (s == PGRES_TUPLES_OK) {
			if (!json && *rows == 0)
				write_csv_row(out, r, true);
		} else if (rc == 0) {
			rc = err_set(e, ERR_STORE, "export query failed: %s", PQresultErrorMessage(r));
		}
		PQclear(r);
	}
	if (json)
		fputs(*rows ? "\n]\n" : "]\n", out);
	return rc;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "run", required_argument, NULL, 'r' },
		{ "all", no_argument, NULL, 'a' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = "csv", *run = NULL, *out_path = NULL;
	char tmp_path[4096] = "";
	bool all = false;
	struct settings s;
	struct store *st = NULL;
	struct err e;
	FILE *out = stdout;
	long rows = 0;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "f:r:ao:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': format = optarg; break;
		case 'r': run = optarg; break;
		case 'a': all = true; break;
		case 'o': out_path = optarg; break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_ALL_DONE;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
		fprintf(stderr, "skugen export: --format must be csv or json, got \"%s\"\n", format);
		return EXIT_USAGE;
	}
	if (run && !cli_is_run_id(run)) {
		fprintf(stderr, "skugen export: --run must be a run number, got \"%s\"\n", run);
		return EXIT_USAGE;
	}
	err_clear(&e);
	if (cli_settings(&s, false, &e) < 0)
		return cli_fail(&e);
	if (cli_store(&s, &st, &e) < 0)
		goto fail;
	if (out_path) {
		snprintf(tmp_path, sizeof tmp_path, "%s.tmp.%ld", out_path, (long)getpid());
		out = fopen(tmp_path, "w");
		if (!out) {
			err_set(&e, ERR_IO, "cannot write %s: %s", tmp_path, strerror(errno));
			goto fail;
		}
	}
	if (stream(st, run, all, strcmp(format, "json") == 0, out, &rows, &e) < 0)
		goto fail;
	if (out_path) {
		int bad = ferror(out) | fclose(out);

		out = stdout;
		if (bad || rename(tmp_path, out_path) < 0) {
			err_set(&e, ERR_IO, "cannot write %s: %s", out_path, strerror(errno));
			goto fail;
		}
		tmp_path[0] = '\0';
		if (!cli.quiet)
			fprintf(stderr, "exported %ld generations to %s\n", rows, out_path);
	} else if (fflush(stdout) != 0) {
		err_set(&e, ERR_IO, "cannot write the export: %s", strerror(errno));
		goto fail;
	}
	goto out;
fail:
	code = cli_fail(&e);
out:
	if (out != stdout)
		fclose(out);
	if (tmp_path[0])
		unlink(tmp_path);
	store_close(st);
	settings_free(&s);
	return code;
}
