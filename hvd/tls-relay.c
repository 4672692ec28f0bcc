/* A TLS session relayed to a loopback TCP connection by a thread of its own: the handshake,
 * then one thread per direction (GnuTLS allows one sender and one receiver on a session at
 * once), so neither direction waits for the other and a full socket on one side never stalls
 * the other. The relay's end lingers 0: closed on a failure, or by the death of hvd, it resets
 * the caller's end instead of ending it, and only the peer's TLS close_notify becomes the
 * caller's end-of-file. A migration's target takes its source's end-of-file as "the guest is
 * yours": a relay that dies must never say that. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "tls-relay.h"

#define RELAY_BUFFER (64u * 1024u)

struct TlsRelay {
    int refs; /* atomic: the caller's and the thread's */
    int tcp_fd;
    int plain_fd; /* the relay's end of the loopback connection to the caller */
    gnutls_certificate_credentials_t cred;
    gnutls_session_t session;
    bool server;
    bool require_client_cert;
    char server_name[256];
    char peer[128];
    unsigned handshake_timeout_ms;
    pthread_mutex_t lock; /* guards error */
    char error[512];
    bool failed; /* atomic: the relay ends without passing an end-of-file on */
};

static void relay_free(TlsRelay *t)
{
    if (t->session)
        gnutls_deinit(t->session);
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    safe_close(t->tcp_fd);
    safe_close(t->plain_fd);
    (void)pthread_mutex_destroy(&t->lock);
    free(t);
}

static void relay_drop(TlsRelay *t, bool logging)
{
    if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (logging && t->error[0])
        log_warning("%s", t->error);
    relay_free(t);
}

TlsRelay *tls_relay_unref(TlsRelay *relay)
{
    if (relay)
        relay_drop(relay, false);
    return NULL;
}

const char *tls_relay_error(TlsRelay *relay)
{
    const char *why;

    (void)pthread_mutex_lock(&relay->lock);
    why = relay->error[0] ? relay->error : NULL;
    (void)pthread_mutex_unlock(&relay->lock);
    return why;
}

/* Records the first reason the relay fails (fmt may give ""), then ends both directions
 * without a TLS close_notify or an end-of-file: the caller's end is reset when the relay
 * closes it. */
