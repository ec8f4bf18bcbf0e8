/* tmpl_lib.c: the template library: named sources (a directory of
 * NAME.mustache files and/or in-memory additions), the compile cache, linking
 * of static partials, the partial-cycle check, template versions (sha256) and
 * selection by category and locale.
 *
 * Every entry point that touches the cache holds lib->mu, so libs may be
 * shared by threads; a template handed out is `ready` and never changes.
 */
#include "templates/tmpl_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/utf8.h"

#define MAX_NAME 255
#define MAX_SOURCE ((size_t)16 << 20)

/* ---- arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (!n)
		n = 16;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 4096 ? n : 4096;

		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void arena_free(struct arena *a)
{
	struct arena_chunk *c = a->head;

	while (c) {
		struct arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
}

/* ---- the lib ---- */

struct entry {
	char *name;
	char *src;
	size_t len;
	struct tmpl *t;          /* parsed; handed out once t->ready */
	struct entry *next;      /* hash chain */
	int mark;                /* cycle check: 0 new, 1 on the path, 2 done */
};

struct tmpl_lib {
	pthread_mutex_t mu;
	char *dir;               /* NULL for an in-memory lib */
	char *dir_real;
	bool missing_ok;
	struct entry **buckets;
	size_t nbuckets, count;
};

static uint64_t hash_name(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct entry *find_entry(const struct tmpl_lib *lib, const char *name, size_t n)
{
	struct entry *en = lib->buckets[hash_name(name, n) & (lib->nbuckets - 1)];

	for (; en; en = en->next)
		if (strlen(en->name) == n && !memcmp(en->name, name, n))
			return en;
	return NULL;
}

static int grow(struct tmpl_lib *lib)
{
	size_t nb = lib->nbuckets * 2;
	struct entry **b = calloc(nb, sizeof *b);

	if (!b)
		return -1;
	for (size_t i = 0; i < lib->nbuckets; i++) {
		struct entry *en = lib->buckets[i];

		while (en) {
			struct entry *next = en->next;
			size_t h = hash_name(en->name, strlen(en->name)) & (nb - 1);

			en->next = b[h];
			b[h] = en;
			en = next;
		}
	}
	free(lib->buckets);
	lib->buckets = b;
	lib->nbuckets = nb;
	return 0;
}

/* Takes ownership of src (malloc'd, NUL-terminated). */
static struct entry *insert(struct tmpl_lib *lib, const char *name, size_t n, char *src,
			    size_t len)
{
	struct entry *en;
	size_t h;

	if (lib->count + 1 > lib->nbuckets / 2 && grow(lib) < 0)
		return NULL;
	en = calloc(1, sizeof *en);
	if (!en)
		return NULL;
	en->name = malloc(n + 1);
	if (!en->name) {
		free(en);
		return NULL;
	}
	memcpy(en->name, name, n);
	en->name[n] = '\0';
	en->src = src;
	en->len = len;
	h = hash_name(name, n) & (lib->nbuckets - 1);
	en->next = lib->buckets[h];
	lib->buckets[h] = en;
	lib->count++;
	return en;
}

static void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	arena_free(&t->arena);
	free(t->nodes);
	free(t);
}

struct tmpl_lib *tmpl_lib_new(void)
{
	struct tmpl_lib *lib = calloc(1, sizeof *lib);

	if (!lib)
		return NULL;
	lib->nbuckets = 16;
	lib->buckets = calloc(lib->nbuckets, sizeof *lib->buckets);
	if (!lib->buckets || pthread_mutex_init(&lib->mu, NULL) != 0) {
		free(lib->buckets);
		free(lib);
		return NULL;
	}
	return lib;
}

struct tmpl_lib *tmpl_lib_open_dir(const char *dir, struct err *e)
{
	struct tmpl_lib *lib = NULL;
	struct stat st;

