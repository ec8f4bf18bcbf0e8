/* file.c: the "file" source connector: product records from JSONL and CSV
 * catalogs, streamed in bounded memory (see file.h for the configuration,
 * the records and the error messages). */
#include "connectors/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/show.h"
#include "common/utf8.h"
#include "connectors/csv_reader.h"
#include "connectors/line_reader.h"

#define DEFAULT_MAX_FIELD ((size_t)1 << 20)
#define DEFAULT_MAX_RECORD ((size_t)8 << 20)
#define MAX_LIMIT ((json_int_t)1 << 30)
#define CSV_MAX_COLUMNS ((size_t)65536)

enum file_format { FMT_JSONL, FMT_CSV };

struct file_conn {
	struct conn base;
	char *path;        /* as configured: origins name it */
	char *full_path;   /* resolved against base_dir: source errors name it */
	char *base_dir;    /* write-back targets resolve against it too */
	int fd;
	enum file_format format;
	char *key;
	size_t max_field, max_record;
	char delim;
	struct line_reader *lines;   /* JSONL */
	struct csv_reader *csv;      /* CSV */
	char **names;                /* CSV field names, ncols of them */
	size_t ncols;
	size_t key_col;
};

/* ---- messages ---------------------------------------------------------- */

static void show_str(char *dst, const char *s)
{
	show_quoted(dst, s, strlen(s));
}

/* Replace every byte of msg that is not part of valid UTF-8 with '?'. */
static void sanitize(char *msg)
{
	size_t n = strlen(msg), i = 0, bad;

	while (i < n && !utf8_valid(msg + i, n - i, &bad)) {
		msg[i + bad] = '?';
		i += bad + 1;
	}
}


/* The kind of a JSON value, for "got ...". */
static const char *kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* Mark r failed with a message; -1 only when memory runs out. */
static int fail(struct record *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct record *r, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sanitize(msg);
	json_decref(r->fields);
	r->fields = NULL;
	free(r->error);
	r->error = strdup(msg);
	return r->error ? 0 : -1;
}

static int set_origin(const struct file_conn *fc, struct record *r, size_t lineno)
{
	char *s;

	if (asprintf(&s, "%s:%zu", fc->path, lineno) < 0)
		return -1;
	r->origin = s;
	return 0;
}

static bool all_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n\f\v", s[i]) || s[i] == '\0')
			return false;
	return true;
}

/* ---- configuration ----------------------------------------------------- */

static const char *const cfg_keys[] = {
	"type", "path", "format", "key", "max_field_bytes", "max_record_bytes",
	"delimiter", "columns", NULL,
};

static int cfg_size(const json_t *cfg, const char *name, size_t def, size_t *out,
		    struct err *e)
{
	const json_t *v = json_object_get(cfg, name);
	char got[SHOW_JSON_CAP];

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > MAX_LIMIT) {
		show_json(got, v);
		return err_set(e, ERR_CONFIG, "source.%s: expected an integer from 1 to %"
			       JSON_INTEGER_FORMAT ", got %s", name, MAX_LIMIT, got);
	}
	*out = (size_t)json_integer_value(v);
	return 0;
}

/* A non-empty string option (or NULL when absent). */
static int cfg_string(const json_t *cfg, const char *name, const char **out, struct err *e)
{
	const json_t *v = json_object_get(cfg, name);
	char got[SHOW_JSON_CAP];

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0) {
		show_json(got, v);
		return err_set(e, ERR_CONFIG, "source.%s: expected a non-empty string, got %s",
			       name, got);
	}
	*out = json_string_value(v);
	return 0;
}

static bool has_ext(const char *path, const char *ext)
{
	size_t n = strlen(path), m = strlen(ext);

	return n > m && strcasecmp(path + n - m, ext) == 0 && path[n - m - 1] != '/';
}

static int parse_config(struct file_conn *fc, const json_t *cfg, const char *base_dir,
			struct err *e)
{
	const char *key, *path, *format, *field, *type;
	char shown[SHOW_CAP];
	json_t *v;
	int rc = -1;

