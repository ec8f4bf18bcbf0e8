/* tmpl_render.c: rendering compiled templates against jansson values.
 *
 * The context stack is a fixed array in the render state (on the C stack),
 * indentation for standalone partials and blocks lives in a fixed buffer, and
 * formatters work inside the output buffer: a render allocates nothing but
 * the growth of the caller's output buffer.  Recursion (sections in partials
 * in sections...) is bounded by TMPL_MAX_DEPTH, total work by max_steps.
 *
 * Inheritance: a parent tag pushes a scope (its block arguments) and renders
 * the parent template; a block renders the outermost argument of its name
 * found in the scope chain ("top-level substitutions take precedence"), else
 * its default content, in the context stack where the block stands.
 */
#include "templates/tmpl_int.h"

#include <string.h>

#define INDENT_MAX 4096
#define MEMO_SIZE 64      /* remembered lookups per render, direct-mapped */

struct scope {
	const struct tmpl *t;
	uint32_t node;               /* the TN_PARENT node holding the arguments */
	const struct scope *outer;
};

struct rstate {
	bool strict, escape;
	struct buf *out;
	struct err *e;
	struct tmpl_trace *tr;
	size_t out_base, max_output;
	uint64_t steps, max_steps;
	int nframes, depth;
	size_t ind_a, ind_b, ind_top;    /* current indentation: ind[ind_a..ind_b) */
	const json_t *frames[TMPL_MAX_DEPTH + 2];
	struct memo {
		const json_t *obj;
		const char *key;        /* interned by the parser: compared by pointer */
		const json_t *val;
	} memo[MEMO_SIZE];
	char ind[INDENT_MAX];
};

struct ind_save {
	size_t a, b, top;
};

static int render_range(struct rstate *st, const struct tmpl *t, uint32_t first, uint32_t last,
			bool force_bol, const struct scope *sc);

static int nomem(struct rstate *st, const struct tmpl *t)
{
	return err_set(st->e, ERR_NOMEM, "template \"%s\": out of memory", t->name);
}

static bool line_empty(const char *s, size_t n)
{
	return n == 0 || s[0] == '\n' || (s[0] == '\r' && n > 1 && s[1] == '\n');
}

static int put_indent(struct rstate *st, const struct tmpl *t)
{
	if (tmpl_put(st->out, st->ind + st->ind_a, st->ind_b - st->ind_a) < 0)
		return nomem(st, t);
	return 0;
}

/* Text of the template; with indentation active, every non-empty line that
 * starts inside it gets the indentation first. */
static int put_text(struct rstate *st, const struct tmpl *t, const char *s, size_t n)
{
	size_t run = 0;

	if (st->ind_b > st->ind_a) {
		for (size_t i = 0; i + 1 < n; i++) {
			if (s[i] != '\n' || line_empty(s + i + 1, n - i - 1))
				continue;
			if (tmpl_put(st->out, s + run, i + 1 - run) < 0 || put_indent(st, t) < 0)
				return nomem(st, t);
			run = i + 1;
		}
	}
	if (tmpl_put(st->out, s + run, n - run) < 0)
		return nomem(st, t);
	return 0;
}

static void ind_save(const struct rstate *st, struct ind_save *s)
{
	s->a = st->ind_a;
	s->b = st->ind_b;
	s->top = st->ind_top;
}

static void ind_restore(struct rstate *st, const struct ind_save *s)
{
	st->ind_a = s->a;
	st->ind_b = s->b;
	st->ind_top = s->top;
}

/* keep: extend the current indentation by add; else start from none. */
static int ind_push(struct rstate *st, const struct tmpl *t, const struct tnode *n, bool keep,
		    const char *add, size_t addlen)
{
	size_t cur = st->ind_b - st->ind_a;

	if (!keep) {
		st->ind_a = st->ind_b = st->ind_top;
		return 0;
	}
	if (!addlen)
		return 0;
	if (st->ind_top + cur + addlen > INDENT_MAX)
		return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col,
				 "indentation deeper than %d bytes", INDENT_MAX);
	memmove(st->ind + st->ind_top, st->ind + st->ind_a, cur);
	memcpy(st->ind + st->ind_top + cur, add, addlen);
	st->ind_a = st->ind_top;
	st->ind_b = st->ind_top + cur + addlen;
	st->ind_top = st->ind_b;
	return 0;
}

