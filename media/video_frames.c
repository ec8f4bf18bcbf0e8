/* video_frames.c: frame synthesis for product videos (media/video.h).
 *
 * Each still is resampled once (libvips, Lanczos) to the frame size times
 * the zoom and converted to YUV 4:2:0.  A frame is then one or two affine
 * warps of those planes (gpu/warp.h: pan and zoom, sub-pixel) and a
 * crossfade (gpu/crossfade.h), or the end card, rendered once with
 * vips_text and composited.
 *
 * Timeline, for N stills of S seconds each, dissolves of F seconds and an
 * end card shown for E seconds: still k starts at k * (S - F); the end card
 * fades in from N * (S - F) and holds for E, so the duration D is
 * N * (S - F) + F + E (without an end card, N * (S - F) + F).  Within its
 * S seconds a still travels from one framing to another with an ease-in-out
 * cubic: even stills zoom in from the whole still and drift, odd ones zoom
 * back out; the first frame of a clip is its first still, whole.
 */
#include "media/video_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/crossfade.h"
#include "gpu/device.h"

struct still {
	struct media_frame img;   /* prepared: pw x ph */
	struct media_frame dimg;  /* the same on the device (GPU path) */
	double z0, z1;            /* zoom at the start and end of its segment */
	double px0, py0, px1, py1; /* pan, -1..1 of the free range */
};

struct media_video {
	struct media_video_opts o;
	int n;                     /* stills used */
	struct still *stills;
	int pw, ph;                /* prepared size */
	int frames;
	double seg, fade;          /* S and F */
	double card_at;            /* when the end card starts fading in; < 0: none */
	struct media_frame card;
	struct media_frame tmp;    /* the upper layer of a dissolve */
	/* the GPU path: stills, card and the frame being made stay on the
	 * device; each frame is downloaded once */
	int gpu;
	void *stream;
	struct media_frame dcard, dframe, dtmp;
};

void media_video_opts_default(struct media_video_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->width = 1080;
	o->height = 1080;
	o->fps = 30;
	o->duration = 6;
	o->crossfade = 0.75;
	o->zoom = 1.12;
	o->filter = GPU_WARP_BILINEAR;
	o->end_card = 1.5;
	o->background[0] = o->background[1] = o->background[2] = 255;
	o->text_colour[0] = o->text_colour[1] = o->text_colour[2] = 34;
	o->device = MEDIA_VIDEO_DEVICE_AUTO;
}

static const struct {
	const char *name, *size;
	int w, h;
} presets[] = {
	{ "square", "1080x1080", 1080, 1080 },
	{ "portrait", "1080x1920", 1080, 1920 },
	{ "landscape", "1920x1080", 1920, 1080 },
};

int media_video_preset(const char *name, int *width, int *height, struct err *e)
{
	for (size_t i = 0; name && i < sizeof(presets) / sizeof(presets[0]); i++) {
		if (strcmp(name, presets[i].name) == 0 || strcmp(name, presets[i].size) == 0) {
			*width = presets[i].w;
			*height = presets[i].h;
			return 0;
		}
	}
	return err_set(e, ERR_CONFIG,
		       "video preset \"%s\": unknown (square or 1080x1080, portrait or 1080x1920, "
		       "landscape or 1920x1080)", name ? name : "");
}

static double ease(double u)
{
	if (u <= 0)
		return 0;
	if (u >= 1)
		return 1;
	if (u < 0.5)
		return 4 * u * u * u;
	double v = -2 * u + 2;
	return 1 - v * v * v / 2;
}

