/* json_locate.h: find where a key path sits in JSON text.
 *
 * jansson reports positions for syntax errors only; a configuration error
 * such as "outputs[1].generator: expected a string" must also say where in
 * the file that value is.  This scans the (already valid) text to the value
 * at a path like "outputs[1].generator" or "store.dsn".
 */
#ifndef SKUGEN_JSON_LOCATE_H
#define SKUGEN_JSON_LOCATE_H

#include <stddef.h>

/* On success returns 0 and sets the 1-based *line and *column (in bytes) of
 * the value at path (or of the deepest existing ancestor's value when the last
 * key is missing, returning 1 then).  Returns -1 when text is not valid JSON
 * along the way.  The empty path is the root value. */
int json_locate(const char *text, size_t len, const char *path, int *line, int *column);

#endif
