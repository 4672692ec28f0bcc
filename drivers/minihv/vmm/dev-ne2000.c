/* NE2000 (DP8390 core and the NE2000's remote-DMA ASIC): command register, register pages 0-2,
 * the receive ring (PSTART/PSTOP/BNRY/CURR), transmit from the page buffer, ISR/IMR, remote DMA
 * through the data port in byte or word mode, the station-address PROM and the reset port. No
 * interrupt line is wired: guests poll ISR. */
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "macro.h"
#include "minihv-abi.h"
#include "net.h"

enum {
    NE_CR = 0x00,
    NE_DATA = 0x10,  /* 0x10..0x17 */
    NE_RESET = 0x18, /* 0x18..0x1f */
    NE_PORTS = 0x20,
};

/* page 0 */
enum {
    P0_CLDA0_PSTART = 0x01,
    P0_CLDA1_PSTOP = 0x02,
    P0_BNRY = 0x03,
    P0_TSR_TPSR = 0x04,
    P0_NCR_TBCR0 = 0x05,
    P0_FIFO_TBCR1 = 0x06,
    P0_ISR = 0x07,
    P0_CRDA0_RSAR0 = 0x08,
    P0_CRDA1_RSAR1 = 0x09,
    P0_RBCR0 = 0x0a,
    P0_RBCR1 = 0x0b,
    P0_RSR_RCR = 0x0c,
    P0_CNTR0_TCR = 0x0d,
    P0_CNTR1_DCR = 0x0e,
    P0_CNTR2_IMR = 0x0f,
};

#define CR_STP      0x01
#define CR_STA      0x02
#define CR_TXP      0x04
#define CR_RD_MASK  0x38
#define CR_RD_READ  0x08
#define CR_RD_WRITE 0x10
#define CR_RD_SEND  0x18
#define CR_PS_SHIFT 6

#define ISR_PRX 0x01
#define ISR_PTX 0x02
#define ISR_TXE 0x08
#define ISR_RDC 0x40
#define ISR_RST 0x80

#define TSR_PTX 0x01
#define TSR_ABT 0x08
#define RSR_PRX 0x01
#define RSR_PHY 0x20 /* multicast or broadcast destination */
#define RCR_AB  0x04
#define RCR_AM  0x08
#define RCR_PRO 0x10
#define RCR_MON 0x20
#define TCR_LB  0x06
#define DCR_WTS 0x01

#define NE_PAGE      256u
#define NE_MEM_START 0x4000u /* 32 KiB of packet memory, pages 0x40..0xbf */
#define NE_MEM_END   0xc000u
#define NE_PROM_LEN  32u
#define NE_FRAME_MAX 1514u /* without FCS */
#define NE_FRAME_MIN 60u   /* frames shorter than this are padded on receive */
#define NE_RX_HEADER 4u
#define NE_RX_PAGES  ((NE_FRAME_MAX + NE_RX_HEADER + NE_PAGE - 1) / NE_PAGE)

struct Ne2000 {
    Vm *vm;
    Net *net;
    pthread_mutex_t lock; /* the vCPU thread's register accesses against network-thread rx */
    uint8_t cr, isr, imr, dcr, rcr, tcr, tsr, rsr;
    uint8_t pstart, pstop, bnry, curr, tpsr;
    uint16_t tbcr, rsar, rbcr;
    uint8_t par[6], mar[8];
    uint8_t mem[NE_MEM_END]; /* [0, 32): the PROM; [NE_MEM_START, NE_MEM_END): packet memory */
};

static void ne_reset(Ne2000 *ne)
{
    ne->cr = CR_STP | 0x20; /* stopped, remote DMA aborted, page 0 */
    ne->isr = ISR_RST;
    ne->imr = 0;
    ne->rbcr = 0;
}

/* The station-address PROM as NE2000 boards lay it out: 16 bytes (the MAC, then 'W' 'W' at 14
 * and 15, which says the board does 16-bit transfers), each byte doubled. */
