/* counter: prints an increasing number with the guest's monotonic time, several times a second,
 * until the host asks for a shutdown. Command line: period_ms=N (default 200), and `fill`: write
 * a pattern into 8 MiB of memory at start and read one byte of each of its pages at every tick
 * (so a domain restored from a saved image maps those pages without writing them); `dirty`:
 * the same, but write every one of those pages again at every tick; `dirty_pages=N`: write N of
 * those pages again at every tick, round robin (a steady write rate for migration benchmarks).
 * A restored domain goes on counting from where it was saved. */
#include "minihv-guest.h"

#define FILL_SIZE (8u << 20)
#define PAGE      4096u

static uint8_t fill[FILL_SIZE];

static void fill_write(void)
{
    for (unsigned i = 0; i < FILL_SIZE; i += PAGE)
        fill[i] = (uint8_t)(i / PAGE + 1);
}

/* Writes n pages of the fill area again, from page *next on, wrapping around. */
static void fill_rewrite(unsigned n, unsigned *next)
{
    for (unsigned k = 0; k < n; k++) {
        unsigned page = (*next)++ % (FILL_SIZE / PAGE);
        *(volatile uint8_t *)&fill[page * PAGE] = (uint8_t)(page + 1);
    }
}

static unsigned fill_check(void)
{
    unsigned bad = 0;

    for (unsigned i = 0; i < FILL_SIZE; i += PAGE)
        bad += *(volatile uint8_t *)&fill[i] != (uint8_t)(i / PAGE + 1);
    return bad;
}

int main(void)
{
    uint64_t period = cmdline_u64("period_ms", 200) * 1000000ull, n = 0;
    unsigned rewrite_pages = (unsigned)cmdline_u64("dirty_pages", 0), next_page = 0;
    bool rewrite = cmdline_has("dirty"), use_fill = rewrite || rewrite_pages || cmdline_has("fill");
    uint64_t next;

    if (use_fill)
        fill_write();
    next = clock_mono_ns();

    printf("counter: start (%s mode)\n", sys_mode());
    for (;;) {
        uint64_t now = clock_mono_ns();

        if (now < next) {
            if (sys_wait(next - now) & SYS_EVENT_SHUTDOWN)
                break;
            continue;
        }
        n++;
        if (use_fill && fill_check())
            panic("counter: the filled memory changed");
        if (rewrite)
            fill_write();
        fill_rewrite(rewrite_pages, &next_page);
        printf("counter: %llu t=%llu\n", (unsigned long long)n,
               (unsigned long long)(now / 1000000));
        next = now + period;
    }
    printf("counter: stopped at %llu\n", (unsigned long long)n);
    return 0;
}
