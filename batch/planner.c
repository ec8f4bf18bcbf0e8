/* planner.c: records to tasks with fingerprints (see planner.h). */
#include "batch/planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/image_opts.h"
#include "batch/queue.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/json_merge.h"
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
	struct selection **sel;    /* each allocated alone: callers keep pointers */
	size_t n_sel, cap_sel;
	char **generator_hashes;   /* per output: sha256 of generator type + config */
	json_t *only_seen;         /* SKU -> true, for regen */
	struct hash_ctx *hash;
	char run_id[32];
};

/* The sha256 of the output's generator chain: each generator's name and
 * canonical configuration, in order. */
static int hash_generator(struct planner *p, size_t i, struct err *e)
{
	const struct output_settings *out = &p->s->outputs[i];
	char hex[HASH_HEX_LEN];

	for (size_t k = 0; k < out->chain_len; k++) {
		json_t *g = json_object_get(p->s->generators, out->chain[k]);
		char *canon = json_dumps(g, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

		if (!canon)
			return err_set(e, ERR_NOMEM, "out of memory");
		hash_update_str(p->hash, out->chain[k]);
		hash_update_str(p->hash, canon);
		free(canon);
	}
	hash_final_hex(p->hash, hex);
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
		return p->sel[json_integer_value(idx)];
	}
	if (p->n_sel == p->cap_sel) {
		size_t cap = p->cap_sel ? p->cap_sel * 2 : 16;
		struct selection **n = realloc(p->sel, cap * sizeof *n);

		if (!n)
			goto out;
		p->sel = n;
		p->cap_sel = cap;
	}
	sel = calloc(1, sizeof *sel);
	if (!sel)
		goto out;
	p->sel[p->n_sel] = sel;
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

/* The templates one task may render, by role: "prompt" (the output's
 * template), "system" (the output's system prompt), and "gen:NAME" for a
 * template generator of the chain that has its own template. */
#define MAX_ROLES 8

struct role {
	char name[80];
	const char *base;
	const struct selection *sel;
};

static size_t task_roles(struct planner *p, size_t out_i, struct role roles[MAX_ROLES])
{
	const struct output_settings *o = &p->s->outputs[out_i];
	size_t n = 0;

	snprintf(roles[n].name, sizeof roles[n].name, "prompt");
	roles[n++].base = o->template_base;
	if (o->system_base) {
		snprintf(roles[n].name, sizeof roles[n].name, "system");
		roles[n++].base = o->system_base;
	}
	for (size_t k = 0; k < o->chain_len && n < MAX_ROLES; k++) {
		json_t *g = json_object_get(p->s->generators, o->chain[k]);
		const char *own = json_string_value(json_object_get(g, "template"));

		if (own) {
			snprintf(roles[n].name, sizeof roles[n].name, "gen:%s", o->chain[k]);
			roles[n++].base = own;
		}
	}
	return n;
}

static void fingerprint(struct planner *p, const char *sku, size_t out_i, const char *locale,
			const struct role *roles, size_t n_roles, const char *input,
			char hex[HASH_HEX_LEN])
{
	const struct output_settings *o = &p->s->outputs[out_i];

	/* The SKU is part of it: two products whose read fields are equal
	 * (colour variants a title does not mention) still get one each. */
	hash_update_str(p->hash, "skugen-task-v3");
	hash_update_str(p->hash, sku);
	hash_update_str(p->hash, o->name);
	hash_update_str(p->hash, o->kind);
	hash_update_str(p->hash, locale);
	hash_update_str(p->hash, o->channel);
	for (size_t r = 0; r < n_roles; r++) {
		hash_update_str(p->hash, roles[r].name);
		hash_update_str(p->hash, tmpl_sha256(roles[r].sel->tmpl));
	}
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

/* regen --outputs: the output's name or kind is in the list. */
static bool output_wanted(struct planner *p, const struct output_settings *o)
{
	size_t i;
	json_t *v;

	if (!p->o.outputs)
		return true;
	json_array_foreach(p->o.outputs, i, v)
		if (strcmp(json_string_value(v), o->name) == 0 || strcmp(json_string_value(v), o->kind) == 0)
			return true;
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

/* Today's value of the output in the record, as text, for reviewers: a
 * string as it is, anything else as compact JSON.  Not part of the
 * fingerprint: it is what the generation may replace, not an input. */
static void add_current_value(json_t *row, const json_t *fields, const char *field)
{
	json_t *v = json_object_get(fields, field);

	if (json_is_string(v))
		json_object_set(row, "current_value", v);
	else if (v && !json_is_null(v)) {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		if (text)
			json_object_set_new(row, "current_value", json_string(text));
		free(text);
	}
}

/* The union of the roles' read paths, sorted and without repeats. */
static json_t *union_read_paths(const struct role *roles, size_t n)
{
	json_t *set = json_object(), *out = json_array(), *paths;
	const char *k;
	json_t *v;

	for (size_t r = 0; r < n; r++) {
		size_t i;
		json_t *path;

		paths = json_loads(roles[r].sel->read_paths, 0, NULL);
		json_array_foreach(paths, i, path)
			json_object_set_new(set, json_string_value(path), json_true());
		json_decref(paths);
	}
	/* jansson keeps insertion order; sort for a stable list. */
	{
		size_t n_keys = json_object_size(set), i = 0;
		const char **keys = calloc(n_keys + 1, sizeof *keys);

		json_object_foreach(set, k, v)
			if (keys)
				keys[i++] = k;
		for (size_t a = 1; keys && a < n_keys; a++)
			for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
				const char *t = keys[b];

				keys[b] = keys[b - 1];
				keys[b - 1] = t;
			}
		for (i = 0; keys && i < n_keys; i++)
			json_array_append_new(out, json_string(keys[i]));
		free(keys);
	}
	json_decref(set);
	return out;
}

/* One task row for the batch insert. */
static int add_task(struct planner *p, json_t *rows, const struct record *r, size_t out_i,
		    const char *locale, struct err *e)
{
	const struct output_settings *o = &p->s->outputs[out_i];
	const char *category = category_of(p, r->fields);
	struct role roles[MAX_ROLES];
	size_t n_roles = task_roles(p, out_i, roles);
	json_t *row, *projection = NULL, *templates, *input_fields = NULL;
	const char *error = NULL;
	char *input = NULL, *image_fp = NULL, *image_error = NULL;
	char fp[HASH_HEX_LEN];

	for (size_t k = 0; k < n_roles; k++) {
		roles[k].sel = select_template(p, roles[k].base, category, locale);
		if (!roles[k].sel)
			return err_set(e, ERR_NOMEM, "out of memory");
		if (!roles[k].sel->tmpl && !error)
			error = roles[k].sel->error;
	}
	row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s*, s:s*}", "sku", r->sku, "output", o->name,
			"locale", locale, "channel", o->channel, "kind", o->kind,
			"origin", r->origin ? r->origin : "", "generator", o->chain[0],
			"category", category,
			"product_name", json_string_value(json_object_get(r->fields, p->s->name_field)));
	if (row)
		add_current_value(row, r->fields, o->current);
	templates = json_object();
	if (!row || !templates) {
		json_decref(row);
		json_decref(templates);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (error) {
		/* No usable template: the task fails at once, with the reason. */
		sha256_hex(error, strlen(error), fp);
		json_object_set_new(row, "fingerprint", json_string(fp));
		json_object_set_new(row, "error", json_string(error));
		json_decref(templates);
		json_array_append_new(rows, row);
		return 0;
	}
	for (size_t k = 0; k < n_roles && (k == 0 || projection); k++) {
		json_t *part = tmpl_project(roles[k].sel->tmpl, r->fields);

		projection = part ? json_merge_projection(projection, part) : NULL;
		json_decref(part);
		json_object_set_new(templates, roles[k].name,
				    json_pack("{s:s, s:s}", "name", tmpl_name(roles[k].sel->tmpl),
					      "sha256", tmpl_sha256(roles[k].sel->tmpl)));
	}
	input_fields = union_read_paths(roles, n_roles);
	/* Image outputs: the photo field joins the input; the photo's bytes,
	 * the image options and the scene join the fingerprint (image_opts.h). */
	if (o->image && projection && input_fields &&
	    image_opts_plan(o->image, r->sku, r->fields, projection, input_fields, &image_fp,
			    &image_error, e) < 0) {
		json_decref(projection);
		json_decref(input_fields);
		json_decref(templates);
		json_decref(row);
		return -1;
	}
	if (image_error) {
		sha256_hex(image_error, strlen(image_error), fp);
		json_object_set_new(row, "fingerprint", json_string(fp));
		json_object_set_new(row, "error", json_string(image_error));
		free(image_error);
		json_decref(projection);
		json_decref(input_fields);
		json_decref(templates);
		json_array_append_new(rows, row);
		return 0;
	}
	if (o->image && projection && input_fields && !image_fp) {
		/* A record without an optional photo: no image task at all. */
		json_decref(projection);
		json_decref(input_fields);
		json_decref(templates);
		json_decref(row);
		return 0;
	}
	input = projection && input_fields ? json_dumps(projection, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	if (!input) {
		free(image_fp);
		json_decref(projection);
		json_decref(input_fields);
		json_decref(templates);
		json_decref(row);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	fingerprint(p, r->sku, out_i, locale, roles, n_roles, input, fp);
	if (image_fp) {
		hash_update_str(p->hash, fp);
		hash_update_str(p->hash, image_fp);
		hash_final_hex(p->hash, fp);
		free(image_fp);
	}
	json_object_set_new(row, "fingerprint", json_string(fp));
	json_object_set_new(row, "template_name", json_string(tmpl_name(roles[0].sel->tmpl)));
	json_object_set_new(row, "template_sha256", json_string(tmpl_sha256(roles[0].sel->tmpl)));
	json_object_set_new(row, "templates", templates);
	json_object_set_new(row, "input", projection);
	json_object_set_new(row, "input_fields", input_fields);
	free(input);
	json_array_append_new(rows, row);
	return 0;
}

/* A fingerprint already live in the queue (another run queued it and has not
 * finished it) is planned "skipped" with the run that holds it: the same work
 * is never queued, nor paid for, twice.  The partial unique index on live
 * fingerprints settles a race between two planners: the loser's row is not
 * inserted, and insert_tasks() plans it again, now seeing the winner. */
static const char *const insert_tasks_sql =
	"with r as (\n"
	"  select * from jsonb_to_recordset($2::jsonb) as x(\n"
	"    sku text, output text, locale text, channel text, kind text, origin text,\n"
	"    generator text, fingerprint text, template_name text, template_sha256 text,\n"
	"    input jsonb, input_fields jsonb, error text, templates jsonb, category text,\n"
	"    current_value text, product_name text))\n"
	"insert into skugen.tasks (run_id, sku, output, locale, channel, kind, origin, generator,\n"
	"  fingerprint, template_name, template_sha256, input, input_fields, priority, state,\n"
	"  last_error, finished_at, templates, category, current_value, product_name, max_attempts)\n"
	"select $1, sku, output, locale, channel, kind, origin, generator, fingerprint,\n"
	"  template_name, template_sha256, input, input_fields, $4,\n"
	"  case when error is not null then 'failed'\n"
	"       when not $3::boolean and exists (select 1 from skugen.generations g\n"
	"         where g.fingerprint = r.fingerprint and g.status <> 'superseded')\n"
	"         then 'skipped'\n"
	"       when live.run_id is not null then 'skipped'\n"
	"       else 'queued' end,\n"
	"  coalesce(error, 'already queued by run ' || live.run_id),\n"
	"  case when error is not null then now() end, templates, category, current_value,\n"
	"  product_name, $5\n"
	"from r left join lateral (select l.run_id from skugen.tasks l\n"
	"  where l.fingerprint = r.fingerprint and l.state in ('queued', 'running', 'waiting')\n"
	"  limit 1) live on error is null\n"
	"on conflict do nothing\n"
	"returning sku, origin, state, output, locale, channel";

static void task_key(struct buf *b, const char *sku, const char *output, const char *locale,
		     const char *channel)
{
	buf_reset(b);
	buf_printf(b, "%s\x1f%s\x1f%s\x1f%s", sku, output, locale, channel);
}

/* One insert of rows; the origins and task keys it inserted are added to
 * inserted (origin -> true) and keys (task key -> true). */
static int insert_pass(struct planner *p, json_t *rows, json_t *inserted, json_t *keys,
		       struct err *e)
{
	char *doc = json_dumps(rows, JSON_COMPACT);
	char priority[16], max_attempts[16];
	const char *params[5] = { p->run_id, doc, p->o.force ? "t" : "f", priority, max_attempts };
	struct buf key = BUF_INIT;
	PGresult *r;

	if (!doc)
		return err_set(e, ERR_NOMEM, "out of memory");
	snprintf(priority, sizeof priority, "%d", p->o.priority);
	snprintf(max_attempts, sizeof max_attempts, "%d", p->o.max_attempts > 0 ? p->o.max_attempts : 5);
	/* Work at a higher priority (regen) takes over the same work queued
	 * at a lower one: that task is cancelled, naming this run, and this
	 * run's task is queued instead, ahead of it. */
	if (p->o.priority > 0 &&
	    store_exec(p->st, "update skugen.tasks t set state = 'cancelled', finished_at = now(),\n"
			      "  last_error = 'taken over by run ' || $1 || ' at priority ' || $3\n"
			      "from jsonb_to_recordset($2::jsonb) as r(fingerprint text, error text)\n"
			      "where t.fingerprint = r.fingerprint and r.error is null and t.state = 'queued'\n"
			      "  and t.priority < $3::int and t.run_id <> $1::bigint",
			3, (const char *[]){ p->run_id, doc, priority }, e) < 0) {
		free(doc);
		return -1;
	}
	r = store_query(p->st, insert_tasks_sql, 5, params, e);
	free(doc);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *state = PQgetvalue(r, i, 2);

		json_object_set_new(inserted, PQgetvalue(r, i, 1), json_true());
		task_key(&key, PQgetvalue(r, i, 0), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
			 PQgetvalue(r, i, 5));
		json_object_set_new(keys, buf_str(&key), json_true());
		p->counts.tasks++;
		if (strcmp(state, "queued") == 0)
			p->counts.queued++;
		else if (strcmp(state, "skipped") == 0)
			p->counts.skipped++;
		else
			p->counts.failed++;
	}
	PQclear(r);
	buf_free(&key);
	return 0;
}

/* Insert the batch's task rows; rows that lost a race on a live fingerprint
 * go in again (now planned skipped); report records whose SKU was already
 * planned in this run (a duplicate SKU in the source). */
static int insert_tasks(struct planner *p, json_t *rows, json_t *origins, struct err *e)
{
	json_t *inserted = json_object(), *keys = json_object(), *again = json_array();
	long queued_before = p->counts.queued;
	struct buf key = BUF_INIT;
	const char *origin;
	json_t *sku, *row;
	size_t i;
	int rc = -1;

	if (!inserted || !keys || !again) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (insert_pass(p, rows, inserted, keys, e) < 0)
		goto out;
	json_array_foreach(rows, i, row) {
		task_key(&key, json_string_value(json_object_get(row, "sku")),
			 json_string_value(json_object_get(row, "output")),
			 json_string_value(json_object_get(row, "locale")),
			 json_string_value(json_object_get(row, "channel")));
		if (!json_object_get(keys, buf_str(&key)))
			json_array_append(again, row);
	}
	if (json_array_size(again) && insert_pass(p, again, inserted, keys, e) < 0)
		goto out;
	/* Wake idle workers: there is work. */
	if (p->counts.queued > queued_before && queue_notify(p->st, e) < 0)
		goto out;
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
	buf_free(&key);
	json_decref(inserted);
	json_decref(keys);
	json_decref(again);
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

			if (!output_wanted(p, &p->s->outputs[k]))
				continue;

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
		free(p->sel[i]->read_paths);
		free(p->sel[i]->error);
		free(p->sel[i]);
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
