/* image_save.c: encoding into memory, with the XMP packet that marks the
 * file as machine-made and nothing else of the input's metadata.
 *
 * A product photo may carry EXIF with the camera's serial number or GPS
 * position, an old ICC profile (the pixels are sRGB by now), comments.  The
 * output gets none of it: every metadata item libvips would write is
 * removed, then the caller's XMP packet (media/xmp.c builds it) is set as
 * libvips's "xmp-data", which the JPEG, WebP and PNG savers embed.
 */
#include <string.h>

#include "media/image_int.h"

/* JPEG carries XMP in one APP1 segment: 65,533 bytes less its 29-byte
 * namespace header.  libvips drops a larger packet with only a warning, and
 * a file without its marking must not be written. */
#define JPEG_XMP_MAX 65504

/* Collect the names of the metadata items to drop (a camera's EXIF has
 * dozens: every one of them, GPS and serial numbers included). */
static void *collect(VipsImage *im, const char *name, GValue *value, void *a)
{
	GPtrArray *names = a;
	static const char *const drop[] = {
		VIPS_META_EXIF_NAME, VIPS_META_XMP_NAME, VIPS_META_IPTC_NAME,
		VIPS_META_ICC_NAME, VIPS_META_PHOTOSHOP_NAME, VIPS_META_ORIENTATION,
		"exif-", "png-comment-", "gif-comment", "jpeg-", "palette", "heif-", NULL,
	};

	(void)im;
	(void)value;
	for (int i = 0; drop[i]; i++) {
		if (strncmp(name, drop[i], strlen(drop[i])) == 0) {
			g_ptr_array_add(names, g_strdup(name));
			break;
		}
	}
	return NULL;
}

int media_save(const struct media_image *img, enum media_format fmt, int quality,
	       const char *xmp, size_t xmp_len, struct buf *out, struct err *e)
{
	static const uint8_t white[3] = { 255, 255, 255 };
	VipsImage *flat = NULL, *c = NULL;
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	void *data = NULL;
	size_t len = 0;
	int rc = -1, vr;

	if (fmt == MEDIA_FORMAT_JPEG && xmp_len > JPEG_XMP_MAX) {
		err_set(e, ERR_INPUT, "save: the XMP packet is %zu bytes, more than a JPEG holds (%d)",
			xmp_len, JPEG_XMP_MAX);
		goto done;
	}
	if (quality <= 0)
		quality = 90;
	if (quality > 100)
		quality = 100;
	if (fmt == MEDIA_FORMAT_JPEG && img->vi->Bands == 4) {
		if (media_flatten_linear(img->vi, white, &flat)) {
			media_vips_err(e, ERR_INTERNAL, NULL, "save: flatten alpha for jpeg");
			goto done;
		}
	}
	if (vips_copy(flat ? flat : img->vi, &c, NULL)) {
		media_vips_err(e, ERR_INTERNAL, NULL, "save");
		goto done;
	}
	vips_image_map(c, collect, names);
	for (guint i = 0; i < names->len; i++)
		vips_image_remove(c, g_ptr_array_index(names, i));
	if (xmp && xmp_len)
		vips_image_set_blob_copy(c, VIPS_META_XMP_NAME, xmp, xmp_len);

	switch (fmt) {
	case MEDIA_FORMAT_JPEG:
		vr = vips_jpegsave_buffer(c, &data, &len, "Q", quality, "optimize_coding", TRUE,
					  NULL);
		break;
	case MEDIA_FORMAT_WEBP:
		vr = vips_webpsave_buffer(c, &data, &len, "Q", quality, NULL);
		break;
	case MEDIA_FORMAT_PNG:
		vr = vips_pngsave_buffer(c, &data, &len, "compression", 6, NULL);
		break;
	default:
		err_set(e, ERR_INTERNAL, "save: unknown format %d", (int)fmt);
		goto done;
	}
	if (vr) {
		media_vips_err(e, ERR_INTERNAL, NULL, "save");
		goto done;
	}
	if (buf_append(out, data, len)) {
		err_set(e, ERR_NOMEM, "out of memory for a %zu byte image", len);
		goto done;
	}
	rc = 0;
done:
	g_ptr_array_free(names, TRUE);
	g_free(data);
	if (c)
		g_object_unref(c);
	if (flat)
		g_object_unref(flat);
	return rc;
}
