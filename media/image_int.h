/* image_int.h: what the media/ image files share and nothing else includes:
 * the image object, libvips errors turned into struct err, option defaults.
 */
#ifndef SKUGEN_MEDIA_IMAGE_INT_H
#define SKUGEN_MEDIA_IMAGE_INT_H

#include <vips/vips.h>

#include "media/image.h"

/* vi: sRGB, uchar, 3 or 4 bands, pixels in memory (never lazy), owned. */
struct media_image {
	VipsImage *vi;
};

/* Options with every 0 replaced by its default (in may be NULL). */
void media_cutout_defaults(const struct media_cutout_opts *in, struct media_cutout_opts *o);
void media_lifestyle_defaults(const struct media_lifestyle_opts *in,
			      struct media_lifestyle_opts *o);

/* Take vi (stolen: unreffed whatever happens), compute it into memory and
 * wrap it.  Errors from computing it (a truncated file, say) become
 * ERR_INPUT "what: <libvips's reason>" prefixed with ctx. */
int media_wrap(VipsImage *vi, const char *ctx, const char *what, struct media_image **out,
	       struct err *e);

/* err_set() with code and "ctx: what: <libvips's last error>", then clear
 * libvips's error buffer.  ctx may be NULL.  Returns -1. */
int media_vips_err(struct err *e, enum err_code code, const char *ctx, const char *what);