static void relay_fail(TlsRelay *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void relay_fail(TlsRelay *t, const char *fmt, ...)
{
    va_list ap;

    (void)pthread_mutex_lock(&t->lock);
    if (!t->error[0]) {
        va_start(ap, fmt);
        (void)vsnprintf(t->error, sizeof(t->error), fmt, ap);
        va_end(ap);
    }
    (void)pthread_mutex_unlock(&t->lock);
    __atomic_store_n(&t->failed, true, __ATOMIC_RELEASE);
    (void)shutdown(t->tcp_fd, SHUT_RDWR);
    (void)shutdown(t->plain_fd, SHUT_RD); /* wakes the sender; sends the caller nothing */
}

static bool relay_failed(TlsRelay *t)
{
    return __atomic_load_n(&t->failed, __ATOMIC_ACQUIRE);
}

static bool write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* The caller's bytes into the session, until the caller's end-of-file (passed on as TLS
 * close_notify and a TCP half-close) or the relay's failure (passed on as nothing). */
static void *relay_send_main(void *userdata)
{
    TlsRelay *t = userdata;
    _cleanup_free_ char *buf = malloc(RELAY_BUFFER);
    ssize_t n;

    if (!buf) {
        relay_fail(t, "Out of memory relaying TLS to %s", t->peer);
        return NULL;
    }
    for (;;) {
        n = recv(t->plain_fd, buf, RELAY_BUFFER, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t at = 0; at < n;) {
            ssize_t sent = gnutls_record_send(t->session, buf + at, (size_t)(n - at));
            if (sent == GNUTLS_E_AGAIN || sent == GNUTLS_E_INTERRUPTED)
                continue;
            if (sent < 0) {
                relay_fail(t, "the TLS connection to %s failed: %s", t->peer,
                           gnutls_strerror((int)sent));
                return NULL;
            }
            at += sent;
        }
    }
    if (n < 0)
        relay_fail(t, "Failed to read what goes to %s: %m", t->peer);
    else if (!relay_failed(t)) {
        (void)gnutls_bye(t->session, GNUTLS_SHUT_WR);
        (void)shutdown(t->tcp_fd, SHUT_WR);
    }
    return NULL;
}

/* The session's bytes to the caller, until the peer's close_notify (passed on as a half-close
 * of the caller's end), a failure (a TCP end without close_notify is one), or the caller
 * resetting its end. Returns true for the peer's close_notify. */
static bool relay_receive(TlsRelay *t)
{
    _cleanup_free_ char *buf = malloc(RELAY_BUFFER);

    if (!buf) {
        relay_fail(t, "Out of memory relaying TLS from %s", t->peer);
        return false;
    }
    for (;;) {
        ssize_t n;

        if (gnutls_record_check_pending(t->session) == 0) {
            struct pollfd p[2] = {{.fd = t->tcp_fd, .events = POLLIN}, {.fd = t->plain_fd}};

            if (poll(p, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                relay_fail(t, "Failed to wait on the TLS connection to %s: %m", t->peer);
                return false;
            }
            if (p[1].revents & (POLLHUP | POLLERR))
                return false; /* the caller reset its end: nobody reads any more */
            if (!p[0].revents)
                continue;
        }
        n = gnutls_record_recv(t->session, buf, RELAY_BUFFER);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n == 0 && !relay_failed(t)) {
            (void)shutdown(t->plain_fd, SHUT_WR);
            return true;
        }
        if (n == GNUTLS_E_PREMATURE_TERMINATION) {
            relay_fail(t, "the TLS connection to %s ended without a TLS close", t->peer);
            return false;
        }
        if (n <= 0) {
            relay_fail(t, "the TLS connection to %s failed: %s", t->peer, gnutls_strerror((int)n));
            return false;
        }
        if (!write_all(t->plain_fd, buf, (size_t)n))
            return false;
    }
}

static int relay_handshake(TlsRelay *t)
{
    int r;

    r = gnutls_init(&t->session, t->server ? GNUTLS_SERVER | GNUTLS_NO_TICKETS : GNUTLS_CLIENT);
    if (r >= 0)
        r = gnutls_set_default_priority(t->session);
    if (r >= 0)
        r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred);
    if (r < 0) {
        relay_fail(t, "Failed to set up TLS with %s: %s", t->peer, gnutls_strerror(r));
        return r;
    }
    if (!t->server)
        gnutls_session_set_verify_cert(t->session, t->server_name, 0);
    else if (t->require_client_cert) {
        gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert(t->session, NULL, 0);
    }
    gnutls_transport_set_int(t->session, t->tcp_fd);
    gnutls_handshake_set_timeout(t->session, t->handshake_timeout_ms);
    do
        r = gnutls_handshake(t->session);
    while (r < 0 && !gnutls_error_is_fatal(r));
    if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        gnutls_datum_t why = {};
        unsigned status = gnutls_session_get_verify_cert_status(t->session);

        (void)gnutls_certificate_verification_status_print(
            status, gnutls_certificate_type_get(t->session), &why, 0);
        relay_fail(t, "the TLS handshake with %s failed: its certificate is not trusted (%s)",
                   t->peer, why.data ? (const char *)why.data : gnutls_strerror(r));
        gnutls_free(why.data);
    } else if (r < 0)
        relay_fail(t, "the TLS handshake with %s failed: %s", t->peer, gnutls_strerror(r));
    return r;
}

