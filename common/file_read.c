/* file_read.c: read a whole file into a buffer (see file_read.h). */
#include "common/file_read.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
