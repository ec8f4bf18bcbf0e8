/* example_photos.c: the demo's product photos and scenes, made procedurally.
 *
 *   example_photos CATALOG.jsonl OUTDIR
 *
 * For every record of the catalog that has an "image" field (a path relative
 * to the catalog's folder), writes a studio shot there: the product's
 * silhouette by category (a T-shirt, a shoe, a mug, a device, a bottle, a
 * backpack) in its first colour, shaded top to bottom with a soft highlight and
 * a fine texture, on a near-white sweep that darkens slightly downwards, its
 * edges anti-aliased (3x3 samples) and softened as a lens would (a 1 px blur
 * of the coverage).  PNG, or JPEG for files named .jpg.  It also writes
 * OUTDIR/scenes/NAME.jpg: four room scenes (an oak table, a marble counter, a
 * concrete floor, a linen backdrop), each with a floor line at 72% of its
 * height.
 *
 * Everything is seeded from the SKU or the scene's name, so the bytes are the
 * same on every run and machine (libvips's PNG and JPEG encoders are
 * deterministic): fingerprints stay put between demo runs.  Files that exist
 * are left alone.  Plain C plus libvips for encoding; not part of skugen.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <vips/vips.h>

#define PHOTO 512
#define SCENE_W 1200
#define SCENE_H 900

static uint64_t rng_state;

static uint64_t seed_of(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h ? h : 1;
}

static double rnd(void)  /* [0, 1) */
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ---- colours ---------------------------------------------------------- */

struct named { const char *name; uint8_t rgb[3]; };

static const struct named colours[] = {
	{ "black", { 38, 38, 42 } }, { "white", { 208, 206, 200 } }, { "navy", { 36, 48, 86 } },
	{ "grey", { 128, 130, 134 } }, { "gray", { 128, 130, 134 } }, { "green", { 70, 104, 64 } },
	{ "olive", { 104, 106, 58 } }, { "sage", { 150, 168, 138 } }, { "moss", { 92, 110, 62 } },
	{ "red", { 178, 40, 44 } }, { "rust", { 160, 82, 44 } }, { "orange", { 226, 112, 36 } },
	{ "blue", { 56, 98, 168 } }, { "stone", { 196, 186, 164 } }, { "oat", { 214, 200, 172 } },
	{ "natural", { 206, 184, 150 } }, { "ecru", { 206, 194, 170 } }, { "terracotta", { 196, 104, 74 } },
	{ "charcoal", { 66, 68, 72 } }, { "slate", { 92, 102, 112 } }, { "amber", { 200, 128, 40 } },
	{ "steel", { 150, 156, 162 } }, { "teal", { 36, 124, 124 } }, { "tobacco", { 122, 82, 48 } },
	{ "cognac", { 150, 82, 40 } }, { "brown", { 102, 68, 44 } }, { "chestnut", { 130, 72, 40 } },
	{ "lavender", { 170, 156, 204 } }, { "sand", { 200, 184, 150 } }, { "silver", { 184, 188, 192 } },
	{ "champagne", { 206, 188, 156 } }, { "ink", { 40, 44, 70 } }, { "clay", { 184, 120, 96 } },
	{ "khaki", { 170, 156, 110 } }, { "forest", { 42, 82, 56 } }, { "chalk", { 206, 204, 196 } },
	{ "graphite", { 70, 72, 76 } }, { "coral", { 232, 112, 96 } }, { "rosewood", { 140, 70, 72 } },
	{ "yellow", { 228, 196, 48 } }, { "lime", { 168, 204, 64 } }, { "clear", { 200, 214, 220 } },
	{ "smoke", { 110, 110, 112 } }, { "glacier", { 150, 196, 220 } }, { "ember", { 200, 70, 40 } },
	{ "fjord", { 60, 100, 140 } }, { "ochre", { 204, 150, 50 } }, { "volt", { 210, 230, 40 } },
	{ "cream", { 214, 204, 180 } },
};

/* The first known colour word in name (case-insensitive), else a colour from
 * the SKU's seed. */
