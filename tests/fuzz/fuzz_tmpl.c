/* fuzz_tmpl.c: libFuzzer target for the template engine.
 *
 * Input: TEMPLATE \0 JSON-DATA \0 PARTIAL-a \0 PARTIAL-b (later parts
 * optional; data defaults to {}).  Compiles the template (partials "a" and
 * "b" available, missing partials allowed or not by the input's parity),
 * renders it in the four strict/escape modes under small limits, and checks
 * the projection oracle: rendering tmpl_project()'s result must give the same
 * bytes and the same error as rendering the data.  A mismatch aborts.
 *
 * fuzz-sources: templates/tmpl_[a-z]*.c common/buf.c common/err.c common/hash.c common/utf8.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "templates/tmpl.h"

static const char *part(const uint8_t *data, size_t size, size_t *pos, size_t *len)
{
	const uint8_t *start, *nul;

	if (*pos > size)
		return NULL;
	start = data + *pos;
	nul = memchr(start, 0, size - *pos);
	*len = nul ? (size_t)(nul - start) : size - *pos;
	*pos += *len + 1;
	return (const char *)start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0, tl = 0, dl = 0, al = 0, bl = 0;
	const char *tsrc = part(data, size, &pos, &tl);
	const char *dsrc = part(data, size, &pos, &dl);
	const char *asrc = part(data, size, &pos, &al);
	const char *bsrc = part(data, size, &pos, &bl);
	struct tmpl_lib *lib = tmpl_lib_new();
	const struct tmpl *t;
	json_t *d = NULL, *proj = NULL, *paths;
	struct err e;
	bool bounded = true;

	if (!lib || !tsrc)
		goto out;
	tmpl_lib_set_missing_partials_ok(lib, size & 1);
	if (tmpl_lib_add(lib, "t", tsrc, tl, &e) < 0)
		goto out;
	if (asrc)
		tmpl_lib_add(lib, "a", asrc, al, &e);
	if (bsrc)
		tmpl_lib_add(lib, "b", bsrc, bl, &e);
	t = tmpl_lib_get(lib, "t", &e);
	if (!t)
		goto out;
	if (strlen(tmpl_sha256(t)) != 64)
		abort();
	if (dsrc)
		d = json_loadb(dsrc, dl, JSON_DECODE_ANY, NULL);
	if (!d)
		d = json_object();
	paths = tmpl_read_paths(t);
	json_decref(paths);
	for (int mode = 0; mode < 4; mode++) {
		struct tmpl_opts o = { .strict = mode & 1, .escape_html = (mode & 2) != 0,
				       .max_output = 1 << 20, .max_steps = 20000 };
		struct buf out = BUF_INIT;

		if (tmpl_render(t, d, &o, &out, &e) < 0 &&
		    (strstr(e.msg, "steps") || strstr(e.msg, "output larger")))
			bounded = false;
		buf_free(&out);
	}
	/* The projection repeats the render's reads, so it costs a render: only
	 * when the render above stayed within the limits. */
	if (!bounded)
		goto out;
	proj = tmpl_project(t, d);
	if (!proj)
		abort();
	for (int mode = 0; mode < 4; mode++) {
		struct tmpl_opts o = { .strict = mode & 1, .escape_html = (mode & 2) != 0,
				       .max_output = 1 << 20, .max_steps = 20000 };
		struct buf a = BUF_INIT, b = BUF_INIT;
		struct err ea, eb;
		int ra, rb;

		err_clear(&ea);
		err_clear(&eb);
		ra = tmpl_render(t, d, &o, &a, &ea);
		rb = tmpl_render(t, proj, &o, &b, &eb);
		if (ra != rb || a.len != b.len || memcmp(buf_str(&a), buf_str(&b), a.len) ||
		    strcmp(ea.msg, eb.msg)) {
			fprintf(stderr, "projection oracle failed (mode %d)\nfull: %d %s | %s\nproj: %d %s | %s\n",
				mode, ra, buf_str(&a), ea.msg, rb, buf_str(&b), eb.msg);
			abort();
		}
		buf_free(&a);
		buf_free(&b);
	}
out:
	json_decref(proj);
	json_decref(d);
	tmpl_lib_free(lib);
	return 0;
}
