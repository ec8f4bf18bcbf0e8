/* xmp.h: the XMP packet that marks every file skugen makes as machine-made.
 *
 * One rdf:Description with:
 *   Iptc4xmpExt:DigitalSourceType  a term of IPTC's Digital Source Type
 *                                  vocabulary (the XMP_DST_* URIs below), as
 *                                  Google Merchant Center asks of AI-generated
 *                                  product images and as the EU AI Act
 *                                  (art. 50) asks: machine-readable marking;
 *   xmp:CreatorTool                "skugen <version>";
 *   Iptc4xmpCore:AltTextAccessibility  the image's alt text (the output's
 *                                  rendered template, cut to 2,000 bytes on a
 *                                  character boundary), when there is one;
 *   skugen:GenerationId, skugen:Generator, skugen:GeneratorVersion,
 *   skugen:Model, skugen:TemplateSha256, skugen:Sku, skugen:RunId,
 *   skugen:SourceSha256, skugen:Preset   in the skugen namespace (XMP_NS_SKUGEN),
 *                                  enough to find the generation and its
 *                                  provenance rows from the file alone.
 *
 * libvips embeds the packet ("xmp-data") in JPEG (APP1), PNG (iTXt
 * XML:com.adobe.xmp) and WebP (XMP chunk); exiftool reads it back.
 */
#ifndef SKUGEN_MEDIA_XMP_H
#define SKUGEN_MEDIA_XMP_H

#include "common/buf.h"
#include "common/err.h"

#define XMP_NS_SKUGEN "https://skugen.dev/ns/xmp/1.0/"

#define XMP_DST_BASE "http://cv.iptc.org/newscodes/digitalsourcetype/"
/* Made entirely by a generative model (a FLUX scene, a text-to-image shot). */
#define XMP_DST_TRAINED XMP_DST_BASE "trainedAlgorithmicMedia"
/* A real photo combined with something a generative model made (the product
 * on a generated scene; a hosted product-shot model's output). */
#define XMP_DST_COMPOSITE_TRAINED XMP_DST_BASE "compositeWithTrainedAlgorithmicMedia"
/* Several elements combined without a generative model: the real product
 * photo placed on a scene from the configured folder. */
#define XMP_DST_COMPOSITE XMP_DST_BASE "composite"
/* One real photo changed only by non-generative algorithms: a channel image
 * is the product's own capture, cut out by a colour-distance matte, scaled
 * and placed on a flat background.  No second captured element is added (so
 * not compositeCapture) and no model made any pixel (so nothing
 * "trained"); the pixels of the product are the camera's.  IPTC's
 * algorithmicallyEnhanced covers exactly "original media changed by
 * algorithmic (non-generative) tools". */
#define XMP_DST_ENHANCED XMP_DST_BASE "algorithmicallyEnhanced"

/* What goes into the packet.  Everything is borrowed; NULL (or 0) leaves a
 * property out, except digital_source_type, which is required. */
struct xmp_info {
	const char *digital_source_type;  /* an XMP_DST_* URI */
	long long generation_id;
	long long run_id;
	const char *sku;
	const char *generator;            /* the generator type: "image" */
	const char *generator_version;
	const char *model;                /* "local-cpu", "fal-ai/bria/product-shot", ... */
	const char *template_sha256;
	const char *source_sha256;        /* the product photo's bytes */
	const char *preset;               /* the channel preset */
	const char *alt_text;             /* UTF-8, may be NULL */
	size_t alt_len;
};

/* Append the packet (UTF-8 XML, values escaped) to out. */
int xmp_packet(const struct xmp_info *info, struct buf *out, struct err *e);

#endif
