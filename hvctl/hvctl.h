/* Shared state of the hvctl command: global options, exit codes and the verb table. */
#pragma once

#include <stdbool.h>

#include "client.h"
#include "error.h"

/* Exit codes, documented in hvctl --help and hvctl(1). */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,      /* the operation was refused or failed */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_NO_DOMAIN = 3,   /* no such domain (or network) */
    EXIT_UNREACHABLE = 4, /* hvd could not be reached */
    EXIT_FORCED = 5,      /* stop: the guest did not shut down in time and was destroyed */
};

typedef struct Globals {
    const char *bus_address;
    const char *url;
    const char *token_file;
    bool json;
    bool cluster;         /* --cluster: the verb acts on the cluster */
    const char *tls_ca;   /* --ca: the CA file hvd's HTTPS certificate is checked against */
    const char *tls_cert; /* --cert, --key: the client certificate for [http] tls-client-ca */
    const char *tls_key;
} Globals;

extern Globals arg;

typedef struct Verb {
    const char *name;
    const char *usage;   /* arguments and options, for help */
    const char *summary; /* one line */
    int (*run)(Client *c, int argc, char **argv);
} Verb;

extern const Verb verbs[];
extern const size_t n_verbs;

/* Prints e to stderr and returns the exit code that matches it. */
int exit_code_from_error(const Error *e);

/* Prints a usage error for verb and returns EXIT_USAGE. */
int usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the help of one verb. */
void verb_help(const Verb *v);

/* The read verbs (verbs-read.c). */
int verb_list(Client *c, int argc, char **argv);
int verb_info(Client *c, int argc, char **argv);
int verb_host(Client *c, int argc, char **argv);
int verb_events(Client *c, int argc, char **argv);
int verb_console(Client *c, int argc, char **argv);
int verb_stats(Client *c, int argc, char **argv);

/* hvctl vnc NAME [--listen [ADDR:]PORT] (verbs-vnc.c). */
int verb_vnc(Client *c, int argc, char **argv);

/* hvctl network create|list|info|delete (verbs-network.c). */
int verb_network(Client *c, int argc, char **argv);

/* Saved state (verbs-snapshot.c): save, start [--fresh], snapshot create|list|revert|delete and
 * clone. */
int verb_save(Client *c, int argc, char **argv);
int verb_start_saved(Client *c, int argc, char **argv);
int verb_snapshot(Client *c, int argc, char **argv);
int verb_clone(Client *c, int argc, char **argv);

/* Parses the setting options of create/set (verbs-domain.c) into settings. Returns EXIT_OK or
 * EXIT_USAGE (message printed); optind is left at the first argument. */
int parse_settings(const char *verb, int argc, char **argv, json_t *settings);

/* hvctl --cluster create|delete|move|drain|undrain|list|hosts (verbs-cluster.c): argv[0] is
 * the verb. */
int verb_cluster(Client *c, int argc, char **argv);
bool verb_cluster_help(int argc, char **argv);
/* Live migration (verbs-migrate.c): migrate NAME --to URL, migrate NAME --cancel. */
int verb_migrate(Client *c, int argc, char **argv);

/* Prints a JSON value as one document on stdout. */
void print_json(json_t *v);
