/* smp: starts every other CPU (pv mode), has each add up a share of a sum, and checks the
 * total. In full mode there is one CPU and it does all the work. */
#include "minihv-guest.h"

#define MAX_CPUS 8

static uint8_t stacks[MAX_CPUS][16384] __attribute__((aligned(16)));
static uint64_t partial[MAX_CPUS];
static unsigned done[MAX_CPUS];
static unsigned ncpus;
static uint64_t terms; /* smaller in full mode, where every instruction is emulated */

static void work(void *arg)
{
    unsigned cpu = (unsigned)(uintptr_t)arg;
    uint64_t sum = 0;

    for (uint64_t i = cpu + 1; i <= terms; i += ncpus)
        sum += i;
    partial[cpu] = sum;
    __atomic_store_n(&done[cpu], 1, __ATOMIC_RELEASE);
}

int main(void)
{
    uint64_t total = 0;

    terms = sys_is_pv() ? 1000000 : 1000;
    ncpus = sys_ncpus() < MAX_CPUS ? sys_ncpus() : MAX_CPUS;
    for (unsigned cpu = 1; cpu < ncpus; cpu++) {
        int r = cpu_start(cpu, work, (void *)(uintptr_t)cpu, stacks[cpu], sizeof(stacks[cpu]));
        if (r < 0)
            panic("smp: cannot start cpu %u: %d", cpu, r);
    }
    work((void *)0);
    for (unsigned cpu = 0; cpu < ncpus; cpu++) {
        while (!__atomic_load_n(&done[cpu], __ATOMIC_ACQUIRE))
            cpu_relax();
        total += partial[cpu];
    }
    if (total != terms * (terms + 1) / 2)
        panic("smp: wrong sum %llu", (unsigned long long)total);
    printf("smp: %u cpu(s) computed %llu (%s mode)\n", ncpus, (unsigned long long)total,
           sys_mode());
    return 0;
}
