/* fake_proc.c: start and stop a fake server as a child process (see
 * fake_proc.h). */
#include "tests/support/fake_proc.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/buf.h"

#define MAX_ARGS 64
#define WAIT_MS 10000

void fake_proc_path(const char *name, char *out, size_t cap)
{
	const char *env = getenv("SKUGEN_FAKES");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, cap, "%s/%s", env, name);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(out, cap, "%s/../fakes/%s", self, name);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, cap, "build/fakes/%s", name);
}

/* The first line the child prints, up to WAIT_MS: 0, or -1. */
static int read_line(int fd, char *line, size_t cap)
{
	size_t got = 0;

	line[0] = '\0';
	while (got < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) <= 0)
			return -1;
		n = read(fd, line + got, cap - 1 - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		line[got] = '\0';
		if (strchr(line, '\n'))
			return 0;
	}
	return -1;
}

int fake_proc_start(struct fake_proc *f, const char *name, const char *const *args)
{
	char bin[PATH_MAX + 64], line[256];
	const char *argv[MAX_ARGS + 2];
	size_t argc = 0;
	int fds[2];

	f->pid = 0;
	f->url[0] = '\0';
	fake_proc_path(name, bin, sizeof bin);
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "no fake at %s (set SKUGEN_FAKES; build it with make %s)\n", bin, bin);
		return -1;
	}
	argv[argc++] = bin;
	for (size_t i = 0; args && args[i]; i++) {
		if (argc > MAX_ARGS) {
			fprintf(stderr, "%s: more than %d arguments\n", name, MAX_ARGS);
			return -1;
		}
		argv[argc++] = args[i];
	}
	argv[argc] = NULL;
	if (pipe(fds) < 0) {
		perror("pipe");
		return -1;
	}
	f->pid = fork();
	if (f->pid < 0) {
		perror("fork");
		f->pid = 0;
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (f->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	if (read_line(fds[0], line, sizeof line) < 0 ||
	    sscanf(line, "listening on %63s", f->url) != 1) {
		close(fds[0]);
		fprintf(stderr, "%s did not say where it listens\n", name);
		fake_proc_stop(f);
		return -1;
	}
	close(fds[0]);
	return 0;
}

static size_t collect(char *p, size_t size, size_t n, void *cls)
{
	return buf_append(cls, p, size * n) < 0 ? 0 : size * n;
}

json_t *fake_proc_call(const struct fake_proc *f, const char *method, const char *path,
		       const char *body, long *status)
{
	struct buf b = BUF_INIT;
	char url[512];
	CURL *c = curl_easy_init();
	json_t *j = NULL;

	if (status)
		*status = 0;
	if (!c)
		return NULL;
	snprintf(url, sizeof url, "%s%s", f->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);   /* a hung fake fails the test */
	if (curl_easy_perform(c) == CURLE_OK) {
		if (status)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		j = json_loads(buf_str(&b), 0, NULL);
	}
	curl_easy_cleanup(c);
	buf_free(&b);
	return j;
}

void fake_proc_stop(struct fake_proc *f)
{
	int status;

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, &status, 0);
	}
	f->pid = 0;
}
