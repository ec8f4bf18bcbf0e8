/* tmpl.h: the template engine: Mustache rendered against jansson values.
 *
 * A struct tmpl_lib holds named template sources (from a directory of
 * NAME.mustache files, or added in memory) and compiles each on first use
 * into a struct tmpl: a flat array of nodes with pre-split dotted names and
 * pre-parsed formatters.  Compiled templates are immutable and may be
 * rendered from many threads at once; the lib's cache is guarded by a mutex.
 *
 * Mustache as in the spec (github.com/mustache/spec): interpolation, sections,
 * inverted sections, comments, partials, set delimiters, inheritance
 * (parents {{<p}} and blocks {{$b}}) and dynamic names ({{>*name}}).  Lambdas
 * need host-language functions and do not exist here.
 *
 * Extras for prompts, all valid Mustache syntax:
 *   - strict mode: interpolating a missing key (or null) is an error naming the
 *     template, line, column and key path.  Sections over missing keys are not.
 *   - no HTML escaping by default (prompts are not HTML); switchable.
 *   - formatters inside interpolation tags: {{ name | trim | truncate:60:"…" }}.
 *     Arguments are literals (numbers, or "strings" with \" and \\ escapes)
 *     separated by ':'.  lower, upper, trim, capitalize, truncate:N[:"suffix"],
 *     join[:"sep"[:"last sep"]], money[:"locale"], json, default:"text".
 *     truncate keeps at most N characters (code points) in all, cuts at a word
 *     boundary in the last 40% when there is one, leaves no dangling space or
 *     punctuation, and adds the suffix only when it cut (none by default).
 *     join leaves out null and "" elements and refuses objects and lists.
 *     money: 49.9 -> "49.90", {"amount":49.9,"currency":"EUR"} -> "49.90 EUR",
 *     money:"de" -> "49,90 EUR"; rounding is half away from zero.
 *     default applies to missing, null and "" (and silences strict mode).
 *
 * Names: a dotted name resolves its first part through the context stack
 * and the rest strictly; a numeric later part indexes a list ("materials.0").
 *
 * Truthiness: false, null, a missing key, an empty list and an empty string
 * are falsy; everything else (0 included, {} included) is truthy.
 *
 * Ownership: the lib owns every struct tmpl it hands out (borrowed, valid until
 * tmpl_lib_free); render borrows data and appends to the caller's buffer.
 */
#ifndef SKUGEN_TMPL_H
#define SKUGEN_TMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"

struct tmpl;      /* a compiled template: opaque, immutable, thread-safe to render */
struct tmpl_lib;  /* a set of named templates and partials, with a compile cache */

struct tmpl_opts {
	bool strict;         /* missing key or null in an interpolation is an error */
	bool escape_html;    /* {{x}} escapes & < > " ' ({{{x}}} and {{&x}} never do) */
	size_t max_output;   /* 0: TMPL_DEFAULT_MAX_OUTPUT bytes per render */
	uint64_t max_steps;  /* 0: TMPL_DEFAULT_MAX_STEPS nodes visited per render */
};

/* Prompts: strict, no escaping.  Spec mode: lenient, HTML-escaped. */
#define TMPL_OPTS_PROMPT { .strict = true, .escape_html = false }
#define TMPL_OPTS_SPEC { .strict = false, .escape_html = true }

#define TMPL_DEFAULT_MAX_OUTPUT ((size_t)64 << 20)
#define TMPL_DEFAULT_MAX_STEPS ((uint64_t)50000000)
#define TMPL_MAX_DEPTH 100   /* nested sections, partials and blocks per render */

/* A lib over a directory (new; free with tmpl_lib_free).  Template "a/b.c"
 * is the file dir/a/b.c.mustache, read on first use.  Names with empty or
 * "."/".." segments, a leading '/', a backslash or control characters are
 * refused, and a file whose real path is outside dir is never read. */
struct tmpl_lib *tmpl_lib_open_dir(const char *dir, struct err *e);

/* An empty in-memory lib (new), NULL on no memory. */
struct tmpl_lib *tmpl_lib_new(void);

/* Add a template (or partial) source under name; copies src.  A name may be
 * added once (ERR_TEMPLATE on a second add); in a directory lib, an added
 * name shadows the file.  Source must be valid UTF-8.  Add partials before
 * compiling what uses them: a compiled template keeps what it linked. */
