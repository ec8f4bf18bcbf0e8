/* report_html.c: a run's report as one HTML page a person reads at a glance
 * (see report_html_write in report.h).
 *
 * The page is plain markup and an inline stylesheet: no script, no external
 * URL, and a Content-Security-Policy that lets nothing else load.  The state
 * bar is inline SVG (attributes, not style, so the policy holds).  Every
 * string from the store (SKUs, messages, names) goes through put_text, which
 * escapes markup and replaces characters XML does not allow, so the page is
 * also well-formed XML.
 */
#include "batch/report.h"

#include <math.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

static const char page_css[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2430;background:#f4f6f9}\n"
	"header{background:#1d2430;color:#fff;padding:18px 28px}\n"
	"header h1{margin:0;font-size:20px;font-weight:600}\n"
	"header p{margin:4px 0 0;color:#c5cbd6}\n"
	"main{padding:18px 28px;max-width:1200px}\n"
	".badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;margin-left:8px;"
	"vertical-align:2px;background:#5b6472}\n"
	".badge.done{background:#1f8a4c}.badge.running{background:#2f6fd6}.badge.failed,.badge.interrupted{background:#c0392b}"
	".badge.cancelled{background:#8a6d1f}\n"
	".tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px;margin:6px 0 18px}\n"
	".tile{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}\n"
	".tile b{display:block;font-size:22px;font-weight:600}\n"
	".tile span{color:#5b6472;font-size:12px;text-transform:uppercase;letter-spacing:.04em}\n"
	".tile.bad b{color:#c0392b}.tile.good b{color:#1f8a4c}\n"
	"section{background:#fff;border-radius:8px;padding:12px 16px;margin:0 0 16px;"
	"box-shadow:0 1px 2px rgba(0,0,0,.08)}\n"
	"h2{font-size:15px;margin:2px 0 10px}\n"
	"table{border-collapse:collapse;width:100%}\n"
	"th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e6e9ef;vertical-align:top}\n"
	"th{font-weight:600;color:#5b6472;font-size:12px}\n"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	"code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f0f2f5;padding:1px 4px;border-radius:3px;"
	"word-break:break-all}\n"
	".muted{color:#7a8391}\n"
	".legend span{margin-right:14px;white-space:nowrap}\n"
	"svg{display:block;margin:4px 0 8px}\n"
	"svg.sw{display:inline-block;margin:0 2px 0 0}\n"
	"footer{padding:0 28px 24px;color:#7a8391;font-size:12px}\n";

/* Failure groups shown on the page (all of them are in the JSON). */
#define GROUPS_SHOWN 50

#define OTHER_COLOUR "#8a8f98"

/* State colours, for the bar and its legend. */
static const struct {
	const char *state, *colour;
} state_colours[] = {
	{ "done", "#1f8a4c" }, { "skipped", "#9fc9ad" }, { "running", "#2f6fd6" },
	{ "waiting", "#7fa7e6" }, { "queued", "#c5cbd6" }, { "failed", "#c0392b" },
	{ "dead", "#6e1a12" }, { "cancelled", "#d4a017" },
};

static const char *colour_of(const char *state)
{
	for (size_t i = 0; i < sizeof state_colours / sizeof *state_colours; i++)
		if (strcmp(state_colours[i].state, state) == 0)
			return state_colours[i].colour;
	return OTHER_COLOUR;
}

/* 'sha256-<base64>' of text, for the policy. */
static void csp_hash(const char *text, char out[64])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned char b64[48];

	SHA256((const unsigned char *)text, strlen(text), md);
	EVP_EncodeBlock(b64, md, SHA256_DIGEST_LENGTH);
	snprintf(out, 64, "'sha256-%s'", (const char *)b64);
}

/* Text from the store, escaped for element content and attribute values;
 * bytes XML forbids (C0 controls but tab and newline) become U+FFFD. */
static void put_text(FILE *fp, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", fp); break;
		case '<': fputs("&lt;", fp); break;
		case '>': fputs("&gt;", fp); break;
		case '"': fputs("&quot;", fp); break;
		case '\'': fputs("&#39;", fp); break;
		case '\t': case '\n': fputc(*p, fp); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fputs("\xEF\xBF\xBD", fp);
			else
				fputc(*p, fp);
		}
	}
}

static void put_json_text(FILE *fp, const json_t *v);

