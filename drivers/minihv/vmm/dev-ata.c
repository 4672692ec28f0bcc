/* ATA PIO disk, device 0 on the primary channel: IDENTIFY, READ/WRITE SECTORS (LBA28 and CHS),
 * FLUSH CACHE and a few housekeeping commands, status/error/alternate status, soft reset. */
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "disk.h"
#include "macro.h"

enum {
    ATA_REG_DATA = 0,
    ATA_REG_ERROR_FEATURE = 1,
    ATA_REG_NSECT = 2,
    ATA_REG_LBAL = 3,
    ATA_REG_LBAM = 4,
    ATA_REG_LBAH = 5,
    ATA_REG_DEVICE = 6,
    ATA_REG_STATUS_COMMAND = 7,
};

#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DSC  0x10
#define ST_DRDY 0x40
#define ST_BSY  0x80

#define ERR_ABRT 0x04
#define ERR_IDNF 0x10
#define ERR_UNC  0x40

#define DEV_LBA  0x40
#define DEV_DRV1 0x10
#define CTL_NIEN 0x02
#define CTL_SRST 0x04

#define CMD_RECALIBRATE      0x10
#define CMD_READ_SECTORS     0x20
#define CMD_READ_SECTORS_NR  0x21
#define CMD_WRITE_SECTORS    0x30
#define CMD_WRITE_SECTORS_NR 0x31
#define CMD_READ_VERIFY      0x40
#define CMD_READ_VERIFY_NR   0x41
#define CMD_DIAGNOSTIC       0x90
#define CMD_INIT_PARAMS      0x91
#define CMD_FLUSH_CACHE      0xe7
#define CMD_IDENTIFY         0xec
#define CMD_SET_FEATURES     0xef

/* Logical CHS geometry reported by IDENTIFY and used for CHS addressing. */
#define ATA_HEADS   16u
#define ATA_SECTORS 63u

#define LBA28_MAX 0x0fffffffu

typedef enum AtaTransfer {
    XFER_NONE,
    XFER_IN,  /* device -> host (IDENTIFY, READ) */
    XFER_OUT, /* host -> device (WRITE) */
} AtaTransfer;

struct Ata {
    Disk *disk;
    Vm *vm;
    uint8_t error, feature, nsect, lbal, lbam, lbah, device, status, control;
    AtaTransfer xfer;
    uint8_t buf[DISK_SECTOR_SIZE];
    unsigned pos;         /* byte position in buf during DRQ */
    uint64_t sector;      /* next sector to transfer */
    uint32_t remaining;   /* sectors left, including the one in buf */
    bool identify;        /* the transfer is IDENTIFY data, not disk sectors */
    uint64_t addressable; /* sectors reachable by LBA28 */
};

static bool ata_device1_selected(Ata *a)
{
    return a->device & DEV_DRV1;
}

static void ata_set_signature(Ata *a)
{
    a->nsect = 1;
    a->lbal = 1;
    a->lbam = 0;
    a->lbah = 0;
    a->device &= DEV_DRV1;
}

static void ata_reset(Ata *a)
{
    a->xfer = XFER_NONE;
    a->pos = 0;
    a->remaining = 0;
    a->error = 0x01; /* diagnostic code: device 0 passed, no device 1 */
    a->status = ST_DRDY | ST_DSC;
    ata_set_signature(a);
}

static void ata_abort(Ata *a, uint8_t error)
{
    a->xfer = XFER_NONE;
    a->remaining = 0;
    a->error = error;
    a->status = ST_DRDY | ST_DSC | ST_ERR;
}

static void ata_done(Ata *a)
{
    a->xfer = XFER_NONE;
    a->remaining = 0;
    a->status = ST_DRDY | ST_DSC;
}

/* The current address as a sector number, from LBA28 or CHS registers. Returns false for a
 * CHS address that does not exist. */
static bool ata_current_sector(Ata *a, uint64_t *ret)
{
    uint64_t cyl, head, sect;

    if (a->device & DEV_LBA) {
        *ret = (uint64_t)(a->device & 0x0f) << 24 | (uint64_t)a->lbah << 16 |
               (uint64_t)a->lbam << 8 | a->lbal;
        return true;
    }
    cyl = (uint64_t)a->lbah << 8 | a->lbam;
    head = a->device & 0x0f;
    sect = a->lbal;
    if (sect == 0 || sect > ATA_SECTORS)
        return false;
    *ret = (cyl * ATA_HEADS + head) * ATA_SECTORS + sect - 1;
    return true;
}

