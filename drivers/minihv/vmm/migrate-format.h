/* The live migration stream between two minihv processes: versioned, length-prefixed records. */
#pragma once

#include <stdint.h>

#include "snapshot-format.h"

/* One connected stream socket carries records both ways. Each record is a MigrateRecord header
 * and exactly len payload bytes. Every integer is little-endian (x86-64 hosts only).
 *
 *   source -> target   HELLO     MigrateHello: magic, format version, the domain's settings as a
 *                                saved image's header (mode, memory, vCPUs, devices, guest ABI)
 *   target -> source   ACCEPT    (empty) the settings fit and the target's VM is built
 *                      or ERROR  a message, and the target exits without running a guest
 *   source -> target   PAGES...  MigratePages and count pages of memory, while the guest runs
 *                                (a page may come again: the last copy wins)
 *   source -> target   STATE     the guest is paused: a saved image's header page and state
 *                                area (snapshot-format.h), checksummed; its settings must equal
 *                                the HELLO's. Nothing follows it.
 *   target -> source   READY     (empty) memory and state are installed, the vCPUs wait
 *                      or ERROR  the source resumes the guest
 *   source -> target   (EOF)     after READY: the source hands over and exits; the target's
 *                                vCPUs run. The source decides alone, so exactly one copy runs.
 *   source -> target   ERROR     at any time, READY included: the migration was cancelled or
 *                                failed; the target exits without running the guest
 *
 * Pages the source never sends are zero on the target. The receiver checks every length and
 * address against the HELLO's memory size before it writes a byte. */
#define MIGRATE_MAGIC          "MINIHVMG"
#define MIGRATE_MAGIC_LEN      8u
#define MIGRATE_FORMAT_VERSION 1u
#define MIGRATE_PAGE_SIZE      4096u
#define MIGRATE_PAGES_MAX      256u /* per PAGES record: 1 MiB */
#define MIGRATE_ERROR_MAX      1024u
#define MIGRATE_STATE_MAX      (SNAPSHOT_HEADER_SIZE + SNAPSHOT_STATE_MAX)

typedef enum MigrateRecordType {
    MIGRATE_REC_HELLO = 1,
    MIGRATE_REC_PAGES,
    MIGRATE_REC_STATE,
    MIGRATE_REC_ACCEPT,
    MIGRATE_REC_READY,
    MIGRATE_REC_ERROR,
    _MIGRATE_REC_MAX,
} MigrateRecordType;

typedef struct MigrateRecord {
    uint32_t type;     /* MigrateRecordType */
    uint32_t reserved; /* 0 */
    uint64_t len;      /* payload bytes that follow */
} MigrateRecord;

typedef struct MigrateHello {
    char magic[MIGRATE_MAGIC_LEN]; /* MIGRATE_MAGIC */
    uint32_t format_version;       /* MIGRATE_FORMAT_VERSION */
    uint32_t reserved;             /* 0 */
    SnapshotHeader settings;       /* as a save writes it, with an empty state area */
} MigrateHello;

typedef struct MigratePages {
    uint64_t gpa;   /* page-aligned */
    uint32_t count; /* 1..MIGRATE_PAGES_MAX pages follow, gpa + count pages <= memory size */
    uint32_t reserved;
} MigratePages;
