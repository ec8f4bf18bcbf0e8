/* watermark.c: sources' high-water marks in the store (see watermark.h). */
#include "batch/watermark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void watermark_key(const char *connector, const json_t *source_cfg, char key[WATERMARK_KEY_LEN])
{
	char *canon = json_dumps(source_cfg, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	char hex[HASH_HEX_LEN];

	sha256_hex(canon ? canon : "", canon ? strlen(canon) : 0, hex);
	free(canon);
	snprintf(key, WATERMARK_KEY_LEN, "%.40s:%s", connector, hex);
}

int watermark_get(struct store *st, const char *key, char **value, struct err *e)
{
	const char *params[1] = { key };
	PGresult *r = store_query(st, "select value from skugen.watermarks where source_key = $1", 1, params, e);

	*value = NULL;
	if (!r)
		return -1;
	if (PQntuples(r) == 1)
		*value = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int watermark_set(struct store *st, const char *key, const char *connector, const char *value,
		  long run_id, struct err *e)
{
	char run[32];
	const char *params[4] = { key, connector, value, run };

	snprintf(run, sizeof run, "%ld", run_id);
	return store_exec(st, "insert into skugen.watermarks (source_key, source, value, run_id)"
			      " values ($1, $2, $3, $4) on conflict (source_key) do update"
			      " set value = excluded.value, run_id = excluded.run_id, updated_at = now()",
			  4, params, e);
}
