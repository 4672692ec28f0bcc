/* blk: writes a pattern to the disk, reads it back, verifies it and prints the result.
 * Command line: sectors=N (default 64) start=S (default 0), and `hold`: stay up after the
 * check until the host asks for a shutdown, then read the sectors back and verify them again.
 * Sector s holds the text "minihv-blk sector <s>\n" followed by bytes (s * 31 + i * 7) & 0xff at
 * offsets i, so the host can check the image afterwards. */
#include "minihv-guest.h"

#define MAX_SECTORS 256u
#define PER_REQUEST 8u

static uint8_t wbuf[MAX_SECTORS * BLK_SECTOR_SIZE];
static uint8_t rbuf[MAX_SECTORS * BLK_SECTOR_SIZE];
static BlkIo ios[MAX_SECTORS / PER_REQUEST];

static void fill_sector(uint8_t *p, uint64_t s)
{
    int n;

    for (unsigned i = 0; i < BLK_SECTOR_SIZE; i++)
        p[i] = (uint8_t)(s * 31 + i * 7);
    n = snprintf((char *)p, BLK_SECTOR_SIZE, "minihv-blk sector %llu\n", (unsigned long long)s);
    p[n] = (uint8_t)(s * 31 + (unsigned)n * 7); /* snprintf's NUL is not part of the pattern */
}

static unsigned build(int op, uint8_t *buf, uint64_t start, unsigned count)
{
    unsigned n = 0;

    for (unsigned done = 0; done < count; done += PER_REQUEST) {
        unsigned k = count - done < PER_REQUEST ? count - done : PER_REQUEST;
        ios[n++] = (BlkIo){.op = op,
                           .sector = start + done,
                           .nsectors = k,
                           .buf = buf + (size_t)done * BLK_SECTOR_SIZE};
    }
    return n;
}

int main(void)
{
    uint64_t count = cmdline_u64("sectors", 64), start = cmdline_u64("start", 0);
    BlkInfo info;
    unsigned n;
    int r;

    r = blk_info(&info);
    if (r < 0) {
        printf("blk: FAIL: no disk (%d)\n", r);
        return 1;
    }
    if (count > MAX_SECTORS)
        count = MAX_SECTORS;
    if (start + count > info.sectors) {
        printf("blk: FAIL: disk has %llu sectors, need %llu\n", (unsigned long long)info.sectors,
               (unsigned long long)(start + count));
        return 1;
    }
    printf("blk: %s mode, disk of %llu sectors, writing %llu sectors at %llu\n", sys_mode(),
           (unsigned long long)info.sectors, (unsigned long long)count, (unsigned long long)start);
    for (uint64_t s = 0; s < count; s++)
        fill_sector(wbuf + s * BLK_SECTOR_SIZE, start + s);
    n = build(BLK_WRITE, wbuf, start, (unsigned)count);
    r = blk_submit(ios, n);
    if (r == 0)
        r = blk_flush();
    if (r < 0) {
        printf("blk: FAIL: write error %d\n", r);
        return 1;
    }
    memset(rbuf, 0, sizeof(rbuf));
    n = build(BLK_READ, rbuf, start, (unsigned)count);
    r = blk_submit(ios, n);
    if (r < 0) {
        printf("blk: FAIL: read error %d\n", r);
        return 1;
    }
    for (uint64_t s = 0; s < count; s++)
        if (memcmp(wbuf + s * BLK_SECTOR_SIZE, rbuf + s * BLK_SECTOR_SIZE, BLK_SECTOR_SIZE)) {
            printf("blk: FAIL: sector %llu differs\n", (unsigned long long)(start + s));
            return 1;
        }
    printf("blk: OK: %llu sectors written, read back and verified\n", (unsigned long long)count);
    if (!cmdline_has("hold"))
        return 0;
    while (!(sys_wait(100000000ull) & SYS_EVENT_SHUTDOWN))
        ;
    memset(rbuf, 0, sizeof(rbuf));
    n = build(BLK_READ, rbuf, start, (unsigned)count);
    r = blk_submit(ios, n);
    if (r < 0 || memcmp(wbuf, rbuf, (size_t)count * BLK_SECTOR_SIZE) != 0) {
        printf("blk: FAIL: the disk changed while held (%d)\n", r);
        return 1;
    }
    printf("blk: OK: verified again after the hold\n");
    return 0;
}
