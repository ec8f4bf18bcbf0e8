/* gen_registry.c: the table of generators (see generator.h). */
#include "providers/generator.h"

#include <stdlib.h>
#include <string.h>

extern const struct gen_ops gen_template_ops;
extern const struct gen_ops gen_image_ops;
extern const struct gen_ops gen_video_ops;

const struct gen_ops *const gen_backends[] = {
	&gen_template_ops,
	&gen_image_ops,
	&gen_video_ops,
	NULL,
};

const struct gen_ops *gen_find(const char *type)
{
	for (size_t i = 0; gen_backends[i]; i++)
		if (strcmp(gen_backends[i]->name, type) == 0)
			return gen_backends[i];
	return NULL;
}

void gen_result_clear(struct gen_result *r)
{
	if (!r)
		return;
	buf_free(&r->content);
	free(r->provider);
	free(r->model);
	free(r->model_version);
	free(r->request_id);
	json_decref(r->params);
	free(r->asset_path);
	free(r->asset_sha256);
	memset(r, 0, sizeof *r);
}
