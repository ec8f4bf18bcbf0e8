/* review_import.c: decisions from a review CSV or the review page's file
 * into the store (see review_import.h).
 *
 * The rows stream into a temporary table with COPY (constant memory for the
 * CSV); the checks against the store and the changes are set-based SQL over
 * that table, all in one transaction.
 */
#include "batch/review_import.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "batch/review_csv.h"
#include "common/buf.h"
#include "common/file_read.h"
#include "common/json_locate.h"
#include "common/utf8.h"

/* Imports take this transaction lock, so two never interleave. */
#define IMPORT_LOCK_KEY "7261836402"
#define COPY_FLUSH (1u << 20)

struct importer {
	struct store *st;
	const struct review_import_opts *o;
	struct review_import_report *rep;
	const char *name;        /* the file's name in messages */
	struct buf copy;         /* COPY data not yet sent */
	long seq;
};

/* One row as read, before any check.  NULL: the file has no such column. */
struct in_row {
	long line, entry;
	const char *id, *sku, *output, *locale, *decision, *edited, *comment;
};

static const char create_sql[] =
	"create temp table review_in (\n"
	"  seq bigint primary key, line bigint not null, generation_id bigint not null,\n"
	"  sku text, output text, locale text, decision text not null, edited_text text, comment text,\n"
	"  problem text, applied boolean not null default false\n"
	") on commit drop";

static const char copy_sql[] =
	"copy review_in (seq, line, generation_id, sku, output, locale, decision, edited_text, comment)\n"
	"from stdin";

/* A value quoted in a message: at most 40 characters, no control characters. */
#define SHOWN(x) "regexp_replace(left(" x ", 40), '[[:cntrl:]]', '?', 'g')"

/* Each row against the store: set problem (why it cannot be applied) or
 * applied (the store has this decision already). */
static const char check_sql[] =
	"with x as (\n"
	"  select i.*, g.id as gid, g.sku as gsku, g.output as gout, g.locale as gloc,\n"
	"    g.channel as gchan, g.status, g.kind,\n"
	"    min(i.seq) over (partition by i.generation_id) as first_seq,\n"
	"    min(i.line) over (partition by i.generation_id) as first_line\n"
	"  from review_in i left join skugen.generations g on g.id = i.generation_id),\n"
	"y as materialized (\n"
	"  select x.*,\n"
	"    coalesce(lr.decision = x.decision and (x.decision <> 'edit' or le.content = x.edited_text),\n"
	"      false) as same,\n"
	"    (select n.id from skugen.generations n\n"
	"      where n.sku = x.gsku and n.output = x.gout and n.locale = x.gloc and n.channel = x.gchan\n"
	"        and n.id > x.gid and n.status not in ('superseded', 'rejected')\n"
	"      order by n.id limit 1) as newer\n"
	"  from x\n"
	"  left join lateral (select r.decision, r.edited_generation_id from skugen.reviews r\n"
	"    where r.generation_id = x.gid order by r.id desc limit 1) lr on true\n"
	"  left join skugen.generations le on le.id = lr.edited_generation_id),\n"
	"z as (\n"
	"  select y.seq, y.same, case\n"
	"    when y.gid is null then format('generation %s is not in the store', y.generation_id)\n"
	"    when y.sku is not null and y.sku <> y.gsku then\n"
	"      format('the sku here is \"%s\" but generation %s is sku \"%s\"%s', " SHOWN("y.sku") ", y.gid, " SHOWN("y.gsku") ",\n"
	"        case when ltrim(y.gsku, '0') = y.sku and y.gsku <> y.sku\n"
	"          then ' (the spreadsheet read it as a number: open the CSV with quoted fields as text)'\n"
	"          else '' end)\n"
	"    when y.output is not null and y.output <> y.gout then\n"
	"      format('the output here is \"%s\" but generation %s is output \"%s\"', " SHOWN("y.output") ", y.gid, " SHOWN("y.gout") ")\n"
	"    when y.locale is not null and y.locale <> y.gloc then\n"
	"      format('the locale here is \"%s\" but generation %s is locale \"%s\"', " SHOWN("y.locale") ", y.gid, " SHOWN("y.gloc") ")\n"
	"    when y.seq <> y.first_seq then\n"
	"      format('generation %s is decided twice in this file (first on line %s)', y.gid, y.first_line)\n"
	"    when y.same then null\n"
	"    when y.status = 'superseded' or y.newer is not null then\n"
	"      format('generation %s was superseded%s since the export: export again and decide on the '\n"
	"        'newest version', y.gid,\n"
	"        coalesce(' by generation ' || coalesce(y.newer,\n"
	"          (select max(r.id) from skugen.generations r where r.revises = y.gid)), ''))\n"
	"    when y.decision = 'reject' and y.status = 'published' then\n"
	"      format('generation %s is already published: reject cannot take it back; edit it instead', y.gid)\n"
	"    when y.decision = 'edit' and y.kind <> 'text' then\n"
	"      format('generation %s is %s, not text: only text can be edited', y.gid, y.kind)\n"
	"    end as problem\n"
	"  from y)\n"
	"update review_in i set problem = z.problem, applied = z.problem is null and z.same\n"
	"from z where z.seq = i.seq";

