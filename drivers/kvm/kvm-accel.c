/* Whether libvirt can run kvm guests, asked on a worker once per connection, and the domain type
 * "auto" picks from it. libvirt's domain capabilities must offer kvm; and since libvirt probes
 * QEMU's capabilities with more privileges than it gives guests (CAP_DAC_OVERRIDE), they offer
 * kvm even where the user libvirt runs QEMU as cannot open /dev/kvm and every kvm guest fails
 * to start. So for a libvirtd on this host that user (libvirt's DAC base label for kvm guests,
 * from its host capabilities) is checked against /dev/kvm as the kernel would check it. */
#include <grp.h>
#include <libvirt/virterror.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>

#include "kvm-internal.h"

#define KVM_DEVICE    "/dev/kvm"
#define DAC_KVM_LABEL "<baselabel type='kvm'>+"

/* A URI without a server part ("qemu:///system", "qemu+unix:///system?socket=...") names a
 * libvirtd on this host. */
static bool uri_is_local(const char *uri)
{
    const char *p = strstr(uri, "://");

    return p && p[3] == '/';
}

/* The uid and gid libvirt runs kvm guests' QEMU as: "+UID:+GID" in its DAC base label. */
static bool qemu_identity(const char *caps, uid_t *ret_uid, gid_t *ret_gid)
{
    const char *p = strstr(caps, DAC_KVM_LABEL);
    unsigned long uid, gid;
    char *end;

    if (!p)
        return false;
    p += strlen(DAC_KVM_LABEL);
    uid = strtoul(p, &end, 10);
    if (end == p || !strneq(end, ":+", 2))
        return false;
    p = end + 2;
    gid = strtoul(p, &end, 10);
    if (end == p || *end != '<')
        return false;
    *ret_uid = (uid_t)uid;
    *ret_gid = (gid_t)gid;
    return true;
}

/* Fills id's groups: gid and uid's supplementary groups (from the user database, which may
 * wait on a directory service: called on a worker). */
static void identity_groups(KvmIdentity *id)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    int n = ELEMENTSOF(id->groups);

    id->groups[0] = id->gid;
    id->n_groups = 1;
    if (getpwuid_r(id->uid, &pw, buf, sizeof(buf), &found) != 0 || !found)
        return;
    if (getgrouplist(pw.pw_name, id->gid, id->groups, &n) < 0)
        n = ELEMENTSOF(id->groups); /* more than fit: the first ones are there */
    id->n_groups = (unsigned)n;
}

static bool in_groups(const KvmIdentity *id, gid_t g)
{
    for (unsigned i = 0; i < id->n_groups; i++)
        if (id->groups[i] == g)
            return true;
    return false;
}

int kvm_identity_access(const KvmIdentity *id, const char *path, int mode)
{
    struct stat st;
    mode_t need = 0;
    unsigned shift;

    if (stat(path, &st) < 0)
        return -errno;
    if (id->uid == 0)
        return 0;
    shift = st.st_uid == id->uid ? 6 : in_groups(id, st.st_gid) ? 3 : 0;
    if (mode & R_OK)
        need |= S_IROTH << shift;
    if (mode & W_OK)
        need |= S_IWOTH << shift;
    if (mode & X_OK)
        need |= S_IXOTH << shift;
    return (st.st_mode & need) == need ? 0 : -EACCES;
}

void kvm_accel_probe(virConnectPtr conn, const char *uri, KvmAccel *ret)
{
    _cleanup_free_ char *domcaps = NULL, *caps = NULL;
    KvmIdentity *id = &ret->qemu;
    int r;

    *ret = (KvmAccel){.known = true};
    caps = uri_is_local(uri) ? virConnectGetCapabilities(conn) : NULL;
    if (caps && qemu_identity(caps, &id->uid, &id->gid)) {
        id->known = true;
        identity_groups(id);
    }
    domcaps = virConnectGetDomainCapabilities(conn, NULL, NULL, NULL, "kvm", 0);
    if (!domcaps) {
        (void)snprintf(ret->why, sizeof(ret->why), "libvirt reports: %s", virGetLastErrorMessage());
        return;
    }
    if (!strstr(domcaps, "<domain>kvm</domain>")) {
        (void)snprintf(ret->why, sizeof(ret->why), "libvirt's domain capabilities do not offer it");
        return;
    }
    if (!id->known) {
        ret->kvm_usable = true;
        (void)snprintf(ret->why, sizeof(ret->why), "libvirt's domain capabilities offer it%s",
                       uri_is_local(uri) ? "" : " (libvirtd runs on another host)");
        return;
    }
    r = kvm_identity_access(id, KVM_DEVICE, R_OK | W_OK);
    if (r < 0) {
        (void)snprintf(ret->why, sizeof(ret->why),
                       "libvirt runs QEMU as uid %u, gid %u, which cannot open " KVM_DEVICE " (%s)",
                       (unsigned)id->uid, (unsigned)id->gid, strerror(-r));
        return;
    }
    ret->kvm_usable = true;
    (void)snprintf(ret->why, sizeof(ret->why),
                   "libvirt offers it and runs QEMU as uid %u, gid %u, which can open " KVM_DEVICE,
                   (unsigned)id->uid, (unsigned)id->gid);
}

const char *kvm_domain_type(Driver *drv)
{
    switch (kvm_settings(drv)->domain_type) {
    case KVM_DOMAIN_TYPE_KVM:
        return "kvm";
    case KVM_DOMAIN_TYPE_QEMU:
        return "qemu";
    default:
        return kvm(drv)->accel.kvm_usable ? "kvm" : "qemu";
    }
}

json_t *kvm_host_info(Driver *drv)
{
    const KvmAccel *a = &kvm(drv)->accel;
    KvmDomainType setting = kvm_settings(drv)->domain_type;
    const char *type = kvm_domain_type(drv);
    char summary[sizeof(a->why) + 96], found[sizeof(a->why) + 32] = "";
    json_t *o;

    if (a->known)
        (void)snprintf(found, sizeof(found), "kvm %s: %s", a->kvm_usable ? "usable" : "unusable",
                       a->why);
    if (setting != KVM_DOMAIN_TYPE_AUTO)
        (void)snprintf(summary, sizeof(summary), "domain type %s (configured%s%s)", type,
                       a->known && !a->kvm_usable ? "; " : "",
                       a->known && !a->kvm_usable ? found : "");
    else if (a->known)
        (void)snprintf(summary, sizeof(summary), "domain type %s (%s)", type, found);
    else
        (void)snprintf(summary, sizeof(summary),
                       "domain type %s until libvirt is asked whether kvm is usable", type);
    o = json_pack("{s:s, s:s, s:s}", "domain_type", type, "domain_type_setting",
                  kvm_domain_type_to_string(setting), "summary", summary);
    if (o && a->known &&
        (json_object_set_new(o, "kvm_usable", json_boolean(a->kvm_usable)) < 0 ||
         json_object_set_new(o, "kvm_usable_reason", json_string(a->why)) < 0))
        o = (json_decref(o), NULL);
    return o;
}
