/* tmpl_parse.c: Mustache source to compiled nodes.
 *
 * Four passes over one template:
 *   1. tokenize: find tags, following set-delimiter changes;
 *   2. match: pair every closing tag with its opener (errors for strays,
 *      mismatches and unclosed sections);
 *   3. standalone: mark tags alone on their line (and the pairs the
 *      inheritance spec treats as standalone) and the span each removes;
 *   4. build: emit nodes (text, variables with formatters, sections, partials,
 *      parents, blocks), then dedent standalone blocks as the inheritance spec
 *      wants ("block indentation is removed at the site of definition and added
 *      at the site of expansion").
 * Partial names are resolved later, by the lib (tmpl_lib.c).
 */
#include "templates/tmpl_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DELIM 16
#define MAX_FMT 16

enum tok_kind {
	TK_VAR,
	TK_RAW,
	TK_SECTION,
	TK_INVERTED,
	TK_CLOSE,
	TK_COMMENT,
	TK_PARTIAL,
	TK_PARENT,
	TK_BLOCK,
	TK_DELIM,
};

struct tok {
	uint8_t kind;
	bool standalone;      /* its line (or pair's line) is removed from output */
	bool blk_fresh;       /* BLOCK: content starts on a fresh line (dedent applies) */
	bool no_before;       /* BLOCK paired with its parent's opening: no own indentation */
	size_t start, end;    /* the tag, delimiters included */
	size_t cs, ce;        /* its content after the sigil, trimmed */
	size_t xs, xe;        /* the span removed from output */
	size_t ls;            /* start of its line, when standalone */
	uint32_t line, col;
	int32_t match;        /* opener <-> closer */
};

struct parser {
	struct tmpl *t;
	const char *s;
	size_t n;
	struct err *e;
	struct tok *toks;
	size_t ntok, captok;
	struct tnode *nodes;
	size_t *nsrc, *nsrc_end;   /* TEXT: source span; BLOCK: content span */
	size_t nnode, capnode;
	size_t lc_pos;
	uint32_t lc_line, lc_col;
	const char **intern;       /* name parts, one copy each (open addressing) */
	size_t nintern, capintern;
};

int tmpl_errf(struct err *e, enum err_code code, const struct tmpl *t, uint32_t line,
	      uint32_t col, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return err_set(e, code, "template \"%s\" line %u column %u: %s", t ? t->name : "?",
		       line, col, msg);
}

static void linecol(struct parser *p, size_t pos, uint32_t *line, uint32_t *col)
{
	if (pos < p->lc_pos) {
		p->lc_pos = 0;
		p->lc_line = 1;
		p->lc_col = 1;
	}
	for (size_t k = p->lc_pos; k < pos && k < p->n; k++) {
		unsigned char c = (unsigned char)p->s[k];

		if (c == '\n') {
			p->lc_line++;
			p->lc_col = 1;
		} else if ((c & 0xc0) != 0x80) {
			p->lc_col++;
		}
	}
	p->lc_pos = pos;
	*line = p->lc_line;
	*col = p->lc_col;
}

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	uint32_t line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	linecol(p, pos, &line, &col);
	return tmpl_errf(p->e, ERR_TEMPLATE, p->t, line, col, "%s", msg);
}

