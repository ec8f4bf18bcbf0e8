/* video_probe.c: what a video file is, and whether it plays (media/video.h).
 *
 * libavformat opens the container and finds the video stream; its packets
 * are counted and its first frame decoded, so a file that only looks like a
 * video (a truncated download, an HTML error page, audio alone) fails.
 * Animated WebP, which libavformat cannot decode, goes through libwebp's
 * demuxer and decoder instead.  Used by the tests and on every hosted
 * image-to-video result before it is stored.
 */
#include "media/video.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <webp/decode.h>
#include <webp/demux.h>


static const char *averr(int code, char *buf, size_t len)
{
	av_strerror(code, buf, len);
	return buf;
}

static int is_webp(const char *path)
{
	uint8_t h[12];
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	size_t n = fread(h, 1, sizeof(h), fp);
	fclose(fp);
	return n == 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0;
}

static int webp_probe(const char *path, struct media_video_info *info, struct err *e)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return err_set(e, ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	fseeko(fp, 0, SEEK_END);
	long long size = ftello(fp);
	fseeko(fp, 0, SEEK_SET);
	uint8_t *mem = size > 0 ? malloc((size_t)size) : NULL;
	if (!mem || fread(mem, 1, (size_t)size, fp) != (size_t)size) {
		fclose(fp);
		free(mem);
		return err_set(e, ERR_IO, "%s: cannot read", path);
	}
	fclose(fp);
	WebPData data = { mem, (size_t)size };
	WebPDemuxer *dmx = WebPDemux(&data);
	int rc = -1;
	if (!dmx) {
		err_set(e, ERR_INPUT, "%s: not a playable video: webp does not parse", path);
		goto done;
	}
	snprintf(info->container, sizeof(info->container), "webp");
	snprintf(info->codec, sizeof(info->codec), "webp");
	snprintf(info->pix_fmt, sizeof(info->pix_fmt), "yuv420p");
	info->width = (int)WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH);
	info->height = (int)WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
	info->frames = WebPDemuxGetI(dmx, WEBP_FF_FRAME_COUNT);
	info->bytes = size;
	WebPIterator it;
	long long ms = 0;
	if (WebPDemuxGetFrame(dmx, 1, &it)) {
		int w, h;
		if (!WebPGetInfo(it.fragment.bytes, it.fragment.size, &w, &h)) {
			WebPDemuxReleaseIterator(&it);
			err_set(e, ERR_INPUT, "%s: not a playable video: its first frame does not decode",
				path);
			goto done;
		}
		do
			ms += it.duration;
		while (WebPDemuxNextFrame(&it));
		WebPDemuxReleaseIterator(&it);
	}
	if (info->frames < 1) {
		err_set(e, ERR_INPUT, "%s: not a playable video: no frames", path);
		goto done;
	}
	info->duration = ms / 1000.0;
	info->fps = ms > 0 ? info->frames / info->duration : 0;
	rc = 0;
done:
	WebPDemuxDelete(dmx);
	free(mem);
	return rc;
}

/* An opened input with a decoder for its best video stream. */
struct input {
	AVFormatContext *fmt;
	AVCodecContext *dec;
	AVPacket *pkt;
	AVFrame *frame;
	int stream;
};

static void input_close(struct input *in)
{
	avcodec_free_context(&in->dec);
	av_packet_free(&in->pkt);
	av_frame_free(&in->frame);
	avformat_close_input(&in->fmt);
}