/* Writes sector back into the address registers (where an error happened, or the last one). */
static void ata_set_address(Ata *a, uint64_t sector)
{
    if (a->device & DEV_LBA) {
        a->lbal = (uint8_t)sector;
        a->lbam = (uint8_t)(sector >> 8);
        a->lbah = (uint8_t)(sector >> 16);
        a->device = (uint8_t)((a->device & 0xf0) | ((sector >> 24) & 0x0f));
    } else {
        uint64_t cyl = sector / (ATA_HEADS * ATA_SECTORS);
        uint64_t rem = sector % (ATA_HEADS * ATA_SECTORS);
        a->lbal = (uint8_t)(rem % ATA_SECTORS + 1);
        a->lbam = (uint8_t)cyl;
        a->lbah = (uint8_t)(cyl >> 8);
        a->device = (uint8_t)((a->device & 0xf0) | (rem / ATA_SECTORS));
    }
}

static void ata_string(uint16_t *words, unsigned first, unsigned nwords, const char *s)
{
    size_t len = strlen(s);

    for (unsigned i = 0; i < nwords * 2; i++) {
        char c = i < len ? s[i] : ' ';
        /* ATA strings hold two characters per word, the first in the high byte */
        if (i % 2 == 0)
            words[first + i / 2] = (uint16_t)((uint8_t)c << 8);
        else
            words[first + i / 2] |= (uint8_t)c;
    }
}

static void ata_fill_identify(Ata *a)
{
    uint16_t w[256] = {0};
    uint64_t total = a->addressable;
    uint64_t cyls = MIN(total / (ATA_HEADS * ATA_SECTORS), (uint64_t)16383);
    uint64_t chs_total = cyls * ATA_HEADS * ATA_SECTORS;

    w[0] = 0x0040; /* fixed device */
    w[1] = (uint16_t)cyls;
    w[3] = ATA_HEADS;
    w[6] = ATA_SECTORS;
    ata_string(w, 10, 10, "MINIHV0001");
    ata_string(w, 23, 4, "1.0");
    ata_string(w, 27, 20, "MINIHV HARDDISK");
    w[47] = 0x8000;  /* READ/WRITE MULTIPLE not supported */
    w[49] = 1u << 9; /* LBA supported */
    w[53] = 0x0001;  /* words 54-58 valid */
    w[54] = (uint16_t)cyls;
    w[55] = ATA_HEADS;
    w[56] = ATA_SECTORS;
    w[57] = (uint16_t)chs_total;
    w[58] = (uint16_t)(chs_total >> 16);
    w[60] = (uint16_t)total; /* LBA28 capacity */
    w[61] = (uint16_t)(total >> 16);
    w[80] = 0x007e;              /* ATA-1 .. ATA-6 */
    w[82] = 1u << 14;            /* NOP supported (word is valid) */
    w[83] = 1u << 14 | 1u << 12; /* FLUSH CACHE supported */
    w[86] = 1u << 12;
    for (unsigned i = 0; i < 256; i++) {
        a->buf[2 * i] = (uint8_t)w[i];
        a->buf[2 * i + 1] = (uint8_t)(w[i] >> 8);
    }
}

/* Loads the next sector of a READ into buf, or fails the command. */
static void ata_load_sector(Ata *a)
{
    int r;

    pthread_mutex_lock(&a->disk->lock);
    r = disk_read(a->disk, a->sector, 1, a->buf);
    pthread_mutex_unlock(&a->disk->lock);
    if (r < 0) {
        ata_set_address(a, a->sector);
        ata_abort(a, ERR_UNC);
        return;
    }
    stats_add(&a->vm->stats->blk_read_sectors, 1);
    a->pos = 0;
    a->xfer = XFER_IN;
    a->status = ST_DRDY | ST_DSC | ST_DRQ;
}

static void ata_start_rw(Ata *a, bool write)
{
    uint32_t count = a->nsect ? a->nsect : 256;
    uint64_t sector;

    if (!ata_current_sector(a, &sector) || !disk_range_ok(a->disk, sector, count) ||
        sector + count > a->addressable) {
        ata_abort(a, ERR_IDNF);
        return;
    }
    if (write && a->disk->read_only) {
        ata_abort(a, ERR_ABRT);
        return;
    }
    a->error = 0;
    a->sector = sector;
    a->remaining = count;
    a->identify = false;
    if (write) {
        a->pos = 0;
        a->xfer = XFER_OUT;
        a->status = ST_DRDY | ST_DSC | ST_DRQ;
    } else
        ata_load_sector(a);
}

