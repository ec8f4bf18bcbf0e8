/* file_read.h: read a whole (small) file, such as a configuration, a
 * template or a JSON document given on the command line. */
#ifndef SKUGEN_FILE_READ_H
#define SKUGEN_FILE_READ_H

#include "common/buf.h"
#include "common/err.h"

/* Append the contents of path ("-" is standard input) to b.  ERR_IO naming
 * the path and the system's reason when it cannot be opened or read. */
int file_read_all(const char *path, struct buf *b, struct err *e);

/* The same for a path that comes from data (a catalog's photo field): it
 * must name a regular file (not a FIFO or a device: /dev/zero would fill
 * memory, a FIFO would block for ever) of at most max bytes.  ERR_INPUT
 * says which rule it broke; ERR_IO when it cannot be opened or read. */
int file_read_regular(const char *path, size_t max, struct buf *b, struct err *e);

#endif
