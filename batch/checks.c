/* checks.c: length, banned words, grounded numbers, duplicates (see checks.h). */
#include "batch/checks.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#define NUMBERS_SHOWN 5

struct checks {
	long long min_length, max_length;   /* 0: not checked */
	char **banned;                      /* ASCII-lowercased phrases */
	size_t n_banned;
	bool grounded_numbers;
	bool duplicates;
};

static const char *const checks_keys[] = {
	"min_length", "max_length", "banned_words", "grounded_numbers", "duplicates", NULL,
};

void checks_free(struct checks *ch)
{
	if (!ch)
		return;
	for (size_t i = 0; i < ch->n_banned; i++)
		free(ch->banned[i]);
	free(ch->banned);
	free(ch);
}

int checks_compile(const struct config *c, const json_t *obj, const char *objpath,
		   struct checks **out, struct err *e)
{
	struct checks *ch;
	json_t *banned = NULL, *w;
	char path[128];
	size_t i;

	*out = NULL;
	if (!obj)
		return 0;
	if (!json_is_object(obj))
		return config_error(c, e, objpath, "expected an object");
	ch = calloc(1, sizeof *ch);
	if (!ch)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (config_check_keys(c, obj, objpath, checks_keys, e) < 0 ||
	    config_int(c, obj, objpath, "min_length", 0, 0, 1000000000, &ch->min_length, e) < 0 ||
	    config_int(c, obj, objpath, "max_length", 0, 0, 1000000000, &ch->max_length, e) < 0 ||
	    config_bool(c, obj, objpath, "grounded_numbers", false, &ch->grounded_numbers, e) < 0 ||
	    config_bool(c, obj, objpath, "duplicates", false, &ch->duplicates, e) < 0 ||
	    config_string_array(c, obj, objpath, "banned_words", &banned, e) < 0)
		goto fail;
	if (ch->max_length && ch->min_length > ch->max_length) {
		snprintf(path, sizeof path, "%s.min_length", objpath);
		config_error(c, e, path, "%lld is more than max_length (%lld)", ch->min_length, ch->max_length);
		goto fail;
	}
	ch->banned = calloc(json_array_size(banned) + 1, sizeof *ch->banned);
	if (!ch->banned) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(banned, i, w) {
		const char *word = json_string_value(w);
		size_t n = strspn(word, " \t");

		if (word[n] == '\0') {
			snprintf(path, sizeof path, "%s.banned_words[%zu]", objpath, i);
			config_error(c, e, path, "a banned word must not be empty");
			goto fail;
		}
		ch->banned[ch->n_banned] = strdup(word);
		if (!ch->banned[ch->n_banned]) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto fail;
		}
		for (char *p = ch->banned[ch->n_banned]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		ch->n_banned++;
	}
	*out = ch;
	return 0;
fail:
	checks_free(ch);
	return -1;
}

bool checks_want_duplicates(const struct checks *ch)
{
	return ch && ch->duplicates;
}

/* Non-ASCII bytes belong to letters as far as word boundaries go. */
static bool word_byte(unsigned char b)
{
	return b >= 0x80 || isalnum(b);
}

static size_t code_points(const char *p, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)p[i] & 0xC0) != 0x80)
			count++;
	return count;
}

/* Whether phrase (lowercase) occurs in text as whole words. */
static bool has_phrase(const char *text, size_t len, const char *phrase)
{
	size_t plen = strlen(phrase);

	for (size_t i = 0; i + plen <= len; i++) {
		size_t k = 0;

		while (k < plen && tolower((unsigned char)text[i + k]) == (unsigned char)phrase[k])
			k++;
		if (k < plen)
			continue;
		if (i > 0 && word_byte((unsigned char)text[i - 1]) && word_byte((unsigned char)phrase[0]))
			continue;
		if (i + plen < len && word_byte((unsigned char)text[i + plen]) &&
		    word_byte((unsigned char)phrase[plen - 1]))
			continue;
		return true;
	}
	return false;
}

