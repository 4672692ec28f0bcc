/* Strict number parsing: whole string, no sign surprises, range checked. */
#pragma once

#include <stdint.h>

/* Parses a decimal unsigned integer in [min, max]. Returns 0, -EINVAL for syntax, -ERANGE. */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);

/* Same for 64-bit values. */
int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* Parses a finite decimal number in [min, max]. */
int parse_double(const char *s, double min, double max, double *ret);

/* Parses yes/no/true/false/1/0/on/off. Returns 1, 0, or -EINVAL. */
int parse_boolean(const char *s);
