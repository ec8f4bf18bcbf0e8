/* pg_embedded.c: create, start and stop the private cluster (see pg_embedded.h).
 *
 * Layout under home:  pgdata/ (the cluster), run/ (its socket), postgres.log,
 * lock (serialises concurrent skugen processes that start the cluster).
 */
#include "batch/pg_embedded.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/buf.h"
#include "common/hash.h"

#define PG_PORT "5432"
#define SOCKET_NAME_ROOM 16 /* "/.s.PGSQL.5432" and a NUL */

/* The user the server runs as: ourselves, or an unprivileged one for root. */
struct pg_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};

static int find_pg_user(struct pg_user *u, struct err *e)
{
	const char *wanted = getenv("SKUGEN_PG_USER");
	const char *candidates[] = { wanted, "postgres", "nobody" };

	u->uid = getuid();
	u->gid = getgid();
	snprintf(u->name, sizeof u->name, "uid %u", (unsigned)u->uid);
	if (geteuid() != 0)
		return 0;
	for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
		struct passwd *pw;

		if (!candidates[i] || !*candidates[i])
			continue;
		pw = getpwnam(candidates[i]);
		if (pw && pw->pw_uid != 0) {
			u->uid = pw->pw_uid;
			u->gid = pw->pw_gid;
			snprintf(u->name, sizeof u->name, "%s", pw->pw_name);
			return 0;
		}
		if (candidates[i] == wanted)
			return err_set(e, ERR_CONFIG, "SKUGEN_PG_USER=%s: no such unprivileged user", wanted);
	}
	return err_set(e, ERR_STORE, "running as root and found no unprivileged user (postgres, nobody) to run the embedded Postgres as; set SKUGEN_PG_USER");
}

static bool is_executable(const char *path)
{
	return access(path, X_OK) == 0;
}

/* Directory holding initdb and pg_ctl (new string). */
static int find_pg_bindir(char **out, struct err *e)
{
	const char *env = getenv("SKUGEN_PG_BIN");
	const char *path = getenv("PATH");
	struct buf b = BUF_INIT;
	DIR *d;
	struct dirent *de;
	long best = -1;

	if (env && *env) {
		buf_printf(&b, "%s/initdb", env);
		if (!is_executable(buf_str(&b))) {
			buf_free(&b);
			return err_set(e, ERR_STORE, "SKUGEN_PG_BIN=%s: no executable initdb there", env);
		}
		buf_free(&b);
		*out = strdup(env);
		return 0;
	}
	for (const char *p = path; p && *p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);

		buf_reset(&b);
		buf_printf(&b, "%.*s/initdb", (int)n, p);
		if (n && is_executable(buf_str(&b))) {
			buf_reset(&b);
			buf_printf(&b, "%.*s", (int)n, p);
			*out = buf_steal(&b);
			return 0;
		}
		p = colon ? colon + 1 : NULL;
	}
	d = opendir("/usr/lib/postgresql");
	while (d && (de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name)
			continue;
		buf_reset(&b);
		buf_printf(&b, "/usr/lib/postgresql/%ld/bin/initdb", v);
		if (v > best && is_executable(buf_str(&b)))
			best = v;
	}
	if (d)
		closedir(d);
	buf_reset(&b);
	if (best < 0) {
		buf_free(&b);
		return err_set(e, ERR_STORE, "cannot find initdb (PATH, /usr/lib/postgresql/*/bin): install the postgresql package (scripts/install-deps) or set SKUGEN_PG_BIN, or configure store.dsn");
	}
	buf_printf(&b, "/usr/lib/postgresql/%ld/bin", best);
	*out = buf_steal(&b);
	return 0;
}

static char *join(const char *a, const char *b)
{
	struct buf p = BUF_INIT;

	buf_printf(&p, "%s/%s", a, b);
	return buf_steal(&p);
}

/* The socket directory: home/run, unless that path is too long for a unix
 * socket, in which case a short one under /tmp named after home's hash. */
