/* registry.c: the table of source connectors (see connector.h). */
#include "connectors/connector.h"

#include <string.h>

extern const struct conn_ops conn_file_ops;

const struct conn_ops *const conn_backends[] = {
	&conn_file_ops,
	NULL,
};

const struct conn_ops *conn_find(const char *name)
{
	for (size_t i = 0; conn_backends[i]; i++)
		if (strcmp(conn_backends[i]->name, name) == 0)
			return conn_backends[i];
	return NULL;
}
