/* Small language helpers shared by every hvd program: cleanup attributes, array sizes, ownership.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_       __attribute__((unused))
#define _noreturn_     __attribute__((noreturn))
#define _pure_         __attribute__((pure))
#define _likely_(x)    __builtin_expect(!!(x), 1)
#define _unlikely_(x)  __builtin_expect(!!(x), 0)

/* Takes ownership of a pointer: returns its value and leaves NULL behind. */
#define TAKE_PTR(p)                 \
    ({                              \
        __typeof__(p) *_pp_ = &(p); \
        __typeof__(p) _p_ = *_pp_;  \
        *_pp_ = NULL;               \
        _p_;                        \
    })

/* Takes ownership of a file descriptor: returns it and leaves -EBADF behind. */
#define TAKE_FD(fd)         \
    ({                      \
        int *_pfd_ = &(fd); \
        int _fd_ = *_pfd_;  \
        *_pfd_ = -EBADF;    \
        _fd_;               \
    })

/* Defines func##p(type *p) that calls func(*p) when *p is not NULL, for _cleanup_. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
    static inline void func##p(type *p)         \
    {                                           \
        if (*p)                                 \
            func(*p);                           \
    }

static inline void freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void)close(*fd);
        errno = saved;
    }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
    if (*f)
        (void)fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Closes fd (if valid) and returns -EBADF, for "fd = safe_close(fd);". */
static inline int safe_close(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        (void)close(fd);
        errno = saved;
    }
    return -EBADF;
}

static inline void *mfree(void *p)
{
    free(p);
    return NULL;
}

#define streq(a, b)     (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define isempty(s)      (!(s) || (s)[0] == '\0')
#define strempty(s)     ((s) ?: "")
#define strna(s)        ((s) ?: "n/a")

#define MIN(a, b)                \
    ({                           \
        __typeof__(a) _a_ = (a); \
        __typeof__(b) _b_ = (b); \
        _a_ < _b_ ? _a_ : _b_;   \
    })
#define MAX(a, b)                \
    ({                           \
        __typeof__(a) _a_ = (a); \
        __typeof__(b) _b_ = (b); \
        _a_ > _b_ ? _a_ : _b_;   \
    })

#define FOREACH_ARRAY(i, array, num) \
    for (__typeof__(array[0]) *i = (array); (num) > 0 && i < (array) + (num); i++)
