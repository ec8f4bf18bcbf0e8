/* json_merge.c: union of projections (see json_merge.h). */
#include "common/json_merge.h"

json_t *json_merge_projection(json_t *dst, const json_t *src)
{
	if (!dst)
		return json_deep_copy(src);
	if (json_is_object(dst) && json_is_object(src)) {
		const char *k;
		json_t *v;

		json_object_foreach((json_t *)src, k, v) {
			json_t *merged = json_merge_projection(json_incref(json_object_get(dst, k)), v);

			if (!merged || json_object_set_new(dst, k, merged) < 0) {
				json_decref(dst);
				return NULL;
			}
		}
		return dst;
	}
	if (json_is_array(dst) && json_is_array(src) && json_array_size(dst) == json_array_size(src)) {
		for (size_t i = 0; i < json_array_size(src); i++) {
			json_t *merged = json_merge_projection(json_incref(json_array_get(dst, i)),
							       json_array_get(src, i));

			if (!merged || json_array_set_new(dst, i, merged) < 0) {
				json_decref(dst);
				return NULL;
			}
		}
		return dst;
	}
	json_decref(dst);
	return json_deep_copy(src);
}
