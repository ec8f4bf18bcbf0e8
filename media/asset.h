/* asset.h: the content-addressed asset store.
 *
 * Every generated file (an image, a clip) is stored once, under the sha256 of
 * its bytes:
 *
 *   <root>/ab/cd/abcd...ef.<ext>        (ab, cd: the first two hex pairs)
 *
 * A file is written to a temporary name in its final directory, fsync'd and
 * renamed into place (then the directory is fsync'd), so a reader never sees
 * half a file and a crash leaves at most a stray temporary.  Writing bytes the
 * store already has reuses the existing file (checked byte for byte by its
 * sha256; a damaged copy is replaced).  Two processes storing the same bytes
 * at once both succeed: each renames a complete file onto the same name.
 *
 * The root defaults to $SKUGEN_HOME/assets (batch/settings.c: assets.root).
 */
#ifndef SKUGEN_MEDIA_ASSET_H
#define SKUGEN_MEDIA_ASSET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/hash.h"

/* Where asset_put() stored the bytes. */
struct asset_ref {
	char *path;                /* new: <root>/ab/cd/<sha256>.<ext> (free it) */
	char sha256[HASH_HEX_LEN]; /* hex */
	bool reused;               /* the store already had these bytes */
};

/* Store len bytes under root with the file extension ext ("jpg", "webp",
 * "png", "mp4"; letters and digits only).  Creates root and the two levels
 * below as needed.  ERR_IO naming the path and the system's reason. */
int asset_put(const char *root, const void *data, size_t len, const char *ext,
	      struct asset_ref *out, struct err *e);

/* The path the bytes with this sha256 and ext have under root (new string,
 * NULL on no memory).  Does not look at the disk. */
char *asset_path_for(const char *root, const char *sha256, const char *ext);

/* Check that the file at path holds bytes whose sha256 is sha256: 0 when it
 * does, -1 with ERR_IO (missing, unreadable) or ERR_INPUT (different). */
int asset_verify(const char *path, const char *sha256, struct err *e);

/* The usual extension of a media type ("image/jpeg" -> "jpg"), or NULL. */
const char *asset_ext_for_mime(const char *mime);

/* Free what asset_put() filled.  Accepts NULL. */
void asset_ref_clear(struct asset_ref *r);

#endif
