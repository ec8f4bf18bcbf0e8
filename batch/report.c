/* report.c: build a run's report from the store and write it (see report.h).
 *
 * Postgres does the counting and the percentiles (each section is one query
 * answering one JSON value); the failures are grouped here, by the cause
 * that report_cause leaves of each message.
 */
#include "batch/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A timestamptz as ISO 8601 in UTC with milliseconds, or null. */
#define UTC(x) "to_char((" x ") at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define EXAMPLE_SKUS 5
#define FAILURE_ROWS_MAX "200000"

static const char *const run_sql =
	"select json_build_object('id', r.id, 'kind', r.kind, 'status', r.status,\n"
	"  'message', r.message, 'source', r.source, 'config_path', r.config_path, 'host', r.host,\n"
	"  'pid', r.pid, 'skugen_version', r.skugen_version, 'force', r.force)::text\n"
	"from skugen.runs r where r.id = $1";

static const char *const timings_sql =
	"select json_build_object('started_at', " UTC("r.started_at") ",\n"
	"  'finished_at', " UTC("r.finished_at") ",\n"
	"  'duration_s', round(extract(epoch from coalesce(r.finished_at, now()) - r.started_at)::numeric, 3),\n"
	"  'planned_at', " UTC("t.planned") ", 'first_result_at', " UTC("t.first") ",\n"
	"  'last_result_at', " UTC("t.last") ")::text\n"
	"from skugen.runs r, (select max(created_at) planned,\n"
	"  min(finished_at) filter (where state = 'done') first,\n"
	"  max(finished_at) filter (where state = 'done') last\n"
	"  from skugen.tasks_all where run_id = $1) t\n"
	"where r.id = $1";

static const char *const tasks_sql =
	"select json_build_object('total', coalesce(sum(n), 0),\n"
	"  'by_state', coalesce(json_object_agg(state, n) filter (where state is not null), '{}'))::text\n"
	"from (select state, count(*) n from skugen.tasks_all where run_id = $1 group by state) s";

static const char *const outputs_sql =
	"select coalesce(json_agg(json_build_object('output', output, 'kind', kind, 'total', total,\n"
	"  'by_state', states) order by output, kind), '[]')::text\n"
	"from (select output, kind, sum(n) total, json_object_agg(state, n) states\n"
	"  from (select output, kind, state, count(*) n from skugen.tasks_all where run_id = $1\n"
	"        group by 1, 2, 3) a group by 1, 2) b";

static const char *const providers_sql =
	"select coalesce(json_agg(x order by x ->> 'provider', x ->> 'model'), '[]')::text from (\n"
	"  select json_build_object('provider', coalesce(provider, 'local'), 'model', model,\n"
	"    'generators', json_agg(distinct generator), 'generations', count(*),\n"
	"    'fallbacks', count(*) filter (where fallback_from is not null),\n"
	"    'tokens_in', coalesce(sum(tokens_in), 0), 'tokens_out', coalesce(sum(tokens_out), 0),\n"
	"    'cost', coalesce(sum(cost), 0),\n"
	"    'latency_ms', json_build_object(\n"
	"      'p50', round((percentile_cont(0.5) within group (order by latency_ms))::numeric, 3),\n"
	"      'p95', round((percentile_cont(0.95) within group (order by latency_ms))::numeric, 3),\n"
	"      'mean', round(avg(latency_ms)::numeric, 3), 'max', round(max(latency_ms)::numeric, 3))) x\n"
	"  from skugen.provenance where run_id = $1\n"
	"  group by coalesce(provider, 'local'), model) g";

static const char *const cost_sql =
	"select json_build_object('total', coalesce(sum(cost), 0),\n"
	"  'currency_note', 'in the units of the configured prices',\n"
	"  'by_provider', coalesce(json_agg(json_build_object('provider', provider, 'model', model,\n"
	"    'calls', calls, 'ok', ok, 'failed', calls - ok, 'tokens_in', tokens_in,\n"
	"    'tokens_out', tokens_out, 'cost', cost) order by provider, model)\n"
	"    filter (where provider is not null), '[]'))::text\n"
	"from (select provider, model, count(*) calls, count(*) filter (where error = 'ok') ok,\n"
	"  coalesce(sum(tokens_in), 0) tokens_in, coalesce(sum(tokens_out), 0) tokens_out, sum(cost) cost\n"
	"  from skugen.cost_ledger where run_id = $1 group by provider, model) l";

#define LATENCY_SQL(where) \
	"select json_build_object('n', count(latency_ms),\n" \
	"  'p50', round((percentile_cont(0.5) within group (order by latency_ms))::numeric, 3),\n" \
	"  'p95', round((percentile_cont(0.95) within group (order by latency_ms))::numeric, 3),\n" \
	"  'mean', round(avg(latency_ms)::numeric, 3), 'max', round(max(latency_ms)::numeric, 3))::text\n" \
	"from skugen.provenance where run_id = $1" where