	if (!dir || !*dir) {
		err_set(e, ERR_USAGE, "template directory: empty path");
		return NULL;
	}
	if (stat(dir, &st) < 0) {
		err_set(e, ERR_IO, "template directory \"%s\": %s", dir, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		err_set(e, ERR_IO, "template directory \"%s\": not a directory", dir);
		return NULL;
	}
	lib = tmpl_lib_new();
	if (!lib || !(lib->dir = strdup(dir))) {
		err_set(e, ERR_NOMEM, "template directory \"%s\": out of memory", dir);
		goto fail;
	}
	lib->dir_real = realpath(dir, NULL);
	if (!lib->dir_real) {
		err_set(e, ERR_IO, "template directory \"%s\": %s", dir, strerror(errno));
		goto fail;
	}
	return lib;
fail:
	tmpl_lib_free(lib);
	return NULL;
}

void tmpl_lib_set_missing_partials_ok(struct tmpl_lib *lib, bool ok)
{
	pthread_mutex_lock(&lib->mu);
	lib->missing_ok = ok;
	pthread_mutex_unlock(&lib->mu);
}

void tmpl_lib_free(struct tmpl_lib *lib)
{
	if (!lib)
		return;
	for (size_t i = 0; i < lib->nbuckets; i++) {
		struct entry *en = lib->buckets ? lib->buckets[i] : NULL;

		while (en) {
			struct entry *next = en->next;

			tmpl_free(en->t);
			free(en->name);
			free(en->src);
			free(en);
			en = next;
		}
	}
	free(lib->buckets);
	free(lib->dir);
	free(lib->dir_real);
	pthread_mutex_destroy(&lib->mu);
	free(lib);
}

static int check_source(const char *name, const char *src, size_t len, struct err *e)
{
	size_t bad = 0;

	if (len > MAX_SOURCE)
		return err_set(e, ERR_TEMPLATE, "template \"%s\": larger than %zu bytes", name,
			       MAX_SOURCE);
	if (!utf8_valid(src, len, &bad)) {
		uint32_t line = 1, col = 1;

		for (size_t k = 0; k < bad; k++) {
			if (src[k] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)src[k] & 0xc0) != 0x80) {
				col++;
			}
		}
		return err_set(e, ERR_TEMPLATE, "template \"%s\" line %u column %u: not valid utf-8",
			       name, line, col);
	}
	return 0;
}

int tmpl_lib_add(struct tmpl_lib *lib, const char *name, const char *src, size_t len,
		 struct err *e)
{
	char *copy;
	int rc = -1;

	if (!name || !*name || strlen(name) > MAX_NAME)
		return err_set(e, ERR_TEMPLATE, "template name \"%s\": empty or too long",
			       name ? name : "");
	if (!src && len)
		return err_set(e, ERR_USAGE, "template \"%s\": no source", name);
	if (check_source(name, src ? src : "", len, e) < 0)
		return -1;
	copy = malloc(len + 1);
	if (!copy)
		return err_set(e, ERR_NOMEM, "template \"%s\": out of memory", name);
	if (len)
		memcpy(copy, src, len);
	copy[len] = '\0';
	pthread_mutex_lock(&lib->mu);
	if (find_entry(lib, name, strlen(name))) {
		err_set(e, ERR_TEMPLATE, "template \"%s\": already defined", name);
		free(copy);
	} else if (!insert(lib, name, strlen(name), copy, len)) {
		err_set(e, ERR_NOMEM, "template \"%s\": out of memory", name);
		free(copy);
	} else {
		rc = 0;
	}
	pthread_mutex_unlock(&lib->mu);
	return rc;
}

/* A name that may become a path under the template directory. */
static bool safe_name(const char *name, size_t n)
{
	size_t seg = 0;

	if (!n || n > MAX_NAME || name[0] == '/')
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? name[i] : '/';

		if (c == '/') {
			size_t len = i - seg;

			if (len == 0 || (len == 1 && name[seg] == '.') ||
			    (len == 2 && name[seg] == '.' && name[seg + 1] == '.'))
				return false;
			seg = i + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '+' || c == '@'))
			return false;
	}
	return true;
}

/* The file for name, when it exists inside the directory: new path in *out. */
static int file_for(const struct tmpl_lib *lib, const char *name, size_t n, char **out)
{
	char *path, *real;
	size_t dl, need;

	*out = NULL;
	if (!lib->dir || !safe_name(name, n))
		return 0;
	dl = strlen(lib->dir_real);
	need = strlen(lib->dir) + n + 16;
	path = malloc(need);
	if (!path)
		return -1;
	snprintf(path, need, "%s/%.*s.mustache", lib->dir, (int)n, name);
	real = realpath(path, NULL);
	free(path);
	if (!real)
		return 0;
	if (strncmp(real, lib->dir_real, dl) != 0 || real[dl] != '/') {
		free(real);
		return 0;
	}
	*out = real;
	return 0;
}