static int nomem(struct parser *p)
{
	return err_set(p->e, ERR_NOMEM, "template \"%s\": out of memory", p->t->name);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void trim(const char *s, size_t *a, size_t *b)
{
	while (*a < *b && is_ws(s[*a]))
		(*a)++;
	while (*b > *a && is_ws(s[*b - 1]))
		(*b)--;
}

/* A short, printable excerpt of a tag's content for messages. */
static int shown(size_t len)
{
	return len > 60 ? 60 : (int)len;
}

/* ---- pass 1: tokenize ---- */

static int push_tok(struct parser *p, const struct tok *tk)
{
	if (p->ntok == p->captok) {
		size_t cap = p->captok ? p->captok * 2 : 32;
		struct tok *nt = realloc(p->toks, cap * sizeof *nt);

		if (!nt)
			return nomem(p);
		p->toks = nt;
		p->captok = cap;
	}
	p->toks[p->ntok++] = *tk;
	return 0;
}

static int set_delims(struct parser *p, const struct tok *tk, char *otag, size_t *olen,
		      char *ctag, size_t *clen)
{
	const char *s = p->s;
	size_t a = tk->cs, b = tk->ce, m;
	size_t a2, b2;

	m = a;
	while (m < b && !is_ws(s[m]))
		m++;
	a2 = m;
	while (a2 < b && is_ws(s[a2]))
		a2++;
	b2 = a2;
	while (b2 < b && !is_ws(s[b2]))
		b2++;
	if (m == a || a2 == b || b2 != b)
		return perr(p, tk->start, "bad delimiters \"%.*s\": want two delimiters separated by space",
			    shown(tk->ce - tk->cs), s + tk->cs);
	if (m - a > MAX_DELIM || b2 - a2 > MAX_DELIM)
		return perr(p, tk->start, "bad delimiters: longer than %d bytes", MAX_DELIM);
	if (memchr(s + a, '=', m - a) || memchr(s + a2, '=', b2 - a2))
		return perr(p, tk->start, "bad delimiters \"%.*s\": '=' is not allowed in a delimiter",
			    shown(tk->ce - tk->cs), s + tk->cs);
	memcpy(otag, s + a, m - a);
	*olen = m - a;
	memcpy(ctag, s + a2, b2 - a2);
	*clen = b2 - a2;
	return 0;
}

static int tokenize(struct parser *p)
{
	char otag[MAX_DELIM] = "{{", ctag[MAX_DELIM] = "}}", close[MAX_DELIM + 1];
	size_t olen = 2, clen = 2, pos = 0;
	const char *s = p->s;

	while (pos < p->n) {
		const char *q = memmem(s + pos, p->n - pos, otag, olen);
		struct tok tk;
		size_t c, body, closelen;
		const char *f;

		if (!q)
			break;
		memset(&tk, 0, sizeof tk);
		tk.match = -1;
		tk.start = (size_t)(q - s);
		linecol(p, tk.start, &tk.line, &tk.col);
		c = tk.start + olen;
		if (c >= p->n)
			return perr(p, tk.start, "unclosed tag: no \"%.*s\" after \"%.*s\"", (int)clen, ctag,
				    (int)olen, otag);
		body = c + 1;
		memcpy(close, ctag, clen);
		closelen = clen;
		switch (s[c]) {
		case '{':
			tk.kind = TK_RAW;
			close[0] = '}';
			memcpy(close + 1, ctag, clen);
			closelen = clen + 1;
			break;
		case '=':
			tk.kind = TK_DELIM;
			close[0] = '=';
			memcpy(close + 1, ctag, clen);
			closelen = clen + 1;
			break;
		case '&': tk.kind = TK_RAW; break;
		case '#': tk.kind = TK_SECTION; break;
		case '^': tk.kind = TK_INVERTED; break;
		case '/': tk.kind = TK_CLOSE; break;
		case '!': tk.kind = TK_COMMENT; break;
		case '>': tk.kind = TK_PARTIAL; break;
		case '<': tk.kind = TK_PARENT; break;
		case '$': tk.kind = TK_BLOCK; break;
		default:
			tk.kind = TK_VAR;
			body = c;
			break;
		}
		f = body <= p->n ? memmem(s + body, p->n - body, close, closelen) : NULL;
		if (!f)
			return perr(p, tk.start, "unclosed tag: no \"%.*s\" after \"%.*s\"", (int)closelen,
				    close, (int)olen, otag);
		tk.cs = body;
		tk.ce = (size_t)(f - s);
		tk.end = tk.ce + closelen;
		trim(s, &tk.cs, &tk.ce);
		tk.xs = tk.start;
		tk.xe = tk.end;
		if (tk.kind == TK_DELIM && set_delims(p, &tk, otag, &olen, ctag, &clen) < 0)
			return -1;
		if (push_tok(p, &tk) < 0)
			return -1;
		pos = tk.end;
	}
	return 0;
}

/* ---- pass 2: match closers ---- */

/* The name a container or closer is matched by: "*x" for a dynamic name, so
 * that "{{< * x }}" closes with the same starred name. */
static void canon_name(const struct parser *p, const struct tok *tk, size_t *a, size_t *b,
		       bool *dyn)
{
	*a = tk->cs;
	*b = tk->ce;
	*dyn = false;
	if (*a < *b && p->s[*a] == '*' && (tk->kind == TK_PARENT || tk->kind == TK_CLOSE ||
					   tk->kind == TK_PARTIAL)) {
		*dyn = true;
		(*a)++;
		trim(p->s, a, b);
	}
}

static const char *kind_word(uint8_t kind)
{
	switch (kind) {
	case TK_SECTION: return "section";
	case TK_INVERTED: return "inverted section";
	case TK_PARENT: return "parent";
	case TK_BLOCK: return "block";
	default: return "tag";
	}
}

static int match_sections(struct parser *p)
{
	int32_t *stack = malloc((p->ntok + 1) * sizeof *stack);
	size_t depth = 0;
	int rc = -1;

	if (!stack)
		return nomem(p);
	for (size_t i = 0; i < p->ntok; i++) {
		struct tok *tk = &p->toks[i];
		struct tok *op;
		size_t a1, b1, a2, b2;
		bool d1, d2;

		switch (tk->kind) {
		case TK_SECTION:
		case TK_INVERTED:
		case TK_PARENT:
		case TK_BLOCK:
			stack[depth++] = (int32_t)i;
			break;
		case TK_CLOSE:
			if (!depth) {
				perr(p, tk->start, "unexpected closing tag \"%.*s\": no section is open",
				     shown(tk->ce - tk->cs), p->s + tk->cs);
				goto out;
			}
			op = &p->toks[stack[depth - 1]];
			canon_name(p, op, &a1, &b1, &d1);
			canon_name(p, tk, &a2, &b2, &d2);
			if (d1 != d2 || b1 - a1 != b2 - a2 || memcmp(p->s + a1, p->s + a2, b1 - a1)) {
				perr(p, tk->start,
				     "closing tag \"%.*s\" does not match %s \"%.*s\" opened at line %u column %u",
				     shown(tk->ce - tk->cs), p->s + tk->cs, kind_word(op->kind),
				     shown(op->ce - op->cs), p->s + op->cs, op->line, op->col);
				goto out;
			}
			op->match = (int32_t)i;
			tk->match = stack[--depth];
			break;
		default:
			break;
		}
	}
	if (depth) {
		struct tok *op = &p->toks[stack[depth - 1]];

		perr(p, op->start, "unclosed %s \"%.*s\"", kind_word(op->kind),
		     shown(op->ce - op->cs), p->s + op->cs);
		goto out;
	}
	rc = 0;
out:
	free(stack);
	return rc;
}

/* ---- pass 3: standalone lines ---- */

static bool standalone_kind(uint8_t k)
{
	return k != TK_VAR && k != TK_RAW;
}

/* Only spaces and tabs between the start of the line and tag i (and no other
 * tag): *ls is where the line starts. */
static bool before_alone(const struct parser *p, size_t i, size_t *ls)
{
	size_t lim = i ? p->toks[i - 1].end : 0;
	size_t k = p->toks[i].start;

	while (k > lim) {
		char c = p->s[k - 1];

		if (c == ' ' || c == '\t') {
			k--;
		} else if (c == '\n') {
			*ls = k;
			return true;
		} else {
			return false;
		}
	}
	if (i == 0 && k == 0) {
		*ls = 0;
		return true;
	}
	return false;
}

/* Only spaces and tabs between tag i and the end of its line (and no other
 * tag): *nl is where the newline starts, *le just past it. */
static bool after_alone(const struct parser *p, size_t i, size_t *nl, size_t *le)
{
	size_t lim = i + 1 < p->ntok ? p->toks[i + 1].start : p->n;
	size_t k = p->toks[i].end;

	while (k < lim && (p->s[k] == ' ' || p->s[k] == '\t'))
		k++;
	*nl = k;
	if (k == p->n) {
		*le = k;
		return true;
	}
	if (k < lim && p->s[k] == '\n') {
		*le = k + 1;
		return true;
	}
	if (k + 1 < lim && p->s[k] == '\r' && p->s[k + 1] == '\n') {
		*le = k + 2;
		return true;
	}
	return false;
}

static void mark_standalone(struct parser *p)
{
	size_t ls, nl, le;

	/* Pairs the inheritance spec treats as one standalone unit. */
	for (size_t i = 0; i + 1 < p->ntok; i++) {
		struct tok *a = &p->toks[i], *b = &p->toks[i + 1];

		if (a->end != b->start || a->standalone || b->standalone)
			continue;
		if (a->kind == TK_BLOCK && b->kind == TK_CLOSE && b->match == (int32_t)i) {
			/* "  {{$b}}{{/b}}\n": indentation removed, the newline kept
			 * (the spec's "Standalone block"). */
			if (before_alone(p, i, &ls) && after_alone(p, i + 1, &nl, &le)) {
				a->standalone = b->standalone = a->blk_fresh = true;
				a->ls = ls;
				a->xs = ls;
				b->xe = nl;
			}
		} else if (a->kind == TK_PARENT && b->kind == TK_CLOSE && b->match == (int32_t)i) {
			if (before_alone(p, i, &ls) && after_alone(p, i + 1, &nl, &le)) {
				a->standalone = b->standalone = true;
				a->ls = ls;
				a->xs = ls;
				b->xe = le;
			}
		} else if (a->kind == TK_PARENT && b->kind == TK_BLOCK) {
			if (before_alone(p, i, &ls) && after_alone(p, i + 1, &nl, &le)) {
				a->standalone = b->standalone = b->blk_fresh = b->no_before = true;
				a->ls = ls;
				a->xs = ls;
				b->xe = le;
			}
		} else if (a->kind == TK_CLOSE && b->kind == TK_CLOSE && a->match >= 0 && b->match >= 0 &&
			   p->toks[a->match].kind == TK_BLOCK && p->toks[b->match].kind == TK_PARENT) {
			if (before_alone(p, i, &ls) && after_alone(p, i + 1, &nl, &le)) {
				a->standalone = b->standalone = true;
				a->ls = ls;
				a->xs = ls;
				b->xe = le;
			}
		}
	}
	for (size_t i = 0; i < p->ntok; i++) {
		struct tok *tk = &p->toks[i];

		if (tk->standalone || !standalone_kind(tk->kind))
			continue;
		if (before_alone(p, i, &ls) && after_alone(p, i, &nl, &le)) {
			tk->standalone = true;
			tk->ls = ls;
			tk->xs = ls;
			tk->xe = le;
			if (tk->kind == TK_BLOCK)
				tk->blk_fresh = true;
		}
	}
}

/* ---- pass 4: build nodes ---- */

static struct tnode *new_node(struct parser *p, uint8_t kind, size_t pos)
{
	struct tnode *n;

	if (p->nnode == p->capnode) {
		size_t cap = p->capnode ? p->capnode * 2 : 32;
		struct tnode *nn = realloc(p->nodes, cap * sizeof *nn);
		size_t *a, *b;

		if (!nn) {
			nomem(p);
			return NULL;
		}
		p->nodes = nn;
		a = realloc(p->nsrc, cap * sizeof *a);
		if (a)
			p->nsrc = a;
		b = realloc(p->nsrc_end, cap * sizeof *b);
		if (b)
			p->nsrc_end = b;
		if (!a || !b) {
			nomem(p);
			return NULL;
		}
		p->capnode = cap;
	}
	if (p->nnode >= UINT32_MAX - 1) {
		perr(p, pos, "template too large");
		return NULL;
	}
	n = &p->nodes[p->nnode];
	memset(n, 0, sizeof *n);
	n->kind = kind;
	n->end = (uint32_t)p->nnode + 1;
	linecol(p, pos, &n->line, &n->col);
	if (pos == 0 || p->s[pos - 1] == '\n')
		n->flags |= TNF_BOL;
	p->nsrc[p->nnode] = pos;
	p->nsrc_end[p->nnode] = pos;
	p->nnode++;
	return n;
}

static int emit_text(struct parser *p, size_t a, size_t b)
{
	struct tnode *n;
	char *copy;

	if (b <= a)
		return 0;
	n = new_node(p, TN_TEXT, a);
	if (!n)
		return -1;
	copy = arena_strndup(&p->t->arena, p->s + a, b - a);
	if (!copy)
		return nomem(p);
	if (b - a > UINT32_MAX)
		return perr(p, a, "text too large");
	n->str = copy;
	n->len = (uint32_t)(b - a);
	p->nsrc_end[p->nnode - 1] = b;
	return 0;
}

/* One copy per distinct name part, so that the renderer can remember
 * lookups by pointer (tmpl_render.c). */
static const char *intern(struct parser *p, const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	size_t j;
	char *copy;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	if ((p->nintern + 1) * 2 > p->capintern) {
		size_t cap = p->capintern ? p->capintern * 2 : 64;
		const char **t = calloc(cap, sizeof *t);

		if (!t)
			return NULL;
		for (size_t i = 0; i < p->capintern; i++) {
			const char *x = p->intern[i];
			uint64_t hx = 1469598103934665603ull;

			if (!x)
				continue;
			for (const char *c = x; *c; c++) {
				hx ^= (unsigned char)*c;
				hx *= 1099511628211ull;
			}
			for (j = hx & (cap - 1); t[j]; j = (j + 1) & (cap - 1))
				;
			t[j] = x;
		}
		free(p->intern);
		p->intern = t;
		p->capintern = cap;
	}
	for (j = h & (p->capintern - 1); p->intern[j]; j = (j + 1) & (p->capintern - 1))
		if (strlen(p->intern[j]) == n && !memcmp(p->intern[j], s, n))
			return p->intern[j];
	copy = arena_strndup(&p->t->arena, s, n);
	if (!copy)
		return NULL;
	p->intern[j] = copy;
	p->nintern++;
	return copy;
}

/* A dotted name "a.b.c", or "." for the implicit iterator. */
static const struct tname *parse_name(struct parser *p, size_t a, size_t b, size_t pos,
				      const char *what)
{
	const char *s = p->s;
	struct tname *nm;
	long long *idx;
	uint32_t nseg = 1;

	if (a == b) {
		perr(p, pos, "empty %s name", what);
		return NULL;
	}
	if (memchr(s + a, '|', b - a)) {
		perr(p, pos, "bad %s name \"%.*s\": formatters belong in interpolation tags", what,
		     shown(b - a), s + a);
		return NULL;
	}
	for (size_t k = a; k < b; k++) {
		if (is_ws(s[k])) {
			perr(p, pos, "bad %s name \"%.*s\": names contain no spaces", what,
			     shown(b - a), s + a);
			return NULL;
		}
		if (s[k] == '.')
			nseg++;
	}
	nm = arena_alloc(&p->t->arena, sizeof *nm);
	if (!nm || !(nm->full = arena_strndup(&p->t->arena, s + a, b - a))) {
		nomem(p);
		return NULL;
	}
	if (b - a == 1 && s[a] == '.') {
		nm->nseg = 0;
		return nm;
	}
	nm->seg = arena_alloc(&p->t->arena, nseg * sizeof *nm->seg);
	nm->idx = idx = arena_alloc(&p->t->arena, nseg * sizeof *nm->idx);
	if (!nm->seg || !idx) {
		nomem(p);
		return NULL;
	}
	nm->nseg = nseg;
	for (uint32_t i = 0, k = (uint32_t)a; i < nseg; i++) {
		size_t e = k;

		while (e < b && s[e] != '.')
			e++;
		if (e == k) {
			perr(p, pos, "bad %s name \"%.*s\": empty part", what, shown(b - a), s + a);
			return NULL;
		}
		nm->seg[i] = intern(p, s + k, e - k);
		if (!nm->seg[i]) {
			nomem(p);
			return NULL;
		}
		idx[i] = -1;
		if (e - k <= 18) {
			long long v = 0;
			size_t d = k;

			while (d < e && s[d] >= '0' && s[d] <= '9')
				v = v * 10 + (s[d++] - '0');
			if (d == e)
				idx[i] = v;
		}
		k = (uint32_t)e + 1;
	}
	return nm;
}

static const char *parse_plain_name(struct parser *p, size_t a, size_t b, size_t pos,
				    const char *what)
{
	const char *r;

	if (a == b) {
		perr(p, pos, "empty %s name", what);
		return NULL;
	}
	for (size_t k = a; k < b; k++) {
		if (is_ws(p->s[k])) {
			perr(p, pos, "bad %s name \"%.*s\": names contain no spaces", what,
			     shown(b - a), p->s + a);
			return NULL;
		}
	}
	r = arena_strndup(&p->t->arena, p->s + a, b - a);
	if (!r)
		nomem(p);
	return r;
}

/* One formatter argument at s[*k..b): a number or a "string". */
static int parse_arg(struct parser *p, size_t *k, size_t b, struct targ *arg)
{
	const char *s = p->s;
	size_t i = *k;

	if (s[i] == '"') {
		char *out = arena_alloc(&p->t->arena, b - i + 1);
		size_t o = 0;

		if (!out)
			return nomem(p);
		for (i++; i < b && s[i] != '"'; i++) {
			if (s[i] == '\\') {
				if (i + 1 >= b || (s[i + 1] != '"' && s[i + 1] != '\\'))
					return perr(p, i, "bad escape in formatter argument: only \\\" and \\\\");
				i++;
			}
			out[o++] = s[i];
		}
		if (i >= b)
			return perr(p, *k, "unterminated string in formatter argument");
		out[o] = '\0';
		arg->is_num = false;
		arg->str = out;
		arg->len = o;
		*k = i + 1;
		return 0;
	} else {
		size_t e = i;
		char tmp[64], *end;

		while (e < b && s[e] != ':' && !is_ws(s[e]))
			e++;
		if (e == i || e - i >= sizeof tmp)
			return perr(p, i, "bad formatter argument \"%.*s\": want a number or a \"string\"",
				    shown(e - i + 1), s + i);
		memcpy(tmp, s + i, e - i);
		tmp[e - i] = '\0';
		arg->num = strtod(tmp, &end);
		if (*end || !isfinite(arg->num) || !(tmp[0] == '-' || tmp[0] == '+' || tmp[0] == '.' ||
						     (tmp[0] >= '0' && tmp[0] <= '9')))
			return perr(p, i, "bad formatter argument \"%s\": want a number or a \"string\"", tmp);
		arg->is_num = true;
		arg->str = arena_strndup(&p->t->arena, tmp, e - i);
		if (!arg->str)
			return nomem(p);
		arg->len = e - i;
		*k = e;
		return 0;
	}
}

/* "name | fmt | fmt:arg:arg" in an interpolation tag. */
static int parse_var(struct parser *p, const struct tok *tk, struct tnode *n)
{
	const char *s = p->s;
	size_t bar = tk->cs, a, b;
	struct tfmt fmts[MAX_FMT];
	unsigned nfmt = 0;

	while (bar < tk->ce && s[bar] != '|')
		bar++;
	a = tk->cs;
	b = bar;
	trim(s, &a, &b);
	n->name = parse_name(p, a, b, tk->start, "variable");
	if (!n->name)
		return -1;
	while (bar < tk->ce) {
		size_t k = bar + 1, fa, fb;
		struct tfmt *f;
		const char *why;

		if (nfmt == MAX_FMT)
			return perr(p, bar, "too many formatters (at most %d)", MAX_FMT);
		f = &fmts[nfmt++];
		memset(f, 0, sizeof *f);
		while (k < tk->ce && is_ws(s[k]))
			k++;
		fa = k;
		while (k < tk->ce && ((s[k] >= 'a' && s[k] <= 'z') || s[k] == '_' ||
				      (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9')))
			k++;
		fb = k;
		if (fa == fb)
			return perr(p, fa, "missing formatter name after '|'");
		if (tmpl_fmt_lookup(s + fa, fb - fa, &f->kind) < 0)
			return perr(p, fa, "unknown formatter \"%.*s\"", shown(fb - fa), s + fa);
		while (k < tk->ce && is_ws(s[k]))
			k++;
		while (k < tk->ce && s[k] == ':') {
			k++;
			while (k < tk->ce && is_ws(s[k]))
				k++;
			if (k >= tk->ce || s[k] == '|')
				return perr(p, k, "formatter \"%.*s\": missing argument after ':'",
					    shown(fb - fa), s + fa);
			if (f->nargs == 2)
				return perr(p, k, "formatter \"%.*s\": too many arguments", shown(fb - fa),
					    s + fa);
			if (parse_arg(p, &k, tk->ce, &f->args[f->nargs]) < 0)
				return -1;
			f->nargs++;
			while (k < tk->ce && is_ws(s[k]))
				k++;
		}
		if (k < tk->ce && s[k] != '|')
			return perr(p, k, "formatter \"%.*s\": unexpected \"%.*s\"", shown(fb - fa), s + fa,
				    shown(tk->ce - k), s + k);
		why = tmpl_fmt_check_args(f);
		if (why)
			return perr(p, fa, "formatter \"%.*s\": %s", shown(fb - fa), s + fa, why);
		bar = k;
	}
	if (nfmt) {
		struct tfmt *copy = arena_alloc(&p->t->arena, nfmt * sizeof *copy);

		if (!copy)
			return nomem(p);
		memcpy(copy, fmts, nfmt * sizeof *copy);
		n->fmt = copy;
		n->nfmt = (uint16_t)nfmt;
	}
	return 0;
}

/* Partial or parent name: static "name" or dynamic "*dotted.name". */
static int parse_target(struct parser *p, const struct tok *tk, struct tnode *n, const char *what)
{
	size_t a, b;
	bool dyn;

	canon_name(p, tk, &a, &b, &dyn);
	if (dyn) {
		n->flags |= TNF_DYNAMIC;
		n->name = parse_name(p, a, b, tk->start, what);
		return n->name ? 0 : -1;
	}
	n->str = parse_plain_name(p, a, b, tk->start, what);
	return n->str ? 0 : -1;
}

struct open_ent {
	int32_t node;       /* node index, or -1 when the container is ignored */
	uint8_t kind;
};

static int build(struct parser *p)
{
	struct open_ent *stack = malloc((p->ntok + 1) * sizeof *stack);
	size_t depth = 0, prev = 0, cond = 0;
	int rc = -1;

	if (!stack)
		return nomem(p);
	for (size_t i = 0; i < p->ntok; i++) {
		const struct tok *tk = &p->toks[i];
		struct open_ent *top = depth ? &stack[depth - 1] : NULL;
		bool ign_ctx = top && top->node < 0;
		bool in_parent = top && top->node >= 0 && top->kind == TK_PARENT;
		bool ignored = ign_ctx || (in_parent && tk->kind != TK_BLOCK && tk->kind != TK_CLOSE);
		struct tnode *n;
		uint8_t nk;

		if (!ign_ctx && !in_parent && emit_text(p, prev, tk->xs) < 0)
			goto out;
		if (tk->xe > prev)
			prev = tk->xe;
		if (tk->kind == TK_CLOSE) {
			struct open_ent *op = &stack[--depth];

			if (op->node >= 0) {
				p->nodes[op->node].end = (uint32_t)p->nnode;
				if (op->kind != TK_PARENT)
					cond--;
				if (op->kind == TK_BLOCK)
					p->nsrc_end[op->node] = tk->xs;
			}
			continue;
		}
		if (tk->kind == TK_COMMENT || tk->kind == TK_DELIM)
			continue;
		if (ignored) {
			/* Inside a parent only blocks count, but what is there must
			 * still parse. */
			if (tk->kind == TK_SECTION || tk->kind == TK_INVERTED || tk->kind == TK_PARENT) {
				stack[depth].node = -1;
				stack[depth++].kind = tk->kind;
			}
			if (tk->kind == TK_BLOCK) {
				stack[depth].node = -1;
				stack[depth++].kind = tk->kind;
			}
			if (tk->kind == TK_VAR || tk->kind == TK_RAW) {
				struct tnode scratch;

				memset(&scratch, 0, sizeof scratch);
				if (parse_var(p, tk, &scratch) < 0)
					goto out;
			}
			continue;
		}
		switch (tk->kind) {
		case TK_VAR:
		case TK_RAW:
			n = new_node(p, TN_VAR, tk->start);
			if (!n)
				goto out;
			if (tk->kind == TK_RAW)
				n->flags |= TNF_RAW;
			if (parse_var(p, tk, n) < 0)
				goto out;
			break;
		case TK_SECTION:
		case TK_INVERTED:
			nk = tk->kind == TK_SECTION ? TN_SECTION : TN_INVERTED;
			n = new_node(p, nk, tk->start);
			if (!n)
				goto out;
			if (tk->standalone)
				n->flags = (uint8_t)((n->flags & ~TNF_BOL) | TNF_STANDALONE);
			n->name = parse_name(p, tk->cs, tk->ce, tk->start,
					     nk == TN_SECTION ? "section" : "inverted section");
			if (!n->name)
				goto out;
			stack[depth].node = (int32_t)(p->nnode - 1);
			stack[depth++].kind = tk->kind;
			cond++;
			break;
		case TK_PARTIAL:
		case TK_PARENT:
			nk = tk->kind == TK_PARTIAL ? TN_PARTIAL : TN_PARENT;
			n = new_node(p, nk, tk->start);
			if (!n)
				goto out;
			if (cond)
				n->flags |= TNF_COND;
			if (tk->standalone) {
				n->flags = (uint8_t)((n->flags & ~TNF_BOL) | TNF_STANDALONE);
				n->indent = p->s + tk->ls;
				n->indent_len = (uint32_t)(tk->start - tk->ls);
			}
			if (parse_target(p, tk, n, nk == TN_PARTIAL ? "partial" : "parent") < 0)
				goto out;
			if (nk == TN_PARENT) {
				stack[depth].node = (int32_t)(p->nnode - 1);
				stack[depth++].kind = tk->kind;
			}
			break;
		case TK_BLOCK:
			n = new_node(p, TN_BLOCK, tk->start);
			if (!n)
				goto out;
			if (tk->standalone)
				n->flags &= (uint8_t)~TNF_BOL;
			if (tk->blk_fresh)
				n->flags |= TNF_STANDALONE;
			n->str = parse_plain_name(p, tk->cs, tk->ce, tk->start, "block");
			if (!n->str)
				goto out;
			if (tk->blk_fresh && !tk->no_before) {
				n->indent = p->s + tk->ls;
				n->indent_len = (uint32_t)(tk->start - tk->ls);
			}
			p->nsrc[p->nnode - 1] = tk->xe;
			stack[depth].node = (int32_t)(p->nnode - 1);
			stack[depth++].kind = tk->kind;
			cond++;
			break;
		default:
			break;
		}
	}
	if (emit_text(p, prev, p->n) < 0)
		goto out;
	rc = 0;
out:
	free(stack);
	return rc;
}

/* ---- block dedent ---- */

struct dblock {
	uint32_t end;          /* node index past the block */
	size_t ce;             /* source end of its content */
	size_t mlen;           /* its raw margin (common leading whitespace) */
};

/* Common leading whitespace of the non-blank lines of s[a..b) (textwrap.dedent's margin). */
static size_t raw_margin(const char *s, size_t a, size_t b)
{
	const char *m = NULL;
	size_t mlen = 0, k = a;

	while (k < b) {
		size_t j = k;
		const char *nl;

		while (j < b && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j < b && s[j] != '\n') {
			size_t w = j - k;

			if (!m) {
				m = s + k;
				mlen = w;
			} else {
				size_t c = 0;

				while (c < mlen && c < w && m[c] == s[k + c])
					c++;
				mlen = c;
			}
		}
		nl = j < b ? memchr(s + j, '\n', b - j) : NULL;
		if (!nl)
			break;
		k = (size_t)(nl - s) + 1;
	}
	return mlen;
}

/* Strip a standalone block's margin from the text node at index i: blank
 * lines lose all their leading blanks, others the first mlen characters. */
static void dedent_text(struct parser *p, uint32_t i, const struct dblock *b)
{
	struct tnode *n = &p->nodes[i];
	char *t = (char *)n->str;
	size_t len = n->len, r = 0, w = 0;
	bool at_start = (n->flags & TNF_BOL) != 0;
	bool ends_block = p->nsrc_end[i] == b->ce;

	while (r < len) {
		if (at_start) {
			size_t j = r;

			while (j < len && (t[j] == ' ' || t[j] == '\t'))
				j++;
			if ((j < len && t[j] == '\n') || (j == len && ends_block)) {
				r = j;
			} else {
				size_t k = 0;

				while (k < b->mlen && r < len && (t[r] == ' ' || t[r] == '\t')) {
					r++;
					k++;
				}
			}
			at_start = false;
			continue;
		}
		t[w] = t[r];
		if (t[r] == '\n')
			at_start = true;
		w++;
		r++;
	}
	n->len = (uint32_t)w;
}

static void strip_indent(struct tnode *n, size_t mlen)
{
	size_t k = mlen < n->indent_len ? mlen : n->indent_len;

	if (!k)
		return;
	n->indent += k;
	n->indent_len -= (uint32_t)k;
}

/* Where the margin's characters are: the leading blanks of the first
 * non-blank line of s[a..b). */
static const char *margin_text(const char *s, size_t a, size_t b)
{
	size_t k = a;

	while (k < b) {
		size_t j = k;

		while (j < b && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j < b && s[j] != '\n')
			return s + k;
		k = j + 1;
	}
	return s + a;
}

static int dedent_blocks(struct parser *p)
{
	struct dblock *stack = malloc((p->nnode + 1) * sizeof *stack);
	size_t depth = 0;

	if (!stack)
		return nomem(p);
	for (uint32_t i = 0; i < p->nnode; i++) {
		struct tnode *n = &p->nodes[i];
		const struct dblock *top;
		size_t enc, m;

		while (depth && stack[depth - 1].end <= i)
			depth--;
		top = depth ? &stack[depth - 1] : NULL;
		if (n->kind == TN_TEXT && top) {
			dedent_text(p, i, top);
		} else if ((n->kind == TN_PARTIAL || n->kind == TN_PARENT) &&
			   (n->flags & TNF_STANDALONE) && top) {
			strip_indent(n, top->mlen);
		} else if (n->kind == TN_BLOCK && (n->flags & TNF_STANDALONE)) {
			/* Its indentation at expansion: its own margin (beyond the
			 * enclosing block's), else the blanks before its tag. */
			enc = top ? top->mlen : 0;
			m = raw_margin(p->s, p->nsrc[i], p->nsrc_end[i]);
			if (m > enc) {
				n->indent = margin_text(p->s, p->nsrc[i], p->nsrc_end[i]) + enc;
				n->indent_len = (uint32_t)(m - enc);
			} else {
				strip_indent(n, enc);
			}
			stack[depth].end = n->end;
			stack[depth].ce = p->nsrc_end[i];
			stack[depth].mlen = m > enc ? m : enc;
			depth++;
		}
	}
	free(stack);
	return 0;
}

/* ---- prefetch list ---- */

static bool is_lookup(const struct tnode *n)
{
	return (n->kind == TN_VAR || n->kind == TN_SECTION || n->kind == TN_INVERTED) &&
	       n->name && n->name->nseg > 0;
}

static bool uses_money(const struct tnode *n)
{
	for (unsigned i = 0; n->kind == TN_VAR && i < n->nfmt; i++)
		if (n->fmt[i].kind == FMT_MONEY)
			return true;
	return false;
}

static int pf_add(struct tprefetch *pf, uint32_t *n, const struct tnode *nd, int32_t parent)
{
	const struct tname *nm = nd->name;

	for (uint32_t i = 0; i < *n; i++) {
		if (pf[i].parent == parent && !strcmp(pf[i].name->full, nm->full)) {
			pf[i].money |= uses_money(nd);
			return (int)i;
		}
	}
	if (*n == TMPL_MAX_PREFETCH)
		return -1;
	pf[*n].name = nm;
	pf[*n].parent = parent;
	pf[*n].money = uses_money(nd);
	return (int)(*n)++;
}

/* Names looked up at the top level, and one level inside top-level
 * sections: the renderer looks them all up first so that their cache misses
 * overlap. */
static int collect_prefetch(struct parser *p)
{
	struct tprefetch pf[TMPL_MAX_PREFETCH];
	uint32_t n = 0, parts[8], np = 0;

	for (uint32_t i = 0; i < p->nnode; i = p->nodes[i].end) {
		const struct tnode *nd = &p->nodes[i];
		int self;

		if (nd->kind == TN_PARTIAL && !(nd->flags & TNF_DYNAMIC) && np < 8)
			parts[np++] = i;
		if (!is_lookup(nd))
			continue;
		self = pf_add(pf, &n, nd, -1);
		if (nd->kind != TN_SECTION || self < 0)
			continue;
		for (uint32_t c = i + 1; c < nd->end; c = p->nodes[c].end)
			if (is_lookup(&p->nodes[c]))
				pf_add(pf, &n, &p->nodes[c], self);
	}
	if (np) {
		p->t->pf_partials = arena_alloc(&p->t->arena, np * sizeof *parts);
		if (!p->t->pf_partials)
			return nomem(p);
		memcpy(p->t->pf_partials, parts, np * sizeof *parts);
		p->t->npf_partials = np;
	}
	if (!n)
		return 0;
	p->t->pf = arena_alloc(&p->t->arena, n * sizeof *pf);
	if (!p->t->pf)
		return nomem(p);
	memcpy(p->t->pf, pf, n * sizeof *pf);
	p->t->npf = n;
	return 0;
}

int tmpl_parse(struct tmpl *t, struct err *e)
{
	struct parser p;
	int rc = -1;

	memset(&p, 0, sizeof p);
	p.t = t;
	p.s = t->src;
	p.n = t->src_len;
	p.e = e;
	p.lc_line = 1;
	p.lc_col = 1;
	if (tokenize(&p) < 0 || match_sections(&p) < 0)
		goto out;
	mark_standalone(&p);
	if (build(&p) < 0 || dedent_blocks(&p) < 0 || collect_prefetch(&p) < 0)
		goto out;
	t->nodes = p.nodes;
	t->nnodes = (uint32_t)p.nnode;
	p.nodes = NULL;
	rc = 0;
out:
	free(p.intern);
	free(p.toks);
	free(p.nodes);
	free(p.nsrc);
	free(p.nsrc_end);
	return rc;
}
