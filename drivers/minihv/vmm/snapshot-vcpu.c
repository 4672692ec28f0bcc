/* A vCPU's saved state: registers, special registers, events, XCRs, XSAVE area and MSRs. */
#include <string.h>
#include <sys/ioctl.h>

#include "macro.h"
#include "snapshot.h"
#include "vcpu.h"

/* The MSRs a guest of either mode may have set that no other state carries (EFER, APIC base,
 * FS and GS bases are in the special registers). The TSC comes first. */
static const uint32_t snapshot_msrs[] = {
    0x00000010, /* IA32_TSC */
    0x00000174, /* IA32_SYSENTER_CS */
    0x00000175, /* IA32_SYSENTER_ESP */
    0x00000176, /* IA32_SYSENTER_EIP */
    0x00000277, /* IA32_PAT */
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
    0xc0000083, /* CSTAR */
    0xc0000084, /* SFMASK */
    0xc0000102, /* KERNEL_GS_BASE */
};

_Static_assert(ELEMENTSOF(snapshot_msrs) <= SNAPSHOT_MSRS_MAX, "saved MSR slots");

typedef union MsrBuffer {
    struct kvm_msrs head; /* with head.entries[SNAPSHOT_MSRS_MAX] */
    uint8_t bytes[sizeof(struct kvm_msrs) + SNAPSHOT_MSRS_MAX * sizeof(struct kvm_msr_entry)];
} MsrBuffer;

static int vcpu_ioctl(Vcpu *v, unsigned long request, void *arg)
{
    return ioctl(v->fd, request, arg) < 0 ? -errno : 0;
}

int snapshot_vcpu_save(Vcpu *v, SnapVcpu *out)
{
    MsrBuffer msrs = {.head.nmsrs = ELEMENTSOF(snapshot_msrs)};
    struct kvm_xsave xsave;
    int r;

    _Static_assert(sizeof(out->xsave) == sizeof(xsave.region), "saved XSAVE area");
    memset(out, 0, sizeof(*out));
    out->id = v->id;
    out->up = v->up;
    if (!v->up)
        return 0;
    if (v->fd < 0)
        return -EBADF;
    for (size_t i = 0; i < ELEMENTSOF(snapshot_msrs); i++)
        msrs.head.entries[i].index = snapshot_msrs[i];
    r = vcpu_get_regs(v, &out->regs);
    if (r >= 0)
        r = vcpu_get_sregs(v, &out->sregs);
    if (r >= 0)
        r = vcpu_ioctl(v, KVM_GET_VCPU_EVENTS, &out->events);
    if (r >= 0)
        r = vcpu_ioctl(v, KVM_GET_XCRS, &out->xcrs);
    if (r >= 0)
        r = vcpu_ioctl(v, KVM_GET_XSAVE, &xsave);
    if (r < 0)
        return r;
    memcpy(out->xsave, xsave.region, sizeof(out->xsave));
    r = ioctl(v->fd, KVM_GET_MSRS, &msrs);
    if (r < 0)
        return -errno;
    if ((size_t)r != ELEMENTSOF(snapshot_msrs))
        return -EIO; /* KVM stops at the first MSR it cannot read */
    out->nmsrs = ELEMENTSOF(snapshot_msrs);
    memcpy(out->msrs, msrs.head.entries, ELEMENTSOF(snapshot_msrs) * sizeof(out->msrs[0]));
    return 0;
}

int snapshot_vcpu_check(const SnapVcpu *in, unsigned id)
{
    if (in->id != id || in->up > 1)
        return -EINVAL;
    if (!in->up)
        return 0;
    if (in->nmsrs != ELEMENTSOF(snapshot_msrs) || in->xcrs.nr_xcrs > KVM_MAX_XCRS)
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(snapshot_msrs); i++)
        if (in->msrs[i].index != snapshot_msrs[i])
            return -EINVAL; /* a file names only the MSRs minihv saves, nothing else */
    return 0;
}

int snapshot_vcpu_load(Vcpu *v, const SnapVcpu *in)
{
    MsrBuffer msrs = {.head.nmsrs = ELEMENTSOF(snapshot_msrs)};
    struct kvm_vcpu_events events = in->events;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs = in->xcrs;
    size_t first = 0;
    int r;

    if (!in->up)
        return 0;
    memcpy(xsave.region, in->xsave, sizeof(xsave.region));
    /* pv code reads the host's TSC at ring 3 whatever the guest TSC is: the shared page's clock
     * is re-anchored instead. Full-mode code reads the guest TSC, which continues from the save
     * point. */
    if (v->vm->cfg.mode == VM_MODE_PV)
        first = 1;
    msrs.head.nmsrs = (uint32_t)(ELEMENTSOF(snapshot_msrs) - first);
    memcpy(msrs.head.entries, in->msrs + first, msrs.head.nmsrs * sizeof(in->msrs[0]));
    r = vcpu_set_sregs(v, &in->sregs);
    if (r >= 0)
        r = vcpu_set_regs(v, &in->regs);
    if (r >= 0)
        r = vcpu_ioctl(v, KVM_SET_XCRS, &xcrs);
    if (r >= 0)
        r = vcpu_ioctl(v, KVM_SET_XSAVE, &xsave);
    if (r >= 0)
        r = vcpu_ioctl(v, KVM_SET_VCPU_EVENTS, &events);
    if (r < 0)
        return r;
    r = ioctl(v->fd, KVM_SET_MSRS, &msrs);
    if (r < 0)
        return -errno;
    return (uint32_t)r == msrs.head.nmsrs ? 0 : -EINVAL;
}
