/* review_export.c: generations for review out of the store, as CSV or JSON
 * (see review_export.h). */
#include "batch/review_export.h"

#include <stdlib.h>
#include <string.h>

#include "batch/review_csv.h"

const char review_export_where[] =
	"where ($1::jsonb is null or g.run_id in (select x::bigint from jsonb_array_elements_text($1::jsonb) x))\n"
	"  and ($2::jsonb is null and g.status <> 'superseded'\n"
	"       or g.status in (select jsonb_array_elements_text($2::jsonb)))\n"
	"  and ($3::jsonb is null or g.output in (select jsonb_array_elements_text($3::jsonb)))\n"
	"  and ($4::jsonb is null or coalesce(g.category, '') in (select jsonb_array_elements_text($4::jsonb)))\n"
	"  and ($5::jsonb is null or g.locale in (select jsonb_array_elements_text($5::jsonb)))\n"
	"  and ($6::jsonb is null or g.sku in (select jsonb_array_elements_text($6::jsonb)))\n"
	"  and ($7::timestamptz is null or g.updated_at >= $7::timestamptz)\n";

enum {
	C_ID, C_SKU, C_NAME, C_CATEGORY, C_OUTPUT, C_LOCALE, C_CHANNEL, C_KIND, C_STATUS, C_VERSION,
	C_CURRENT, C_CONTENT, C_ASSET, C_MODEL, C_GENERATOR, C_PROVIDER, C_COST, C_CHECKS, C_RUN,
	C_CREATED, C_UPDATED, C_DECISION, C_REVIEWER, C_COMMENT, C_REVIEWED,
};

static const char select_sql[] =
	"select g.id, g.sku, coalesce(g.product_name, ''), coalesce(g.category, ''), g.output, g.locale,\n"
	"  g.channel, g.kind, g.status, g.version, g.current_value, g.content, g.asset_path,\n"
	"  p.model, p.generator, p.provider, p.cost, g.checks::text, g.run_id,\n"
	"  to_char(g.created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),\n"
	"  to_char(g.updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),\n"
	"  r.decision, r.reviewer, r.comment,\n"
	"  to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')\n"
	"from skugen.generations g\n"
	"left join skugen.provenance p on p.generation_id = g.id\n"
	"left join lateral (select r.decision, r.reviewer, r.comment, r.created_at\n"
	"  from skugen.reviews r where r.generation_id = g.id order by r.id desc limit 1) r on true\n";

static const char order_sql[] = "order by g.sku, g.output, g.locale, g.channel, g.id";

static char *dump_or_null(const json_t *list, bool *nomem)
{
	char *s;

	if (!list)
		return NULL;
	s = json_dumps(list, JSON_COMPACT);
	if (!s)
		*nomem = true;
	return s;
}

