/* image_load.c: decoding product photos and scenes with libvips, and the
 * image object itself.
 *
 * Everything that enters the pipeline leaves here as sRGB, 8 bits per
 * channel, 3 bands or 4 with alpha, fully decoded in memory, upright.  What
 * is refused, and why:
 *   - formats other than JPEG, PNG, GIF, WebP, TIFF, HEIF (libvips can load
 *     matrices, raw dumps and its own format; a catalog's photo is none of
 *     those);
 *   - more pixels than the limit, checked from the header before a single
 *     pixel is decoded (a 30000 x 30000 PNG is a few KB of zeros);
 *   - animations (a GIF or WebP of more than one frame);
 *   - truncated or corrupt files: libvips is told to fail on truncation
 *     rather than fill the rest with grey.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "media/icc_srgb.h"
#include "media/image_int.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_failed;

/* libvips also logs what it reports as errors ("error in tile 0 x 8" for a
 * truncated JPEG) as GLib warnings on stderr.  The error reaches the caller
 * through struct err with its SKU; the warning would be a second, contextless
 * copy in the run's output.  SKUGEN_VIPS_WARNINGS=1 keeps them. */
static void drop_warning(const gchar *domain, GLogLevelFlags level, const gchar *msg,
			 gpointer data)
{
	(void)domain;
	(void)level;
	(void)msg;
	(void)data;
}

static void init_vips(void)
{
	if (VIPS_INIT("skugen") != 0) {
		init_failed = 1;
		return;
	}
	/* The operation cache keeps finished images alive; in a batch of
	 * thousands of SKUs it would only hold memory. */
	vips_cache_set_max(0);
	if (!getenv("SKUGEN_VIPS_WARNINGS"))
		g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, drop_warning, NULL);
}

int media_init(struct err *e)
{
	pthread_once(&init_once, init_vips);
	if (init_failed)
		return err_set(e, ERR_INTERNAL, "libvips: cannot start: %s", vips_error_buffer());
	return 0;
}

int media_err(struct err *e, enum err_code code, const char *ctx, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ctx && *ctx)
		return err_set(e, code, "%s: %s", ctx, msg);
	return err_set(e, code, "%s", msg);
}

int media_vips_err(struct err *e, enum err_code code, const char *ctx, const char *what)
{
	char reason[512];
	/* Copied and cleared in one step under libvips's lock (the buffer is
	 * shared by every thread). */
	char *v = vips_error_buffer_copy();
	size_t n;

	/* libvips's buffer holds lines such as "jpegload_buffer: premature end
	 * of JPEG image\n"; the first line is the cause. */
	snprintf(reason, sizeof reason, "%s", v && *v ? v : "unknown libvips error");
	g_free(v);
	n = strcspn(reason, "\n");
	reason[n] = '\0';
	return media_err(e, code, ctx, "%s: %s", what, reason);
}

void media_unref_all(VipsImage **v, int n)
{
	for (int i = 0; i < n; i++)
		if (v[i])
			g_object_unref(v[i]);
}

int media_wrap(VipsImage *vi, const char *ctx, const char *what, struct media_image **out,
	       struct err *e)
{
	struct media_image *img = NULL;
	VipsImage *mem;

	*out = NULL;
	mem = vips_image_copy_memory(vi);
	g_object_unref(vi);
	if (!mem)
		return media_vips_err(e, ERR_INPUT, ctx, what);
	img = calloc(1, sizeof *img);
	if (!img) {
		g_object_unref(mem);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	img->vi = mem;
	*out = img;
	return 0;
}

void media_image_free(struct media_image *img)
{
	if (!img)
		return;
	if (img->vi)
		g_object_unref(img->vi);
	free(img);
}

int media_image_width(const struct media_image *img) { return img->vi->Xsize; }
int media_image_height(const struct media_image *img) { return img->vi->Ysize; }
int media_image_bands(const struct media_image *img) { return img->vi->Bands; }
bool media_image_has_alpha(const struct media_image *img) { return img->vi->Bands == 4; }

int media_image_from_pixels(const uint8_t *pixels, int width, int height, int bands,
			    struct media_image **out, struct err *e)
{
	VipsImage *vi;

	*out = NULL;
	if (media_init(e))
		return -1;
	if (width <= 0 || height <= 0 || (bands != 3 && bands != 4))
		return err_set(e, ERR_INTERNAL, "image from pixels: bad shape %dx%dx%d",
			       width, height, bands);
	vi = vips_image_new_from_memory_copy(pixels, (size_t)width * height * bands, width,
					     height, bands, VIPS_FORMAT_UCHAR);
	if (!vi)
		return media_vips_err(e, ERR_NOMEM, NULL, "image from pixels");
	vi->Type = VIPS_INTERPRETATION_sRGB;
	return media_wrap(vi, NULL, "image from pixels", out, e);
}

int media_image_pixels(const struct media_image *img, uint8_t **out, size_t *len,
		       struct err *e)
{
	size_t n = VIPS_IMAGE_SIZEOF_IMAGE(img->vi);
	uint8_t *p = malloc(n ? n : 1);