static int input_open(struct input *in, const char *path, struct err *e)
{
	char eb[128];
	memset(in, 0, sizeof(*in));
	av_log_set_level(AV_LOG_QUIET); /* what fails is reported through e */
	int r = avformat_open_input(&in->fmt, path, NULL, NULL);
	if (r < 0)
		return err_set(e, ERR_INPUT, "%s: not a playable video: %s", path,
			       averr(r, eb, sizeof(eb)));
	if ((r = avformat_find_stream_info(in->fmt, NULL)) < 0) {
		err_set(e, ERR_INPUT, "%s: not a playable video: %s", path, averr(r, eb, sizeof(eb)));
		goto fail;
	}
	const AVCodec *codec = NULL;
	in->stream = av_find_best_stream(in->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
	if (in->stream < 0 || !codec) {
		err_set(e, ERR_INPUT, "%s: not a playable video: %s", path,
			in->stream == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video stream"
								: "no video stream");
		goto fail;
	}
	in->dec = avcodec_alloc_context3(codec);
	in->pkt = av_packet_alloc();
	in->frame = av_frame_alloc();
	if (!in->dec || !in->pkt || !in->frame) {
		err_set(e, ERR_NOMEM, "no memory to decode %s", path);
		goto fail;
	}
	in->dec->thread_count = 1;
	if ((r = avcodec_parameters_to_context(in->dec, in->fmt->streams[in->stream]->codecpar)) < 0 ||
	    (r = avcodec_open2(in->dec, codec, NULL)) < 0) {
		err_set(e, ERR_INPUT, "%s: not a playable video: cannot open its decoder: %s", path,
			averr(r, eb, sizeof(eb)));
		goto fail;
	}
	return 0;
fail:
	input_close(in);
	return -1;
}

/* Decode until frame number index (0-based) is in in->frame.  Counts the
 * stream's packets in *packets when asked to read to the end (count != 0). */
static int decode_to(struct input *in, int index, int count, long long *packets,
		     const char *path, struct err *e)
{
	char eb[128];
	int got = -1, dec_done = 0, dmx_done = 0, flushed = 0, r;
	long long n = 0;
	for (;;) {
		if (got < index && !dec_done) {
			r = avcodec_receive_frame(in->dec, in->frame);
			if (r == 0) {
				got++;
				continue;
			}
			if (r == AVERROR_EOF)
				dec_done = 1;
			else if (r != AVERROR(EAGAIN))
				return err_set(e, ERR_INPUT, "%s: not a playable video: frame %d: %s",
					       path, got + 2, averr(r, eb, sizeof(eb)));
		}
		int want_frames = got < index && !dec_done;
		if (!want_frames && !count)
			break;
		if (dmx_done) {
			if (want_frames && !flushed) {
				avcodec_send_packet(in->dec, NULL);
				flushed = 1;
				continue;
			}
			break;
		}
		if (av_read_frame(in->fmt, in->pkt) < 0) {
			dmx_done = 1;
			continue;
		}
		if (in->pkt->stream_index == in->stream) {
			n++;
			if (want_frames && (r = avcodec_send_packet(in->dec, in->pkt)) < 0) {
				av_packet_unref(in->pkt);
				return err_set(e, ERR_INPUT, "%s: not a playable video: %s", path,
					       averr(r, eb, sizeof(eb)));
			}
		}
		av_packet_unref(in->pkt);
	}
	if (packets)
		*packets = n;
	if (got < index)
		return err_set(e, ERR_INPUT, "%s: not a playable video: %s", path,
			       got < 0 ? "no frame decodes" : "fewer frames than asked for");
	return 0;
}

int media_video_probe(const char *path, struct media_video_info *info, struct err *e)
{
	struct stat sb;
	memset(info, 0, sizeof(*info));
	if (stat(path, &sb) != 0)
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	if (sb.st_size == 0)
		return err_set(e, ERR_INPUT, "%s: not a playable video: empty file", path);
	if (is_webp(path))
		return webp_probe(path, info, e);
	struct input in;
	if (input_open(&in, path, e) < 0)
		return -1;
	AVStream *st = in.fmt->streams[in.stream];
	const AVCodecParameters *par = st->codecpar;
	snprintf(info->container, sizeof(info->container), "%s", in.fmt->iformat->name);
	snprintf(info->codec, sizeof(info->codec), "%s", avcodec_get_name(par->codec_id));
	const char *pf = av_get_pix_fmt_name((enum AVPixelFormat)par->format);
	snprintf(info->pix_fmt, sizeof(info->pix_fmt), "%s", pf ? pf : "unknown");
	info->width = par->width;
	info->height = par->height;
	AVRational fr = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
	info->fps = fr.den ? av_q2d(fr) : 0;
	if (st->duration > 0 && st->duration != AV_NOPTS_VALUE)
		info->duration = st->duration * av_q2d(st->time_base);
	else if (in.fmt->duration > 0)
		info->duration = in.fmt->duration / (double)AV_TIME_BASE;
	info->bytes = sb.st_size;
	int rc = decode_to(&in, 0, 1, &info->frames, path, e);
	if (rc == 0 && (info->width <= 0 || info->height <= 0))
		rc = err_set(e, ERR_INPUT, "%s: not a playable video: no picture size", path);
	input_close(&in);
	return rc;
}

int media_video_decode_rgb(const char *path, int index, uint8_t **rgb, int *width, int *height,
			   struct err *e)
{
	struct input in;
	*rgb = NULL;
	if (input_open(&in, path, e) < 0)
		return -1;
	int rc = -1;
	struct SwsContext *sws = NULL;
	if (decode_to(&in, index, 0, NULL, path, e) < 0)
		goto done;
	AVFrame *f = in.frame;
	int w = f->width, h = f->height;
	sws = sws_getContext(w, h, (enum AVPixelFormat)f->format, w, h, AV_PIX_FMT_RGB24,
			     SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
	if (!sws) {
		err_set(e, ERR_INTERNAL, "%s: cannot convert %s to rgb", path,
			av_get_pix_fmt_name((enum AVPixelFormat)f->format));
		goto done;
	}
	int cs = f->colorspace == AVCOL_SPC_BT709 ||
			 (f->colorspace == AVCOL_SPC_UNSPECIFIED && h >= 720)
		 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
	sws_setColorspaceDetails(sws, sws_getCoefficients(cs), f->color_range == AVCOL_RANGE_JPEG,
				 sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
	uint8_t *out = malloc((size_t)w * h * 3);
	if (!out) {
		err_set(e, ERR_NOMEM, "no memory for a %dx%d frame", w, h);
		goto done;
	}
	uint8_t *dst[4] = { out, NULL, NULL, NULL };
	int dls[4] = { w * 3, 0, 0, 0 };
	sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, dls);
	*rgb = out;
	*width = w;
	*height = h;
	rc = 0;
done:
	sws_freeContext(sws);
	input_close(&in);
	return rc;
}
