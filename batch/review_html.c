/* review_html.c: the review page (see review_html.h). */
#include "batch/review_html.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batch/review_diff.h"
#include "common/hash.h"

#define FIRST_CHUNK 50   /* cards before the script: what the first render needs */
#define CHUNK 500        /* cards per data block after it */

struct review_html {
	FILE *out;
	char *asset_base;
	char *sku;               /* the SKU of the card being filled */
	json_t *card;            /* its JSON, NULL before the first row */
	long cards;
	int in_chunk;            /* cards in the open data block */
	bool chunk_open, script_done;
	struct buf scratch, json;
	struct review_diff diff;
};

static const char page_head[] =
	"<!doctype html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<meta name=\"referrer\" content=\"no-referrer\">\n";

static const char page_body[] =
	"</head>\n"
	"<body>\n"
	"<header class=\"top\">\n"
	"<h1>skugen review</h1> <span id=\"meta\"></span>\n"
	"<div class=\"bar\">\n"
	"<label>Category <select id=\"f-category\"><option value=\"\">all</option></select></label>\n"
	"<label>Output <select id=\"f-output\"><option value=\"\">all</option></select></label>\n"
	"<label>Status <select id=\"f-status\"><option value=\"\">all</option></select></label>\n"
	"<label>Decision <select id=\"f-decision\"><option value=\"\">all</option>"
	"<option value=\"undecided\">undecided</option><option value=\"approve\">approved</option>"
	"<option value=\"reject\">rejected</option><option value=\"edit\">edited</option></select></label>\n"
	"<label>Reviewer <input id=\"reviewer\" type=\"text\" autocomplete=\"name\" size=\"14\"></label>\n"
	"<button type=\"button\" id=\"save\">Save decisions (0)</button>\n"
	"<span id=\"count\"></span>\n"
	"</div>\n"
	"<p id=\"help\">Keys: j/k or \xe2\x86\x93/\xe2\x86\x91 move between cards \xc2\xb7 a approve \xc2\xb7 "
	"r reject \xc2\xb7 e edit (Ctrl+Enter saves, Esc cancels) \xc2\xb7 u undo \xc2\xb7 "
	"s save the decisions file for <code>skugen import</code> \xc2\xb7 ? hide this</p>\n"
	"</header>\n"
	"<main id=\"cards\"></main>\n"
	"<div id=\"more\"></div>\n"
	"<div id=\"lightbox\" hidden tabindex=\"-1\"><div class=\"lb-body\"></div></div>\n"
	"<noscript>This page needs JavaScript to show the cards; "
	"<code>skugen export --format csv</code> needs none.</noscript>\n";

/* 'sha256-<base64>' of text, for the Content-Security-Policy. */
static void csp_hash(const char *text, char out[64])
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char hex[HASH_HEX_LEN];
	unsigned char raw[33] = { 0 };
	char *o = out;

	sha256_hex(text, strlen(text), hex);
	for (int i = 0; i < 32; i++) {
		unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
		unsigned lo = (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);

		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	o += sprintf(o, "'sha256-");
	for (int i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];

		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < 32 ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < 32 ? b64[v & 63] : '=';
	}
	*o++ = '\'';
	*o = '\0';
}

int review_html_json_safe(struct buf *b, const char *json)
{
	const char *p = json;

	for (;;) {
		size_t n = strcspn(p, "<>&");

		if (buf_append(b, p, n) < 0)
			return -1;
		p += n;
		if (!*p)
			return 0;
		if (buf_printf(b, "\\u%04x", (unsigned)*p) < 0)
			return -1;
		p++;
	}
}

/* The components of an absolute or relative path, "." and "" dropped and
 * ".." resolved where it can be (kept at the front of a relative path). */
static size_t split_path(char *p, char **parts, size_t max)
{
	size_t n = 0;
	bool absolute = *p == '/';

	for (char *s = strtok(p, "/"); s; s = strtok(NULL, "/")) {
		if (strcmp(s, ".") == 0)
			continue;
		if (strcmp(s, "..") == 0 && n > 0 && strcmp(parts[n - 1], "..") != 0) {
			n--;
			continue;
		}
		if (strcmp(s, "..") == 0 && absolute)
			continue;
		if (n < max)
			parts[n++] = s;
	}
	return n;
}

static int put_encoded(struct buf *b, const char *s)
{
	static const char hexd[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (buf_putc(b, (char)c) < 0)
				return -1;
		} else {
			char pct[3] = { '%', hexd[c >> 4], hexd[c & 15] };

			if (buf_append(b, pct, 3) < 0)
				return -1;
		}
	}
	return 0;
}

