/* cmd_export.c: `skugen export`: generations for review (CSV for
 * spreadsheets, a self-contained HTML page, JSON for other tools) or with
 * their full provenance (--provenance).
 *
 * Rows stream from Postgres in single-row mode and are written as they come,
 * so an export of millions of generations runs in constant memory.  The file
 * is written under a temporary name and renamed when complete.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch/cli.h"
#include "batch/review_export.h"
#include "batch/review_html.h"
#include "common/buf.h"
#include "common/file_read.h"
#include "common/random.h"

static const char usage_text[] =
	"usage: skugen export [--format csv|html|json] [--out FILE] [FILTERS] [--provenance]\n"
	"\n"
	"Writes generations for review: one row per generation with the SKU, product\n"
	"name, output, locale, the current value in the system of record, the\n"
	"generated value, its status, and empty decision, edited_text and comment\n"
	"columns for the reviewer; `skugen import` takes the decisions back.\n"
	"\n"
	"  --format csv   for Excel and LibreOffice: UTF-8 with a BOM, CRLF, every text\n"
	"                 cell quoted; a cell starting with = + - @ TAB or CR gets a\n"
	"                 leading apostrophe so that no spreadsheet runs it (the import\n"
	"                 takes it off again).  Columns: sku, product_name, output,\n"
	"                 locale, current_value, generated_value, status, decision,\n"
	"                 edited_text, comment, generation_id, model, cost, version\n"
	"  --format html  one page to open from disk: a card per SKU, current and\n"
	"                 generated copy side by side with the word differences marked,\n"
	"                 media thumbnails, checks, filters, keys a/r/e to approve,\n"
	"                 reject or edit, and a button that saves the decisions file\n"
	"  --format json  an array of objects, for other tools (the default format\n"
	"                 is csv)\n"
	"  -o, --out FILE write to FILE (default: standard output)\n"
	"\n"
	"filters (each LIST is comma-separated and the option may repeat):\n"
	"  --run LIST         made by these runs\n"
	"  --status LIST      draft, approved, rejected, published, superseded or all\n"
	"                     (default: all but superseded)\n"
	"  --output LIST      these outputs\n"
	"  --category LIST    these categories\n"
	"  --locale LIST      these locales\n"
	"  --sku LIST|@FILE   these SKUs; @FILE reads one SKU per line\n"
	"  --since TIME       made or changed (decided, published) at or after TIME,\n"
	"                     e.g. 2025-03-01 or '2025-03-01 14:00+01'\n"
	"  --all              the same as --status all\n"
	"\n"
	"  --provenance       instead: every provenance column (generator, model,\n"
	"                     template and its sha256, prompt and input sha256, tokens,\n"
	"                     cost, timings), as csv or json\n";

struct export_opts {
	const char *format, *out_path, *since;
	bool provenance;
	struct review_filter filter;
	struct buf described;      /* the filters, for the page */
};

static int add_item(json_t **list, const char *s, size_t n, struct err *e)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (!n)
		return 0;
	if (!*list && !(*list = json_array()))
		return err_set(e, ERR_NOMEM, "out of memory");
	if (json_array_append_new(*list, json_stringn(s, n)) < 0)
		return err_set(e, ERR_USAGE, "\"%.*s\" is not UTF-8", (int)n, s);
	return 0;
}

/* Add the items of a comma list, or (with at_file) the lines of @FILE. */
static int add_list(json_t **list, const char *arg, bool at_file, struct err *e)
{
	struct buf b = BUF_INIT;
	const char *p, *end;
	char sep = ',';
	int rc = -1;

	if (at_file && arg[0] == '@') {
		if (file_read_all(arg + 1, &b, e) < 0)
			goto out;
		p = buf_str(&b);
		end = p + b.len;
		sep = '\n';
	} else {
		p = arg;
		end = arg + strlen(arg);
	}
	while (p < end) {
		const char *q = memchr(p, sep, (size_t)(end - p));

		if (!q)
			q = end;
		if (add_item(list, p, (size_t)(q - p), e) < 0)
			goto out;
		p = q + 1;
	}
	if (!*list && !(*list = json_array())) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

static int check_values(const json_t *list, const char *opt, bool (*ok)(const char *),
			const char *expected, struct err *e)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (!ok(json_string_value(v)))
			return err_set(e, ERR_USAGE, "%s: \"%s\" is not %s", opt, json_string_value(v), expected);
	return 0;
}

