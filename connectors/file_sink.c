/* file_sink.c: write-back for the file connector (see file.h).
 *
 * The results file holds one JSON object per SKU.  A batch is applied by
 * reading the file, deciding each item by its overwrite policy against the
 * value already there, and replacing the file atomically, so a crash leaves
 * either the old file or the new one, never half of one.
 */
#include "connectors/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hash.h"

static const char *const target_keys[] = { "path", "field", NULL };

int conn_file_check_target(const json_t *target, const char *path, struct err *e)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)target, k, v) {
		size_t i;

		for (i = 0; target_keys[i] && strcmp(target_keys[i], k) != 0; i++)
			;
		if (!target_keys[i])
			return err_set(e, ERR_CONFIG, "%s.%s: unknown key (known keys: path, field)", path, k);
		if (!json_is_string(v) || !*json_string_value(v))
			return err_set(e, ERR_CONFIG, "%s.%s: expected a non-empty string", path, k);
	}
	if (!json_object_get(target, "path"))
		return err_set(e, ERR_CONFIG, "%s: missing \"path\" (the results JSONL file)", path);
	return 0;
}

/* Read the results file into sku -> object, keeping the file's order. */
static int load_results(const char *path, const char *key, json_t *rows, struct err *e)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	int rc = 0;

	if (!fp)
		return errno == ENOENT ? 0 : err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
	while (getline(&line, &cap, fp) > 0) {
		json_error_t je;
		json_t *obj;
		const char *sku;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		obj = json_loads(line, 0, &je);
		sku = json_string_value(json_object_get(obj, key));
		if (!json_is_object(obj) || !sku) {
			rc = err_set(e, ERR_IO, "%s:%ld: not a results line (an object with \"%s\"): %s",
				     path, lineno, key, obj ? "no key" : je.text);
			json_decref(obj);
			break;
		}
		json_object_set_new(rows, sku, obj);
	}
	free(line);
	fclose(fp);
	return rc;
}

static int save_results(const char *path, json_t *rows, struct err *e)
{
	struct buf tmp = BUF_INIT;
	const char *sku;
	json_t *obj;
	FILE *fp;
	bool bad = false;
	int rc = -1;

	buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fp = fopen(buf_str(&tmp), "w");
	if (!fp) {
		err_set(e, ERR_IO, "cannot write %s: %s", buf_str(&tmp), strerror(errno));
		goto out;
	}
	json_object_foreach(rows, sku, obj) {
		if (json_dumpf(obj, fp, JSON_COMPACT) < 0 || fputc('\n', fp) == EOF) {
			bad = true;
			break;
		}
	}
	if (bad || fflush(fp) != 0 || fsync(fileno(fp)) != 0 || ferror(fp)) {
		err_set(e, ERR_IO, "cannot write %s: %s", buf_str(&tmp), strerror(errno));
		fclose(fp);
		unlink(buf_str(&tmp));
		goto out;
	}
	fclose(fp);
	if (rename(buf_str(&tmp), path) < 0) {
		err_set(e, ERR_IO, "cannot replace %s: %s", path, strerror(errno));
		unlink(buf_str(&tmp));
		goto out;
	}
	rc = 0;
out:
	buf_free(&tmp);
	return rc;
}

/* Decide and apply one item against the row of its SKU. */
static void apply(json_t *rows, const char *key, struct conn_write_item *it)
{
	const char *pattern = json_string_value(json_object_get(it->target, "field"));
	char *field = conn_expand(pattern ? pattern : it->output, it);
	json_t *row = json_object_get(rows, it->sku);
	const char *value = it->value ? it->value : it->asset_path;
	size_t len = it->value ? it->value_len : (it->asset_path ? strlen(it->asset_path) : 0);
	const char *current;
	char sha[HASH_HEX_LEN];

	if (!field || !value) {
		it->status = CONN_WRITE_FAILED;
		it->message = strdup(field ? "nothing to write" : "out of memory");
		free(field);
		return;
	}
	current = json_string_value(json_object_get(row, field));
	if (current && strlen(current) == len && memcmp(current, value, len) == 0) {
		it->status = CONN_WRITE_UNCHANGED;
	} else if (current && *current && it->policy == CONN_OVERWRITE_NEVER) {
		it->status = CONN_WRITE_REFUSED;
		it->message = strdup("the target already holds a value (policy never)");
	} else if (current && *current && it->policy == CONN_OVERWRITE_IF_GENERATED &&
		   (sha256_hex(current, strlen(current), sha),
		    !it->prior_sha256 || strcmp(sha, it->prior_sha256) != 0)) {
		it->status = CONN_WRITE_REFUSED;
		it->message = strdup("the target holds a value skugen did not write (policy if_generated)");
	} else {
		if (!row) {
			row = json_object();
			json_object_set_new(row, key, json_string(it->sku));
			json_object_set_new(rows, it->sku, row);
		}
		if (json_object_set_new(row, field, json_stringn(value, len)) == 0)
			it->status = CONN_WRITE_WRITTEN;
		else {
			it->status = CONN_WRITE_FAILED;
			it->message = strdup("the value is not valid UTF-8 text");
		}
	}
	free(field);
}

/* An exclusive lock on PATH.lock, held until the fd is closed. */
static int open_lock(const char *path, struct err *e)
{
	char *lock = NULL;
	int fd;

	if (asprintf(&lock, "%s.lock", path) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		err_set(e, ERR_IO, "cannot lock %s: %s", lock, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(lock);
	return fd;
}

int conn_file_write(struct conn *c, struct conn_write_item *items, size_t n, struct err *e)
{
	const char *key = conn_file_key(c);
	size_t done = 0;

	/* One pass per results file named by the batch's targets. */
	while (done < n) {
		const char *rel = NULL;
		char *path = NULL;
		json_t *rows = json_object();
		int lockfd = -1, rc;

		for (size_t i = 0; i < n; i++)
			if (items[i].status == CONN_WRITE_PENDING) {
				rel = json_string_value(json_object_get(items[i].target, "path"));
				break;
			}
		if (!rel || !rows) {
			json_decref(rows);
			return rel ? err_set(e, ERR_NOMEM, "out of memory") : 0;
		}
		if (rel[0] == '/')
			path = strdup(rel);
		else if (asprintf(&path, "%s/%s", conn_file_base_dir(c), rel) < 0)
			path = NULL;
		/* Two publishers at once (a run's auto-publish and skugen publish)
		 * must not both read the old file and each replace it. */
		lockfd = path ? open_lock(path, e) : -1;
		rc = path ? (lockfd < 0 ? -1 : load_results(path, key, rows, e))
			  : err_set(e, ERR_NOMEM, "out of memory");
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const char *p = json_string_value(json_object_get(items[i].target, "path"));

			if (items[i].status == CONN_WRITE_PENDING && strcmp(p, rel) == 0) {
				apply(rows, key, &items[i]);
				done++;
			}
		}
		if (rc == 0)
			rc = save_results(path, rows, e);
		if (lockfd >= 0)
			close(lockfd);
		json_decref(rows);
		free(path);
		if (rc < 0) {
			/* This file was not replaced: its items are not written.
			 * Items of files replaced earlier keep their status. */
			for (size_t i = 0; i < n; i++) {
				const char *p = json_string_value(json_object_get(items[i].target, "path"));

				if (strcmp(p, rel) == 0)
					conn_write_items_reset(&items[i], 1);
			}
			return -1;
		}
	}
	return 0;
}
