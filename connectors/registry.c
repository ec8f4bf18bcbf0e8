/* registry.c: the table of connectors and their shared vocabulary (see
 * connector.h). */
#include "connectors/connector.h"

#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

extern const struct conn_ops conn_file_ops;
extern const struct conn_ops conn_postgres_ops;
extern const struct conn_ops conn_akeneo_ops;

const struct conn_ops *const conn_backends[] = {
	&conn_file_ops,
	&conn_postgres_ops,
	&conn_akeneo_ops,
	NULL,
};

const struct conn_ops *conn_find(const char *name)
{
	for (size_t i = 0; name && conn_backends[i]; i++)
		if (strcmp(conn_backends[i]->name, name) == 0)
			return conn_backends[i];
	return NULL;
}

static const char *const policy_names[] = {
	[CONN_OVERWRITE_NEVER] = "never",
	[CONN_OVERWRITE_IF_GENERATED] = "if_generated",
	[CONN_OVERWRITE_ALWAYS] = "always",
};

int conn_policy_parse(const char *s, enum conn_policy *out)
{
	for (size_t i = 0; i < sizeof policy_names / sizeof *policy_names; i++)
		if (s && strcmp(s, policy_names[i]) == 0) {
			*out = (enum conn_policy)i;
			return 0;
		}
	return -1;
}

const char *conn_policy_name(enum conn_policy p)
{
	return (size_t)p < sizeof policy_names / sizeof *policy_names ? policy_names[p] : "unknown";
}

const char *conn_write_status_name(enum conn_write_status s)
{
	switch (s) {
	case CONN_WRITE_PENDING: return "pending";
	case CONN_WRITE_WRITTEN: return "written";
	case CONN_WRITE_UNCHANGED: return "unchanged";
	case CONN_WRITE_REFUSED: return "refused";
	case CONN_WRITE_FAILED: return "failed";
	}
	return "unknown";
}

void conn_write_items_reset(struct conn_write_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].message);
		items[i].message = NULL;
		items[i].status = CONN_WRITE_PENDING;
	}
}

char *conn_expand(const char *pattern, const struct conn_write_item *item)
{
	struct buf b = BUF_INIT;

	for (const char *p = pattern; *p;) {
		if (strncmp(p, "{locale}", 8) == 0) {
			buf_puts(&b, item->locale ? item->locale : "");
			p += 8;
		} else if (strncmp(p, "{channel}", 9) == 0) {
			buf_puts(&b, item->channel ? item->channel : "");
			p += 9;
		} else
			buf_putc(&b, *p++);
	}
	return buf_steal(&b);
}
