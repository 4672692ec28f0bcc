/* TLS for hvd's own connections to and from other hvds (GnuTLS): a connected TCP socket is
 * handed to a relay thread, which makes the handshake and then carries the plain bytes between
 * the TLS session and one end of a loopback TCP connection that the caller keeps. The caller
 * (the event loop, or a sandboxed VMM the descriptor is passed to) reads and writes that end as
 * it would the TCP connection itself, never waits on a handshake, and never links a TLS
 * library. End-of-file on it means the peer closed its TLS session (close_notify); anything
 * else (a failed handshake or connection, a peer gone without close_notify, hvd itself killed)
 * resets it (ECONNRESET), so a cut stream never looks complete. */
#pragma once

#include "error.h"
#include "tls-files.h"

typedef struct TlsRelay TlsRelay;

/* Starts relaying tcp_fd (connected; the relay takes it over, also on failure) as a TLS
 * client verifying that the server's certificate is signed by files->ca and names
 * server_name (an IP address or a DNS name), or, with server_name NULL, as a TLS server
 * (files as tls-files.h says). peer describes the other side for messages ("the target hvd at
 * ..."). The handshake must end within handshake_timeout_ms. The files are loaded now (e says
 * what is wrong with them); everything after runs on the relay's thread. *ret_fd gets the
 * caller's end of the loopback connection (blocking, O_CLOEXEC); *ret (may be NULL) gets a
 * reference to ask why the relay ended, dropped with tls_relay_unref(). A relay nobody holds any
 * more logs its failure itself. */
int tls_relay_start(int tcp_fd, const TlsFiles *files, const char *server_name, const char *peer,
                    unsigned handshake_timeout_ms, int *ret_fd, TlsRelay **ret, Error *e);

/* Why the relay ended early ("the TLS handshake with PEER failed: ..."), or NULL while it runs
 * or when it ended cleanly. Read it once the caller's end saw end-of-file; it stays valid
 * until the reference is dropped. */
const char *tls_relay_error(TlsRelay *relay);

/* Drops the caller's reference. Accepts NULL; returns NULL. */
TlsRelay *tls_relay_unref(TlsRelay *relay);
