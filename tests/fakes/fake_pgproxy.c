/* fake_pgproxy.c: a proxy for Postgres's wire protocol on a unix socket that
 * loses the server's answer to a COMMIT: the transaction is committed, and
 * the client sees its connection drop before it hears so.  It tests that a
 * client which reconnects and sends the same work again stores nothing twice
 * (a dropped connection does not say whether the commit landed).
 *
 * Usage: fake_pgproxy --listen DIR --upstream DIR --port N [--arm TEXT] [--cuts N]
 *   listens on DIR/.s.PGSQL.N and forwards each connection to
 *   UPSTREAM/.s.PGSQL.N (libpq's socket naming, so a DSN "host=DIR port=N"
 *   reaches the proxy).  A connection whose client sent TEXT (default
 *   "insert into skugen.cost_ledger") in its current transaction is closed,
 *   both ways, when the server's CommandComplete "COMMIT" for it arrives,
 *   before that message is forwarded; --cuts times in all (default 1), then
 *   it only forwards.  Prints "listening on DIR/.s.PGSQL.N", and "cut N"
 *   after each cut, flushed.  Runs until SIGTERM or SIGINT.
 *
 * Client bytes are forwarded untouched and only searched for TEXT; server
 * bytes are read as protocol messages (type byte, 4-byte length), which they
 * are from the first byte on a unix socket (libpq asks for neither SSL nor
 * GSS encryption there).  One thread, poll(2).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/bytes.h"

#define MAX_CONNS 256

struct conn {
	int client, server;
	bool armed;                 /* TEXT seen since the last COMMIT */
	char *tail;                 /* the client's last strlen(TEXT)-1 bytes */
	size_t tail_len;
	unsigned char *in;          /* server bytes not yet forwarded */
	size_t in_len, in_cap;
};

static const char *arm_text = "insert into skugen.cost_ledger";
static long cuts_left = 1, cuts_done;
static struct conn conns[MAX_CONNS];
static size_t n_conns;

static int unix_addr(struct sockaddr_un *a, const char *dir, int port)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if ((size_t)snprintf(a->sun_path, sizeof a->sun_path, "%s/.s.PGSQL.%d", dir, port) >=
	    sizeof a->sun_path) {
		fprintf(stderr, "fake_pgproxy: socket path too long: %s\n", dir);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *at = p;

	while (n > 0) {
		ssize_t w = write(fd, at, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		at += w;
		n -= (size_t)w;
	}
	return 0;
}

static void conn_close(size_t i)
{
	close(conns[i].client);
	close(conns[i].server);
	free(conns[i].tail);
	free(conns[i].in);
	conns[i] = conns[--n_conns];
}

/* Client to server: forward, and arm when TEXT went by (also across reads). */
static int from_client(struct conn *c)
{
	char buf[65536], *scan;
	size_t want = strlen(arm_text), keep = want ? want - 1 : 0, total;
	ssize_t n = read(c->client, buf, sizeof buf);

	if (n <= 0)
		return -1;
	if (write_all(c->server, buf, (size_t)n) < 0)
		return -1;
	total = c->tail_len + (size_t)n;
	scan = malloc(total);
	if (!scan)
		return -1;
	if (c->tail_len)
		memcpy(scan, c->tail, c->tail_len);
	memcpy(scan + c->tail_len, buf, (size_t)n);
	if (want && memmem(scan, total, arm_text, want))
		c->armed = true;
	/* Keep the end that could begin TEXT finished by the next read. */
	c->tail_len = total < keep ? total : keep;
	memmove(scan, scan + total - c->tail_len, c->tail_len);
	free(c->tail);
	c->tail = scan;
	return 0;
}

/* Server to client: forward whole messages; 1 when the connection was cut. */
static int from_server(struct conn *c)
{
	size_t at = 0;
	ssize_t n;

	if (c->in_cap - c->in_len < 65536) {
		unsigned char *grown = realloc(c->in, c->in_cap + 65536);

		if (!grown)
			return -1;
		c->in = grown;
		c->in_cap += 65536;
	}
	n = read(c->server, c->in + c->in_len, c->in_cap - c->in_len);
	if (n <= 0)
		return -1;
	c->in_len += (size_t)n;
	while (c->in_len - at >= 5) {
		const unsigned char *m = c->in + at;
		uint32_t len = bytes_be32(m + 1);

		if (len < 4 || c->in_len - at < 1 + (size_t)len)
			break;
		if (m[0] == 'C' && len == 4 + 7 && memcmp(m + 5, "COMMIT", 7) == 0) {
			if (c->armed && cuts_left > 0) {
				/* What came before the COMMIT's answer reaches the
				 * client; the answer itself never does. */
				if (at > 0)
					write_all(c->client, c->in, at);
				cuts_left--;
				printf("cut %ld\n", ++cuts_done);
				fflush(stdout);
				return 1;
			}
			c->armed = false;
		}
		at += 1 + (size_t)len;
	}
	if (at > 0) {
		if (write_all(c->client, c->in, at) < 0)
			return -1;
		memmove(c->in, c->in + at, c->in_len - at);
		c->in_len -= at;
	}
	return 0;
}

static int listen_on(const char *dir, int port)
{
	struct sockaddr_un a;
	int fd;

	if (unix_addr(&a, dir, port) < 0)
		return -1;
	unlink(a.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "fake_pgproxy: cannot listen on %s: %s\n", a.sun_path, strerror(errno));
		return -1;
	}
	printf("listening on %s\n", a.sun_path);
	fflush(stdout);
	return fd;
}