	if (!json_is_object(cfg)) {
		err_set(e, ERR_CONFIG, "source: expected an object");
		goto out;
	}
	json_object_foreach((json_t *)cfg, key, v) {
		size_t i;

		for (i = 0; cfg_keys[i]; i++)
			if (strcmp(key, cfg_keys[i]) == 0)
				break;
		if (!cfg_keys[i]) {
			show_str(shown, key);
			err_set(e, ERR_CONFIG, "source.%s: unknown key (expected type, path, format, "
				"key, max_field_bytes, max_record_bytes, delimiter or columns)", shown);
			goto out;
		}
	}
	if (cfg_string(cfg, "type", &type, e) < 0)
		goto out;
	if (type && strcmp(type, "file") != 0) {
		show_str(shown, type);
		err_set(e, ERR_CONFIG, "source.type: expected \"file\", got \"%s\"", shown);
		goto out;
	}
	if (cfg_string(cfg, "path", &path, e) < 0)
		goto out;
	if (!path) {
		err_set(e, ERR_CONFIG, "source.path: missing (the catalog file to read)");
		goto out;
	}
	if (!(fc->path = strdup(path)))
		goto nomem;
	if (path[0] == '/' || !base_dir || !base_dir[0])
		fc->full_path = strdup(path);
	else if (asprintf(&fc->full_path, "%s%s%s", base_dir,
			  base_dir[strlen(base_dir) - 1] == '/' ? "" : "/", path) < 0)
		fc->full_path = NULL;
	if (!fc->full_path)
		goto nomem;

	v = json_object_get(cfg, "format");
	format = json_string_value(v);
	if (v && !(format && (strcmp(format, "jsonl") == 0 || strcmp(format, "csv") == 0))) {
		char got[SHOW_JSON_CAP];

		show_json(got, v);
		err_set(e, ERR_CONFIG, "source.format: expected \"jsonl\" or \"csv\", got %s", got);
		goto out;
	}
	if (format)
		fc->format = strcmp(format, "csv") == 0 ? FMT_CSV : FMT_JSONL;
	else if (has_ext(path, ".jsonl") || has_ext(path, ".ndjson"))
		fc->format = FMT_JSONL;
	else if (has_ext(path, ".csv"))
		fc->format = FMT_CSV;
	else {
		show_str(shown, path);
		err_set(e, ERR_CONFIG, "source.format: cannot tell the format of \"%s\" from its "
			"extension; set \"jsonl\" or \"csv\"", shown);
		goto out;
	}

	if (cfg_string(cfg, "key", &field, e) < 0)
		goto out;
	if (!(fc->key = strdup(field ? field : "sku")))
		goto nomem;
	if (cfg_size(cfg, "max_field_bytes", DEFAULT_MAX_FIELD, &fc->max_field, e) < 0 ||
	    cfg_size(cfg, "max_record_bytes", DEFAULT_MAX_RECORD, &fc->max_record, e) < 0)
		goto out;

	fc->delim = ',';
	v = json_object_get(cfg, "delimiter");
	if (v) {
		const char *d = json_string_value(v);

		if (fc->format != FMT_CSV) {
			err_set(e, ERR_CONFIG, "source.delimiter: only for format \"csv\"");
			goto out;
		}
		if (!d || json_string_length(v) != 1 || (unsigned char)d[0] >= 0x80 ||
		    d[0] == '"' || d[0] == '\r' || d[0] == '\n') {
			char got[SHOW_JSON_CAP];

			show_json(got, v);
			err_set(e, ERR_CONFIG, "source.delimiter: expected one ASCII character other "
				"than a quote or a line break, got %s", got);
			goto out;
		}
		fc->delim = d[0];
	}
	v = json_object_get(cfg, "columns");
	if (v) {
		const char *from;
		json_t *to;

		if (fc->format != FMT_CSV) {
			err_set(e, ERR_CONFIG, "source.columns: only for format \"csv\"");
			goto out;
		}
		if (!json_is_object(v)) {
			err_set(e, ERR_CONFIG, "source.columns: expected an object mapping CSV "
				"header names to field names, got %s", kind(v));
			goto out;
		}
		json_object_foreach(v, from, to) {
			if (!json_is_string(to) || json_string_length(to) == 0 ||
			    strlen(json_string_value(to)) != json_string_length(to)) {
				char got[SHOW_JSON_CAP];

				show_json(got, to);
				show_str(shown, from);
				err_set(e, ERR_CONFIG, "source.columns.\"%s\": expected a non-empty "
					"field name, got %s", shown, got);
				goto out;
			}
		}
	}
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory reading the source configuration");
out:
	return rc;
}

/* ---- JSONL ------------------------------------------------------------- */

