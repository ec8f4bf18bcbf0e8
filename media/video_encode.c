/* video_encode.c: encoding product videos (media/video.h).
 *
 * MP4: libavcodec's libx264 encoder (H.264, yuv420p, CRF and preset from the
 * configuration, BT.709 limited range declared), muxed by libavformat with
 * movflags +faststart (the moov box before the media data, so a player can
 * start before the download ends), then XMP appended in a uuid box
 * (mp4_xmp.c).  WebP: libwebp's WebPAnimEncoder, frames added as they come
 * (it keeps compressed frames, not pictures), XMP in its "XMP " chunk.
 *
 * media_video_write overlaps the two halves: threads synthesise frames into
 * a ring of MEDIA_VIDEO_RING frames while the caller's thread encodes.
 */
#include "media/video_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <webp/encode.h>
#include <webp/mux.h>

void media_encode_opts_default(struct media_encode_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->format = MEDIA_VIDEO_MP4;
	o->crf = 23;
	o->x264_preset = "veryfast";
	o->webp_quality = 75;
}

int media_video_format_parse(const char *name)
{
	if (name && strcmp(name, "mp4") == 0)
		return MEDIA_VIDEO_MP4;
	if (name && strcmp(name, "webp") == 0)
		return MEDIA_VIDEO_WEBP;
	return -1;
}

const char *media_video_format_ext(enum media_video_format f)
{
	return f == MEDIA_VIDEO_WEBP ? "webp" : "mp4";
}

const char *media_video_format_mime(enum media_video_format f)
{
	return f == MEDIA_VIDEO_WEBP ? "image/webp" : "video/mp4";
}

struct media_encoder {
	enum media_video_format format;
	char *path;
	int width, height, fps;
	int finished;
	long long next_pts;
	char *xmp;
	size_t xmp_len;
	/* mp4 */
	AVFormatContext *fmt;
	AVCodecContext *ctx;
	AVStream *st;
	AVPacket *pkt;
	AVFrame *frame;
	int header_written;
	/* webp */
	WebPAnimEncoder *anim;
	WebPConfig config;
	WebPPicture pic;
	int pic_ready;
};

static const char *averr(int code, char *buf, size_t len)
{
	av_strerror(code, buf, len);
	return buf;
}

static int mp4_open(struct media_encoder *enc, const struct media_encode_opts *o, struct err *e)
{
	char eb[128];
	int r;
	AVDictionary *opts = NULL, *mopts = NULL;
	const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
	if (!codec)
		return err_set(e, ERR_INTERNAL, "libavcodec has no libx264 encoder");
	static const char *const presets[] = {
		"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
		"veryslow", "placebo", NULL,
	};
	const char *preset = o->x264_preset ? o->x264_preset : "veryfast";
	size_t k = 0;
	while (presets[k] && strcmp(presets[k], preset) != 0)
		k++;
	if (!presets[k])
		return err_set(e, ERR_CONFIG, "x264 preset \"%s\": unknown (ultrafast .. veryslow)", preset);
	if (o->crf < 0 || o->crf > 51)
		return err_set(e, ERR_CONFIG, "video crf %d: need 0 to 51", o->crf);
	r = avformat_alloc_output_context2(&enc->fmt, NULL, "mp4", enc->path);
	if (r < 0 || !enc->fmt)
		return err_set(e, ERR_IO, "%s: cannot make an mp4 muxer: %s", enc->path,
			       averr(r, eb, sizeof(eb)));
	enc->ctx = avcodec_alloc_context3(codec);
	enc->pkt = av_packet_alloc();
	enc->frame = av_frame_alloc();
	if (!enc->ctx || !enc->pkt || !enc->frame)
		return err_set(e, ERR_NOMEM, "no memory for an encoder");
	AVCodecContext *c = enc->ctx;
	c->width = enc->width;
	c->height = enc->height;
	c->time_base = (AVRational){ 1, enc->fps };
	c->framerate = (AVRational){ enc->fps, 1 };
	c->pix_fmt = AV_PIX_FMT_YUV420P;
	c->gop_size = enc->fps * 2;
	c->thread_count = o->threads;
	c->color_range = AVCOL_RANGE_MPEG;
	c->color_primaries = AVCOL_PRI_BT709;
	c->color_trc = AVCOL_TRC_BT709;
	c->colorspace = AVCOL_SPC_BT709;
	c->chroma_sample_location = AVCHROMA_LOC_CENTER;
	if (enc->fmt->oformat->flags & AVFMT_GLOBALHEADER)
		c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	char crf[16];
	snprintf(crf, sizeof(crf), "%d", o->crf);
	av_dict_set(&opts, "preset", o->x264_preset ? o->x264_preset : "veryfast", 0);
	av_dict_set(&opts, "crf", crf, 0);
	r = avcodec_open2(c, codec, &opts);
	av_dict_free(&opts);
	if (r < 0)
		return err_set(e, ERR_CONFIG, "cannot open libx264 (preset \"%s\", crf %d): %s",
			       o->x264_preset ? o->x264_preset : "veryfast", o->crf,
			       averr(r, eb, sizeof(eb)));
	enc->st = avformat_new_stream(enc->fmt, NULL);
	if (!enc->st)
		return err_set(e, ERR_NOMEM, "no memory for a stream");
	enc->st->time_base = c->time_base;
	enc->st->avg_frame_rate = c->framerate;
	if ((r = avcodec_parameters_from_context(enc->st->codecpar, c)) < 0)
		return err_set(e, ERR_INTERNAL, "codec parameters: %s", averr(r, eb, sizeof(eb)));
	if ((r = avio_open(&enc->fmt->pb, enc->path, AVIO_FLAG_WRITE)) < 0)
		return err_set(e, ERR_IO, "%s: cannot open: %s", enc->path,
			       averr(r, eb, sizeof(eb)));
	av_dict_set(&mopts, "movflags", "+faststart", 0);
	r = avformat_write_header(enc->fmt, &mopts);
	av_dict_free(&mopts);
	if (r < 0)
		return err_set(e, ERR_IO, "%s: cannot write the mp4 header: %s", enc->path,
			       averr(r, eb, sizeof(eb)));
	enc->header_written = 1;
	return 0;
}

