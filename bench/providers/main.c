/* bench/providers: skugen's provider pool against fake_llm, and the official
 * openai Node SDK beside it in the same run.
 *
 * The fake runs as a separate process, so the client's CPU (getrusage of
 * this process) excludes it.  Three runs:
 *
 *  1. throttled: 20,000 calls, the fake answering after 250 ms (+-25 ms) and
 *     enforcing 6,000 rpm (in one-second quanta, with OpenAI's 429 bodies and
 *     headers), skugen's bucket configured at 6,000 rpm, 512 in flight.  The
 *     bound is min(limit, in_flight / latency) = min(100/s, 2048/s); the
 *     ratio is calls / wall time over it.  Also: 429s the fake sent, calls
 *     lost (no successful outcome), client CPU per call.
 *  2. unthrottled: no latency, no limit, CALLS calls at CONCURRENCY in flight:
 *     calls per second with the fake sharing the machine's cores.
 *  3. the same as 2 through the openai Node SDK (bench/providers/node, npm ci
 *     when node_modules is missing): throughput and CPU-per-call ratios.
 * Each unthrottled run warms up first (WARMUP calls, not timed).
 *
 * Environment: SKUGEN_FAKES (default: the build's fakes/, as
 * tests/support/fake_proc.c finds them), SKUGEN_BENCH_THROTTLED_CALLS
 * (default 20000; fewer for a quick look).  The last lines are the verdicts,
 * "name: value (goal: ...) met|missed", computed from the measures.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/hash.h"
#include "providers/http.h"
#include "providers/provider.h"
#include "tests/support/fake_proc.h"

#define THROTTLED_RPM 6000.0
#define THROTTLED_LATENCY_MS 250.0
#define THROTTLED_IN_FLIGHT 512
#define CALLS 20000
#define CONCURRENCY 64
#define WARMUP 1000
#define NODE_DIR "bench/providers/node"

struct run {
	const char *name;
	long calls, ok, lost, n429;
	double wall_s, cpu_us, bound;
	bool measured;
	char note[1100];
};

/* ---- the fake ------------------------------------------------------------------ */

static long fake_429s(const struct fake_proc *f)
{
	json_t *s = fake_proc_call(f, "GET", "/_fake/stats", NULL, NULL);
	long n = (long)json_integer_value(json_object_get(json_object_get(json_object_get(s, "paths"),
									   "/v1/chat/completions"), "429"));

	json_decref(s);
	return n;
}

/* ---- skugen -------------------------------------------------------------------- */

struct tally {
	long done, ok;
	char first_error[512];
};

static void on_done(void *ctx, const struct prov_outcome *o)
{
	struct tally *t = ctx;

	t->done++;
	if (o->ok)
		t->ok++;
	else if (!t->first_error[0])
		snprintf(t->first_error, sizeof t->first_error, "%s", o->message);
}

static double cpu_us_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* n calls through a pool on f, max_in_flight at once, rpm (0: none).  Fills
 * wall, cpu, ok, lost. */
