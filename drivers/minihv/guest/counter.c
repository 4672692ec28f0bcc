/* counter: prints an increasing number with the guest's monotonic time, several times a second,
 * until the host asks for a shutdown. Command line: period_ms=N (default 200), and `fill`: write
 * a pattern into 8 MiB of memory at start and read one byte of each of its pages at every tick
 * (so a domain restored from a saved image maps those pages without writing them); `dirty`:
 * the same, but write every one of those pages again at every tick; `dirty_pages=N`: write N of
 * those pages again at every tick, round robin, each stamped with the tick's number, and check
 * at every tick that every page holds the stamp of the tick that last wrote it (a steady write
 * rate whose every page must survive a migration). A restored domain goes on counting from
 * where it was saved. */
#include "minihv-guest.h"

#define FILL_SIZE (8u << 20)
#define PAGE      4096u
#define PAGES     (FILL_SIZE / PAGE)
#define STAMP_AT  8u /* a page's stamp: the tick that last wrote it (dirty_pages) */

static uint8_t fill[FILL_SIZE] __attribute__((aligned(PAGE)));

static void fill_write(void)
{
    for (unsigned i = 0; i < FILL_SIZE; i += PAGE)
        fill[i] = (uint8_t)(i / PAGE + 1);
}

static volatile uint64_t *stamp(unsigned page)
{
    return (volatile uint64_t *)&fill[page * PAGE + STAMP_AT];
}

/* Tick `tick` writes n pages of the fill area again, the writes numbered on from *writes,
 * wrapping around, and stamps them. 32-bit counts: full mode divides 64-bit numbers slowly. */
static void fill_rewrite(unsigned n, uint64_t tick, uint32_t *writes)
{
    for (unsigned k = 0; k < n; k++) {
        unsigned page = (*writes)++ % PAGES;
        *(volatile uint8_t *)&fill[page * PAGE] = (uint8_t)(page + 1);
        *stamp(page) = tick;
    }
}

/* After `writes` writes of n per tick, page p was last written by write p + PAGES * k, the
 * largest below `writes`, which tick (write / n) + 1 made; 0 when never. Panics on a page
 * holding another stamp: memory that went back in time. */
static void stamps_check(unsigned n, uint32_t writes)
{
    for (unsigned p = 0; p < PAGES; p++) {
        uint64_t want = 0, got = *stamp(p);

        if (writes > p)
            want = (p + PAGES * ((writes - 1 - p) / PAGES)) / n + 1;
        if (got != want)
            panic("counter: page %u holds the stamp of tick %llu, not %llu", p,
                  (unsigned long long)got, (unsigned long long)want);
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
    unsigned rewrite_pages = (unsigned)cmdline_u64("dirty_pages", 0);
    uint32_t writes = 0;
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
        if (rewrite_pages) {
            stamps_check(rewrite_pages, writes);
            fill_rewrite(rewrite_pages, n, &writes);
        }
        printf("counter: %llu t=%llu\n", (unsigned long long)n,
               (unsigned long long)(now / 1000000));
        next = now + period;
    }
    printf("counter: stopped at %llu\n", (unsigned long long)n);
    return 0;
}
