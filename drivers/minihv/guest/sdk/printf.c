/* printf family for guests: d i u x X o p s c %, flags - 0 + space #, width, precision, and
 * the hh h l ll z j t length modifiers. No floating point. */
#include "minihv-guest.h"

typedef struct Sink {
    char *buf; /* NULL: flush to the console */
    size_t len;
    size_t pos;
    size_t total;
    char chunk[256];
} Sink;

static void sink_flush(Sink *s)
{
    if (!s->buf && s->pos > 0) {
        console_write(s->chunk, s->pos);
        s->pos = 0;
    }
}

static void sink_put(Sink *s, char c)
{
    if (s->buf) {
        if (s->pos + 1 < s->len)
            s->buf[s->pos++] = c;
    } else {
        if (s->pos == sizeof(s->chunk))
            sink_flush(s);
        s->chunk[s->pos++] = c;
    }
    s->total++;
}

static void sink_pad(Sink *s, char c, int n)
{
    while (n-- > 0)
        sink_put(s, c);
}

typedef struct Spec {
    bool left, zero, plus, space, alt;
    int width, precision; /* precision -1: none */
} Spec;

static void emit_number(Sink *s, const Spec *sp, unsigned long long v, bool negative, unsigned base,
                        bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0, len, zeros = 0;
    const char *prefix = "";

    if (v == 0 && sp->precision == 0)
        n = 0;
    else
        do {
            tmp[n++] = digits[v % base];
            v /= base;
        } while (v);
    if (negative)
        prefix = "-";
    else if (sp->plus)
        prefix = "+";
    else if (sp->space)
        prefix = " ";
    if (sp->alt && base == 16 && n > 0)
        prefix = upper ? "0X" : "0x";
    if (sp->alt && base == 8)
        prefix = "0";
    if (sp->precision > n)
        zeros = sp->precision - n;
    len = (int)strlen(prefix) + zeros + n;
    if (!sp->left && sp->zero && sp->precision < 0 && sp->width > len)
        zeros += sp->width - len, len = sp->width;
    if (!sp->left)
        sink_pad(s, ' ', sp->width - len);
    for (const char *p = prefix; *p; p++)
        sink_put(s, *p);
    sink_pad(s, '0', zeros);
    while (n > 0)
        sink_put(s, tmp[--n]);
    if (sp->left)
        sink_pad(s, ' ', sp->width - len);
}

static void emit_string(Sink *s, const Spec *sp, const char *str)
{
    int n;

    if (!str)
        str = "(null)";
    n = (int)strnlen(str, sp->precision >= 0 ? (size_t)sp->precision : (size_t)-1);
    if (!sp->left)
        sink_pad(s, ' ', sp->width - n);
    for (int i = 0; i < n; i++)
        sink_put(s, str[i]);
    if (sp->left)
        sink_pad(s, ' ', sp->width - n);
}

static void format(Sink *s, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        Spec sp = {.precision = -1};
        int lng = 0; /* -2 hh, -1 h, 1 l, 2 ll/z/j/t */
        unsigned long long u;
        long long d;

        if (*fmt != '%') {
            sink_put(s, *fmt);
            continue;
        }
        for (;;) {
            char f = *++fmt;
            if (f == '-')
                sp.left = true;
            else if (f == '0')
                sp.zero = true;
            else if (f == '+')
                sp.plus = true;
            else if (f == ' ')
                sp.space = true;
            else if (f == '#')
                sp.alt = true;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0)
                sp.left = true, sp.width = -sp.width;
            fmt++;
        } else
            while (*fmt >= '0' && *fmt <= '9')
                sp.width = sp.width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++;
            sp.precision = 0;
            if (*fmt == '*') {
                sp.precision = va_arg(ap, int);
                fmt++;
            } else
                while (*fmt >= '0' && *fmt <= '9')
                    sp.precision = sp.precision * 10 + (*fmt++ - '0');
        }
        for (;; fmt++) {
            if (*fmt == 'h')
                lng--;
            else if (*fmt == 'l')
                lng++;
            else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't')
                lng = 2;
            else
                break;
        }
        switch (*fmt) {
        case 'd':
        case 'i':
            d = lng >= 1 ? va_arg(ap, long long) : va_arg(ap, int);
            if (lng == -1)
                d = (short)d;
            else if (lng <= -2)
                d = (signed char)d;
            emit_number(s, &sp, d < 0 ? 0ull - (unsigned long long)d : (unsigned long long)d, d < 0,
                        10, false);
            break;
        case 'u':
        case 'x':
        case 'X':
        case 'o':
            u = lng >= 1 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
            if (lng == -1)
                u = (unsigned short)u;
            else if (lng <= -2)
                u = (unsigned char)u;
            emit_number(s, &sp, u, false, *fmt == 'o' ? 8 : (*fmt == 'u' ? 10 : 16), *fmt == 'X');
            break;
        case 'p':
            sp.alt = true;
            emit_number(s, &sp, (uintptr_t)va_arg(ap, void *), false, 16, false);
            break;
        case 's':
            emit_string(s, &sp, va_arg(ap, const char *));
            break;
        case 'c':
            if (!sp.left)
                sink_pad(s, ' ', sp.width - 1);
            sink_put(s, (char)va_arg(ap, int));
            if (sp.left)
                sink_pad(s, ' ', sp.width - 1);
            break;
        case '%':
            sink_put(s, '%');
            break;
        case '\0':
            return;
        default:
            sink_put(s, '%');
            sink_put(s, *fmt);
            break;
        }
    }
}

int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
    Sink s = {.buf = buf, .len = len};

    format(&s, fmt, ap);
    if (len > 0)
        buf[s.pos < len ? s.pos : len - 1] = '\0';
    return (int)s.total;
}

int snprintf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n;
}

int printf(const char *fmt, ...)
{
    Sink s = {0};
    va_list ap;

    va_start(ap, fmt);
    format(&s, fmt, ap);
    va_end(ap);
    sink_flush(&s);
    return (int)s.total;
}
