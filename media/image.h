/* image.h: the image pipeline's public API (libvips underneath).
 *
 * One product photo becomes channel images (presets such as amazon_main) and
 * lifestyle shots (the product placed in a scene), step by step:
 *
 *   media_image_load*()   decode a file, a memory buffer or a URL into sRGB,
 *                         8 bits per channel, 3 bands or 4 with alpha; EXIF
 *                         orientation applied, CMYK / 16-bit / greyscale /
 *                         palette converted, embedded ICC profiles honoured;
 *                         decompression bombs, animations and truncated files
 *                         refused
 *   media_cutout()        the product alone, RGBA, cropped to its bounding box:
 *                         its own alpha when it has one, else a matte for a
 *                         studio shot on a near-uniform background; fails with
 *                         the reason when the product cannot be separated
 *   media_lifestyle()     a cut-out placed into a scene: scaled to a share of
 *                         the frame, stood on the floor line or centred, a soft
 *                         contact shadow, its colours moved toward the scene's
 *                         (bounded), composited in linear light
 *   media_channel()       a cut-out framed by a channel preset
 *   media_save()          JPEG, WebP or PNG into memory, with an optional XMP
 *                         packet embedded (and no other metadata)
 *
 * Every fallible function returns 0 or -1 and fills struct err; ctx, when not
 * NULL, starts the message ("sku \"A-1\": field \"image\"").  Bad pixels are
 * ERR_INPUT (the task fails, the run goes on); a product that cannot be
 * separated is ERR_GENERATE; a failed download is ERR_INPUT (404, empty,
 * wrong type, too big) or ERR_IO (network).
 *
 * Ownership: every struct media_image returned through an out parameter is
 * new and the caller frees it with media_image_free(); inputs are borrowed
 * and never changed.  Images are immutable, so one may be used by several
 * threads at once (e.g. a scene shared by every SKU).
 *
 * Threads: media_init() once (it is also called by every loader; it is
 * idempotent and thread-safe).  libvips runs each step on its own threads.
 */
#ifndef SKUGEN_MEDIA_IMAGE_H
#define SKUGEN_MEDIA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"

struct media_image;   /* opaque: sRGB, uchar, 3 bands or 4 (alpha last) */
struct media_fetch_policy;   /* media/fetch_guard.h */

/* Start libvips (once per process; later calls do nothing).  -1 with
 * ERR_INTERNAL when libvips cannot start. */
int media_init(struct err *e);

/* ---- loading --------------------------------------------------------- */

#define MEDIA_MAX_PIXELS_DEFAULT  (100u * 1000u * 1000u)  /* 100 Mpx */
#define MEDIA_MAX_BYTES_DEFAULT   (50u * 1024u * 1024u)    /* 50 MiB download */
#define MEDIA_TIMEOUT_MS_DEFAULT  30000L

struct media_load_opts {
	uint64_t max_pixels;   /* width * height * pages from the header; 0: default */
	size_t max_bytes;      /* a download's size limit; 0: default */
	long timeout_ms;       /* a download's whole time limit; 0: default */
	long connect_timeout_ms; /* 0: 10000 */
	const struct media_fetch_policy *fetch; /* borrowed: the addresses a download
						   may connect to beyond public ones;
						   NULL: public only */
};

/* Decode path (a local file).  opts may be NULL (defaults). */
int media_image_load_file(const char *path, const struct media_load_opts *opts,
			  const char *ctx, struct media_image **out, struct err *e);

/* Decode data[0..len) (borrowed; copied as needed).  A zero-length buffer is
 * ERR_INPUT "empty image". */
int media_image_load_buffer(const void *data, size_t len, const struct media_load_opts *opts,
			    const char *ctx, struct media_image **out, struct err *e);

/* Download url (http or https only) into out (appended): at most
 * opts->max_bytes, a Content-Type of image/... (or application/octet-stream),
 * redirects only to http(s), HTTP status 200 only, connections only to
 * public addresses and those opts->fetch allows (media/fetch_guard.h; no
 * proxy).  ERR_INPUT for a 4xx/5xx status, an empty body, a wrong type, a
 * body over the limit or a refused address; ERR_IO for network failures and
 * timeouts. */
int media_fetch(const char *url, const struct media_load_opts *opts, const char *ctx,
		struct buf *out, struct err *e);

/* A path or an http(s) URL: media_fetch() then media_image_load_buffer() for
 * a URL, media_image_load_file() otherwise. */
int media_image_load(const char *path_or_url, const struct media_load_opts *opts,
		     const char *ctx, struct media_image **out, struct err *e);

/* Wrap width x height pixels of bands (3: RGB, 4: RGBA) uchar sRGB,
 * row-major, no padding; pixels are copied. */
