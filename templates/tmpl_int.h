/* tmpl_int.h: internal structures shared by the template engine's files
 * (tmpl_parse.c, tmpl_lib.c, tmpl_render.c, tmpl_format.c, tmpl_reads.c).
 * Not part of the API: include tmpl.h instead.
 *
 * A compiled template is a flat array of nodes in document order.  A section,
 * inverted section, parent or block node is followed by its children; its
 * `end` is the index just past them, so a renderer walks [i + 1, end).
 */
#ifndef SKUGEN_TMPL_INT_H
#define SKUGEN_TMPL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"
#include "templates/tmpl.h"

/* ---- arena: many small allocations freed at once (tmpl_lib.c) ---- */

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
};

void *arena_alloc(struct arena *a, size_t n);            /* 8-aligned, zeroed; NULL on no memory */
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);

/* ---- compiled form ---- */

enum tnode_kind {
	TN_TEXT,
	TN_VAR,        /* {{x}}, {{{x}}}, {{&x}}, with formatters */
	TN_SECTION,
	TN_INVERTED,
	TN_PARTIAL,
	TN_PARENT,     /* {{<p}}: children are its block arguments, nothing else */
	TN_BLOCK,      /* {{$b}} */
};

#define TNF_BOL        0x01  /* begins a line of its template: indentation goes here */
#define TNF_STANDALONE 0x02  /* partial/parent/block tag stood alone on its line */
#define TNF_DYNAMIC    0x04  /* partial/parent name is *dotted.name, resolved at render */
#define TNF_RAW        0x08  /* {{{x}}} or {{&x}}: never HTML-escaped */
#define TNF_COND       0x10  /* partial/parent inside a section, inverted section or block */

struct tname {
	const char *full;     /* as written, NUL-terminated ("." for the implicit iterator) */
	const char **seg;     /* nseg segments, each NUL-terminated */
	const long long *idx; /* per segment: its value when all digits (indexes a list), else -1 */
	uint32_t nseg;        /* 0: the implicit iterator "." */
};

enum fmt_kind {
	FMT_LOWER,
	FMT_UPPER,
	FMT_TRIM,
	FMT_CAPITALIZE,
	FMT_TRUNCATE,
	FMT_JOIN,
	FMT_MONEY,
	FMT_JSON,
	FMT_DEFAULT,
};

struct targ {
	bool is_num;
	double num;
	const char *str;      /* string argument (NUL-terminated), or the number as written */
	size_t len;
};

struct tfmt {
	enum fmt_kind kind;
	unsigned nargs;
	struct targ args[2];
};

struct tnode {
	uint8_t kind;               /* enum tnode_kind */
	uint8_t flags;              /* TNF_* */
	uint16_t nfmt;              /* TN_VAR: number of formatters */
	uint32_t end;               /* index past this node's children */
	uint32_t line, col;         /* 1-based; col in characters */
	const char *str;            /* TEXT: bytes; PARTIAL/PARENT/BLOCK: name (NUL-terminated) */
	uint32_t len;
	uint32_t indent_len;
	const char *indent;         /* standalone PARTIAL/PARENT: whitespace before the tag;
	                               standalone BLOCK: its indentation at expansion */
	const struct tname *name;   /* VAR, SECTION, INVERTED, dynamic PARTIAL/PARENT */
	const struct tfmt *fmt;     /* VAR: nfmt formatters */
	struct tmpl *target;        /* static PARTIAL/PARENT once linked; NULL if missing */
};

/* A lookup the renderer issues ahead of time to overlap cache misses: a
 * name at the template's top level (parent -1), or one level inside a
 * top-level section (parent: that section's entry). */
struct tprefetch {
	const struct tname *name;
	int32_t parent;
	bool money;       /* formatted with money: warm its amount and currency */
};

#define TMPL_MAX_PREFETCH 64

struct tmpl {
	char *name;
	char *src;
	size_t src_len;
	struct tnode *nodes;
	uint32_t nnodes;
	struct tprefetch *pf;       /* npf entries, parents before children */
	uint32_t npf;
	uint32_t *pf_partials;      /* top-level static partial nodes, prefetched too */
	uint32_t npf_partials;
	struct arena arena;         /* names, formatters, text copies */
	struct tmpl_lib *lib;
	bool ready;                 /* linked, checked, hashed: may be handed out */
	char sha[HASH_HEX_LEN];
};

/* Parse t->src into t->nodes (tmpl_parse.c).  Partials are not resolved. */
int tmpl_parse(struct tmpl *t, struct err *e);

/* Error helper: "template \"NAME\" line L column C: MSG". */
int tmpl_errf(struct err *e, enum err_code code, const struct tmpl *t, uint32_t line,
	      uint32_t col, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Render-time lookup of a dynamic partial (tmpl_lib.c): *out is NULL when no
 * such template exists (or the name is not a valid template name). */
int tmpl_lib_lookup_dynamic(struct tmpl_lib *lib, const char *name, size_t len,
			    const struct tmpl **out, struct err *e);

/* Append without a call when the buffer has room (the hot path of every
 * render); otherwise buf_append. */
static inline int tmpl_put(struct buf *b, const char *p, size_t n)
{
	if (b->data && b->cap - b->len > n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_append(b, p, n);
}

/* ---- reads tracing (tmpl_reads.c), driven by tmpl_render.c ---- */

struct tmpl_trace;
void tmpl_trace_key(struct tmpl_trace *tr, const json_t *obj, const char *key);
void tmpl_trace_whole(struct tmpl_trace *tr, const json_t *v);

/* Render with tracing (tmpl_render.c): like tmpl_render, lenient, output discarded. */
int tmpl_render_traced(const struct tmpl *t, const json_t *data, struct tmpl_trace *tr,
		       struct buf *scratch, struct err *e);

/* ---- values to text (tmpl_format.c) ---- */

/* Shortest round-trip text of d, JavaScript style (1.5, 1, 1e+21, 1e-7). */
size_t tmpl_fmt_real(char *dst, double d);   /* dst >= 32 bytes */
size_t tmpl_fmt_int(char *dst, json_int_t v);  /* dst >= 24 bytes */

/* Append v as interpolation shows it: strings raw, numbers as above, true /
 * false, null as "", objects and arrays as compact JSON with sorted keys. */
int tmpl_put_value(struct buf *out, const json_t *v);
/* Append compact JSON with sorted keys. */
int tmpl_put_json(struct buf *out, const json_t *v);
/* Append p[0..n) HTML-escaped (& < > " '). */
int tmpl_put_escaped(struct buf *out, const char *p, size_t n);
bool tmpl_needs_escape(const char *p, size_t n);

/* Formatter pipeline for one VAR node (tmpl_format.c).  Appends the result to
 * out; *missing is set when the value stays missing (after every formatter;
 * `default` clears it).  Errors (join over an object, money over a word) are
 * reported against t/n with the key path. */
int tmpl_apply_formatters(const struct tmpl *t, const struct tnode *n, const json_t *v,
			  struct buf *out, bool *missing, struct tmpl_trace *tr, struct err *e);

/* Formatter table for the parser: kind by name, and argument checks. */
int tmpl_fmt_lookup(const char *name, size_t len, enum fmt_kind *kind);
const char *tmpl_fmt_check_args(const struct tfmt *f); /* NULL when fine, else why not */

/* UTF-8 helpers (tmpl_format.c). */
size_t tmpl_utf8_decode(const char *p, size_t n, uint32_t *cp); /* >= 1 when n >= 1 */

#endif
