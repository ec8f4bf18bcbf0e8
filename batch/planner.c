/* planner.c: records to tasks with fingerprints (see planner.h). */
#include "batch/planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "providers/generator.h"

/* One template selection, cached per (output, category, locale). */
struct selection {
	const struct tmpl *tmpl;  /* borrowed from the lib; NULL when selection failed */
	char *read_paths;         /* new: JSON array text of the key paths it reads */
	char *error;              /* new: why selection failed */
};

struct planner {
	struct store *st;
	const struct settings *s;
	struct tmpl_lib *lib;
	struct planner_opts o;
	struct run_counts counts;
	json_t *selection_index;   /* key -> integer index into sel */
	struct selection *sel;
	size_t n_sel, cap_sel;
	char **generator_hashes;   /* per output: sha256 of generator type + config */
	json_t *only_seen;         /* SKU -> true, for regen */
	struct hash_ctx *hash;
	char run_id[32];
};

static int hash_generator(struct planner *p, size_t i, struct err *e)
{
	const struct output_settings *out = &p->s->outputs[i];
	json_t *g = json_object_get(p->s->generators, out->generator);
	char *canon = json_dumps(g, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	char hex[HASH_HEX_LEN];

	if (!canon)
		return err_set(e, ERR_NOMEM, "out of memory");
	sha256_hex(canon, strlen(canon), hex);
	free(canon);
	p->generator_hashes[i] = strdup(hex);
	return p->generator_hashes[i] ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

int planner_new(struct planner **out, struct store *st, const struct settings *s,
		struct tmpl_lib *lib, const struct planner_opts *o, struct err *e)
{
	struct planner *p = calloc(1, sizeof *p);

	*out = NULL;
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory");
	p->st = st;
	p->s = s;
	p->lib = lib;
	p->o = *o;
	snprintf(p->run_id, sizeof p->run_id, "%ld", o->run_id);
	p->selection_index = json_object();
	p->only_seen = json_object();
	p->hash = hash_new();
	p->generator_hashes = calloc(s->n_outputs + 1, sizeof *p->generator_hashes);
	if (!p->selection_index || !p->only_seen || !p->hash || !p->generator_hashes) {
		planner_free(p);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < s->n_outputs; i++)
		if (hash_generator(p, i, e) < 0) {
			planner_free(p);
			return -1;
		}
	*out = p;
	return 0;
}

static const struct selection *select_template(struct planner *p, const char *base,
					       const char *category, const char *locale)
{
	struct buf key = BUF_INIT;
	json_t *idx;
	struct selection *sel = NULL;
	struct err e;

	buf_printf(&key, "%s\x1f%s\x1f%s", base, category ? category : "", locale);
	idx = json_object_get(p->selection_index, buf_str(&key));
	if (idx) {
		buf_free(&key);
		return &p->sel[json_integer_value(idx)];
	}
	if (p->n_sel == p->cap_sel) {
		size_t cap = p->cap_sel ? p->cap_sel * 2 : 16;
		struct selection *n = realloc(p->sel, cap * sizeof *n);

		if (!n)
			goto out;
		p->sel = n;
		p->cap_sel = cap;
	}
	sel = &p->sel[p->n_sel];
	memset(sel, 0, sizeof *sel);
	err_clear(&e);
	sel->tmpl = tmpl_lib_select(p->lib, base, category, locale, &e);
	if (sel->tmpl) {
		json_t *paths = tmpl_read_paths(sel->tmpl);

		sel->read_paths = paths ? json_dumps(paths, JSON_COMPACT) : strdup("[\"*\"]");
		json_decref(paths);
	} else
		sel->error = strdup(e.msg);
	json_object_set_new(p->selection_index, buf_str(&key), json_integer((json_int_t)p->n_sel));
	p->n_sel++;
out:
	buf_free(&key);
	return sel;
}

static void fingerprint(struct planner *p, size_t out_i, const char *locale,
			const struct selection *sel, const char *input, char hex[HASH_HEX_LEN])
{
	const struct output_settings *o = &p->s->outputs[out_i];

	hash_update_str(p->hash, "skugen-task-v1");
	hash_update_str(p->hash, o->name);
	hash_update_str(p->hash, o->kind);
	hash_update_str(p->hash, locale);
	hash_update_str(p->hash, o->channel);
	hash_update_str(p->hash, tmpl_sha256(sel->tmpl));
	hash_update_str(p->hash, p->generator_hashes[out_i]);
	hash_update_str(p->hash, input);
	hash_final_hex(p->hash, hex);
}

static bool wanted(struct planner *p, const char *sku)
{
	size_t i;
	json_t *v;

	if (!p->o.only)
		return true;
	json_array_foreach(p->o.only, i, v)
		if (strcmp(json_string_value(v), sku) == 0) {
			json_object_set_new(p->only_seen, sku, json_true());
			return true;
		}
	return false;
}

static int record_error(struct planner *p, const char *origin, const char *sku,
			const char *message, struct err *e)
{
	const char *params[4] = { p->run_id, origin, sku, message };

	p->counts.bad_records++;
	return store_exec(p->st, "insert into skugen.record_errors (run_id, origin, sku, message)"
				 " values ($1, $2, $3, $4)", 4, params, e);
}

static const char *category_of(struct planner *p, const json_t *fields)
{
	json_t *c = json_object_get(fields, p->s->category_field);

	return json_is_string(c) ? json_string_value(c) : NULL;
}

/* One task row for the batch insert. */
static int add_task(struct planner *p, json_t *rows, const struct record *r, size_t out_i,
		    const char *locale, struct err *e)
{
	const struct output_settings *o = &p->s->outputs[out_i];
	const struct selection *sel = select_template(p, o->template_base, category_of(p, r->fields), locale);
	json_t *row, *projection = NULL;
	char *input = NULL;
	char fp[HASH_HEX_LEN];

	if (!sel)
		return err_set(e, ERR_NOMEM, "out of memory");
	row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sku", r->sku, "output", o->name,
			"locale", locale, "channel", o->channel, "kind", o->kind,
			"origin", r->origin ? r->origin : "", "generator", o->generator);
	if (!row)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (!sel->tmpl) {
		/* No usable template: the task fails at once, with the reason. */
		sha256_hex(sel->error, strlen(sel->error), fp);
		json_object_set_new(row, "fingerprint", json_string(fp));
		json_object_set_new(row, "error", json_string(sel->error));
	} else {
		projection = tmpl_project(sel->tmpl, r->fields);
		input = projection ? json_dumps(projection, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		if (!input) {
			json_decref(projection);
			json_decref(row);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		fingerprint(p, out_i, locale, sel, input, fp);
		json_object_set_new(row, "fingerprint", json_string(fp));
		json_object_set_new(row, "template_name", json_string(tmpl_name(sel->tmpl)));
		json_object_set_new(row, "template_sha256", json_string(tmpl_sha256(sel->tmpl)));
		json_object_set_new(row, "input", projection);
		json_object_set_new(row, "input_fields", json_loads(sel->read_paths, 0, NULL));
		free(input);
	}
	json_array_append_new(rows, row);
	return 0;
}

static const char *const insert_tasks_sql =
	"with r as (\n"
	"  select * from jsonb_to_recordset($2::jsonb) as x(\n"
	"    sku text, output text, locale text, channel text, kind text, origin text,\n"
	"    generator text, fingerprint text, template_name text, template_sha256 text,\n"
	"    input jsonb, input_fields jsonb, error text))\n"
	"insert into skugen.tasks (run_id, sku, output, locale, channel, kind, origin, generator,\n"
	"  fingerprint, template_name, template_sha256, input, input_fields, priority, state,\n"
	"  last_error, finished_at)\n"
	"select $1, sku, output, locale, channel, kind, origin, generator, fingerprint,\n"
	"  template_name, template_sha256, input, input_fields, $4,\n"
	"  case when error is not null then 'failed'\n"
	"       when not $3::boolean and exists (select 1 from skugen.generations g\n"
	"         where g.fingerprint = r.fingerprint and g.status <> 'superseded'\n"
	"           and g.revises is null) then 'skipped'\n"
	"       else 'queued' end,\n"
	"  error, case when error is not null then now() end\n"
	"from r\n"
	"on conflict (run_id, sku, output, locale, channel) do nothing\n"
	"returning sku, origin, state";

/* Insert the batch's task rows; report records whose SKU was already planned
 * in this run (a duplicate SKU in the source). */
static int insert_tasks(struct planner *p, json_t *rows, json_t *origins, struct err *e)
{
	char *doc = json_dumps(rows, JSON_COMPACT);
	char priority[16];
	const char *params[4] = { p->run_id, doc, p->o.force ? "t" : "f", priority };
	json_t *inserted = json_object();
	PGresult *r = NULL;
	const char *origin;
	json_t *sku;
	int rc = -1;

	snprintf(priority, sizeof priority, "%d", p->o.priority);
	if (!doc || !inserted) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	r = store_query(p->st, insert_tasks_sql, 4, params, e);
	if (!r)
		goto out;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *state = PQgetvalue(r, i, 2);

		json_object_set_new(inserted, PQgetvalue(r, i, 1), json_true());
		p->counts.tasks++;
		if (strcmp(state, "queued") == 0)
			p->counts.queued++;
		else if (strcmp(state, "skipped") == 0)
			p->counts.skipped++;
		else
			p->counts.failed++;
	}
	json_object_foreach(origins, origin, sku) {
		struct buf msg = BUF_INIT;

		if (json_object_get(inserted, origin))
			continue;
		buf_printf(&msg, "%s: sku \"%s\": duplicate SKU: an earlier record in this run has it; this one is ignored",
			   origin, json_string_value(sku));
		rc = record_error(p, origin, json_string_value(sku), buf_str(&msg), e);
		buf_free(&msg);
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	PQclear(r);
	json_decref(inserted);
	free(doc);
	return rc;
}

int planner_add(struct planner *p, const struct record_batch *b, struct err *e)
{
	json_t *rows = json_array(), *origins = json_object();
	int rc = -1;

	if (!rows || !origins) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < b->len; i++) {
		const struct record *r = &b->items[i];

		p->counts.records++;
		if (r->error || !r->fields || !r->sku) {
			struct buf msg = BUF_INIT;
			int bad;

			if (r->sku)
				buf_printf(&msg, "%s: sku \"%s\": %s", r->origin ? r->origin : "?", r->sku,
					   r->error ? r->error : "unusable record");
			else
				buf_printf(&msg, "%s: %s", r->origin ? r->origin : "?",
					   r->error ? r->error : "record without a SKU");
			bad = record_error(p, r->origin, r->sku, buf_str(&msg), e);
			buf_free(&msg);
			if (bad < 0)
				goto out;
			continue;
		}
		if (!wanted(p, r->sku))
			continue;
		json_object_set_new(origins, r->origin ? r->origin : "", json_string(r->sku));
		for (size_t k = 0; k < p->s->n_outputs; k++) {
			size_t li;
			json_t *loc;

			json_array_foreach(p->s->outputs[k].locales, li, loc)
				if (add_task(p, rows, r, k, json_string_value(loc), e) < 0)
					goto out;
		}
	}
	rc = json_array_size(rows) ? insert_tasks(p, rows, origins, e) : 0;
out:
	json_decref(rows);
	json_decref(origins);
	return rc;
}

const struct run_counts *planner_counts(const struct planner *p)
{
	return &p->counts;
}

json_t *planner_unmatched(const struct planner *p)
{
	json_t *missing = json_array(), *v;
	size_t i;

	if (!missing || !p->o.only)
		return missing;
	json_array_foreach(p->o.only, i, v)
		if (!json_object_get(p->only_seen, json_string_value(v)))
			json_array_append(missing, v);
	return missing;
}

void planner_free(struct planner *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_sel; i++) {
		free(p->sel[i].read_paths);
		free(p->sel[i].error);
	}
	free(p->sel);
	if (p->generator_hashes)
		for (size_t i = 0; i < p->s->n_outputs; i++)
			free(p->generator_hashes[i]);
	free(p->generator_hashes);
	json_decref(p->selection_index);
	json_decref(p->only_seen);
	hash_free(p->hash);
	free(p);
}