/* The top-level key whose value holds byte off of the JSON text p[0..n), as
 * far as a quick scan can tell (the text may be broken).  Writes the key, as
 * shown in messages, to name and returns true when there is one. */
static bool key_at(const char *p, size_t n, size_t off, char *name)
{
	size_t depth = 0, key_start = 0, key_len = 0, str_start = 0;
	bool in_str = false, esc = false, expect_key = false, is_key = false;
	bool have_key = false;

	for (size_t i = 0; i < off && i < n; i++) {
		char c = p[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"') {
				in_str = false;
				if (is_key) {
					key_start = str_start;
					key_len = i - str_start;
					have_key = true;
				}
			}
			continue;
		}
		switch (c) {
		case '"':
			in_str = true;
			str_start = i + 1;
			is_key = depth == 1 && expect_key;
			break;
		case '{':
		case '[':
			depth++;
			if (depth == 1)
				expect_key = c == '{';
			break;
		case '}':
		case ']':
			if (depth)
				depth--;
			break;
		case ',':
			if (depth == 1)
				expect_key = true;
			break;
		case ':':
			if (depth == 1)
				expect_key = false;
			break;
		default:
			break;
		}
	}
	if (!have_key || depth == 0 || (in_str && is_key) || (depth == 1 && expect_key))
		return false;
	show_quoted(name, p + key_start, key_len);
	return true;
}

/* The size of a field for max_field_bytes: a string's bytes; for arrays and
 * objects, the strings and keys inside them. */
static size_t value_size(json_t *v)
{
	size_t n = 0, i;
	const char *k;
	json_t *x;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_length(v);
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			n += value_size(x);
		return n;
	case JSON_OBJECT:
		json_object_foreach(v, k, x)
			n += strlen(k) + value_size(x);
		return n;
	default:
		return 0;
	}
}

/* The SKU of a parsed record: 0 and *sku new, 1 and r failed (the key field
 * is missing or unusable), or -1 when memory runs out. */