int tmpl_lib_add(struct tmpl_lib *lib, const char *name, const char *src, size_t len,
		 struct err *e);

/* Spec mode for partials: a partial or parent that does not exist renders as
 * the empty string instead of failing tmpl_lib_get (default: off). */
void tmpl_lib_set_missing_partials_ok(struct tmpl_lib *lib, bool ok);

/* Compile name and every partial it reaches statically (once; later calls
 * return the same pointer).  Borrowed, valid until tmpl_lib_free.  Errors
 * (ERR_TEMPLATE, or ERR_IO for an unreadable file) name the template, line
 * and column: unclosed section or tag, mismatched closing tag, bad delimiters,
 * bad names, unknown formatter or bad formatter arguments, missing partial,
 * and a partial cycle that cannot terminate (a template reaching itself only
 * through partial/parent tags outside any section, inverted section or block:
 * recursion inside a section is legal and works). */
const struct tmpl *tmpl_lib_get(struct tmpl_lib *lib, const char *name, struct err *e);

/* True when name exists in lib (added, or a readable file); compiles nothing. */
bool tmpl_lib_has(struct tmpl_lib *lib, const char *name);

/* Select by category and locale with fallback: base/CAT.LOCALE, base/CAT,
 * base/default.LOCALE, base/default (category steps skipped when category is
 * NULL or empty, locale steps when locale is).  The category is normalised to
 * a slug (ASCII lowercase, [a-z0-9_-] kept, any other character -> '_'), the
 * locale likewise but keeping case ("de_DE").  Borrowed result.  When none
 * exists: ERR_TEMPLATE listing every name tried.  A template that exists but
 * does not compile is an error, not a reason to fall back. */
const struct tmpl *tmpl_lib_select(struct tmpl_lib *lib, const char *base,
				   const char *category, const char *locale, struct err *e);

/* Free lib and every template compiled from it.  Accepts NULL. */
void tmpl_lib_free(struct tmpl_lib *lib);

/* The template's name (borrowed). */
const char *tmpl_name(const struct tmpl *t);

/* The template's version (borrowed, 64 hex chars): SHA-256 over the names and
 * sources of t and of every template it reaches statically (partials and
 * parents), sorted by name, each field length-framed. */
const char *tmpl_sha256(const struct tmpl *t);

/* Render t against data (borrowed) and append to out.  o NULL means
 * TMPL_OPTS_PROMPT.  In strict mode a dynamic partial name that is missing,
 * or names no template, is an error too.  On failure returns -1, fills e (ERR_TEMPLATE, or
 * ERR_NOMEM) naming template, line, column and key path, e.g.
 * `template "title/default" line 2 column 14: missing key "brand.name"`,
 * and leaves out as it was.  Dynamic partial names resolve through the lib at
 * render time.  Beyond growing out, a render allocates nothing unless a
 * formatter needs more than 64 sort slots (json of a wide object). */
int tmpl_render(const struct tmpl *t, const json_t *data, const struct tmpl_opts *o,
		struct buf *out, struct err *e);

/* What t reads of data, for fingerprints (new reference; NULL on no memory).
 * The projection is found by tracing the lookups a render of t performs on
 * this data: objects keep exactly the keys that were looked up and exist,
 * lists keep every element (each projected), scalars and every value that is
 * interpolated, formatted or used as a dynamic name are kept whole.  Rendering
 * t against the projection gives the same bytes and the same errors, in both
 * strict and lenient mode, as rendering against data; a change to a field the
 * render never looks at leaves the projection unchanged.  Values are shared
 * with data (incref'd), not copied: do not modify the result in place. */
json_t *tmpl_project(const struct tmpl *t, const json_t *data);

/* The key paths t can read, statically, for display and tests (new array of
 * sorted strings like "brand", "materials[].name", "price.amount"; "[]" marks
 * a section frame that may iterate; "." is the root read whole).  A name in a
 * section can resolve in any enclosing frame, so each frame contributes a
 * path.  NULL when the set is unbounded: dynamic partial names, recursive
 * partials or parents, or more than TMPL_MAX_READ_PATHS paths. */
json_t *tmpl_read_paths(const struct tmpl *t);

#define TMPL_MAX_READ_PATHS 512

#endif
