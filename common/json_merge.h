/* json_merge.h: union of two projections of the same JSON document. */
#ifndef SKUGEN_JSON_MERGE_H
#define SKUGEN_JSON_MERGE_H

#include <jansson.h>

/* Merge src into dst, both projections of one document (the subsets that
 * two templates read): objects merge key by key, arrays element by element,
 * anything else keeps src's value.  Returns dst's new value (a new
 * reference, dst's is stolen), or NULL on no memory.  src is borrowed. */
json_t *json_merge_projection(json_t *dst, const json_t *src);

#endif