/* Hand whatever packets the encoder has to the muxer. */
static int mp4_drain(struct media_encoder *enc, struct err *e)
{
	char eb[128];
	for (;;) {
		int r = avcodec_receive_packet(enc->ctx, enc->pkt);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
			return 0;
		if (r < 0)
			return err_set(e, ERR_INTERNAL, "h.264 encoding failed: %s",
				       averr(r, eb, sizeof(eb)));
		av_packet_rescale_ts(enc->pkt, enc->ctx->time_base, enc->st->time_base);
		enc->pkt->stream_index = enc->st->index;
		r = av_interleaved_write_frame(enc->fmt, enc->pkt);
		if (r < 0)
			return err_set(e, ERR_IO, "%s: cannot write: %s", enc->path,
				       averr(r, eb, sizeof(eb)));
	}
}

static int mp4_add(struct media_encoder *enc, const struct media_frame *f, struct err *e)
{
	char eb[128];
	AVFrame *fr = enc->frame;
	fr->format = AV_PIX_FMT_YUV420P;
	fr->width = enc->width;
	fr->height = enc->height;
	fr->data[0] = f->y.data;
	fr->data[1] = f->u.data;
	fr->data[2] = f->v.data;
	fr->linesize[0] = (int)f->y.stride;
	fr->linesize[1] = (int)f->u.stride;
	fr->linesize[2] = (int)f->v.stride;
	fr->pts = enc->next_pts++;
	/* not reference-counted: libavcodec copies it before returning */
	int r = avcodec_send_frame(enc->ctx, fr);
	if (r < 0)
		return err_set(e, ERR_INTERNAL, "h.264 encoding failed: %s",
			       averr(r, eb, sizeof(eb)));
	return mp4_drain(enc, e);
}

static int mp4_finish(struct media_encoder *enc, struct err *e)
{
	char eb[128];
	int r = avcodec_send_frame(enc->ctx, NULL);
	if (r < 0)
		return err_set(e, ERR_INTERNAL, "h.264 flush failed: %s", averr(r, eb, sizeof(eb)));
	if (mp4_drain(enc, e) < 0)
		return -1;
	if ((r = av_write_trailer(enc->fmt)) < 0)
		return err_set(e, ERR_IO, "%s: cannot finish the mp4: %s", enc->path,
			       averr(r, eb, sizeof(eb)));
	if ((r = avio_closep(&enc->fmt->pb)) < 0)
		return err_set(e, ERR_IO, "%s: cannot close: %s", enc->path,
			       averr(r, eb, sizeof(eb)));
	if (enc->xmp && media_mp4_set_xmp(enc->path, enc->xmp, enc->xmp_len, e) < 0)
		return -1;
	return 0;
}