static bool is_status(const char *s)
{
	static const char *const known[] = { "draft", "approved", "rejected", "published", "superseded", NULL };

	for (int i = 0; known[i]; i++)
		if (strcmp(s, known[i]) == 0)
			return true;
	return false;
}

static bool is_run(const char *s)
{
	return cli_is_run_id(s);
}

/* --status all (or --all) lists every status. */
static int expand_all(json_t **statuses, struct err *e)
{
	size_t i;
	json_t *v;
	bool all = false;

	json_array_foreach(*statuses, i, v)
		all = all || strcmp(json_string_value(v), "all") == 0;
	if (!all)
		return 0;
	json_decref(*statuses);
	*statuses = json_pack("[s, s, s, s, s]", "draft", "approved", "rejected", "published", "superseded");
	return *statuses ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

static void describe(struct buf *b, const char *name, const json_t *list)
{
	size_t i;
	json_t *v;

	if (!list)
		return;
	buf_printf(b, "%s%s ", b->len ? " \xc2\xb7 " : "", name);
	json_array_foreach(list, i, v) {
		if (i == 5) {
			buf_printf(b, " and %zu more", json_array_size(list) - 5);
			break;
		}
		buf_printf(b, "%s%s", i ? ", " : "", json_string_value(v));
	}
}

static int parse_args(int argc, char **argv, struct export_opts *o, struct err *e)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "run", required_argument, NULL, 'r' },
		{ "status", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'O' },
		{ "category", required_argument, NULL, 'c' },
		{ "locale", required_argument, NULL, 'l' },
		{ "sku", required_argument, NULL, 'k' },
		{ "since", required_argument, NULL, 'S' },
		{ "all", no_argument, NULL, 'a' },
		{ "provenance", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct review_filter *f = &o->filter;
	int c, rc = 0;

	while (rc == 0 && (c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': o->format = optarg; break;
		case 'o': o->out_path = optarg; break;
		case 'r': rc = add_list(&f->runs, optarg, false, e); break;
		case 's': rc = add_list(&f->statuses, optarg, false, e); break;
		case 'O': rc = add_list(&f->outputs, optarg, false, e); break;
		case 'c': rc = add_list(&f->categories, optarg, false, e); break;
		case 'l': rc = add_list(&f->locales, optarg, false, e); break;
		case 'k': rc = add_list(&f->skus, optarg, true, e); break;
		case 'S': o->since = f->since = optarg; break;
		case 'a': rc = add_list(&f->statuses, "all", false, e); break;
		case 'p': o->provenance = true; break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			return err_set(e, ERR_USAGE, "see skugen export --help");
		}
	}
	if (rc < 0)
		return -1;
	if (optind < argc)
		return err_set(e, ERR_USAGE, "export: unexpected argument \"%s\"", argv[optind]);
	if (strcmp(o->format, "csv") != 0 && strcmp(o->format, "json") != 0 && strcmp(o->format, "html") != 0)
		return err_set(e, ERR_USAGE, "--format must be csv, html or json, got \"%s\"", o->format);
	if (o->provenance && strcmp(o->format, "html") == 0)
		return err_set(e, ERR_USAGE, "--provenance is written as csv or json, not html");
	if (f->statuses && expand_all(&f->statuses, e) < 0)
		return -1;
	if ((f->runs && check_values(f->runs, "--run", is_run, "a run number", e) < 0) ||
	    (f->statuses && check_values(f->statuses, "--status", is_status,
					 "draft, approved, rejected, published, superseded or all", e) < 0))
		return -1;
	describe(&o->described, "run", f->runs);
	describe(&o->described, "status", f->statuses);
	describe(&o->described, "output", f->outputs);
	describe(&o->described, "category", f->categories);
	describe(&o->described, "locale", f->locales);
	describe(&o->described, "sku", f->skus);
	if (f->since)
		buf_printf(&o->described, "%schanged since %s", o->described.len ? " \xc2\xb7 " : "", f->since);
	return 0;
}

