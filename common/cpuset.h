/* CPU sets as lists ("0-3,6"): parsing, formatting and set arithmetic for pinning. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPUSET_MAX_CPUS 1024

typedef struct CpuSet {
    uint64_t bits[CPUSET_MAX_CPUS / 64];
} CpuSet;

/* Parses a list such as "0-3,6" into ret. Empty string gives the empty set. Returns 0, or
 * -EINVAL for bad syntax, reversed ranges or CPUs >= CPUSET_MAX_CPUS. */
int cpuset_parse(const char *s, CpuSet *ret);

/* Formats s in canonical form ("0-3,6") into buf of size n. Returns -ENOBUFS when it does not
 * fit; the empty set formats as "". */
int cpuset_format(const CpuSet *s, char *buf, size_t n);

void cpuset_add(CpuSet *s, unsigned cpu);
bool cpuset_has(const CpuSet *s, unsigned cpu);
unsigned cpuset_count(const CpuSet *s);
bool cpuset_is_empty(const CpuSet *s);
/* Highest CPU in s, or -1 when empty. */
int cpuset_last(const CpuSet *s);
bool cpuset_intersects(const CpuSet *a, const CpuSet *b);