/* json_object_get, remembered for the rest of the render: data does not
 * change while it renders, and templates read the same keys repeatedly. */
static const json_t *get_key(struct rstate *st, const json_t *obj, const char *key)
{
	uint64_t h = ((uint64_t)(uintptr_t)obj ^ ((uint64_t)(uintptr_t)key << 17)) * 0x9e3779b97f4a7c15ull;
	struct memo *m = &st->memo[h >> 58];
	const json_t *v;

	if (m->obj == obj && m->key == key)
		return m->val;
	v = json_object_get(obj, key);
	m->obj = obj;
	m->key = key;
	m->val = v;
	return v;
}

static const json_t *resolve(struct rstate *st, const struct tname *nm)
{
	const json_t *v = NULL;

	if (nm->nseg == 0)
		return st->frames[st->nframes - 1];
	for (int f = st->nframes - 1; f >= 0; f--) {
		const json_t *fr = st->frames[f];

		if (!json_is_object(fr))
			continue;
		if (st->tr)
			tmpl_trace_key(st->tr, fr, nm->seg[0]);
		v = get_key(st, fr, nm->seg[0]);
		if (v)
			break;
	}
	/* The rest strictly, a numeric part indexing a list ("materials.0").
	 * Lists are projected whole-length, so an index needs no trace. */
	for (uint32_t k = 1; v && k < nm->nseg; k++) {
		if (json_is_array(v) && nm->idx[k] >= 0) {
			v = (size_t)nm->idx[k] < json_array_size(v) ? json_array_get(v, (size_t)nm->idx[k]) : NULL;
			continue;
		}
		if (!json_is_object(v))
			return NULL;
		if (st->tr)
			tmpl_trace_key(st->tr, v, nm->seg[k]);
		v = get_key(st, v, nm->seg[k]);
	}
	return v;
}

static bool truthy(const json_t *v)
{
	if (!v)
		return false;
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE:
		return false;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	default:
		return true;
	}
}

static int missing_key(struct rstate *st, const struct tmpl *t, const struct tnode *n,
		       const json_t *v)
{
	if (v && json_is_null(v))
		return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col, "key \"%s\" is null",
				 n->name->full);
	return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col, "missing key \"%s\"", n->name->full);
}

/* HTML-escape out[from..len) in place (via the space after it). */
static int escape_tail(struct rstate *st, const struct tmpl *t, size_t from)
{
	struct buf *o = st->out;
	size_t end = o->len, n;

	if (!tmpl_needs_escape(o->data + from, end - from))
		return 0;
	if (buf_reserve(o, (end - from) * 6) < 0)
		return nomem(st, t);
	if (tmpl_put_escaped(o, o->data + from, end - from) < 0)
		return nomem(st, t);
	n = o->len - end;
	memmove(o->data + from, o->data + end, n);
	o->len = from + n;
	o->data[o->len] = '\0';
	return 0;
}

static int render_var(struct rstate *st, const struct tmpl *t, const struct tnode *n)
{
	const json_t *v = resolve(st, n->name);
	bool esc = st->escape && !(n->flags & TNF_RAW);
	size_t from = st->out->len;
	bool missing = false;

	if (n->nfmt) {
		if (tmpl_apply_formatters(t, n, v, st->out, &missing, st->tr, st->e) < 0)
			return -1;
		if (missing) {
			st->out->len = from;
			if (st->strict)
				return missing_key(st, t, n, v);
			return 0;
		}
		return esc ? escape_tail(st, t, from) : 0;
	}
	if (!v || json_is_null(v))
		return st->strict ? missing_key(st, t, n, v) : 0;
	if (json_is_string(v)) {
		int rc = esc ? tmpl_put_escaped(st->out, json_string_value(v), json_string_length(v))
			     : tmpl_put(st->out, json_string_value(v), json_string_length(v));

		return rc < 0 ? nomem(st, t) : 0;
	}
	if (st->tr && (json_is_object(v) || json_is_array(v)))
		tmpl_trace_whole(st->tr, v);
	if (tmpl_put_value(st->out, v) < 0)
		return nomem(st, t);
	return esc && (json_is_object(v) || json_is_array(v)) ? escape_tail(st, t, from) : 0;
}

