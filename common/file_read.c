/* file_read.c: read a whole file into a buffer (see file_read.h). */
#include "common/file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, struct buf *b, struct err *e)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *fp = is_stdin ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (!fp)
		return err_set(e, ERR_IO, "cannot open %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		if (buf_append(b, chunk, n) < 0) {
			rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
			goto out;
		}
	if (ferror(fp))
		rc = err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
out:
	if (!is_stdin)
		fclose(fp);
	return rc;
}

int file_read_regular(const char *path, size_t max, struct buf *b, struct err *e)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	size_t got = 0;
	int rc = -1;

	if (fd < 0)
		return err_set(e, ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, ERR_INPUT, "%s is not a regular file", path);
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		err_set(e, ERR_INPUT, "%s is %lld bytes, more than the limit of %zu", path,
			(long long)st.st_size, max);
		goto out;
	}
	if (buf_reserve(b, (size_t)st.st_size + 1) < 0) {
		err_set(e, ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	/* Read what fstat promised, and no more: a file that grows meanwhile
	 * is cut at the size checked. */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b->data + b->len, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		got += (size_t)n;
	}
	b->data[b->len] = '\0';
	rc = 0;
out:
	close(fd);
	return rc;
}
