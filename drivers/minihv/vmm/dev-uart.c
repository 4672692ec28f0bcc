/* 16550 UART on COM1: THR/RBR, IER, IIR/FCR, LCR with DLAB, MCR (loopback), LSR, MSR, SCR. */
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "devices.h"
#include "macro.h"

enum {
    UART_RBR_THR = 0, /* DLL when LCR.DLAB */
    UART_IER = 1,     /* DLM when LCR.DLAB */
    UART_IIR_FCR = 2,
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};

#define LCR_DLAB     0x80
#define IER_RDA      0x01
#define IER_THRE     0x02
#define IER_RLS      0x04
#define IER_MS       0x08
#define IIR_NONE     0x01
#define IIR_MS       0x00
#define IIR_THRE     0x02
#define IIR_RDA      0x04
#define IIR_RLS      0x06
#define IIR_FIFO     0xc0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define MCR_DTR      0x01
#define MCR_RTS      0x02
#define MCR_OUT1     0x04
#define MCR_OUT2     0x08
#define MCR_LOOP     0x10
#define LSR_DR       0x01
#define LSR_OE       0x02
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define MSR_CTS      0x10
#define MSR_DSR      0x20
#define MSR_RI       0x40
#define MSR_DCD      0x80

#define UART_LOOP_FIFO 16

struct Uart {
    Vm *vm;
    uint8_t ier, lcr, mcr, scr, dll, dlm;
    bool fifo_enabled;
    bool thre_pending; /* THR-empty interrupt condition, cleared by reading IIR or writing THR */
    bool overrun;
    uint8_t msr_last; /* modem status lines as last read, for the delta bits */
    uint8_t loop[UART_LOOP_FIFO];
    unsigned loop_len;
};

static bool uart_rx_ready(Uart *u)
{
    bool ready;

    if (u->mcr & MCR_LOOP)
        return u->loop_len > 0;
    pthread_mutex_lock(&u->vm->lock);
    ready = console_input_pending_locked(u->vm);
    pthread_mutex_unlock(&u->vm->lock);
    return ready;
}

static uint8_t uart_rx_take(Uart *u)
{
    uint8_t c = 0;

    if (u->mcr & MCR_LOOP) {
        if (u->loop_len > 0) {
            c = u->loop[0];
            u->loop_len--;
            for (unsigned i = 0; i < u->loop_len; i++)
                u->loop[i] = u->loop[i + 1];
        }
        return c;
    }
    (void)console_input_pop(u->vm, &c, 1);
    return c;
}

static uint8_t uart_modem_lines(Uart *u)
{
    uint8_t m = 0;

    if (!(u->mcr & MCR_LOOP))
        return MSR_CTS | MSR_DSR | MSR_DCD; /* a connected terminal */
    if (u->mcr & MCR_RTS)
        m |= MSR_CTS;
    if (u->mcr & MCR_DTR)
        m |= MSR_DSR;
    if (u->mcr & MCR_OUT1)
        m |= MSR_RI;
    if (u->mcr & MCR_OUT2)
        m |= MSR_DCD;
    return m;
}

static uint8_t uart_msr_deltas(Uart *u)
{
    uint8_t now = uart_modem_lines(u), changed = now ^ u->msr_last, d = 0;

    if (changed & MSR_CTS)
        d |= 0x01;
    if (changed & MSR_DSR)
        d |= 0x02;
    if ((u->msr_last & MSR_RI) && !(now & MSR_RI))
        d |= 0x04; /* trailing edge of RI */
    if (changed & MSR_DCD)
        d |= 0x08;
    return d;
}

static uint8_t uart_iir(Uart *u)
{
    uint8_t fifo = u->fifo_enabled ? IIR_FIFO : 0;

    if ((u->ier & IER_RLS) && u->overrun)
        return IIR_RLS | fifo;
    if ((u->ier & IER_RDA) && uart_rx_ready(u))
        return IIR_RDA | fifo;
    if ((u->ier & IER_THRE) && u->thre_pending) {
        u->thre_pending = false; /* reading IIR acknowledges a THRE interrupt */
        return IIR_THRE | fifo;
    }
    if ((u->ier & IER_MS) && uart_msr_deltas(u))
        return IIR_MS | fifo;
    return IIR_NONE | fifo;
}