static void colour_of(const char *name, uint8_t rgb[3])
{
	char low[128];
	size_t n = 0;

	for (; name && *name && n + 1 < sizeof low; name++)
		low[n++] = (char)((*name >= 'A' && *name <= 'Z') ? *name + 32 : *name);
	low[n] = '\0';
	for (size_t i = 0; n && i < sizeof colours / sizeof colours[0]; i++)
		if (strstr(low, colours[i].name)) {
			memcpy(rgb, colours[i].rgb, 3);
			return;
		}
	for (int k = 0; k < 3; k++)
		rgb[k] = (uint8_t)(60 + rnd() * 150);
}

/* ---- silhouettes: coverage and a shade per point, u, v in [-1, 1] ------- */

enum shape { TSHIRT, SHOE, MUG, DEVICE, BOTTLE, BACKPACK };

static int in_rrect(double u, double v, double cx, double cy, double hw, double hh, double r)
{
	double dx = fabs(u - cx) - (hw - r), dy = fabs(v - cy) - (hh - r);

	if (dx <= 0 || dy <= 0)
		return fabs(u - cx) <= hw && fabs(v - cy) <= hh;
	return dx * dx + dy * dy <= r * r;
}

static int in_ellipse(double u, double v, double cx, double cy, double rx, double ry)
{
	double x = (u - cx) / rx, y = (v - cy) / ry;

	return x * x + y * y <= 1;
}

/* 0 outside; else a shade factor for that part (1: the body). */
static double shape_at(enum shape s, double u, double v)
{
	switch (s) {
	case TSHIRT: {
		double au = fabs(u);

		if (in_ellipse(u, v, 0, -0.62, 0.17, 0.12))
			return 0;                                   /* the neck */
		if (au < 0.4 && v > -0.62 && v < 0.78)
			return 1;
		/* sleeves: from the shoulder out and down */
		if (au >= 0.4 && au < 0.78 && v > -0.62 + (au - 0.4) * 0.55 && v < -0.22 + (au - 0.4) * 0.9)
			return 0.93;
		return 0;
	}
	case SHOE:
		if (in_rrect(u, v, 0, 0.34, 0.82, 0.07, 0.06))
			return 1.35;                                /* the sole, lighter */
		if (in_ellipse(u, v, 0.12, 0.3, 0.7, 0.32) && v < 0.3)
			return 1;
		if (in_rrect(u, v, -0.5, 0.02, 0.22, 0.3, 0.1))
			return 0.95;                                /* the heel counter */
		return 0;
	case MUG:
		if (in_rrect(u, v, -0.08, 0.06, 0.38, 0.52, 0.08))
			return 1;
		if (in_ellipse(u, v, 0.36, 0.02, 0.24, 0.26) && !in_ellipse(u, v, 0.36, 0.02, 0.14, 0.16))
			return 0.9;                                 /* the handle */
		return 0;
	case DEVICE:
		if (in_rrect(u, v, 0, 0, 0.48, 0.32, 0.05))
			return 0.45;                                /* the screen */
		if (in_rrect(u, v, 0, 0, 0.58, 0.42, 0.1))
			return 1;
		return 0;
	case BOTTLE:
		if (in_rrect(u, v, 0, -0.62, 0.14, 0.12, 0.03))
			return 0.35;                                /* the cap */
		if (in_rrect(u, v, 0, -0.42, 0.09, 0.1, 0.02))
			return 1;
		if (in_rrect(u, v, 0, 0.22, 0.27, 0.56, 0.1))
			return in_rrect(u, v, 0, 0.25, 0.2, 0.2, 0.02) ? 1.45 : 1;  /* a label */
		return 0;
	case BACKPACK:
		if (in_ellipse(u, v, 0, -0.66, 0.18, 0.1) && !in_ellipse(u, v, 0, -0.66, 0.11, 0.05))
			return 0.8;                                 /* the haul loop */
		if (in_rrect(u, v, 0, 0.38, 0.3, 0.22, 0.08))
			return 0.85;                                /* the front pocket */
		if (in_rrect(u, v, 0, 0.06, 0.44, 0.66, 0.22))
			return 1;
		return 0;
	}
	return 0;
}

static enum shape shape_for(const char *category, const char *sub)
{
	if (!category)
		return DEVICE;
	if (strcmp(category, "apparel") == 0)
		return TSHIRT;
	if (strcmp(category, "footwear") == 0)
		return SHOE;
	if (strcmp(category, "home") == 0)
		return MUG;
	if (strcmp(category, "beauty") == 0)
		return BOTTLE;
	if (strcmp(category, "outdoor") == 0)
		return sub && strstr(sub, "Bottle") ? BOTTLE : BACKPACK;
	return DEVICE;
}