static int skugen_calls(const struct fake_proc *f, long n, long max_in_flight, double rpm, long warmup, struct run *r)
{
	char cfgtext[1024], prompt[160];
	struct prov_pool *p = NULL;
	struct tally t = { 0 };
	json_t *cfg, *params = json_pack("{s:i, s:f}", "max_tokens", 200, "temperature", 0.7);
	struct err e;
	double t0, c0;
	int rc = -1;

	snprintf(cfgtext, sizeof cfgtext,
		 "{\"openai\":{\"type\":\"openai\",\"base_url\":\"%s/v1\",\"api_key_env\":\"SKUGEN_BENCH_KEY\","
		 "\"rpm\":%.0f,\"max_in_flight\":%ld,\"max_attempts\":10,\"backoff_ms\":50,"
		 "\"prices\":{\"gpt-4o-mini\":{\"input_per_mtok\":0.15,\"output_per_mtok\":0.6}}}}",
		 f->url, rpm, max_in_flight);
	cfg = json_loads(cfgtext, 0, NULL);
	if (prov_pool_open(&p, cfg, &e) < 0) {
		snprintf(r->note, sizeof r->note, "prov_pool_open: %s", e.msg);
		goto out;
	}
	for (int phase = warmup > 0 ? 0 : 1; phase < 2; phase++) {
		long count = phase == 0 ? warmup : n;

		memset(&t, 0, sizeof t);
		t0 = http_now_ms();
		c0 = cpu_us_self();
		for (long i = 0; i < count; i++) {
			struct prov_call c = {
				.provider = "openai",
				.model = "gpt-4o-mini",
				.system = "You are a copywriter for an online shop.",
				.user = prompt,
				.params = params,
				.done = on_done,
				.ctx = &t,
			};

			snprintf(prompt, sizeof prompt,
				 "Write a product description for SKU %ld: linen shirt, relaxed fit, sand colour.", i);
			if (prov_submit(p, &c, &e) < 0) {
				snprintf(r->note, sizeof r->note, "prov_submit: %s", e.msg);
				goto out;
			}
		}
		while (prov_pool_pending(p) > 0)
			if (prov_pool_run(p, 1000) < 0) {
				snprintf(r->note, sizeof r->note, "prov_pool_run failed");
				goto out;
			}
		r->wall_s = (http_now_ms() - t0) / 1000;
		r->cpu_us = cpu_us_self() - c0;
	}
	r->calls = n;
	r->ok = t.ok;
	r->lost = n - t.ok;
	r->measured = true;
	if (t.first_error[0])
		snprintf(r->note, sizeof r->note, "first failure: %s", t.first_error);
	rc = 0;
out:
	prov_pool_free(p);
	json_decref(cfg);
	json_decref(params);
	return rc;
}

/* ---- the Node SDK ----------------------------------------------------------------- */

static bool have_sdk(char *why, size_t n)
{
	struct stat st;
	int rc;

	if (system("node --version >/dev/null 2>&1") != 0) {
		snprintf(why, n, "node is not installed");
		return false;
	}
	if (stat(NODE_DIR "/node_modules/openai/package.json", &st) == 0)
		return true;
	fprintf(stderr, "bench/providers: installing the openai SDK (npm ci in %s)\n", NODE_DIR);
	rc = system("cd " NODE_DIR " && npm ci --no-audit --no-fund >npm-ci.log 2>&1");
	if (rc != 0 || stat(NODE_DIR "/node_modules/openai/package.json", &st) != 0) {
		snprintf(why, n, "npm could not install the openai SDK (see %s/npm-ci.log)", NODE_DIR);
		return false;
	}
	return true;
}

static int node_calls(const struct fake_proc *f, long n, long conc, struct run *r)
{
	char cmd[512], out[1024] = "";
	json_t *j;
	FILE *pp;
	size_t got;

	if (!have_sdk(r->note, sizeof r->note))
		return -1;
	snprintf(cmd, sizeof cmd, "node " NODE_DIR "/bench.mjs %s/v1 %ld %ld %d 2>&1", f->url, n, conc, WARMUP);
	pp = popen(cmd, "r");
	if (!pp) {
		snprintf(r->note, sizeof r->note, "cannot run node: %s", strerror(errno));
		return -1;
	}
	got = fread(out, 1, sizeof out - 1, pp);
	out[got] = '\0';
	pclose(pp);
	j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	if (!j) {
		snprintf(r->note, sizeof r->note, "the node run failed: %.200s", out);
		return -1;
	}
	r->calls = n;
	r->ok = (long)json_integer_value(json_object_get(j, "ok"));
	r->lost = n - r->ok;
	r->wall_s = json_number_value(json_object_get(j, "wall_ms")) / 1000;
	r->cpu_us = json_number_value(json_object_get(j, "cpu_us"));
	r->measured = true;
	snprintf(r->note, sizeof r->note, "openai %s on node %s", json_string_value(json_object_get(j, "sdk")),
		 json_string_value(json_object_get(j, "node")));
	json_decref(j);
	return 0;
}