static void accept_one(int lfd, const char *upstream, int port)
{
	struct sockaddr_un a;
	int client = accept(lfd, NULL, NULL), server;

	if (client < 0)
		return;
	server = socket(AF_UNIX, SOCK_STREAM, 0);
	if (n_conns == MAX_CONNS || server < 0 || unix_addr(&a, upstream, port) < 0 ||
	    connect(server, (struct sockaddr *)&a, sizeof a) < 0) {
		fprintf(stderr, "fake_pgproxy: cannot reach %s/.s.PGSQL.%d: %s\n", upstream, port,
			n_conns == MAX_CONNS ? "too many connections" : strerror(errno));
		close(client);
		if (server >= 0)
			close(server);
		return;
	}
	conns[n_conns++] = (struct conn){ .client = client, .server = server };
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "port", required_argument, NULL, 'p' },
		{ "arm", required_argument, NULL, 'a' },
		{ "cuts", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_dir = NULL, *upstream = NULL;
	int port = 5432, opt, lfd;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': listen_dir = optarg; break;
		case 'u': upstream = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'a': arm_text = optarg; break;
		case 'c': cuts_left = atol(optarg); break;
		default: return 2;
		}
	}
	if (!listen_dir || !upstream || port <= 0) {
		fprintf(stderr, "usage: fake_pgproxy --listen DIR --upstream DIR --port N [--arm TEXT] [--cuts N]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(listen_dir, port);
	if (lfd < 0)
		return 1;
	for (;;) {
		struct pollfd p[1 + 2 * MAX_CONNS];
		size_t np = 0, n = n_conns;

		p[np++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (size_t i = 0; i < n; i++) {
			p[np++] = (struct pollfd){ .fd = conns[i].client, .events = POLLIN };
			p[np++] = (struct pollfd){ .fd = conns[i].server, .events = POLLIN };
		}
		if (poll(p, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		/* Backwards, so that closing one (the last moves into its
		 * place) leaves the ones still to visit where they were. */
		for (size_t i = n; i-- > 0;) {
			struct pollfd *pc = &p[1 + 2 * i], *ps = &p[2 + 2 * i];
			int rc = 0;

			if (pc->revents)
				rc = from_client(&conns[i]);
			if (rc == 0 && ps->revents)
				rc = from_server(&conns[i]);
			if (rc != 0)
				conn_close(i);
		}
		if (p[0].revents & POLLIN)
			accept_one(lfd, upstream, port);
	}
}
