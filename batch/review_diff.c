/* review_diff.c: word-level differences for the review page (see
 * review_diff.h).  Myers, "An O(ND) Difference Algorithm and Its
 * Variations" (1986), greedy forward search with the furthest-reaching path
 * of every diagonal kept per step, then walked back. */
#include "batch/review_diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct token {
	size_t off, len;
	uint64_t hash;
	bool space;          /* whitespace only */
};

struct tokens {
	const char *text;
	struct token *t;
	size_t n;
};

/* One step of the edit script: '=' (ai, bi), '-' (ai) or '+' (bi). */
struct step {
	char op;
	size_t ai, bi;
};

struct script {
	struct step *s;
	size_t n, cap;
};

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

static int tokenize(const char *text, size_t len, struct tokens *out)
{
	size_t i = 0, cap = 0;

	out->text = text;
	out->t = NULL;
	out->n = 0;
	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		size_t j = i + 1;
		struct token *tk;

		if (is_space(c))
			while (j < len && is_space((unsigned char)text[j]))
				j++;
		else if (is_word(c))
			while (j < len && is_word((unsigned char)text[j]))
				j++;
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct token *nt = realloc(out->t, ncap * sizeof *nt);

			if (!nt)
				return -1;
			out->t = nt;
			cap = ncap;
		}
		tk = &out->t[out->n++];
		tk->off = i;
		tk->len = j - i;
		tk->space = is_space(c);
		tk->hash = 1469598103934665603ull;
		for (size_t k = i; k < j; k++)
			tk->hash = (tk->hash ^ (unsigned char)text[k]) * 1099511628211ull;
		i = j;
	}
	return 0;
}

static bool same(const struct tokens *a, size_t i, const struct tokens *b, size_t j)
{
	const struct token *x = &a->t[i], *y = &b->t[j];

	return x->hash == y->hash && x->len == y->len &&
	       memcmp(a->text + x->off, b->text + y->off, x->len) == 0;
}

static int push(struct script *sc, char op, size_t ai, size_t bi)
{
	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 128;
		struct step *ns = realloc(sc->s, ncap * sizeof *ns);

		if (!ns)
			return -1;
		sc->s = ns;
		sc->cap = ncap;
	}
	sc->s[sc->n++] = (struct step){ op, ai, bi };
	return 0;
}

/* Reverse the steps pushed since mark (the walk back produces them last
 * first). */
static void reverse_from(struct script *sc, size_t mark)
{
	for (size_t i = mark, j = sc->n; i + 1 < j; i++, j--) {
		struct step t = sc->s[i];

		sc->s[i] = sc->s[j - 1];
		sc->s[j - 1] = t;
	}
}

/* The middle: A[a0, a0+n) against B[b0, b0+m).  Returns -1 on no memory;
 * sets *coarse when the script would need more than max_d edits. */
static int myers(const struct tokens *a, size_t a0, long n, const struct tokens *b, size_t b0,
		 long m, long max_d, struct script *sc, bool *coarse)
{
	long lim = n + m < max_d ? n + m : max_d;
	long off = lim + 1, found = -1;
	int32_t *v = NULL, *trace = NULL;
	size_t trace_cap = 0, mark = sc->n;
	int rc = -1;

	v = calloc((size_t)(2 * lim + 3), sizeof *v);
	if (!v)
		goto out;
	for (long d = 0; d <= lim && found < 0; d++) {
		size_t need = (size_t)(d + 1) * (size_t)(d + 1);

		for (long k = -d; k <= d; k += 2) {
			long x, y;

			if (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			y = x - k;
			while (x < n && y < m && same(a, a0 + (size_t)x, b, b0 + (size_t)y))
				x++, y++;
			v[off + k] = (int32_t)x;
			if (x >= n && y >= m) {
				found = d;
				break;
			}
		}
		if (found >= 0)
			break;
		/* keep V[-d..d] of this step for the walk back */
		if (need > trace_cap) {
			size_t ncap = trace_cap ? trace_cap * 2 : 256;
			int32_t *nt;

			while (ncap < need)
				ncap *= 2;
			nt = realloc(trace, ncap * sizeof *nt);
			if (!nt)
				goto out;
			trace = nt;
			trace_cap = ncap;
		}
		memcpy(trace + (size_t)d * (size_t)d, v + off - d, (size_t)(2 * d + 1) * sizeof *v);
	}
	if (found < 0) {
		*coarse = true;
		for (long i = 0; i < n; i++)
			if (push(sc, '-', a0 + (size_t)i, 0) < 0)
				goto out;
		for (long j = 0; j < m; j++)
			if (push(sc, '+', 0, b0 + (size_t)j) < 0)
				goto out;
		rc = 0;
		goto out;
	}
	{
		long x = n, y = m;

		for (long d = found; d > 0; d--) {
			const int32_t *vp = trace + (size_t)(d - 1) * (size_t)(d - 1) + (d - 1);
			long k = x - y, pk, px, py;
			bool down = k == -d || (k != d && vp[k - 1] < vp[k + 1]);

			pk = down ? k + 1 : k - 1;
			px = vp[pk];
			py = px - pk;
			while (x > px && y > py) {
				x--, y--;
				if (push(sc, '=', a0 + (size_t)x, b0 + (size_t)y) < 0)
					goto out;
			}
			if (down ? push(sc, '+', 0, b0 + (size_t)py) : push(sc, '-', a0 + (size_t)px, 0))
				goto out;
			x = px;
			y = py;
		}
		while (x > 0 && y > 0) {
			x--, y--;
			if (push(sc, '=', a0 + (size_t)x, b0 + (size_t)y) < 0)
				goto out;
		}
		reverse_from(sc, mark);
	}
	rc = 0;
out:
	free(v);
	free(trace);
	return rc;
}

static int add_span(struct review_diff *d, char op, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (d->n && d->spans[d->n - 1].op == op && d->spans[d->n - 1].p + d->spans[d->n - 1].n == p) {
		d->spans[d->n - 1].n += n;
		return 0;
	}
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 16;
		struct review_diff_span *ns = realloc(d->spans, ncap * sizeof *ns);

		if (!ns)
			return -1;
		d->spans = ns;
		d->cap = ncap;
	}
	d->spans[d->n++] = (struct review_diff_span){ op, p, n };
	return 0;
}