int media_image_from_pixels(const uint8_t *pixels, int width, int height, int bands,
			    struct media_image **out, struct err *e);

/* Copy the pixels out (new, free() it): width * height * bands bytes. */
int media_image_pixels(const struct media_image *img, uint8_t **out, size_t *len,
		       struct err *e);

int media_image_width(const struct media_image *img);
int media_image_height(const struct media_image *img);
int media_image_bands(const struct media_image *img);   /* 3 or 4 */
bool media_image_has_alpha(const struct media_image *img);

/* Accepts NULL. */
void media_image_free(struct media_image *img);

/* ---- devices ------------------------------------------------------------ */

enum media_device {
	MEDIA_DEVICE_AUTO = 0,   /* the GPU when one is present, else the CPU */
	MEDIA_DEVICE_CPU,
	MEDIA_DEVICE_GPU,
};

/* "auto", "cpu" or "gpu"; ERR_USAGE naming the word otherwise. */
int media_device_parse(const char *s, enum media_device *out, struct err *e);
const char *media_device_name(enum media_device d);   /* static string */

/* What a request resolves to on this machine: AUTO becomes GPU when a CUDA
 * device is present and skugen was built with gpu/, else CPU; GPU without
 * one is ERR_CONFIG ("--device gpu: no CUDA device"). */
int media_device_resolve(enum media_device want, enum media_device *out, struct err *e);

/* The device SKUGEN_DEVICE asks for (the CLI's --device sets it; "auto" when
 * it is unset or empty), parsed as media_device_parse() does. */
int media_device_from_env(enum media_device *out, struct err *e);

/* What the local generator named name (gen_image.c, gen_video.c) runs on:
 * media_init(), then the device from the environment, resolved.  A bad word
 * is ERR_USAGE prefixed "--device"; a GPU asked for and absent, ERR_CONFIG
 * prefixed "generators.NAME". */
int media_device_for_generator(const char *name, enum media_device *out, struct err *e);

/* ---- cut-out ------------------------------------------------------------ */

struct media_cutout_opts {
	double tolerance;      /* CIE76 distance from the background colour from
				  which a pixel is product; 0: 14 */
	double soft;           /* below this distance a border-connected pixel is
				  fully background, between soft and tolerance
				  its alpha ramps up (the anti-aliased edge);
				  0: 6 */
	double feather;        /* Gaussian sigma of the matte's edge, px; 0: 1.0;
				  negative: a hard edge */
	double border_outliers;/* share of border pixels farther than tolerance
				  that still counts as a uniform background;
				  0: 0.2 (a product may touch an edge) */
	double min_product;    /* the product's least share of the image; 0: 0.005 */
	double max_product;    /* its greatest share; 0: 0.98 */
	enum media_device device;  /* where the matte runs; AUTO as everywhere */
	bool holes;            /* background-coloured regions the product encloses
				  are holes (a mug's handle, a chair's back)
				  rather than product (a white logo); false by
				  default.  Runs on the CPU. */
};

/* The product alone (new RGBA, cropped to the alpha's bounding box).  With an
 * alpha channel that is not all opaque, that alpha; else a matte: the
 * background colour is the border's mean, pixels within tolerance of it and
 * connected to the border are background, the edge is feathered, then its
 * alpha measured between background and product colour and its colours
 * freed of the background (no pale fringe from a white studio).  Fails with
 * ERR_GENERATE naming the reason: "background not uniform (37% of the border
 * differs from its mean colour)", "nothing left after removing the
 * background", "no background found around the product", "alpha is fully
 * transparent".  opts may be NULL. */
int media_cutout(const struct media_image *in, const struct media_cutout_opts *opts,
		 const char *ctx, struct media_image **out, struct err *e);

/* ---- lifestyle composites ------------------------------------------------ */

struct media_lifestyle_opts {
	double fill;           /* the product's bounding box as a share of the
				  frame (the tighter of width and height); 0: 0.5 */
	double floor;          /* where it stands, as a share of the scene's height
				  from the top; 0: centred */
	double shadow_opacity; /* 0: 0.45; negative: no shadow */
	double shadow_blur;    /* sigma as a share of the product's height; 0: 0.03 */
	double shadow_dx, shadow_dy;  /* offset, shares of the product's height;
					 0,0: 0.02, 0.01 */
	double shadow_squash;  /* the shadow's height as a share of the product's,
				  its base at the product's base: a contact
				  shadow on the floor; 0: 0.15; 1: the whole
				  silhouette (a drop shadow) */
	double harmonise;      /* 0..1, how far the Lab mean/deviation move toward
				  the scene's; 0: 0.5; negative: none */
	double harmonise_max_shift;  /* the most the Lab mean moves, per channel,
					in Lab units; 0: 8 */
	double harmonise_max_ratio;  /* the most a deviation is scaled (and 1/it
					the least); 0: 1.25 */
	int width, height;     /* output size; 0,0: the scene's */
	enum media_device device;
};

