/* spin: burns CPU on its first vCPU until it is asked to power off, for CPU weight and cap
 * tests. "touch=MiB" first writes to that much RAM past its image (pv mode, where all RAM is
 * mapped), one byte a page, for memory limit tests. */
#include "minihv-guest.h"

extern char _end[];

#define PAGE 4096u

static void touch(uint64_t mib)
{
    volatile char *p = _end;
    uint64_t room = sys_memory_size() - (uint64_t)(uintptr_t)_end;
    uint64_t bytes = mib << 20;

    if (bytes > room)
        bytes = room;
    for (uint64_t off = 0; off < bytes; off += PAGE)
        p[off] = 1;
    printf("spin: touched %llu MiB\n", (unsigned long long)(bytes >> 20));
}

int main(void)
{
    volatile uint64_t counter = 0;
    uint64_t mib = cmdline_u64("touch", 0);

    if (mib && sys_is_pv())
        touch(mib);
    printf("spin: spinning (%s mode)\n", sys_mode());
    for (;;) {
        for (unsigned i = 0; i < 1000000u; i++)
            counter = counter + 1;
        if (sys_shutdown_requested())
            break;
    }
    printf("spin: stopped after %llu million rounds\n", (unsigned long long)(counter / 1000000u));
    return 0;
}
