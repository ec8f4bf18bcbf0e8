/* video.h: short product videos: frame synthesis, encoding, probing, XMP.
 *
 * A clip is made from a SKU's stills (product shots, channel and lifestyle
 * images): each still is shown with a slow, eased pan and zoom, stills
 * dissolve into each other, and an optional end card shows the product name
 * and a configured line of text.  Frames are made one at a time, in YUV
 * 4:2:0 (BT.709, limited range), and streamed into the encoder: a clip never
 * holds more than a few of its frames (media_video_write keeps four).
 *
 *   media_video_new()       prepares the stills and the timeline
 *   media_video_render()    synthesises frame i (gpu/warp.h, gpu/crossfade.h)
 *   media_encoder_*()       H.264 in MP4 (libavcodec + libx264, +faststart)
 *                           or animated WebP (libwebp's WebPAnimEncoder)
 *   media_video_write()     all of it, synthesis and encoding overlapped
 *   media_video_probe()     what libavformat says a file is (and whether its
 *                           first frame decodes)
 *   media_mp4_set_xmp()     XMP in an MP4's top-level uuid box
 *
 * Errors name the still (its index from 1 and the caller's label) and the
 * problem; callers prefix the SKU.
 */
#ifndef SKUGEN_MEDIA_VIDEO_H
#define SKUGEN_MEDIA_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include <vips/vips.h>

#include "common/buf.h"
#include "common/err.h"
#include "gpu/warp.h"

#define MEDIA_VIDEO_MIN_SECONDS 6.0
#define MEDIA_VIDEO_MAX_SECONDS 15.0
#define MEDIA_VIDEO_MAX_STILLS 12
/* A still must be at least this many pixels on each side ... */
#define MEDIA_VIDEO_STILL_MIN_SIDE 64
/* ... and at most this many pixels in all (16384 x 16384 is 268 M). */
#define MEDIA_VIDEO_STILL_MAX_PIXELS (100LL * 1000 * 1000)

enum media_video_device {
	MEDIA_VIDEO_DEVICE_AUTO = 0,  /* the GPU when one is found, else the CPU */
	MEDIA_VIDEO_DEVICE_CPU,
	MEDIA_VIDEO_DEVICE_GPU,       /* fail when there is none */
};

struct media_video_opts {
	int width, height;       /* a preset's size (media_video_preset) */
	int fps;                 /* 30 */
	double duration;         /* seconds, MEDIA_VIDEO_MIN..MAX_SECONDS */
	double crossfade;        /* seconds of each dissolve (0.75) */
	double zoom;             /* the zoom travelled over one still, >= 1 (1.12) */
	enum gpu_warp_filter filter;  /* bilinear (default) or bicubic */
	const char *title;       /* end card: the product name; NULL or "": no end card */
	const char *line;        /* end card: a second, smaller line; may be NULL */
	double end_card;         /* seconds the end card is fully shown (1.5) */
	uint8_t background[3];   /* end card and letterbox fill, sRGB (white) */
	uint8_t text_colour[3];  /* end card text, sRGB (dark grey) */
	enum media_video_device device;
};

/* Fill o with the defaults: 1080x1080, 30 fps, 6 s, the values above. */
void media_video_opts_default(struct media_video_opts *o);

/* The size of a preset: "square" or "1080x1080", "portrait" or "1080x1920",
 * "landscape" or "1920x1080".  Returns 0, or -1 naming the known presets. */
int media_video_preset(const char *name, int *width, int *height, struct err *e);

/* One YUV 4:2:0 frame: y is width x height, u and v half that (rounded up).
 * media_frame_alloc gives the planes one allocation (new; release with
 * media_frame_release, which accepts a zeroed frame). */
struct media_frame {
	struct gpu_image y, u, v;
	void *mem;
};
int media_frame_alloc(struct media_frame *f, int width, int height, struct err *e);
void media_frame_release(struct media_frame *f);

struct media_video;

/* Prepare a clip: every still (borrowed; any number of bands, sRGB or
 * greyscale, alpha flattened onto o->background) is resampled once to the
 * frame size times the zoom with a proper filter (libvips, Lanczos), covered
 * or, when its shape is far from the frame's, contained over a blurred copy
 * of itself.  labels (may be NULL, or hold NULLs) name the stills in
 * messages.  Fails with ERR_INPUT for no stills, a still under
 * MEDIA_VIDEO_STILL_MIN_SIDE or over MEDIA_VIDEO_STILL_MAX_PIXELS (checked
 * before any pixel is read), bad options (ERR_CONFIG), or a GPU asked for and
 * not found.  When more stills are given than the duration can show (each
 * needs a second), the first that fit are used.  *out is new; free with
 * media_video_free. */
int media_video_new(struct media_video **out, VipsImage *const *stills, const char *const *labels,
		    int n_stills, const struct media_video_opts *o, struct err *e);

