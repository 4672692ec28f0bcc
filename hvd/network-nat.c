/* NAT for hvd networks through libnftables: table ip hvd written whole from the networks in
 * one transaction, and IPv4 forwarding turned on while it is needed and put back after.
 *
 * libnftables rather than running nft: the ruleset is applied in hvd's own process through
 * netlink to the kernel, as the bridges are through libmnl, so hvd never waits on a child
 * process on its loop, and nft's error message comes back in a buffer to put in the answer. */
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "network-nat.h"

#define IP_FORWARD_PATH "/proc/sys/net/ipv4/ip_forward"

bool network_nat_wanted(Network *const *networks, size_t n_networks)
{
    for (size_t i = 0; i < n_networks; i++)
        if (networks[i]->nat)
            return true;
    return false;
}

char *network_nat_ruleset(Network *const *networks, size_t n_networks)
{
    char *text = NULL, subnet[16];
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);

    if (!f)
        return NULL;
    /* "add" then "delete" removes the table whether it was there or not. */
    fputs("add table ip " NETWORK_NAT_TABLE "\ndelete table ip " NETWORK_NAT_TABLE "\n", f);
    if (network_nat_wanted(networks, n_networks)) {
        fputs("table ip " NETWORK_NAT_TABLE " {\n"
              "\tchain forward {\n"
              "\t\ttype filter hook forward priority filter; policy accept;\n",
              f);
        /* Frames bridged within one network pass here too where br_netfilter is loaded. */
        for (size_t i = 0; i < n_networks; i++)
            fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" accept\n", networks[i]->bridge,
                    networks[i]->bridge);
        for (size_t i = 0; i < n_networks; i++) {
            const Network *n = networks[i];

            if (!n->nat)
                continue;
            network_format_ipv4(n->subnet, subnet);
            fprintf(f,
                    "\t\tiifname \"%s\" ip saddr %s/%u oifname != \"" NETWORK_BRIDGE_PREFIX
                    "*\" accept\n"
                    "\t\toifname \"%s\" ip daddr %s/%u ct state established,related accept\n",
                    n->bridge, subnet, n->prefix, n->bridge, subnet, n->prefix);
        }
        /* Turning forwarding on must not route host-only networks, nor let the outside open
         * connections into a NAT network. */
        fputs("\t\tiifname \"" NETWORK_BRIDGE_PREFIX "*\" drop\n"
              "\t\toifname \"" NETWORK_BRIDGE_PREFIX "*\" drop\n"
              "\t}\n"
              "\tchain postrouting {\n"
              "\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
              f);
        for (size_t i = 0; i < n_networks; i++) {
            const Network *n = networks[i];

            if (!n->nat)
                continue;
            network_format_ipv4(n->subnet, subnet);
            fprintf(f,
                    "\t\tip saddr %s/%u ip daddr != %s/%u oifname != \"" NETWORK_BRIDGE_PREFIX
                    "*\" masquerade\n",
                    subnet, n->prefix, subnet, n->prefix);
        }
        fputs("\t}\n}\n", f);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Runs script through libnftables. Returns 0, or -EIO with nft's message in e (when e). */
static int nft_run(const char *script, Error *e)
{
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    int r = 0;

    if (!ctx)
        return error_set_errno(e, -ENOMEM, "Failed to set up libnftables");
    (void)nft_ctx_buffer_output(ctx);
    (void)nft_ctx_buffer_error(ctx);
    if (nft_run_cmd_from_buffer(ctx, script) != 0) {
        const char *msg = nft_ctx_get_error_buffer(ctx);
        size_t len = msg ? strcspn(msg, "\n") : 0;

        r = error_set_errno(e, -EIO, "nftables refused table ip " NETWORK_NAT_TABLE ": %.*s%s",
                            (int)MIN(len, (size_t)300), msg ? msg : "",
                            len ? "" : " (no message; is nf_tables available?)");
    }
    nft_ctx_free(ctx);
    return r;
}

static int read_line(const char *path, char *buf, size_t size)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

static int write_text(const char *path, const char *text, int flags)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644);
    size_t len = strlen(text);

    if (fd < 0)
        return -errno;
    if (write(fd, text, len) != (ssize_t)len)
        return errno ? -errno : -EIO;
    return 0;
}

/* IPv4 forwarding on (wanted) or back to what it was before hvd turned it on. */
static int set_forwarding(bool wanted, const char *dir, Error *e)
{
    _cleanup_free_ char *saved = NULL;
    char now[16], before[16];
    int r;

    if (asprintf(&saved, "%s/ip_forward.saved", dir) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (!wanted) {
        if (read_line(saved, before, sizeof(before)) < 0)
            return 0; /* hvd did not turn it on */
        r = write_text(IP_FORWARD_PATH, streq(before, "1") ? "1\n" : "0\n", O_TRUNC);
        if (r < 0)
            return error_set_errno(e, r, "Failed to put %s back to %s: %m", IP_FORWARD_PATH,
                                   before);
        (void)unlink(saved);
        return 0;
    }
    r = read_line(IP_FORWARD_PATH, now, sizeof(now));
    if (r < 0)
        return error_set_errno(e, r, "Failed to read %s: %m", IP_FORWARD_PATH);
    if (streq(now, "1"))
        return 0;
    /* Kept only the first time: a later hvd finds forwarding on and its first value saved. */
    r = write_text(saved, "0\n", O_CREAT | O_EXCL);
    if (r < 0 && r != -EEXIST)
        return error_set_errno(e, r, "Failed to write %s: %m", saved);
    r = write_text(IP_FORWARD_PATH, "1\n", O_TRUNC);
    if (r < 0)
        return error_set_errno(e, r, "Failed to turn on IPv4 forwarding (%s): %m", IP_FORWARD_PATH);
    return 0;
}

int network_nat_apply(Network *const *networks, size_t n_networks, const char *dir, Error *e)
{
    bool wanted = network_nat_wanted(networks, n_networks);
    _cleanup_free_ char *script = NULL;
    int r;

    /* Nothing to remove when the table is not there (nor nf_tables, on hosts without it). */
    if (!wanted && nft_run("list table ip " NETWORK_NAT_TABLE, NULL) < 0)
        return set_forwarding(false, dir, e);
    script = network_nat_ruleset(networks, n_networks);
    if (!script)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    r = nft_run(script, e);
    if (r < 0)
        return r;
    return set_forwarding(wanted, dir, e);
}