int review_filter_params(const struct review_filter *f, char *params[7], struct err *e)
{
	bool nomem = false;

	params[0] = dump_or_null(f->runs, &nomem);
	params[1] = dump_or_null(f->statuses, &nomem);
	params[2] = dump_or_null(f->outputs, &nomem);
	params[3] = dump_or_null(f->categories, &nomem);
	params[4] = dump_or_null(f->locales, &nomem);
	params[5] = dump_or_null(f->skus, &nomem);
	params[6] = f->since ? strdup(f->since) : NULL;
	if (nomem || (f->since && !params[6])) {
		review_filter_params_free(params);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	return 0;
}

void review_filter_params_free(char *params[7])
{
	for (int i = 0; i < 7; i++) {
		free(params[i]);
		params[i] = NULL;
	}
}

static const char *nullable(const PGresult *r, int c)
{
	return PQgetisnull(r, 0, c) ? NULL : PQgetvalue(r, 0, c);
}

static void fill_row(const PGresult *r, struct review_row *row)
{
	row->generation_id = PQgetvalue(r, 0, C_ID);
	row->sku = PQgetvalue(r, 0, C_SKU);
	row->product_name = PQgetvalue(r, 0, C_NAME);
	row->category = PQgetvalue(r, 0, C_CATEGORY);
	row->output = PQgetvalue(r, 0, C_OUTPUT);
	row->locale = PQgetvalue(r, 0, C_LOCALE);
	row->channel = PQgetvalue(r, 0, C_CHANNEL);
	row->kind = PQgetvalue(r, 0, C_KIND);
	row->status = PQgetvalue(r, 0, C_STATUS);
	row->version = PQgetvalue(r, 0, C_VERSION);
	row->current_value = nullable(r, C_CURRENT);
	row->current_len = row->current_value ? (size_t)PQgetlength(r, 0, C_CURRENT) : 0;
	row->content = nullable(r, C_CONTENT);
	row->content_len = row->content ? (size_t)PQgetlength(r, 0, C_CONTENT) : 0;
	row->asset_path = nullable(r, C_ASSET);
	row->model = nullable(r, C_MODEL);
	row->generator = nullable(r, C_GENERATOR);
	row->provider = nullable(r, C_PROVIDER);
	row->cost = nullable(r, C_COST);
	row->checks = PQgetvalue(r, 0, C_CHECKS);
	row->run_id = nullable(r, C_RUN);
	row->created_at = PQgetvalue(r, 0, C_CREATED);
	row->updated_at = PQgetvalue(r, 0, C_UPDATED);
	row->last_decision = nullable(r, C_DECISION);
	row->last_reviewer = nullable(r, C_REVIEWER);
	row->last_comment = nullable(r, C_COMMENT);
	row->last_reviewed_at = nullable(r, C_REVIEWED);
}

int review_export_stream(struct store *st, const struct review_filter *f,
			 int (*fn)(void *ctx, const struct review_row *row, struct err *e), void *ctx,
			 long *rows, struct err *e)
{
	char *params[7] = { 0 };
	struct buf sql = BUF_INIT;
	PGresult *r;
	int rc = -1;

	*rows = 0;
	if (review_filter_params(f, params, e) < 0)
		return -1;
	if (buf_puts(&sql, select_sql) < 0 || buf_puts(&sql, review_export_where) < 0 ||
	    buf_puts(&sql, order_sql) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!PQsendQueryParams(st->pg, sql.data, 7, NULL, (const char *const *)params, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(st->pg)) {
		err_set(e, ERR_STORE, "export query failed: %s", PQerrorMessage(st->pg));
		goto out;
	}
	rc = 0;
	while ((r = PQgetResult(st->pg)) != NULL) {
		ExecStatusType s = PQresultStatus(r);

		if (s == PGRES_SINGLE_TUPLE && rc == 0) {
			struct review_row row;

			fill_row(r, &row);
			if (fn(ctx, &row, e) < 0)
				rc = -1;    /* drain the rest of the results, then fail */
			else
				(*rows)++;
		} else if (s != PGRES_SINGLE_TUPLE && s != PGRES_TUPLES_OK && rc == 0) {
			rc = err_set(e, ERR_STORE, "export query failed: %s", PQresultErrorMessage(r));
		}
		PQclear(r);
	}
out:
	buf_free(&sql);
	review_filter_params_free(params);
	return rc;
}

static const char *const csv_columns[] = {
	"sku", "product_name", "output", "locale", "current_value", "generated_value", "status",
	"decision", "edited_text", "comment", "generation_id", "model", "cost", "version", NULL,
};

int review_csv_begin(FILE *out, struct err *e)
{
	fputs("\xef\xbb\xbf", out);
	for (int i = 0; csv_columns[i]; i++)
		fprintf(out, "%s%s", i ? "," : "", csv_columns[i]);
	fputs("\r\n", out);
	return ferror(out) ? err_set(e, ERR_IO, "cannot write the export") : 0;
}

static int text(struct buf *b, const char *v, bool comma)
{
	if (comma && buf_putc(b, ',') < 0)
		return -1;
	return review_csv_put_text(b, v ? v : "", v ? strlen(v) : 0);
}

int review_csv_row(FILE *out, struct buf *b, const struct review_row *row, struct err *e)
{
	/* an asset-only generation shows its file where the text would be */
	const char *generated = row->content ? row->content : row->asset_path;
	size_t generated_len = row->content ? row->content_len : generated ? strlen(generated) : 0;

	buf_reset(b);
	if (text(b, row->sku, false) < 0 || text(b, row->product_name, true) < 0 ||
	    text(b, row->output, true) < 0 || text(b, row->locale, true) < 0 ||
	    buf_putc(b, ',') < 0 ||
	    review_csv_put_text(b, row->current_value ? row->current_value : "", row->current_len) < 0 ||
	    buf_putc(b, ',') < 0 || review_csv_put_text(b, generated ? generated : "", generated_len) < 0 ||
	    text(b, row->status, true) < 0 ||
	    buf_puts(b, ",\"\",\"\",\"\",") < 0 ||          /* decision, edited_text, comment */
	    review_csv_put_bare(b, row->generation_id) < 0 || text(b, row->model, true) < 0 ||
	    buf_putc(b, ',') < 0 || review_csv_put_bare(b, row->cost ? row->cost : "") < 0 ||
	    buf_putc(b, ',') < 0 || review_csv_put_bare(b, row->version) < 0 || buf_puts(b, "\r\n") < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (fwrite(b->data, 1, b->len, out) != b->len)
		return err_set(e, ERR_IO, "cannot write the export");
	return 0;
}

json_t *review_checks(const char *checks_json)
{
	json_t *in = checks_json ? json_loads(checks_json, 0, NULL) : NULL;
	json_t *out = json_array();
	size_t i;
	json_t *it;

	if (!out)
		goto done;
	if (!json_is_array(in))
		goto done;
	json_array_foreach(in, i, it) {
		json_t *name = json_object_get(it, "name"), *ok = json_object_get(it, "ok");
		json_t *detail = json_object_get(it, "detail");

		if (!json_is_string(name))
			continue;
		if (json_array_append_new(out, json_pack("{s:O, s:b, s:O}", "name", name,
							 "ok", json_is_true(ok),
							 "detail", json_is_string(detail) ? detail : json_null())) < 0) {
			json_decref(out);
			out = NULL;
			goto done;
		}
	}
done:
	json_decref(in);
	return out;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *strn_or_null(const char *s, size_t n)
{
	return s ? json_stringn(s, n) : json_null();
}

int review_json_row(FILE *out, const struct review_row *row, bool first, struct err *e)
{
	json_t *o = NULL, *review = NULL;
	char *text = NULL;
	int rc = -1;

	if (row->last_decision)
		review = json_pack("{s:s, s:o, s:o, s:o}", "decision", row->last_decision,
				   "reviewer", str_or_null(row->last_reviewer),
				   "comment", str_or_null(row->last_comment),
				   "at", str_or_null(row->last_reviewed_at));
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o,"
		      " s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:o, s:n, s:n, s:n}",
		      "generation_id", (json_int_t)strtoll(row->generation_id, NULL, 10),
		      "sku", row->sku, "product_name", row->product_name, "category", row->category,
		      "output", row->output, "locale", row->locale, "channel", row->channel,
		      "kind", row->kind, "status", row->status,
		      "version", (json_int_t)strtoll(row->version, NULL, 10),
		      "current_value", strn_or_null(row->current_value, row->current_len),
		      "generated_value", strn_or_null(row->content, row->content_len),
		      "asset_path", str_or_null(row->asset_path),
		      "model", str_or_null(row->model), "generator", str_or_null(row->generator),
		      "provider", str_or_null(row->provider),
		      "cost", row->cost ? json_real(strtod(row->cost, NULL)) : json_null(),
		      "checks", review_checks(row->checks),
		      "run_id", row->run_id ? json_integer(strtoll(row->run_id, NULL, 10)) : json_null(),
		      "created_at", row->created_at, "updated_at", row->updated_at,
		      "last_review", review ? review : json_null(),
		      "decision", "edited_text", "comment");
	if (!o) {
		err_set(e, ERR_INTERNAL, "generation %s: cannot be written as JSON (not UTF-8?)", row->generation_id);
		goto out;
	}
	text = json_dumps(o, JSON_COMPACT);
	if (!text) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	fputs(first ? "[\n" : ",\n", out);
	fputs(text, out);
	rc = ferror(out) ? err_set(e, ERR_IO, "cannot write the export") : 0;
out:
	free(text);
	json_decref(o);
	return rc;
}

int review_json_end(FILE *out, bool any, struct err *e)
{
	fputs(any ? "\n]\n" : "[]\n", out);
	return ferror(out) ? err_set(e, ERR_IO, "cannot write the export") : 0;
}