static const char *const latency_sql = LATENCY_SQL("");

/* Remote calls alone: local generators answer in microseconds and would
 * drag the percentiles of a mixed run towards zero. */
static const char *const latency_remote_sql = LATENCY_SQL(" and coalesce(provider, 'local') <> 'local'");

static const char *const throughput_sql =
	"select json_build_object('worked', worked, 'window_s', round(w::numeric, 3),\n"
	"  'tasks_per_s', case when w > 0 then round((worked / w)::numeric, 3) end,\n"
	"  'generations_per_min', case when w > 0 then round((done * 60 / w)::numeric, 3) end)::text\n"
	"from (select count(*) filter (where state in ('done', 'failed', 'dead')) worked,\n"
	"  count(*) filter (where state = 'done') done,\n"
	"  extract(epoch from max(finished_at) filter (where state in ('done', 'failed', 'dead'))\n"
	"    - min(started_at))::float8 w\n"
	"  from skugen.tasks_all where run_id = $1) t";

/* The budget's and the deadline's outcome: what was spent, and the tasks
 * each cancelled (the queue's reasons, queue.h). */
static const char *const limits_sql =
	"select json_build_object(\n"
	"  'budget', json_build_object('budget', r.budget, 'spent', l.spent,\n"
	"    'remaining', case when r.budget is not null then greatest(r.budget - l.spent, 0) end,\n"
	"    'stopped', coalesce(r.message like 'budget%', false) or t.budget > 0,\n"
	"    'tasks_cancelled', t.budget),\n"
	"  'deadline', json_build_object('deadline', " UTC("d.deadline") ",\n"
	"    'met', case when d.deadline is null then null when t.deadline > 0 then false\n"
	"      when r.finished_at is not null then r.finished_at <= d.deadline\n"
	"      when now() > d.deadline then false end,\n"
	"    'stopped', coalesce(r.message like 'deadline%', false) or t.deadline > 0,\n"
	"    'tasks_cancelled', t.deadline))::text\n"
	"from skugen.runs r,\n"
	"  lateral (select r.deadline) d,\n"
	"  (select coalesce(sum(cost), 0) spent from skugen.cost_ledger where run_id = $1) l,\n"
	"  (select count(*) filter (where last_error like 'budget reached%') budget,\n"
	"     count(*) filter (where last_error like 'deadline passed%') deadline\n"
	"   from skugen.tasks_all where run_id = $1 and state = 'cancelled') t\n"
	"where r.id = $1";

static const char *const failures_sql =
	"(select 'task', sku, state, coalesce(origin || ': ', '') || coalesce(last_error, 'no message')\n"
	"  from skugen.tasks_all where run_id = $1 and state in ('failed', 'dead') order by id)\n"
	"union all\n"
	"(select 'record', coalesce(sku, ''), 'bad_record', message\n"
	"  from skugen.record_errors where run_id = $1 order by id)\n"
	"limit " FAILURE_ROWS_MAX;

static const char *const cancelled_sql =
	"select 'task', sku, state, coalesce(last_error, 'no reason given')\n"
	"from skugen.tasks_all where run_id = $1 and state = 'cancelled' order by id\n"
	"limit " FAILURE_ROWS_MAX;

/* One query answering one JSON text: its value, new. */
static json_t *query_json(struct store *st, const char *sql, const char *id, const char *what,
			  struct err *e)
{
	const char *params[1] = { id };
	PGresult *r = store_query(st, sql, 1, params, e);
	json_t *v = NULL;
	json_error_t je;

	if (!r) {
		err_prefix(e, "report of run %s: %s", id, what);
		return NULL;
	}
	if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0))
		v = json_null();
	else if (!(v = json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, &je)))
		err_set(e, ERR_INTERNAL, "report of run %s: %s: the store answered bad JSON: %s", id, what, je.text);
	PQclear(r);
	return v;
}

static int by_count_desc(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
	json_int_t ca = json_integer_value(json_object_get(a, "count"));
	json_int_t cb = json_integer_value(json_object_get(b, "count"));
	json_int_t ia = json_integer_value(json_object_get(a, "_order"));
	json_int_t ib = json_integer_value(json_object_get(b, "_order"));

	if (ca != cb)
		return ca < cb ? 1 : -1;
	return ia < ib ? -1 : ia > ib;
}