static int push_frame(struct rstate *st, const struct tmpl *t, const struct tnode *n,
		      const json_t *v)
{
	if (st->nframes > TMPL_MAX_DEPTH)
		return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col,
				 "sections nested deeper than %d", TMPL_MAX_DEPTH);
	st->frames[st->nframes++] = v;
	return 0;
}

static int enter(struct rstate *st, const struct tmpl *t, const struct tnode *n)
{
	if (++st->depth > TMPL_MAX_DEPTH)
		return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col,
				 "partials, blocks and sections nested deeper than %d (endless recursion?)",
				 TMPL_MAX_DEPTH);
	return 0;
}

static int render_section(struct rstate *st, const struct tmpl *t, uint32_t i,
			  const struct scope *sc)
{
	const struct tnode *n = &t->nodes[i];
	const json_t *v = resolve(st, n->name);
	int rc = 0;

	if (!truthy(v))
		return 0;
	if (enter(st, t, n) < 0)
		return -1;
	if (json_is_array(v)) {
		size_t len = json_array_size(v);

		for (size_t k = 0; k < len && rc == 0; k++) {
			if (++st->steps > st->max_steps) {
				rc = tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col,
					       "render took more than %llu steps (endless recursion or huge lists?)",
					       (unsigned long long)st->max_steps);
				break;
			}
			rc = push_frame(st, t, n, json_array_get(v, k));
			if (rc == 0) {
				rc = render_range(st, t, i + 1, n->end, false, sc);
				st->nframes--;
			}
		}
	} else {
		rc = push_frame(st, t, n, v);
		if (rc == 0) {
			rc = render_range(st, t, i + 1, n->end, false, sc);
			st->nframes--;
		}
	}
	st->depth--;
	return rc;
}

/* The template a partial or parent tag names: static (linked at load) or
 * dynamic (its name read from the data).  *pt NULL: render nothing. */
static int target_of(struct rstate *st, const struct tmpl *t, const struct tnode *n,
		     const struct tmpl **pt)
{
	const json_t *v;
	char num[40];
	const char *name;
	size_t len;

	*pt = NULL;
	if (!(n->flags & TNF_DYNAMIC)) {
		*pt = n->target;
		return 0;
	}
	v = resolve(st, n->name);
	if (!v || json_is_null(v))
		return st->strict ? missing_key(st, t, n, v) : 0;
	if (st->tr)
		tmpl_trace_whole(st->tr, v);
	if (json_is_string(v)) {
		name = json_string_value(v);
		len = json_string_length(v);
	} else if (json_is_number(v)) {
		len = json_is_integer(v) ? tmpl_fmt_int(num, json_integer_value(v))
					 : tmpl_fmt_real(num, json_real_value(v));
		name = num;
	} else {
		if (st->strict)
			return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col,
					 "dynamic name \"%s\" is not a string", n->name->full);
		return 0;
	}
	if (tmpl_lib_lookup_dynamic(t->lib, name, len, pt, st->e) < 0)
		return -1;
	if (!*pt && st->strict)
		return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col,
				 "%s \"%.*s\" (from dynamic name \"%s\") not found",
				 n->kind == TN_PARENT ? "parent" : "partial", (int)(len > 200 ? 200 : len),
				 name, n->name->full);
	return 0;
}

static int render_partial(struct rstate *st, const struct tmpl *t, uint32_t i,
			  const struct scope *sc)
{
	const struct tnode *n = &t->nodes[i];
	const struct tmpl *pt;
	struct ind_save save;
	struct scope inner;
	int rc;

	if (target_of(st, t, n, &pt) < 0)
		return -1;
	if (!pt)
		return 0;
	if (enter(st, t, n) < 0)
		return -1;
	ind_save(st, &save);
	rc = ind_push(st, t, n, (n->flags & TNF_STANDALONE) != 0, n->indent, n->indent_len);
	if (rc == 0) {
		if (n->kind == TN_PARENT) {
			inner.t = t;
			inner.node = i;
			inner.outer = sc;
			sc = &inner;
		}
		rc = render_range(st, pt, 0, pt->nnodes, false, sc);
	}
	ind_restore(st, &save);
	st->depth--;
	return rc;
}

