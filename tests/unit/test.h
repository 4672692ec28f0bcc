/* A minimal unit-test harness: checks print the failing expression with file and line. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned test_checks;
static unsigned test_failures;

#define CHECK(expr)                                                                  \
    do {                                                                             \
        test_checks++;                                                               \
        if (!(expr)) {                                                               \
            test_failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
        }                                                                            \
    } while (0)

#define CHECK_STREQ(a, b)                                                                     \
    do {                                                                                      \
        const char *_a_ = (a), *_b_ = (b);                                                    \
        test_checks++;                                                                        \
        if (!_a_ || !_b_ || strcmp(_a_, _b_) != 0) {                                          \
            test_failures++;                                                                  \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
                    _a_ ? _a_ : "(null)", _b_ ? _b_ : "(null)");                              \
        }                                                                                     \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                                   \
    do {                                                                                   \
        const char *_h_ = (haystack), *_n_ = (needle);                                     \
        test_checks++;                                                                     \
        if (!_h_ || !strstr(_h_, _n_)) {                                                   \
            test_failures++;                                                               \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                    _h_ ? _h_ : "(null)", _n_);                                            \
        }                                                                                  \
    } while (0)

/* Ends main: prints a summary and returns the exit status. */
static inline int test_summary(const char *name)
{
    fprintf(stderr, "%s: %u checks, %u failed\n", name, test_checks, test_failures);
    return test_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