/* Order groups by count, largest first (ties: first seen first). */
static int sort_groups(json_t *groups)
{
	size_t n = json_array_size(groups);
	json_t **v;

	if (n < 2)
		return 0;
	v = malloc(n * sizeof *v);
	if (!v)
		return -1;
	for (size_t i = 0; i < n; i++) {
		v[i] = json_incref(json_array_get(groups, i));
		json_object_set_new(v[i], "_order", json_integer((json_int_t)i));
	}
	qsort(v, n, sizeof *v, by_count_desc);
	json_array_clear(groups);
	for (size_t i = 0; i < n; i++) {
		json_object_del(v[i], "_order");
		json_array_append_new(groups, v[i]);
	}
	free(v);
	return 0;
}

/* Group rows (kind, sku, state, message) by kind and cause into a
 * {"grouped": rows, "groups": [...]} object, groups ordered by count.  New. */
static json_t *group_rows(struct store *st, const char *sql, const char *id, const char *what,
			  struct err *e)
{
	const char *params[1] = { id };
	PGresult *r = store_query(st, sql, 1, params, e);
	json_t *by_cause = NULL, *groups = NULL, *out = NULL, *g;
	struct buf key = BUF_INIT;
	long total = 0;

	if (!r) {
		err_prefix(e, "report of run %s: %s", id, what);
		return NULL;
	}
	by_cause = json_object();
	groups = json_array();
	if (!by_cause || !groups)
		goto nomem;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *kind = PQgetvalue(r, i, 0), *sku = PQgetvalue(r, i, 1);
		const char *state = PQgetvalue(r, i, 2), *msg = PQgetvalue(r, i, 3);
		json_t *skus, *states, *n;
		size_t cause_at;

		buf_reset(&key);
		if (buf_printf(&key, "%s\n", kind) < 0)
			goto nomem;
		cause_at = key.len;
		if (report_cause(msg, sku, &key) < 0)
			goto nomem;
		g = json_object_get(by_cause, buf_str(&key));
		if (!g) {
			g = json_pack("{s:s, s:s, s:{}, s:i, s:[], s:s}", "cause", key.data + cause_at, "kind", kind,
				      "states", "count", 0, "example_skus", "example", msg);
			if (!g || json_object_set_new(by_cause, buf_str(&key), g) < 0 || json_array_append(groups, g) < 0)
				goto nomem;
		}
		total++;
		json_object_set_new(g, "count", json_integer(json_integer_value(json_object_get(g, "count")) + 1));
		states = json_object_get(g, "states");
		n = json_object_get(states, state);
		json_object_set_new(states, state, json_integer(n ? json_integer_value(n) + 1 : 1));
		skus = json_object_get(g, "example_skus");
		if (*sku && json_array_size(skus) < EXAMPLE_SKUS) {
			bool seen = false;
			size_t j;
			json_t *s;

			json_array_foreach(skus, j, s)
				seen |= strcmp(json_string_value(s), sku) == 0;
			if (!seen)
				json_array_append_new(skus, json_string(sku));
		}
	}
	/* Largest groups first; equal counts keep their first appearance. */
	if (sort_groups(groups) < 0)
		goto nomem;
	out = json_pack("{s:I, s:O}", "grouped", (json_int_t)total, "groups", groups);
	if (!out)
		goto nomem;
	goto done;
nomem:
	err_set(e, ERR_NOMEM, "report of run %s: %s: out of memory", id, what);
done:
	PQclear(r);
	buf_free(&key);
	json_decref(by_cause);
	json_decref(groups);
	return out;
}

/* The totals beside the groups, counted in full (the groups are made of
 * the first FAILURE_ROWS_MAX rows); "truncated" when the groups miss some. */
static int set_totals(json_t *v, long tasks, long records)
{
	json_int_t grouped = json_integer_value(json_object_get(v, "grouped"));

	if (json_object_set_new(v, "total", json_integer(tasks + records)) < 0 ||
	    json_object_set_new(v, "tasks", json_integer(tasks)) < 0 ||
	    json_object_set_new(v, "records", json_integer(records)) < 0 ||
	    json_object_set_new(v, "truncated", json_boolean(grouped < tasks + records)) < 0)
		return -1;
	return 0;
}

static int count_failures(struct store *st, const char *id, json_t *v, struct err *e)
{
	PGresult *r = store_query(st,
		"select (select count(*) from skugen.tasks_all where run_id = $1 and state in ('failed', 'dead')),\n"
		"  (select count(*) from skugen.record_errors where run_id = $1)", 1, (const char *[]){ id }, e);
	int rc;

	if (!r)
		return err_prefix(e, "report of run %s: counting failures", id);
	rc = set_totals(v, atol(PQgetvalue(r, 0, 0)), atol(PQgetvalue(r, 0, 1)));
	PQclear(r);
	return rc < 0 ? err_set(e, ERR_NOMEM, "out of memory") : 0;
}

