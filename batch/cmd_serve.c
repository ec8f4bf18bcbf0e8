/* cmd_serve.c: `skugen serve`, the HTTP API in the foreground until SIGINT
 * or SIGTERM (see batch/serve.h for the routes). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/cli.h"
#include "batch/serve.h"

#define TOKEN_MIN_BYTES 16

int cmd_serve(int argc, char **argv)
{
	static const char usage_text[] =
		"usage: skugen serve [--listen ADDR:PORT]\n"
		"\n"
		"Serves the HTTP API until SIGINT or SIGTERM:\n"
		"  GET  /healthz            200 when the store answers\n"
		"  POST /v1/regenerate      {\"skus\": [...], \"outputs\": [...], \"force\": false}\n"
		"                           -> 202 {\"job_id\": N}: a `skugen regen` run\n"
		"  GET  /v1/jobs/ID         the job's state, task counts and results\n"
		"  POST /v1/webhooks/fal    fal webhooks, checked against serve.fal_jwks\n"
		"Requests but /healthz and the webhook need \"Authorization: Bearer TOKEN\",\n"
		"TOKEN being the value of the environment variable SKUGEN_API_TOKEN (at least\n"
		"16 bytes; never in the configuration).  Limits and the JWKS are set in the\n"
		"configuration's \"serve\" object.\n"
		"\n"
		"  -l, --listen ADDR:PORT  where to listen (default serve.listen, else\n"
		"                          127.0.0.1:8080; port 0 picks a free one)\n"
		"\n"
		"exit codes: 0 stopped by a signal; 2 configuration error; 3 cannot reach the\n"
		"  store or listen\n";
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *token = getenv("SKUGEN_API_TOKEN");
	struct settings s;
	struct serve_opts o;
	struct serve *srv = NULL;
	sigset_t stop;
	struct err e;
	int c, sig = 0, code;

	while ((c = getopt_long(argc, argv, "l:c:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		default:
			if (cli_option(c, usage_text, &code))
				return code;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "skugen serve: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!token || strlen(token) < TOKEN_MIN_BYTES) {
		fprintf(stderr, "skugen serve: SKUGEN_API_TOKEN %s: set it to a secret of at least %d bytes "
			"(clients send it as \"Authorization: Bearer TOKEN\")\n",
			token ? "is too short" : "is not set", TOKEN_MIN_BYTES);
		return EXIT_USAGE;
	}
	err_clear(&e);
	memset(&o, 0, sizeof o);
	if (cli_settings(&s, true, &e) < 0)
		return cli_fail(&e);
	if (settings_require_pipeline(&s, &e) < 0 || serve_opts_from_settings(&o, &s, &e) < 0)
		goto fail;
	if (listen)
		o.listen = listen;
	o.token = token;
	/* The handler threads inherit this mask: only sigwait below sees the
	 * signals that stop the server. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (serve_start(&srv, &o, &e) < 0)
		goto fail;
	if (serve_warning(srv))
		fprintf(stderr, "skugen serve: warning: %s\n", serve_warning(srv));
	if (!cli.quiet) {
		const char *colon = strrchr(o.listen, ':');

		printf("skugen serve: listening on http://%.*s:%u\n", (int)(colon - o.listen), o.listen,
		       serve_port(srv));
		fflush(stdout);
	}
	sigwait(&stop, &sig);
	if (!cli.quiet)
		fprintf(stderr, "skugen serve: %s: stopping\n", sig == SIGINT ? "interrupted" : "terminated");
	serve_stop(srv);
	serve_opts_free(&o);
	settings_free(&s);
	return EXIT_ALL_DONE;
fail:
	code = cli_fail(&e);
	serve_opts_free(&o);
	settings_free(&s);
	return code;
}
