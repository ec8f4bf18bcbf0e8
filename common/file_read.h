/* file_read.h: read a whole (small) file, such as a configuration, a
 * template or a JSON document given on the command line. */
#ifndef SKUGEN_FILE_READ_H
#define SKUGEN_FILE_READ_H

#include "common/buf.h"
#include "common/err.h"

/* Append the contents of path ("-" is standard input) to b.  ERR_IO naming
 * the path and the system's reason when it cannot be opened or read. */
int file_read_all(const char *path, struct buf *b, struct err *e);

#endif
