/* tmpl_reads.c: what a template reads of its data, for fingerprints.
 *
 * tmpl_project traces a (lenient, discarded) render: every key looked up on
 * an object is recorded as (object, key), every value interpolated, formatted
 * or used as a dynamic name as whole.  The projection then walks the data
 * from the root keeping, per object, exactly the recorded keys that exist
 * (presence decides which context frame wins, so it is kept exactly), every
 * element of a list (its length and truthiness are read), and scalars and
 * whole values as they are.  A render of the projection repeats the same
 * lookups with the same answers, hence the same bytes and the same errors.
 *
 * tmpl_read_paths is the static view for display and tests: it follows the
 * template (sections, partials, parents, blocks) with each context frame a
 * set of candidate paths, since a name resolves in the innermost frame that
 * has it and only the data can tell which one that is.
 */
#include "templates/tmpl_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- trace ---- */

struct tkey {
	const json_t *obj;     /* NULL: empty slot */
	const char *key;
	uint64_t h;
};

struct tmpl_trace {
	struct tkey *keys;
	size_t nkeys, capkeys;        /* open addressing, capkeys a power of 2 */
	const json_t **whole;
	size_t nwhole, capwhole;      /* likewise */
	bool oom;
};

static uint64_t mix_ptr(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_key(const json_t *obj, const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ull;
	}
	return h ^ mix_ptr(obj);
}

static bool key_eq(const struct tkey *t, const json_t *obj, const char *k, size_t n, uint64_t h)
{
	return t->obj == obj && t->h == h && strlen(t->key) == n && !memcmp(t->key, k, n);
}

static int keys_grow(struct tmpl_trace *tr)
{
	size_t cap = tr->capkeys ? tr->capkeys * 2 : 256;
	struct tkey *nk = calloc(cap, sizeof *nk);

	if (!nk)
		return -1;
	for (size_t i = 0; i < tr->capkeys; i++) {
		struct tkey *o = &tr->keys[i];
		size_t j;

		if (!o->obj)
			continue;
		for (j = o->h & (cap - 1); nk[j].obj; j = (j + 1) & (cap - 1))
			;
		nk[j] = *o;
	}
	free(tr->keys);
	tr->keys = nk;
	tr->capkeys = cap;
	return 0;
}

void tmpl_trace_key(struct tmpl_trace *tr, const json_t *obj, const char *key)
{
	size_t n = strlen(key), j;
	uint64_t h = hash_key(obj, key, n);

	if (tr->oom)
		return;
	if ((tr->nkeys + 1) * 2 > tr->capkeys && keys_grow(tr) < 0) {
		tr->oom = true;
		return;
	}
	for (j = h & (tr->capkeys - 1); tr->keys[j].obj; j = (j + 1) & (tr->capkeys - 1))
		if (key_eq(&tr->keys[j], obj, key, n, h))
			return;
	tr->keys[j].obj = obj;
	tr->keys[j].key = key;
	tr->keys[j].h = h;
	tr->nkeys++;
}

static bool trace_has_key(const struct tmpl_trace *tr, const json_t *obj, const char *key,
			  size_t n)
{
	uint64_t h;

	if (!tr->capkeys)
		return false;
	h = hash_key(obj, key, n);
	for (size_t j = h & (tr->capkeys - 1); tr->keys[j].obj; j = (j + 1) & (tr->capkeys - 1))
		if (key_eq(&tr->keys[j], obj, key, n, h))
			return true;
	return false;
}

static int whole_grow(struct tmpl_trace *tr)
{
	size_t cap = tr->capwhole ? tr->capwhole * 2 : 64;
	const json_t **nw = calloc(cap, sizeof *nw);

	if (!nw)
		return -1;
	for (size_t i = 0; i < tr->capwhole; i++) {
		size_t j;

		if (!tr->whole[i])
			continue;
		for (j = mix_ptr(tr->whole[i]) & (cap - 1); nw[j]; j = (j + 1) & (cap - 1))
			;
		nw[j] = tr->whole[i];
	}
	free(tr->whole);
	tr->whole = nw;
	tr->capwhole = cap;
	return 0;
}

void tmpl_trace_whole(struct tmpl_trace *tr, const json_t *v)
{
	size_t j;

	if (tr->oom || !(json_is_object(v) || json_is_array(v)))
		return;  /* scalars are always kept whole */
	if ((tr->nwhole + 1) * 2 > tr->capwhole && whole_grow(tr) < 0) {
		tr->oom = true;
		return;
	}
	for (j = mix_ptr(v) & (tr->capwhole - 1); tr->whole[j]; j = (j + 1) & (tr->capwhole - 1))
		if (tr->whole[j] == v)
			return;
	tr->whole[j] = v;
	tr->nwhole++;
}

static bool trace_is_whole(const struct tmpl_trace *tr, const json_t *v)
{
	if (!tr->capwhole)
		return false;
	for (size_t j = mix_ptr(v) & (tr->capwhole - 1); tr->whole[j]; j = (j + 1) & (tr->capwhole - 1))
		if (tr->whole[j] == v)
			return true;
	return false;
}

