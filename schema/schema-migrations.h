/* The SQL migrations embedded at build time, in order: migration i brings user_version to i+1. */
#pragma once

typedef struct SchemaMigration {
    unsigned version;
    const char *name;
    const char *sql;
} SchemaMigration;

extern const SchemaMigration schema_migrations[];
extern const unsigned schema_migrations_count;