/* The bytes of tokens [i, j) of t. */
static int add_tokens(struct review_diff *d, char op, const struct tokens *t, size_t i, size_t j)
{
	if (i >= j)
		return 0;
	return add_span(d, op, t->text + t->t[i].off, t->t[j - 1].off + t->t[j - 1].len - t->t[i].off);
}

/* Turn the token script into spans: runs of '=' that hold a word stay equal;
 * a run of only whitespace with changes on both sides joins them. */
static int spans_from_script(const struct script *sc, const struct tokens *a, const struct tokens *b,
			     struct review_diff *d)
{
	size_t i = 0;

	while (i < sc->n) {
		size_t j = i;

		if (sc->s[i].op == '=') {
			while (j < sc->n && sc->s[j].op == '=')
				j++;
			if (add_tokens(d, REVIEW_DIFF_EQUAL, a, sc->s[i].ai, sc->s[j - 1].ai + 1) < 0)
				return -1;
			i = j;
			continue;
		}
		/* A change region: changes, and whitespace-only equal runs between them. */
		{
			size_t a_lo = SIZE_MAX, a_hi = 0, b_lo = SIZE_MAX, b_hi = 0, end = i;

			while (j < sc->n) {
				if (sc->s[j].op != '=') {
					j++;
					end = j;
					continue;
				}
				{
					size_t k = j;
					bool only_space = true;

					while (k < sc->n && sc->s[k].op == '=') {
						only_space = only_space && a->t[sc->s[k].ai].space;
						k++;
					}
					if (!only_space || k == sc->n)
						break;
					j = k;
				}
			}
			for (size_t k = i; k < end; k++) {
				const struct step *st = &sc->s[k];

				if (st->op != '+') {
					a_lo = st->ai < a_lo ? st->ai : a_lo;
					a_hi = st->ai + 1 > a_hi ? st->ai + 1 : a_hi;
				}
				if (st->op != '-') {
					b_lo = st->bi < b_lo ? st->bi : b_lo;
					b_hi = st->bi + 1 > b_hi ? st->bi + 1 : b_hi;
				}
			}
			if ((a_lo < a_hi && add_tokens(d, REVIEW_DIFF_DELETE, a, a_lo, a_hi) < 0) ||
			    (b_lo < b_hi && add_tokens(d, REVIEW_DIFF_INSERT, b, b_lo, b_hi) < 0))
				return -1;
			i = end;
		}
	}
	return 0;
}

int review_diff_words(const char *old, size_t old_len, const char *new_text, size_t new_len,
		      size_t max_edits, struct review_diff *d, struct err *e)
{
	struct tokens a = { 0 }, b = { 0 };
	struct script sc = { 0 };
	size_t pre = 0, suf = 0;
	int rc = -1;

	d->n = 0;
	d->coarse = false;
	if (tokenize(old, old_len, &a) < 0 || tokenize(new_text, new_len, &b) < 0)
		goto out;
	while (pre < a.n && pre < b.n && same(&a, pre, &b, pre))
		pre++;
	while (suf < a.n - pre && suf < b.n - pre && same(&a, a.n - 1 - suf, &b, b.n - 1 - suf))
		suf++;
	for (size_t i = 0; i < pre; i++)
		if (push(&sc, '=', i, i) < 0)
			goto out;
	if (myers(&a, pre, (long)(a.n - pre - suf), &b, pre, (long)(b.n - pre - suf),
		  max_edits > (size_t)INT32_MAX / 4 ? INT32_MAX / 4 : (long)max_edits, &sc, &d->coarse) < 0)
		goto out;
	for (size_t i = 0; i < suf; i++)
		if (push(&sc, '=', a.n - suf + i, b.n - suf + i) < 0)
			goto out;
	if (spans_from_script(&sc, &a, &b, d) < 0)
		goto out;
	rc = 0;
out:
	free(a.t);
	free(b.t);
	free(sc.s);
	if (rc < 0)
		return err_set(e, ERR_NOMEM, "out of memory comparing texts");
	return 0;
}

void review_diff_free(struct review_diff *d)
{
	if (!d)
		return;
	free(d->spans);
	d->spans = NULL;
	d->n = d->cap = 0;
	d->coarse = false;
}
