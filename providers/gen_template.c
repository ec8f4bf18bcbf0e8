/* gen_template.c: the `template` generator: local, deterministic and free.
 *
 * Its output is the rendered template itself: rule-based copy from the
 * product's attributes, the fallback every catalog team keeps.  Whitespace is
 * tidied (trailing spaces, runs of blank lines, leading and trailing blank
 * lines) so that templates can be written readably.
 *
 * Configuration: { "type": "template", "template": "copy/description" }: the
 * optional template base is this generator's own (selected by category and
 * locale like any other); without it, it renders the output's template.  The
 * executor does the rendering; this back-end tidies and returns the text.
 */
#include "providers/generator.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

extern const struct gen_ops gen_template_ops;

struct gen_template {
	struct gen base;
};

static int template_open(struct gen **out, const char *name, const json_t *cfg, struct err *e)
{
	struct gen_template *g;

	if (cfg) {
		const char *k;
		json_t *v;

		json_object_foreach((json_t *)cfg, k, v)
			if (strcmp(k, "type") != 0 && strcmp(k, "template") != 0)
				return err_set(e, ERR_CONFIG, "generators.%s.%s: unknown key (known keys: type, template)", name, k);
	}
	g = calloc(1, sizeof *g);
	if (!g)
		return err_set(e, ERR_NOMEM, "out of memory");
	g->base.ops = &gen_template_ops;
	*out = &g->base;
	return 0;
}

/* Copy text into out without trailing spaces on lines, with at most one blank
 * line in a row, and without blank lines at either end. */
static int tidy(const char *text, size_t len, struct buf *out)
{
	size_t i = 0, blank_run = 0;
	bool started = false;

	while (i < len) {
		size_t start = i, end;

		while (i < len && text[i] != '\n')
			i++;
		end = i;
		if (i < len)
			i++; /* the newline */
		while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r'))
			end--;
		if (end == start) {
			blank_run++;
			continue;
		}
		if (started && buf_puts(out, blank_run ? "\n\n" : "\n") < 0)
			return -1;
		if (buf_append(out, text + start, end - start) < 0)
			return -1;
		started = true;
		blank_run = 0;
	}
	return 0;
}

static int template_generate(struct gen *g, const struct gen_request *req, struct gen_result *res,
			     struct err *e)
{
	if (tidy(req->prompt, req->prompt_len, &res->content) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (res->content.len == 0)
		return err_set(e, ERR_GENERATE, "the template rendered only whitespace");
	res->provider = strdup("local");
	res->model = strdup("template");
	res->params = json_object();
	if (!res->provider || !res->model || !res->params)
		return err_set(e, ERR_NOMEM, "out of memory");
	return 0;
}

static void template_close(struct gen *g)
{
	free(g);
}

const struct gen_ops gen_template_ops = {
	.name = "template",
	.version = "1",
	.open = template_open,
	.generate = template_generate,
	.close = template_close,
};
