/* migrations.h: the versioned schema of the store, applied by the tool itself. */
#ifndef SKUGEN_MIGRATIONS_H
#define SKUGEN_MIGRATIONS_H

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* Ordered by version, terminated by an entry with version 0. */
extern const struct migration store_migrations[];

#endif