static void ne_fill_prom(Ne2000 *ne)
{
    uint8_t prom[16] = {0};

    memcpy(prom, ne->net->mac, 6);
    prom[14] = prom[15] = 0x57;
    for (unsigned i = 0; i < 16; i++)
        ne->mem[2 * i] = ne->mem[2 * i + 1] = prom[i];
}

static bool ne_ring_valid(const Ne2000 *ne)
{
    return ne->pstart >= NE_MEM_START / NE_PAGE && ne->pstop <= NE_MEM_END / NE_PAGE &&
           ne->pstart < ne->pstop && ne->curr >= ne->pstart && ne->curr < ne->pstop &&
           ne->bnry >= ne->pstart && ne->bnry < ne->pstop;
}

/* Pages the NIC may fill from CURR before it would reach BNRY. */
static unsigned ne_ring_free(const Ne2000 *ne)
{
    unsigned size = (unsigned)(ne->pstop - ne->pstart);

    if (ne->bnry > ne->curr)
        return (unsigned)(ne->bnry - ne->curr);
    return size - (unsigned)(ne->curr - ne->bnry);
}

static bool ne_receiving(const Ne2000 *ne)
{
    return (ne->cr & (CR_STP | CR_STA)) == CR_STA && !(ne->rcr & RCR_MON);
}

/* The DP8390's multicast filter: the top six bits of the frame's CRC-32 index MAR. */
static bool ne_multicast_match(const Ne2000 *ne, const uint8_t *dst)
{
    uint32_t crc = 0xffffffffu;

    for (unsigned i = 0; i < 6; i++) {
        uint8_t b = dst[i];
        for (unsigned bit = 0; bit < 8; bit++, b >>= 1)
            crc = (crc << 1) ^ ((((crc >> 31) ^ b) & 1) ? 0x04c11db7u : 0);
    }
    crc >>= 26;
    return ne->mar[crc >> 3] & (1u << (crc & 7));
}

static bool ne_accepts(const Ne2000 *ne, const uint8_t *frame)
{
    static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

    if (ne->rcr & RCR_PRO)
        return true;
    if (memcmp(frame, broadcast, 6) == 0)
        return ne->rcr & RCR_AB;
    if (frame[0] & 0x01)
        return (ne->rcr & RCR_AM) && ne_multicast_match(ne, frame);
    return memcmp(frame, ne->par, 6) == 0;
}

/* Stores one frame at CURR with its 4-byte header (status, next page, length), wrapping at
 * PSTOP. The caller checked the ring and that NE_RX_PAGES pages are free. */
static void ne_store_frame(Ne2000 *ne, const uint8_t *frame, size_t len)
{
    size_t total = MAX(len, (size_t)NE_FRAME_MIN) + NE_RX_HEADER;
    unsigned pages = (unsigned)((total + NE_PAGE - 1) / NE_PAGE);
    unsigned next = ne->curr + pages;
    unsigned addr = ne->curr * NE_PAGE, ring_end = ne->pstop * NE_PAGE;
    uint8_t header[NE_RX_HEADER];

    if (next >= ne->pstop)
        next -= (unsigned)(ne->pstop - ne->pstart);
    ne->rsr = RSR_PRX | ((frame[0] & 0x01) ? RSR_PHY : 0);
    header[0] = ne->rsr;
    header[1] = (uint8_t)next;
    header[2] = (uint8_t)total;
    header[3] = (uint8_t)(total >> 8);
    for (size_t i = 0; i < total; i++) {
        uint8_t b =
            i < NE_RX_HEADER ? header[i] : (i - NE_RX_HEADER < len ? frame[i - NE_RX_HEADER] : 0);
        ne->mem[addr++] = b;
        if (addr == ring_end)
            addr = ne->pstart * NE_PAGE;
    }
    ne->curr = (uint8_t)next;
    ne->isr |= ISR_PRX;
}

