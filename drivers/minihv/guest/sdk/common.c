/* SDK pieces that do not depend on the mode: command line, calendar, main() hand-off. */
#include "civil-time.h"
#include "sdk.h"

const char *sdk_cmdline = "";
uint64_t sdk_memory_size;

const char *sys_cmdline(void)
{
    return sdk_cmdline;
}

uint64_t sys_memory_size(void)
{
    return sdk_memory_size;
}

bool cmdline_word(unsigned i, char *buf, size_t len)
{
    const char *p = sdk_cmdline;

    for (;;) {
        size_t n = 0;
        while (*p == ' ')
            p++;
        if (!*p)
            return false;
        while (p[n] && p[n] != ' ')
            n++;
        if (i-- == 0) {
            if (len > 0) {
                size_t k = n < len - 1 ? n : len - 1;
                memcpy(buf, p, k);
                buf[k] = '\0';
            }
            return true;
        }
        p += n;
    }
}

bool cmdline_has(const char *word)
{
    char w[128];

    for (unsigned i = 0; cmdline_word(i, w, sizeof(w)); i++)
        if (strcmp(w, word) == 0)
            return true;
    return false;
}

uint64_t cmdline_u64(const char *key, uint64_t def)
{
    size_t klen = strlen(key);
    char w[128];

    for (unsigned i = 0; cmdline_word(i, w, sizeof(w)); i++)
        if (strncmp(w, key, klen) == 0 && w[klen] == '=')
            return strtoull(w + klen + 1, NULL, 0);
    return def;
}

void clock_format(uint64_t seconds, char *buf, size_t len)
{
    CivilTime c = civil_from_seconds((int64_t)seconds);

    snprintf(buf, len, "%04lld-%02u-%02u %02u:%02u:%02u", (long long)c.year, c.month, c.day, c.hour,
             c.minute, c.second);
}

void sdk_format_panic(char *buf, size_t len, const char *fmt, va_list ap)
{
    int n = snprintf(buf, len, "panic: ");
    vsnprintf(buf + n, len - (size_t)n, fmt, ap);
}

void sdk_run_main(void)
{
    int r = main();

    if (r != 0)
        panic("main() returned %d", r);
    power_off();
}