static char *socket_dir(const char *home)
{
	struct buf b = BUF_INIT;
	char hex[HASH_HEX_LEN];

	buf_printf(&b, "%s/run", home);
	if (b.len + SOCKET_NAME_ROOM <= 100)
		return buf_steal(&b);
	buf_reset(&b);
	sha256_hex(home, strlen(home), hex);
	buf_printf(&b, "/tmp/skugen-%.16s", hex);
	return buf_steal(&b);
}

/* Create path (or accept it as it is) and give it to the server's user.
 * The socket directory may be under /tmp, where anyone can plant a symlink
 * or a directory of their own: refuse anything but a real directory owned by
 * us or the server's user, and never follow a link when changing owner. */
static int make_dir(const char *path, const struct pg_user *u, mode_t mode, struct err *e)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return err_set(e, ERR_STORE, "cannot create %s: %s", path, strerror(errno));
	if (lstat(path, &st) < 0)
		return err_set(e, ERR_STORE, "cannot inspect %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != u->uid))
		return err_set(e, ERR_STORE, "%s is not a directory of ours (a symlink, or owned by uid %u): refusing to use it",
			       path, (unsigned)st.st_uid);
	if (geteuid() == 0 && lchown(path, u->uid, u->gid) < 0)
		return err_set(e, ERR_STORE, "cannot give %s to %s: %s", path, u->name, strerror(errno));
	return 0;
}

/* Whether the server's user can walk down to home: when skugen runs as root
 * from, say, /root/shop, the unprivileged server cannot. */
static bool reachable(const char *home, const struct pg_user *u)
{
	char path[PATH_MAX];
	char *slash;

	if (geteuid() != 0)
		return true;
	snprintf(path, sizeof path, "%s", home);
	while ((slash = strrchr(path, '/')) != NULL) {
		struct stat st;

		if (slash == path)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(path, &st) == 0 && !(st.st_mode & S_IXOTH) && st.st_uid != u->uid)
			return false;
		if (slash == path)
			break;
	}
	return true;
}

/* Run argv as the server's user, output appended to logpath.  Returns the
 * exit status, or -1 when it could not be run. */
static int run_as(const struct pg_user *u, char *const argv[], const char *logpath, struct err *e)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return err_set(e, ERR_STORE, "cannot fork to run %s: %s", argv[0], strerror(errno));
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, STDIN_FILENO);
		if (geteuid() == 0) {
			if (setgroups(0, NULL) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
				_exit(126);
		}
		/* A minimal environment: the server must not inherit skugen's
		 * (API keys live there). */
		execve(argv[0], argv, (char *const[]){ "PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC", NULL });
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(e, ERR_STORE, "waiting for %s: %s", argv[0], strerror(errno));
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The last lines of the log, to make a failure's cause visible. */
static void log_tail(const char *logpath, char *out, size_t cap)
{
	FILE *fp = fopen(logpath, "r");
	long size;
	size_t n;

	out[0] = '\0';
	if (!fp)
		return;
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fseek(fp, size > (long)cap - 1 ? size - (long)cap + 1 : 0, SEEK_SET);
	n = fread(out, 1, cap - 1, fp);
	out[n] = '\0';
	fclose(fp);
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

struct layout {
	char *home, *data, *sock, *log, *lock, *bindir;
	char *server_dir;   /* NULL, or where the server's files live when home is out of its reach */
	struct pg_user user;
};

static void layout_free(struct layout *l)
{
	free(l->home);
	free(l->data);
	free(l->sock);
	free(l->log);
	free(l->lock);
	free(l->bindir);
	free(l->server_dir);
	memset(l, 0, sizeof *l);
}

static int layout_init(struct layout *l, const char *home, bool need_binaries, struct err *e)
{
	memset(l, 0, sizeof *l);
	l->home = realpath(home, NULL);
	if (!l->home)
		l->home = strdup(home);
	if (!l->home)
		return err_set(e, ERR_NOMEM, "out of memory");
	l->data = join(l->home, "pgdata");
	l->log = join(l->home, "postgres.log");
	l->lock = join(l->home, "lock");
	l->sock = socket_dir(l->home);
	if (!l->data || !l->log || !l->lock || !l->sock)
		goto nomem;
	if (find_pg_user(&l->user, e) < 0)
		goto fail;
	if (!reachable(l->home, &l->user)) {
		/* The server's files move to a directory of its own under /var/tmp,
		 * named after home, so that the same home always finds them. */
		char hex[HASH_HEX_LEN];
		struct buf dir = BUF_INIT;

		sha256_hex(l->home, strlen(l->home), hex);
		buf_printf(&dir, "/var/tmp/skugen-%.16s", hex);
		l->server_dir = buf_steal(&dir);
		free(l->data);
		free(l->log);
		free(l->sock);
		l->data = l->server_dir ? join(l->server_dir, "pgdata") : NULL;
		l->log = l->server_dir ? join(l->server_dir, "postgres.log") : NULL;
		l->sock = l->server_dir ? join(l->server_dir, "run") : NULL;
		if (!l->data || !l->log || !l->sock)
			goto nomem;
	}
	if (need_binaries && find_pg_bindir(&l->bindir, e) < 0)
		goto fail;
	return 0;
nomem:
	err_set(e, ERR_NOMEM, "out of memory");
fail:
	layout_free(l);
	return -1;
}

static char *dsn_for(const struct layout *l)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "host=%s port=" PG_PORT " dbname=skugen user=skugen", l->sock);
	return buf_steal(&b);
}