/* ---- the machine ------------------------------------------------------------------------ */

/* CPU of a fixed task (hashing 16 KiB) run back to back, and run after
 * 10 ms sleeps as a throttled client runs: a loaded machine evicts a
 * sleeper's caches, so the same work costs more.  Informational. */
static void calibrate(double *hot_us, double *cold_us)
{
	static char data[16384];
	char hex[HASH_HEX_LEN];
	double c0, c1, c2;
	int n = 200;

	memset(data, 'x', sizeof data);
	c0 = cpu_us_self();
	for (int i = 0; i < n; i++)
		sha256_hex(data, sizeof data, hex);
	c1 = cpu_us_self();
	for (int i = 0; i < n; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		sha256_hex(data, sizeof data, hex);
	}
	c2 = cpu_us_self();
	*hot_us = (c1 - c0) / n;
	*cold_us = (c2 - c1) / n;
}

/* ---- report ------------------------------------------------------------------------- */

static void row(const struct run *r)
{
	char bound[16] = "-", ratio[16] = "-";

	if (!r->measured) {
		printf("%-30s %s\n", r->name, r->note[0] ? r->note : "not measured");
		return;
	}
	if (r->bound > 0) {
		snprintf(bound, sizeof bound, "%.0f", r->bound);
		snprintf(ratio, sizeof ratio, "%.3f", (r->calls / r->wall_s) / r->bound);
	}
	printf("%-30s %7ld %7ld %5ld %6ld %8.1f %9.0f %8s %7s %11.1f\n", r->name, r->calls, r->ok, r->lost,
	       r->n429, r->wall_s, r->calls / r->wall_s, bound, ratio, r->cpu_us / r->calls);
}

static void verdict(const char *name, double v, const char *fmt, const char *goal, bool met)
{
	char val[64];

	snprintf(val, sizeof val, fmt, v);
	printf("%s: %s (goal: %s) %s\n", name, val, goal, met ? "met" : "missed");
}

