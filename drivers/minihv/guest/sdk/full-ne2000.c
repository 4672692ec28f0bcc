/* full flavour network device: an NE2000 (DP8390) driver for ISA port 0x300, word-mode remote
 * DMA, polled (no interrupts), as the DP8390 datasheet and the NE2000 board describe it. */
#include "full.h"
#include "pio.h"

#define NE_BASE  0x300u
#define NE_CR    (NE_BASE + 0x00)
#define NE_DATA  (NE_BASE + 0x10)
#define NE_RESET (NE_BASE + 0x1f)
/* page 0 */
#define NE_PSTART (NE_BASE + 0x01)
#define NE_PSTOP  (NE_BASE + 0x02)
#define NE_BNRY   (NE_BASE + 0x03)
#define NE_TPSR   (NE_BASE + 0x04)
#define NE_TBCR0  (NE_BASE + 0x05)
#define NE_TBCR1  (NE_BASE + 0x06)
#define NE_ISR    (NE_BASE + 0x07)
#define NE_RSAR0  (NE_BASE + 0x08)
#define NE_RSAR1  (NE_BASE + 0x09)
#define NE_RBCR0  (NE_BASE + 0x0a)
#define NE_RBCR1  (NE_BASE + 0x0b)
#define NE_RCR    (NE_BASE + 0x0c)
#define NE_TCR    (NE_BASE + 0x0d)
#define NE_DCR    (NE_BASE + 0x0e)
#define NE_IMR    (NE_BASE + 0x0f)
/* page 1 */
#define NE_PAR0 (NE_BASE + 0x01)
#define NE_CURR (NE_BASE + 0x07)
#define NE_MAR0 (NE_BASE + 0x08)

#define CR_STP       0x01u
#define CR_STA       0x02u
#define CR_TXP       0x04u
#define CR_RD_READ   0x08u
#define CR_RD_WRITE  0x10u
#define CR_NODMA     0x20u
#define CR_PAGE1     0x40u
#define ISR_PRX      0x01u
#define ISR_PTX      0x02u
#define ISR_TXE      0x08u
#define ISR_RDC      0x40u
#define ISR_RST      0x80u
#define DCR_WORD     0x49u /* word transfers, normal operation, FIFO threshold 8 bytes */
#define RCR_AB       0x04u
#define RCR_MON      0x20u
#define TCR_LOOPBACK 0x02u

#define TX_START 0x40u /* six pages: one full frame */
#define RX_START 0x46u
#define RX_STOP  0x80u
#define SPINS    100000u

static int ne_state; /* 0 not probed, 1 up, negative: absent */
static NetInfo info;
static uint8_t tx_buf[NET_FRAME_MAX + 1] __attribute__((aligned(8)));
static uint8_t next_pkt; /* the page the next received frame starts at */

static bool ne_wait_isr(uint8_t bit)
{
    for (unsigned i = 0; i < SPINS; i++)
        if (inb(NE_ISR) & bit)
            return true;
    return false;
}

static void ne_dma_setup(uint16_t addr, uint16_t count, uint8_t cmd)
{
    outb(NE_RBCR0, (uint8_t)count);
    outb(NE_RBCR1, (uint8_t)(count >> 8));
    outb(NE_RSAR0, (uint8_t)addr);
    outb(NE_RSAR1, (uint8_t)(addr >> 8));
    outb(NE_CR, (uint8_t)(cmd | CR_STA));
}

/* Reads count bytes (count even) of board memory at addr. */
static void ne_dma_read(uint16_t addr, void *buf, uint16_t count)
{
    ne_dma_setup(addr, count, CR_RD_READ);
    insw(NE_DATA, buf, count / 2u);
    outb(NE_ISR, ISR_RDC);
}

static int ne_probe(void)
{
    uint8_t prom[32];

    if (inb(NE_CR) == 0xff)
        return -SDK_ENODEV; /* a floating bus: no board */
    outb(NE_RESET, inb(NE_RESET));
    if (!ne_wait_isr(ISR_RST))
        return -SDK_ENODEV;
    outb(NE_ISR, 0xff);
    outb(NE_CR, CR_NODMA | CR_STP);
    outb(NE_DCR, DCR_WORD);
    outb(NE_RBCR0, 0);
    outb(NE_RBCR1, 0);
    outb(NE_RCR, RCR_MON);
    outb(NE_TCR, TCR_LOOPBACK);
    ne_dma_read(0, prom, sizeof(prom)); /* the station-address PROM, each byte doubled */
    if (prom[28] != 0x57 || prom[30] != 0x57)
        return -SDK_ENODEV; /* not an NE2000 in 16-bit mode */
    for (unsigned i = 0; i < 6; i++)
        info.mac[i] = prom[2 * i];
    outb(NE_CR, CR_NODMA | CR_STP);
    outb(NE_TPSR, TX_START);
    outb(NE_PSTART, RX_START);
    outb(NE_BNRY, RX_START);
    outb(NE_PSTOP, RX_STOP);
    outb(NE_ISR, 0xff);
    outb(NE_IMR, 0x00); /* polled */
    outb(NE_CR, CR_PAGE1 | CR_NODMA | CR_STP);
    for (unsigned i = 0; i < 6; i++)
        outb((uint16_t)(NE_PAR0 + i), info.mac[i]);
    for (unsigned i = 0; i < 8; i++)
        outb((uint16_t)(NE_MAR0 + i), 0x00);
    next_pkt = RX_START + 1;
    outb(NE_CURR, next_pkt);
    outb(NE_CR, CR_NODMA | CR_STA);
    outb(NE_TCR, 0x00);
    outb(NE_RCR, RCR_AB);
    info.link_up = true;
    info.mtu = 1500;
    return 0;
}

