/* akeneo.c: the Akeneo pull benchmark (bench.h): products per second read
 * through conn_akeneo_ops from the fake Akeneo answering each page after
 * 20 ms, against the bound that 4 requests in flight would set
 * (4 x page_size / latency), and against the bound of one search_after
 * chain (page_size / latency): each page's next link arrives with the page,
 * so a reader that follows the links cannot have two pages of one chain in
 * flight at once.
 *
 * The fake is $SKUGEN_FAKES/fake_akeneo, else ../fakes/fake_akeneo beside
 * this program's folder (build/bench/connectors -> build/fakes), else
 * build/fakes/fake_akeneo (tests/support/fake_proc.c). */
#include "bench/connectors/bench.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "connectors/akeneo.h"
#include "bench/common/bench_util.h"
#include "tests/support/fake_proc.h"

#define PRODUCTS 20000
#define PAGE_SIZE 100
#define LATENCY_MS 20
#define IN_FLIGHT 4
#define GOAL 0.9

static int write_catalog(const char *path, int n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	for (int i = 0; i < n; i++) {
		uint32_t h = (uint32_t)i * 2654435761u;

		fprintf(f, "{\"uuid\":\"%08x-%04x-4%03x-8%03x-%012x\",\"enabled\":true,"
			"\"family\":\"clothing\",\"categories\":[\"summer\",\"women\"],\"groups\":[],"
			"\"parent\":null,\"values\":{"
			"\"sku\":[{\"locale\":null,\"scope\":null,\"data\":\"BENCH-%06d\","
			"\"attribute_type\":\"pim_catalog_identifier\"}],"
			"\"name\":[{\"locale\":\"en_US\",\"scope\":null,\"data\":\"Linen shirt %d\"},"
			"{\"locale\":\"de_DE\",\"scope\":null,\"data\":\"Leinenhemd %d\"}],"
			"\"description\":[{\"locale\":\"en_US\",\"scope\":\"ecommerce\",\"data\":"
			"\"A relaxed linen shirt with a camp collar, coconut buttons and a straight "
			"hem, cut for warm evenings.\"},{\"locale\":\"de_DE\",\"scope\":\"ecommerce\","
			"\"data\":\"Ein lockeres Leinenhemd mit Reverskragen.\"}],"
			"\"price\":[{\"locale\":null,\"scope\":null,\"data\":[{\"amount\":\"%d.90\","
			"\"currency\":\"EUR\"},{\"amount\":\"%d.00\",\"currency\":\"USD\"}]}],"
			"\"weight\":[{\"locale\":null,\"scope\":null,\"data\":{\"amount\":\"0.3\","
			"\"unit\":\"KILOGRAM\"}}],"
			"\"color\":[{\"locale\":null,\"scope\":null,\"data\":\"sand\"}],"
			"\"size\":[{\"locale\":null,\"scope\":null,\"data\":\"m\"}],"
			"\"material\":[{\"locale\":null,\"scope\":null,\"data\":[\"linen\"]}]},"
			"\"created\":\"2024-01-01T00:00:00+00:00\","
			"\"updated\":\"2024-02-%02dT08:00:00+00:00\"}\n",
			h, (unsigned)i & 0xffff, (unsigned)(h >> 20) & 0xfff, (unsigned)i & 0xfff,
			(unsigned)i, i, i, i, 20 + i % 80, 22 + i % 80, 1 + i % 28);
	}
	return fclose(f) == 0 ? 0 : -1;
}

int bench_akeneo(void)
{
	char dir[] = "/tmp/skugen-bench-akeneo-XXXXXX", catalog[64], latency[16], text[512];
	struct conn *c = NULL;
	struct record_batch b = { 0 };
	struct conn_akeneo_stats cs;
	struct err e;
	json_t *cfg = NULL;
	struct fake_proc fake = { 0 };
	size_t n = 0, bad = 0;
	double t0, took, pps, bound4, bound1;
	int rc = -1;

	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench_akeneo: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(catalog, sizeof catalog, "%s/products.jsonl", dir);
	if (write_catalog(catalog, PRODUCTS) < 0) {
		fprintf(stderr, "bench_akeneo: cannot write %s\n", catalog);
		goto out;
	}
	snprintf(latency, sizeof latency, "%d", LATENCY_MS);
	if (fake_proc_start(&fake, "fake_akeneo",
			    (const char *const[]){ "--products", catalog, "--latency-ms", latency, NULL }) < 0)
		goto out;
	setenv("AKENEO_CLIENT_ID", "client", 1);
	setenv("AKENEO_SECRET", "secret", 1);
	setenv("AKENEO_USERNAME", "admin", 1);
	setenv("AKENEO_PASSWORD", "admin", 1);
	snprintf(text, sizeof text, "{\"type\":\"akeneo\",\"base_url\":\"%s\",\"locale\":\"en_US\","
		 "\"scope\":\"ecommerce\",\"page_size\":%d}", fake.url, PAGE_SIZE);
	cfg = json_loads(text, 0, NULL);
	if (!cfg || record_batch_init(&b, 1000) < 0)
		goto out;

	t0 = bench_now();
	if (conn_akeneo_ops.open(&c, cfg, &(struct conn_open_opts){ .base_dir = dir }, &e) < 0) {
		fprintf(stderr, "bench_akeneo: %s\n", e.msg);
		goto out;
	}
	for (;;) {
		if (conn_akeneo_ops.next(c, &b, &e) < 0) {
			fprintf(stderr, "bench_akeneo: %s\n", e.msg);
			goto out;
		}
		if (b.len == 0)
			break;
		n += b.len;
		for (size_t i = 0; i < b.len; i++)
			bad += b.items[i].error != NULL;
	}
	took = bench_now() - t0;
	conn_akeneo_get_stats(c, &cs);
	if (n != PRODUCTS || bad) {
		fprintf(stderr, "bench_akeneo: read %zu products (%zu bad), expected %d\n", n, bad,
			PRODUCTS);
		goto out;
	}
	pps = (double)n / took;
	bound4 = IN_FLIGHT * PAGE_SIZE / (LATENCY_MS / 1000.0);
	bound1 = PAGE_SIZE / (LATENCY_MS / 1000.0);
	printf("akeneo_pull_ratio: %.2f (goal: >= %.1f of the 4-in-flight bound, %.0f products/s) %s\n",
	       pps / bound4, GOAL, bound4, pps / bound4 >= GOAL ? "met" : "missed");
	printf("akeneo_pull_chain_ratio: %.2f (goal: >= %.1f of one search_after chain, %.0f "
	       "products/s) %s\n", pps / bound1, GOAL, bound1, pps / bound1 >= GOAL ? "met" : "missed");
	printf("akeneo_pull_products_per_s: %.0f (%d products, %lu pages, %lu requests, %.2f s, "
	       "%d ms latency)\n", pps, PRODUCTS, cs.pages, cs.requests, took, LATENCY_MS);
	fflush(stdout);
	rc = 0;
out:
	conn_akeneo_ops.close(c);
	record_batch_free(&b);
	json_decref(cfg);
	fake_proc_stop(&fake);
	bench_rm_rf(dir);
	return rc;
}