static int webp_open(struct media_encoder *enc, const struct media_encode_opts *o, struct err *e)
{
	WebPAnimEncoderOptions ao;
	if (!WebPAnimEncoderOptionsInit(&ao) || !WebPConfigInit(&enc->config))
		return err_set(e, ERR_INTERNAL, "libwebp version mismatch");
	if (o->webp_quality < 0 || o->webp_quality > 100)
		return err_set(e, ERR_CONFIG, "webp quality %d: need 0 to 100", o->webp_quality);
	ao.anim_params.loop_count = 0;
	ao.allow_mixed = 0;
	enc->config.quality = (float)o->webp_quality;
	enc->config.method = 2;
	enc->config.thread_level = 1;
	enc->anim = WebPAnimEncoderNew(enc->width, enc->height, &ao);
	if (!enc->anim)
		return err_set(e, ERR_NOMEM, "no memory for a webp encoder");
	if (!WebPPictureInit(&enc->pic))
		return err_set(e, ERR_INTERNAL, "libwebp version mismatch");
	enc->pic.use_argb = 1;
	enc->pic.width = enc->width;
	enc->pic.height = enc->height;
	if (!WebPPictureAlloc(&enc->pic))
		return err_set(e, ERR_NOMEM, "no memory for a webp picture");
	enc->pic_ready = 1;
	/* the file is written whole at the end; make sure it can be */
	FILE *fp = fopen(enc->path, "wb");
	if (!fp)
		return err_set(e, ERR_IO, "%s: cannot open: %s", enc->path, strerror(errno));
	fclose(fp);
	return 0;
}

static int webp_timestamp(const struct media_encoder *enc, long long i)
{
	return (int)(i * 1000 / enc->fps);
}