	*out = NULL;
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory copying %zu bytes of pixels", n);
	/* vi is a memory image (media_wrap): its pixels are contiguous. */
	memcpy(p, VIPS_IMAGE_ADDR(img->vi, 0, 0), n);
	*out = p;
	*len = n;
	return 0;
}

/* libvips names loaders by class ("VipsForeignLoadPngBuffer"); its
 * nickname ("pngload_buffer") is what the rest of this file speaks. */
static const char *loader_nick(const char *class_name)
{
	GType t = g_type_from_name(class_name);
	const char *nick = t ? vips_nickname_find(t) : NULL;

	return nick ? nick : class_name;
}

/* The loaders a product photo or scene may come through. */
static bool loader_allowed(const char *nick)
{
	static const char *const ok[] = {
		"jpegload", "pngload", "gifload", "webpload", "tiffload", "heifload", NULL,
	};

	for (int i = 0; ok[i]; i++)
		if (strncmp(nick, ok[i], strlen(ok[i])) == 0)
			return true;
	return false;
}

static bool is_animated_format(const char *nick)
{
	return strncmp(nick, "gifload", 7) == 0 || strncmp(nick, "webpload", 8) == 0;
}

/* Whether vi's embedded profile is sRGB: a transform to sRGB would change
 * nothing and cost more than the decode (icc_srgb.c). */
static bool embedded_srgb(VipsImage *vi)
{
	const void *data;
	size_t len;

	return vips_image_get_blob(vi, VIPS_META_ICC_NAME, &data, &len) == 0 &&
	       media_icc_is_srgb(data, len);
}

/* Everything after the header: check the limits, convert to sRGB uchar,
 * decode into memory, turn upright.  hdr is stolen. */
static int finish_load(VipsImage *hdr, const char *nick, const struct media_load_opts *opts,
		       const char *ctx, struct media_image **out, struct err *e)
{
	uint64_t limit = opts && opts->max_pixels ? opts->max_pixels : MEDIA_MAX_PIXELS_DEFAULT;
	uint64_t pixels = (uint64_t)hdr->Xsize * (uint64_t)hdr->Ysize;
	int pages = vips_image_get_n_pages(hdr);
	VipsImage *t[4] = { NULL };
	VipsImage *cur = hdr;
	struct media_image *img = NULL;
	int orientation;
	int rc = -1;

	*out = NULL;
	if (pages > 1 && is_animated_format(nick)) {
		media_err(e, ERR_INPUT, ctx, "animated image (%d frames) is not supported: give a still",
			  pages);
		goto done;
	}
	if (pixels > limit) {
		media_err(e, ERR_INPUT, ctx,
			  "image is %dx%d (%llu pixels), over the limit of %llu pixels",
			  hdr->Xsize, hdr->Ysize, (unsigned long long)pixels,
			  (unsigned long long)limit);
		goto done;
	}

	/* Colour: CMYK through its profile (libvips's built-in CMYK profile
	 * when the file has none), RGB with an embedded profile through it
	 * unless that profile is sRGB (nothing would change), everything else (greyscale, 16-bit, sRGB) by libvips's colourspace
	 * conversion.  Alpha travels along in each. */
	VipsInterpretation interp = vips_image_guess_interpretation(cur);
	bool has_icc = vips_image_get_typeof(cur, VIPS_META_ICC_NAME) != 0;
	if (interp == VIPS_INTERPRETATION_CMYK) {
		if (vips_icc_transform(cur, &t[0], "srgb", "input_profile", "cmyk",
				       "embedded", TRUE, "depth", 8, NULL)) {
			media_vips_err(e, ERR_INPUT, ctx, "cmyk to srgb");
			goto done;
		}
		cur = t[0];
	} else if (has_icc && cur->Bands >= 3 &&
		   /* an 8-bit sRGB-tagged photo needs no transform; a 16-bit
		    * one keeps lcms's rounding to 8 bits, as before */
		   !(cur->BandFmt == VIPS_FORMAT_UCHAR && embedded_srgb(cur))) {
		if (vips_icc_transform(cur, &t[0], "srgb", "embedded", TRUE, "depth", 8, NULL)) {
			/* A broken embedded profile: read the numbers as sRGB
			 * rather than fail the product. */
			vips_error_clear();
			t[0] = NULL;
		} else {
			cur = t[0];
		}
	}
	if (cur->Type != VIPS_INTERPRETATION_sRGB || cur->BandFmt != VIPS_FORMAT_UCHAR) {
		if (vips_colourspace(cur, &t[1], VIPS_INTERPRETATION_sRGB, NULL)) {
			media_vips_err(e, ERR_INPUT, ctx, "convert to srgb");
			goto done;
		}
		cur = t[1];
		if (cur->BandFmt != VIPS_FORMAT_UCHAR) {
			if (vips_cast(cur, &t[2], VIPS_FORMAT_UCHAR, NULL)) {
				media_vips_err(e, ERR_INPUT, ctx, "convert to 8 bits");
				goto done;
			}
			cur = t[2];
		}
	}
	if (cur->Bands > 4 || cur->Bands < 3) {
		if (cur->Bands < 3 || vips_extract_band(cur, &t[3], 0, "n", 4, NULL)) {
			media_err(e, ERR_INPUT, ctx, "image has %d bands: expected 3 or 4",
				  cur->Bands);
			vips_error_clear();
			goto done;
		}
		cur = t[3];
	}
	g_object_ref(cur);
	if (media_wrap(cur, ctx, "cannot decode, truncated or corrupt", &img, e))
		goto done;
	img->vi->Type = VIPS_INTERPRETATION_sRGB;

	orientation = vips_image_get_orientation(img->vi);
	if (orientation > 1 && orientation <= 8) {
		VipsImage *rot;
		struct media_image *up;

		if (vips_autorot(img->vi, &rot, NULL)) {
			media_vips_err(e, ERR_INPUT, ctx, "apply exif orientation");
			goto done;
		}
		if (media_wrap(rot, ctx, "apply exif orientation", &up, e))
			goto done;
		media_image_free(img);
		img = up;
	}
	vips_image_remove(img->vi, VIPS_META_ORIENTATION);
	*out = img;
	img = NULL;
	rc = 0;
done:
	media_image_free(img);
	media_unref_all(t, 4);
	g_object_unref(hdr);
	return rc;
}

int media_image_load_file(const char *path, const struct media_load_opts *opts,
			  const char *ctx, struct media_image **out, struct err *e)
{
	char where[ERR_MSG_MAX / 2];
	const char *nick;
	VipsImage *hdr;
	struct stat st;

	*out = NULL;
	if (media_init(e))
		return -1;
	/* Messages name the file after the caller's context. */
	if (ctx && *ctx)
		snprintf(where, sizeof where, "%s: %s", ctx, path);
	else
		snprintf(where, sizeof where, "%s", path);
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return media_err(e, ERR_INPUT, where, "not a regular file");
	nick = vips_foreign_find_load(path);
	if (nick)
		nick = loader_nick(nick);
	if (!nick) {
		/* Either unreadable or not an image: say which. */
		FILE *f = fopen(path, "rb");
		int empty = 0;

		vips_error_clear();
		if (!f)
			return media_err(e, ERR_INPUT, where, "cannot open image");
		empty = fgetc(f) == EOF;
		fclose(f);
		return media_err(e, ERR_INPUT, where, "%s",
				 empty ? "empty image (0 bytes)" : "not an image in a known format");
	}
	if (!loader_allowed(nick))
		return media_err(e, ERR_INPUT, where, "unsupported image format (%s)", nick);
	hdr = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL,
				       "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
	if (!hdr)
		return media_vips_err(e, ERR_INPUT, where, "decode");
	return finish_load(hdr, nick, opts, where, out, e);
}

int media_image_load_buffer(const void *data, size_t len, const struct media_load_opts *opts,
			    const char *ctx, struct media_image **out, struct err *e)
{
	const char *nick;
	VipsImage *hdr;

	*out = NULL;
	if (media_init(e))
		return -1;
	if (len == 0)
		return media_err(e, ERR_INPUT, ctx, "empty image (0 bytes)");
	nick = vips_foreign_find_load_buffer(data, len);
	if (nick)
		nick = loader_nick(nick);
	if (!nick) {
		vips_error_clear();
		return media_err(e, ERR_INPUT, ctx, "not an image in a known format (%zu bytes)",
				 len);
	}
	if (!loader_allowed(nick))
		return media_err(e, ERR_INPUT, ctx, "unsupported image format (%s)", nick);
	/* The image reads data lazily; finish_load() decodes it into memory
	 * before returning, so the caller's buffer need not outlive it. */
	hdr = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
					 "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
	if (!hdr)
		return media_vips_err(e, ERR_INPUT, ctx, "decode");
	return finish_load(hdr, nick, opts, ctx, out, e);
}

int media_image_load(const char *path_or_url, const struct media_load_opts *opts,
		     const char *ctx, struct media_image **out, struct err *e)
{
	struct buf b = BUF_INIT;
	int rc;

	*out = NULL;
	if (strncmp(path_or_url, "http://", 7) && strncmp(path_or_url, "https://", 8))
		return media_image_load_file(path_or_url, opts, ctx, out, e);
	if (media_fetch(path_or_url, opts, ctx, &b, e)) {
		buf_free(&b);
		return -1;
	}
	rc = media_image_load_buffer(b.data, b.len, opts, ctx, out, e);
	buf_free(&b);
	return rc;
}