/* Approve and reject: the status, and a review row each.  The status guard
 * catches a run that superseded the generation after the check. */
static const char decide_sql[] =
	"with d as (\n"
	"  select i.line, i.generation_id, i.decision, nullif(i.comment, '') as comment\n"
	"  from review_in i\n"
	"  where i.problem is null and not i.applied and i.decision in ('approve', 'reject')),\n"
	"upd as (\n"
	"  update skugen.generations g set status = case\n"
	"    when d.decision = 'reject' then 'rejected'\n"
	"    when g.status = 'published' then 'published' else 'approved' end\n"
	"  from d where g.id = d.generation_id and g.status <> 'superseded'\n"
	"  returning g.id),\n"
	"rev as (\n"
	"  insert into skugen.reviews (generation_id, decision, reviewer, comment, source)\n"
	"  select d.generation_id, d.decision, $1, d.comment, $2 || ':' || d.line from d\n"
	"  returning decision)\n"
	"select (select count(*) from d), (select count(*) from upd),\n"
	"  (select count(*) from rev where decision = 'approve'),\n"
	"  (select count(*) from rev where decision = 'reject')";

/* Edit: a new version with human provenance; the old one superseded. */
static const char edit_sql[] =
	"with d as (\n"
	"  select i.line, i.generation_id, i.edited_text, nullif(i.comment, '') as comment\n"
	"  from review_in i where i.problem is null and not i.applied and i.decision = 'edit'),\n"
	"old as (\n"
	"  update skugen.generations g set status = 'superseded'\n"
	"  from d where g.id = d.generation_id and g.status <> 'superseded'\n"
	"  returning g.*),\n"
	"newg as (\n"
	"  insert into skugen.generations (sku, output, locale, channel, kind, fingerprint, content,\n"
	"    content_sha256, status, version, revises, run_id, task_id, current_value, product_name,\n"
	"    category, checks)\n"
	"  select old.sku, old.output, old.locale, old.channel, old.kind, old.fingerprint, d.edited_text,\n"
	"    encode(sha256(convert_to(d.edited_text, 'UTF8')), 'hex'), 'approved', old.version + 1,\n"
	"    old.id, old.run_id, old.task_id, old.current_value, old.product_name, old.category, '[]'\n"
	"  from old join d on d.generation_id = old.id\n"
	"  returning id, revises),\n"
	"rev as (\n"
	"  insert into skugen.reviews (generation_id, decision, reviewer, comment, edited_generation_id,\n"
	"    source)\n"
	"  select newg.revises, 'edit', $1, d.comment, newg.id, $2 || ':' || d.line\n"
	"  from newg join d on d.generation_id = newg.revises\n"
	"  returning id, generation_id, edited_generation_id, comment, source),\n"
	"prov as (\n"
	"  insert into skugen.provenance (generation_id, activity, generator, generator_version, worker,\n"
	"    skugen_version, started_at, ended_at, params, input_sha256)\n"
	"  select rev.edited_generation_id, 'review:' || rev.id, 'human', $3, $1, $3, now(), now(),\n"
	"    jsonb_build_object('reviewer', $1, 'comment', rev.comment, 'revises', rev.generation_id,\n"
	"      'source', rev.source),\n"
	"    old.content_sha256\n"
	"  from rev join old on old.id = rev.generation_id\n"
	"  returning 1)\n"
	"select (select count(*) from d), (select count(*) from old), (select count(*) from prov)";