/* ---- writing ------------------------------------------------------------ */

static int save_rgb(const uint8_t *px, int w, int h, const char *path)
{
	VipsImage *img = vips_image_new_from_memory(px, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
	const char *dot = strrchr(path, '.');
	int rc;

	if (!img)
		return -1;
	if (dot && (strcmp(dot, ".jpg") == 0 || strcmp(dot, ".jpeg") == 0))
		rc = vips_jpegsave(img, path, "Q", 90, "strip", TRUE, NULL);
	else
		rc = vips_pngsave(img, path, "compression", 6, "strip", TRUE, NULL);
	g_object_unref(img);
	return rc;
}

static int photo(const char *path, const char *sku, const char *category, const char *sub,
		 const char *colour)
{
	const int n = PHOTO, ss = 3;
	float *cov = calloc((size_t)n * n, sizeof *cov), *shade = calloc((size_t)n * n, sizeof *shade);
	float *soft = calloc((size_t)n * n, sizeof *soft);
	uint8_t *px = malloc((size_t)n * n * 3), rgb[3];
	enum shape s = shape_for(category, sub);
	double scale = 0.78 + 0.12 * rnd(), dx = (rnd() - 0.5) * 0.1, tex = 6 + rnd() * 8;
	int rc = -1;

	(void)sku;
	if (!cov || !shade || !soft || !px)
		goto out;
	colour_of(colour, rgb);
	for (int y = 0; y < n; y++)
		for (int x = 0; x < n; x++) {
			int hits = 0;
			double sh = 0;

			for (int j = 0; j < ss; j++)
				for (int i = 0; i < ss; i++) {
					double u = ((x + (i + 0.5) / ss) / n * 2 - 1 - dx) / scale;
					double v = ((y + (j + 0.5) / ss) / n * 2 - 1) / scale;
					double f = shape_at(s, u, v);

					if (f > 0) {
						hits++;
						sh += f;
					}
				}
			cov[y * n + x] = (float)hits / (ss * ss);
			shade[y * n + x] = hits ? (float)(sh / hits) : 1.0f;
		}
	/* A lens's softness: a 3x3 tent blur of the coverage. */
	for (int y = 0; y < n; y++)
		for (int x = 0; x < n; x++) {
			double acc = 0, wsum = 0;

			for (int j = -1; j <= 1; j++)
				for (int i = -1; i <= 1; i++) {
					int yy = y + j, xx = x + i;
					double w = (2 - abs(i)) * (2 - abs(j));

					if (yy < 0 || yy >= n || xx < 0 || xx >= n)
						continue;
					acc += w * cov[yy * n + xx];
					wsum += w;
				}
			soft[y * n + x] = (float)(acc / wsum);
		}
	for (int y = 0; y < n; y++)
		for (int x = 0; x < n; x++) {
			double a = soft[y * n + x], light = 1.04 - 0.26 * y / n;
			double hx = (x - n * 0.38) / (n * 0.22), hy = (y - n * 0.3) / (n * 0.22);
			double spec = 0.06 * exp(-(hx * hx + hy * hy));
			double grain = (sin(x / tex * 6.28) * sin(y / tex * 6.28)) * 0.03;

			for (int k = 0; k < 3; k++) {
				/* A part of shade >= 1.3 (a sole, a label) contrasts
				 * with the body: dark on light products, light on dark. */
				double base = shade[y * n + x] >= 1.3 ? 226 - 0.62 * rgb[k] : rgb[k] * shade[y * n + x];
				double prod = base * (light + grain) + 255 * spec;
				double bg = 252 - 3.0 * y / n;  /* the sweep's light falls off a little */

				px[(y * n + x) * 3 + k] = (uint8_t)clampd(a * prod + (1 - a) * bg + 0.5, 0, 255);
			}
		}
	rc = save_rgb(px, n, n, path);
out:
	free(cov);
	free(shade);
	free(soft);
	free(px);
	return rc;
}

/* A scene: a wall above the floor line (72%), a floor below, both textured. */
static int scene(const char *path, int kind)
{
	static const double wall[4][3] = { { 226, 214, 196 }, { 206, 212, 218 }, { 150, 150, 148 }, { 196, 206, 186 } };
	static const double floor_[4][3] = { { 170, 120, 78 }, { 236, 236, 232 }, { 120, 118, 114 }, { 214, 204, 184 } };
	const int w = SCENE_W, h = SCENE_H, line = h * 72 / 100;
	uint8_t *px = malloc((size_t)w * h * 3);
	int rc;

	if (!px)
		return -1;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			double c[3], light = 1.05 - 0.25 * fabs((double)x / w - 0.35);

			for (int k = 0; k < 3; k++) {
				if (y < line) {
					c[k] = wall[kind][k] * (light - 0.12 * (double)(line - y) / line);
				} else {
					double t = (double)(y - line) / (h - line), pattern = 0;

					if (kind == 0)       /* oak grain along the planks */
						pattern = 0.08 * sin(x * 0.02 + 6 * sin(y * 0.05)) + 0.05 * sin(x * 0.11 + y * 0.3);
					else if (kind == 1)  /* marble veins */
					{
						double m = fabs(sin(x * 0.01 + 3 * sin(y * 0.02 + x * 0.004)));

						m *= m; m *= m; m *= m; m *= m * m;  /* ^24 */
						pattern = -0.12 * m;
					}
					else if (kind == 2)  /* concrete mottle */
						pattern = 0.04 * sin(x * 0.05) * sin(y * 0.07) + 0.03 * sin(x * 0.013 + y * 0.021);
					else                 /* linen weave */
						pattern = 0.03 * sin(x * 1.3) * sin(y * 1.1);
					c[k] = floor_[kind][k] * (light * (0.85 + 0.2 * t) + pattern);
				}
				c[k] += (rnd() - 0.5) * 6;
			}
			/* the floor's edge catches the light */
			if (y >= line && y < line + 3)
				for (int k = 0; k < 3; k++)
					c[k] *= 1.08;
			for (int k = 0; k < 3; k++)
				px[((size_t)y * w + x) * 3 + k] = (uint8_t)clampd(c[k] + 0.5, 0, 255);
		}
	rc = save_rgb(px, w, h, path);
	free(px);
	return rc;
}

