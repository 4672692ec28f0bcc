/* A growable text buffer for the Prometheus exposition, with number formatting that does not go
 * through printf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics-text.h"

static bool reserve(MetricsText *t, size_t n)
{
    size_t want;
    char *p;

    if (t->failed)
        return false;
    if (t->len + n + 1 <= t->size)
        return true;
    want = t->size ? t->size : 4096;
    while (want < t->len + n + 1)
        want *= 2;
    p = realloc(t->data, want);
    if (!p) {
        t->failed = true;
        return false;
    }
    t->data = p;
    t->size = want;
    return true;
}

void metrics_text_add(MetricsText *t, const char *s, size_t n)
{
    if (!reserve(t, n))
        return;
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = 0;
}

void metrics_text_str(MetricsText *t, const char *s)
{
    metrics_text_add(t, s, strlen(s));
}

/* Writes v's digits, at least min_digits of them (zeros in front), ending at end; returns where
 * they start. */
static char *digits(char *end, uint64_t v, unsigned min_digits)
{
    char *p = end;
    unsigned n = 0;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
        n++;
    } while (v || n < min_digits);
    return p;
}

void metrics_text_u64(MetricsText *t, uint64_t v)
{
    char buf[24], *end = buf + sizeof(buf), *p = digits(end, v, 1);

    metrics_text_add(t, p, (size_t)(end - p));
}

static uint64_t magnitude(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

void metrics_text_i64(MetricsText *t, int64_t v)
{
    char buf[24], *end = buf + sizeof(buf), *p = digits(end, magnitude(v), 1);

    if (v < 0)
        *--p = '-';
    metrics_text_add(t, p, (size_t)(end - p));
}

void metrics_text_scaled(MetricsText *t, int64_t v, unsigned decimals)
{
    char buf[48], *end = buf + sizeof(buf), *p;
    uint64_t m = magnitude(v), unit = 1;

    if (decimals > 18)
        decimals = 18;
    for (unsigned i = 0; i < decimals; i++)
        unit *= 10;
    p = decimals ? digits(end, m % unit, decimals) : end;
    if (decimals)
        *--p = '.';
    p = digits(p, m / unit, 1);
    if (v < 0)
        *--p = '-';
    metrics_text_add(t, p, (size_t)(end - p));
}

void metrics_text_double(MetricsText *t, double v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%.17g", v);

    if (n > 0)
        metrics_text_add(t, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void metrics_text_append(MetricsText *t, const MetricsText *src)
{
    if (src->failed)
        t->failed = true;
    else if (src->len)
        metrics_text_add(t, src->data, src->len);
}

void metrics_text_done(MetricsText *t)
{
    free(t->data);
    *t = (MetricsText){};
}