static json_t *proj(const struct tmpl_trace *tr, json_t *v)
{
	json_t *r;

	if (!(json_is_object(v) || json_is_array(v)) || trace_is_whole(tr, v))
		return json_incref(v);
	if (json_is_array(v)) {
		r = json_array();
		for (size_t i = 0; r && i < json_array_size(v); i++) {
			if (json_array_append_new(r, proj(tr, json_array_get(v, i))) < 0) {
				json_decref(r);
				return NULL;
			}
		}
		return r;
	}
	r = json_object();
	for (void *it = json_object_iter(v); r && it; it = json_object_iter_next(v, it)) {
		const char *k = json_object_iter_key(it);
		size_t kl = json_object_iter_key_len(it);
		json_t *c;

		if (!trace_has_key(tr, v, k, kl))
			continue;
		c = proj(tr, json_object_iter_value(it));
		if (!c || json_object_setn_new(r, k, kl, c) < 0) {
			json_decref(r);
			return NULL;
		}
	}
	return r;
}

json_t *tmpl_project(const struct tmpl *t, const json_t *data)
{
	struct tmpl_trace tr;
	struct buf scratch = BUF_INIT;
	struct err e;
	json_t *r = NULL;
	json_t *d = (json_t *)(data ? data : json_null());

	memset(&tr, 0, sizeof tr);
	err_clear(&e);
	/* A failed render still read exactly what it read before failing, and a
	 * render of the projection fails at the same place: keep the trace. */
	if (tmpl_render_traced(t, d, &tr, &scratch, &e) < 0 && e.code == ERR_NOMEM)
		goto out;
	if (tr.oom)
		goto out;
	r = proj(&tr, d);
out:
	buf_free(&scratch);
	free(tr.keys);
	free(tr.whole);
	return r;
}

/* ---- static read paths ---- */

struct rnode {
	const char *key;
	struct rnode *child, *next;
	bool whole, iter;
};

struct fset {
	struct rnode **v;
	size_t n;
};

struct ascope {
	const struct tmpl *t;
	uint32_t node;
	const struct ascope *outer;
};

#define MAX_ANALYSIS_DEPTH 64

struct analysis {
	struct rnode pool[TMPL_MAX_READ_PATHS + 1];
	size_t used;
	bool unbounded;
	const struct tmpl *active[MAX_ANALYSIS_DEPTH];
	int nactive, depth;
	struct fset frames[TMPL_MAX_DEPTH + 2];
	int nframes;
};

static struct rnode *child_of(struct analysis *an, struct rnode *p, const char *key)
{
	struct rnode *c;

	for (c = p->child; c; c = c->next)
		if (!strcmp(c->key, key))
			return c;
	if (an->used >= TMPL_MAX_READ_PATHS) {
		an->unbounded = true;
		return NULL;
	}
	c = &an->pool[an->used++];
	c->key = key;
	c->next = p->child;
	p->child = c;
	return c;
}

static int fset_add(struct fset *s, struct rnode *r)
{
	struct rnode **nv;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == r)
			return 0;
	nv = realloc(s->v, (s->n + 1) * sizeof *nv);
	if (!nv)
		return -1;
	s->v = nv;
	s->v[s->n++] = r;
	return 0;
}

/* Every node a name can reach, from every frame. */
static int targets(struct analysis *an, const struct tname *nm, struct fset *out)
{
	const struct fset *top = &an->frames[an->nframes - 1];

	if (nm->nseg == 0) {
		for (size_t i = 0; i < top->n; i++)
			if (fset_add(out, top->v[i]) < 0)
				return -1;
		return 0;
	}
	for (int f = an->nframes - 1; f >= 0; f--) {
		for (size_t i = 0; i < an->frames[f].n; i++) {
			struct rnode *c = an->frames[f].v[i];

			for (uint32_t k = 0; c && k < nm->nseg; k++)
				c = child_of(an, c, nm->seg[k]);
			if (!c)
				return 0;
			if (fset_add(out, c) < 0)
				return -1;
		}
	}
	return 0;
}

static int walk(struct analysis *an, const struct tmpl *t, uint32_t first, uint32_t last,
		const struct ascope *sc);

static int walk_target(struct analysis *an, const struct tmpl *t, uint32_t i,
		       const struct ascope *sc)
{
	const struct tnode *n = &t->nodes[i];
	const struct tmpl *pt = n->target;
	struct ascope inner;
	int rc;

	if (n->flags & TNF_DYNAMIC) {
		an->unbounded = true;
		return 0;
	}
	if (!pt)
		return 0;
	for (int k = 0; k < an->nactive; k++) {
		if (an->active[k] == pt) {
			an->unbounded = true;
			return 0;
		}
	}
	if (an->nactive == MAX_ANALYSIS_DEPTH) {
		an->unbounded = true;
		return 0;
	}
	an->active[an->nactive++] = pt;
	if (n->kind == TN_PARENT) {
		inner.t = t;
		inner.node = i;
		inner.outer = sc;
		sc = &inner;
	}
	rc = walk(an, pt, 0, pt->nnodes, sc);
	an->nactive--;
	return rc;
}