/* The size checks media_video_new makes on still index (0-based), for
 * callers that want them before doing more work with it. */
int media_video_check_still(const VipsImage *s, int index, const char *label, struct err *e);

int media_video_frame_count(const struct media_video *v);
int media_video_stills_used(const struct media_video *v);
void media_video_geometry(const struct media_video *v, int *width, int *height, int *fps);
/* "cpu" or "gpu": where frames are made. */
const char *media_video_device_name(const struct media_video *v);

/* Synthesise frame index (0-based) into f (allocated by the caller at the
 * clip's size).  Not thread-safe for one v. */
int media_video_render(struct media_video *v, int index, struct media_frame *f, struct err *e);

void media_video_free(struct media_video *v);

/* Encoding. */
enum media_video_format {
	MEDIA_VIDEO_MP4 = 0,   /* H.264 (libx264), yuv420p, MP4 with +faststart */
	MEDIA_VIDEO_WEBP,      /* animated WebP (lossy) */
};

struct media_encode_opts {
	enum media_video_format format;
	int crf;                   /* x264 constant rate factor, 0..51 (23) */
	const char *x264_preset;   /* "ultrafast" .. "veryslow" ("veryfast") */
	int threads;               /* encoder threads; 0: x264 decides */
	int webp_quality;          /* 0..100 (75) */
	const char *xmp;           /* XMP packet to embed, or NULL (borrowed) */
	size_t xmp_len;
};

void media_encode_opts_default(struct media_encode_opts *o);

/* "mp4" or "webp" -> the format; -1 otherwise. */
int media_video_format_parse(const char *name);
const char *media_video_format_ext(enum media_video_format f);
const char *media_video_format_mime(enum media_video_format f);

struct media_encoder;

/* Open an encoder writing path (created or truncated).  *out is new. */
int media_encoder_open(struct media_encoder **out, const char *path, int width, int height,
		       int fps, const struct media_encode_opts *o, struct err *e);
/* Encode one frame (copied or consumed before this returns: f may be reused). */
int media_encoder_add(struct media_encoder *enc, const struct media_frame *f, struct err *e);
/* Flush, finish the file and embed the XMP.  Call once; then free. */
int media_encoder_finish(struct media_encoder *enc, struct err *e);
/* Free; a file never finished is removed.  Accepts NULL. */
void media_encoder_free(struct media_encoder *enc);

struct media_video_stats {
	int frames;
	double synth_s;    /* seconds spent synthesising frames (its own thread) */
	double encode_s;   /* seconds spent in the encoder calls */
	double wall_s;     /* the whole of media_video_write */
	int max_frames_held; /* the most synthesised frames waiting at once */
	int threads;       /* synthesis threads */
};

/* Synthesise every frame of v and encode it into path: frames are made on
 * threads of their own (one on the GPU; on the CPU half the cores, 2 to 4)
 * into a ring of MEDIA_VIDEO_RING frames while the calling thread encodes.
 * synth_s sums the synthesis threads' time.  st may be NULL. */
#define MEDIA_VIDEO_RING 4
int media_video_write(struct media_video *v, const char *path, const struct media_encode_opts *o,
		      struct media_video_stats *st, struct err *e);

/* Probing (libavformat; animated WebP through libwebp's demuxer, which
 * libavformat cannot decode). */
struct media_video_info {
	char container[64];   /* "mov,mp4,m4a,3gp,3g2,mj2", "webp" */
	char codec[32];       /* "h264", "webp" */
	char pix_fmt[32];     /* "yuv420p" */
	int width, height;
	double fps;           /* average frame rate */
	double duration;      /* seconds */
	long long frames;     /* video packets counted */
	long long bytes;      /* the file's size */
};

/* Open path, find its video stream and decode its first frame: a file that
 * is not a playable video fails with ERR_INPUT saying why. */
int media_video_probe(const char *path, struct media_video_info *info, struct err *e);

/* Decode frame index of path into packed RGB (sRGB, 3 bytes per pixel;
 * *rgb is new, free() it), through libswscale with the stream's colour
 * matrix (BT.709 when unspecified for HD). */
int media_video_decode_rgb(const char *path, int index, uint8_t **rgb, int *width, int *height,
			   struct err *e);

/* XMP in MP4: a top-level uuid box (BE7ACFCB-97A9-42E8-9C71-999491E3AFAC,
 * Adobe's XMP box) appended to the file, where no offset inside it moves;
 * an earlier XMP box is turned into a free box of the same size.  The file
 * must be ISO BMFF (starting with ftyp). */
int media_mp4_set_xmp(const char *path, const char *xmp, size_t len, struct err *e);
/* The packet of the last XMP uuid box, into out (appended); -1 with
 * ERR_INPUT when there is none. */
int media_mp4_get_xmp(const char *path, struct buf *out, struct err *e);

#endif
