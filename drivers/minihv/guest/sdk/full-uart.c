/* full flavour console: a 16550A driver on COM1, as the datasheet describes it. */
#include "full.h"
#include "pio.h"

#define COM1      0x3f8u
#define UART_DATA (COM1 + 0)
#define UART_IER  (COM1 + 1)
#define UART_FCR  (COM1 + 2)
#define UART_LCR  (COM1 + 3)
#define UART_MCR  (COM1 + 4)
#define UART_LSR  (COM1 + 5)
#define LSR_DR    0x01u
#define LSR_THRE  0x20u
#define TX_FIFO   16u

static unsigned tx_room; /* bytes the transmit FIFO takes before LSR must be read again */

void uart_init(void)
{
    outb(UART_IER, 0x00);  /* no interrupts */
    outb(UART_LCR, 0x80);  /* DLAB */
    outb(UART_DATA, 0x01); /* divisor 1: 115200 baud */
    outb(UART_IER, 0x00);
    outb(UART_LCR, 0x03); /* 8N1 */
    outb(UART_FCR, 0xc7); /* FIFOs on and cleared, 14-byte trigger */
    outb(UART_MCR, 0x0b); /* DTR RTS OUT2 */
    tx_room = 0;
}

void console_write(const void *buf, size_t len)
{
    const uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        if (tx_room == 0) {
            /* THRE with FIFOs on means the whole transmit FIFO is empty */
            while (!(inb(UART_LSR) & LSR_THRE))
                cpu_relax();
            tx_room = TX_FIFO;
        }
        outb(UART_DATA, p[i]);
        tx_room--;
    }
}

bool uart_rx_ready(void)
{
    return inb(UART_LSR) & LSR_DR;
}

size_t console_read(void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t n = 0;

    while (n < len && uart_rx_ready())
        p[n++] = inb(UART_DATA);
    return n;
}
