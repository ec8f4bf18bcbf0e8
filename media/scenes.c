/* scenes.c: list a scene folder and pick a SKU's scene (see scenes.h). */
#include "media/scenes.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/file_read.h"

static bool is_scene_name(const char *name)
{
	static const char *const exts[] = { ".jpg", ".jpeg", ".png", ".webp" };
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		size_t k = strlen(exts[i]);

		if (n > k && strcasecmp(name + n - k, exts[i]) == 0)
			return true;
	}
	return false;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct media_scene *)a)->path, ((const struct media_scene *)b)->path);
}

int media_scenes_open(const char *dir, struct media_scenes **out, struct err *e)
{
	struct media_scenes *s = calloc(1, sizeof *s);
	size_t cap = 0;
	DIR *d = NULL;
	struct dirent *de;
	int rc = -1;

	*out = NULL;
	if (!s)
		return err_set(e, ERR_NOMEM, "out of memory");
	d = opendir(dir);
	if (!d) {
		err_set(e, ERR_CONFIG, "scene folder %s: %s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		struct buf path = BUF_INIT;
		struct stat st;

		if (!is_scene_name(de->d_name))
			continue;
		if (buf_printf(&path, "%s/%s", dir, de->d_name) < 0) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		if (stat(buf_str(&path), &st) < 0 || !S_ISREG(st.st_mode)) {
			buf_free(&path);
			continue;
		}
		if (s->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct media_scene *n = realloc(s->items, ncap * sizeof *n);

			if (!n) {
				buf_free(&path);
				err_set(e, ERR_NOMEM, "out of memory");
				goto out;
			}
			s->items = n;
			cap = ncap;
		}
		s->items[s->n].path = buf_steal(&path);
		if (!s->items[s->n].path) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto out;
		}
		s->n++;
	}
	if (s->n == 0) {
		err_set(e, ERR_CONFIG, "scene folder %s holds no scene (.jpg, .jpeg, .png or .webp files)", dir);
		goto out;
	}
	qsort(s->items, s->n, sizeof *s->items, by_path);
	for (size_t i = 0; i < s->n; i++) {
		struct media_scene *sc = &s->items[i];
		struct buf bytes = BUF_INIT;

		sc->name = strrchr(sc->path, '/') + 1;
		if (file_read_all(sc->path, &bytes, e) < 0) {
			e->code = ERR_CONFIG;
			goto out;
		}
		sha256_hex(bytes.data ? bytes.data : "", bytes.len, sc->sha256);
		buf_free(&bytes);
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (d)
		closedir(d);
	media_scenes_free(s);
	return rc;
}

/* Rendezvous (highest random weight) hashing: each scene scores
 * sha256(sku, scene name) and the highest wins.  Adding a scene moves only
 * the SKUs it now wins (about 1/(n+1) of them); removing one moves only the
 * SKUs it had. */
const struct media_scene *media_scenes_pick(const struct media_scenes *s, const char *sku)
{
	const struct media_scene *best = NULL;
	uint64_t best_score = 0;
	struct hash_ctx *h;

	if (!s || s->n == 0)
		return NULL;
	h = hash_new();
	if (!h)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		char hex[HASH_HEX_LEN];
		uint64_t v = 0;

		hash_update_str(h, sku);
		hash_update_str(h, s->items[i].name);
		hash_final_hex(h, hex);
		for (int k = 0; k < 16; k++)
			v = v << 4 | (uint64_t)(hex[k] <= '9' ? hex[k] - '0' : hex[k] - 'a' + 10);
		if (!best || v > best_score) {
			best = &s->items[i];
			best_score = v;
		}
	}
	hash_free(h);
	return best;
}

void media_scenes_free(struct media_scenes *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i].path);
	free(s->items);
	free(s);
}
