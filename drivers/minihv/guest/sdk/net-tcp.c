/* TCP, passive open only: a few connections, in-order delivery into a receive buffer whose free
 * space is the advertised window, a send buffer sent within the peer's window, retransmission
 * from the oldest unacknowledged byte on a backed-off timer (and after three duplicate ACKs),
 * FIN handshakes both ways and a short TIME-WAIT. */
#include "net-stack.h"

#define TCP_SND_BUF      65536u /* powers of two */
#define TCP_RCV_BUF      16384u
#define TCP_LISTENERS    4u
#define TCP_MSS_DEFAULT  536u
#define TCP_RTO_INIT_NS  200000000ull
#define TCP_RTO_MAX_NS   3000000000ull
#define TCP_MAX_RETRIES  8u
#define TCP_TIME_WAIT_NS 1000000000ull
#define TCP_FIN_WAIT_NS  10000000000ull

typedef enum TcpState {
    TCP_FREE,
    TCP_SYN_RCVD,
    TCP_ESTABLISHED,
    TCP_CLOSE_WAIT,
    TCP_LAST_ACK,
    TCP_FIN_WAIT_1,
    TCP_FIN_WAIT_2,
    TCP_CLOSING,
    TCP_TIME_WAIT,
} TcpState;

struct TcpConn {
    TcpState state;
    const TcpHandlers *h;
    void *user;
    uint32_t rip;
    uint16_t rport, lport; /* network order */
    uint32_t snd_una, snd_nxt, snd_wnd;
    uint32_t snd_start, snd_len; /* ring offset and length of the bytes from snd_una on */
    uint16_t mss;
    bool fin_queued, fin_sent, fin_acked;
    uint32_t rcv_nxt;
    uint32_t rcv_start, rcv_len;
    bool peer_fin, ack_pending, was_accepted;
    uint64_t rto_at, rto_ns, deadline;
    unsigned retries, dupacks;
    uint8_t snd_buf[TCP_SND_BUF];
    uint8_t rcv_buf[TCP_RCV_BUF];
};

static TcpConn conns[TCP_MAX_CONNS];
static struct {
    uint16_t port;
    const TcpHandlers *h;
} listeners[TCP_LISTENERS];

static bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static uint16_t tcp_window(const TcpConn *c)
{
    uint32_t free_space = TCP_RCV_BUF - c->rcv_len;

    return (uint16_t)(free_space > 0xffff ? 0xffff : free_space);
}

/* Sends one segment: flags, seq, and len payload bytes taken from the send ring at offset off
 * past snd_una (a SYN carries the MSS option instead). */
static void tcp_xmit(TcpConn *c, uint8_t flags, uint32_t seq, uint32_t off, uint32_t len)
{
    uint32_t hlen = TCP_HLEN + ((flags & TCP_SYN) ? 4u : 0u);
    struct tcp_hdr *th;
    uint8_t *f, *payload;
    uint16_t csum;

    f = ip_frame_begin(c->rip, IP_PROTO_TCP, hlen + len);
    if (!f)
        return; /* the MAC is being resolved: the timer sends it again */
    th = (struct tcp_hdr *)(f + ETH_HLEN + IP_HLEN);
    *th = (struct tcp_hdr){
        .sport = c->lport,
        .dport = c->rport,
        .seq = htonl(seq),
        .ack = htonl(c->rcv_nxt),
        .off = (uint8_t)((hlen / 4) << 4),
        .flags = (uint8_t)(flags | TCP_ACK),
        .win = htons(tcp_window(c)),
    };
    payload = (uint8_t *)th + TCP_HLEN;
    if (flags & TCP_SYN) {
        uint16_t mss = htons((uint16_t)(IP_PAYLOAD_MAX - TCP_HLEN));
        payload[0] = 2; /* MSS option */
        payload[1] = 4;
        memcpy(payload + 2, &mss, 2);
        payload += 4;
    }
    if (len) {
        uint32_t at = (c->snd_start + off) & (TCP_SND_BUF - 1);
        uint32_t first = len < TCP_SND_BUF - at ? len : TCP_SND_BUF - at;
        memcpy(payload, c->snd_buf + at, first);
        memcpy(payload + first, c->snd_buf, len - first);
    }
    csum = csum_finish(csum_add(csum_pseudo(ip_addr, c->rip, IP_PROTO_TCP, (uint16_t)(hlen + len)),
                                th, hlen + len));
    th->csum = csum;
    (void)ip_frame_submit(hlen + len);
    c->ack_pending = false;
}