int review_html_asset_href(struct buf *b, const char *path, const char *base)
{
	enum { MAXPARTS = 256 };
	char *pc = strdup(path), *bc = base ? strdup(base) : NULL;
	char *pp[MAXPARTS], *bp[MAXPARTS];
	size_t np, nb = 0, common = 0;
	bool absolute = *path == '/', first = true;
	int rc = -1;

	if (!pc || (base && !bc))
		goto out;
	np = split_path(pc, pp, MAXPARTS);
	if (absolute && bc && *base == '/') {
		nb = split_path(bc, bp, MAXPARTS);
		while (common < np && common < nb && strcmp(pp[common], bp[common]) == 0)
			common++;
		for (size_t i = common; i < nb; i++) {
			if (buf_puts(b, first ? ".." : "/..") < 0)
				goto out;
			first = false;
		}
		absolute = false;
	} else if (absolute && buf_putc(b, '/') < 0) {
		goto out;
	}
	for (size_t i = common; i < np; i++) {
		if (!first && buf_putc(b, '/') < 0)
			goto out;
		if (put_encoded(b, pp[i]) < 0)
			goto out;
		first = false;
	}
	if (first && !absolute && buf_putc(b, '.') < 0)
		goto out;
	rc = 0;
out:
	free(pc);
	free(bc);
	return rc;
}

static bool is_video(const char *path)
{
	static const char *const ext[] = { ".mp4", ".m4v", ".webm", ".mov", ".ogv", NULL };
	size_t n = strlen(path);

	for (int i = 0; ext[i]; i++) {
		size_t k = strlen(ext[i]);

		if (n > k && strcasecmp(path + n - k, ext[i]) == 0)
			return true;
	}
	return false;
}

static int out_ok(struct review_html *h, struct err *e)
{
	return ferror(h->out) ? err_set(e, ERR_IO, "cannot write the page") : 0;
}

int review_html_begin(struct review_html **out, FILE *fp, const struct review_html_opts *o, struct err *e)
{
	struct review_html *h = calloc(1, sizeof *h);
	char css_hash[64], js_hash[64];
	json_t *meta = NULL;
	char *meta_text = NULL;
	int rc = -1;

	*out = NULL;
	if (!h)
		return err_set(e, ERR_NOMEM, "out of memory");
	h->out = fp;
	if (o->asset_base && !(h->asset_base = strdup(o->asset_base))) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	csp_hash(review_page_css, css_hash);
	csp_hash(review_page_js, js_hash);
	fputs(page_head, fp);
	fprintf(fp, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		    "script-src %s; style-src %s; img-src 'self' file: data: blob:; "
		    "media-src 'self' file: blob:; base-uri 'none'; form-action 'none'\">\n",
		js_hash, css_hash);
	fputs("<title>skugen review</title>\n<style>", fp);
	fputs(review_page_css, fp);
	fputs("</style>\n", fp);
	fputs(page_body, fp);
	meta = json_pack("{s:s, s:s, s:s, s:s}", "export_id", o->export_id, "exported_at", o->exported_at,
			 "version", SKUGEN_VERSION, "filters", o->filters ? o->filters : "");
	meta_text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	if (!meta_text || review_html_json_safe(&h->json, meta_text) < 0) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	fputs("<script type=\"application/json\" id=\"skugen-meta\">", fp);
	fwrite(h->json.data, 1, h->json.len, fp);
	fputs("</script>\n", fp);
	if (out_ok(h, e) < 0)
		goto out;
	*out = h;
	h = NULL;
	rc = 0;
out:
	free(meta_text);
	json_decref(meta);
	review_html_free(h);
	return rc;
}

static void write_script(struct review_html *h)
{
	fputs("<script>", h->out);
	fputs(review_page_js, h->out);
	fputs("</script>\n", h->out);
	h->script_done = true;
}

static void close_chunk(struct review_html *h)
{
	if (!h->chunk_open)
		return;
	fputs("]</script>\n", h->out);
	h->chunk_open = false;
	h->in_chunk = 0;
	if (!h->script_done)
		write_script(h);
}