static int render_block(struct rstate *st, const struct tmpl *t, uint32_t i,
			const struct scope *sc)
{
	const struct tnode *n = &t->nodes[i];
	const struct tmpl *bt = t;
	uint32_t first = i + 1, last = n->end;
	bool standalone = (n->flags & TNF_STANDALONE) != 0, overridden = false;
	struct ind_save save;
	int rc;

	for (const struct scope *s = sc; s; s = s->outer) {
		const struct tnode *pn = &s->t->nodes[s->node];

		for (uint32_t c = s->node + 1; c < pn->end; c = s->t->nodes[c].end) {
			const struct tnode *cn = &s->t->nodes[c];

			if (cn->kind == TN_BLOCK && !strcmp(cn->str, n->str)) {
				bt = s->t;
				first = c + 1;
				last = cn->end;
				overridden = true;
				break;
			}
		}
	}
	if (enter(st, t, n) < 0)
		return -1;
	ind_save(st, &save);
	if (standalone)
		rc = ind_push(st, t, n, true, n->indent, n->indent_len);
	else
		rc = ind_push(st, t, n, !overridden, NULL, 0);
	if (rc == 0)
		rc = render_range(st, bt, first, last, standalone, sc);
	ind_restore(st, &save);
	st->depth--;
	return rc;
}

static int render_range(struct rstate *st, const struct tmpl *t, uint32_t first, uint32_t last,
			bool force_bol, const struct scope *sc)
{
	uint32_t i = first;

	while (i < last) {
		const struct tnode *n = &t->nodes[i];
		bool bol = (n->flags & TNF_BOL) || (force_bol && i == first);

		if (++st->steps > st->max_steps)
			return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col,
					 "render took more than %llu steps (endless recursion or huge lists?)",
					 (unsigned long long)st->max_steps);
		if (st->out->len - st->out_base > st->max_output)
			return tmpl_errf(st->e, ERR_TEMPLATE, t, n->line, n->col,
					 "output larger than %zu bytes", st->max_output);
		if (bol && st->ind_b > st->ind_a && !(n->kind == TN_TEXT && line_empty(n->str, n->len)) &&
		    put_indent(st, t) < 0)
			return -1;
		switch (n->kind) {
		case TN_TEXT:
			if (put_text(st, t, n->str, n->len) < 0)
				return -1;
			i++;
			break;
		case TN_VAR:
			if (render_var(st, t, n) < 0)
				return -1;
			i++;
			break;
		case TN_SECTION:
			if (render_section(st, t, i, sc) < 0)
				return -1;
			i = n->end;
			break;
		case TN_INVERTED:
			if (!truthy(resolve(st, n->name)) &&
			    render_range(st, t, i + 1, n->end, false, sc) < 0)
				return -1;
			i = n->end;
			break;
		case TN_PARTIAL:
		case TN_PARENT:
			if (render_partial(st, t, i, sc) < 0)
				return -1;
			i = n->end;
			break;
		case TN_BLOCK:
			if (render_block(st, t, i, sc) < 0)
				return -1;
			i = n->end;
			break;
		default:
			i++;
			break;
		}
	}
	return 0;
}

/* Look up, ahead of rendering, the names the template reads at the top
 * level and prefetch what they find.  The lookups are independent, so the
 * processor overlaps their cache misses; rendering then finds the record in
 * cache.  Nothing here affects the output, and nothing is traced. */