/* --since must be a time Postgres understands; say so before the export. */
static int check_since(struct store *st, const char *since, struct err *e)
{
	PGresult *r = PQexecParams(st->pg, "select $1::timestamptz", 1, NULL, &since, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	PQclear(r);
	return ok ? 0 : err_set(e, ERR_USAGE, "--since: \"%s\" is not a date or time", since);
}

/* The provenance export: every column of the generation and its provenance. */
static const char prov_select[] =
	"select g.id as generation_id, g.sku, g.output, g.locale, g.channel, g.kind, g.status,\n"
	"  g.version, g.revises, g.content, g.content_sha256, g.fingerprint, g.run_id, g.created_at,\n"
	"  p.activity, p.generator, p.generator_version, p.provider, p.model, p.model_version,\n"
	"  p.template_name, p.template_sha256, p.prompt_sha256, p.input_fields, p.input_sha256,\n"
	"  p.tokens_in, p.tokens_out, p.cost, p.latency_ms, p.attempts, p.worker,\n"
	"  p.skugen_version, p.started_at, p.ended_at\n"
	"from skugen.generations g left join skugen.provenance p on p.generation_id = g.id\n";

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

static int provenance(struct store *st, const struct review_filter *f, bool json, FILE *out,
		      long *rows, struct err *e)
{
	struct buf sql = BUF_INIT;
	char *params[7] = { 0 };
	PGresult *r;
	int rc = -1;

	if (review_filter_params(f, params, e) < 0)
		return -1;
	if ((json && buf_puts(&sql, "select row_to_json(x)::text from (") < 0) ||
	    buf_puts(&sql, prov_select) < 0 || buf_puts(&sql, review_export_where) < 0 ||
	    buf_puts(&sql, "order by g.sku, g.output, g.locale, g.id") < 0 ||
	    (json && buf_puts(&sql, ") x") < 0)) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!PQsendQueryParams(st->pg, sql.data, 7, NULL, (const char *const *)params, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(st->pg)) {
		err_set(e, ERR_STORE, "export query failed: %s", PQerrorMessage(st->pg));
		goto out;
	}
	rc = 0;
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
out:
	buf_free(&sql);
	review_filter_params_free(params);
	return rc;
}

struct sink {
	FILE *out;
	struct buf scratch;
	struct review_html *html;
	bool json, any;
};

static int sink_row(void *ctx, const struct review_row *row, struct err *e)
{
	struct sink *s = ctx;

	if (s->html)
		return review_html_row(s->html, row, e);
	if (s->json) {
		if (review_json_row(s->out, row, !s->any, e) < 0)
			return -1;
		s->any = true;
		return 0;
	}
	return review_csv_row(s->out, &s->scratch, row, e);
}

static void export_id(char out[17])
{
	unsigned char raw[8];

	if (random_bytes(raw, sizeof raw) < 0) {
		unsigned long long t = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);

		memcpy(raw, &t, sizeof raw);
	}
	for (int i = 0; i < 8; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
}

/* The absolute directory the page goes to (new), or NULL for stdout. */
static char *page_dir(const char *out_path)
{
	char *copy, *dir, *real;

	if (!out_path)
		return NULL;
	copy = strdup(out_path);
	if (!copy)
		return NULL;
	dir = dirname(copy);
	real = realpath(dir, NULL);
	free(copy);
	return real;
}

static int review(struct store *st, const struct export_opts *o, FILE *out, long *rows, long *cards,
		  struct err *e)
{
	struct sink s = { .out = out, .json = strcmp(o->format, "json") == 0 };
	char id[17], when[32];
	char *base = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int rc = -1;

	if (strcmp(o->format, "html") == 0) {
		struct review_html_opts ho = { 0 };

		export_id(id);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
		base = page_dir(o->out_path);
		ho.exported_at = when;
		ho.export_id = id;
		ho.filters = buf_str(&o->described);
		ho.asset_base = base;
		if (review_html_begin(&s.html, out, &ho, e) < 0)
			goto out;
	} else if (!s.json && review_csv_begin(out, e) < 0) {
		goto out;
	}
	if (review_export_stream(st, &o->filter, sink_row, &s, rows, e) < 0)
		goto out;
	if (s.html && review_html_end(s.html, cards, e) < 0)
		goto out;
	if (s.json && review_json_end(out, *rows > 0, e) < 0)
		goto out;
	rc = 0;
out:
	review_html_free(s.html);
	buf_free(&s.scratch);
	free(base);
	return rc;
}

int cmd_export(int argc, char **argv)
{
	struct export_opts o = { .format = "csv" };
	char tmp_path[PATH_MAX + 32] = "";
	struct settings s;
	struct store *st = NULL;
	struct err e;
	FILE *out = stdout;
	long rows = 0, cards = -1;
	int code = EXIT_ALL_DONE, a;

	err_clear(&e);
	memset(&s, 0, sizeof s);
	a = parse_args(argc, argv, &o, &e);
	if (a > 0)
		goto out;
	if (a < 0 || cli_settings(&s, false, &e) < 0 || cli_store(&s, &st, &e) < 0 ||
	    (o.since && check_since(st, o.since, &e) < 0))
		goto fail;
	if (o.out_path) {
		snprintf(tmp_path, sizeof tmp_path, "%s.tmp.%ld", o.out_path, (long)getpid());
		out = fopen(tmp_path, "w");
		if (!out) {
			err_set(&e, ERR_IO, "cannot write %s: %s", tmp_path, strerror(errno));
			goto fail;
		}
		setvbuf(out, NULL, _IOFBF, 1 << 20);
	}
	if (o.provenance ? provenance(st, &o.filter, strcmp(o.format, "json") == 0, out, &rows, &e) < 0
			 : review(st, &o, out, &rows, &cards, &e) < 0)
		goto fail;
	if (o.out_path) {
		int bad = ferror(out) | fclose(out);

		out = stdout;
		if (bad || rename(tmp_path, o.out_path) < 0) {
			err_set(&e, ERR_IO, "cannot write %s: %s", o.out_path, strerror(errno));
			goto fail;
		}
		tmp_path[0] = '\0';
		if (!cli.quiet) {
			if (cards >= 0)
				fprintf(stderr, "exported %ld generations of %ld SKUs to %s\n", rows, cards, o.out_path);
			else
				fprintf(stderr, "exported %ld generations to %s\n", rows, o.out_path);
		}
	} else if (fflush(stdout) != 0) {
		err_set(&e, ERR_IO, "cannot write the export: %s", strerror(errno));
		goto fail;
	}
	goto out;
fail:
	if (e.code == ERR_USAGE) {
		fprintf(stderr, "skugen export: %s\n", e.msg);
		code = EXIT_USAGE;
	} else {
		code = cli_fail(&e);
	}
out:
	if (out && out != stdout)
		fclose(out);
	if (tmp_path[0])
		unlink(tmp_path);
	store_close(st);
	settings_free(&s);
	json_decref(o.filter.runs);
	json_decref(o.filter.statuses);
	json_decref(o.filter.outputs);
	json_decref(o.filter.categories);
	json_decref(o.filter.locales);
	json_decref(o.filter.skus);
	buf_free(&o.described);
	return code;
}