/* product: a cut-out (RGBA; an RGB image is taken as fully opaque); scene:
 * RGB or RGBA (flattened).  Returns a new RGB image of the scene's size (or
 * width x height, the scene cropped to fill it).  opts may be NULL. */
int media_lifestyle(const struct media_image *product, const struct media_image *scene,
		    const struct media_lifestyle_opts *opts, const char *ctx,
		    struct media_image **out, struct err *e);

/* ---- channel presets ---------------------------------------------------- */

enum media_format {
	MEDIA_FORMAT_JPEG = 0,
	MEDIA_FORMAT_WEBP,
	MEDIA_FORMAT_PNG,
};

#define MEDIA_PRESET_NAME_MAX 64

struct media_preset {
	char name[MEDIA_PRESET_NAME_MAX];
	int width, height;     /* a fixed frame; 0,0: derived from the product */
	int long_side;         /* a derived frame's long side (used when width and
				  height are 0) */
	int min_width, min_height;  /* a derived frame is padded up to these */
	double fill;           /* the product's bounding box as a share of the
				  frame, on its tighter axis (0.9: 90%) */
	uint8_t background[3]; /* the frame's colour, sRGB */
	enum media_format format;
	int quality;           /* JPEG / WebP quality, 1..100 */
	bool overlays;         /* whether text or badges may be added (google: no) */
};

/* The built-in preset called name (static; do not free), or NULL:
 *   amazon_main     white 255, product 90% (>= 85%), 2000 px long side, JPEG q90
 *   shopify_square  2048 x 2048, white, product 85%, JPEG q88
 *   google          >= 800 x 800 (1600 long side), white, product 85%, no
 *                   overlays, JPEG q88 */
const struct media_preset *media_preset_builtin(const char *name);

/* A custom preset from a configuration object (borrowed) such as
 * {"width": 1200, "height": 1500, "fill": 0.8, "background": "#f4f4f4",
 *  "format": "webp", "quality": 85}, or {"base": "amazon_main", "quality": 95}:
 * keys long_side, min_width, min_height, overlays too; unknown keys are
 * errors.  ERR_CONFIG naming name and the key. */
int media_preset_from_json(const char *name, const json_t *cfg, struct media_preset *out,
			   struct err *e);

/* "jpeg" (or "jpg"), "webp", "png"; ERR_CONFIG otherwise. */
int media_format_parse(const char *s, enum media_format *out, struct err *e);
const char *media_format_name(enum media_format f);  /* "jpeg", ... */
const char *media_format_mime(enum media_format f);  /* "image/jpeg", ... */

/* The cut-out framed by preset: a new RGB image on the preset's background,
 * the product scaled to fill it and centred.  device as in the lifestyle
 * options. */
int media_channel(const struct media_image *product, const struct media_preset *preset,
		  enum media_device device, const char *ctx, struct media_image **out,
		  struct err *e);

/* ---- saving ------------------------------------------------------------- */

/* Encode img as fmt at quality (1..100; 0: 90; ignored by PNG) and append the
 * file to out.  xmp (borrowed, xmp_len bytes, may be NULL) is embedded as the
 * file's XMP packet; nothing else of the input's metadata (EXIF, GPS, ICC,
 * comments) is written.  An image with alpha is flattened onto white for
 * JPEG. */
int media_save(const struct media_image *img, enum media_format fmt, int quality,
	       const char *xmp, size_t xmp_len, struct buf *out, struct err *e);

/* ---- one call per SKU ----------------------------------------------------- */

/* What media_render() makes: a channel image (preset set) or a lifestyle
 * shot (scene set); everything borrowed. */
struct media_job {
	const char *product;                    /* path or URL */
	const struct media_image *product_image;/* or the decoded product itself */
	const struct media_image *scene;        /* lifestyle: the scene */
	const struct media_lifestyle_opts *lifestyle; /* may be NULL */
	const struct media_preset *preset;      /* channel image; for a lifestyle
						   shot, only its format and quality */
	const struct media_cutout_opts *cutout; /* may be NULL */
	const struct media_load_opts *load;     /* may be NULL */
	enum media_format format;               /* used when preset is NULL */
	int quality;                            /* used when preset is NULL */
	const char *xmp;                        /* may be NULL */
	size_t xmp_len;
	enum media_device device;
};

/* Load, cut out, place or frame, encode: the file appended to out, its size
 * in *width and *height (either may be NULL).  ctx names the SKU. */
int media_render(const struct media_job *job, const char *ctx, struct buf *out,
		 int *width, int *height, struct err *e);

#endif