/* The numbers of a text: runs of digits with "." or "," between digits.
 * Each token is read in both conventions: "1,5" is 1.5 (German) or 15 (a
 * thousands separator); the caller gets both readings. */
struct number {
	char text[40];
	double en, de;   /* "," as thousands separator / "." as thousands separator */
	int digits;
};

static double reading(const char *tok, size_t n, char thousands)
{
	char tmp[40];
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < sizeof tmp; i++) {
		if (tok[i] == thousands)
			continue;
		tmp[k++] = tok[i] == ',' ? '.' : tok[i];
	}
	tmp[k] = '\0';
	return strtod(tmp, NULL);
}

/* Call fn for each number in text; stops early when fn returns false. */
static void each_number(const char *text, size_t len, bool (*fn)(const struct number *, void *),
			void *ctx)
{
	size_t i = 0;

	while (i < len) {
		struct number num;
		size_t start, end;

		if (!isdigit((unsigned char)text[i])) {
			i++;
			continue;
		}
		start = i;
		num.digits = 0;
		while (i < len && (isdigit((unsigned char)text[i]) ||
				   ((text[i] == '.' || text[i] == ',') && i + 1 < len &&
				    isdigit((unsigned char)text[i + 1]) && i > start))) {
			num.digits += isdigit((unsigned char)text[i]) != 0;
			i++;
		}
		end = i;
		if (end - start >= sizeof num.text)
			continue;   /* a run of 40 digits is an id, not a claim */
		memcpy(num.text, text + start, end - start);
		num.text[end - start] = '\0';
		num.en = reading(num.text, end - start, ',');
		num.de = reading(num.text, end - start, '.');
		if (!fn(&num, ctx))
			return;
	}
}

struct number_set {
	double *v;
	size_t n, cap;
	bool nomem;
};

static void set_add(struct number_set *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		double *nv = realloc(s->v, cap * sizeof *nv);

		if (!nv) {
			s->nomem = true;
			return;
		}
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

static bool set_has(const struct number_set *s, double v)
{
	for (size_t i = 0; i < s->n; i++)
		if (fabs(s->v[i] - v) <= 1e-9 * fmax(1.0, fabs(v)))
			return true;
	return false;
}

static bool add_number(const struct number *num, void *ctx)
{
	set_add(ctx, num->en);
	set_add(ctx, num->de);
	return true;
}

/* Every number the inputs hold: JSON numbers and numbers inside strings. */
static void input_numbers(const json_t *v, struct number_set *s)
{
	const char *key;
	json_t *item;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, item)
			input_numbers(item, s);
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, item)
			input_numbers(item, s);
		break;
	case JSON_STRING:
		each_number(json_string_value(v), json_string_length(v), add_number, s);
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		set_add(s, json_number_value(v));
		break;
	default:
		break;
	}
}

struct grounding {
	const struct number_set *inputs;
	struct buf missing;
	int checked, ungrounded;
};

static bool ground(const struct number *num, void *ctx)
{
	struct grounding *g = ctx;

	if (num->digits < 2)
		return true;
	g->checked++;
	if (set_has(g->inputs, num->en) || set_has(g->inputs, num->de))
		return true;
	if (g->ungrounded++ < NUMBERS_SHOWN)
		buf_printf(&g->missing, "%s%s", g->ungrounded > 1 ? ", " : "", num->text);
	return true;
}

/* Structured answers (a JSON object of fields) are checked on their string
 * values, one per line: a length limit is about the copy, not the keys. */
static void collect_strings(const json_t *v, struct buf *out)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v)) {
		if (out->len)
			buf_append(out, "\n", 1);
		buf_append(out, json_string_value(v), json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, item)
			collect_strings(item, out);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			collect_strings(item, out);
	}
}

