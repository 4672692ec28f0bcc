/* INI parsing with file:line error reporting. */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "ini.h"

#define INI_LINE_MAX 4096
#define INI_FILE_MAX (1024 * 1024)

static char *strip(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = 0;
    return s;
}

static int parse_line(char *line, const char *origin, char *section, size_t section_size,
                      IniHandler handler, void *userdata, Error *e)
{
    char *s = strip(line), *eq;

    if (*s == 0 || *s == '#' || *s == ';')
        return 0;

    if (*s == '[') {
        size_t n = strlen(s);
        char *name;

        if (s[n - 1] != ']')
            return error_setf(e, ERROR_INVALID_ARGUMENT, "section header is missing ']'");
        s[n - 1] = 0;
        name = strip(s + 1);
        if (*name == 0 || strlen(name) >= section_size)
            return error_setf(e, ERROR_INVALID_ARGUMENT, "bad section name");
        strcpy(section, name);
        return 0;
    }

    /* A '#' after whitespace starts a comment, so "key = value  # note" works. */
    for (char *c = s; *c; c++)
        if (*c == '#' && c > s && (c[-1] == ' ' || c[-1] == '\t')) {
            *c = 0;
            break;
        }
    eq = strchr(s, '=');
    if (!eq)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "expected 'key = value', got '%.60s'", s);
    *eq = 0;
    if (*section == 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "assignment before any [section]");
    if (*strip(s) == 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "empty key");
    return handler(section, strip(s), strip(eq + 1), origin, userdata, e);
}

int ini_parse_string(const char *text, const char *filename, IniHandler handler, void *userdata,
                     Error *e)
{
    char section[128] = "";
    unsigned lineno = 0;

    while (*text) {
        size_t len = strcspn(text, "\n");
        char line[INI_LINE_MAX], origin[PATH_MAX + 16];
        Error line_error = ERROR_NULL;
        int r;

        lineno++;
        if (len >= sizeof(line))
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s:%u: line is longer than %d bytes",
                              filename, lineno, INI_LINE_MAX - 1);
        memcpy(line, text, len);
        line[len] = 0;

        (void)snprintf(origin, sizeof(origin), "%s:%u", filename, lineno);
        r = parse_line(line, origin, section, sizeof(section), handler, userdata, &line_error);
        if (r < 0)
            return error_setf(e, line_error.kind, "%s:%u: %s", filename, lineno,
                              line_error.message);
        text += len;
        if (*text == '\n')
            text++;
    }
    return 0;
}

int ini_parse_file(const char *path, IniHandler handler, void *userdata, Error *e)
{
    _cleanup_fclose_ FILE *f = NULL;
    _cleanup_free_ char *buf = NULL;
    size_t n;

    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return -ENOENT;
        return error_set_errno(e, -errno, "%s: cannot read: %m", path);
    }
    buf = malloc(INI_FILE_MAX + 1);
    if (!buf)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    n = fread(buf, 1, INI_FILE_MAX + 1, f);
    if (ferror(f))
        return error_set_errno(e, -EIO, "%s: read error", path);
    if (n > INI_FILE_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "%s: larger than %d bytes", path,
                          INI_FILE_MAX);
    buf[n] = 0;
    if (strlen(buf) != n)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "%s: contains a NUL byte", path);
    return ini_parse_string(buf, path, handler, userdata, e);
}