static uint32_t uart_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    Uart *u = dev->data;
    uint8_t v;

    switch (off) {
    case UART_RBR_THR:
        return (u->lcr & LCR_DLAB) ? u->dll : uart_rx_take(u);
    case UART_IER:
        return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
    case UART_IIR_FCR:
        return uart_iir(u);
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR:
        v = LSR_THRE | LSR_TEMT; /* output is sent immediately */
        if (uart_rx_ready(u))
            v |= LSR_DR;
        if (u->overrun)
            v |= LSR_OE;
        u->overrun = false; /* reading LSR clears the error bits */
        return v;
    case UART_MSR:
        v = uart_modem_lines(u) | uart_msr_deltas(u);
        u->msr_last = uart_modem_lines(u);
        return v;
    case UART_SCR:
        return u->scr;
    default:
        return 0xff;
    }
}

static void uart_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t value)
{
    Uart *u = dev->data;
    uint8_t v = (uint8_t)value;

    switch (off) {
    case UART_RBR_THR:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
            break;
        }
        if (u->mcr & MCR_LOOP) {
            if (u->loop_len < UART_LOOP_FIFO)
                u->loop[u->loop_len++] = v;
            else
                u->overrun = true;
        } else
            console_output(u->vm, &v, 1);
        u->thre_pending = true; /* the byte left at once: THR is empty again */
        break;
    case UART_IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
            break;
        }
        if ((v & IER_THRE) && !(u->ier & IER_THRE))
            u->thre_pending = true; /* enabling THRE with an empty THR raises it */
        u->ier = v & 0x0f;
        break;
    case UART_IIR_FCR:
        u->fifo_enabled = v & FCR_ENABLE;
        if (v & FCR_CLEAR_RX)
            u->loop_len = 0;
        break;
    case UART_LCR:
        u->lcr = v;
        break;
    case UART_MCR:
        u->mcr = v & 0x1f;
        break;
    case UART_SCR:
        u->scr = v;
        break;
    default: /* LSR and MSR are read-only (factory test writes are ignored) */
        break;
    }
}

static const IoDeviceOps uart_ops = {
    .read = uart_read,
    .write = uart_write,
};

int uart_init(Vm *vm, Error *e)
{
    Uart *u = calloc(1, sizeof(*u));
    int r;

    if (!u)
        return error_set_errno(e, ENOMEM, "out of memory");
    u->vm = vm;
    u->dll = 12; /* 9600 baud, as firmware leaves it */
    u->lcr = 0x03;
    u->msr_last = uart_modem_lines(u);
    r = vm_add_io_device(vm, &(IoDevice){
                                 .name = "uart",
                                 .base = UART_COM1_BASE,
                                 .len = 8,
                                 .stat = STAT_DEV_UART,
                                 .byte_registers = true,
                                 .ops = &uart_ops,
                                 .data = u,
                             });
    if (r < 0) {
        free(u);
        return error_set_errno(e, r, "cannot register the UART: %m");
    }
    vm->uart = u;
    return 0;
}

void uart_fini(Vm *vm)
{
    vm->uart = mfree(vm->uart);
}

void uart_save(Vm *vm, SnapUart *out)
{
    Uart *u = vm->uart;

    *out = (SnapUart){
        .ier = u->ier,
        .lcr = u->lcr,
        .mcr = u->mcr,
        .scr = u->scr,
        .dll = u->dll,
        .dlm = u->dlm,
        .msr_last = u->msr_last,
        .fifo_enabled = u->fifo_enabled,
        .thre_pending = u->thre_pending,
        .overrun = u->overrun,
        .loop_len = (uint8_t)u->loop_len,
    };
    memcpy(out->loop, u->loop, sizeof(out->loop));
}

int uart_load(Vm *vm, const SnapUart *in)
{
    Uart *u = vm->uart;

    _Static_assert(sizeof(in->loop) == UART_LOOP_FIFO, "saved loopback FIFO");
    if (in->loop_len > UART_LOOP_FIFO || in->ier > 0x0f || in->mcr > 0x1f)
        return -EINVAL;
    u->ier = in->ier;
    u->lcr = in->lcr;
    u->mcr = in->mcr;
    u->scr = in->scr;
    u->dll = in->dll;
    u->dlm = in->dlm;
    u->msr_last = in->msr_last;
    u->fifo_enabled = in->fifo_enabled;
    u->thre_pending = in->thre_pending;
    u->overrun = in->overrun;
    u->loop_len = in->loop_len;
    memcpy(u->loop, in->loop, sizeof(u->loop));
    return 0;
}
