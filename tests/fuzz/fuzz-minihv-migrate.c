/* libFuzzer target for the target side of minihv's live migration: the stream reader (HELLO,
 * PAGES into guest memory, STATE with its image header and sections, ERROR). The input is the
 * byte stream a source would send; the checksum of each STATE record is recomputed so that
 * mutations reach the section checks. Memory is capped at 64 MiB to keep runs fast. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "migrate.h"

#define FUZZ_MEM_MAX (64ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rewrites the checksum of every STATE record of a copy of the input as a source computes it. */
static uint8_t *fuzz_fix_checksums(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    size_t at = 0;

    if (!copy)
        abort();
    memcpy(copy, data, size);
    while (size - at >= sizeof(MigrateRecord)) {
        MigrateRecord rec;
        SnapshotHeader h;
        uint8_t *p;
        uint64_t sum;

        memcpy(&rec, copy + at, sizeof(rec));
        at += sizeof(rec);
        if (rec.len > size - at)
            break;
        p = copy + at;
        at += rec.len;
        if (rec.type != MIGRATE_REC_STATE || rec.len < SNAPSHOT_HEADER_SIZE)
            continue;
        memcpy(&h, p, sizeof(h));
        if (h.state_offset != SNAPSHOT_HEADER_SIZE || h.state_size > rec.len - SNAPSHOT_HEADER_SIZE)
            continue;
        h.checksum = 0;
        memcpy(p, &h, sizeof(h));
        sum = snapshot_fnv1a(SNAPSHOT_FNV_OFFSET, p, SNAPSHOT_HEADER_SIZE);
        h.checksum = snapshot_fnv1a(sum, p + SNAPSHOT_HEADER_SIZE, h.state_size);
        memcpy(p, &h, sizeof(h));
    }
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *input = fuzz_fix_checksums(data, size);
    MigrateReader rd = {.fd = -EBADF, .buf = input, .len = size};
    Error e = ERROR_NULL;
    MigrateHello hello;
    Snapshot *s = NULL;
    GuestMem mem = {0};

    if (migrate_read_hello(&rd, &hello, &e) < 0 || hello.settings.mem_size > FUZZ_MEM_MAX)
        goto out;
    mem.size = hello.settings.mem_size;
    mem.base = mmap(NULL, mem.size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem.base == MAP_FAILED)
        abort();
    if (migrate_read_stream(&rd, &hello, &mem, &s, &e) >= 0 &&
        s->header.mem_size != hello.settings.mem_size)
        abort(); /* a state the reader accepted must fit the memory it filled */
    snapshot_free(s);
    (void)munmap(mem.base, mem.size);
out:
    free(input);
    return 0;
}
