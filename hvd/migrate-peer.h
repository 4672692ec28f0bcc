/* hvd's side of another hvd during a live migration: a TCP connection opened without waiting
 * (TLS through tls-relay.h for an https:// target), and one HTTP/1.1 request over it (a JSON
 * body, a bearer token), answered on the event loop. */
#pragma once

#include <jansson.h>
#include <systemd/sd-event.h>

#include "error.h"
#include "tls-files.h"

typedef struct PeerCall PeerCall;

/* Where another hvd's HTTP API listens: "http://ADDRESS:PORT" or "https://ADDRESS:PORT" (an
 * IPv4 or [IPv6] address, or localhost; no name lookup, which could wait on the loop). */
typedef struct PeerAddress {
    char host[64];
    char port[8];
    bool tls; /* https://: every connection to it is TLS, its certificate must name host */
} PeerAddress;

/* Parses url into *ret; e says what is wrong with it. */
int peer_address_parse(const char *url, PeerAddress *ret, Error *e);

/* Called once: with the connected socket (the callee's; blocking mode; for a TLS peer, the
 * plain end of its relay, which the handshake may still fail behind) or with fd -EBADF and e
 * set. */
typedef void (*PeerConnected)(PeerCall *call, int fd, const Error *e, void *userdata);

/* Called once with the HTTP status and the body parsed as JSON (borrowed, NULL when it is not
 * JSON), or with e set when the exchange failed. */
typedef void (*PeerAnswered)(PeerCall *call, unsigned status, json_t *body, const Error *e,
                             void *userdata);

/* Connects to port of a's host within timeout_ms; tls (copied; needed when a->tls, ignored
 * otherwise) is this side's certificate files. The call frees itself after done. */
int peer_connect(sd_event *event, const PeerAddress *a, const TlsFiles *tls, const char *port,
                 unsigned timeout_ms, PeerConnected done, void *userdata, PeerCall **ret, Error *e);

/* Sends method path with body (may be NULL) and "Authorization: Bearer token" (when not empty)
 * to a within timeout_ms (the TLS handshake included; tls as for peer_connect), and reads the
 * answer. */
int peer_request(sd_event *event, const PeerAddress *a, const TlsFiles *tls, const char *method,
                 const char *path, const char *token, json_t *body, unsigned timeout_ms,
                 PeerAnswered done, void *userdata, PeerCall **ret, Error *e);

/* Drops a call in flight without calling its done. Accepts NULL. */
void peer_call_cancel(PeerCall *call);
