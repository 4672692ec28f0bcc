/* The SQL migrations embedded at build time, in increasing version order: each brings
 * user_version to its version. */
#pragma once

typedef struct SchemaMigration {
    unsigned version;
    const char *name;
    const char *sql;
} SchemaMigration;

extern const SchemaMigration schema_migrations[];
extern const unsigned schema_migrations_count;
extern const unsigned schema_migrations_latest; /* the version of the last migration */