int main(void)
{
	const char *nstr = getenv("SKUGEN_BENCH_THROTTLED_CALLS");
	long throttled_calls = nstr && atol(nstr) > 0 ? atol(nstr) : CALLS;
	struct run thr = { .name = "throttled (6000 rpm, 250 ms)" };
	struct run fast = { .name = "unthrottled, skugen" };
	struct run node = { .name = "unthrottled, openai Node SDK" };
	struct fake_proc f = { 0 };
	double load[3] = { 0 }, load_end[3] = { 0 }, hot = 0, cold = 0;
	struct rlimit rl;
	char rpm[32];
	const char *thr_args[] = { "--latency-ms", "250", "--jitter-ms", "25", "--rpm", rpm, "--burst-s", "1",
				   "--threads", "2", NULL };
	const char *fast_args[] = { "--threads", "2", NULL };

	curl_global_init(CURL_GLOBAL_DEFAULT);
	setenv("SKUGEN_BENCH_KEY", "sk-bench-0123456789", 1);
	setenv("OPENAI_API_KEY", "sk-bench-0123456789", 1);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getloadavg(load, 3);
	printf("bench/providers: skugen's provider pool against fake_llm (a separate process); %ld CPUs, "
	       "load %.2f %.2f %.2f at start\n", sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);

	/* 1. throttled */
	snprintf(rpm, sizeof rpm, "%.0f", THROTTLED_RPM);
	if (fake_proc_start(&f, "fake_llm", thr_args) == 0) {
		thr.bound = THROTTLED_RPM / 60 < THROTTLED_IN_FLIGHT / (THROTTLED_LATENCY_MS / 1000)
			    ? THROTTLED_RPM / 60 : THROTTLED_IN_FLIGHT / (THROTTLED_LATENCY_MS / 1000);
		fprintf(stderr, "bench/providers: %ld throttled calls (about %.0f s)\n", throttled_calls,
			throttled_calls / thr.bound);
		skugen_calls(&f, throttled_calls, THROTTLED_IN_FLIGHT, THROTTLED_RPM, 0, &thr);
		thr.n429 = fake_429s(&f);
		fake_proc_stop(&f);
	} else {
		snprintf(thr.note, sizeof thr.note, "the fake did not start");
	}

	/* 2 and 3: unthrottled, the same fake for both */
	if (fake_proc_start(&f, "fake_llm", fast_args) == 0) {
		fprintf(stderr, "bench/providers: %d unthrottled calls, %d in flight\n", CALLS, CONCURRENCY);
		skugen_calls(&f, CALLS, CONCURRENCY, 0, WARMUP, &fast);
		fprintf(stderr, "bench/providers: the same through the openai Node SDK\n");
		node_calls(&f, CALLS, CONCURRENCY, &node);
		fake_proc_stop(&f);
	} else {
		snprintf(fast.note, sizeof fast.note, "the fake did not start");
	}

	printf("\n%-30s %7s %7s %5s %6s %8s %9s %8s %7s %11s\n", "run", "calls", "ok", "lost", "429s", "wall_s",
	       "calls/s", "bound/s", "ratio", "cpu_us/call");
	row(&thr);
	row(&fast);
	row(&node);
	if (thr.note[0] && thr.measured)
		printf("  throttled: %s\n", thr.note);
	if (fast.note[0] && fast.measured)
		printf("  unthrottled: %s\n", fast.note);
	if (node.note[0] && node.measured)
		printf("  node: %s\n", node.note);
	calibrate(&hot, &cold);
	getloadavg(load_end, 3);
	printf("note: measured on a %ld-core machine shared with other builds and tests (load %.2f at start, "
	       "%.2f at the end); throughput and CPU figures may be depressed.  Here a fixed %.0f us task "
	       "costs %.0f us of CPU when it runs every 10 ms instead of back to back (x%.1f): the throttled "
	       "client wakes about 150 times a second.\n\n", sysconf(_SC_NPROCESSORS_ONLN), load[0], load_end[0],
	       hot, cold, cold / hot);

	{
		double ratio = thr.measured ? (thr.calls / thr.wall_s) / thr.bound : 0;
		double cpu = thr.measured ? thr.cpu_us / thr.calls : 0;
		double rps = fast.measured ? fast.calls / fast.wall_s : 0;
		double tput = fast.measured && node.measured ? (fast.calls / fast.wall_s) / (node.calls / node.wall_s) : 0;
		double cpur = fast.measured && node.measured ? (fast.cpu_us / fast.calls) / (node.cpu_us / node.calls) : 0;

		verdict("throttled_throughput_ratio", ratio, "%.3f", ">= 0.97", thr.measured && ratio >= 0.97);
		verdict("throttled_429s", (double)thr.n429, "%.0f", "<= 1% of calls",
			thr.measured && thr.n429 <= thr.calls / 100);
		verdict("throttled_calls_lost", (double)thr.lost, "%.0f", "0", thr.measured && thr.lost == 0);
		verdict("client_cpu_us_per_call", cpu, "%.1f", "<= 50", thr.measured && cpu <= 50);
		verdict("unthrottled_calls_per_second", rps, "%.0f", ">= 8000", fast.measured && rps >= 8000);
		if (!node.measured)
			printf("node_sdk: not measured: %s\n", node.note);
		verdict("node_sdk_throughput_ratio", tput, "%.2f", "skugen >= 5x the SDK",
			node.measured && tput >= 5);
		verdict("node_sdk_cpu_per_call_ratio", cpur, "%.4f", "skugen <= 0.05x the SDK",
			node.measured && cpur > 0 && cpur <= 0.05);
	}
	curl_global_cleanup();
	return 0;
}
