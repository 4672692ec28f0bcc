/* full flavour block: ATA PIO on the primary channel, device 0, LBA28. */
#include "full.h"
#include "pio.h"

#define ATA_DATA     0x1f0u
#define ATA_NSECT    0x1f2u
#define ATA_LBAL     0x1f3u
#define ATA_LBAM     0x1f4u
#define ATA_LBAH     0x1f5u
#define ATA_DEVICE   0x1f6u
#define ATA_STATUS   0x1f7u
#define ATA_COMMAND  0x1f7u
#define ST_ERR       0x01u
#define ST_DRQ       0x08u
#define ST_BSY       0x80u
#define CMD_READ     0x20u
#define CMD_WRITE    0x30u
#define CMD_FLUSH    0xe7u
#define CMD_IDENTIFY 0xecu
#define LBA28_LIMIT  (1ull << 28)

static int ata_state; /* 0 unknown, 1 present, -1 absent */
static uint64_t ata_sectors;

static int ata_wait(bool want_drq)
{
    for (unsigned i = 0; i < 1000000; i++) {
        uint8_t s = inb(ATA_STATUS);
        if (s == 0xff)
            return -SDK_ENODEV; /* floating bus: no controller */
        if (s & ST_BSY)
            continue;
        if (s & ST_ERR)
            return -SDK_EIO;
        if (!want_drq || (s & ST_DRQ))
            return 0;
    }
    return -SDK_EIO;
}

static int ata_probe(void)
{
    static uint16_t id[256];

    if (ata_state)
        return ata_state > 0 ? 0 : -SDK_ENODEV;
    ata_state = -1;
    if (inb(ATA_STATUS) == 0xff)
        return -SDK_ENODEV;
    outb(ATA_DEVICE, 0xa0);
    outb(ATA_NSECT, 0);
    outb(ATA_LBAL, 0);
    outb(ATA_LBAM, 0);
    outb(ATA_LBAH, 0);
    outb(ATA_COMMAND, CMD_IDENTIFY);
    if (inb(ATA_STATUS) == 0 || ata_wait(true) < 0)
        return -SDK_ENODEV;
    insw(ATA_DATA, id, 256);
    ata_sectors = (uint64_t)id[60] | (uint64_t)id[61] << 16;
    ata_state = 1;
    return 0;
}

int blk_info(BlkInfo *ret)
{
    int r = ata_probe();

    if (r < 0)
        return r;
    ret->sectors = ata_sectors;
    ret->read_only = false;
    return 0;
}

static int ata_transfer(int op, uint64_t lba, uint32_t n, void *buf)
{
    uint8_t *p = buf;
    int r = ata_probe();

    if (r < 0)
        return r;
    if (n == 0 || n > 256 || lba + n > ata_sectors || lba + n > LBA28_LIMIT)
        return -SDK_EINVAL;
    outb(ATA_DEVICE, (uint8_t)(0xe0 | ((lba >> 24) & 0x0f)));
    outb(ATA_NSECT, (uint8_t)n); /* 256 is written as 0 */
    outb(ATA_LBAL, (uint8_t)lba);
    outb(ATA_LBAM, (uint8_t)(lba >> 8));
    outb(ATA_LBAH, (uint8_t)(lba >> 16));
    outb(ATA_COMMAND, op == BLK_WRITE ? CMD_WRITE : CMD_READ);
    for (uint32_t i = 0; i < n; i++) {
        r = ata_wait(true);
        if (r < 0)
            return r;
        if (op == BLK_WRITE)
            outsw(ATA_DATA, p + (size_t)i * BLK_SECTOR_SIZE, 256);
        else
            insw(ATA_DATA, p + (size_t)i * BLK_SECTOR_SIZE, 256);
    }
    return op == BLK_WRITE ? ata_wait(false) : 0;
}

int blk_submit(BlkIo *ios, unsigned n)
{
    int first = 0;

    for (unsigned i = 0; i < n; i++) {
        ios[i].status = ata_transfer(ios[i].op, ios[i].sector, ios[i].nsectors, ios[i].buf);
        if (ios[i].status < 0 && !first)
            first = ios[i].status;
    }
    return first;
}

int blk_read(uint64_t sector, uint32_t n, void *buf)
{
    return ata_transfer(BLK_READ, sector, n, buf);
}

int blk_write(uint64_t sector, uint32_t n, const void *buf)
{
    return ata_transfer(BLK_WRITE, sector, n, (void *)buf);
}

int blk_flush(void)
{
    int r = ata_probe();

    if (r < 0)
        return r;
    outb(ATA_COMMAND, CMD_FLUSH);
    return ata_wait(false);
}