/* Set e to "ctx: msg" (ctx may be NULL).  Returns -1. */
int media_err(struct err *e, enum err_code code, const char *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Unref an array of n images (NULLs skipped). */
void media_unref_all(VipsImage **v, int n);

/* Convert a 3- or 4-band uchar sRGB image to linear light (scRGB float,
 * alpha 0..1) and premultiply.  New reference in *out. */
int media_to_linear_premul(VipsImage *in, VipsImage **out);

/* The reverse: unpremultiply a linear premultiplied image (alpha 0..1) and
 * return uchar sRGB with alpha 0..255 (or without when drop_alpha). */
int media_from_linear_premul(VipsImage *in, bool drop_alpha, VipsImage **out);

/* Harmonisation (harmonise.c).  media_lab_stats: the Lab mean and
 * standard deviation of an image libvips can convert to Lab (sRGB uchar or
 * scRGB float, straight alpha), weighted by alpha when it has 4 bands.
 * media_harmonise_coeffs: the bounded per-channel map v' = v * scale + offset.
 * media_harmonise_vips: product (straight alpha, sRGB or scRGB) mapped toward
 * scene; *out new, scRGB float, alpha kept; before (may be NULL) gets the
 * product's stats. */
struct media_lab_stats {
	double mean[3];
	double sd[3];
};
int media_lab_stats(VipsImage *in, struct media_lab_stats *out);
void media_harmonise_coeffs(const struct media_lab_stats *from, const struct media_lab_stats *to,
			    double strength, double max_shift, double max_ratio,
			    double scale[3], double offset[3]);
int media_harmonise_vips(VipsImage *product, const struct media_lab_stats *scene,
			 double strength, double max_shift, double max_ratio,
			 VipsImage **out, struct media_lab_stats *before);

/* A soft shadow layer (shadow.c): alpha (1 band, 0..255, the placed
 * product's size) blurred by sigma, scaled by opacity to coverage 0..1, at
 * (x, y) in a frame_w x frame_h float layer (new in *out). */
int media_shadow_vips(VipsImage *alpha, int frame_w, int frame_h, int x, int y,
		      double sigma, double opacity, VipsImage **out);

/* The squashed shadow's height for a product product_h tall (>= 1). */
int media_shadow_height(int product_h, double squash);

/* Place (place.c): the size and position of a w x h product in a W x H frame
 * so that it fills `fill` of the frame (the tighter axis), standing at floor
 * (share of H from the top; 0: centred). */
struct media_placement {
	double scale;
	int x, y, w, h;
};
void media_place(int w, int h, int frame_w, int frame_h, double fill, double floor,
		 struct media_placement *out);

/* Composite (composite.c), all in linear light (scRGB float; alpha 0..255
 * premultiplied).  media_composite_linear: fg (4 bands, frame-sized) over
 * bg (3 bands) after darkening bg by shadow (1 band coverage 0..1, may be
 * NULL).  media_composite_flat: fg over a flat sRGB colour.
 * media_flatten_linear: a uchar sRGB RGBA image over a flat colour (a
 * 3-band image is copied).  Each returns a new uchar sRGB 3-band image. */
int media_composite_linear(VipsImage *fg, VipsImage *bg, VipsImage *shadow, VipsImage **out);
int media_composite_flat(VipsImage *fg, const uint8_t rgb[3], VipsImage **out);
int media_flatten_linear(VipsImage *in, const uint8_t rgb[3], VipsImage **out);

/* The frame a preset gives a w x h product (preset.c). */
void media_preset_frame(const struct media_preset *p, int w, int h, int *fw, int *fh);

/* The matte (cutout.c on the CPU with libvips, device.c through gpu/ops on
 * plain buffers): in is a 3- or 4-band uchar sRGB memory image (a 4th band
 * is ignored), o has its defaults filled.  *rgba_out: new, in + alpha, not
 * cropped; bg (may be NULL): the background colour found.  ERR_GENERATE
 * with the reason when the product cannot be separated. */
int media_matte_cpu(VipsImage *in, const struct media_cutout_opts *o, const char *ctx,
		    VipsImage **rgba_out, uint8_t bg[3], struct err *e);
int media_matte_gpu(VipsImage *in, const struct media_cutout_opts *o, const char *ctx,
		    VipsImage **rgba_out, uint8_t bg[3], struct err *e);

/* Edge colours freed of the background (cutout.c): where alpha is partial
 * a pixel is a mix of product and background, C = a F + (1 - a) B, in
 * linear light; F = (C - (1 - a) B) / a.  rgba: uchar sRGB with alpha;
 * *out new, the same with F for colour. */
int media_unmix(VipsImage *rgba, const uint8_t bg[3], VipsImage **out);

/* The matte's soft edge measured rather than ramped (cutout.c): near the
 * edge, F (the product's colour) is spread outward from the opaque
 * interior, and alpha is where the pixel lies between B and F in linear
 * light.  rgba: uchar sRGB with the matte's alpha; *out new, same colour,
 * refined alpha. */
int media_refine_edges(VipsImage *rgba, const uint8_t bg[3], VipsImage **out);

/* The lifestyle shot and the channel image on each device (pipeline.c on
 * the CPU, device.c through gpu/ ops).  cut: the cut-out (3 or 4 bands);
 * o has its defaults filled. */
int media_lifestyle_cpu(VipsImage *cut, VipsImage *scene, const struct media_lifestyle_opts *o,
			const char *ctx, struct media_image **out, struct err *e);
int media_lifestyle_gpu(VipsImage *cut, VipsImage *scene, const struct media_lifestyle_opts *o,
			const char *ctx, struct media_image **out, struct err *e);
int media_channel_cpu(VipsImage *cut, const struct media_preset *p, const char *ctx,
		      struct media_image **out, struct err *e);
int media_channel_gpu(VipsImage *cut, const struct media_preset *p, const char *ctx,
		      struct media_image **out, struct err *e);

/* The same three steps on plain buffers through a gpu/ ops table
 * (device.c): gpu_ops_cuda() for --device gpu; the tests pass gpu_ops_ref
 * to check this path against the libvips one on a machine without a GPU. */
struct gpu_ops;
int media_matte_ops(const struct gpu_ops *ops, VipsImage *in, const struct media_cutout_opts *o,
		    const char *ctx, VipsImage **rgba_out, uint8_t bg[3], struct err *e);
int media_lifestyle_ops(const struct gpu_ops *ops, VipsImage *cut, VipsImage *scene,
			const struct media_lifestyle_opts *o, const char *ctx,
			struct media_image **out, struct err *e);
int media_channel_ops(const struct gpu_ops *ops, VipsImage *cut, const struct media_preset *p,
		      const char *ctx, struct media_image **out, struct err *e);

#endif
