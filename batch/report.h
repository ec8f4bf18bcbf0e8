/* report.h: the report of one run, as JSON and as an HTML page.
 *
 * Everything comes from the store (the run row, its tasks, provenance, cost
 * ledger and bad records), so a report can be written for any run, running
 * or finished, by any process.  The JSON document (report_version 1):
 *
 *   {"report_version": 1, "generated_at": TS,
 *    "run": {"id", "kind", "status", "message", "source", "config_path", "host",
 *            "pid", "skugen_version", "force"},
 *    "timings": {"started_at", "finished_at" (null while running),
 *                "duration_s", "planned_at" (last task planned),
 *                "first_result_at", "last_result_at"},
 *    "tasks": {"total", "by_state": {STATE: n}},
 *    "by_output": [{"output", "kind", "total", "by_state": {STATE: n}}],
 *    "by_provider": [{"provider" ("local" for local generators), "model",
 *                     "generators": [back-end, e.g. "llm"], "generations", "fallbacks",
 *                     "tokens_in", "tokens_out", "cost",
 *                     "latency_ms": {"p50", "p95", "mean", "max"}}],
 *    "cost": {"total", "currency_note", "by_provider": [{"provider", "model",
 *             "calls", "ok" (attempts without error), "failed", "tokens_in",
 *             "tokens_out", "cost"}]},
 *    "latency_ms": {"n", "p50", "p95", "mean", "max"},   (provenance.latency_ms)
 *    "latency_remote_ms": {same, over remote providers only (not "local")},
 *    "throughput": {"worked" (done + failed + dead), "window_s" (first task
 *                   started to last finished), "tasks_per_s",
 *                   "generations_per_min"},
 *    "budget": {"budget" (null: none), "spent", "remaining", "stopped",
 *               "tasks_cancelled"},
 *    "deadline": {"deadline" (null: none), "met" (null: unknown yet),
 *                 "stopped", "tasks_cancelled"},
 *    "failures": {"total" (failed and dead tasks + bad records), "tasks",
 *                 "records", "grouped" (rows in the groups: the first 200,000),
 *                 "truncated" (grouped < total),
 *                 "groups": [{"cause", "kind" ("task" | "record"),
 *                             "states": {STATE: n}, "count",
 *                             "example_skus": [up to 5], "example": MESSAGE}]},
 *    "cancelled": {"total", "tasks", "grouped", "truncated",
 *                  "groups": [same shape, cause: the reason]}}
 *
 * Times (TS) are ISO 8601 in UTC with milliseconds ("2026-11-26T09:45:12.345Z").
 * Percentiles are Postgres's percentile_cont over the run's provenance rows.
 * Failure groups are ordered by count, largest first; their cause is the
 * message with the SKU, ids and numbers taken out (report_cause).
 */
#ifndef SKUGEN_REPORT_H
#define SKUGEN_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

#include "batch/store.h"
#include "common/buf.h"
#include "common/err.h"

/* Build the report of run_id.  *out is new (json_decref it).  ERR_USAGE when
 * there is no such run; ERR_STORE when a query fails. */
int report_build(struct store *st, long run_id, json_t **out, struct err *e);

/* Build the report and write it: JSON to json_path and the page to
 * html_path (either may be NULL; "-" is stdout).  Files are written whole
 * or not at all (a temporary file renamed). */
int report_write(struct store *st, long run_id, const char *json_path, const char *html_path,
		 struct err *e);

/* The HTML page for a report (as report_build makes it) on out (borrowed).
 * Self-contained: inline style, no script, no external URL, a
 * Content-Security-Policy that allows nothing else; every text from the
 * store is escaped.  It is also well-formed XML (XHTML syntax). */
int report_html_write(FILE *out, const json_t *report, struct err *e);

/* Append to out the cause of a failure message: the SKU (given, or quoted
 * after "sku ") becomes <sku>, long ids and digit-heavy words <id>, numbers
 * '#' (an HTTP status after "http"/"status"/"code" stays), spaces squeezed,
 * cut at 200 bytes.  sku may be NULL.  -1 on no memory. */
int report_cause(const char *msg, const char *sku, struct buf *out);

#endif