/* Receives one frame (from the tap, or looped back). Caller holds the lock. Returns whether it
 * was stored. */
static bool ne_receive(Ne2000 *ne, const uint8_t *frame, size_t len)
{
    Stats *s = ne->vm->stats;

    if (len < MINIHV_NET_FRAME_MIN || len > NE_FRAME_MAX || !ne_accepts(ne, frame)) {
        stats_add(&s->net_rx_dropped, 1);
        return false;
    }
    ne_store_frame(ne, frame, len);
    stats_add(&s->net_rx_frames, 1);
    stats_add(&s->net_rx_bytes, len);
    return true;
}

static bool ne_net_rx(Net *net)
{
    Ne2000 *ne = net->frontend;
    bool delivered = false, keep_watching = true;

    pthread_mutex_lock(&ne->lock);
    for (;;) {
        ssize_t n;

        if (!ne_receiving(ne) || !ne_ring_valid(ne)) {
            if (!net_drop_one(net)) /* a stopped NIC hears nothing */
                break;
            continue;
        }
        if (ne_ring_free(ne) <= NE_RX_PAGES) {
            keep_watching = false; /* until the driver moves BNRY */
            break;
        }
        n = read(net->tap_fd, net->scratch, sizeof(net->scratch));
        if (n <= 0)
            break;
        delivered |= ne_receive(ne, net->scratch, (size_t)n);
    }
    pthread_mutex_unlock(&ne->lock);
    if (delivered)
        net_signal_rx(ne->vm);
    return keep_watching;
}

static const NetFrontendOps ne_net_ops = {
    .rx = ne_net_rx,
};

/* CR.TXP: sends TBCR bytes from page TPSR. Lengths and addresses come from the guest: a frame
 * outside packet memory, shorter than a header or longer than Ethernet allows is aborted. */
static void ne_transmit(Ne2000 *ne)
{
    unsigned addr = ne->tpsr * NE_PAGE, len = ne->tbcr;
    bool ok = addr >= NE_MEM_START && len >= MINIHV_NET_FRAME_MIN && len <= NE_FRAME_MAX &&
              addr + len <= NE_MEM_END;

    ne->cr &= (uint8_t)~CR_TXP;
    if (!ok) {
        stats_add(&ne->vm->stats->net_bad_descriptors, 1);
        stats_add(&ne->vm->stats->bad_guest_requests, 1);
        ne->tsr = TSR_ABT;
        ne->isr |= ISR_TXE;
        return;
    }
    if (ne->tcr & TCR_LB) {
        uint8_t frame[NE_FRAME_MAX];
        memcpy(frame, ne->mem + addr, len); /* the receive ring may overlap the frame */
        if (ne_ring_valid(ne) && ne_ring_free(ne) > NE_RX_PAGES)
            (void)ne_receive(ne, frame, len);
    } else
        (void)net_send(ne->net, &(struct iovec){ne->mem + addr, len}, 1, len);
    ne->tsr = TSR_PTX;
    ne->isr |= ISR_PTX;
}

static void ne_command(Ne2000 *ne, uint8_t v)
{
    bool was_started = ne_receiving(ne);

    ne->cr = (uint8_t)((v & ~CR_TXP) | (ne->cr & CR_TXP));
    if (v & CR_STP)
        ne->isr |= ISR_RST;
    else if (v & CR_STA)
        ne->isr &= (uint8_t)~ISR_RST;
    if ((v & CR_RD_MASK) == CR_RD_SEND) {
        /* "send packet": remote read of the frame at BNRY, its length from its header */
        unsigned a = ne->bnry * NE_PAGE;
        ne->rsar = (uint16_t)a;
        ne->rbcr = a + 3 < NE_MEM_END ? (uint16_t)(ne->mem[a + 2] | ne->mem[a + 3] << 8) : 0;
        ne->cr = (uint8_t)((ne->cr & ~CR_RD_MASK) | CR_RD_READ);
    }
    if ((v & (CR_RD_READ | CR_RD_WRITE)) && !(v & 0x20) && ne->rbcr == 0)
        ne->isr |= ISR_RDC;
    if ((v & CR_TXP) && (ne->cr & (CR_STP | CR_STA)) == CR_STA)
        ne_transmit(ne);
    if (!was_started && ne_receiving(ne))
        net_wake(ne->net);
}