static int check_opts(const struct media_video_opts *o, struct err *e)
{
	if (o->width < 16 || o->height < 16 || o->width > 4096 || o->height > 4096 ||
	    o->width % 2 || o->height % 2)
		return err_set(e, ERR_CONFIG, "video size %dx%d: need even sides from 16 to 4096",
			       o->width, o->height);
	if (o->fps < 1 || o->fps > 120)
		return err_set(e, ERR_CONFIG, "video fps %d: need 1 to 120", o->fps);
	if (!(o->duration >= MEDIA_VIDEO_MIN_SECONDS && o->duration <= MEDIA_VIDEO_MAX_SECONDS))
		return err_set(e, ERR_CONFIG, "video duration %g s: need %g to %g", o->duration,
			       MEDIA_VIDEO_MIN_SECONDS, MEDIA_VIDEO_MAX_SECONDS);
	if (!(o->crossfade >= 0 && o->crossfade <= 2))
		return err_set(e, ERR_CONFIG, "video crossfade %g s: need 0 to 2", o->crossfade);
	if (!(o->zoom >= 1 && o->zoom <= 2))
		return err_set(e, ERR_CONFIG, "video zoom %g: need 1 to 2", o->zoom);
	if (!(o->end_card >= 0 && o->end_card <= 5))
		return err_set(e, ERR_CONFIG, "video end card %g s: need 0 to 5", o->end_card);
	if (o->filter != GPU_WARP_BILINEAR && o->filter != GPU_WARP_BICUBIC)
		return err_set(e, ERR_CONFIG, "video filter %d: unknown", (int)o->filter);
	return 0;
}

static const char *label_of(const char *const *labels, int i)
{
	return labels && labels[i] ? labels[i] : "";
}

/* A still in sRGB, 3 bands, 8 bits, alpha flattened; *out is new. */
static int normalise(VipsImage *in, const uint8_t bg[3], VipsImage **out)
{
	VipsImage *t[4] = { NULL, NULL, NULL, NULL };
	int rc = -1;
	VipsImage *cur = in;
	/* to 8-bit sRGB first (alpha kept), so the background is in 0..255 */
	if (vips_colourspace(cur, &t[0], VIPS_INTERPRETATION_sRGB, NULL))
		goto done;
	cur = t[0];
	if (vips_image_hasalpha(cur)) {
		VipsArrayDouble *b = vips_array_double_newv(3, (double)bg[0], (double)bg[1],
							   (double)bg[2]);
		int r = vips_flatten(cur, &t[1], "background", b, NULL);
		vips_area_unref(VIPS_AREA(b));
		if (r)
			goto done;
		cur = t[1];
	}
	if (vips_cast(cur, &t[2], VIPS_FORMAT_UCHAR, NULL))
		goto done;
	cur = t[2];
	if (cur->Bands > 3) {
		if (vips_extract_band(cur, &t[3], 0, "n", 3, NULL))
			goto done;
		cur = t[3];
	}
	g_object_ref(cur);
	*out = cur;
	rc = 0;
done:
	for (int i = 0; i < 4; i++)
		if (t[i])
			g_object_unref(t[i]);
	return rc;
}

/* Write img (sRGB uchar, 3 bands) into a new frame of its size. */
static int image_to_frame(VipsImage *img, struct media_frame *f, struct err *e)
{
	size_t len;
	uint8_t *rgb = vips_image_write_to_memory(img, &len);
	if (!rgb)
		return err_set(e, ERR_INPUT, "%s", vips_error_buffer());
	if (media_frame_alloc(f, img->Xsize, img->Ysize, e) < 0) {
		g_free(rgb);
		return -1;
	}
	media_rgb_to_yuv420(rgb, (size_t)img->Xsize * 3, f);
	g_free(rgb);
	return 0;
}

/* Resample one still to pw x ph: cover when its shape is near the frame's,
 * else contained over a blurred cover of itself. */
