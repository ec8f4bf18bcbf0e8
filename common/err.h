/* err.h: the error record every fallible skugen function fills.
 *
 * Convention (DESIGN.md, house style): a function returns 0 on success or -1
 * on failure and, on failure, fills the caller's struct err with a code and a
 * message.  Messages say what failed and on what, in lowercase, with no full
 * stop: "catalog.jsonl:17: sku \"A-1\": field \"price\": not a number".
 * Library code never prints and never exits; the CLI decides what to do.
 */
#ifndef SKUGEN_ERR_H
#define SKUGEN_ERR_H

#include <stddef.h>

enum err_code {
	ERR_OK = 0,
	ERR_INTERNAL,   /* a bug or an impossible state */
	ERR_NOMEM,      /* allocation failed */
	ERR_USAGE,      /* bad command line */
	ERR_CONFIG,     /* bad configuration file or environment */
	ERR_INPUT,      /* bad data in one record: fails that record only */
	ERR_TEMPLATE,   /* a template does not parse or does not render */
	ERR_IO,         /* a file or process could not be read, written or run */
	ERR_STORE,      /* the Postgres store is unreachable or refused a query */
	ERR_SOURCE,     /* the system of record is unreachable */
	ERR_GENERATE,   /* a generator failed on one task */
};

#define ERR_MSG_MAX 1024

struct err {
	enum err_code code;
	char msg[ERR_MSG_MAX];
};

/* Clear e (code ERR_OK, empty message).  e may be NULL. */
void err_clear(struct err *e);

/* Set code and a printf-style message; always returns -1 so that callers can
 * write `return err_set(e, ERR_IO, "...")`.  e may be NULL. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend context: "ctx: <old message>".  Keeps the code.  Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The name of a code, e.g. "input", for reports and logs. */
const char *err_code_name(enum err_code code);

#endif