static int jsonl_sku(const struct file_conn *fc, json_t *obj, struct record *r)
{
	json_t *v = json_object_get(obj, fc->key);
	char key[SHOW_CAP], buf[32];

	show_str(key, fc->key);
	if (!v)
		return fail(r, "missing key field \"%s\"", key) < 0 ? -1 : 1;
	if (json_is_string(v)) {
		if (all_space(json_string_value(v), json_string_length(v)))
			return fail(r, "key field \"%s\" is empty", key) < 0 ? -1 : 1;
		r->sku = strdup(json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		r->sku = strdup(buf);
	} else {
		return fail(r, "key field \"%s\" must be a string or an integer, got %s",
			    key, kind(v)) < 0 ? -1 : 1;
	}
	return r->sku ? 0 : -1;
}

/* After a bad byte at off in a field other than the key, the SKU may still
 * be usable: parse a copy with the bad bytes (and NULs) replaced by '?' and
 * take its key field.  Leaves r->sku NULL when that does not work; -1 only
 * when memory runs out. */
static int salvage_sku(const struct file_conn *fc, const struct line *l, size_t off,
		       struct record *r)
{
	char name[SHOW_CAP], key[SHOW_CAP];
	char *copy = NULL;
	json_t *obj = NULL, *v;
	size_t i = 0, bad;
	int rc = -1;

	show_str(key, fc->key);
	if (!key_at(l->data, l->len, off, name) || strcmp(name, key) == 0) {
		rc = 0;
		goto out;
	}
	if (!(copy = malloc(l->len ? l->len : 1)))
		goto out;
	memcpy(copy, l->data, l->len);
	for (size_t k = 0; k < l->len; k++)
		if (copy[k] == '\0')
			copy[k] = '?';
	while (i < l->len && !utf8_valid(copy + i, l->len - i, &bad)) {
		copy[i + bad] = '?';
		i += bad + 1;
	}
	obj = json_loadb(copy, l->len, JSON_REJECT_DUPLICATES, NULL);
	v = json_object_get(obj, fc->key);
	if (json_is_string(v) && !all_space(json_string_value(v), json_string_length(v)) &&
	    !(r->sku = strdup(json_string_value(v))))
		goto out;
	if (json_is_integer(v) && asprintf(&r->sku, "%" JSON_INTEGER_FORMAT,
					   json_integer_value(v)) < 0) {
		r->sku = NULL;
		goto out;
	}
	rc = 0;
out:
	json_decref(obj);
	free(copy);
	return rc;
}

/* Turn one non-blank line into r: -1 only when memory runs out. */
static int jsonl_record(struct file_conn *fc, const struct line *l, struct record *r)
{
	json_t *obj = NULL, *v;
	json_error_t jerr;
	char name[SHOW_CAP];
	const char *nul, *k;
	size_t bad;
	int rc = -1, got;

	if (set_origin(fc, r, l->lineno) < 0)
		goto out;
	if (l->too_long) {
		rc = fail(r, "record is %zu bytes, limit %zu", l->full_len, fc->max_record);
		goto out;
	}
	nul = memchr(l->data, '\0', l->len);
	if (!utf8_valid(l->data, nul ? (size_t)(nul - l->data) : l->len, &bad)) {
		if (key_at(l->data, l->len, bad, name))
			rc = fail(r, "field \"%s\": invalid UTF-8 at byte %zu", name, bad + 1);
		else
			rc = fail(r, "invalid UTF-8 at byte %zu", bad + 1);
		if (rc == 0)
			rc = salvage_sku(fc, l, bad, r);
		goto out;
	}
	if (nul) {
		bad = (size_t)(nul - l->data);
		if (key_at(l->data, l->len, bad, name))
			rc = fail(r, "field \"%s\": NUL byte at byte %zu", name, bad + 1);
		else
			rc = fail(r, "NUL byte at byte %zu", bad + 1);
		if (rc == 0)
			rc = salvage_sku(fc, l, bad, r);
		goto out;
	}
	obj = json_loadb(l->data, l->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!obj) {
		if (json_error_code(&jerr) == json_error_null_character &&
		    key_at(l->data, l->len, (size_t)jerr.position, name))
			rc = fail(r, "field \"%s\": NUL character (\\u0000) at column %d",
				  name, jerr.column);
		else if (json_error_code(&jerr) == json_error_null_character)
			rc = fail(r, "NUL character (\\u0000) at column %d", jerr.column);
		else
			rc = fail(r, "malformed JSON at column %d: %s", jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(obj)) {
		rc = fail(r, "not a JSON object (got %s)", kind(obj));
		goto out;
	}
	got = jsonl_sku(fc, obj, r);
	if (got != 0) {
		rc = got > 0 ? 0 : -1;
		goto out;
	}
	json_object_foreach(obj, k, v) {
		size_t size = value_size(v);

		if (size > fc->max_field) {
			show_str(name, k);
			rc = fail(r, "field \"%s\" is %zu bytes, limit %zu", name, size,
				  fc->max_field);
			goto out;
		}
	}
	r->fields = obj;
	obj = NULL;
	rc = 0;
out:
	json_decref(obj);
	return rc;
}

/* ---- CSV --------------------------------------------------------------- */

/* How a message names cell col (1-based): field "name" (column 3). */
static void describe_col(const struct file_conn *fc, size_t col, char *dst, size_t cap)
{
	char name[SHOW_CAP];

	if (col >= 1 && col <= fc->ncols) {
		show_str(name, fc->names[col - 1]);
		snprintf(dst, cap, "field \"%s\" (column %zu)", name, col);
	} else {
		snprintf(dst, cap, "column %zu", col);
	}
}

/* What is wrong with a stored cell's bytes, or false: msg gets the rest of
 * a sentence that starts with the cell's name (" is 9 bytes...", ": NUL..."). */
static bool cell_problem(const struct file_conn *fc, const struct csv_row *row,
			 const struct csv_cell *cell, char *msg, size_t cap)
{
	const char *p = row->data + cell->off;
	const char *nul;
	size_t bad;

	if (cell->full_len > fc->max_field) {
		snprintf(msg, cap, " is %zu bytes, limit %zu", cell->full_len, fc->max_field);
		return true;
	}
	nul = memchr(p, '\0', cell->len);
	if (!utf8_valid(p, nul ? (size_t)(nul - p) : cell->len, &bad)) {
		snprintf(msg, cap, ": invalid UTF-8 at byte %zu of the cell", bad + 1);
		return true;
	}
	if (nul) {
		snprintf(msg, cap, ": NUL byte at byte %zu of the cell", (size_t)(nul - p) + 1);
		return true;
	}
	return false;
}

struct named_col {
	const char *name;
	size_t col;   /* 1-based */
};

static int named_col_cmp(const void *a, const void *b)
{
	const struct named_col *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->col < y->col ? -1 : x->col > y->col;
}

/* The first name used twice in names[0..n): true, with the two columns. */
static int find_duplicate(char **names, size_t n, size_t *first, size_t *second,
			  bool *found, struct err *e)
{
	struct named_col *cols = malloc((n ? n : 1) * sizeof *cols);

	*found = false;
	if (!cols)
		return err_set(e, ERR_NOMEM, "out of memory checking %zu csv columns", n);
	for (size_t i = 0; i < n; i++) {
		cols[i].name = names[i];
		cols[i].col = i + 1;
	}
	qsort(cols, n, sizeof *cols, named_col_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(cols[i - 1].name, cols[i].name) == 0 &&
		    (!*found || cols[i - 1].col < *first)) {
			*first = cols[i - 1].col;
			*second = cols[i].col;
			*found = true;
		}
	}
	free(cols);
	return 0;
}

/* Read the header row at open: field names, renaming, the key column. */
static int csv_header(struct file_conn *fc, const json_t *columns, struct err *e)
{
	struct csv_row row;
	char name[SHOW_CAP], msg[256];
	size_t first = 0, second = 0;
	bool dup;
	int rc = -1, got;

	got = csv_reader_next(fc->csv, &row, e);
	if (got < 0) {
		err_prefix(e, "%s", fc->full_path);
		goto out;
	}
	if (got == 0) {
		err_set(e, ERR_SOURCE, "%s: no header row (the file is empty)", fc->full_path);
		goto out;
	}
	if (row.error) {
		err_set(e, ERR_SOURCE, "%s:%zu: header: column %zu: %s", fc->path, row.lineno,
			row.error_col, row.error);
		goto out;
	}
	if (row.bytes > fc->max_record) {
		err_set(e, ERR_SOURCE, "%s:%zu: header is %zu bytes, limit %zu", fc->path,
			row.lineno, row.bytes, fc->max_record);
		goto out;
	}
	if (row.ncells > row.nstored) {
		err_set(e, ERR_SOURCE, "%s:%zu: header has %zu columns, limit %zu", fc->path,
			row.lineno, row.ncells, CSV_MAX_COLUMNS);
		goto out;
	}
	if (!(fc->names = calloc(row.ncells, sizeof *fc->names)))
		goto nomem;
	for (size_t i = 0; i < row.ncells; i++) {
		const struct csv_cell *cell = &row.cells[i];
		const char *p = row.data + cell->off;
		size_t n = cell->len;

		if (cell_problem(fc, &row, cell, msg, sizeof msg)) {
			err_set(e, ERR_SOURCE, "%s:%zu: header column %zu%s", fc->path,
				row.lineno, i + 1, msg);
			goto out;
		}
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0) {
			err_set(e, ERR_SOURCE, "%s:%zu: header column %zu is empty", fc->path,
				row.lineno, i + 1);
			goto out;
		}
		for (size_t k = 0; k < n; k++) {
			if ((unsigned char)p[k] < 0x20 || p[k] == 0x7f) {
				err_set(e, ERR_SOURCE, "%s:%zu: header column %zu holds control "
					"byte 0x%02x%s", fc->path, row.lineno, i + 1,
					(unsigned char)p[k], p[k] == '\r' ? " (lines must end in \\n "
					"or \\r\\n; old Mac CR-only files are not supported)" : "");
				goto out;
			}
		}
		if (!(fc->names[i] = strndup(p, n)))
			goto nomem;
		fc->ncols++;
	}
	if (find_duplicate(fc->names, fc->ncols, &first, &second, &dup, e) < 0)
		goto out;
	if (dup) {
		show_str(name, fc->names[first - 1]);
		err_set(e, ERR_SOURCE, "%s:%zu: header columns %zu and %zu are both \"%s\"",
			fc->path, row.lineno, first, second, name);
		goto out;
	}
	if (columns) {
		const char *from;
		json_t *to;
		char **renamed = calloc(fc->ncols, sizeof *renamed);

		if (!renamed)
			goto nomem;
		json_object_foreach((json_t *)columns, from, to) {
			size_t i;

			for (i = 0; i < fc->ncols; i++)
				if (strcmp(fc->names[i], from) == 0)
					break;
			if (i == fc->ncols) {
				show_str(name, from);
				err_set(e, ERR_CONFIG, "source.columns.\"%s\": no such column in the "
					"header of %s", name, fc->path);
				free(renamed);
				goto out;
			}
			renamed[i] = (char *)json_string_value(to);
		}
		for (size_t i = 0; i < fc->ncols; i++) {
			char *s;

			if (!renamed[i])
				continue;
			if (!(s = strdup(renamed[i]))) {
				free(renamed);
				goto nomem;
			}
			free(fc->names[i]);
			fc->names[i] = s;
		}
		free(renamed);
		if (find_duplicate(fc->names, fc->ncols, &first, &second, &dup, e) < 0)
			goto out;
		if (dup) {
			show_str(name, fc->names[first - 1]);
			err_set(e, ERR_CONFIG, "source.columns: columns %zu and %zu of %s would "
				"both be field \"%s\"", first, second, fc->path, name);
			goto out;
		}
	}
	for (fc->key_col = 0; fc->key_col < fc->ncols; fc->key_col++)
		if (strcmp(fc->names[fc->key_col], fc->key) == 0)
			break;
	if (fc->key_col == fc->ncols) {
		show_str(name, fc->key);
		err_set(e, ERR_SOURCE, "%s:%zu: no column for the key field \"%s\" in the header "
			"(see source.key and source.columns)", fc->path, row.lineno, name);
		goto out;
	}
	csv_reader_set_max_cells(fc->csv, fc->ncols);
	rc = 0;
	goto out;
nomem:
	err_set(e, ERR_NOMEM, "out of memory reading the header of %s", fc->path);
out:
	return rc;
}