static void ata_command(Ata *a, uint8_t cmd)
{
    uint64_t sector;
    uint32_t count = a->nsect ? a->nsect : 256;
    int r;

    if (ata_device1_selected(a))
        return; /* no device 1: nobody executes the command */
    switch (cmd) {
    case CMD_IDENTIFY:
        ata_fill_identify(a);
        a->identify = true;
        a->remaining = 1;
        a->pos = 0;
        a->error = 0;
        a->xfer = XFER_IN;
        a->status = ST_DRDY | ST_DSC | ST_DRQ;
        break;
    case CMD_READ_SECTORS:
    case CMD_READ_SECTORS_NR:
        ata_start_rw(a, false);
        break;
    case CMD_WRITE_SECTORS:
    case CMD_WRITE_SECTORS_NR:
        ata_start_rw(a, true);
        break;
    case CMD_READ_VERIFY:
    case CMD_READ_VERIFY_NR:
        if (!ata_current_sector(a, &sector) || !disk_range_ok(a->disk, sector, count))
            ata_abort(a, ERR_IDNF);
        else {
            a->error = 0;
            ata_done(a);
        }
        break;
    case CMD_FLUSH_CACHE:
        pthread_mutex_lock(&a->disk->lock);
        r = disk_flush(a->disk);
        pthread_mutex_unlock(&a->disk->lock);
        if (r < 0)
            ata_abort(a, ERR_ABRT);
        else {
            a->error = 0;
            ata_done(a);
        }
        break;
    case CMD_DIAGNOSTIC:
        ata_reset(a);
        break;
    case CMD_RECALIBRATE:
    case CMD_INIT_PARAMS:
    case CMD_SET_FEATURES:
        a->error = 0;
        ata_done(a);
        break;
    default:
        ata_abort(a, ERR_ABRT);
        break;
    }
}

/* Moves one 8/16/32-bit element through the data register. */
static uint32_t ata_data_in(Ata *a, unsigned size)
{
    uint32_t v = 0;

    if (a->xfer != XFER_IN)
        return size == 4 ? 0xffffffffu : (size == 2 ? 0xffffu : 0xffu);
    for (unsigned i = 0; i < size && a->xfer == XFER_IN; i++) {
        v |= (uint32_t)a->buf[a->pos++] << (8 * i);
        if (a->pos < DISK_SECTOR_SIZE)
            continue;
        if (--a->remaining == 0 || a->identify) {
            if (!a->identify)
                ata_set_address(a, a->sector);
            ata_done(a);
        } else {
            a->sector++;
            ata_load_sector(a);
        }
    }
    return v;
}

static void ata_data_out(Ata *a, unsigned size, uint32_t v)
{
    int r;

    for (unsigned i = 0; i < size && a->xfer == XFER_OUT; i++) {
        a->buf[a->pos++] = (uint8_t)(v >> (8 * i));
        if (a->pos < DISK_SECTOR_SIZE)
            continue;
        pthread_mutex_lock(&a->disk->lock);
        r = disk_write(a->disk, a->sector, 1, a->buf);
        pthread_mutex_unlock(&a->disk->lock);
        if (r < 0) {
            ata_set_address(a, a->sector);
            ata_abort(a, ERR_ABRT);
            return;
        }
        stats_add(&a->vm->stats->blk_write_sectors, 1);
        a->pos = 0;
        if (--a->remaining == 0) {
            ata_set_address(a, a->sector);
            ata_done(a);
        } else
            a->sector++;
    }
}

static uint8_t ata_status(Ata *a)
{
    /* With device 1 selected and absent, device 0 answers the status reads with 0. */
    return ata_device1_selected(a) ? 0 : a->status;
}

static uint32_t ata_cmd_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    Ata *a = dev->data;

    if (off == ATA_REG_DATA)
        return ata_data_in(a, size);
    switch (off) {
    case ATA_REG_ERROR_FEATURE:
        return ata_device1_selected(a) ? 0 : a->error;
    case ATA_REG_NSECT:
        return a->nsect;
    case ATA_REG_LBAL:
        return a->lbal;
    case ATA_REG_LBAM:
        return a->lbam;
    case ATA_REG_LBAH:
        return a->lbah;
    case ATA_REG_DEVICE:
        return a->device | 0xa0; /* bits 7 and 5 read as one on classic drives */
    default:
        return ata_status(a); /* would also acknowledge INTRQ; no interrupts are wired */
    }
}