static void *relay_main(void *userdata)
{
    TlsRelay *t = userdata;
    pthread_t sender;
    int flags = fcntl(t->tcp_fd, F_GETFL);

    if (flags >= 0)
        (void)fcntl(t->tcp_fd, F_SETFL, flags & ~O_NONBLOCK);
    /* What the caller writes in small pieces (a migration's records, its final READY) goes out
     * at once, as it would on the caller's own TCP socket with TCP_NODELAY. */
    (void)setsockopt(t->tcp_fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    if (relay_handshake(t) >= 0) {
        if (pthread_create(&sender, NULL, relay_send_main, t) != 0)
            relay_fail(t, "Failed to start relaying TLS to %s", t->peer);
        else {
            if (!relay_receive(t))
                relay_fail(t, "%s", ""); /* ends the sender; keeps an earlier reason */
            (void)pthread_join(sender, NULL);
        }
    }
    /* The caller sees its end reset once this end closes (the reason is recorded before),
     * or, after the peer's close_notify, a plain close. */
    if (!relay_failed(t))
        (void)setsockopt(t->plain_fd, SOL_SOCKET, SO_LINGER, &(struct linger){},
                         sizeof(struct linger));
    t->plain_fd = safe_close(t->plain_fd);
    t->tcp_fd = safe_close(t->tcp_fd);
    relay_drop(t, true);
    return NULL;
}

/* A TCP connection over loopback: *ret_caller and *ret_relay its two ends (blocking,
 * O_CLOEXEC, TCP_NODELAY); the relay's end lingers 0, so that closing it resets the caller's.
 * The listening port lives for one accept, which must be this connection. */
static int loopback_pair(int *ret_caller, int *ret_relay, Error *e)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}, mine,
                       peer;
    socklen_t len = sizeof(a), mine_len = sizeof(mine), peer_len = sizeof(peer);
    _cleanup_close_ int listener = -EBADF, caller = -EBADF, relay = -EBADF;

    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(listener, 1) < 0 || getsockname(listener, (struct sockaddr *)&a, &len) < 0)
        return error_set_errno(e, -errno,
                               "Failed to listen on loopback for the TLS relay (is lo up?): %m");
    caller = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (caller < 0 || connect(caller, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(caller, (struct sockaddr *)&mine, &mine_len) < 0)
        return error_set_errno(e, -errno, "Failed to connect the TLS relay on loopback: %m");
    relay = accept4(listener, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
    if (relay < 0)
        return error_set_errno(e, -errno, "Failed to accept the TLS relay's connection: %m");
    if (peer.sin_port != mine.sin_port || peer.sin_addr.s_addr != mine.sin_addr.s_addr)
        return error_setf(e, ERROR_FAILED,
                          "another process connected to the TLS relay's loopback port first");
    if (setsockopt(relay, SOL_SOCKET, SO_LINGER, &(struct linger){.l_onoff = 1, .l_linger = 0},
                   sizeof(struct linger)) < 0)
        return error_set_errno(e, -errno, "Failed to set up the TLS relay: %m");
    (void)setsockopt(relay, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    (void)setsockopt(caller, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    *ret_caller = TAKE_FD(caller);
    *ret_relay = TAKE_FD(relay);
    return 0;
}

int tls_relay_start(int tcp_fd, const TlsFiles *files, const char *server_name, const char *peer,
                    unsigned handshake_timeout_ms, int *ret_fd, TlsRelay **ret, Error *e)
{
    TlsRelay *t = calloc(1, sizeof(*t));
    pthread_attr_t attr;
    int pair[2] = {-EBADF, -EBADF}, r;

    *ret_fd = -EBADF;
    if (ret)
        *ret = NULL;
    if (!t) {
        safe_close(tcp_fd);
        return error_set_errno(e, -ENOMEM, "Out of memory");
    }
    *t = (TlsRelay){.refs = 1,
                    .tcp_fd = tcp_fd,
                    .plain_fd = -EBADF,
                    .server = !server_name,
                    .require_client_cert = !server_name && files->ca,
                    .handshake_timeout_ms = handshake_timeout_ms};
    (void)pthread_mutex_init(&t->lock, NULL);
    (void)snprintf(t->server_name, sizeof(t->server_name), "%s", strempty(server_name));
    (void)snprintf(t->peer, sizeof(t->peer), "%s", peer);
    r = tls_files_load(files, peer, &t->cred, e);
    if (r < 0) {
        relay_free(t);
        return r;
    }
    r = loopback_pair(&pair[0], &pair[1], e);
    if (r < 0) {
        relay_free(t);
        return r;
    }
    t->plain_fd = pair[1];
    t->refs = 2;
    {
        pthread_t thread;

        (void)pthread_attr_init(&attr);
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&thread, &attr, relay_main, t);
        (void)pthread_attr_destroy(&attr);
    }
    if (r != 0) {
        safe_close(pair[0]);
        relay_free(t);
        return error_set_errno(e, -r, "Failed to start a TLS relay thread: %m");
    }
    *ret_fd = pair[0];
    if (ret)
        *ret = t;
    else
        relay_drop(t, false);
    return 0;
}
