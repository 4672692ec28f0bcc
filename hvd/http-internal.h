/* Shared by the HTTP files: the server, a request, and the helpers that answer it. */
#pragma once

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "error.h"
#include "hashmap.h"
#include "http.h"

#define HTTP_TOKEN_LENGTH 64 /* hex characters */

typedef struct HttpRequest HttpRequest;
typedef struct HttpSubscriber HttpSubscriber;
typedef struct HttpConnection HttpConnection;
typedef struct HttpVncBridge HttpVncBridge;

/* Connections waiting for their client, oldest first. Each waits timeout_us at most, the same for
 * all, so the list is in deadline order too (http-guard.c). */
typedef struct HttpWaitList {
    HttpConnection *head, *tail;
    uint64_t timeout_us;
} HttpWaitList;

typedef struct HttpDaemon {
    Http *http;
    struct MHD_Daemon *mhd;
    sd_event_source *io;
    sd_event_source *timer;
    sd_event_source *deadline; /* the earliest deadline of the wait lists */
    HttpWaitList receiving;    /* a request's headers or body still arriving */
    HttpWaitList idle;         /* kept alive between requests */
    HttpWaitList closing;      /* past a deadline, told to time out */
    unsigned n_connections;
    char url[128];
} HttpDaemon;

struct Http {
    Manager *manager;
    sd_event *event;
    HttpDaemon *daemons;
    size_t n_daemons;
    char token[HTTP_TOKEN_LENGTH + 1];
    char *web_dir;
    size_t max_body;
    unsigned max_connections;   /* per listener; a newcomer beyond makes room (http-guard.c) */
    unsigned max_per_address;   /* connections from one address beyond loopback */
    Hashmap *peers;             /* address text -> connections open from it */
    sd_event_source *log_timer; /* ends a window of rate-limited log lines (http-log.c) */
    uint64_t log_window_start;
    unsigned log_lines, log_suppressed;
    HttpRequest *waiting;        /* requests suspended until an operation completes */
    HttpSubscriber *subscribers; /* event stream clients */
    unsigned n_subscribers;
    int64_t sse_last_id;          /* newest logged event sent to the subscribers */
    sd_event_source *keepalive;   /* event stream keep-alive comments */
    sd_event_source *stats_timer; /* periodic stats events while anyone listens */
    sd_event_source *kick;        /* runs the daemons after a connection was resumed */
    HttpVncBridge *vnc_bridges;   /* WebSocket sessions of graphical consoles (http-vnc.c) */
    bool client_cert_required;    /* [http] tls-client-ca: every request shows one (http-tls.c) */
};

struct HttpRequest {
    Http *http;
    struct MHD_Connection *conn;
    char *url;
    char *method;
    char *body;
    size_t body_len;
    bool too_large;
    bool local;                    /* peer on loopback or the unix socket */
    bool waiting;                  /* an operation holds this request until it completes */
    bool orphaned;                 /* the connection ended while still waiting */
    struct MHD_Response *response; /* ready to queue after a resume */
    unsigned status;
    HttpRequest *next_waiting;
    HttpVncBridge *vnc; /* a VNC session waiting for its upgrade (http-vnc.c) */
};

/* Parses the request body as a JSON object; an empty body is an empty object when optional.
 * Answers 415/400 itself (ret) and returns NULL on failure. */
json_t *http_read_body(HttpRequest *r, bool optional, enum MHD_Result *ret);

/* /api/v1/networks and /api/v1/networks/{network} (http-network.c); d is unused, arg is the
 * network's name. */
