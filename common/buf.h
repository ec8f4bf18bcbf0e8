/* buf.h: a growable byte buffer, always NUL-terminated.
 *
 * Ownership: the buffer owns data; buf_steal() hands it to the caller, who
 * frees it with free().  A zeroed struct buf (BUF_INIT) is a valid empty
 * buffer.  Append functions return 0, or -1 when memory runs out (the buffer
 * then keeps its previous contents).
 */
#ifndef SKUGEN_BUF_H
#define SKUGEN_BUF_H

#include <stddef.h>

struct buf {
	char *data;   /* NULL until the first append; then NUL-terminated */
	size_t len;   /* bytes used, not counting the terminating NUL */
	size_t cap;   /* bytes allocated */
};

#define BUF_INIT { NULL, 0, 0 }

int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Empty the buffer and keep its memory for reuse. */
void buf_reset(struct buf *b);

/* The contents as a C string: "" for an empty buffer, never NULL. */
const char *buf_str(const struct buf *b);

/* Hand the data (new, NUL-terminated, free() it) to the caller and leave b
 * empty.  Returns a new empty string for an empty buffer; NULL on no memory. */
char *buf_steal(struct buf *b);

/* Free the data; b becomes empty.  Accepts NULL. */
void buf_free(struct buf *b);

#endif
