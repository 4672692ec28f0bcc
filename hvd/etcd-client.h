/* A client of etcd's v3 JSON gateway (HTTP POST of JSON to /v3/...) over libcurl's multi
 * interface on hvd's sd-event loop: calls never block, each is bounded in time, and a failure
 * says which endpoint failed and why (unreachable, no answer in time: down or without quorum). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "error.h"

typedef struct EtcdClient EtcdClient;
typedef struct EtcdCall EtcdCall;

/* Completion of a call: reply is the gateway's JSON answer (borrowed), or NULL with e saying
 * what failed. Called exactly once per call that was not cancelled, never from inside
 * etcd_call() itself. */
typedef void (*EtcdDone)(void *userdata, json_t *reply, const Error *e);

/* One message of a watch stream (borrowed): {"result": {"events": [...], ...}}. */
typedef void (*EtcdWatchEvent)(void *userdata, json_t *message);

/* TLS towards https:// endpoints (any field may be NULL: the system's CAs, no client
 * certificate). */
typedef struct EtcdTls {
    const char *ca;   /* PEM file of the CAs that sign etcd's certificates */
    const char *cert; /* PEM file of this client's certificate (etcd's --client-cert-auth) */
    const char *key;  /* its private key */
} EtcdTls;

/* Makes a client for endpoints ("http://H:P[,https://H:P...]") on event; each call gives up
 * after timeout_ms; tls (copied, may be NULL) applies to https endpoints. Returns 0 or a
 * negative errno with e saying what is wrong with endpoints. */
int etcd_client_new(sd_event *event, const char *endpoints, unsigned timeout_ms, const EtcdTls *tls,
                    EtcdClient **ret, Error *e);

/* Checks a comma-separated list of endpoints as etcd_client_new does (a config key's check). */
int etcd_endpoints_check(const char *endpoints, Error *e);

/* Drops every call and watch without calling their callbacks. Accepts NULL; returns NULL. */
EtcdClient *etcd_client_free(EtcdClient *c);

/* POSTs body (taken, even on failure) to path ("/v3/kv/range") on the current endpoint; a
 * connection refused moves on to the next endpoint within the same call. *ret_call (may be
 * NULL) lets the caller cancel it. Returns 0 or -ENOMEM. */
int etcd_call(EtcdClient *c, const char *path, json_t *body, EtcdDone done, void *userdata,
              EtcdCall **ret_call);

/* Cancels a call in flight: its callback is not called. Accepts NULL. */
void etcd_call_cancel(EtcdCall *call);

/* Opens a watch stream (POST /v3/watch with body, taken) whose every message goes to on_event;
 * when the stream ends or fails, on_end hears why (e) and the watch is over. Returns 0 or
 * -ENOMEM. */
int etcd_watch(EtcdClient *c, json_t *body, EtcdWatchEvent on_event, EtcdDone on_end,
               void *userdata, EtcdCall **ret_call);

/* The endpoint the client talks to now. */
const char *etcd_client_endpoint(const EtcdClient *c);
