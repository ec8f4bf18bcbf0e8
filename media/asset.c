/* asset.c: the content-addressed asset store (see asset.h). */
#include "media/asset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"

static bool ext_ok(const char *ext)
{
	size_t n = ext ? strlen(ext) : 0;

	if (n == 0 || n > 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= '0' && ext[i] <= '9')))
			return false;
	return true;
}

char *asset_path_for(const char *root, const char *sha256, const char *ext)
{
	struct buf p = BUF_INIT;

	if (buf_printf(&p, "%s/%.2s/%.2s/%s.%s", root, sha256, sha256 + 2, sha256, ext) < 0) {
		buf_free(&p);
		return NULL;
	}
	return buf_steal(&p);
}

/* mkdir path and its parents (like mkdir -p). */
static int make_dirs(const char *path, struct err *e)
{
	char *copy = strdup(path);
	int rc = -1;

	if (!copy)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (char *p = copy + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
				err_set(e, ERR_IO, "asset store: cannot create %s: %s", copy, strerror(errno));
				goto out;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* sha256 of the file at path, as hex; -1 when it cannot be read. */
static int file_sha256(const char *path, char hex[HASH_HEX_LEN], struct err *e)
{
	struct hash_ctx *h = NULL;
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	ssize_t n;

	if (fd < 0)
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	h = hash_new();
	if (!h) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		hash_update(h, chunk, (size_t)n);
	if (n < 0) {
		err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	hash_final_hex(h, hex);
	rc = 0;
out:
	hash_free(h);
	close(fd);
	return rc;
}

int asset_verify(const char *path, const char *sha256, struct err *e)
{
	char hex[HASH_HEX_LEN];

	if (file_sha256(path, hex, e) < 0)
		return -1;
	if (strcmp(hex, sha256) != 0)
		return err_set(e, ERR_INPUT, "%s: sha256 is %s, expected %s", path, hex, sha256);
	return 0;
}

/* Write all of data to fd. */
static int write_all(int fd, const unsigned char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int asset_put(const char *root, const void *data, size_t len, const char *ext,
	      struct asset_ref *out, struct err *e)
{
	struct buf dir = BUF_INIT, tmp = BUF_INIT;
	struct stat st;
	int fd = -1, rc = -1;

	memset(out, 0, sizeof *out);
	if (!root || !*root)
		return err_set(e, ERR_CONFIG, "asset store: no root directory configured");
	if (!ext_ok(ext))
		return err_set(e, ERR_INTERNAL, "asset store: bad file extension \"%s\"", ext ? ext : "");
	sha256_hex(data, len, out->sha256);
	out->path = asset_path_for(root, out->sha256, ext);
	if (!out->path || buf_printf(&dir, "%s/%.2s/%.2s", root, out->sha256, out->sha256 + 2) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Already there and whole: nothing to write. */
	if (stat(out->path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len) {
		struct err ve;

		err_clear(&ve);
		if (asset_verify(out->path, out->sha256, &ve) == 0) {
			out->reused = true;
			rc = 0;
			goto out;
		}
	}
	if (make_dirs(buf_str(&dir), e) < 0)
		goto out;
	if (buf_printf(&tmp, "%s/.%s.%s.tmp.XXXXXX", buf_str(&dir), out->sha256, ext) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	fd = mkostemp(tmp.data, O_CLOEXEC);
	if (fd < 0) {
		err_set(e, ERR_IO, "asset store: cannot create a file in %s: %s", buf_str(&dir), strerror(errno));
		goto out;
	}
	if (write_all(fd, data, len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		err_set(e, ERR_IO, "asset store: cannot write %s: %s", buf_str(&tmp), strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_set(e, ERR_IO, "asset store: cannot write %s: %s", buf_str(&tmp), strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.data, out->path) < 0) {
		err_set(e, ERR_IO, "asset store: cannot rename %s to %s: %s", buf_str(&tmp), out->path,
			strerror(errno));
		goto out;
	}
	buf_reset(&tmp);
	if (fsync_dir(buf_str(&dir)) < 0) {
		err_set(e, ERR_IO, "asset store: cannot sync %s: %s", buf_str(&dir), strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp.len)
		unlink(tmp.data);
	buf_free(&tmp);
	buf_free(&dir);
	if (rc < 0)
		asset_ref_clear(out);
	return rc;
}

const char *asset_ext_for_mime(const char *mime)
{
	static const char *const map[][2] = {
		{ "image/jpeg", "jpg" }, { "image/png", "png" }, { "image/webp", "webp" },
		{ "image/gif", "gif" }, { "image/avif", "avif" }, { "video/mp4", "mp4" },
		{ "video/webm", "webm" },
	};

	if (!mime)
		return NULL;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(mime, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

void asset_ref_clear(struct asset_ref *r)
{
	if (!r)
		return;
	free(r->path);
	memset(r, 0, sizeof *r);
}