/* Find or load name; *out NULL when it does not exist. Holds lib->mu. */
static int load(struct tmpl_lib *lib, const char *name, size_t n, struct entry **out,
		struct err *e)
{
	struct entry *en = find_entry(lib, name, n);
	char *path = NULL, *buf = NULL;
	FILE *f = NULL;
	size_t len = 0, cap = 0;
	int rc = -1;

	*out = en;
	if (en || !lib->dir)
		return 0;
	if (file_for(lib, name, n, &path) < 0)
		return err_set(e, ERR_NOMEM, "template \"%.*s\": out of memory", (int)n, name);
	if (!path)
		return 0;
	f = fopen(path, "rb");
	if (!f) {
		err_set(e, ERR_IO, "template \"%.*s\": %s: %s", (int)n, name, path, strerror(errno));
		goto out;
	}
	for (;;) {
		size_t got;

		if (cap - len < 4096) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				err_set(e, ERR_NOMEM, "template \"%.*s\": out of memory", (int)n, name);
				goto out;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (len > MAX_SOURCE) {
			err_set(e, ERR_TEMPLATE, "template \"%.*s\": larger than %zu bytes", (int)n, name,
				MAX_SOURCE);
			goto out;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		err_set(e, ERR_IO, "template \"%.*s\": %s: read error", (int)n, name, path);
		goto out;
	}
	buf[len] = '\0';
	{
		char nm[MAX_NAME + 1];

		memcpy(nm, name, n);
		nm[n] = '\0';
		if (check_source(nm, buf, len, e) < 0)
			goto out;
	}
	en = insert(lib, name, n, buf, len);
	if (!en) {
		err_set(e, ERR_NOMEM, "template \"%.*s\": out of memory", (int)n, name);
		goto out;
	}
	buf = NULL;
	*out = en;
	rc = 0;
out:
	if (f)
		fclose(f);
	free(path);
	free(buf);
	return rc;
}

static int parse_entry(struct tmpl_lib *lib, struct entry *en, struct err *e)
{
	struct tmpl *t;

	if (en->t)
		return 0;
	t = calloc(1, sizeof *t);
	if (!t)
		return err_set(e, ERR_NOMEM, "template \"%s\": out of memory", en->name);
	t->name = en->name;
	t->src = en->src;
	t->src_len = en->len;
	t->lib = lib;
	if (tmpl_parse(t, e) < 0) {
		tmpl_free(t);
		return -1;
	}
	en->t = t;
	return 0;
}

/* Every template reachable from root through static partials and parents,
 * parsed and linked; the list is returned in *list (new, free()). */
struct elist {
	struct entry **v;
	size_t n, cap;
};

static int elist_push(struct elist *l, struct entry *en)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct entry **v = realloc(l->v, cap * sizeof *v);

		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = en;
	return 0;
}

static bool elist_has(const struct elist *l, const struct entry *en)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == en)
			return true;
	return false;
}

static int link_all(struct tmpl_lib *lib, struct entry *root, struct elist *l, struct err *e)
{
	if (parse_entry(lib, root, e) < 0)
		return -1;
	if (elist_push(l, root) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < l->n; i++) {
		struct tmpl *t = l->v[i]->t;

		for (uint32_t k = 0; k < t->nnodes; k++) {
			struct tnode *n = &t->nodes[k];
			struct entry *en;

			if ((n->kind != TN_PARTIAL && n->kind != TN_PARENT) || (n->flags & TNF_DYNAMIC))
				continue;
			if (t->ready) {
				/* Already linked: only collect what it reaches. */
				en = n->target ? find_entry(lib, n->target->name, strlen(n->target->name)) : NULL;
				if (en && !elist_has(l, en) && elist_push(l, en) < 0)
					return err_set(e, ERR_NOMEM, "out of memory");
				continue;
			}
			if (load(lib, n->str, strlen(n->str), &en, e) < 0)
				return -1;
			if (!en) {
				n->target = NULL;
				if (lib->missing_ok)
					continue;
				return tmpl_errf(e, ERR_TEMPLATE, t, n->line, n->col, "%s \"%s\" not found%s",
						 n->kind == TN_PARTIAL ? "partial" : "parent", n->str,
						 lib->dir ? " in the template directory" : "");
			}
			if (parse_entry(lib, en, e) < 0)
				return -1;
			n->target = en->t;
			if (!elist_has(l, en) && elist_push(l, en) < 0)
				return err_set(e, ERR_NOMEM, "out of memory");
		}
	}
	return 0;
}