int net_info(NetInfo *ret)
{
    if (ne_state == 0)
        ne_state = ne_probe() < 0 ? -SDK_ENODEV : 1;
    if (ne_state < 0)
        return ne_state;
    *ret = info;
    return 0;
}

void *net_tx_buffer(void)
{
    return tx_buf;
}

int net_tx_submit(size_t len)
{
    uint16_t n = (uint16_t)(len < 60 ? 60 : len); /* pad runts to the Ethernet minimum */

    if (ne_state <= 0 || len > NET_FRAME_MAX || len < 14)
        return -SDK_EINVAL;
    for (size_t i = len; i < n; i++)
        tx_buf[i] = 0;
    for (unsigned i = 0; i < SPINS && (inb(NE_CR) & CR_TXP); i++)
        ; /* the previous frame is still going out */
    ne_dma_setup(TX_START << 8, (uint16_t)((n + 1u) & ~1u), CR_RD_WRITE);
    outsw(NE_DATA, tx_buf, (n + 1u) / 2u);
    if (!ne_wait_isr(ISR_RDC))
        return -SDK_EIO;
    outb(NE_ISR, ISR_RDC);
    outb(NE_TBCR0, (uint8_t)n);
    outb(NE_TBCR1, (uint8_t)(n >> 8));
    outb(NE_CR, CR_NODMA | CR_TXP | CR_STA);
    return 0;
}

int net_send(const void *frame, size_t len)
{
    if (len > NET_FRAME_MAX)
        return -SDK_EINVAL;
    memcpy(tx_buf, frame, len);
    return net_tx_submit(len);
}

void net_flush(void)
{
}

static uint8_t ne_curr(void)
{
    uint8_t curr;

    outb(NE_CR, CR_PAGE1 | CR_NODMA | CR_STA);
    curr = inb(NE_CURR);
    outb(NE_CR, CR_NODMA | CR_STA);
    return curr;
}

/* Copies len bytes of the receive ring from addr on, wrapping at RX_STOP. */
static void ne_ring_read(uint16_t addr, uint8_t *buf, size_t len)
{
    uint16_t end = RX_STOP << 8;

    if (addr + len > end) {
        size_t first = end - addr;
        ne_dma_read(addr, buf, (uint16_t)first); /* pages are whole: first is even */
        buf += first;
        len -= first;
        addr = RX_START << 8;
    }
    ne_dma_read(addr, buf, (uint16_t)((len + 1) & ~(size_t)1));
}

size_t net_recv(void *buf, size_t cap)
{
    static uint8_t frame[NET_FRAME_MAX + 1] __attribute__((aligned(8)));
    uint8_t hdr[4];
    size_t len, n;

    if (ne_state <= 0)
        return 0;
    outb(NE_ISR, ISR_PRX);
    if (next_pkt == ne_curr())
        return 0;
    ne_dma_read((uint16_t)(next_pkt << 8), hdr, sizeof(hdr));
    len = (size_t)(hdr[2] | hdr[3] << 8);
    if (hdr[1] < RX_START || hdr[1] >= RX_STOP || len < 4 + 14 || len > 4 + NET_FRAME_MAX) {
        /* a header that makes no sense: skip everything the board has stored */
        next_pkt = ne_curr();
        outb(NE_BNRY, (uint8_t)(next_pkt == RX_START ? RX_STOP - 1u : next_pkt - 1u));
        return 0;
    }
    len -= 4;
    n = len < cap ? len : cap;
    if (((n + 1) & ~(size_t)1) <= cap)
        ne_ring_read((uint16_t)((next_pkt << 8) + 4), buf, n); /* the word transfer fits */
    else {
        ne_ring_read((uint16_t)((next_pkt << 8) + 4), frame, n);
        memcpy(buf, frame, n);
    }
    next_pkt = hdr[1];
    outb(NE_BNRY, (uint8_t)(next_pkt == RX_START ? RX_STOP - 1u : next_pkt - 1u));
    outb(NE_ISR, ISR_PRX); /* more may wait: the next call looks at CURR again */
    return n;
}

unsigned net_wait(uint64_t timeout_ns)
{
    if (ne_state > 0 && next_pkt != ne_curr())
        return SYS_EVENT_NET;
    return sys_wait(timeout_ns);
}