/* A reset for a segment that belongs to no connection (RFC 793, "reset generation"). */
static void tcp_reset_reply(const struct ip_hdr *ip, const struct tcp_hdr *in, size_t dlen)
{
    TcpConn tmp = {
        .rip = ip->src,
        .rport = in->sport,
        .lport = in->dport,
    };
    uint32_t seq = 0;
    uint8_t flags = TCP_RST;
    struct tcp_hdr *th;
    uint8_t *f;

    if (in->flags & TCP_ACK)
        seq = ntohl(in->ack);
    tmp.rcv_nxt = ntohl(in->seq) + (uint32_t)dlen + ((in->flags & TCP_SYN) ? 1u : 0u) +
                  ((in->flags & TCP_FIN) ? 1u : 0u);
    f = ip_frame_begin(ip->src, IP_PROTO_TCP, TCP_HLEN);
    if (!f)
        return;
    th = (struct tcp_hdr *)(f + ETH_HLEN + IP_HLEN);
    *th = (struct tcp_hdr){
        .sport = tmp.lport,
        .dport = tmp.rport,
        .seq = htonl(seq),
        .ack = htonl(tmp.rcv_nxt),
        .off = (TCP_HLEN / 4) << 4,
        .flags = (uint8_t)(flags | ((in->flags & TCP_ACK) ? 0 : TCP_ACK)),
    };
    th->csum =
        csum_finish(csum_add(csum_pseudo(ip_addr, ip->src, IP_PROTO_TCP, TCP_HLEN), th, TCP_HLEN));
    (void)ip_frame_submit(TCP_HLEN);
}

static void tcp_free(TcpConn *c)
{
    bool notify = c->was_accepted;

    c->state = TCP_FREE;
    if (notify && c->h->closed)
        c->h->closed(c);
}

static void tcp_arm(TcpConn *c, uint64_t now)
{
    if (!c->rto_at)
        c->rto_at = now + c->rto_ns;
}

/* Sends new data the peer's window allows, then a FIN once everything queued is out. */
static void tcp_output(TcpConn *c, uint64_t now, bool probe)
{
    if (c->state == TCP_FREE || c->state == TCP_SYN_RCVD || c->state == TCP_TIME_WAIT)
        return;
    for (;;) {
        uint32_t off = c->snd_nxt - c->snd_una;
        uint32_t wnd = c->snd_wnd ? c->snd_wnd : (probe ? 1u : 0u), n;

        if (c->fin_sent || off >= c->snd_len || off >= wnd)
            break;
        n = c->snd_len - off;
        if (n > c->mss)
            n = c->mss;
        if (n > wnd - off)
            n = wnd - off;
        tcp_xmit(c, off + n == c->snd_len ? TCP_PSH : 0, c->snd_nxt, off, n);
        c->snd_nxt += n;
        tcp_arm(c, now);
    }
    if (c->fin_queued && !c->fin_sent && c->snd_nxt - c->snd_una == c->snd_len) {
        tcp_xmit(c, TCP_FIN, c->snd_nxt, 0, 0);
        c->fin_sent = true;
        c->snd_nxt++;
        tcp_arm(c, now);
        if (c->state == TCP_ESTABLISHED)
            c->state = TCP_FIN_WAIT_1;
        else if (c->state == TCP_CLOSE_WAIT)
            c->state = TCP_LAST_ACK;
    }
    if (c->ack_pending)
        tcp_xmit(c, 0, c->snd_nxt, 0, 0);
}