static bool cluster_exists(const struct layout *l)
{
	char *pv = join(l->data, "PG_VERSION");
	bool ok = pv && access(pv, F_OK) == 0;

	free(pv);
	return ok;
}

static int pg_ctl(const struct layout *l, const char *action, struct err *e)
{
	char *prog = join(l->bindir, "pg_ctl");
	char *argv[] = { prog, "-D", l->data, "-l", l->log, "-w", "-t", "120", (char *)action, NULL };
	int rc = prog ? run_as(&l->user, argv, l->log, e) : err_set(e, ERR_NOMEM, "out of memory");

	free(prog);
	return rc;
}

static int initdb(const struct layout *l, struct err *e)
{
	char *prog = join(l->bindir, "initdb");
	char *conf = join(l->data, "postgresql.conf");
	char *argv[] = { prog, "-D", l->data, "-U", "skugen", "-A", "trust", "-E", "UTF8",
			 "--no-locale", NULL };
	char tail[600];
	FILE *fp;
	int rc = -1;

	if (!prog || !conf) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (make_dir(l->data, &l->user, 0700, e) < 0)
		goto out;
	rc = run_as(&l->user, argv, l->log, e);
	if (rc != 0) {
		if (rc > 0) {
			log_tail(l->log, tail, sizeof tail);
			err_set(e, ERR_STORE, "initdb %s failed (exit %d): %s", l->data, rc, tail);
		}
		rc = -1;
		goto out;
	}
	/* Unix socket only: nothing listens on the network. */
	fp = fopen(conf, "a");
	if (!fp) {
		rc = err_set(e, ERR_STORE, "cannot append to %s: %s", conf, strerror(errno));
		goto out;
	}
	fprintf(fp, "\n# skugen embedded store\nlisten_addresses = ''\nunix_socket_directories = '%s'\nport = " PG_PORT "\nmax_connections = 200\nlogging_collector = off\n", l->sock);
	fclose(fp);
	rc = 0;
out:
	free(prog);
	free(conf);
	return rc;
}

/* Create the database "skugen" unless it exists (a first start that was
 * interrupted after initdb leaves a cluster without it), over libpq. */
