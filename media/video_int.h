/* video_int.h: what the video files share among themselves (not an API).
 *
 * Colour conversion (video_colour.c) used by frame synthesis and the WebP
 * encoder.  Pointers are borrowed; nothing here allocates except
 * media_frame_alloc (video.h).
 */
#ifndef SKUGEN_MEDIA_VIDEO_INT_H
#define SKUGEN_MEDIA_VIDEO_INT_H

#include "media/video.h"

/* Packed RGB (3 bytes a pixel, rows stride bytes apart) into f's planes, at
 * f's size; chroma is the mean of each 2x2 block. */
void media_rgb_to_yuv420(const uint8_t *rgb, size_t stride, struct media_frame *f);
/* f into packed RGBA (alpha 255), chroma repeated over its 2x2 block. */
void media_yuv420_to_rgba(const struct media_frame *f, uint8_t *rgba, size_t stride);
/* Copy src's pixels into dst of the same size; -1 when sizes differ. */
int media_frame_copy(struct media_frame *dst, const struct media_frame *src);

/* media_video_render with the dissolve's upper layer in tmp (a frame of the
 * clip's size), so that several threads can render frames of one CPU clip
 * at once, each with its own tmp and frame.  On the GPU (media_video_on_gpu)
 * tmp is unused and one thread at a time may render. */
int media_video_render_tmp(struct media_video *v, int index, struct media_frame *f,
			   struct media_frame *tmp, struct err *e);
int media_video_on_gpu(const struct media_video *v);

#endif