static uint8_t ne_mem_read(const Ne2000 *ne, unsigned addr)
{
    if (addr < NE_PROM_LEN || (addr >= NE_MEM_START && addr < NE_MEM_END))
        return ne->mem[addr];
    return 0xff;
}

/* One remote-DMA unit (a byte, or a word with DCR.WTS) through the data port. */
static unsigned ne_dma_unit(const Ne2000 *ne)
{
    return ne->dcr & DCR_WTS ? 2 : 1;
}

static void ne_dma_advance(Ne2000 *ne, unsigned unit)
{
    ne->rsar = (uint16_t)(ne->rsar + unit);
    if (ne->pstop > ne->pstart && ne->rsar == ne->pstop * NE_PAGE)
        ne->rsar = (uint16_t)(ne->pstart * NE_PAGE); /* remote DMA wraps in the receive ring */
    if (ne->rbcr <= unit) {
        ne->rbcr = 0;
        ne->isr |= ISR_RDC;
    } else
        ne->rbcr = (uint16_t)(ne->rbcr - unit);
}

static bool ne_dma_active(const Ne2000 *ne, uint8_t rd)
{
    return (ne->cr & CR_RD_MASK) == rd && ne->rbcr > 0;
}

static uint32_t ne_data_read(Ne2000 *ne, unsigned size)
{
    unsigned unit = ne_dma_unit(ne);
    uint32_t v = 0;

    for (unsigned got = 0; got < size; got += unit) {
        uint32_t u;
        if (!ne_dma_active(ne, CR_RD_READ)) {
            v |= (unit == 2 ? 0xffffu : 0xffu) << (8 * got);
            continue;
        }
        u = ne_mem_read(ne, ne->rsar);
        if (unit == 2)
            u |= (uint32_t)ne_mem_read(ne, (uint16_t)(ne->rsar + 1)) << 8;
        v |= u << (8 * got);
        ne_dma_advance(ne, unit);
    }
    return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void ne_data_write(Ne2000 *ne, unsigned size, uint32_t v)
{
    unsigned unit = ne_dma_unit(ne);

    for (unsigned put = 0; put < size; put += unit) {
        if (!ne_dma_active(ne, CR_RD_WRITE))
            return;
        for (unsigned i = 0; i < unit; i++) {
            unsigned a = (uint16_t)(ne->rsar + i);
            if (a >= NE_MEM_START && a < NE_MEM_END) /* the PROM and the gaps are read-only */
                ne->mem[a] = (uint8_t)(v >> (8 * (put + i)));
        }
        ne_dma_advance(ne, unit);
    }
}

static uint8_t ne_reg_read(Ne2000 *ne, unsigned off)
{
    unsigned page = ne->cr >> CR_PS_SHIFT;

    if (page == 1) {
        if (off >= 1 && off <= 6)
            return ne->par[off - 1];
        if (off == 7)
            return ne->curr;
        return ne->mar[off - 8];
    }
    if (page == 2) {
        switch (off) {
        case P0_CLDA0_PSTART:
            return ne->pstart;
        case P0_CLDA1_PSTOP:
            return ne->pstop;
        case P0_BNRY: /* remote next packet pointer */
            return ne->bnry;
        case P0_TSR_TPSR:
            return ne->tpsr;
        case P0_NCR_TBCR0: /* local next packet pointer */
            return ne->curr;
        case P0_RSR_RCR:
            return ne->rcr;
        case P0_CNTR0_TCR:
            return ne->tcr;
        case P0_CNTR1_DCR:
            return ne->dcr;
        case P0_CNTR2_IMR:
            return ne->imr;
        default:
            return 0;
        }
    }
    if (page == 3)
        return 0;
    switch (off) {
    case P0_CLDA0_PSTART:
        return 0;
    case P0_CLDA1_PSTOP:
        return ne->curr;
    case P0_BNRY:
        return ne->bnry;
    case P0_TSR_TPSR:
        return ne->tsr;
    case P0_ISR:
        return ne->isr;
    case P0_CRDA0_RSAR0:
        return (uint8_t)ne->rsar;
    case P0_CRDA1_RSAR1:
        return (uint8_t)(ne->rsar >> 8);
    case P0_RSR_RCR:
        return ne->rsr;
    default: /* NCR, FIFO, the tally counters (nothing collides, no CRC or frame errors) */
        return 0;
    }
}

static void ne_reg_write(Ne2000 *ne, unsigned off, uint8_t v)
{
    unsigned page = ne->cr >> CR_PS_SHIFT;

    if (page == 1) {
        if (off >= 1 && off <= 6)
            ne->par[off - 1] = v;
        else if (off == 7)
            ne->curr = v;
        else
            ne->mar[off - 8] = v;
        return;
    }
    if (page != 0)
        return; /* page 2 writes are for the factory; page 3 does not exist */
    switch (off) {
    case P0_CLDA0_PSTART:
        ne->pstart = v;
        break;
    case P0_CLDA1_PSTOP:
        ne->pstop = v;
        break;
    case P0_BNRY:
        ne->bnry = v;
        net_wake(ne->net); /* the ring may have room again */
        break;
    case P0_TSR_TPSR:
        ne->tpsr = v;
        break;
    case P0_NCR_TBCR0:
        ne->tbcr = (uint16_t)((ne->tbcr & 0xff00) | v);
        break;
    case P0_FIFO_TBCR1:
        ne->tbcr = (uint16_t)((ne->tbcr & 0x00ff) | v << 8);
        break;
    case P0_ISR:
        ne->isr &= (uint8_t)~v; /* writing 1 clears */
        break;
    case P0_CRDA0_RSAR0:
        ne->rsar = (uint16_t)((ne->rsar & 0xff00) | v);
        break;
    case P0_CRDA1_RSAR1:
        ne->rsar = (uint16_t)((ne->rsar & 0x00ff) | v << 8);
        break;
    case P0_RBCR0:
        ne->rbcr = (uint16_t)((ne->rbcr & 0xff00) | v);
        break;
    case P0_RBCR1:
        ne->rbcr = (uint16_t)((ne->rbcr & 0x00ff) | v << 8);
        break;
    case P0_RSR_RCR:
        ne->rcr = v;
        break;
    case P0_CNTR0_TCR:
        ne->tcr = v;
        break;
    case P0_CNTR1_DCR:
        ne->dcr = v;
        break;
    case P0_CNTR2_IMR:
        ne->imr = v & 0x7f;
        break;
    }
}

static uint32_t ne_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    Ne2000 *ne = dev->data;
    uint32_t v;

    pthread_mutex_lock(&ne->lock);
    if (off >= NE_RESET) {
        ne_reset(ne); /* reading the reset port resets the board */
        v = 0;
    } else if (off >= NE_DATA)
        v = ne_data_read(ne, size);
    else if (off == NE_CR)
        v = ne->cr;
    else
        v = ne_reg_read(ne, off);
    pthread_mutex_unlock(&ne->lock);
    return v;
}

