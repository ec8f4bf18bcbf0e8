/* icc_srgb.c: whether an embedded ICC profile is sRGB, so that decoding
 * need not run the pixels through a transform that changes nothing.
 *
 * A photo tagged with an sRGB profile (what cameras and most editors write)
 * would otherwise pay an sRGB-to-sRGB transform in lcms: a 3000 x 3000 JPEG
 * took 80 ms of CPU to decode with it, 29 ms without, and not one sample
 * changed (libvips's own sRGB profile).  A profile counts as sRGB when it is
 * a matrix/TRC RGB profile (no lookup tables, which would take precedence in
 * a transform) whose three colorants are the sRGB primaries adapted to D50
 * within 0.001 and whose three tone curves follow the sRGB curve within
 * 0.0001 (linear light) at every table entry, or at 1025 points of a
 * parametric curve: a third of a level at most.  Between two table entries
 * lcms interpolates linearly, and a short table bends away from the curve
 * there (a 2-entry {0, 65535} is gamma 1.0 yet exact at both ends), so the
 * midpoint of every two neighbours, where that chord is furthest from the
 * convex sRGB curve, must also encode to within half an 8-bit level of it:
 * the transform's own rounding, past which it starts to move samples.  Tables
 * sampled on sRGB pass from 30 entries (0.47 of a level off at worst; 29 are
 * 0.51 off, and lcms then moves 768 of 196608 samples of a test card by one
 * level, 26 entries 3840).  Anything else, malformed or not, is not sRGB, and
 * the caller transforms as before.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/bytes.h"
#include "media/icc_srgb.h"

static double s15f16(const uint8_t *p)
{
	return (int32_t)bytes_be32(p) / 65536.0;
}

/* The tag sig's data and size, bounds checked (n >= 132); NULL if absent
 * or bad. */
static const uint8_t *icc_tag(const uint8_t *p, size_t n, const char *sig, uint32_t *size)
{
	uint32_t count = bytes_be32(p + 128), i;

	if (count > (n - 132) / 12)
		return NULL;
	for (i = 0; i < count; i++) {
		const uint8_t *t = p + 132 + 12 * (size_t)i;
		uint32_t off = bytes_be32(t + 4), len = bytes_be32(t + 8);

		if (memcmp(t, sig, 4) != 0)
			continue;
		if (off > n || len > n - off || len < 12)
			return NULL;
		*size = len;
		return p + off;
	}
	return NULL;
}

/* Whether the tag table (n >= 132 bytes) names sig at all, whatever its
 * data: a lookup table, even a broken one, is not left out. */
static bool has_tag(const uint8_t *p, size_t n, const char *sig)
{
	uint32_t count = bytes_be32(p + 128), i;

	for (i = 0; i < count && 132 + 12 * (size_t)i + 12 <= n; i++)
		if (memcmp(p + 132 + 12 * (size_t)i, sig, 4) == 0)
			return true;
	return false;
}

static double srgb_to_linear(double v)
{
	return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

static double linear_to_srgb(double v)
{
	return v <= 0.0031308 ? v * 12.92 : 1.055 * pow(v, 1 / 2.4) - 0.055;
}

static bool near_srgb(double x, double v)
{
	return fabs(v - srgb_to_linear(x)) <= 0.0001;
}

/* Whether linear light v, the chord between two table entries at x, encodes
 * to within half an 8-bit level of x. */
static bool chord_near_srgb(double x, double v)
{
	return fabs(linear_to_srgb(v) - x) * 255 <= 0.5;
}

/* Whether tone curve tag t (size bytes) is sRGB's: every entry of a table
 * and the midpoint between each two, a parametric curve at 1025 points. */
static bool curve_is_srgb(const uint8_t *t, uint32_t size)
{
	if (memcmp(t, "curv", 4) == 0) {
		uint32_t count = bytes_be32(t + 8), i;
		const uint8_t *e = t + 12;

		if (count < 2 || count > (size - 12) / 2)
			return false;   /* identity or a bare gamma: not sRGB */
		for (i = 0; i < count; i++) {
			unsigned v = bytes_be16(e + 2 * i);

			if (!near_srgb((double)i / (count - 1), v / 65535.0))
				return false;
			if (i + 1 < count &&
			    !chord_near_srgb((i + 0.5) / (count - 1),
					     (v + bytes_be16(e + 2 * i + 2)) / 131070.0))
				return false;
		}
		return true;
	}
	if (memcmp(t, "para", 4) == 0) {
		static const uint32_t nparams[] = { 1, 3, 4, 5, 7 };
		double p[7] = { 0 };
		unsigned type = bytes_be16(t + 8), k;

		if (type > 4 || size < 12 + 4 * nparams[type])
			return false;
		for (k = 0; k < nparams[type]; k++)
			p[k] = s15f16(t + 12 + 4 * k);
		for (k = 0; k <= 1024; k++) {
			/* g a b c d e f; types 0-4 use the first 1, 3, 4, 5, 7 */
			double x = k / 1024.0, g = p[0], a = p[1], b = p[2], c = p[3], v;

			switch (type) {
			case 0:
				v = pow(x, g);
				break;
			case 1:
				v = a * x + b >= 0 ? pow(a * x + b, g) : 0.0;
				break;
			case 2:
				v = a * x + b >= 0 ? pow(a * x + b, g) + c : c;
				break;
			case 3:
				v = x >= p[4] ? pow(a * x + b, g) : c * x;
				break;
			default:
				v = x >= p[4] ? pow(a * x + b, g) + p[5] : c * x + p[6];
				break;
			}
			if (!near_srgb(x, v))
				return false;
		}
		return true;
	}
	return false;
}

bool media_icc_is_srgb(const void *data, size_t n)
{
	/* sRGB's primaries, Bradford-adapted to D50, as the ICC publishes them */
	static const double primaries[3][3] = {
		{ 0.436066, 0.222488, 0.013916 },
		{ 0.385147, 0.716873, 0.097076 },
		{ 0.143066, 0.060608, 0.714096 },
	};
	static const char *const xyz[3] = { "rXYZ", "gXYZ", "bXYZ" };
	static const char *const trc[3] = { "rTRC", "gTRC", "bTRC" };
	static const char *const luts[] = { "A2B0", "A2B1", "A2B2", "D2B0", "D2B1", "D2B2" };
	const uint8_t *p = data;
	uint32_t size;
	int ch, k;

	/* the header's own size, which must fit in what there is */
	if (!p || n < 132 || bytes_be32(p) < 132 || bytes_be32(p) > n ||
	    memcmp(p + 16, "RGB ", 4) != 0 || memcmp(p + 20, "XYZ ", 4) != 0)
		return false;
	n = bytes_be32(p);
	for (k = 0; k < (int)(sizeof luts / sizeof luts[0]); k++)
		if (has_tag(p, n, luts[k]))
			return false;
	for (ch = 0; ch < 3; ch++) {
		const uint8_t *t = icc_tag(p, n, xyz[ch], &size);

		if (!t || size < 20 || memcmp(t, "XYZ ", 4) != 0)
			return false;
		for (k = 0; k < 3; k++)
			if (fabs(s15f16(t + 8 + 4 * k) - primaries[ch][k]) > 0.001)
				return false;
		t = icc_tag(p, n, trc[ch], &size);
		if (!t || !curve_is_srgb(t, size))
			return false;
	}
	return true;
}