/* An ISO 8601 UTC time as "2026-11-26 09:45:12 UTC"; other text as it is. */
static void put_time(FILE *fp, const json_t *v)
{
	const char *t = json_string_value(v);

	if (t && strlen(t) >= 20 && t[10] == 'T' && t[strlen(t) - 1] == 'Z') {
		fprintf(fp, "%.10s %.8s UTC", t, t + 11);
		return;
	}
	put_json_text(fp, v);
}

static void put_json_text(FILE *fp, const json_t *v)
{
	if (json_is_string(v))
		put_text(fp, json_string_value(v));
	else if (json_is_integer(v))
		fprintf(fp, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		fprintf(fp, "%g", json_real_value(v));
	else if (json_is_true(v))
		fputs("yes", fp);
	else if (json_is_false(v))
		fputs("no", fp);
	else
		fputs("-", fp);
}

/* A number with d decimals, or "-" when null. */
static void put_num(FILE *fp, const json_t *v, int d)
{
	if (json_is_number(v))
		fprintf(fp, "%.*f", d, json_number_value(v));
	else
		fputs("-", fp);
}

static const json_t *at(const json_t *o, const char *path)
{
	char key[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		snprintf(key, sizeof key, "%.*s", (int)n, path);
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static double num(const json_t *o, const char *path)
{
	return json_number_value(at(o, path));
}

static void tile(FILE *fp, const char *cls, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void tile(FILE *fp, const char *cls, const char *label, const char *fmt, ...)
{
	va_list ap;

	fprintf(fp, "<div class=\"tile %s\"><b>", cls);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fprintf(fp, "</b><span>%s</span></div>\n", label);
}

static void put_header(FILE *fp, const json_t *r)
{
	const json_t *run = at(r, "run");
	const char *status = json_string_value(at(run, "status"));

	fputs("<header><h1>skugen ", fp);
	put_json_text(fp, at(run, "kind"));
	fprintf(fp, " %lld", (long long)json_integer_value(at(run, "id")));
	fputs("<span class=\"badge ", fp);
	put_text(fp, status);
	fputs("\">", fp);
	put_text(fp, status);
	fputs("</span></h1>\n<p>started ", fp);
	put_time(fp, at(r, "timings.started_at"));
	if (json_is_string(at(r, "timings.finished_at"))) {
		fputs(", finished ", fp);
		put_time(fp, at(r, "timings.finished_at"));
	} else {
		fputs(", still running", fp);
	}
	fputs(" on ", fp);
	put_json_text(fp, at(run, "host"));
	fputs(" (skugen ", fp);
	put_json_text(fp, at(run, "skugen_version"));
	fputs(")", fp);
	if (json_is_string(at(run, "message"))) {
		fputs("<br/>", fp);
		put_text(fp, json_string_value(at(run, "message")));
	}
	fputs("</p></header>\n", fp);
}

static void put_tiles(FILE *fp, const json_t *r)
{
	const json_t *st = at(r, "tasks.by_state");
	double total = num(r, "tasks.total");
	double done = num(st, "done"), skipped = num(st, "skipped");
	double failed = num(r, "failures.total");
	const json_t *budget = at(r, "budget.budget");

	fputs("<div class=\"tiles\">\n", fp);
	tile(fp, "good", "tasks finished", "%.0f / %.0f", done + skipped + num(st, "failed") + num(st, "dead") +
	     num(st, "cancelled"), total);
	tile(fp, "", "generated", "%.0f", done);
	tile(fp, "", "unchanged (skipped)", "%.0f", skipped);
	tile(fp, failed > 0 ? "bad" : "good", "failures", "%.0f", failed);
	if (json_is_number(budget))
		tile(fp, num(r, "budget.spent") > json_number_value(budget) ? "bad" : "", "cost of budget",
		     "%.4f / %.2f", num(r, "cost.total"), json_number_value(budget));
	else
		tile(fp, "", "cost", "%.4f", num(r, "cost.total"));
	if (json_is_number(at(r, "latency_remote_ms.p50")))
		tile(fp, "", "remote latency p50 / p95 (ms)", "%.0f / %.0f", num(r, "latency_remote_ms.p50"),
		     num(r, "latency_remote_ms.p95"));
	else if (json_is_number(at(r, "latency_ms.p50")))
		tile(fp, "", "latency p50 / p95 (ms)", "%.0f / %.0f", num(r, "latency_ms.p50"), num(r, "latency_ms.p95"));
	if (json_is_number(at(r, "throughput.tasks_per_s")))
		tile(fp, "", "tasks per second", "%.2f", num(r, "throughput.tasks_per_s"));
	tile(fp, "", "duration (s)", "%.1f", num(r, "timings.duration_s"));
	fputs("</div>\n", fp);
}

static void put_swatch(FILE *fp, const char *state, const json_t *n)
{
	fprintf(fp, "<span><svg class=\"sw\" width=\"10\" height=\"10\" xmlns=\"http://www.w3.org/2000/svg\">"
		"<rect width=\"10\" height=\"10\" rx=\"2\" fill=\"%s\"/></svg> ", colour_of(state));
	put_text(fp, state);
	fprintf(fp, " %lld</span>", (long long)json_integer_value(n));
}

/* The tasks by state as one stacked bar and a legend. */
static void put_state_bar(FILE *fp, const json_t *r)
{
	const json_t *st = at(r, "tasks.by_state");
	double total = num(r, "tasks.total"), x = 0;
	const char *state;
	json_t *v;

	fputs("<section><h2>Tasks by state</h2>\n", fp);
	if (total <= 0) {
		fputs("<p class=\"muted\">no tasks</p></section>\n", fp);
		return;
	}
	fputs("<svg width=\"100%\" height=\"22\" viewBox=\"0 0 1000 22\" preserveAspectRatio=\"none\" "
	      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"tasks by state\">\n", fp);
	for (size_t i = 0; i < sizeof state_colours / sizeof *state_colours; i++) {
		double w = 1000 * num(st, state_colours[i].state) / total;

		if (w <= 0)
			continue;
		fprintf(fp, "<rect x=\"%.2f\" y=\"0\" width=\"%.2f\" height=\"22\" fill=\"%s\"/>\n", x, w,
			state_colours[i].colour);
		x += w;
	}
	fputs("</svg>\n<p class=\"legend\">", fp);
	/* The known states in the bar's order, then any other. */
	for (size_t i = 0; i < sizeof state_colours / sizeof *state_colours; i++)
		if ((v = json_object_get(st, state_colours[i].state)))
			put_swatch(fp, state_colours[i].state, v);
	json_object_foreach((json_t *)st, state, v)
		if (strcmp(colour_of(state), OTHER_COLOUR) == 0)
			put_swatch(fp, state, v);
	fputs("</p></section>\n", fp);
}

/* "done 12, failed 1" from a {state: n} object. */
static void put_states(FILE *fp, const json_t *states)
{
	const char *k;
	json_t *v;
	bool first = true;

	json_object_foreach((json_t *)states, k, v) {
		fputs(first ? "" : ", ", fp);
		put_text(fp, k);
		fprintf(fp, " %lld", (long long)json_integer_value(v));
		first = false;
	}
}

/* A table of report rows: each column shows one value of the row (a path
 * for at()) as text, a number, a list or states. */
enum col_kind { COL_TEXT, COL_NUM, COL_LIST, COL_STATES };

struct column {
	const char *title, *path;
	enum col_kind kind;
	int decimals;           /* COL_NUM: -1 as stored (integers), else fixed */
};

static void put_table(FILE *fp, const char *title, const json_t *rows, const struct column *cols,
		      size_t n_cols, const char *none)
{
	size_t i, j;
	json_t *row, *v;

	fprintf(fp, "<section><h2>%s</h2>\n<table><thead><tr>", title);
	for (size_t c = 0; c < n_cols; c++)
		fprintf(fp, "<th%s>%s</th>", cols[c].kind == COL_NUM ? " class=\"n\"" : "", cols[c].title);
	fputs("</tr></thead><tbody>\n", fp);
	json_array_foreach(rows, i, row) {
		fputs("<tr>", fp);
		for (size_t c = 0; c < n_cols; c++) {
			const json_t *val = at(row, cols[c].path);

			fputs(cols[c].kind == COL_NUM ? "<td class=\"n\">" : "<td>", fp);
			switch (cols[c].kind) {
			case COL_TEXT:
				put_json_text(fp, val);
				break;
			case COL_NUM:
				if (cols[c].decimals < 0)
					put_json_text(fp, val);
				else
					put_num(fp, val, cols[c].decimals);
				break;
			case COL_LIST:
				json_array_foreach(val, j, v) {
					fputs(j ? ", " : "", fp);
					put_json_text(fp, v);
				}
				break;
			case COL_STATES:
				put_states(fp, val);
				break;
			}
			fputs("</td>", fp);
		}
		fputs("</tr>\n", fp);
	}
	if (json_array_size(rows) == 0)
		fprintf(fp, "<tr><td colspan=\"%zu\" class=\"muted\">%s</td></tr>\n", n_cols, none);
	fputs("</tbody></table>\n", fp);
}

static void put_outputs(FILE *fp, const json_t *r)
{
	static const struct column cols[] = {
		{ "output", "output", COL_TEXT, 0 }, { "kind", "kind", COL_TEXT, 0 },
		{ "tasks", "total", COL_NUM, -1 }, { "states", "by_state", COL_STATES, 0 },
	};

	put_table(fp, "By output", at(r, "by_output"), cols, sizeof cols / sizeof *cols, "no tasks");
	fputs("</section>\n", fp);
}

static void put_providers(FILE *fp, const json_t *r)
{
	static const struct column cols[] = {
		{ "provider", "provider", COL_TEXT, 0 }, { "model", "model", COL_TEXT, 0 },
		{ "generators", "generators", COL_LIST, 0 }, { "generations", "generations", COL_NUM, -1 },
		{ "fallbacks", "fallbacks", COL_NUM, -1 }, { "tokens in", "tokens_in", COL_NUM, -1 },
		{ "tokens out", "tokens_out", COL_NUM, -1 }, { "cost", "cost", COL_NUM, 4 },
		{ "p50 ms", "latency_ms.p50", COL_NUM, 0 }, { "p95 ms", "latency_ms.p95", COL_NUM, 0 },
	};

	put_table(fp, "Generations by provider and model", at(r, "by_provider"), cols,
		  sizeof cols / sizeof *cols, "no generations in this run");
	fputs("<p class=\"muted\">latency over all generations: p50 ", fp);
	put_num(fp, at(r, "latency_ms.p50"), 1);
	fputs(" ms, p95 ", fp);
	put_num(fp, at(r, "latency_ms.p95"), 1);
	fputs(" ms, mean ", fp);
	put_num(fp, at(r, "latency_ms.mean"), 1);
	fputs(" ms, max ", fp);
	put_num(fp, at(r, "latency_ms.max"), 1);
	fputs(" ms; throughput ", fp);
	put_num(fp, at(r, "throughput.tasks_per_s"), 2);
	fputs(" tasks/s, ", fp);
	put_num(fp, at(r, "throughput.generations_per_min"), 1);
	fputs(" generations/min over ", fp);
	put_num(fp, at(r, "throughput.window_s"), 1);
	fputs(" s</p></section>\n", fp);
}

static void put_cost(FILE *fp, const json_t *r)
{
	static const struct column cols[] = {
		{ "provider", "provider", COL_TEXT, 0 }, { "model", "model", COL_TEXT, 0 },
		{ "calls", "calls", COL_NUM, -1 }, { "ok", "ok", COL_NUM, -1 }, { "failed", "failed", COL_NUM, -1 },
		{ "tokens in", "tokens_in", COL_NUM, -1 }, { "tokens out", "tokens_out", COL_NUM, -1 },
		{ "cost", "cost", COL_NUM, 6 },
	};

	put_table(fp, "Cost ledger", at(r, "cost.by_provider"), cols, sizeof cols / sizeof *cols, "no remote calls");
	fputs("<p>total cost <b>", fp);
	put_num(fp, at(r, "cost.total"), 6);
	fputs("</b></p></section>\n", fp);
}

static void put_limits(FILE *fp, const json_t *r)
{
	fputs("<section><h2>Budget and deadline</h2>\n<table><tbody>\n<tr><th>budget</th><td>", fp);
	put_num(fp, at(r, "budget.budget"), 4);
	fputs("</td><th>spent</th><td>", fp);
	put_num(fp, at(r, "budget.spent"), 6);
	fputs("</td><th>stopped by it</th><td>", fp);
	put_json_text(fp, at(r, "budget.stopped"));
	fputs("</td><th>tasks it cancelled</th><td>", fp);
	put_json_text(fp, at(r, "budget.tasks_cancelled"));
	fputs("</td></tr>\n<tr><th>deadline</th><td>", fp);
	put_time(fp, at(r, "deadline.deadline"));
	fputs("</td><th>met</th><td>", fp);
	put_json_text(fp, at(r, "deadline.met"));
	fputs("</td><th>stopped by it</th><td>", fp);
	put_json_text(fp, at(r, "deadline.stopped"));
	fputs("</td><th>tasks it cancelled</th><td>", fp);
	put_json_text(fp, at(r, "deadline.tasks_cancelled"));
	fputs("</td></tr>\n</tbody></table></section>\n", fp);
}

/* Failure (or cancellation) groups: cause, count, example SKUs and message. */
static void put_groups(FILE *fp, const json_t *r, const char *key, const char *title, const char *none)
{
	const json_t *groups = at(r, key);
	size_t i, j;
	json_t *g, *s;

	fprintf(fp, "<section><h2>%s (", title);
	put_json_text(fp, at(at(r, key), "total"));
	fputs(")</h2>\n", fp);
	groups = at(groups, "groups");
	if (json_array_size(groups) == 0) {
		fprintf(fp, "<p class=\"muted\">%s</p></section>\n", none);
		return;
	}
	fputs("<table><thead><tr><th class=\"n\">count</th><th>cause</th><th>of</th><th>example SKUs</th>"
	      "<th>example message</th></tr></thead><tbody>\n", fp);
	json_array_foreach(groups, i, g) {
		if (i == GROUPS_SHOWN)
			break;
		fputs("<tr><td class=\"n\">", fp);
		put_json_text(fp, at(g, "count"));
		fputs("</td><td><code>", fp);
		put_json_text(fp, at(g, "cause"));
		fputs("</code></td><td>", fp);
		put_json_text(fp, at(g, "kind"));
		fputs(": ", fp);
		put_states(fp, at(g, "states"));
		fputs("</td><td>", fp);
		json_array_foreach(at(g, "example_skus"), j, s) {
			fputs(j ? ", " : "", fp);
			fputs("<code>", fp);
			put_json_text(fp, s);
			fputs("</code>", fp);
		}
		fputs("</td><td class=\"muted\">", fp);
		put_json_text(fp, at(g, "example"));
		fputs("</td></tr>\n", fp);
	}
	fputs("</tbody></table>\n", fp);
	if (json_array_size(groups) > GROUPS_SHOWN)
		fprintf(fp, "<p class=\"muted\">%zu more causes, smaller ones, are in the JSON report.</p>\n",
			json_array_size(groups) - GROUPS_SHOWN);
	if (json_is_true(at(at(r, key), "truncated")))
		fprintf(fp, "<p class=\"muted\">Grouped: the first %lld; the counts above leave the rest out.</p>\n",
			(long long)json_integer_value(at(at(r, key), "grouped")));
	fputs("</section>\n", fp);
}

static void put_timings(FILE *fp, const json_t *r)
{
	static const char *const rows[][2] = {
		{ "started", "timings.started_at" }, { "last task planned", "timings.planned_at" },
		{ "first result", "timings.first_result_at" }, { "last result", "timings.last_result_at" },
		{ "finished", "timings.finished_at" },
	};

	fputs("<section><h2>Timings (UTC)</h2>\n<table><tbody>\n", fp);
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		fprintf(fp, "<tr><th>%s</th><td>", rows[i][0]);
		put_time(fp, at(r, rows[i][1]));
		fputs("</td></tr>\n", fp);
	}
	fputs("<tr><th>duration</th><td>", fp);
	put_num(fp, at(r, "timings.duration_s"), 3);
	fputs(" s</td></tr>\n</tbody></table></section>\n", fp);
}

int report_html_write(FILE *fp, const json_t *r, struct err *e)
{
	char style_hash[64];

	csp_hash(page_css, style_hash);
	fputs("<!DOCTYPE html>\n<html lang=\"en\" xmlns=\"http://www.w3.org/1999/xhtml\">\n<head>\n"
	      "<meta charset=\"utf-8\"/>\n", fp);
	fprintf(fp, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src %s; "
		"img-src 'none'; base-uri 'none'; form-action 'none'\"/>\n", style_hash);
	fputs("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>skugen ", fp);
	put_json_text(fp, at(r, "run.kind"));
	fprintf(fp, " %lld: report</title>\n<style>", (long long)json_integer_value(at(r, "run.id")));
	fputs(page_css, fp);
	fputs("</style>\n</head>\n<body>\n", fp);
	put_header(fp, r);
	fputs("<main>\n", fp);
	put_tiles(fp, r);
	put_state_bar(fp, r);
	put_groups(fp, r, "failures", "Failures by cause", "no failures");
	put_outputs(fp, r);
	put_providers(fp, r);
	put_cost(fp, r);
	put_limits(fp, r);
	put_groups(fp, r, "cancelled", "Cancelled tasks by reason", "no task was cancelled");
	put_timings(fp, r);
	fputs("</main>\n<footer>report version ", fp);
	put_json_text(fp, at(r, "report_version"));
	fputs(", generated ", fp);
	put_time(fp, at(r, "generated_at"));
	fputs(" by skugen; the same numbers are in <code>skugen report RUN --json FILE</code></footer>\n"
	      "</body>\n</html>\n", fp);
	if (ferror(fp))
		return err_set(e, ERR_IO, "writing the report page failed");
	return 0;
}