static void ne_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t v)
{
    Ne2000 *ne = dev->data;

    pthread_mutex_lock(&ne->lock);
    if (off >= NE_RESET)
        ; /* drivers write back what they read; the read did the reset */
    else if (off >= NE_DATA)
        ne_data_write(ne, size, v);
    else if (off == NE_CR)
        ne_command(ne, (uint8_t)v);
    else
        ne_reg_write(ne, off, (uint8_t)v);
    pthread_mutex_unlock(&ne->lock);
}

static const IoDeviceOps ne_ops = {
    .read = ne_read,
    .write = ne_write,
};

int ne2000_init(Vm *vm, Error *e)
{
    Ne2000 *ne;
    int r;

    ne = calloc(1, sizeof(*ne));
    if (!ne)
        return error_set_errno(e, ENOMEM, "out of memory");
    ne->vm = vm;
    ne->net = vm->net;
    pthread_mutex_init(&ne->lock, NULL);
    ne_fill_prom(ne);
    ne_reset(ne);
    r = vm_add_io_device(vm, &(IoDevice){
                                 .name = "ne2000",
                                 .base = NE2000_BASE,
                                 .len = NE_PORTS,
                                 .stat = STAT_DEV_NE2000,
                                 .ops = &ne_ops,
                                 .data = ne,
                             });
    if (r < 0) {
        pthread_mutex_destroy(&ne->lock);
        free(ne);
        return error_set_errno(e, r, "cannot register the NE2000: %m");
    }
    vm->ne2000 = ne;
    vm->net->ops = &ne_net_ops;
    vm->net->frontend = ne;
    return 0;
}