static int add_result(json_t *results, const char *name, bool ok, const char *detail)
{
	return json_array_append_new(results, json_pack("{s:s, s:b, s:s}", "name", name, "ok", ok,
							 "detail", detail));
}

json_t *checks_run(const struct checks *ch, const char *content, size_t len, const json_t *input)
{
	json_t *results = json_array(), *doc = NULL;
	struct buf text = BUF_INIT, detail = BUF_INIT;
	const char *t = content;
	size_t tlen = len;
	int rc = 0;

	if (!results || !ch)
		return results;
	if (len && content[0] == '{' && (doc = json_loadb(content, len, 0, NULL)) && json_is_object(doc)) {
		collect_strings(doc, &text);
		t = buf_str(&text);
		tlen = text.len;
	}
	if (ch->min_length || ch->max_length) {
		size_t n = code_points(t, tlen);
		bool ok = (!ch->min_length || (long long)n >= ch->min_length) &&
			  (!ch->max_length || (long long)n <= ch->max_length);

		buf_reset(&detail);
		if (ch->min_length && (long long)n < ch->min_length)
			buf_printf(&detail, "%zu characters, fewer than the minimum of %lld", n, ch->min_length);
		else if (ch->max_length && (long long)n > ch->max_length)
			buf_printf(&detail, "%zu characters, more than the maximum of %lld", n, ch->max_length);
		else
			buf_printf(&detail, "%zu characters", n);
		rc |= add_result(results, "length", ok, buf_str(&detail));
	}
	if (ch->n_banned) {
		int found = 0;

		buf_reset(&detail);
		for (size_t i = 0; i < ch->n_banned; i++)
			if (has_phrase(t, tlen, ch->banned[i]))
				buf_printf(&detail, "%s\"%s\"", found++ ? ", " : "contains ", ch->banned[i]);
		if (!found)
			buf_printf(&detail, "none of %zu banned words", ch->n_banned);
		rc |= add_result(results, "banned_words", found == 0, buf_str(&detail));
	}
	if (ch->grounded_numbers) {
		struct number_set inputs = { 0 };
		struct grounding g = { .inputs = &inputs, .missing = BUF_INIT };

		if (input)
			input_numbers(input, &inputs);
		each_number(t, tlen, ground, &g);
		buf_reset(&detail);
		if (g.ungrounded)
			buf_printf(&detail, "%d of %d numbers are not in the inputs: %s%s", g.ungrounded,
				   g.checked, buf_str(&g.missing), g.ungrounded > NUMBERS_SHOWN ? ", ..." : "");
		else
			buf_printf(&detail, "%d numbers, all in the inputs", g.checked);
		rc |= add_result(results, "grounded_numbers", g.ungrounded == 0, buf_str(&detail));
		rc |= inputs.nomem ? -1 : 0;
		free(inputs.v);
		buf_free(&g.missing);
	}
	json_decref(doc);
	buf_free(&text);
	buf_free(&detail);
	if (rc) {
		json_decref(results);
		return NULL;
	}
	return results;
}

const char *const checks_duplicates_sql =
	"update skugen.generations g set checks = g.checks || jsonb_build_array(jsonb_build_object(\n"
	"  'name', 'duplicate', 'ok', d.sku is null,\n"
	"  'detail', case when d.sku is null then 'no other product has this text'\n"
	"    else 'the same text as ' || d.sku end))\n"
	"from (select n.id, (select o.sku from skugen.generations o\n"
	"        where o.output = n.output and o.locale = n.locale and o.sku <> n.sku\n"
	"          and o.content_sha256 = n.content_sha256 and o.status <> 'superseded'\n"
	"        order by o.id limit 1) as sku\n"
	"      from jsonb_array_elements($1::jsonb) x\n"
	"      join skugen.generations n on n.id = (x ->> 'generation_id')::bigint\n"
	"        and n.task_id = (x ->> 'task_id')::bigint\n"
	"      where (x ->> 'check_duplicates')::boolean) d\n"
	"where g.id = d.id";