/* Write the card being filled into the open data block. */
static int flush_card(struct review_html *h, struct err *e)
{
	char *text;
	int rc;

	if (!h->card)
		return 0;
	text = json_dumps(h->card, JSON_COMPACT);
	json_decref(h->card);
	h->card = NULL;
	if (!text)
		return err_set(e, ERR_NOMEM, "out of memory");
	buf_reset(&h->json);
	rc = review_html_json_safe(&h->json, text);
	free(text);
	if (rc < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (!h->chunk_open) {
		fputs("<script type=\"application/json\" class=\"skugen-data\">[", h->out);
		h->chunk_open = true;
	} else {
		fputc(',', h->out);
	}
	fwrite(h->json.data, 1, h->json.len, h->out);
	h->cards++;
	if (++h->in_chunk >= (h->script_done ? CHUNK : FIRST_CHUNK))
		close_chunk(h);
	return out_ok(h, e);
}

/* The spans as ["=same", "-old", "+new"]. */
static json_t *diff_spans(struct review_html *h, const struct review_row *row, struct err *e)
{
	json_t *d = json_array();
	struct review_diff_span one;
	const struct review_diff_span *spans = &one;
	size_t n = 0;

	if (!d) {
		err_set(e, ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (row->content && row->current_value) {
		if (review_diff_words(row->current_value, row->current_len, row->content, row->content_len,
				      REVIEW_DIFF_MAX_EDITS, &h->diff, e) < 0)
			goto fail;
		spans = h->diff.spans;
		n = h->diff.n;
	} else if (row->content || row->current_value) {
		one.op = row->content ? REVIEW_DIFF_INSERT : REVIEW_DIFF_DELETE;
		one.p = row->content ? row->content : row->current_value;
		one.n = row->content ? row->content_len : row->current_len;
		n = one.n > 0;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *s;

		buf_reset(&h->scratch);
		if (buf_putc(&h->scratch, spans[i].op) < 0 || buf_append(&h->scratch, spans[i].p, spans[i].n) < 0) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto fail;
		}
		s = json_stringn(h->scratch.data, h->scratch.len);
		if (!s || json_array_append_new(d, s) < 0) {
			err_set(e, ERR_INPUT, "generation %s: its text is not UTF-8", row->generation_id);
			goto fail;
		}
	}
	return d;
fail:
	json_decref(d);
	return NULL;
}

static json_t *generation(struct review_html *h, const struct review_row *row, struct err *e)
{
	json_t *g = NULL, *d = diff_spans(h, row, e);

	if (!d)
		return NULL;
	g = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:b, s:o, s:o}",
		      "i", (json_int_t)strtoll(row->generation_id, NULL, 10), "o", row->output,
		      "l", row->locale, "k", row->kind, "t", row->status,
		      "v", (json_int_t)strtoll(row->version, NULL, 10),
		      "m", row->model ? json_string(row->model) : json_null(),
		      "p", row->cost ? json_real(strtod(row->cost, NULL)) : json_null(),
		      "cv", row->current_value != NULL, "d", d, "x", review_checks(row->checks));
	if (!g)
		goto nomem;
	if (*row->channel && json_object_set_new(g, "h", json_string(row->channel)) < 0)
		goto nomem;
	if (row->asset_path) {
		buf_reset(&h->scratch);
		if (review_html_asset_href(&h->scratch, row->asset_path, h->asset_base) < 0 ||
		    json_object_set_new(g, "a", json_string(h->scratch.data)) < 0 ||
		    json_object_set_new(g, "ak", json_string(is_video(row->asset_path) ? "video" : "image")) < 0)
			goto nomem;
	}
	if (row->last_decision &&
	    json_object_set_new(g, "r", json_pack("{s:s, s:s?, s:s?, s:s?}", "d", row->last_decision,
						  "by", row->last_reviewer, "at", row->last_reviewed_at,
						  "c", row->last_comment)) < 0)
		goto nomem;
	return g;
nomem:
	json_decref(g);
	err_set(e, ERR_NOMEM, "out of memory");
	return NULL;
}

int review_html_row(struct review_html *h, const struct review_row *row, struct err *e)
{
	json_t *g;

	if (!h->card || strcmp(h->sku, row->sku) != 0) {
		if (flush_card(h, e) < 0)
			return -1;
		free(h->sku);
		h->sku = strdup(row->sku);
		h->card = json_pack("{s:s, s:s, s:s, s:[]}", "s", row->sku, "n", row->product_name,
				    "c", row->category, "g");
		if (!h->sku || !h->card)
			return err_set(e, ERR_NOMEM, "out of memory");
	} else {
		json_t *name = json_object_get(h->card, "n");

		/* the first name a SKU's generations carry names the card */
		if (!*json_string_value(name) && *row->product_name)
			json_object_set_new(h->card, "n", json_string(row->product_name));
	}
	g = generation(h, row, e);
	if (!g)
		return -1;
	if (json_array_append_new(json_object_get(h->card, "g"), g) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	return 0;
}

int review_html_end(struct review_html *h, long *cards, struct err *e)
{
	if (flush_card(h, e) < 0)
		return -1;
	close_chunk(h);
	if (!h->script_done)
		write_script(h);
	fputs("</body>\n</html>\n", h->out);
	if (cards)
		*cards = h->cards;
	return out_ok(h, e);
}

void review_html_free(struct review_html *h)
{
	if (!h)
		return;
	json_decref(h->card);
	free(h->sku);
	free(h->asset_base);
	buf_free(&h->scratch);
	buf_free(&h->json);
	review_diff_free(&h->diff);
	free(h);
}
