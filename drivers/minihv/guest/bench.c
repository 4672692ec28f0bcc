/* bench: console, block, clock and CPU workloads, sized by the command line, each reported on
 * one line "bench: <workload> ops=<n> cycles=<tsc cycles> result=<x>". Keys: console=BYTES
 * blkread=SECTORS blkwrite=SECTORS clock=READS cpu=ITERATIONS idle=1 (absent keys are skipped;
 * idle does nothing but report, for a baseline of the same output). Block workloads use
 * requests of 8 sectors, a ring's worth per doorbell in pv mode. */
#include "bench-loop.h"
#include "minihv-guest.h"

#define CHUNK          4096u
#define SECTORS_PER_IO 8u
#define IOS_PER_BATCH  32u
#define BATCH_SECTORS  (SECTORS_PER_IO * IOS_PER_BATCH)

static char line[CHUNK];
static uint8_t blkbuf[BATCH_SECTORS * BLK_SECTOR_SIZE];
static BlkIo ios[IOS_PER_BATCH];

static void report(const char *name, uint64_t ops, uint64_t cycles, uint64_t result)
{
    printf("bench: %s ops=%llu cycles=%llu result=%llx\n", name, (unsigned long long)ops,
           (unsigned long long)cycles, (unsigned long long)result);
}

static void bench_console(uint64_t bytes)
{
    uint64_t t0, left = bytes;

    for (unsigned i = 0; i < CHUNK; i++)
        line[i] = (i % 64 == 63) ? '\n' : 'x';
    t0 = rdtsc();
    while (left > 0) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        console_write(line, n);
        left -= n;
    }
    report("console", bytes, rdtsc() - t0, 0);
}

static void bench_block(const char *name, int op, uint64_t sectors)
{
    uint64_t t0, done = 0, at = 0;
    BlkInfo info;

    if (blk_info(&info) < 0 || info.sectors < BATCH_SECTORS)
        panic("bench: %s needs a disk of at least %u sectors", name, BATCH_SECTORS);
    memset(blkbuf, 0xa5, sizeof(blkbuf));
    t0 = rdtsc();
    while (done < sectors) {
        unsigned n = 0;

        while (n < IOS_PER_BATCH && done < sectors) {
            uint64_t k = sectors - done < SECTORS_PER_IO ? sectors - done : SECTORS_PER_IO;
            if (at + k > info.sectors)
                at = 0;
            ios[n] = (BlkIo){.op = op,
                             .sector = at,
                             .nsectors = (uint32_t)k,
                             .buf = blkbuf + (size_t)n * SECTORS_PER_IO * BLK_SECTOR_SIZE};
            at += k;
            done += k;
            n++;
        }
        if (blk_submit(ios, n) < 0)
            panic("bench: %s failed", name);
    }
    report(name, sectors, rdtsc() - t0, 0);
}

static void bench_clock(uint64_t reads)
{
    uint64_t t0 = rdtsc(), last = 0;

    for (uint64_t i = 0; i < reads; i++) {
        uint64_t now = clock_wall_ns();
        if (now < last)
            panic("bench: clock went backwards");
        last = now;
    }
    report("clock", reads, rdtsc() - t0, last);
}

static void bench_cpu(uint64_t iterations)
{
    uint64_t t0 = rdtsc(), result = bench_cpu_loop(iterations), t1 = rdtsc();

    report("cpu", iterations, t1 - t0, result);
}

int main(void)
{
    uint64_t n;

    printf("bench: mode=%s\n", sys_mode());
    if ((n = cmdline_u64("console", 0)))
        bench_console(n);
    if ((n = cmdline_u64("blkwrite", 0)))
        bench_block("blkwrite", BLK_WRITE, n);
    if ((n = cmdline_u64("blkread", 0)))
        bench_block("blkread", BLK_READ, n);
    if ((n = cmdline_u64("clock", 0)))
        bench_clock(n);
    if ((n = cmdline_u64("cpu", 0)))
        bench_cpu(n);
    if (cmdline_u64("idle", 0))
        report("idle", 1, 0, 0);
    printf("bench: done\n");
    return 0;
}