static void ata_cmd_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t v)
{
    Ata *a = dev->data;

    if (off == ATA_REG_DATA) {
        ata_data_out(a, size, v);
        return;
    }
    /* Register writes while a command is in flight are taken as they come: a new command
     * aborts the old transfer, as the register file has a single set of registers. */
    switch (off) {
    case ATA_REG_ERROR_FEATURE:
        a->feature = (uint8_t)v;
        break;
    case ATA_REG_NSECT:
        a->nsect = (uint8_t)v;
        break;
    case ATA_REG_LBAL:
        a->lbal = (uint8_t)v;
        break;
    case ATA_REG_LBAM:
        a->lbam = (uint8_t)v;
        break;
    case ATA_REG_LBAH:
        a->lbah = (uint8_t)v;
        break;
    case ATA_REG_DEVICE:
        a->device = (uint8_t)(v & ~0xa0u);
        break;
    default:
        ata_command(a, (uint8_t)v);
        break;
    }
}

static const IoDeviceOps ata_cmd_ops = {
    .read = ata_cmd_read,
    .write = ata_cmd_write,
};

static uint32_t ata_ctl_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    return ata_status(dev->data); /* alternate status: no side effects */
}

static void ata_ctl_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t v)
{
    Ata *a = dev->data;

    if ((v & CTL_SRST) && !(a->control & CTL_SRST)) {
        a->xfer = XFER_NONE;
        a->status = ST_BSY; /* held in reset until SRST is cleared */
    } else if (!(v & CTL_SRST) && (a->control & CTL_SRST))
        ata_reset(a);
    a->control = (uint8_t)v;
}

static const IoDeviceOps ata_ctl_ops = {
    .read = ata_ctl_read,
    .write = ata_ctl_write,
};

int ata_init(Vm *vm, Error *e)
{
    Ata *a;
    int r;

    if (!vm->disk)
        return 0;
    a = calloc(1, sizeof(*a));
    if (!a)
        return error_set_errno(e, ENOMEM, "out of memory");
    a->vm = vm;
    a->disk = vm->disk;
    a->addressable = MIN(vm->disk->sectors, (uint64_t)LBA28_MAX);
    ata_reset(a);
    a->error = 0;
    r = vm_add_io_device(vm, &(IoDevice){
                                 .name = "ata",
                                 .base = ATA_CMD_BASE,
                                 .len = 8,
                                 .stat = STAT_DEV_ATA,
                                 .ops = &ata_cmd_ops,
                                 .data = a,
                             });
    if (r >= 0)
        r = vm_add_io_device(vm, &(IoDevice){
                                     .name = "ata-ctl",
                                     .base = ATA_CTL_PORT,
                                     .len = 1,
                                     .stat = STAT_DEV_ATA,
                                     .byte_registers = true,
                                     .ops = &ata_ctl_ops,
                                     .data = a,
                                 });
    if (r < 0) {
        free(a);
        return error_set_errno(e, r, "cannot register the ATA channel: %m");
    }
    vm->ata = a;
    return 0;
}

void ata_fini(Vm *vm)
{
    vm->ata = mfree(vm->ata);
}

void ata_save(Vm *vm, SnapAta *out)
{
    Ata *a = vm->ata;

    *out = (SnapAta){
        .error = a->error,
        .feature = a->feature,
        .nsect = a->nsect,
        .lbal = a->lbal,
        .lbam = a->lbam,
        .lbah = a->lbah,
        .device = a->device,
        .status = a->status,
        .control = a->control,
        .xfer = (uint8_t)a->xfer,
        .identify = a->identify,
        .pos = a->pos,
        .remaining = a->remaining,
        .sector = a->sector,
    };
    memcpy(out->buf, a->buf, sizeof(out->buf));
}

int ata_load(Vm *vm, const SnapAta *in)
{
    Ata *a = vm->ata;

    _Static_assert(sizeof(in->buf) == DISK_SECTOR_SIZE, "saved sector buffer");
    if (in->xfer > XFER_OUT || in->pos > DISK_SECTOR_SIZE || in->remaining > 256 ||
        (in->xfer != XFER_NONE && in->pos >= DISK_SECTOR_SIZE))
        return -EINVAL;
    /* a transfer in progress must still lie on the (referenced, possibly other) disk */
    if (in->xfer != XFER_NONE && !in->identify &&
        (in->remaining == 0 || !disk_range_ok(a->disk, in->sector, in->remaining) ||
         in->sector + in->remaining > a->addressable))
        return -EINVAL;
    a->error = in->error;
    a->feature = in->feature;
    a->nsect = in->nsect;
    a->lbal = in->lbal;
    a->lbam = in->lbam;
    a->lbah = in->lbah;
    a->device = in->device;
    a->status = in->status;
    a->control = in->control;
    a->xfer = (AtaTransfer)in->xfer;
    a->identify = in->identify;
    a->pos = in->pos;
    a->remaining = in->remaining;
    a->sector = in->sector;
    memcpy(a->buf, in->buf, sizeof(a->buf));
    return 0;
}