static int add_problem(struct review_import_report *rep, long line, long entry, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int add_problem(struct review_import_report *rep, long line, long entry, const char *fmt, ...)
{
	struct review_problem *p;
	va_list ap;
	int n;

	if (rep->n_problems == rep->cap) {
		size_t ncap = rep->cap ? rep->cap * 2 : 16;

		p = realloc(rep->problems, ncap * sizeof *p);
		if (!p)
			return -1;
		rep->problems = p;
		rep->cap = ncap;
	}
	p = &rep->problems[rep->n_problems];
	p->line = line;
	p->entry = entry;
	va_start(ap, fmt);
	n = vasprintf(&p->message, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	rep->n_problems++;
	rep->bad++;
	return 0;
}

static int copy_field(struct buf *b, const char *s, bool last)
{
	int rc = 0;

	if (!s) {
		rc = buf_puts(b, "\\N");
	} else {
		for (const char *p = s; *p && rc == 0; p++) {
			switch (*p) {
			case '\\': rc = buf_puts(b, "\\\\"); break;
			case '\n': rc = buf_puts(b, "\\n"); break;
			case '\r': rc = buf_puts(b, "\\r"); break;
			case '\t': rc = buf_puts(b, "\\t"); break;
			default: rc = buf_putc(b, *p); break;
			}
		}
	}
	return rc < 0 ? -1 : buf_putc(b, last ? '\n' : '\t');
}

static int flush_copy(struct importer *im, struct err *e)
{
	if (im->copy.len && PQputCopyData(im->st->pg, im->copy.data, (int)im->copy.len) != 1)
		return err_set(e, ERR_STORE, "sending the decisions to the store failed: %s",
			       PQerrorMessage(im->st->pg));
	buf_reset(&im->copy);
	return 0;
}

static bool blank(const char *s)
{
	for (; s && *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/* The decision, normalised: "approve", "reject", "edit", "" (none), or
 * NULL when it is not understood. */
static const char *decision_of(const char *s)
{
	static const char *const names[][2] = {
		{ "approve", "approve" }, { "approved", "approve" }, { "reject", "reject" },
		{ "rejected", "reject" }, { "edit", "edit" }, { "edited", "edit" },
	};
	size_t n;

	if (!s)
		return "";
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0)
		return "";
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strlen(names[i][0]) == n && strncasecmp(s, names[i][0], n) == 0)
			return names[i][1];
	return NULL;
}

/* The generation id, digits only (spaces around are forgiven). */
static bool id_of(const char *s, char out[20])
{
	size_t n;

	if (!s)
		return false;
	while (isspace((unsigned char)*s))
		s++;
	n = strspn(s, "0123456789");
	if (n == 0 || n > 18 || !blank(s + n))
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* A value from the file, fit to quote in a message on a terminal: at most
 * 40 bytes (not cutting a UTF-8 sequence), control characters as '?'. */
static const char *shown(const char *s, char out[48])
{
	size_t n = 0;

	for (; s && *s && n < 40; s++)
		out[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	if (s && *s) {
		/* cut short: drop a last sequence that lost its tail */
		size_t k = n;

		while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && (unsigned char)out[k - 1] >= 0xc0) {
			unsigned char lead = (unsigned char)out[k - 1];
			size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;

			if (n - (k - 1) < want)
				n = k - 1;
		}
	}
	out[n] = '\0';
	return out;
}

static bool text_ok(const char *s)
{
	return !s || utf8_valid(s, strlen(s), NULL);
}

/* Check what needs no store, then queue the row for COPY. */
static int take_row(struct importer *im, const struct in_row *r, struct err *e)
{
	struct review_import_report *rep = im->rep;
	const char *decision = decision_of(r->decision);
	const char *const texts[] = { r->id, r->sku, r->output, r->locale, r->decision, r->edited, r->comment };
	char id[20], seq[24], line[24], quoted[48];
	int bad;

	im->seq++;
	rep->rows++;
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
		if (!text_ok(texts[i]))
			return add_problem(rep, r->line, r->entry, "not UTF-8 text: save the file as \"CSV UTF-8\"") < 0 ?
			       err_set(e, ERR_NOMEM, "out of memory") : 0;
	if (!decision)
		bad = add_problem(rep, r->line, r->entry, "decision \"%s\" is not understood: write approve, "
				  "reject, edit or nothing", shown(r->decision, quoted));
	else if (!*decision && (!blank(r->edited) || !blank(r->comment)))
		bad = add_problem(rep, r->line, r->entry, "%s but no decision: write approve, reject or edit",
				  !blank(r->edited) ? "edited_text" : "a comment");
	else if (!*decision) {
		rep->undecided++;
		return 0;
	} else if (!id_of(r->id, id))
		bad = add_problem(rep, r->line, r->entry, "generation_id \"%s\" is not a generation number",
				  shown(r->id, quoted));
	else if (strcmp(decision, "edit") == 0 && blank(r->edited))
		bad = add_problem(rep, r->line, r->entry, "decision edit but edited_text is empty");
	else if (strcmp(decision, "edit") != 0 && !blank(r->edited))
		bad = add_problem(rep, r->line, r->entry, "edited_text is only taken with decision edit, "
				  "this row says %s", decision);
	else
		bad = 1;   /* good */
	if (bad < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (bad == 0)
		return 0;
	snprintf(seq, sizeof seq, "%ld", im->seq);
	snprintf(line, sizeof line, "%ld", r->line);
	if (copy_field(&im->copy, seq, false) < 0 || copy_field(&im->copy, line, false) < 0 ||
	    copy_field(&im->copy, id, false) < 0 || copy_field(&im->copy, r->sku, false) < 0 ||
	    copy_field(&im->copy, r->output, false) < 0 || copy_field(&im->copy, r->locale, false) < 0 ||
	    copy_field(&im->copy, decision, false) < 0 ||
	    copy_field(&im->copy, strcmp(decision, "edit") == 0 ? r->edited : NULL, false) < 0 ||
	    copy_field(&im->copy, r->comment, true) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	return im->copy.len >= COPY_FLUSH ? flush_copy(im, e) : 0;
}

enum { COL_ID, COL_SKU, COL_OUTPUT, COL_LOCALE, COL_DECISION, COL_EDITED, COL_COMMENT, NCOLS };

static const char *const col_names[NCOLS] = {
	"generation_id", "sku", "output", "locale", "decision", "edited_text", "comment",
};

/* A header cell's column, or -1. */
static int column_of(const char *h)
{
	char name[32];
	size_t n = 0;

	while (isspace((unsigned char)*h))
		h++;
	for (; *h && n < sizeof name - 1; h++)
		name[n++] = *h == ' ' ? '_' : (char)tolower((unsigned char)*h);
	while (n && name[n - 1] == '_')
		n--;
	name[n] = '\0';
	for (int i = 0; i < NCOLS; i++)
		if (strcmp(name, col_names[i]) == 0)
			return i;
	return -1;
}

/* A CSV cell as it was exported: one guarding apostrophe off. */
static const char *cell(const struct review_csv_record *rec, int col)
{
	if (col < 0)
		return NULL;
	if ((size_t)col >= rec->n)
		return "";
	return rec->field[col] + review_csv_unguard(rec->field[col], rec->len[col]);
}

/* fp continues after the bytes already in head. */
static int csv_rows(struct importer *im, FILE *fp, const struct buf *head, struct err *e)
{
	struct review_csv_reader *r = NULL;
	struct review_csv_record rec;
	int col[NCOLS], got, rc = -1;
	size_t header_n;

	for (int i = 0; i < NCOLS; i++)
		col[i] = -1;
	if (review_csv_reader_new(&r, fp, head->data, head->len, im->name, e) < 0)
		return -1;
	got = review_csv_read(r, &rec, e);
	if (got <= 0) {
		if (got == 0)
			err_set(e, ERR_INPUT, "%s: empty file: expected the CSV that skugen export wrote", im->name);
		goto out;
	}
	header_n = rec.n;
	for (size_t i = 0; i < rec.n; i++) {
		int c = column_of(rec.field[i] + review_csv_unguard(rec.field[i], rec.len[i]));

		if (c >= 0 && col[c] < 0)
			col[c] = (int)i;
	}
	if (col[COL_ID] < 0 || col[COL_DECISION] < 0) {
		err_set(e, ERR_INPUT, "%s:%ld: no \"%s\" column in the header: is this a skugen review export?",
			im->name, rec.line, col[COL_ID] < 0 ? "generation_id" : "decision");
		goto out;
	}
	while ((got = review_csv_read(r, &rec, e)) > 0) {
		struct in_row row = { .line = rec.line, .entry = -1 };
		bool extra = false;

		for (size_t i = header_n; i < rec.n; i++)
			extra = extra || rec.len[i] > 0;
		if (extra) {
			im->seq++;
			im->rep->rows++;
			if (add_problem(im->rep, rec.line, -1, "%zu fields, but the header has %zu: is a "
					"separator or quote out of place?", rec.n, header_n) < 0) {
				err_set(e, ERR_NOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		row.id = cell(&rec, col[COL_ID]);
		row.sku = cell(&rec, col[COL_SKU]);
		row.output = cell(&rec, col[COL_OUTPUT]);
		row.locale = cell(&rec, col[COL_LOCALE]);
		row.decision = cell(&rec, col[COL_DECISION]);
		row.edited = cell(&rec, col[COL_EDITED]);
		row.comment = cell(&rec, col[COL_COMMENT]);
		if (take_row(im, &row, e) < 0)
			goto out;
	}
	if (got < 0)
		goto out;
	rc = 0;
out:
	review_csv_reader_free(r);
	return rc;
}

/* The line each element of the decisions array starts on: the first from
 * json_locate, the rest by scanning on from it. */
static long *entry_lines(const char *text, size_t len, bool bare, size_t n)
{
	long *lines = calloc(n ? n : 1, sizeof *lines);
	int line = 1, column = 1;
	const char *p, *end = text + len;
	size_t k = 0;
	int depth = 0;
	bool in_str = false;

	if (!lines || n == 0)
		return lines;
	if (json_locate(text, len, bare ? "[0]" : "decisions[0]", &line, &column) != 0)
		return lines;
	p = text;
	for (int l = 1; l < line && p < end; p++)
		l += *p == '\n';
	p += column - 1;
	lines[k++] = line;
	for (; p < end && k < n; p++) {
		char c = *p;

		if (c == '\n')
			line++;
		if (in_str) {
			if (c == '\\' && p + 1 < end)
				p++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			depth++;
		} else if (c == ']' || c == '}') {
			if (depth-- == 0)
				break;
		} else if (c == ',' && depth == 0) {
			const char *q = p + 1;
			long l = line;

			while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
				l += *q++ == '\n';
			lines[k++] = l;
		}
	}
	return lines;
}

static const char *json_text(const json_t *o, const char *key, bool *bad)
{
	const json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return NULL;
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v))
			*bad = true;   /* a \u0000 inside */
		return json_string_value(v);
	}
	*bad = true;
	return NULL;
}

static int json_rows(struct importer *im, const struct buf *text, struct err *e)
{
	json_error_t jerr;
	json_t *root = json_loadb(text->data, text->len, 0, &jerr), *list, *it;
	long *lines = NULL;
	size_t i;
	int rc = -1;

	if (!root) {
		err_set(e, ERR_INPUT, "%s:%d:%d: not JSON: %s", im->name, jerr.line, jerr.column, jerr.text);
		goto out;
	}
	im->rep->bare_array = json_is_array(root);
	list = json_is_array(root) ? root : json_object_get(root, "decisions");
	if (!json_is_array(list)) {
		err_set(e, ERR_INPUT, "%s: no \"decisions\" array: is this the file the review page saved?",
			im->name);
		goto out;
	}
	if (json_is_object(root) && json_is_string(json_object_get(root, "reviewer")) &&
	    *json_string_value(json_object_get(root, "reviewer")) && !im->o->reviewer) {
		free(im->rep->reviewer);
		im->rep->reviewer = strdup(json_string_value(json_object_get(root, "reviewer")));
		if (!im->rep->reviewer) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	lines = entry_lines(text->data, text->len, im->rep->bare_array, json_array_size(list));
	if (!lines) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(list, i, it) {
		struct in_row row = { .line = lines[i], .entry = (long)i };
		const json_t *id = json_object_get(it, "generation_id");
		char idtext[32] = "";
		bool bad = false;

		if (json_is_integer(id))
			snprintf(idtext, sizeof idtext, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
		row.id = json_is_string(id) ? json_string_value(id) : idtext;
		row.sku = json_text(it, "sku", &bad);
		row.output = json_text(it, "output", &bad);
		row.locale = json_text(it, "locale", &bad);
		row.decision = json_text(it, "decision", &bad);
		row.edited = json_text(it, "edited_text", &bad);
		row.comment = json_text(it, "comment", &bad);
		if (!json_is_object(it) || bad) {
			im->seq++;
			im->rep->rows++;
			if (add_problem(im->rep, row.line, row.entry, "%s", !json_is_object(it) ?
					"not an object" : "sku, output, locale, decision, edited_text and "
					"comment must be strings (or null) without NUL characters") < 0) {
				err_set(e, ERR_NOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		if (take_row(im, &row, e) < 0)
			goto out;
	}
	rc = 0;
out:
	free(lines);
	json_decref(root);
	return rc;
}

/* Whether the file is JSON: its first byte after a BOM and blanks. */
static bool looks_json(const struct buf *b)
{
	const char *p = buf_str(b), *end = p + b->len;

	if (b->len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p < end && (*p == '{' || *p == '[');
}

static void long_at(PGresult *r, int col, long *out)
{
	*out = atol(PQgetvalue(r, 0, col));
}

/* The rows the store refused, into the report. */
static int store_problems(struct importer *im, struct err *e)
{
	PGresult *r = store_query(im->st, "select line, seq, problem from review_in where problem is not null "
				  "order by seq", 0, NULL, e);
	int n;

	if (!r)
		return -1;
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		long entry = strcmp(im->rep->format, "json") == 0 ? atol(PQgetvalue(r, i, 1)) - 1 : -1;

		if (add_problem(im->rep, atol(PQgetvalue(r, i, 0)), entry, "%s", PQgetvalue(r, i, 2)) < 0) {
			PQclear(r);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
	}
	PQclear(r);
	r = store_query(im->st, "select count(*) filter (where applied) from review_in", 0, NULL, e);
	if (!r)
		return -1;
	long_at(r, 0, &im->rep->already);
	PQclear(r);
	return 0;
}

static int apply(struct importer *im, struct err *e)
{
	char version[32];
	const char *params[3] = { im->rep->reviewer, im->name, version };
	long want, got, n;
	PGresult *r;

	snprintf(version, sizeof version, "skugen %s", SKUGEN_VERSION);
	r = store_query(im->st, decide_sql, 2, params, e);
	if (!r)
		return -1;
	long_at(r, 0, &want);
	long_at(r, 1, &got);
	long_at(r, 2, &im->rep->approved);
	long_at(r, 3, &im->rep->rejected);
	PQclear(r);
	if (got != want)
		return err_set(e, ERR_STORE, "%ld generations were superseded by a run while importing: "
			       "nothing applied; export again", want - got);
	r = store_query(im->st, edit_sql, 3, params, e);
	if (!r)
		return -1;
	long_at(r, 0, &want);
	long_at(r, 1, &got);
	long_at(r, 2, &n);
	PQclear(r);
	if (got != want || n != want)
		return err_set(e, ERR_STORE, "%ld edited generations were superseded by a run while importing: "
			       "nothing applied; export again", want - got);
	im->rep->edited = n;
	return 0;
}

static int by_line(const void *a, const void *b)
{
	const struct review_problem *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return (x->entry > y->entry) - (x->entry < y->entry);
}

int review_import(struct store *st, const struct review_import_opts *o,
		  struct review_import_report *rep, struct err *e)
{
	struct importer im = { .st = st, .o = o, .rep = rep };
	struct buf text = BUF_INIT;
	const char *slash = strrchr(o->path, '/');
	FILE *fp = NULL;
	bool in_tx = false, copying = false, json;
	PGresult *r;
	int rc = -1;

	memset(rep, 0, sizeof *rep);
	im.name = strcmp(o->path, "-") == 0 ? "stdin" : slash ? slash + 1 : o->path;
	rep->reviewer = strdup(o->reviewer ? o->reviewer : o->default_reviewer ? o->default_reviewer : "unknown");
	if (!rep->reviewer)
		return err_set(e, ERR_NOMEM, "out of memory");
	/* JSON is parsed whole; a CSV streams, after a look at its first bytes. */
	if (strcmp(o->path, "-") == 0) {
		fp = stdin;
	} else if (!(fp = fopen(o->path, "rb"))) {
		err_set(e, ERR_IO, "cannot open %s: %s", o->path, strerror(errno));
		goto out;
	}
	{
		char head[4096];
		size_t n = fread(head, 1, sizeof head, fp);

		if (buf_append(&text, head, n) < 0) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		json = looks_json(&text);
		if (json) {
			while ((n = fread(head, 1, sizeof head, fp)) > 0)
				if (buf_append(&text, head, n) < 0) {
					err_set(e, ERR_NOMEM, "out of memory");
					goto out;
				}
		}
		if (ferror(fp)) {
			err_set(e, ERR_IO, "cannot read %s: %s", o->path, strerror(errno));
			goto out;
		}
	}
	rep->format = json ? "json" : "csv";
	if (store_begin(st, e) < 0)
		goto out;
	in_tx = true;
	/* JIT compiling these set-based statements costs more than it saves */
	if (store_exec(st, "select pg_advisory_xact_lock(" IMPORT_LOCK_KEY ")", 0, NULL, e) < 0 ||
	    store_exec(st, "set local jit = off", 0, NULL, e) < 0 ||
	    store_exec(st, create_sql, 0, NULL, e) < 0)
		goto out;
	r = PQexec(st->pg, copy_sql);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		err_set(e, ERR_STORE, "cannot start sending the decisions: %s", PQresultErrorMessage(r));
		PQclear(r);
		goto out;
	}
	PQclear(r);
	copying = true;
	if (json) {
		if (json_rows(&im, &text, e) < 0)
			goto out;
	} else if (csv_rows(&im, fp, &text, e) < 0) {
		goto out;
	}
	if (flush_copy(&im, e) < 0)
		goto out;
	copying = false;
	if (PQputCopyEnd(st->pg, NULL) != 1) {
		err_set(e, ERR_STORE, "sending the decisions failed: %s", PQerrorMessage(st->pg));
		goto out;
	}
	r = PQgetResult(st->pg);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		err_set(e, ERR_STORE, "storing the decisions failed: %s", PQresultErrorMessage(r));
		PQclear(r);
		while ((r = PQgetResult(st->pg)) != NULL)
			PQclear(r);
		goto out;
	}
	PQclear(r);
	while ((r = PQgetResult(st->pg)) != NULL)
		PQclear(r);
	/* the joins below need to know how many rows came */
	if (store_exec(st, "analyze review_in", 0, NULL, e) < 0 ||
	    store_exec(st, check_sql, 0, NULL, e) < 0 || store_problems(&im, e) < 0)
		goto out;
	if (rep->bad == 0 || o->partial) {
		if (apply(&im, e) < 0 || store_commit(st, e) < 0)
			goto out;
		in_tx = false;
		rep->applied = true;
	}
	if (rep->n_problems > 1)
		qsort(rep->problems, rep->n_problems, sizeof *rep->problems, by_line);
	rc = 0;
out:
	if (copying) {
		PQputCopyEnd(st->pg, "import failed");
		while ((r = PQgetResult(st->pg)) != NULL)
			PQclear(r);
	}
	if (in_tx)
		store_rollback(st);
	if (fp && fp != stdin)
		fclose(fp);
	buf_free(&im.copy);
	buf_free(&text);
	return rc;
}

void review_import_report_free(struct review_import_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->n_problems; i++)
		free(rep->problems[i].message);
	free(rep->problems);
	free(rep->reviewer);
	memset(rep, 0, sizeof *rep);
}
