/* bench/templates: template rendering throughput and allocations.
 *
 * Generates 1,000,000 product records (jansson objects: sku, name, brand,
 * category, price {amount, currency}, materials[], colours[], sizes[],
 * features[], attributes{}, a long summary) in chunks of 100,000, built before
 * timing, and renders a description prompt (sections, joins, truncate,
 * money, ~40 tags, about 600 bytes out) against each on one thread.  Only the
 * render loop is timed.  The output buffer is reused across renders, as a
 * worker does (buf_reset).
 *
 * Allocations are counted honestly: this program defines malloc, calloc,
 * realloc, free and the aligned variants itself, forwarding to glibc's
 * __libc_* functions, so every allocation in the process (the engine,
 * jansson, libc internals) is seen.  Counting is on only during the timed
 * loop; realloc counts its full new size.  Under AddressSanitizer, which owns
 * malloc, the count is not available and the goal is reported as missed.
 *
 * The last two lines are the verdicts:
 *   renders_per_second: N (goal: >= 200000) met|missed
 *   bytes_allocated_per_render: X (goal: <= 64) met|missed
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "templates/tmpl.h"
#include "bench/common/bench_util.h"

#define RECORDS 1000000
#define CHUNK 100000
#define GOAL_RPS 200000.0
#define GOAL_BYTES 64.0

#if defined(__SANITIZE_ADDRESS__)
#define COUNTING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define COUNTING 0
#endif
#endif
#ifndef COUNTING
#define COUNTING 1
#endif

static int counting;
static unsigned long long alloc_calls, alloc_bytes;

#if COUNTING
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

void *malloc(size_t n)
{
	if (counting) {
		alloc_calls++;
		alloc_bytes += n;
	}
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	if (counting) {
		alloc_calls++;
		alloc_bytes += a * b;
	}
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	if (counting) {
		alloc_calls++;
		alloc_bytes += n;
	}
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}

void *memalign(size_t al, size_t n)
{
	if (counting) {
		alloc_calls++;
		alloc_bytes += n;
	}
	return __libc_memalign(al, n);
}

void *aligned_alloc(size_t al, size_t n)
{
	return memalign(al, n);
}

int posix_memalign(void **out, size_t al, size_t n)
{
	void *p = memalign(al, n);

	if (!p)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}
#endif

static const char *const description_tmpl =
	"{{! The description prompt the benchmark renders: ~40 tags. }}\n"
	"You write product copy for an online shop.\n"
	"Product: {{brand}} {{name}} (SKU {{sku}}), category {{category | lower}}.\n"
	"Price: {{price | money}}{{#sale_price}}, on sale for {{sale_price | money}}{{/sale_price}}.\n"
	"\n"
	"Source text: {{summary | truncate:160:\"…\"}}\n"
	"\n"
	"{{#materials.0}}\n"
	"Materials: {{materials | join:\", \":\" and \"}}.\n"
	"{{/materials.0}}\n"
	"{{#colours.0}}\n"
	"Colours: {{colours | join:\", \":\" and \"}}.\n"
	"{{/colours.0}}\n"
	"{{#sizes.0}}\n"
	"Sizes: {{sizes | join}}.\n"
	"{{/sizes.0}}\n"
	"{{#attributes}}\n"
	"Fit: {{fit | capitalize}}; neckline: {{neckline | default:\"classic\"}}; weight: {{weight_g}} g.\n"
	"Care: {{care | trim}}.\n"
	"{{/attributes}}\n"
	"Key features:\n"
	"{{#features}}\n"
	"- {{.}}\n"
	"{{/features}}\n"
	"{{^features}}\n"
	"- none listed\n"
	"{{/features}}\n"
	"Write a {{tone | default:\"friendly\"}} description of about {{words | default:120}} words "
	"for {{brand | upper}}. Mention the {{category}} category once and never the price.\n";

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

static const char *const brands[] = { "Kestrel", "Atelier Brume", "Nordlys", "Fjällgrün", "Maison Ocre",
				      "Tidewater", "Halden & Co", "Pikku" };
static const char *const adjectives[] = { "Merino", "Lightweight", "Organic", "Recycled", "Heavyweight",
					  "Stretch", "Quilted", "Waterproof", "Brushed", "Relaxed" };
static const char *const materials_list[] = { "cotton", "merino wool", "linen", "recycled polyester",
					      "elastane", "Tencel lyocell", "silk", "hemp", "cashmere" };
static const char *const nouns[] = { "Crew Neck Base Layer", "Camp Shirt", "Rain Shell Jacket",
				     "Chino Trousers", "Hoodie", "Puffer Vest", "Knit Beanie", "Polo" };
static const char *const categories[] = { "Apparel", "Outdoor", "Knitwear", "Accessories" };
static const char *const colours_list[] = { "Ecru", "Sage", "Navy", "Black", "Rust", "Oat", "Forest",
					    "Slate", "Mustard" };
static const char *const sizes_list[] = { "XS", "S", "M", "L", "XL", "XXL" };
static const char *const fits[] = { "slim", "regular", "relaxed", "oversized" };
static const char *const features_list[] = {
	"Two-way zip with storm flap", "Flatlock seams that do not chafe", "Odour-resistant fibres",
	"Packs into its own pocket", "Reinforced elbows", "Thumb loops to keep sleeves in place",
	"Reflective trims for dusk", "Brushed inner face for warmth",
};
static const char *const summary_words[] = {
	"soft", "breathable", "made", "for", "long", "days", "on", "the", "trail", "and", "in",
	"town", "with", "a", "clean", "look", "that", "layers", "easily", "under", "shells",
	"über", "größe", "naturally", "temperature-regulating", "yarn",
};

static json_t *string_array(const char *const *pool, size_t pool_n, uint32_t max)
{
	json_t *a = json_array();
	uint32_t n = rnd(max + 1);

	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(pool[rnd((uint32_t)pool_n)]));
	return a;
}

static json_t *make_record(unsigned i)
{
	char sku[32], name[128], summary[512];
	size_t o = 0;
	json_t *r = json_object(), *attrs = json_object();
	const char *brand = PICK(brands);
	uint32_t words = 30 + rnd(30);

	snprintf(sku, sizeof sku, "SKU-%07u", i);
	snprintf(name, sizeof name, "%s %s", PICK(adjectives), PICK(nouns));
	for (uint32_t w = 0; w < words && o + 40 < sizeof summary; w++)
		o += (size_t)snprintf(summary + o, sizeof summary - o, "%s%s", w ? " " : "",
				      PICK(summary_words));
	json_object_set_new(r, "sku", json_string(sku));
	json_object_set_new(r, "name", json_string(name));
	json_object_set_new(r, "brand", json_string(brand));
	json_object_set_new(r, "category", json_string(PICK(categories)));
	json_object_set_new(r, "price", json_pack("{s:f, s:s}", "amount", (5 + rnd(300)) + rnd(100) / 100.0,
						  "currency", rnd(4) ? "EUR" : "GBP"));
	if (!rnd(5))
		json_object_set_new(r, "sale_price", json_real(4.99 + rnd(50)));
	json_object_set_new(r, "summary", json_string(summary));
	json_object_set_new(r, "materials", string_array(materials_list, 9, 3));
	json_object_set_new(r, "colours", string_array(colours_list, 9, 4));
	json_object_set_new(r, "sizes", string_array(sizes_list, 6, 5));
	json_object_set_new(r, "features", string_array(features_list, 8, 4));
	json_object_set_new(attrs, "fit", json_string(PICK(fits)));
	if (rnd(2))
		json_object_set_new(attrs, "neckline", json_string(rnd(2) ? "crew" : "v-neck"));
	json_object_set_new(attrs, "weight_g", json_integer(120 + rnd(400)));
	json_object_set_new(attrs, "care", json_string("  machine wash at 30°C, do not tumble dry "));
	json_object_set_new(attrs, "country_of_origin", json_string("PT"));
	json_object_set_new(r, "attributes", attrs);
	json_object_set_new(r, "updated_at", json_string("2024-05-01T12:00:00Z"));
	json_object_set_new(r, "ean", json_string("4006381333931"));
	return r;
}

int main(void)
{
	struct tmpl_lib *lib = tmpl_lib_new();
	struct tmpl_opts o = TMPL_OPTS_PROMPT;
	struct buf out = BUF_INIT;
	const struct tmpl *t;
	struct err e;
	json_t **recs = calloc(CHUNK, sizeof *recs);
	double elapsed = 0, rps, per_render;
	unsigned long long out_bytes = 0, calls = 0, bytes = 0;
	unsigned tags = 0;

	if (!lib || !recs ||
	    tmpl_lib_add(lib, "bench/description", description_tmpl, strlen(description_tmpl), &e) < 0) {
		fprintf(stderr, "bench: setup failed\n");
		return 1;
	}
	t = tmpl_lib_get(lib, "bench/description", &e);
	if (!t) {
		fprintf(stderr, "bench: %s\n", e.msg);
		return 1;
	}
	for (const char *p = description_tmpl; (p = strstr(p, "{{")); p += 2)
		if (p[2] != '/' && p[2] != '!')
			tags++;
	printf("template: %u tags, sha256 %.12s...\n", tags, tmpl_sha256(t));
	for (unsigned base = 0; base < RECORDS; base += CHUNK) {
		double t0;

		for (unsigned i = 0; i < CHUNK; i++)
			recs[i] = make_record(base + i);
		if (base == 0) {
			if (tmpl_render(t, recs[0], &o, &out, &e) < 0) {
				fprintf(stderr, "bench: render: %s\n", e.msg);
				return 1;
			}
			printf("--- sample output (%zu bytes) ---\n%s--- end ---\n", out.len, buf_str(&out));
		}
		counting = 1;
		alloc_calls = alloc_bytes = 0;
		t0 = bench_now();
		for (unsigned i = 0; i < CHUNK; i++) {
			buf_reset(&out);
			if (tmpl_render(t, recs[i], &o, &out, &e) < 0) {
				counting = 0;
				fprintf(stderr, "bench: render of record %u: %s\n", base + i, e.msg);
				return 1;
			}
			out_bytes += out.len;
		}
		elapsed += bench_now() - t0;
		counting = 0;
		calls += alloc_calls;
		bytes += alloc_bytes;
		for (unsigned i = 0; i < CHUNK; i++)
			json_decref(recs[i]);
	}
	rps = RECORDS / elapsed;
	per_render = (double)bytes / RECORDS;
	printf("records: %d, render time: %.3f s, mean output: %.0f bytes, %.2f us per render\n", RECORDS,
	       elapsed, (double)out_bytes / RECORDS, elapsed * 1e6 / RECORDS);
	if (COUNTING)
		printf("allocations during renders: %llu calls, %llu bytes\n", calls, bytes);
	else
		printf("allocations: not counted (a sanitizer owns malloc)\n");
	printf("renders_per_second: %.0f (goal: >= %.0f) %s\n", rps, GOAL_RPS,
	       rps >= GOAL_RPS ? "met" : "missed");
	if (COUNTING)
		printf("bytes_allocated_per_render: %.1f (goal: <= %.0f) %s\n", per_render, GOAL_BYTES,
		       per_render <= GOAL_BYTES ? "met" : "missed");
	else
		printf("bytes_allocated_per_render: n/a (goal: <= %.0f) missed\n", GOAL_BYTES);
	buf_free(&out);
	free(recs);
	tmpl_lib_free(lib);
	return 0;
}
