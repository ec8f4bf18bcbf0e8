/* place.c: where a product goes in a frame, and how big.
 *
 * The product's bounding box is scaled to fill `fill` of the frame on the
 * tighter axis (a tall bottle fills the height, a wide sofa the width),
 * centred across, and stood with its base on the floor line (a share of the
 * frame's height from the top) or centred when there is none.  It never
 * hangs outside the frame.  Shared by the CPU and GPU paths.
 */
#include <math.h>

#include "media/image_int.h"

void media_place(int w, int h, int frame_w, int frame_h, double fill, double floor,
		 struct media_placement *out)
{
	double sx = (double)frame_w / w, sy = (double)frame_h / h;
	double s = fill * (sx < sy ? sx : sy);
	int pw = (int)lround(w * s), ph = (int)lround(h * s);

	if (pw < 1)
		pw = 1;
	if (ph < 1)
		ph = 1;
	if (pw > frame_w)
		pw = frame_w;
	if (ph > frame_h)
		ph = frame_h;
	out->scale = s;
	out->w = pw;
	out->h = ph;
	out->x = (frame_w - pw) / 2;
	if (floor > 0) {
		out->y = (int)lround(floor * frame_h) - ph;
		if (out->y < 0)
			out->y = 0;
		if (out->y + ph > frame_h)
			out->y = frame_h - ph;
	} else {
		out->y = (frame_h - ph) / 2;
	}
}
