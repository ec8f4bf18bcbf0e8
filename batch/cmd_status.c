/* cmd_status.c: `skugen status [RUN]`: the last runs, their tasks by state. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/cli.h"

static const char usage_text[] =
	"usage: skugen status [--limit N] [RUN]\n"
	"\n"
	"Shows the last runs (default 10) with their tasks counted by state, and the\n"
	"generations in the store by status.  With RUN, that run's failures too.\n";

static const char *const runs_sql =
	"select r.id, r.kind, r.status, to_char(r.started_at, 'YYYY-MM-DD HH24:MI:SS'),\n"
	"  coalesce(to_char(r.finished_at - r.started_at, 'HH24:MI:SS'), '-'),\n"
	"  count(t.id), count(t.id) filter (where t.state = 'queued'),\n"
	"  count(t.id) filter (where t.state = 'running'),\n"
	"  count(t.id) filter (where t.state = 'done'),\n"
	"  count(t.id) filter (where t.state = 'skipped'),\n"
	"  count(t.id) filter (where t.state = 'failed'),\n"
	"  count(t.id) filter (where t.state = 'cancelled'),\n"
	"  (select count(*) from skugen.record_errors b where b.run_id = r.id)\n"
	"from skugen.runs r left join skugen.tasks t on t.run_id = r.id\n"
	"where $1::bigint is null or r.id = $1\n"
	"group by r.id order by r.id desc limit $2";

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct settings s;
	struct store *st = NULL;
	struct err e;
	PGresult *r = NULL;
	char limit[16] = "10";
	const char *run = NULL;
	int c, code = EXIT_ALL_DONE;

	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		if (c == 'n' && atoi(optarg) > 0) {
			snprintf(limit, sizeof limit, "%d", atoi(optarg));
		} else if (c == 'h') {
			fputs(usage_text, stdout);
			return EXIT_ALL_DONE;
		} else {
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		run = argv[optind];
		if (!cli_is_run_id(run)) {
			fprintf(stderr, "skugen status: RUN must be a run number, got \"%s\"\n", run);
			return EXIT_USAGE;
		}
	}
	err_clear(&e);
	if (cli_settings(&s, false, &e) < 0)
		return cli_fail(&e);
	if (cli_store(&s, &st, &e) < 0)
		goto fail;
	{
		const char *params[2] = { run, limit };

		r = store_query(st, runs_sql, 2, params, &e);
		if (!r)
			goto fail;
	}
	printf("%6s  %-5s  %-11s  %-19s  %8s  %7s %7s %7s %7s %7s %7s %7s  %s\n", "run", "kind", "status",
	       "started", "took", "tasks", "queued", "running", "done", "skipped", "failed", "cancel", "bad records");
	for (int i = 0; i < PQntuples(r); i++)
		printf("%6s  %-5s  %-11s  %-19s  %8s  %7s %7s %7s %7s %7s %7s %7s  %s\n",
		       PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
		       PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7),
		       PQgetvalue(r, i, 8), PQgetvalue(r, i, 9), PQgetvalue(r, i, 10), PQgetvalue(r, i, 11),
		       PQgetvalue(r, i, 12));
	if (PQntuples(r) == 0)
		printf("(no runs yet)\n");
	PQclear(r);
	r = store_query(st, "select status, count(*) from skugen.generations group by status order by status",
			0, NULL, &e);
	if (!r)
		goto fail;
	printf("\ngenerations:");
	for (int i = 0; i < PQntuples(r); i++)
		printf(" %s %s%s", PQgetvalue(r, i, 1), PQgetvalue(r, i, 0), i + 1 < PQntuples(r) ? "," : "");
	printf("%s\n", PQntuples(r) ? "" : " none");
	PQclear(r);
	r = NULL;
	if (run) {
		const char *params[1] = { run };

		r = store_query(st, "(select message from skugen.record_errors where run_id = $1 order by id)"
				    " union all (select coalesce(origin || ': ', '') || last_error"
				    " from skugen.tasks where run_id = $1 and state = 'failed' order by id)",
				1, params, &e);
		if (!r)
			goto fail;
		if (PQntuples(r))
			printf("\nfailures of run %s:\n", run);
		for (int i = 0; i < PQntuples(r); i++)
			printf("  %s\n", PQgetvalue(r, i, 0));
	}
	goto out;
fail:
	code = cli_fail(&e);
out:
	PQclear(r);
	store_close(st);
	settings_free(&s);
	return code;
}