static void tcp_retransmit(TcpConn *c, uint64_t now)
{
    c->rto_at = 0;
    if (++c->retries > TCP_MAX_RETRIES) {
        tcp_xmit(c, TCP_RST, c->snd_nxt, 0, 0);
        tcp_free(c);
        return;
    }
    c->rto_ns = c->rto_ns * 2 > TCP_RTO_MAX_NS ? TCP_RTO_MAX_NS : c->rto_ns * 2;
    if (c->state == TCP_SYN_RCVD) {
        tcp_xmit(c, TCP_SYN, c->snd_una, 0, 0);
        tcp_arm(c, now);
        return;
    }
    /* go back to the oldest unacknowledged byte */
    c->snd_nxt = c->snd_una;
    if (c->fin_sent && !c->fin_acked)
        c->fin_sent = false;
    c->dupacks = 0;
    tcp_output(c, now, true);
    tcp_arm(c, now);
}

static void tcp_accept(const struct ip_hdr *ip, const struct tcp_hdr *th, const uint8_t *opts,
                       size_t optlen, const TcpHandlers *h, uint64_t now)
{
    TcpConn *c = NULL;

    for (unsigned i = 0; i < TCP_MAX_CONNS && !c; i++)
        if (conns[i].state == TCP_FREE)
            c = &conns[i];
    for (unsigned i = 0; i < TCP_MAX_CONNS && !c; i++)
        if (conns[i].state == TCP_TIME_WAIT) {
            c = &conns[i];
            tcp_free(c);
        }
    if (!c)
        return; /* every slot busy: the peer's SYN retransmission tries again */
    c->state = TCP_SYN_RCVD;
    c->h = h;
    c->user = NULL;
    c->rip = ip->src;
    c->rport = th->sport;
    c->lport = th->dport;
    c->snd_una = (uint32_t)rdtsc();
    c->snd_nxt = c->snd_una + 1;
    c->snd_wnd = ntohs(th->win);
    c->snd_start = c->snd_len = 0;
    c->mss = TCP_MSS_DEFAULT;
    for (size_t i = 0; i < optlen;) {
        if (opts[i] == 0)
            break;
        if (opts[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= optlen || opts[i + 1] < 2 || i + opts[i + 1] > optlen)
            break;
        if (opts[i] == 2 && opts[i + 1] == 4) {
            uint32_t mss = (uint32_t)opts[i + 2] << 8 | opts[i + 3];
            if (mss >= 64)
                c->mss =
                    (uint16_t)(mss < IP_PAYLOAD_MAX - TCP_HLEN ? mss : IP_PAYLOAD_MAX - TCP_HLEN);
        }
        i += opts[i + 1];
    }
    c->fin_queued = c->fin_sent = c->fin_acked = false;
    c->rcv_nxt = ntohl(th->seq) + 1;
    c->rcv_start = c->rcv_len = 0;
    c->peer_fin = c->ack_pending = c->was_accepted = false;
    c->rto_ns = TCP_RTO_INIT_NS;
    c->rto_at = 0;
    c->retries = c->dupacks = 0;
    tcp_xmit(c, TCP_SYN, c->snd_una, 0, 0);
    tcp_arm(c, now);
}

/* Processes the acknowledgement field; returns false when the connection ended. */
static bool tcp_ack(TcpConn *c, uint32_t ack, uint32_t win, bool has_data, uint64_t now,
                    bool *writable)
{
    if (seq_lt(c->snd_nxt, ack)) {
        c->ack_pending = true; /* acknowledges what was never sent */
        return true;
    }
    if (seq_lt(c->snd_una, ack)) {
        uint32_t acked = ack - c->snd_una, n;
        if (c->state == TCP_SYN_RCVD) {
            acked--;
            c->snd_una++;
            c->state = TCP_ESTABLISHED;
            c->was_accepted = true;
            if (c->h->accepted)
                c->h->accepted(c);
            if (c->state == TCP_FREE)
                return false;
        }
        n = acked < c->snd_len ? acked : c->snd_len;
        c->snd_start = (c->snd_start + n) & (TCP_SND_BUF - 1);
        c->snd_len -= n;
        c->snd_una += n;
        if (acked > n && c->fin_sent) {
            c->fin_acked = true;
            c->snd_una++;
        }
        c->retries = c->dupacks = 0;
        c->rto_ns = TCP_RTO_INIT_NS;
        c->rto_at = 0;
        if (c->snd_nxt != c->snd_una)
            tcp_arm(c, now);
        *writable = n > 0;
        if (c->fin_acked) {
            if (c->state == TCP_FIN_WAIT_1) {
                c->state = TCP_FIN_WAIT_2;
                c->deadline = now + TCP_FIN_WAIT_NS;
            } else if (c->state == TCP_CLOSING) {
                c->state = TCP_TIME_WAIT;
                c->deadline = now + TCP_TIME_WAIT_NS;
            } else if (c->state == TCP_LAST_ACK) {
                tcp_free(c);
                return false;
            }
        }
    } else if (ack == c->snd_una && !has_data && c->snd_nxt != c->snd_una && win == c->snd_wnd &&
               ++c->dupacks == 3) {
        c->snd_nxt = c->snd_una; /* fast retransmit */
        if (c->fin_sent && !c->fin_acked)
            c->fin_sent = false;
    }
    c->snd_wnd = win;
    return true;
}

/* Takes in-order data and a FIN; returns whether the application has something to read. */
static bool tcp_data(TcpConn *c, uint32_t seq, const uint8_t *data, uint32_t dlen, bool fin,
                     uint64_t now)
{
    bool readable = false;

    if (!dlen && !fin)
        return false;
    c->ack_pending = true; /* duplicates and out-of-order segments are answered too */
    if (c->state != TCP_ESTABLISHED && c->state != TCP_FIN_WAIT_1 && c->state != TCP_FIN_WAIT_2)
        return false;
    if (seq != c->rcv_nxt)
        return false; /* only in-order data is kept */
    {
        uint32_t room = TCP_RCV_BUF - c->rcv_len, take = dlen < room ? dlen : room;
        uint32_t at = (c->rcv_start + c->rcv_len) & (TCP_RCV_BUF - 1);
        uint32_t first = take < TCP_RCV_BUF - at ? take : TCP_RCV_BUF - at;
        memcpy(c->rcv_buf + at, data, first);
        memcpy(c->rcv_buf, data + first, take - first);
        c->rcv_len += take;
        c->rcv_nxt += take;
        readable = take > 0;
        if (take < dlen)
            return readable; /* the window was overrun: the FIN, if any, comes again */
    }
    if (fin) {
        c->rcv_nxt++;
        c->peer_fin = true;
        readable = true;
        if (c->state == TCP_ESTABLISHED)
            c->state = TCP_CLOSE_WAIT;
        else if (c->state == TCP_FIN_WAIT_2 || (c->state == TCP_FIN_WAIT_1 && c->fin_acked)) {
            c->state = TCP_TIME_WAIT;
            c->deadline = now + TCP_TIME_WAIT_NS;
        } else
            c->state = TCP_CLOSING;
    }
    return readable;
}

void tcp_input(const struct ip_hdr *ip, const uint8_t *seg, size_t len)
{
    const struct tcp_hdr *th = (const struct tcp_hdr *)seg;
    uint64_t now = clock_mono_ns();
    bool writable = false, readable;
    TcpConn *c = NULL;
    size_t hlen;
    uint32_t seq;

    if (len < TCP_HLEN)
        return;
    hlen = (size_t)(th->off >> 4) * 4;
    if (hlen < TCP_HLEN || hlen > len)
        return;
    if (csum_finish(
            csum_add(csum_pseudo(ip->src, ip->dst, IP_PROTO_TCP, (uint16_t)len), seg, len)) != 0)
        return;
    for (unsigned i = 0; i < TCP_MAX_CONNS && !c; i++)
        if (conns[i].state != TCP_FREE && conns[i].rip == ip->src && conns[i].rport == th->sport &&
            conns[i].lport == th->dport)
            c = &conns[i];
    if (!c) {
        if (th->flags & TCP_RST)
            return;
        if ((th->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
            for (unsigned i = 0; i < TCP_LISTENERS; i++)
                if (listeners[i].h && listeners[i].port == th->dport) {
                    tcp_accept(ip, th, seg + TCP_HLEN, hlen - TCP_HLEN, listeners[i].h, now);
                    return;
                }
        tcp_reset_reply(ip, th, len - hlen);
        return;
    }
    seq = ntohl(th->seq);
    if (th->flags & TCP_RST) {
        if (!seq_lt(seq, c->rcv_nxt) && seq_lt(seq, c->rcv_nxt + TCP_RCV_BUF + 1))
            tcp_free(c);
        return;
    }
    if (th->flags & TCP_SYN) {
        if (c->state == TCP_SYN_RCVD)
            tcp_xmit(c, TCP_SYN, c->snd_una, 0, 0); /* our SYN-ACK was lost */
        else
            c->ack_pending = true;
        tcp_output(c, now, false);
        return;
    }
    if (!(th->flags & TCP_ACK))
        return;
    if (!tcp_ack(c, ntohl(th->ack), ntohs(th->win), len > hlen, now, &writable))
        return;
    readable = tcp_data(c, seq, seg + hlen, (uint32_t)(len - hlen), th->flags & TCP_FIN, now);
    if (readable && c->h->readable)
        c->h->readable(c);
    if (c->state != TCP_FREE && writable && c->h->writable)
        c->h->writable(c);
    if (c->state != TCP_FREE)
        tcp_output(c, now, false);
}

uint64_t tcp_tick(uint64_t now)
{
    uint64_t next = UINT64_MAX;

    for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
        TcpConn *c = &conns[i];
        if (c->state == TCP_FREE)
            continue;
        if ((c->state == TCP_TIME_WAIT || c->state == TCP_FIN_WAIT_2) && now >= c->deadline) {
            tcp_free(c);
            continue;
        }
        if (c->rto_at && now >= c->rto_at)
            tcp_retransmit(c, now);
        if (c->state == TCP_FREE)
            continue;
        tcp_output(c, now, false);
        if (c->rto_at && c->rto_at < next)
            next = c->rto_at;
        if ((c->state == TCP_TIME_WAIT || c->state == TCP_FIN_WAIT_2) && c->deadline < next)
            next = c->deadline;
    }
    return next;
}

int tcp_listen(uint16_t port, const TcpHandlers *h)
{
    for (unsigned i = 0; i < TCP_LISTENERS; i++)
        if (!listeners[i].h) {
            listeners[i].port = port;
            listeners[i].h = h;
            return 0;
        }
    return -SDK_EINVAL;
}

size_t tcp_recv(TcpConn *c, void *buf, size_t len)
{
    uint8_t *out = buf;
    uint16_t before = tcp_window(c);
    size_t n = len < c->rcv_len ? len : c->rcv_len;

    for (size_t i = 0; i < n; i++)
        out[i] = c->rcv_buf[(c->rcv_start + i) & (TCP_RCV_BUF - 1)];
    c->rcv_start = (c->rcv_start + (uint32_t)n) & (TCP_RCV_BUF - 1);
    c->rcv_len -= (uint32_t)n;
    if (before < c->mss && tcp_window(c) >= c->mss)
        c->ack_pending = true; /* a window update */
    return n;
}

size_t tcp_send_space(TcpConn *c)
{
    if (c->fin_queued || (c->state != TCP_ESTABLISHED && c->state != TCP_CLOSE_WAIT))
        return 0;
    return TCP_SND_BUF - c->snd_len;
}

size_t tcp_send(TcpConn *c, const void *data, size_t len)
{
    size_t room = tcp_send_space(c), n = len < room ? len : room;
    uint32_t at = (c->snd_start + c->snd_len) & (TCP_SND_BUF - 1);
    size_t first = n < TCP_SND_BUF - at ? n : TCP_SND_BUF - at;

    memcpy(c->snd_buf + at, data, first);
    memcpy(c->snd_buf, (const uint8_t *)data + first, n - first);
    c->snd_len += (uint32_t)n;
    return n;
}

bool tcp_peer_closed(TcpConn *c)
{
    return c->peer_fin;
}

void tcp_close(TcpConn *c)
{
    c->fin_queued = true;
}

void tcp_set_user(TcpConn *c, void *user)
{
    c->user = user;
}

void *tcp_user(TcpConn *c)
{
    return c->user;
}