static struct entry *entry_of(const struct elist *l, const struct tmpl *t)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i]->t == t)
			return l->v[i];
	return NULL;
}

/* Depth-first over unconditional edges (partial and parent tags outside any
 * section, inverted section or block): a cycle there never ends. */
static int find_cycle(const struct elist *l, struct entry *en, struct entry **path, size_t depth,
		      struct err *e)
{
	struct tmpl *t = en->t;

	en->mark = 1;
	path[depth] = en;
	for (uint32_t k = 0; k < t->nnodes; k++) {
		const struct tnode *n = &t->nodes[k];
		struct entry *to;

		if ((n->kind != TN_PARTIAL && n->kind != TN_PARENT) || (n->flags & (TNF_DYNAMIC | TNF_COND)) ||
		    !n->target || n->target->ready)
			continue;
		to = entry_of(l, n->target);
		if (!to)
			continue;
		if (to->mark == 1) {
			char chain[ERR_MSG_MAX / 2];
			size_t used = 0, start = 0;

			while (path[start] != to)
				start++;
			chain[0] = '\0';
			for (size_t i = start; i <= depth && used < sizeof chain; i++)
				used += (size_t)snprintf(chain + used, sizeof chain - used, "%s -> ",
							 path[i]->name);
			if (used < sizeof chain)
				snprintf(chain + used, sizeof chain - used, "%s", to->name);
			return tmpl_errf(e, ERR_TEMPLATE, t, n->line, n->col,
					 "partial cycle never ends: %s (recursion must sit inside a section)",
					 chain);
		}
		if (to->mark == 0 && find_cycle(l, to, path, depth + 1, e) < 0)
			return -1;
	}
	en->mark = 2;
	return 0;
}

static int cmp_entry_name(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	return strcmp(x->name, y->name);
}

/* sha256 over t and everything it reaches statically, sorted by name. */
static int hash_closure(const struct elist *all, struct entry *root, struct err *e)
{
	struct elist c = { 0 };
	struct hash_ctx *h = NULL;
	int rc = -1;

	if (elist_push(&c, root) < 0)
		goto nomem;
	for (size_t i = 0; i < c.n; i++) {
		const struct tmpl *t = c.v[i]->t;

		for (uint32_t k = 0; k < t->nnodes; k++) {
			const struct tnode *n = &t->nodes[k];
			struct entry *to;

			if ((n->kind != TN_PARTIAL && n->kind != TN_PARENT) || !n->target)
				continue;
			to = entry_of(all, n->target);
			if (to && !elist_has(&c, to) && elist_push(&c, to) < 0)
				goto nomem;
		}
	}
	qsort(c.v, c.n, sizeof *c.v, cmp_entry_name);
	h = hash_new();
	if (!h)
		goto nomem;
	hash_update_str(h, "skugen-tmpl-1");
	for (size_t i = 0; i < c.n; i++) {
		hash_update_str(h, c.v[i]->name);
		hash_update_field(h, c.v[i]->src, c.v[i]->len);
	}
	hash_final_hex(h, root->t->sha);
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "template \"%s\": out of memory", root->name);
out:
	hash_free(h);
	free(c.v);
	return rc;
}

/* Parse, link, check and hash root and what it reaches. Holds lib->mu. */
static int make_ready(struct tmpl_lib *lib, struct entry *root, struct err *e)
{
	struct elist l = { 0 };
	struct entry **path = NULL;
	int rc = -1;

	if (root->t && root->t->ready)
		return 0;
	if (link_all(lib, root, &l, e) < 0)
		goto out;
	path = calloc(l.n + 1, sizeof *path);
	if (!path) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		l.v[i]->mark = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (!l.v[i]->t->ready && l.v[i]->mark == 0 && find_cycle(&l, l.v[i], path, 0, e) < 0)
			goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (!l.v[i]->t->ready && hash_closure(&l, l.v[i], e) < 0)
			goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		l.v[i]->t->ready = true;
	rc = 0;
out:
	free(path);
	free(l.v);
	return rc;
}