/* Turn one CSV row into r: -1 only when memory runs out. */
static int csv_record(struct file_conn *fc, const struct csv_row *row, struct record *r)
{
	const struct csv_cell *kc = NULL;
	json_t *obj = NULL;
	char col[SHOW_CAP + 64], msg[256], key[SHOW_CAP];
	int rc = -1;

	if (set_origin(fc, r, row->lineno) < 0)
		goto out;
	show_str(key, fc->key);
	/* the SKU, when the key cell came through whole and clean, even if
	 * the row fails for another reason */
	if (row->nstored > fc->key_col &&
	    (row->error ? row->error_col > fc->key_col + 1 : row->ncells == fc->ncols)) {
		kc = &row->cells[fc->key_col];
		if (kc->truncated || cell_problem(fc, row, kc, msg, sizeof msg))
			kc = NULL;
	}
	if (kc && kc->len && !all_space(row->data + kc->off, kc->len) &&
	    !(r->sku = strndup(row->data + kc->off, kc->len)))
		goto out;

	if (row->error) {
		describe_col(fc, row->error_col, col, sizeof col);
		rc = fail(r, "%s: %s", col, row->error);
		goto out;
	}
	if (row->bytes > fc->max_record) {
		rc = fail(r, "record is %zu bytes, limit %zu", row->bytes, fc->max_record);
		goto out;
	}
	if (row->ncells != fc->ncols) {
		rc = fail(r, "row has %zu cells, header has %zu", row->ncells, fc->ncols);
		goto out;
	}
	for (size_t i = 0; i < fc->ncols; i++) {
		if (cell_problem(fc, row, &row->cells[i], msg, sizeof msg)) {
			describe_col(fc, i + 1, col, sizeof col);
			rc = fail(r, "%s%s", col, msg);
			goto out;
		}
	}
	kc = &row->cells[fc->key_col];
	if (!kc->quoted && kc->len == 0) {
		rc = fail(r, "missing key field \"%s\"", key);
		goto out;
	}
	if (!r->sku) {
		rc = fail(r, "key field \"%s\" is empty", key);
		goto out;
	}
	if (!(obj = json_object()))
		goto out;
	for (size_t i = 0; i < fc->ncols; i++) {
		const struct csv_cell *cell = &row->cells[i];

		if (!cell->quoted && cell->len == 0)
			continue;   /* an empty unquoted cell: the field is missing */
		if (json_object_set_new(obj, fc->names[i],
					json_stringn_nocheck(row->data + cell->off, cell->len)) < 0)
			goto out;
	}
	r->fields = obj;
	obj = NULL;
	rc = 0;
out:
	json_decref(obj);
	return rc;
}