void ne2000_fini(Vm *vm)
{
    if (!vm->ne2000)
        return;
    pthread_mutex_destroy(&vm->ne2000->lock);
    vm->ne2000 = mfree(vm->ne2000);
}

_Static_assert(SNAP_NE2000_MEM == NE_MEM_END, "saved NE2000 packet memory");

void ne2000_save(Vm *vm, SnapNe2000 *out)
{
    Ne2000 *ne = vm->ne2000;

    pthread_mutex_lock(&ne->lock);
    *out = (SnapNe2000){
        .cr = ne->cr,
        .isr = ne->isr,
        .imr = ne->imr,
        .dcr = ne->dcr,
        .rcr = ne->rcr,
        .tcr = ne->tcr,
        .tsr = ne->tsr,
        .rsr = ne->rsr,
        .pstart = ne->pstart,
        .pstop = ne->pstop,
        .bnry = ne->bnry,
        .curr = ne->curr,
        .tpsr = ne->tpsr,
        .tbcr = ne->tbcr,
        .rsar = ne->rsar,
        .rbcr = ne->rbcr,
    };
    memcpy(out->par, ne->par, sizeof(out->par));
    memcpy(out->mar, ne->mar, sizeof(out->mar));
    memcpy(out->mem, ne->mem, sizeof(out->mem));
    pthread_mutex_unlock(&ne->lock);
}

int ne2000_load(Vm *vm, const SnapNe2000 *in)
{
    Ne2000 *ne = vm->ne2000;

    pthread_mutex_lock(&ne->lock);
    ne->cr = in->cr;
    ne->isr = in->isr;
    ne->imr = in->imr;
    ne->dcr = in->dcr;
    ne->rcr = in->rcr;
    ne->tcr = in->tcr;
    ne->tsr = in->tsr;
    ne->rsr = in->rsr;
    ne->pstart = in->pstart;
    ne->pstop = in->pstop;
    ne->bnry = in->bnry;
    ne->curr = in->curr;
    ne->tpsr = in->tpsr;
    ne->tbcr = in->tbcr;
    ne->rsar = in->rsar;
    ne->rbcr = in->rbcr;
    memcpy(ne->par, in->par, sizeof(ne->par));
    memcpy(ne->mar, in->mar, sizeof(ne->mar));
    memcpy(ne->mem, in->mem, sizeof(ne->mem));
    ne_fill_prom(ne);
    pthread_mutex_unlock(&ne->lock);
    return 0;
}
