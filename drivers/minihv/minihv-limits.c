/* Which host limit a failed start hit, named as `hvctl host` names its density limits. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "minihv-internal.h"

/* The density limit an errno of fork, exec, pipe, thread or KVM creation means, or NULL. */
static const char *limit_of_errno(int err)
{
    switch (err) {
    case EMFILE:
    case ENFILE:
        return "file descriptors";
    case EAGAIN:
        return "tasks";
    case ENOMEM:
        return "host memory";
    default:
        return NULL;
    }
}

/* The text of the errnos above as strerror gives them, to find them in a VMM's last line. */
static const char *limit_in_text(const char *text)
{
    static const int errs[] = {EMFILE, ENFILE, EAGAIN, ENOMEM};

    for (size_t i = 0; i < ELEMENTSOF(errs); i++)
        if (strstr(text, strerror(errs[i])))
            return limit_of_errno(errs[i]);
    return NULL;
}

static void append_limit(char *text, size_t n, const char *limit)
{
    size_t len = strlen(text);

    if (limit && len < n)
        (void)snprintf(text + len, n - len,
                       " (the host limit '%s' was hit: `hvctl host` shows its use and room)",
                       limit);
}

void minihv_name_host_limit_errno(char *text, size_t n, int err)
{
    append_limit(text, n, limit_of_errno(err < 0 ? -err : err));
}

void minihv_name_host_limit_text(char *text, size_t n)
{
    append_limit(text, n, limit_in_text(text));
}