static int prepare(VipsImage *in, int pw, int ph, const uint8_t bg[3], struct media_frame *f,
		   struct err *e)
{
	VipsImage *norm = NULL, *t[4] = { NULL, NULL, NULL, NULL };
	VipsImage *done_img;
	int rc = -1;
	if (normalise(in, bg, &norm) < 0)
		goto vips_failed;
	double r = ((double)norm->Xsize / norm->Ysize) / ((double)pw / ph);
	if (r >= 0.75 && r <= 1.0 / 0.75) {
		if (vips_thumbnail_image(norm, &t[0], pw, "height", ph, "crop",
					 VIPS_INTERESTING_CENTRE, NULL))
			goto vips_failed;
		done_img = t[0];
	} else {
		/* the blur: a cover thumbnail at 1/24 of the size, blown up */
		int sw = pw / 24 > 1 ? pw / 24 : 2, sh = ph / 24 > 1 ? ph / 24 : 2;
		if (vips_thumbnail_image(norm, &t[0], sw, "height", sh, "crop",
					 VIPS_INTERESTING_CENTRE, NULL) ||
		    vips_resize(t[0], &t[1], (double)pw / t[0]->Xsize, "vscale",
				(double)ph / t[0]->Ysize, "kernel", VIPS_KERNEL_LINEAR, NULL) ||
		    vips_thumbnail_image(norm, &t[2], pw, "height", ph, NULL))
			goto vips_failed;
		if (vips_insert(t[1], t[2], &t[3], (t[1]->Xsize - t[2]->Xsize) / 2,
				(t[1]->Ysize - t[2]->Ysize) / 2, NULL))
			goto vips_failed;
		done_img = t[3];
	}
	if (done_img->Xsize != pw || done_img->Ysize != ph) {
		err_set(e, ERR_INTERNAL, "resampled to %dx%d, not %dx%d", done_img->Xsize,
			done_img->Ysize, pw, ph);
		goto done;
	}
	rc = image_to_frame(done_img, f, e);
	goto done;
vips_failed:
	err_set(e, ERR_INPUT, "cannot resample: %s", vips_error_buffer());
	vips_error_clear();
done:
	if (norm)
		g_object_unref(norm);
	for (int i = 0; i < 4; i++)
		if (t[i])
			g_object_unref(t[i]);
	return rc;
}

/* Under LeakSanitizer (make asan): fontconfig, under pango under
 * vips_text, keeps its font caches for the life of the process by design;
 * they are not ours to free (FcFini while pango holds fonts would crash). */
#if defined(__SANITIZE_ADDRESS__)
#define SKUGEN_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SKUGEN_LSAN 1
#endif
#endif
#ifdef SKUGEN_LSAN
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
}
#endif

/* Valid UTF-8 without control characters, at most max_chars characters
 * (an ellipsis when cut), with Pango markup escaped.  New; g_free it. */