static int count_cancelled(struct store *st, const char *id, json_t *v, struct err *e)
{
	PGresult *r = store_query(st, "select count(*) from skugen.tasks_all where run_id = $1 and state = 'cancelled'",
				  1, (const char *[]){ id }, e);
	int rc;

	if (!r)
		return err_prefix(e, "report of run %s: counting cancelled tasks", id);
	rc = set_totals(v, atol(PQgetvalue(r, 0, 0)), 0);
	json_object_del(v, "records");
	PQclear(r);
	return rc < 0 ? err_set(e, ERR_NOMEM, "out of memory") : 0;
}

static int run_exists(struct store *st, const char *id, struct err *e)
{
	const char *params[1] = { id };
	PGresult *r = store_query(st, "select 1 from skugen.runs where id = $1", 1, params, e);
	int n;

	if (!r)
		return err_prefix(e, "report of run %s", id);
	n = PQntuples(r);
	PQclear(r);
	if (n == 0)
		return err_set(e, ERR_USAGE, "run %s: no such run in the store", id);
	return 0;
}

int report_build(struct store *st, long run_id, json_t **out, struct err *e)
{
	static const struct {
		const char *key, *sql;
	} sections[] = {
		{ "run", run_sql }, { "timings", timings_sql }, { "tasks", tasks_sql },
		{ "by_output", outputs_sql }, { "by_provider", providers_sql }, { "cost", cost_sql },
		{ "latency_ms", latency_sql }, { "latency_remote_ms", latency_remote_sql },
		{ "throughput", throughput_sql },
	};
	char id[32], ts[32];
	json_t *doc = NULL, *v, *limits;
	time_t now = time(NULL);
	struct tm tm;

	*out = NULL;
	snprintf(id, sizeof id, "%ld", run_id);
	if (run_exists(st, id, e) < 0)
		return -1;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	doc = json_pack("{s:i, s:s}", "report_version", 1, "generated_at", ts);
	if (!doc)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < sizeof sections / sizeof *sections; i++) {
		if (!(v = query_json(st, sections[i].sql, id, sections[i].key, e)))
			goto fail;
		json_object_set_new(doc, sections[i].key, v);
	}
	if (!(limits = query_json(st, limits_sql, id, "budget and deadline", e)))
		goto fail;
	json_object_set(doc, "budget", json_object_get(limits, "budget"));
	json_object_set(doc, "deadline", json_object_get(limits, "deadline"));
	json_decref(limits);
	if (!(v = group_rows(st, failures_sql, id, "failures", e)))
		goto fail;
	json_object_set_new(doc, "failures", v);
	if (count_failures(st, id, v, e) < 0)
		goto fail;
	if (!(v = group_rows(st, cancelled_sql, id, "cancelled tasks", e)))
		goto fail;
	json_object_set_new(doc, "cancelled", v);
	if (count_cancelled(st, id, v, e) < 0)
		goto fail;
	*out = doc;
	return 0;
fail:
	json_decref(doc);
	return -1;
}

/* Write through a temporary file beside path, renamed into place at the
 * end; "-" writes to stdout. */
static int write_file(const char *path, const json_t *doc, bool html, struct err *e)
{
	char *tmp = NULL;
	FILE *fp;
	int rc = -1;

	if (strcmp(path, "-") == 0) {
		if (html ? report_html_write(stdout, doc, e) < 0 :
		    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) < 0)
			return html ? -1 : err_set(e, ERR_IO, "writing the report to stdout failed");
		if (!html)
			putchar('\n');
		return fflush(stdout) == 0 ? 0 : err_set(e, ERR_IO, "writing the report to stdout: %s", strerror(errno));
	}
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	fp = fopen(tmp, "w");
	if (!fp) {
		err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (html) {
		if (report_html_write(fp, doc, e) < 0) {
			fclose(fp);
			goto fail;
		}
	} else if (json_dumpf(doc, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) < 0 || fputc('\n', fp) == EOF) {
		err_set(e, ERR_IO, "writing %s failed", path);
		fclose(fp);
		goto fail;
	}
	if (fclose(fp) != 0) {
		err_set(e, ERR_IO, "writing %s: %s", path, strerror(errno));
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		err_set(e, ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	unlink(tmp);
out:
	free(tmp);
	return rc;
}

int report_write(struct store *st, long run_id, const char *json_path, const char *html_path,
		 struct err *e)
{
	json_t *doc = NULL;
	int rc = -1;

	if (report_build(st, run_id, &doc, e) < 0)
		return -1;
	if (json_path && write_file(json_path, doc, false, e) < 0)
		goto out;
	if (html_path && write_file(html_path, doc, true, e) < 0)
		goto out;
	rc = 0;
out:
	json_decref(doc);
	return rc;
}