static int ensure_database(const struct layout *l, struct err *e)
{
	struct buf dsn = BUF_INIT;
	PGconn *pg;
	PGresult *r;
	int rc = 0;

	buf_printf(&dsn, "host=%s port=" PG_PORT " dbname=postgres user=skugen", l->sock);
	pg = PQconnectdb(buf_str(&dsn));
	buf_free(&dsn);
	if (PQstatus(pg) != CONNECTION_OK) {
		rc = err_set(e, ERR_STORE, "cannot connect to the embedded Postgres: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return rc;
	}
	r = PQexec(pg, "select 1 from pg_database where datname = 'skugen'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 0) {
		PQclear(r);
		r = PQexec(pg, "create database skugen");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = err_set(e, ERR_STORE, "cannot create the database skugen: %s", PQresultErrorMessage(r));
	} else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = err_set(e, ERR_STORE, "cannot list the embedded Postgres's databases: %s", PQresultErrorMessage(r));
	}
	PQclear(r);
	PQfinish(pg);
	return rc;
}

int pg_embedded_start(const char *home, char **dsn, struct err *e)
{
	struct layout l;
	int lockfd = -1, rc = -1;
	char tail[600];

	if (mkdir(home, 0755) < 0 && errno != EEXIST)
		return err_set(e, ERR_STORE, "cannot create SKUGEN_HOME %s: %s", home, strerror(errno));
	if (layout_init(&l, home, true, e) < 0)
		return -1;
	lockfd = open(l.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		err_set(e, ERR_STORE, "cannot lock %s: %s", l.lock, strerror(errno));
		goto out;
	}
	if (l.server_dir && make_dir(l.server_dir, &l.user, 0700, e) < 0)
		goto out;
	if (make_dir(l.sock, &l.user, 0700, e) < 0)
		goto out;
	if (!cluster_exists(&l)) {
		if (l.server_dir)
			fprintf(stderr, "skugen: the embedded store's server runs as %s, who cannot enter %s: its data lives in %s\n",
				l.user.name, l.home, l.server_dir);
		if (initdb(&l, e) < 0)
			goto out;
	}
	{
		/* Make sure the log is writable by the server's user. */
		int fd = open(l.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0) {
			if (geteuid() == 0 && fchown(fd, l.user.uid, l.user.gid) < 0) {
				close(fd);
				err_set(e, ERR_STORE, "cannot give %s to %s: %s", l.log, l.user.name, strerror(errno));
				goto out;
			}
			close(fd);
		}
	}
	if (pg_ctl(&l, "status", e) != 0) {
		int st = pg_ctl(&l, "start", e);

		if (st != 0) {
			if (st > 0) {
				log_tail(l.log, tail, sizeof tail);
				err_set(e, ERR_STORE, "cannot start the embedded Postgres in %s (pg_ctl exit %d): %s", l.data, st, tail);
			}
			goto out;
		}
	}
	if (ensure_database(&l, e) < 0)
		goto out;
	*dsn = dsn_for(&l);
	rc = *dsn ? 0 : err_set(e, ERR_NOMEM, "out of memory");
out:
	if (lockfd >= 0)
		close(lockfd);
	layout_free(&l);
	return rc;
}

int pg_embedded_stop(const char *home, struct err *e)
{
	struct layout l;
	int rc = 0;

	if (layout_init(&l, home, true, e) < 0)
		return -1;
	if (cluster_exists(&l) && pg_ctl(&l, "status", e) == 0) {
		int st = pg_ctl(&l, "stop", e);

		if (st != 0)
			rc = st < 0 ? -1 : err_set(e, ERR_STORE, "pg_ctl stop failed (exit %d); see %s", st, l.log);
	}
	layout_free(&l);
	return rc;
}

int pg_embedded_status(const char *home, bool *exists, bool *running, struct err *e)
{
	struct layout l;

	*exists = *running = false;
	if (layout_init(&l, home, true, e) < 0)
		return -1;
	*exists = cluster_exists(&l);
	*running = *exists && pg_ctl(&l, "status", e) == 0;
	layout_free(&l);
	return 0;
}

int pg_embedded_dsn(const char *home, char **dsn, struct err *e)
{
	struct layout l;

	if (layout_init(&l, home, false, e) < 0)
		return -1;
	*dsn = dsn_for(&l);
	layout_free(&l);
	return *dsn ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}