/* ---- the connector ----------------------------------------------------- */

static void file_close(struct conn *c)
{
	struct file_conn *fc = (struct file_conn *)c;

	if (!fc)
		return;
	line_reader_free(fc->lines);
	csv_reader_free(fc->csv);
	if (fc->fd >= 0)
		close(fc->fd);
	for (size_t i = 0; fc->names && i < fc->ncols; i++)
		free(fc->names[i]);
	free(fc->names);
	free(fc->key);
	free(fc->path);
	free(fc->full_path);
	free(fc->base_dir);
	free(fc);
}

static int file_open(struct conn **out, const json_t *cfg, const struct conn_open_opts *o,
		     struct err *e)
{
	struct file_conn *fc;
	struct stat st;
	int rc = -1;

	*out = NULL;
	fc = calloc(1, sizeof *fc);
	if (!fc)
		return err_set(e, ERR_NOMEM, "out of memory opening a file source");
	fc->base.ops = &conn_file_ops;
	fc->fd = -1;
	fc->base_dir = strdup(o->base_dir ? o->base_dir : ".");
	if (!fc->base_dir) {
		free(fc);
		return err_set(e, ERR_NOMEM, "out of memory opening a file source");
	}
	if (parse_config(fc, cfg, o->base_dir, e) < 0)
		goto out;
	fc->fd = open(fc->full_path, O_RDONLY | O_CLOEXEC);
	if (fc->fd < 0) {
		err_set(e, ERR_SOURCE, "cannot open %s: %s", fc->full_path, strerror(errno));
		goto out;
	}
	if (fstat(fc->fd, &st) < 0) {
		err_set(e, ERR_SOURCE, "cannot read %s: %s", fc->full_path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err_set(e, ERR_SOURCE, "cannot read %s: %s", fc->full_path, strerror(EISDIR));
		goto out;
	}
	if (fc->format == FMT_JSONL) {
		if (line_reader_new(&fc->lines, fc->fd, fc->max_record, e) < 0)
			goto out;
	} else {
		if (csv_reader_new(&fc->csv, fc->fd, fc->delim, fc->max_field, fc->max_record,
				   CSV_MAX_COLUMNS, e) < 0)
			goto out;
		if (csv_header(fc, json_object_get(cfg, "columns"), e) < 0)
			goto out;
	}
	*out = &fc->base;
	fc = NULL;
	rc = 0;
out:
	file_close(fc ? &fc->base : NULL);
	return rc;
}

static int file_next(struct conn *c, struct record_batch *b, struct err *e)
{
	struct file_conn *fc = (struct file_conn *)c;
	int rc = -1;

	record_batch_reset(b);
	if (b->cap == 0) {
		err_set(e, ERR_INTERNAL, "record batch for %s has no room", fc->path);
		goto out;
	}
	while (b->len < b->cap) {
		struct record *r = &b->items[b->len];
		int got, made;

		if (fc->format == FMT_JSONL) {
			struct line l;

			got = line_reader_next(fc->lines, &l, e);
			if (got < 0)
				goto read_failed;
			if (got == 0)
				break;
			if (!l.too_long && all_space(l.data, l.len))
				continue;
			b->len++;
			made = jsonl_record(fc, &l, r);
		} else {
			struct csv_row row;

			got = csv_reader_next(fc->csv, &row, e);
			if (got < 0)
				goto read_failed;
			if (got == 0)
				break;
			b->len++;
			made = csv_record(fc, &row, r);
		}
		if (made < 0) {
			err_set(e, ERR_NOMEM, "out of memory reading %s", fc->path);
			goto out;
		}
	}
	rc = 0;
	goto out;
read_failed:
	err_prefix(e, "%s", fc->full_path);
out:
	if (rc < 0)
		record_batch_reset(b);
	return rc;
}

size_t conn_file_buffer_peak(const struct conn *c)
{
	const struct file_conn *fc = (const struct file_conn *)c;

	if (fc->lines)
		return line_reader_peak(fc->lines);
	return fc->csv ? csv_reader_peak(fc->csv) : 0;
}

const char *conn_file_base_dir(const struct conn *c)
{
	return ((const struct file_conn *)c)->base_dir;
}

const char *conn_file_key(const struct conn *c)
{
	return ((const struct file_conn *)c)->key;
}

const struct conn_ops conn_file_ops = {
	.name = "file",
	.version = "1",
	.open = file_open,
	.next = file_next,
	.check_target = conn_file_check_target,
	.write = conn_file_write,
	.close = file_close,
};