static int webp_add(struct media_encoder *enc, const struct media_frame *f, struct err *e)
{
	media_yuv420_to_rgba(f, (uint8_t *)enc->pic.argb, (size_t)enc->pic.argb_stride * 4);
	/* RGBA bytes into the ARGB words libwebp keeps (native byte order) */
	uint32_t *px = enc->pic.argb;
	for (int y = 0; y < enc->height; y++) {
		uint32_t *row = px + (size_t)y * enc->pic.argb_stride;
		for (int x = 0; x < enc->width; x++) {
			const uint8_t *b = (const uint8_t *)&row[x];
			row[x] = 0xff000000u | (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
		}
	}
	if (!WebPAnimEncoderAdd(enc->anim, &enc->pic, webp_timestamp(enc, enc->next_pts),
				&enc->config))
		return err_set(e, ERR_INTERNAL, "webp encoding failed: %s",
			       WebPAnimEncoderGetError(enc->anim));
	enc->next_pts++;
	return 0;
}

static int webp_finish(struct media_encoder *enc, struct err *e)
{
	WebPData data, out;
	WebPDataInit(&data);
	WebPDataInit(&out);
	WebPMux *mux = NULL;
	int rc = -1;
	if (!WebPAnimEncoderAdd(enc->anim, NULL, webp_timestamp(enc, enc->next_pts), NULL) ||
	    !WebPAnimEncoderAssemble(enc->anim, &data)) {
		err_set(e, ERR_INTERNAL, "webp assembly failed: %s",
			WebPAnimEncoderGetError(enc->anim));
		goto done;
	}
	const WebPData *final = &data;
	if (enc->xmp) {
		mux = WebPMuxCreate(&data, 1);
		WebPData x = { (const uint8_t *)enc->xmp, enc->xmp_len };
		if (!mux || WebPMuxSetChunk(mux, "XMP ", &x, 1) != WEBP_MUX_OK ||
		    WebPMuxAssemble(mux, &out) != WEBP_MUX_OK) {
			err_set(e, ERR_INTERNAL, "webp: cannot add the xmp chunk");
			goto done;
		}
		final = &out;
	}
	FILE *fp = fopen(enc->path, "wb");
	if (!fp) {
		err_set(e, ERR_IO, "%s: cannot open: %s", enc->path, strerror(errno));
		goto done;
	}
	size_t w = fwrite(final->bytes, 1, final->size, fp);
	if (fclose(fp) != 0 || w != final->size) {
		err_set(e, ERR_IO, "%s: cannot write: %s", enc->path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	WebPMuxDelete(mux);
	WebPDataClear(&data);
	WebPDataClear(&out);
	return rc;
}

int media_encoder_open(struct media_encoder **out, const char *path, int width, int height,
		       int fps, const struct media_encode_opts *o, struct err *e)
{
	*out = NULL;
	if (width <= 0 || height <= 0 || width % 2 || height % 2 || fps <= 0)
		return err_set(e, ERR_CONFIG, "video %dx%d at %d fps: need even sides", width,
			       height, fps);
	struct media_encoder *enc = calloc(1, sizeof(*enc));
	if (!enc || !(enc->path = strdup(path))) {
		free(enc);
		return err_set(e, ERR_NOMEM, "no memory for an encoder");
	}
	enc->format = o->format;
	enc->width = width;
	enc->height = height;
	enc->fps = fps;
	if (o->xmp) {
		enc->xmp = malloc(o->xmp_len + 1);
		if (!enc->xmp) {
			media_encoder_free(enc);
			return err_set(e, ERR_NOMEM, "no memory for an encoder");
		}
		memcpy(enc->xmp, o->xmp, o->xmp_len);
		enc->xmp[o->xmp_len] = 0;
		enc->xmp_len = o->xmp_len;
	}
	av_log_set_level(AV_LOG_QUIET); /* what fails is reported through e */
	int r = o->format == MEDIA_VIDEO_WEBP ? webp_open(enc, o, e) : mp4_open(enc, o, e);
	if (r < 0) {
		media_encoder_free(enc);
		return -1;
	}
	*out = enc;
	return 0;
}

int media_encoder_add(struct media_encoder *enc, const struct media_frame *f, struct err *e)
{
	if (enc->finished)
		return err_set(e, ERR_INTERNAL, "%s: frame after the end", enc->path);
	if (f->y.width != enc->width || f->y.height != enc->height)
		return err_set(e, ERR_INTERNAL, "%s: a %dx%d frame for a %dx%d video", enc->path,
			       f->y.width, f->y.height, enc->width, enc->height);
	return enc->format == MEDIA_VIDEO_WEBP ? webp_add(enc, f, e) : mp4_add(enc, f, e);
}

int media_encoder_finish(struct media_encoder *enc, struct err *e)
{
	if (enc->finished)
		return err_set(e, ERR_INTERNAL, "%s: finished twice", enc->path);
	if (enc->next_pts == 0)
		return err_set(e, ERR_INTERNAL, "%s: no frames", enc->path);
	int r = enc->format == MEDIA_VIDEO_WEBP ? webp_finish(enc, e) : mp4_finish(enc, e);
	if (r == 0)
		enc->finished = 1;
	return r;
}

void media_encoder_free(struct media_encoder *enc)
{
	if (!enc)
		return;
	if (enc->fmt) {
		if (enc->fmt->pb)
			avio_closep(&enc->fmt->pb);
		avformat_free_context(enc->fmt);
	}
	avcodec_free_context(&enc->ctx);
	av_packet_free(&enc->pkt);
	/* the frame's planes belong to the caller */
	if (enc->frame) {
		for (int i = 0; i < AV_NUM_DATA_POINTERS; i++)
			enc->frame->data[i] = NULL;
		av_frame_free(&enc->frame);
	}
	if (enc->anim)
		WebPAnimEncoderDelete(enc->anim);
	if (enc->pic_ready)
		WebPPictureFree(&enc->pic);
	if (!enc->finished && enc->path)
		unlink(enc->path);
	free(enc->xmp);
	free(enc->path);
	free(enc);
}

/* media_video_write: producer threads and a ring of frames.  Producer k of
 * P renders frames k, k + P, k + 2P, ... into slot (frame % RING), once the
 * frame RING before it has been encoded; the caller's thread encodes frame
 * i once slot i % RING holds it. */
#define MAX_PRODUCERS 4

struct pipeline;
struct producer_arg {
	struct pipeline *p;
	int k;
	struct media_frame tmp;
	double synth_s;
	pthread_t tid;
	int started;
};

struct pipeline {
	struct media_video *v;
	int n, producers;
	struct media_frame ring[MEDIA_VIDEO_RING];
	int slot_frame[MEDIA_VIDEO_RING]; /* the frame a slot holds, ready to encode; -1 */
	int consumed;            /* frames encoded */
	int ready;               /* frames rendered and not yet encoded */
	int stop;                /* the consumer gave up */
	int failed;              /* a producer failed: err holds why */
	struct err err;
	int max_held;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct producer_arg arg[MAX_PRODUCERS];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *producer(void *argp)
{
	struct producer_arg *a = argp;
	struct pipeline *p = a->p;
	for (int i = a->k; i < p->n; i += p->producers) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && !p->failed && i - p->consumed >= MEDIA_VIDEO_RING)
			pthread_cond_wait(&p->cv, &p->mu);
		int stop = p->stop || p->failed;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		double t0 = now_s();
		struct err e;
		err_clear(&e);
		int r = media_video_render_tmp(p->v, i, &p->ring[i % MEDIA_VIDEO_RING], &a->tmp, &e);
		a->synth_s += now_s() - t0;
		pthread_mutex_lock(&p->mu);
		if (r < 0) {
			if (!p->failed)
				p->err = e;
			p->failed = 1;
		} else {
			p->slot_frame[i % MEDIA_VIDEO_RING] = i;
			if (++p->ready > p->max_held)
				p->max_held = p->ready;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (r < 0)
			break;
	}
	return NULL;
}

/* How many threads synthesise: on the GPU one; on the CPU two or more, so
 * that synthesis and the encoder's threads share the cores between them. */
static int producer_count(const struct media_video *v)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (media_video_on_gpu(v) || cpus < 2)
		return 1;
	return cpus / 2 < 2 ? 2 : cpus / 2 > MAX_PRODUCERS ? MAX_PRODUCERS : (int)(cpus / 2);
}

int media_video_write(struct media_video *v, const char *path, const struct media_encode_opts *o,
		      struct media_video_stats *st, struct err *e)
{
	double t_start = now_s(), enc_s = 0;
	struct media_encoder *enc = NULL;
	struct pipeline p;
	memset(&p, 0, sizeof(p));
	p.v = v;
	p.n = media_video_frame_count(v);
	p.producers = producer_count(v);
	int rc = -1, w, h, fps;
	media_video_geometry(v, &w, &h, &fps);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (int i = 0; i < MEDIA_VIDEO_RING; i++) {
		p.slot_frame[i] = -1;
		if (media_frame_alloc(&p.ring[i], w, h, e) < 0)
			goto done;
	}
	for (int k = 0; k < p.producers; k++) {
		p.arg[k].p = &p;
		p.arg[k].k = k;
		if (media_frame_alloc(&p.arg[k].tmp, w, h, e) < 0)
			goto done;
	}
	double t0 = now_s();
	if (media_encoder_open(&enc, path, w, h, fps, o, e) < 0)
		goto done;
	enc_s += now_s() - t0;
	for (int k = 0; k < p.producers; k++) {
		if (pthread_create(&p.arg[k].tid, NULL, producer, &p.arg[k]) != 0) {
			err_set(e, ERR_INTERNAL, "cannot start a frame thread");
			goto done;
		}
		p.arg[k].started = 1;
	}
	for (int i = 0; i < p.n; i++) {
		int slot = i % MEDIA_VIDEO_RING;
		pthread_mutex_lock(&p.mu);
		while (!p.failed && p.slot_frame[slot] != i)
			pthread_cond_wait(&p.cv, &p.mu);
		int failed = p.slot_frame[slot] != i;
		pthread_mutex_unlock(&p.mu);
		if (failed) {
			*e = p.err;
			goto done;
		}
		t0 = now_s();
		int r = media_encoder_add(enc, &p.ring[slot], e);
		enc_s += now_s() - t0;
		pthread_mutex_lock(&p.mu);
		p.slot_frame[slot] = -1;
		p.ready--;
		p.consumed++;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		if (r < 0)
			goto done;
	}
	t0 = now_s();
	if (media_encoder_finish(enc, e) < 0)
		goto done;
	enc_s += now_s() - t0;
	rc = 0;
done:
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	double synth_s = 0;
	for (int k = 0; k < p.producers; k++) {
		if (p.arg[k].started)
			pthread_join(p.arg[k].tid, NULL);
		synth_s += p.arg[k].synth_s;
		media_frame_release(&p.arg[k].tmp);
	}
	media_encoder_free(enc);
	for (int i = 0; i < MEDIA_VIDEO_RING; i++)
		media_frame_release(&p.ring[i]);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	if (st) {
		st->frames = rc == 0 ? p.n : p.consumed;
		st->synth_s = synth_s;
		st->encode_s = enc_s;
		st->wall_s = now_s() - t_start;
		st->max_frames_held = p.max_held;
		st->threads = p.producers;
	}
	return rc;
}