const struct tmpl *tmpl_lib_get(struct tmpl_lib *lib, const char *name, struct err *e)
{
	struct entry *en;
	const struct tmpl *t = NULL;

	if (!lib || !name) {
		err_set(e, ERR_USAGE, "tmpl_lib_get: no lib or no name");
		return NULL;
	}
	pthread_mutex_lock(&lib->mu);
	if (load(lib, name, strlen(name), &en, e) < 0)
		goto out;
	if (!en) {
		if (lib->dir && !safe_name(name, strlen(name)))
			err_set(e, ERR_TEMPLATE, "template \"%s\": not a valid template name", name);
		else
			err_set(e, ERR_TEMPLATE, "template \"%s\" not found%s", name,
				lib->dir ? " in the template directory" : "");
		goto out;
	}
	if (make_ready(lib, en, e) < 0)
		goto out;
	t = en->t;
out:
	pthread_mutex_unlock(&lib->mu);
	return t;
}

bool tmpl_lib_has(struct tmpl_lib *lib, const char *name)
{
	bool has = false;
	char *path = NULL;

	pthread_mutex_lock(&lib->mu);
	if (find_entry(lib, name, strlen(name))) {
		has = true;
	} else if (lib->dir && file_for(lib, name, strlen(name), &path) == 0 && path) {
		struct stat st;

		has = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	}
	pthread_mutex_unlock(&lib->mu);
	free(path);
	return has;
}

int tmpl_lib_lookup_dynamic(struct tmpl_lib *lib, const char *name, size_t len,
			    const struct tmpl **out, struct err *e)
{
	struct entry *en;
	int rc = -1;

	*out = NULL;
	if (!len || len > MAX_NAME || memchr(name, '\0', len))
		return 0;
	pthread_mutex_lock(&lib->mu);
	if (load(lib, name, len, &en, e) < 0)
		goto out;
	if (en) {
		if (make_ready(lib, en, e) < 0)
			goto out;
		*out = en->t;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&lib->mu);
	return rc;
}

const char *tmpl_name(const struct tmpl *t)
{
	return t->name;
}

const char *tmpl_sha256(const struct tmpl *t)
{
	return t->sha;
}

/* ---- selection ---- */

/* Category to slug: ASCII lowercase, [a-z0-9_-] kept, any other character
 * (a whole UTF-8 sequence counts as one) becomes '_'. */
static void slug(const char *in, char *out, size_t cap, bool keep_case)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 1 < cap; p++) {
		unsigned char c = *p;

		if (c >= 'A' && c <= 'Z' && !keep_case)
			c = (unsigned char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    (keep_case && c >= 'A' && c <= 'Z')) {
			out[o++] = (char)c;
		} else {
			out[o++] = '_';
			if (c >= 0xc0)
				while ((p[1] & 0xc0) == 0x80)
					p++;
		}
	}
	out[o] = '\0';
}

const struct tmpl *tmpl_lib_select(struct tmpl_lib *lib, const char *base,
				   const char *category, const char *locale, struct err *e)
{
	char cat[128], loc[64], names[4][MAX_NAME + 64], tried[ERR_MSG_MAX / 2];
	const char *pre = base && *base ? base : "";
	const char *sep = *pre ? "/" : "";
	bool has_cat = category && *category, has_loc = locale && *locale;
	size_t nn = 0, used = 0;

	slug(has_cat ? category : "", cat, sizeof cat, false);
	slug(has_loc ? locale : "", loc, sizeof loc, true);
	if (has_cat && has_loc)
		snprintf(names[nn++], sizeof names[0], "%s%s%s.%s", pre, sep, cat, loc);
	if (has_cat)
		snprintf(names[nn++], sizeof names[0], "%s%s%s", pre, sep, cat);
	if (has_loc)
		snprintf(names[nn++], sizeof names[0], "%s%sdefault.%s", pre, sep, loc);
	snprintf(names[nn++], sizeof names[0], "%s%sdefault", pre, sep);
	tried[0] = '\0';
	for (size_t i = 0; i < nn; i++) {
		if (tmpl_lib_has(lib, names[i]))
			return tmpl_lib_get(lib, names[i], e);
		if (used < sizeof tried)
			used += (size_t)snprintf(tried + used, sizeof tried - used, "%s\"%s\"",
						 i ? ", " : "", names[i]);
	}
	err_set(e, ERR_TEMPLATE, "no template for category \"%s\" locale \"%s\": tried %s",
		has_cat ? category : "", has_loc ? locale : "", tried);
	return NULL;
}