static void prefetch(struct rstate *st, const struct tmpl *t, const json_t *data, int depth)
{
	const json_t *vals[TMPL_MAX_PREFETCH];

	if (!json_is_object(data))
		return;
	/* partials included at the top level read the same record */
	for (uint32_t k = 0; depth < 2 && k < t->npf_partials; k++) {
		const struct tmpl *pt = t->nodes[t->pf_partials[k]].target;

		if (pt)
			prefetch(st, pt, data, depth + 1);
	}
	for (uint32_t k = 0; k < t->npf; k++) {
		const struct tprefetch *pf = &t->pf[k];
		const json_t *v = pf->parent < 0 ? data : vals[pf->parent];

		for (uint32_t s = 0; v && s < pf->name->nseg; s++) {
			if (json_is_object(v))
				v = get_key(st, v, pf->name->seg[s]);
			else if (json_is_array(v) && s > 0 && pf->name->idx[s] >= 0)
				v = json_array_get(v, (size_t)pf->name->idx[s]);
			else
				v = NULL;
		}
		vals[k] = v;
		if (v)
			__builtin_prefetch(v);
	}
	/* then what they point to: string bytes (up to four cache lines), list
	 * elements, and last the bytes of string elements */
	for (uint32_t k = 0; k < t->npf; k++) {
		const json_t *v = vals[k];

		if (v && json_is_string(v)) {
			const char *b = json_string_value(v);
			size_t len = json_string_length(v);

			for (size_t off = 0; off < len && off < 256; off += 64)
				__builtin_prefetch(b + off);
		} else if (v && json_is_array(v)) {
			for (size_t i = 0; i < json_array_size(v) && i < 8; i++)
				__builtin_prefetch(json_array_get(v, i));
		} else if (v && json_is_object(v) && t->pf[k].money) {
			const json_t *a = json_object_get(v, "amount"), *c = json_object_get(v, "currency");

			if (a)
				__builtin_prefetch(a);
			if (c)
				__builtin_prefetch(c);
		}
	}
	for (uint32_t k = 0; k < t->npf; k++) {
		const json_t *v = vals[k];

		if (!v || !json_is_array(v))
			continue;
		for (size_t i = 0; i < json_array_size(v) && i < 8; i++) {
			const json_t *x = json_array_get(v, i);

			if (json_is_string(x))
				__builtin_prefetch(json_string_value(x));
		}
	}
}

static int run(const struct tmpl *t, const json_t *data, bool strict, bool escape,
	       size_t max_output, uint64_t max_steps, struct tmpl_trace *tr, struct buf *out,
	       struct err *e)
{
	struct rstate *st, local;
	size_t base = out->len;
	int rc;

	if (!t || !t->ready)
		return err_set(e, ERR_USAGE, "tmpl_render: template not compiled");
	st = &local;
	st->strict = strict;
	st->escape = escape;
	st->out = out;
	st->e = e;
	st->tr = tr;
	st->out_base = base;
	st->max_output = max_output ? max_output : TMPL_DEFAULT_MAX_OUTPUT;
	st->steps = 0;
	st->max_steps = max_steps ? max_steps : TMPL_DEFAULT_MAX_STEPS;
	st->nframes = 1;
	st->depth = 0;
	st->ind_a = st->ind_b = st->ind_top = 0;
	st->frames[0] = data ? data : json_null();
	if (buf_reserve(out, 256) < 0)
		return nomem(st, t);
	out->data[base] = '\0';
	memset(st->memo, 0, sizeof st->memo);
	if (!tr)
		prefetch(st, t, st->frames[0], 0);
	rc = render_range(st, t, 0, t->nnodes, false, NULL);
	if (rc < 0) {
		out->len = base;
		if (out->data)
			out->data[base] = '\0';
	}
	return rc;
}

int tmpl_render(const struct tmpl *t, const json_t *data, const struct tmpl_opts *o,
		struct buf *out, struct err *e)
{
	static const struct tmpl_opts prompt = TMPL_OPTS_PROMPT;

	if (!o)
		o = &prompt;
	return run(t, data, o->strict, o->escape_html, o->max_output, o->max_steps, NULL, out, e);
}

int tmpl_render_traced(const struct tmpl *t, const json_t *data, struct tmpl_trace *tr,
		       struct buf *scratch, struct err *e)
{
	return run(t, data, false, false, 0, 0, tr, scratch, e);
}
