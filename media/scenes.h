/* scenes.h: the folder of scenes lifestyle shots are made in, and which scene
 * a SKU gets.
 *
 * The scenes are the folder's image files (.jpg, .jpeg, .png, .webp; hidden
 * files skipped), sorted by name, each with the sha256 of its bytes.  A SKU's
 * scene is chosen deterministically by rendezvous hashing (each scene scores
 * sha256(sku, scene name), the highest wins), so a SKU keeps its scene from
 * run to run and the planner and the generator agree on it without talking.
 * Adding a scene moves only the SKUs it now wins (about 1/(n+1) of them),
 * removing one only the SKUs it had; their fingerprints (which include the
 * scene's name and sha256) change with it, so exactly those are made again.
 */
#ifndef SKUGEN_MEDIA_SCENES_H
#define SKUGEN_MEDIA_SCENES_H

#include <stddef.h>

#include "common/err.h"
#include "common/hash.h"

struct media_scene {
	char *path;                /* absolute or as the folder was given */
	const char *name;          /* the file name within path */
	char sha256[HASH_HEX_LEN];
};

struct media_scenes {
	struct media_scene *items;
	size_t n;
};

/* List dir (new; free with media_scenes_free).  ERR_CONFIG naming the folder
 * when it cannot be read or holds no scene.  Files are hashed once here. */
int media_scenes_open(const char *dir, struct media_scenes **out, struct err *e);

/* The scene for sku (borrowed from s); NULL when s has none or on no
 * memory. */
const struct media_scene *media_scenes_pick(const struct media_scenes *s, const char *sku);

/* Accepts NULL. */
void media_scenes_free(struct media_scenes *s);

#endif
