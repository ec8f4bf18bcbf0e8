/* publish.c: generations back to the system of record (see publish.h). */
#include "batch/publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

/* The next page of what to publish for one output, with the sha256 of what
 * skugen last wrote to each slot (for the if_generated policy). */
static const char *const page_sql =
	"select g.id, g.sku, g.locale, g.channel, g.content, g.asset_path,\n"
	"  (select p.value_sha256 from skugen.publications p\n"
	"    where p.sku = g.sku and p.output = g.output and p.locale = g.locale\n"
	"      and p.channel = g.channel and p.status in ('written', 'unchanged')\n"
	"    order by p.id desc limit 1)\n"
	"from skugen.generations g\n"
	"where g.output = $1 and g.id > $2\n"
	"  and (g.status = 'approved' or ($3::boolean and g.status = 'draft'))\n"
	"  -- only the newest of a slot: an older approval must not overwrite it\n"
	"  and not exists (select 1 from skugen.generations n\n"
	"    where n.sku = g.sku and n.output = g.output and n.locale = g.locale\n"
	"      and n.channel = g.channel and n.id > g.id\n"
	"      and (n.status in ('approved', 'published') or ($3::boolean and n.status = 'draft')))\n"
	"order by g.id limit $4";

enum { P_ID, P_SKU, P_LOCALE, P_CHANNEL, P_CONTENT, P_ASSET, P_PRIOR };

static const char *const record_sql =
	"with r as (\n"
	"  select * from jsonb_to_recordset($1::jsonb) as x(generation_id bigint, sku text,\n"
	"    output text, locale text, channel text, target jsonb, policy text, status text,\n"
	"    message text, value_sha256 text)),\n"
	"ins as (\n"
	"  insert into skugen.publications (generation_id, sku, output, locale, channel,\n"
	"    connector, target, policy, status, message, value_sha256)\n"
	"  select generation_id, sku, output, locale, channel, $2, target, policy, status,\n"
	"    message, value_sha256 from r)\n"
	"update skugen.generations g set status = 'published', published_at = now()\n"
	"from r where g.id = r.generation_id and r.status in ('written', 'unchanged')";

static int record(struct store *st, const struct conn *sink, const struct output_settings *out,
		  const struct conn_write_item *items, int n, struct publish_counts *counts,
		  struct err *e)
{
	json_t *rows = json_array();
	char *doc;
	int rc;

	for (int i = 0; i < n; i++) {
		const struct conn_write_item *it = &items[i];
		char sha[HASH_HEX_LEN];
		const char *status = conn_write_status_name(it->status);

		if (it->status == CONN_WRITE_PENDING)
			continue;
		sha256_hex(it->value ? it->value : "", it->value ? it->value_len : 0, sha);
		json_array_append_new(rows, json_pack("{s:I, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:s*, s:s}",
			"generation_id", (json_int_t)it->generation_id, "sku", it->sku,
			"output", out->name, "locale", it->locale, "channel", it->channel,
			"target", out->target, "policy", conn_policy_name(it->policy),
			"status", status, "message", it->message, "value_sha256", sha));
		switch (it->status) {
		case CONN_WRITE_WRITTEN: counts->written++; break;
		case CONN_WRITE_UNCHANGED: counts->unchanged++; break;
		case CONN_WRITE_REFUSED: counts->refused++; break;
		default: counts->failed++; break;
		}
	}
	doc = json_dumps(rows, JSON_COMPACT);
	json_decref(rows);
	if (!doc)
		return err_set(e, ERR_NOMEM, "out of memory");
	rc = store_exec(st, record_sql, 2, (const char *[]){ doc, sink->ops->name }, e);
	free(doc);
	return rc;
}

static int publish_output(struct store *st, const struct output_settings *out, struct conn *sink,
			  int batch, struct publish_counts *counts, struct err *e)
{
	struct conn_write_item *items = calloc((size_t)batch, sizeof *items);
	enum conn_policy policy;
	char after[32] = "0", limit[16];
	int rc = -1;

	if (!items)
		return err_set(e, ERR_NOMEM, "out of memory");
	conn_policy_parse(out->overwrite, &policy);
	snprintf(limit, sizeof limit, "%d", batch);
	for (;;) {
		const char *params[4] = { out->name, after, out->auto_publish ? "t" : "f", limit };
		PGresult *r = store_query(st, page_sql, 4, params, e);
		int n, failed;

		if (!r)
			goto out;
		n = PQntuples(r);
		if (n == 0) {
			PQclear(r);
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn_write_item *it = &items[i];

			memset(it, 0, sizeof *it);
			it->sku = PQgetvalue(r, i, P_SKU);
			it->output = out->name;
			it->locale = PQgetvalue(r, i, P_LOCALE);
			it->channel = PQgetvalue(r, i, P_CHANNEL);
			it->value = PQgetisnull(r, i, P_CONTENT) ? NULL : PQgetvalue(r, i, P_CONTENT);
			it->value_len = it->value ? (size_t)PQgetlength(r, i, P_CONTENT) : 0;
			it->asset_path = PQgetisnull(r, i, P_ASSET) ? NULL : PQgetvalue(r, i, P_ASSET);
			it->generation_id = atoll(PQgetvalue(r, i, P_ID));
			it->prior_sha256 = PQgetisnull(r, i, P_PRIOR) ? NULL : PQgetvalue(r, i, P_PRIOR);
			it->target = out->target;
			it->policy = policy;
		}
		snprintf(after, sizeof after, "%s", PQgetvalue(r, n - 1, P_ID));
		failed = sink->ops->write(sink, items, (size_t)n, e);
		/* Record what the target did, even when the batch failed part-way. */
		if (record(st, sink, out, items, n, counts, failed < 0 ? NULL : e) < 0 && failed == 0)
			failed = -1;
		conn_write_items_reset(items, (size_t)n);
		PQclear(r);
		if (failed < 0)
			goto out;
	}
	rc = 0;
out:
	free(items);
	return rc;
}

int publish_outputs(struct store *st, const struct settings *s, struct conn *sink,
		    const struct publish_opts *o, struct publish_counts *counts, struct err *e)
{
	int batch = o->batch_size > 0 ? o->batch_size : 100;

	for (size_t i = 0; i < s->n_outputs; i++) {
		const struct output_settings *out = &s->outputs[i];

		if (!out->target || (o->output && strcmp(o->output, out->name) != 0) ||
		    (o->auto_only && !out->auto_publish))
			continue;
		if (publish_output(st, out, sink, batch, counts, e) < 0)
			return err_prefix(e, "publishing output \"%s\"", out->name);
	}
	return 0;
}