static void make_dirs_for(const char *path)
{
	char *copy = strdup(path);

	for (char *p = copy ? copy + 1 : NULL; p && *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(copy, 0755);
			*p = '/';
		}
	free(copy);
}

int main(int argc, char **argv)
{
	static const char *const scenes[] = { "oak-table", "marble-counter", "concrete-floor", "linen-backdrop" };
	char line[1 << 16], path[4096];
	FILE *f;
	int made = 0, failed = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: example_photos CATALOG.jsonl OUTDIR\n");
		return 2;
	}
	if (VIPS_INIT(argv[0]))
		return 1;
	f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	while (fgets(line, sizeof line, f)) {
		json_t *r = json_loads(line, 0, NULL);
		const char *sku = json_string_value(json_object_get(r, "sku"));
		const char *image = json_string_value(json_object_get(r, "image"));
		json_t *cols = json_object_get(r, "colours");

		if (!sku || !image || strncmp(image, "http", 4) == 0) {
			json_decref(r);
			continue;
		}
		snprintf(path, sizeof path, "%s/%s", argv[2], image);
		if (access(path, F_OK) != 0) {
			make_dirs_for(path);
			rng_state = seed_of(sku);
			if (photo(path, sku, json_string_value(json_object_get(r, "category")),
				  json_string_value(json_object_get(r, "subcategory")),
				  json_string_value(json_array_get(cols, 0))) == 0)
				made++;
			else {
				fprintf(stderr, "example_photos: %s: %s\n", path, vips_error_buffer());
				failed++;
			}
		}
		json_decref(r);
	}
	fclose(f);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/scenes/%s.jpg", argv[2], scenes[i]);
		if (access(path, F_OK) == 0)
			continue;
		make_dirs_for(path);
		rng_state = seed_of(scenes[i]);
		if (scene(path, i) == 0)
			made++;
		else {
			fprintf(stderr, "example_photos: %s: %s\n", path, vips_error_buffer());
			failed++;
		}
	}
	if (made)
		printf("example_photos: made %d file%s under %s\n", made, made == 1 ? "" : "s", argv[2]);
	vips_shutdown();
	return failed ? 1 : 0;
}
