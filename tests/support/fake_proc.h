/* fake_proc.h: a fake server (tests/fakes/fake_NAME) run as a child process
 * for a test or a benchmark: started on a free port, its base URL read from
 * the "listening on URL" line it prints, its /_fake/ hooks called, stopped
 * with SIGTERM.  Linked into every unit test (Makefile: TEST_SUPPORT_OBJS)
 * and every benchmark (bench_objs): it needs libcurl, jansson and
 * common/buf.c, which both link anyway, and not cmocka. */
#ifndef SKUGEN_TESTS_FAKE_PROC_H
#define SKUGEN_TESTS_FAKE_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct fake_proc {
	pid_t pid;       /* 0 when not running */
	char url[64];    /* "http://127.0.0.1:PORT", no trailing slash */
};

/* Where the fake named name (e.g. "fake_llm") is: $SKUGEN_FAKES/name, else
 * ../fakes/name beside this program's folder when it is there (build/tests
 * and build/bench/NAME's build/bench both lead to build/fakes), else
 * build/fakes/name. */
void fake_proc_path(const char *name, char *out, size_t cap);

/* Start the fake named name with args (NULL-terminated, without the program
 * name; NULL for none) and wait up to 10 s for its URL.  The child gets
 * SIGTERM if this process dies first.  0, or -1 after a line on stderr (a
 * child that started is stopped again). */
int fake_proc_start(struct fake_proc *f, const char *name, const char *const *args);

/* Call the fake's hook path (e.g. "/_fake/stats"): method "GET" or "POST"
 * (body NULL: empty), straight to it (no proxy).  The answer as JSON (new),
 * NULL when none came or it is not JSON; *status (may be NULL) the HTTP
 * status, 0 when no answer came. */
json_t *fake_proc_call(const struct fake_proc *f, const char *method, const char *path,
		       const char *body, long *status);

/* SIGTERM the fake and reap it; f->pid is 0 after.  A fake that never
 * started (pid 0) is fine. */
void fake_proc_stop(struct fake_proc *f);

#endif
