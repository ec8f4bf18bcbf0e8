/* preset.c: channel presets (the frame a marketplace wants) and output
 * formats.
 *
 * Built in: amazon_main (Amazon's main image: pure white RGB 255 background,
 * the product filling at least 85% of the frame, 2000 px on the long side so
 * zoom works, JPEG), shopify_square (2048 x 2048, Shopify's recommended
 * square), google (Merchant Center: at least 800 x 800 for apparel, no
 * overlays such as text or badges).  Custom presets come from the
 * configuration, optionally starting from a built-in one ("base").
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "media/image_int.h"

static const struct media_preset builtins[] = {
	{ .name = "amazon_main", .long_side = 2000, .fill = 0.90,
	  .background = { 255, 255, 255 }, .format = MEDIA_FORMAT_JPEG, .quality = 90,
	  .overlays = false },
	{ .name = "shopify_square", .width = 2048, .height = 2048, .fill = 0.85,
	  .background = { 255, 255, 255 }, .format = MEDIA_FORMAT_JPEG, .quality = 88,
	  .overlays = true },
	{ .name = "google", .long_side = 1600, .min_width = 800, .min_height = 800,
	  .fill = 0.85, .background = { 255, 255, 255 }, .format = MEDIA_FORMAT_JPEG,
	  .quality = 88, .overlays = false },
};

const struct media_preset *media_preset_builtin(const char *name)
{
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	return NULL;
}

static const char *const format_names[] = { "jpeg", "webp", "png" };
static const char *const format_mimes[] = { "image/jpeg", "image/webp", "image/png" };

int media_format_parse(const char *s, enum media_format *out, struct err *e)
{
	if (!strcasecmp(s, "jpeg") || !strcasecmp(s, "jpg"))
		*out = MEDIA_FORMAT_JPEG;
	else if (!strcasecmp(s, "webp"))
		*out = MEDIA_FORMAT_WEBP;
	else if (!strcasecmp(s, "png"))
		*out = MEDIA_FORMAT_PNG;
	else
		return err_set(e, ERR_CONFIG, "unknown image format \"%.40s\": expected jpeg, webp or png",
			       s);
	return 0;
}

const char *media_format_name(enum media_format f)
{
	return (unsigned)f < 3 ? format_names[f] : "?";
}

const char *media_format_mime(enum media_format f)
{
	return (unsigned)f < 3 ? format_mimes[f] : "application/octet-stream";
}

static int get_int(const char *name, const char *key, const json_t *v, int lo, int hi, int *out,
		   struct err *e)
{
	json_int_t n;

	if (!json_is_integer(v))
		return err_set(e, ERR_CONFIG, "preset \"%s\": %s: expected an integer", name, key);
	n = json_integer_value(v);
	if (n < lo || n > hi)
		return err_set(e, ERR_CONFIG, "preset \"%s\": %s: %lld is out of range %d..%d", name,
			       key, (long long)n, lo, hi);
	*out = (int)n;
	return 0;
}

static int get_colour(const char *name, const json_t *v, uint8_t rgb[3], struct err *e)
{
	unsigned r, g, b;
	const char *s;

	if (json_is_array(v) && json_array_size(v) == 3) {
		for (int i = 0; i < 3; i++) {
			const json_t *c = json_array_get(v, i);

			if (!json_is_integer(c) || json_integer_value(c) < 0 ||
			    json_integer_value(c) > 255)
				return err_set(e, ERR_CONFIG,
					       "preset \"%s\": background: expected [r, g, b] of 0..255",
					       name);
			rgb[i] = (uint8_t)json_integer_value(c);
		}
		return 0;
	}
	s = json_string_value(v);
	if (s && strlen(s) == 7 && s[0] == '#' && sscanf(s + 1, "%2x%2x%2x", &r, &g, &b) == 3 &&
	    strspn(s + 1, "0123456789abcdefABCDEF") == 6) {
		rgb[0] = (uint8_t)r;
		rgb[1] = (uint8_t)g;
		rgb[2] = (uint8_t)b;
		return 0;
	}
	return err_set(e, ERR_CONFIG,
		       "preset \"%s\": background: expected \"#rrggbb\" or [r, g, b]", name);
}

int media_preset_from_json(const char *name, const json_t *cfg, struct media_preset *out,
			   struct err *e)
{
	struct media_preset p;
	const json_t *base = json_object_get(cfg, "base");
	const char *key;
	json_t *v;

	if (!json_is_object(cfg))
		return err_set(e, ERR_CONFIG, "preset \"%s\": expected an object", name);
	if (strlen(name) >= MEDIA_PRESET_NAME_MAX)
		return err_set(e, ERR_CONFIG, "preset name \"%.40s...\" is too long", name);
	memset(&p, 0, sizeof p);
	p.fill = 0.85;
	p.background[0] = p.background[1] = p.background[2] = 255;
	p.format = MEDIA_FORMAT_JPEG;
	p.quality = 90;
	p.overlays = true;
	if (base) {
		const struct media_preset *b = json_is_string(base)
			? media_preset_builtin(json_string_value(base)) : NULL;

		if (!b)
			return err_set(e, ERR_CONFIG,
				       "preset \"%s\": base: expected one of amazon_main, shopify_square, google",
				       name);
		p = *b;
	}
	snprintf(p.name, sizeof p.name, "%s", name);

	json_object_foreach((json_t *)cfg, key, v) {
		int rc = 0;

		if (!strcmp(key, "base"))
			continue;
		if (!strcmp(key, "width"))
			rc = get_int(name, key, v, 16, 16384, &p.width, e);
		else if (!strcmp(key, "height"))
			rc = get_int(name, key, v, 16, 16384, &p.height, e);
		else if (!strcmp(key, "long_side"))
			rc = get_int(name, key, v, 16, 16384, &p.long_side, e);
		else if (!strcmp(key, "min_width"))
			rc = get_int(name, key, v, 0, 16384, &p.min_width, e);
		else if (!strcmp(key, "min_height"))
			rc = get_int(name, key, v, 0, 16384, &p.min_height, e);
		else if (!strcmp(key, "quality"))
			rc = get_int(name, key, v, 1, 100, &p.quality, e);
		else if (!strcmp(key, "fill")) {
			if (!json_is_number(v) || json_number_value(v) <= 0 ||
			    json_number_value(v) > 1)
				rc = err_set(e, ERR_CONFIG,
					     "preset \"%s\": fill: expected a number in (0, 1]", name);
			else
				p.fill = json_number_value(v);
		} else if (!strcmp(key, "background"))
			rc = get_colour(name, v, p.background, e);
		else if (!strcmp(key, "format")) {
			if (!json_is_string(v))
				rc = err_set(e, ERR_CONFIG, "preset \"%s\": format: expected a string",
					     name);
			else if (media_format_parse(json_string_value(v), &p.format, e))
				rc = err_prefix(e, "preset \"%s\": format", name);
		} else if (!strcmp(key, "overlays")) {
			if (!json_is_boolean(v))
				rc = err_set(e, ERR_CONFIG, "preset \"%s\": overlays: expected true or false",
					     name);
			else
				p.overlays = json_is_true(v);
		} else
			rc = err_set(e, ERR_CONFIG, "preset \"%s\": unknown key \"%.40s\"", name, key);
		if (rc)
			return -1;
	}
	if ((p.width > 0) != (p.height > 0))
		return err_set(e, ERR_CONFIG, "preset \"%s\": give both width and height, or neither",
			       name);
	if (p.width == 0 && p.long_side == 0)
		return err_set(e, ERR_CONFIG,
			       "preset \"%s\": needs width and height, or long_side", name);
	if (p.width > 0)
		p.long_side = 0;
	*out = p;
	return 0;
}

void media_preset_frame(const struct media_preset *p, int w, int h, int *fw, int *fh)
{
	if (p->width > 0) {
		*fw = p->width;
		*fh = p->height;
		return;
	}
	/* The long axis is long_side; the short one keeps the same margin share,
	 * so the product fills `fill` of both. */
	if (w >= h) {
		*fw = p->long_side;
		*fh = (int)((double)p->long_side * h / w + 0.5);
	} else {
		*fh = p->long_side;
		*fw = (int)((double)p->long_side * w / h + 0.5);
	}
	if (*fw < 1)
		*fw = 1;
	if (*fh < 1)
		*fh = 1;
	if (*fw < p->min_width)
		*fw = p->min_width;
	if (*fh < p->min_height)
		*fh = p->min_height;
}