enum MHD_Result http_list_networks(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_create_network(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_get_network(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_delete_network(HttpRequest *r, Domain *d, const char *arg);

/* /api/v1/cluster/hosts and /api/v1/cluster/domains (http-cluster.c). */
enum MHD_Result http_cluster_hosts(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_cluster_domains(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_cluster_create(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_cluster_delete(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_cluster_drain(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_cluster_move(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_cluster_undrain(HttpRequest *r, Domain *d, const char *arg);
/* Live migration (http-migrate.c): start and cancel one of domain d (arg unused), and the
 * target's admission (d and arg unused). */
enum MHD_Result http_migrate_domain(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_migrate_cancel(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_migration_admit(HttpRequest *r, Domain *d, const char *arg);

/* GET /api/v1/events/log (http-event-log.c): the logged events a query selects. */
enum MHD_Result http_event_log(HttpRequest *r, Domain *d, const char *arg);

/* GET /api/v1/domains/{name}/vnc (http-vnc.c): upgrades to a WebSocket relaying the domain's
 * VNC display. http_vnc_done() ends every session (before the daemons stop). */
enum MHD_Result http_domain_vnc(HttpRequest *r, Domain *d, const char *arg);
void http_vnc_done(Http *h);
/* The request of a session ended before its upgrade: the session goes with it. */
void http_vnc_abandon(HttpVncBridge *b);

/* Statistics history (http-history.c): ?range=hour|day|month of domain d, and of the host. */
enum MHD_Result http_domain_history(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_host_history(HttpRequest *r, Domain *d, const char *arg);

/* Saved state (http-snapshot.c): d's snapshots (list, create; arg is unused), one snapshot
 * (delete, revert; arg is its name), and clones of d. */
enum MHD_Result http_list_snapshots(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_create_snapshot(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_delete_snapshot(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_revert_snapshot(HttpRequest *r, Domain *d, const char *arg);
enum MHD_Result http_clone_domain(HttpRequest *r, Domain *d, const char *arg);

/* Writes the address of a client as text into out (http-guard.c): IPv4 (also when
 * IPv4-mapped), IPv6, or "the unix socket". */
void http_address_text(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN]);

/* Answers with a JSON document (takes the reference to body). */
enum MHD_Result http_reply_json(HttpRequest *r, unsigned status, json_t *body);

/* Answers with a JSON document and one extra header (Location, say). */
enum MHD_Result http_reply_json_header(HttpRequest *r, unsigned status, json_t *body,
                                       const char *header, const char *value);

/* Answers with application/problem+json: status, title, and a detail sentence. */
enum MHD_Result http_reply_problem(HttpRequest *r, unsigned status, const char *detail_fmt, ...)
    _printf_(3, 4);

/* Like http_reply_problem, with one extra response header (WWW-Authenticate, say). */
enum MHD_Result http_reply_problem_header(HttpRequest *r, unsigned status, const char *header,
                                          const char *value, const char *detail_fmt, ...)
    _printf_(5, 6);

/* Answers with the problem matching e's kind (404, 409, 400, 403, 503, 500). */
enum MHD_Result http_reply_error(HttpRequest *r, const Error *e);

/* Answers with text (copied) of the given content type. */
enum MHD_Result http_reply_text(HttpRequest *r, unsigned status, const char *content_type,
                                const char *text, size_t len);

/* The same, taking over text (malloc'ed), which it frees. */
enum MHD_Result http_reply_owned_text(HttpRequest *r, unsigned status, const char *content_type,
                                      char *text, size_t len);

/* Answers 405 with an Allow header. */
enum MHD_Result http_reply_not_allowed(HttpRequest *r, const char *allow);

/* Resumes a suspended connection and makes sure the daemons run soon: in external polling
 * mode a resume alone does not wake the loop. */
void http_resume(Http *h, struct MHD_Connection *conn);

/* Makes sure the daemons run soon (after a connection was resumed or told to time out). */
void http_kick(Http *h);

/* Holds r until http_complete() (the connection is suspended meanwhile). */
void http_wait(HttpRequest *r);

/* Completes a held request with a response (status, JSON body taken) and wakes it. */
void http_complete_json(HttpRequest *r, unsigned status, json_t *body);

/* Answers with what a completion produced while the handler still ran (before http_wait). */
enum MHD_Result http_reply_completed(HttpRequest *r);

/* Completes a held request with the problem for e. */
void http_complete_error(HttpRequest *r, const Error *e);

/* Routes a complete request (http-api.c). */
enum MHD_Result http_route(HttpRequest *r);

/* Authorization (http-auth.c): loads or creates the token file; checks a request. */
int http_token_load(Http *h, const char *state_dir, Error *e);
/* Returns true when r may go on; otherwise answers 401 (no token, or a wrong one: RFC 6750's
 * invalid_token) and returns false. mutate says whether the request changes anything. Reads
 * from loopback need no token; other reads take it from the Authorization header or the
 * access_token query parameter, changes only from the header. */
bool http_authorize(HttpRequest *r, bool mutate, enum MHD_Result *ret);
/* Like http_authorize for a change whose client cannot send headers (a browser's WebSocket):
 * the token is wanted from loopback too, from the Authorization header or else the
 * access_token query parameter. */
bool http_authorize_token(HttpRequest *r, enum MHD_Result *ret);

/* Event stream (http-events.c). */
enum MHD_Result http_events_serve(HttpRequest *r);
int http_events_init(Http *h);
void http_events_done(Http *h);

/* Prometheus metrics (http-metrics.c). */
enum MHD_Result http_metrics_serve(HttpRequest *r);

/* Static files and the OpenAPI document (http-static.c). */
enum MHD_Result http_static_serve(HttpRequest *r, const char *path);
enum MHD_Result http_openapi_serve(HttpRequest *r);

/* The value of query argument key, or NULL. */
const char *http_query(HttpRequest *r, const char *key);
/* The value of request header key, or NULL. */
const char *http_header(HttpRequest *r, const char *key);

/* Guarding the listeners (http-guard.c). http_guard_init() readies d (d->http set) with the
 * timeouts of config; http_guard_done() undoes it once d's libmicrohttpd daemon is stopped. The
 * callbacks go to MHD_start_daemon with d as their closure: http_guard_accept refuses a client
 * beyond loopback that already has max_per_address connections, http_guard_notify tracks each
 * connection. While a request's headers or body are arriving the connection has
 * request-timeout to bring them; between requests, idle-timeout; past either it is closed. A
 * listener holding max_connections makes room for a newcomer by closing the connection that has
 * waited longest for its client. Connections being answered, streaming events or held for an
 * operation have no deadline. */
int http_guard_init(HttpDaemon *d, const HvdConfig *config);
void http_guard_done(HttpDaemon *d);
enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe);
/* The request on conn has its headers (on_request's first call), has all of its body (hvd now
 * answers), or is done (the connection waits for the next one). */
void http_guard_headers_received(struct MHD_Connection *conn);
void http_guard_request_received(struct MHD_Connection *conn);
void http_guard_request_done(struct MHD_Connection *conn);

/* Whether a client address is loopback (or absent, as for unix sockets). */
bool http_address_is_local(const struct sockaddr *sa);

/* Logs a line about what a client did, at most a few per ten seconds; then one line at the end
 * of the window says how many were not logged (http-log.c). */
void http_log_limited(Http *h, int level, const char *fmt, ...) _printf_(3, 4);
/* libmicrohttpd's logger (MHD_OPTION_EXTERNAL_LOGGER, closure h): its messages, limited so. */
void http_log_mhd(void *cls, const char *fmt, va_list ap) _printf_(2, 0);
/* Logs what is still unreported and drops the window's timer (after the daemons stopped). */
void http_log_done(Http *h);
