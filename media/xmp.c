/* xmp.c: build the XMP packet (see xmp.h). */
#include "media/xmp.h"

#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

/* Append s as an XML attribute value (inside double quotes). Control
 * characters other than tab, newline and carriage return are not allowed in
 * XML 1.0 at all: they are dropped. */
static int put_escaped_n(struct buf *b, const char *s, size_t n)
{
	for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + n; p++) {
		int rc;

		switch (*p) {
		case '&': rc = buf_puts(b, "&amp;"); break;
		case '<': rc = buf_puts(b, "&lt;"); break;
		case '>': rc = buf_puts(b, "&gt;"); break;
		case '"': rc = buf_puts(b, "&quot;"); break;
		case '\t': rc = buf_puts(b, "&#9;"); break;
		case '\n': rc = buf_puts(b, "&#10;"); break;
		case '\r': rc = buf_puts(b, "&#13;"); break;
		default:
			rc = *p < 0x20 || *p == 0x7f ? 0 : buf_putc(b, (char)*p);
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int put_escaped(struct buf *b, const char *s)
{
	return put_escaped_n(b, s, strlen(s));
}

static int put_attr(struct buf *b, const char *name, const char *value)
{
	if (!value)
		return 0;
	if (buf_printf(b, "\n   %s=\"", name) < 0 || put_escaped(b, value) < 0 || buf_putc(b, '"') < 0)
		return -1;
	return 0;
}

static int put_id(struct buf *b, const char *name, long long v)
{
	char text[32];

	if (v <= 0)
		return 0;
	snprintf(text, sizeof text, "%lld", v);
	return put_attr(b, name, text);
}

/* Alt text is a sentence or two; a template that renders a whole product
 * description must not grow the packet past what a JPEG can carry. */
#define XMP_ALT_MAX 2000

/* n cut to at most max bytes, on a UTF-8 character boundary. */
static size_t utf8_cut(const char *p, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)p[max] & 0xC0) == 0x80)
		max--;
	return max;
}

int xmp_packet(const struct xmp_info *info, struct buf *out, struct err *e)
{
	static const char *const fields[] = { "sku", "model", "generator" };
	const char *values[] = { info->sku, info->model, info->generator };
	size_t alt_len = info->alt_text ? utf8_cut(info->alt_text, info->alt_len, XMP_ALT_MAX) : 0;

	if (info->alt_text && !utf8_valid(info->alt_text, info->alt_len, NULL))
		return err_set(e, ERR_INPUT, "xmp: the alt text is not valid UTF-8");
	if (!info->digital_source_type || strncmp(info->digital_source_type, XMP_DST_BASE, strlen(XMP_DST_BASE)) != 0)
		return err_set(e, ERR_INTERNAL, "xmp: a digital source type from IPTC's vocabulary is required");
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (values[i] && !utf8_valid(values[i], strlen(values[i]), NULL))
			return err_set(e, ERR_INPUT, "xmp: %s is not valid UTF-8", fields[i]);
	if (buf_puts(out, "<?xpacket begin=\"\xef\xbb\xbf\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
			  "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"skugen\">\n"
			  " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
			  "  <rdf:Description rdf:about=\"\"\n"
			  "   xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n"
			  "   xmlns:Iptc4xmpCore=\"http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/\"\n"
			  "   xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n"
			  "   xmlns:skugen=\"" XMP_NS_SKUGEN "\"") < 0 ||
	    put_attr(out, "Iptc4xmpExt:DigitalSourceType", info->digital_source_type) < 0 ||
	    put_attr(out, "xmp:CreatorTool", "skugen " SKUGEN_VERSION) < 0 ||
	    put_id(out, "skugen:GenerationId", info->generation_id) < 0 ||
	    put_id(out, "skugen:RunId", info->run_id) < 0 ||
	    put_attr(out, "skugen:Sku", info->sku) < 0 ||
	    put_attr(out, "skugen:Generator", info->generator) < 0 ||
	    put_attr(out, "skugen:GeneratorVersion", info->generator_version) < 0 ||
	    put_attr(out, "skugen:Model", info->model) < 0 ||
	    put_attr(out, "skugen:TemplateSha256", info->template_sha256) < 0 ||
	    put_attr(out, "skugen:SourceSha256", info->source_sha256) < 0 ||
	    put_attr(out, "skugen:Preset", info->preset) < 0 ||
	    buf_puts(out, info->alt_text ? ">\n   <Iptc4xmpCore:AltTextAccessibility><rdf:Alt><rdf:li xml:lang=\"x-default\">" : "/>\n") < 0 ||
	    (info->alt_text && (put_escaped_n(out, info->alt_text, alt_len) < 0 ||
				buf_puts(out, "</rdf:li></rdf:Alt></Iptc4xmpCore:AltTextAccessibility>\n  </rdf:Description>\n") < 0)) ||
	    buf_puts(out, " </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>") < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	return 0;
}