static char *card_text(const char *s, long max_chars)
{
	char *valid = g_utf8_make_valid(s, -1);
	/* control characters (a tab, a stray escape) would make the markup
	 * invalid for Pango: spaces instead */
	for (char *p = valid; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (g_utf8_strlen(valid, -1) > max_chars) {
		char *cut = g_utf8_substring(valid, 0, max_chars - 1);
		g_free(valid);
		valid = g_strconcat(cut, "\xe2\x80\xa6", NULL);
		g_free(cut);
	}
	char *esc = g_markup_escape_text(valid, -1);
	g_free(valid);
	return esc;
}

/* A text mask (one band, 0..255) no wider than width and no taller than
 * max_h: px-pixel type, smaller when it would not fit.  *out is new. */
static int text_mask(const char *text, const char *weight, int px, int width, int max_h,
		     VipsImage **out)
{
	char font[64];
	snprintf(font, sizeof(font), "DejaVu Sans %s%d", weight, px);
	if (vips_text(out, text, "font", font, "width", width, "dpi", 72, "align",
		      VIPS_ALIGN_CENTRE, NULL))
		return -1;
	if ((*out)->Ysize <= max_h)
		return 0;
	g_object_unref(*out);
	*out = NULL;
	return vips_text(out, text, "font", font, "width", width, "height", max_h, "align",
			 VIPS_ALIGN_CENTRE, NULL);
}

static void paint(uint8_t *rgb, int w, int h, VipsImage *mask, int left, int top,
		  const uint8_t colour[3])
{
	size_t len;
	uint8_t *m = vips_image_write_to_memory(mask, &len);
	if (!m)
		return;
	for (int y = 0; y < mask->Ysize; y++) {
		if (top + y < 0 || top + y >= h)
			continue;
		for (int x = 0; x < mask->Xsize; x++) {
			if (left + x < 0 || left + x >= w)
				continue;
			int a = m[(size_t)y * mask->Xsize + x];
			uint8_t *p = rgb + ((size_t)(top + y) * w + (left + x)) * 3;
			for (int c = 0; c < 3; c++)
				p[c] = (uint8_t)((p[c] * (255 - a) + colour[c] * a + 127) / 255);
		}
	}
	g_free(m);
}

/* The end card: the product name, bold, and the line below it, centred on
 * the background colour. */
static int make_card(struct media_video *v, const struct media_video_opts *o, struct err *e)
{
	int w = o->width, h = o->height, side = w < h ? w : h;
	VipsImage *title = NULL, *line = NULL;
	char *tt = NULL, *lt = NULL;
	int rc = -1;
	uint8_t *rgb = malloc((size_t)w * h * 3);
	if (!rgb)
		return err_set(e, ERR_NOMEM, "no memory for the end card");
	for (size_t i = 0; i < (size_t)w * h; i++)
		memcpy(rgb + 3 * i, o->background, 3);
	tt = card_text(o->title, 120);
	if (text_mask(tt, "Bold ", side / 13, w * 8 / 10, h * 4 / 10, &title))
		goto vips_failed;
	int total = title->Ysize, gap = side / 30;
	if (o->line && o->line[0]) {
		lt = card_text(o->line, 200);
		if (text_mask(lt, "", side / 26, w * 8 / 10, h * 3 / 10, &line))
			goto vips_failed;
		total += gap + line->Ysize;
	}
	int top = (h - total) / 2;
	paint(rgb, w, h, title, (w - title->Xsize) / 2, top, o->text_colour);
	if (line)
		paint(rgb, w, h, line, (w - line->Xsize) / 2, top + title->Ysize + gap,
		      o->text_colour);
	if (media_frame_alloc(&v->card, w, h, e) < 0)
		goto done;
	media_rgb_to_yuv420(rgb, (size_t)w * 3, &v->card);
	rc = 0;
	goto done;
vips_failed:
	err_set(e, ERR_INPUT, "end card: cannot render the text: %s", vips_error_buffer());
	vips_error_clear();
done:
	if (title)
		g_object_unref(title);
	if (line)
		g_object_unref(line);
	g_free(tt);
	g_free(lt);
	free(rgb);
	return rc;
}

/* Where each still starts and ends its travel. */
static void plan_motion(struct media_video *v)
{
	for (int k = 0; k < v->n; k++) {
		struct still *s = &v->stills[k];
		double dx = (k % 4 < 2) ? 0.6 : -0.6, dy = (k % 4 < 2) ? -0.3 : 0.3;
		if (k % 2 == 0) {
			s->z0 = 1;
			s->z1 = v->o.zoom;
			s->px0 = s->py0 = 0;
			s->px1 = dx;
			s->py1 = dy;
		} else {
			s->z0 = v->o.zoom;
			s->z1 = 1;
			s->px0 = -dx;
			s->py0 = -dy;
			s->px1 = s->py1 = 0;
		}
	}
}

/* A frame's three planes on the device (data are device pointers). */
static int dev_frame_alloc(struct media_frame *d, int w, int h, struct err *e)
{
	memset(d, 0, sizeof(*d));
	if (gpu_warp_dev_alloc(&d->y, w, h, 1, e) < 0 ||
	    gpu_warp_dev_alloc(&d->u, (w + 1) / 2, (h + 1) / 2, 1, e) < 0 ||
	    gpu_warp_dev_alloc(&d->v, (w + 1) / 2, (h + 1) / 2, 1, e) < 0)
		return -1;
	return 0;
}

static void dev_frame_free(struct media_frame *d)
{
	gpu_warp_dev_free(&d->y);
	gpu_warp_dev_free(&d->u);
	gpu_warp_dev_free(&d->v);
}

static int dev_frame_upload(const struct media_frame *h, struct media_frame *d, struct err *e)
{
	if (dev_frame_alloc(d, h->y.width, h->y.height, e) < 0)
		return -1;
	return gpu_warp_dev_upload(&h->y, &d->y, e) < 0 || gpu_warp_dev_upload(&h->u, &d->u, e) < 0 ||
			       gpu_warp_dev_upload(&h->v, &d->v, e) < 0
		       ? -1 : 0;
}

/* Stills and card to the device, once per clip. */
static int to_device(struct media_video *v, struct err *e)
{
	if (gpu_warp_stream_new(&v->stream, e) < 0)
		return -1;
	for (int i = 0; i < v->n; i++)
		if (dev_frame_upload(&v->stills[i].img, &v->stills[i].dimg, e) < 0)
			return -1;
	if (v->card.mem && dev_frame_upload(&v->card, &v->dcard, e) < 0)
		return -1;
	return dev_frame_alloc(&v->dframe, v->o.width, v->o.height, e) < 0 ||
			       dev_frame_alloc(&v->dtmp, v->o.width, v->o.height, e) < 0
		       ? -1 : 0;
}

int media_video_check_still(const VipsImage *s, int index, const char *label, struct err *e)
{
	const char *l = label ? label : "";
	if (!s)
		return err_set(e, ERR_INPUT, "still %d%s%s: missing", index + 1, *l ? " " : "", l);
	long long px = (long long)s->Xsize * s->Ysize;
	if (s->Xsize < MEDIA_VIDEO_STILL_MIN_SIDE || s->Ysize < MEDIA_VIDEO_STILL_MIN_SIDE)
		return err_set(e, ERR_INPUT, "still %d%s%s: %dx%d pixels, smaller than %dx%d",
			       index + 1, *l ? " " : "", l, s->Xsize, s->Ysize,
			       MEDIA_VIDEO_STILL_MIN_SIDE, MEDIA_VIDEO_STILL_MIN_SIDE);
	if (px > MEDIA_VIDEO_STILL_MAX_PIXELS)
		return err_set(e, ERR_INPUT, "still %d%s%s: %dx%d pixels, over the limit of %lld",
			       index + 1, *l ? " " : "", l, s->Xsize, s->Ysize,
			       (long long)MEDIA_VIDEO_STILL_MAX_PIXELS);
	return 0;
}

int media_video_new(struct media_video **out, VipsImage *const *stills, const char *const *labels,
		    int n_stills, const struct media_video_opts *o, struct err *e)
{
	*out = NULL;
	if (check_opts(o, e) < 0)
		return -1;
	if (n_stills <= 0 || !stills)
		return err_set(e, ERR_INPUT, "no stills to make a video from");
	for (int i = 0; i < n_stills; i++)
		if (media_video_check_still(stills[i], i, label_of(labels, i), e) < 0)
			return -1;
	if (o->device == MEDIA_VIDEO_DEVICE_GPU && gpu_device_require(e) < 0)
		return err_prefix(e, "video");

	struct media_video *v = calloc(1, sizeof(*v));
	if (!v)
		return err_set(e, ERR_NOMEM, "no memory for a video");
	v->o = *o;
	v->o.title = v->o.line = NULL; /* the caller's: used only to make the card */
	int card = o->title && o->title[0];
	double cardlen = card ? o->end_card : 0;
	double f = o->crossfade;
	/* each still needs at least f + 0.5 s beyond its dissolve */
	int fit = (int)floor((o->duration - f - cardlen) / (f + 0.5));
	v->n = n_stills < fit ? n_stills : fit;
	if (v->n > MEDIA_VIDEO_MAX_STILLS)
		v->n = MEDIA_VIDEO_MAX_STILLS;
	if (v->n < 1)
		v->n = 1;
	v->fade = f;
	v->seg = (o->duration - f - cardlen) / v->n + f;
	v->card_at = card ? v->n * (v->seg - f) : -1;
	v->frames = (int)lround(o->duration * o->fps);
	v->pw = 2 * (int)ceil(o->width * o->zoom / 2);
	v->ph = 2 * (int)ceil(o->height * o->zoom / 2);
	v->stills = calloc((size_t)v->n, sizeof(*v->stills));
	if (!v->stills) {
		err_set(e, ERR_NOMEM, "no memory for a video");
		goto fail;
	}
	for (int i = 0; i < v->n; i++) {
		if (prepare(stills[i], v->pw, v->ph, o->background, &v->stills[i].img, e) < 0) {
			const char *l = label_of(labels, i);
			err_prefix(e, "still %d%s%s", i + 1, *l ? " " : "", l);
			goto fail;
		}
	}
	plan_motion(v);
	if (card && make_card(v, o, e) < 0)
		goto fail;
	if (media_frame_alloc(&v->tmp, o->width, o->height, e) < 0)
		goto fail;
	v->gpu = o->device == MEDIA_VIDEO_DEVICE_GPU ||
		 (o->device == MEDIA_VIDEO_DEVICE_AUTO && gpu_device_count() > 0);
	if (v->gpu && to_device(v, e) < 0) {
		err_prefix(e, "video: gpu");
		goto fail;
	}
	*out = v;
	return 0;
fail:
	media_video_free(v);
	return -1;
}

int media_video_frame_count(const struct media_video *v)
{
	return v->frames;
}

int media_video_stills_used(const struct media_video *v)
{
	return v->n;
}

void media_video_geometry(const struct media_video *v, int *width, int *height, int *fps)
{
	*width = v->o.width;
	*height = v->o.height;
	*fps = v->o.fps;
}

const char *media_video_device_name(const struct media_video *v)
{
	return v->gpu ? "gpu" : "cpu";
}

static int warp(const struct media_video *v, const struct gpu_image *src,
		const struct gpu_image *dst, const double m[6], struct err *e)
{
	return v->gpu ? gpu_warp_launch(src, dst, m, v->o.filter, v->stream, e)
		      : gpu_warp_ref(src, dst, m, v->o.filter, e);
}

/* Warp still k at time t into f (a device frame on the GPU path). */
static int draw_still(struct media_video *v, int k, double t, struct media_frame *f,
		      struct err *e)
{
	const struct still *s = &v->stills[k];
	const struct media_frame *img = v->gpu ? &s->dimg : &s->img;
	double u = ease((t - k * (v->seg - v->fade)) / v->seg);
	double z = s->z0 + (s->z1 - s->z0) * u;
	double px = s->px0 + (s->px1 - s->px0) * u, py = s->py0 + (s->py1 - s->py0) * u;
	double ww = v->pw / z, wh = v->ph / z;
	double x0 = (v->pw - ww) / 2 * (1 + px), y0 = (v->ph - wh) / 2 * (1 + py);
	double m[6], mc[6];
	gpu_warp_window(m, x0, y0, ww, wh, f->y.width, f->y.height);
	gpu_warp_window(mc, x0 / 2, y0 / 2, ww / 2, wh / 2, f->u.width, f->u.height);
	if (warp(v, &img->y, &f->y, m, e) < 0 || warp(v, &img->u, &f->u, mc, e) < 0 ||
	    warp(v, &img->v, &f->v, mc, e) < 0)
		return err_prefix(e, "still %d", k + 1);
	return 0;
}

static int fade(const struct media_video *v, const struct gpu_image *a, const struct gpu_image *b,
		double w, struct err *e)
{
	return v->gpu ? gpu_crossfade_launch(a, b, a, w, v->stream, e)
		      : gpu_crossfade_ref(a, b, a, w, e);
}

static int blend(const struct media_video *v, struct media_frame *under,
		 const struct media_frame *over, double w, struct err *e)
{
	if (fade(v, &under->y, &over->y, w, e) < 0 || fade(v, &under->u, &over->u, w, e) < 0 ||
	    fade(v, &under->v, &over->v, w, e) < 0)
		return -1;
	return 0;
}

/* The GPU path's frame (or the card) into the caller's host frame. */
static int download(struct media_video *v, const struct media_frame *d, struct media_frame *f,
		    struct err *e)
{
	if (gpu_warp_dev_download(&d->y, &f->y, v->stream, e) < 0 ||
	    gpu_warp_dev_download(&d->u, &f->u, v->stream, e) < 0 ||
	    gpu_warp_dev_download(&d->v, &f->v, v->stream, e) < 0 ||
	    gpu_warp_stream_sync(v->stream, e) < 0)
		return err_prefix(e, "video: gpu");
	return 0;
}

int media_video_render(struct media_video *v, int index, struct media_frame *f, struct err *e)
{
	return media_video_render_tmp(v, index, f, &v->tmp, e);
}

int media_video_on_gpu(const struct media_video *v)
{
	return v->gpu;
}

int media_video_render_tmp(struct media_video *v, int index, struct media_frame *f,
			   struct media_frame *host_tmp, struct err *e)
{
	if (index < 0 || index >= v->frames)
		return err_set(e, ERR_INTERNAL, "frame %d of %d", index, v->frames);
	if (f->y.width != v->o.width || f->y.height != v->o.height)
		return err_set(e, ERR_INTERNAL, "frame of %dx%d for a %dx%d video", f->y.width,
			       f->y.height, v->o.width, v->o.height);
	double t = (double)index / v->o.fps;
	double step = v->seg - v->fade;
	if (v->card_at >= 0 && t >= v->card_at + v->fade) {
		if (v->gpu)
			return download(v, &v->dcard, f, e);
		return media_frame_copy(f, &v->card) < 0 ? err_set(e, ERR_INTERNAL, "card copy") : 0;
	}
	struct media_frame *out = v->gpu ? &v->dframe : f, *tmp = v->gpu ? &v->dtmp : host_tmp;
	const struct media_frame *card = v->gpu ? &v->dcard : &v->card;
	/* the newest still that has started, and whether the one before it is
	 * still dissolving away */
	int k = (int)floor(t / step);
	if (k >= v->n)
		k = v->n - 1;
	if (k < 0)
		k = 0;
	double since = t - k * step;
	if (k > 0 && since < v->fade) {
		if (draw_still(v, k - 1, t, out, e) < 0 || draw_still(v, k, t, tmp, e) < 0)
			return -1;
		if (blend(v, out, tmp, ease(since / v->fade), e) < 0)
			return -1;
	} else if (draw_still(v, k, t, out, e) < 0) {
		return -1;
	}
	if (v->card_at >= 0 && t >= v->card_at &&
	    blend(v, out, card, ease((t - v->card_at) / v->fade), e) < 0)
		return -1;
	return v->gpu ? download(v, out, f, e) : 0;
}

void media_video_free(struct media_video *v)
{
	if (!v)
		return;
	for (int i = 0; v->stills && i < v->n; i++) {
		media_frame_release(&v->stills[i].img);
		dev_frame_free(&v->stills[i].dimg);
	}
	dev_frame_free(&v->dcard);
	dev_frame_free(&v->dframe);
	dev_frame_free(&v->dtmp);
	gpu_warp_stream_free(v->stream);
	free(v->stills);
	media_frame_release(&v->card);
	media_frame_release(&v->tmp);
	free(v);
}
