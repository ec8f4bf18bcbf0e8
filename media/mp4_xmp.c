/* mp4_xmp.c: XMP provenance in MP4 files (media/video.h).
 *
 * Adobe's XMP specification (part 3, "ISO base media file format") puts the
 * packet in a top-level box of type uuid whose extended type is
 * BE7ACFCB-97A9-42E8-9C71-999491E3AFAC; exiftool reads and writes it there.
 * We append the box at the end of the file: every chunk offset in moov stays
 * right, so the +faststart layout (moov before mdat) and ffprobe's reading
 * are untouched.  An earlier XMP box is renamed to free (same size), which
 * players and exiftool skip.
 */
#include "media/video.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"

static const uint8_t xmp_uuid[16] = {
	0xbe, 0x7a, 0xcf, 0xcb, 0x97, 0xa9, 0x42, 0xe8,
	0x9c, 0x71, 0x99, 0x94, 0x91, 0xe3, 0xaf, 0xac,
};

struct box {
	long long off, size, body; /* where it starts, its whole size, where its body starts */
	char type[5];
	int xmp;                   /* a uuid box with the XMP extended type */
	int to_eof;                /* its size field was 0 */
};

/* Read the top-level box at off.  Returns 1 with b filled, 0 at the end of
 * the file, -1 for a malformed box. */
static int read_box(FILE *fp, long long off, long long file_size, struct box *b,
		    const char *path, struct err *e)
{
	uint8_t h[16];
	if (off >= file_size)
		return 0;
	if (file_size - off < 8 || fseeko(fp, off, SEEK_SET) != 0 || fread(h, 1, 8, fp) != 8)
		return err_set(e, ERR_INPUT, "%s: not an mp4: a truncated box at offset %lld",
			       path, off);
	memset(b, 0, sizeof(*b));
	b->off = off;
	memcpy(b->type, h + 4, 4);
	long long size = bytes_be32(h);
	b->body = off + 8;
	if (size == 1) {
		if (fread(h + 8, 1, 8, fp) != 8)
			return err_set(e, ERR_INPUT, "%s: not an mp4: a truncated box at offset %lld",
				       path, off);
		size = 0;
		for (int i = 8; i < 16; i++)
			size = size << 8 | h[i];
		b->body = off + 16;
	} else if (size == 0) {
		size = file_size - off;
		b->to_eof = 1;
	}
	if (size < b->body - off || off + size > file_size)
		return err_set(e, ERR_INPUT, "%s: not an mp4: box \"%.4s\" at offset %lld has size %lld",
			       path, b->type, off, size);
	b->size = size;
	if (memcmp(b->type, "uuid", 4) == 0 && b->body + 16 <= off + size) {
		uint8_t u[16];
		if (fread(u, 1, 16, fp) == 16 && memcmp(u, xmp_uuid, 16) == 0)
			b->xmp = 1;
	}
	return 1;
}

static int open_mp4(const char *path, const char *mode, FILE **fp, long long *size, struct err *e)
{
	*fp = fopen(path, mode);
	if (!*fp)
		return err_set(e, ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fseeko(*fp, 0, SEEK_END) != 0 || (*size = ftello(*fp)) < 0) {
		fclose(*fp);
		return err_set(e, ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
	}
	uint8_t h[8];
	if (*size < 8 || fseeko(*fp, 0, SEEK_SET) != 0 || fread(h, 1, 8, *fp) != 8 ||
	    memcmp(h + 4, "ftyp", 4) != 0) {
		fclose(*fp);
		return err_set(e, ERR_INPUT, "%s: not an mp4: no ftyp box at the start", path);
	}
	return 0;
}

int media_mp4_set_xmp(const char *path, const char *xmp, size_t len, struct err *e)
{
	FILE *fp;
	long long size;
	if (len > 64u * 1024 * 1024)
		return err_set(e, ERR_INPUT, "%s: xmp packet of %zu bytes is too large", path, len);
	if (open_mp4(path, "r+b", &fp, &size, e) < 0)
		return -1;
	int rc = -1, r;
	struct box b;
	uint8_t h[8];
	for (long long off = 0; (r = read_box(fp, off, size, &b, path, e)) == 1; off += b.size) {
		if (b.xmp) {
			/* retire the old packet in place: same size, type free */
			if (fseeko(fp, b.off + 4, SEEK_SET) != 0 || fwrite("free", 1, 4, fp) != 4)
				goto io_failed;
		}
		if (b.to_eof) {
			/* a last box "to the end of the file" would swallow ours */
			if (b.size > 0xffffffffLL || b.body != b.off + 8) {
				err_set(e, ERR_INPUT, "%s: box \"%.4s\" runs to the end of the file "
					"and cannot be closed", path, b.type);
				goto done;
			}
			bytes_put_be32(h, (uint32_t)b.size);
			if (fseeko(fp, b.off, SEEK_SET) != 0 || fwrite(h, 1, 4, fp) != 4)
				goto io_failed;
		}
	}
	if (r < 0)
		goto done;
	bytes_put_be32(h, (uint32_t)(8 + 16 + len));
	memcpy(h + 4, "uuid", 4);
	if (fseeko(fp, 0, SEEK_END) != 0 || fwrite(h, 1, 8, fp) != 8 ||
	    fwrite(xmp_uuid, 1, 16, fp) != 16 || fwrite(xmp, 1, len, fp) != len)
		goto io_failed;
	if (fflush(fp) != 0)
		goto io_failed;
	rc = 0;
	goto done;
io_failed:
	err_set(e, ERR_IO, "%s: cannot write the xmp box: %s", path, strerror(errno));
done:
	if (fclose(fp) != 0 && rc == 0)
		rc = err_set(e, ERR_IO, "%s: cannot write the xmp box: %s", path, strerror(errno));
	return rc;
}

int media_mp4_get_xmp(const char *path, struct buf *out, struct err *e)
{
	FILE *fp;
	long long size;
	if (open_mp4(path, "rb", &fp, &size, e) < 0)
		return -1;
	struct box b, last = { 0 };
	int r, found = 0, rc = -1;
	for (long long off = 0; (r = read_box(fp, off, size, &b, path, e)) == 1; off += b.size)
		if (b.xmp) {
			last = b;
			found = 1;
		}
	if (r < 0)
		goto done;
	if (!found) {
		err_set(e, ERR_INPUT, "%s: no xmp box", path);
		goto done;
	}
	long long n = last.off + last.size - (last.body + 16);
	if (buf_reserve(out, (size_t)n) < 0) {
		err_set(e, ERR_NOMEM, "no memory for %lld bytes of xmp", n);
		goto done;
	}
	if (fseeko(fp, last.body + 16, SEEK_SET) != 0 ||
	    fread(out->data + out->len, 1, (size_t)n, fp) != (size_t)n) {
		err_set(e, ERR_IO, "%s: cannot read the xmp box", path);
		goto done;
	}
	out->len += (size_t)n;
	out->data[out->len] = 0;
	rc = 0;
done:
	fclose(fp);
	return rc;
}