static int walk(struct analysis *an, const struct tmpl *t, uint32_t first, uint32_t last,
		const struct ascope *sc)
{
	if (++an->depth > MAX_ANALYSIS_DEPTH * 2) {
		an->unbounded = true;
		an->depth--;
		return 0;
	}
	for (uint32_t i = first; i < last && !an->unbounded;) {
		const struct tnode *n = &t->nodes[i];
		struct fset ts = { 0 };
		int rc = 0;

		switch (n->kind) {
		case TN_VAR:
			rc = targets(an, n->name, &ts);
			for (size_t k = 0; k < ts.n; k++)
				ts.v[k]->whole = true;
			i++;
			break;
		case TN_SECTION:
			rc = targets(an, n->name, &ts);
			if (rc == 0 && !an->unbounded) {
				if (an->nframes > TMPL_MAX_DEPTH) {
					an->unbounded = true;
				} else {
					for (size_t k = 0; k < ts.n; k++)
						ts.v[k]->iter = true;
					an->frames[an->nframes++] = ts;
					rc = walk(an, t, i + 1, n->end, sc);
					an->nframes--;
				}
			}
			i = n->end;
			break;
		case TN_INVERTED:
			rc = targets(an, n->name, &ts);
			if (rc == 0)
				rc = walk(an, t, i + 1, n->end, sc);
			i = n->end;
			break;
		case TN_PARTIAL:
		case TN_PARENT:
			rc = walk_target(an, t, i, sc);
			i = n->end;
			break;
		case TN_BLOCK: {
			const struct tmpl *bt = t;
			uint32_t a = i + 1, b = n->end;

			for (const struct ascope *s = sc; s; s = s->outer) {
				const struct tnode *pn = &s->t->nodes[s->node];

				for (uint32_t c = s->node + 1; c < pn->end; c = s->t->nodes[c].end) {
					const struct tnode *cn = &s->t->nodes[c];

					if (cn->kind == TN_BLOCK && !strcmp(cn->str, n->str)) {
						bt = s->t;
						a = c + 1;
						b = cn->end;
						break;
					}
				}
			}
			rc = walk(an, bt, a, b, sc);
			i = n->end;
			break;
		}
		default:
			i++;
			break;
		}
		free(ts.v);
		if (rc < 0) {
			an->depth--;
			return -1;
		}
	}
	an->depth--;
	return 0;
}

static int collect(const struct rnode *r, struct buf *path, json_t *arr)
{
	size_t keep = path->len;

	if (r->whole || !r->child) {
		if (json_array_append_new(arr, json_string(path->len ? buf_str(path) : ".")) < 0)
			return -1;
		if (r->whole)
			return 0;
	}
	for (const struct rnode *c = r->child; c; c = c->next) {
		if ((r->iter && buf_append(path, "[]", 2) < 0) ||
		    (path->len && buf_putc(path, '.') < 0) || buf_puts(path, c->key) < 0 ||
		    collect(c, path, arr) < 0)
			return -1;
		path->len = keep;
		if (path->data)
			path->data[keep] = '\0';
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *tmpl_read_paths(const struct tmpl *t)
{
	struct analysis *an = calloc(1, sizeof *an);
	struct rnode *root;
	struct buf path = BUF_INIT;
	json_t *raw = NULL, *sorted = NULL;
	const char **v = NULL;
	size_t n;

	if (!an)
		return NULL;
	root = &an->pool[an->used++];
	root->key = "";
	an->frames[0].v = malloc(sizeof *an->frames[0].v);
	if (!an->frames[0].v)
		goto out;
	an->frames[0].v[0] = root;
	an->frames[0].n = 1;
	an->nframes = 1;
	an->active[an->nactive++] = t;
	if (walk(an, t, 0, t->nnodes, NULL) < 0 || an->unbounded)
		goto out;
	raw = json_array();
	if (!raw)
		goto out;
	if (root->child || root->whole) {
		if (root->whole) {
			if (json_array_append_new(raw, json_string(".")) < 0)
				goto out;
		} else {
			for (const struct rnode *c = root->child; c; c = c->next) {
				buf_reset(&path);
				if ((root->iter && buf_append(&path, "[]", 2) < 0) ||
				    (root->iter && buf_putc(&path, '.') < 0) || buf_puts(&path, c->key) < 0 ||
				    collect(c, &path, raw) < 0)
					goto out;
			}
		}
	}
	n = json_array_size(raw);
	v = malloc((n + 1) * sizeof *v);
	sorted = json_array();
	if (!v || !sorted)
		goto out;
	for (size_t i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(raw, i));
	qsort(v, n, sizeof *v, cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(v[i], v[i - 1]))
			continue;
		if (json_array_append_new(sorted, json_string(v[i])) < 0) {
			json_decref(sorted);
			sorted = NULL;
			goto out;
		}
	}
out:
	if (an->unbounded && sorted) {
		json_decref(sorted);
		sorted = NULL;
	}
	free(v);
	json_decref(raw);
	buf_free(&path);
	free(an->frames[0].v);
	free(an);
	return sorted;
}
