/* Domain XML for libvirt: full mode gets emulated PC devices, pv mode virtio devices. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cpuset.h"
#include "kvm-xml.h"

void xml_escape_to(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            fputc(*s, f);
        }
}

bool kvm_xml_text_is_valid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
        /* U+FFFE and U+FFFF are valid UTF-8 but not XML characters. */
        if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
            return false;
    }
    return true;
}

static void element(FILE *f, const char *indent, const char *name, const char *text)
{
    fprintf(f, "%s<%s>", indent, name);
    xml_escape_to(f, text);
    fprintf(f, "</%s>\n", name);
}

static void attribute(FILE *f, const char *name, const char *value)
{
    fprintf(f, " %s='", name);
    xml_escape_to(f, value);
    fputc('\'', f);
}

/* The CPU weight as libvirt's shares (the weight itself: 1..10000 is valid for cgroup v1
 * cpu.shares and v2 cpu.weight alike, and domains' shares compare as their weights do), the cap
 * over the whole domain (global period and quota), and vCPU i on the i-th CPU of the set,
 * wrapping around. */
static void write_cputune(FILE *f, const DomainConfig *c)
{
    CpuSet set;
    unsigned cpus[CPUSET_MAX_CPUS], n = 0;

    if (c->cpuset && cpuset_parse(c->cpuset, &set) >= 0)
        for (unsigned i = 0; i < CPUSET_MAX_CPUS; i++)
            if (cpuset_has(&set, i))
                cpus[n++] = i;
    fputs("  <cputune>\n", f);
    fprintf(f, "    <shares>%u</shares>\n", c->cpu_weight);
    if (c->cpu_cap)
        fprintf(f, "    <global_period>%u</global_period>\n    <global_quota>%llu</global_quota>\n",
                KVM_CPU_PERIOD_US, (unsigned long long)c->cpu_cap * KVM_CPU_PERIOD_US / 100);
    for (unsigned v = 0; n > 0 && v < c->vcpus; v++)
        fprintf(f, "    <vcpupin vcpu='%u' cpuset='%u'/>\n", v, cpus[v % n]);
    fputs("  </cputune>\n", f);
    /* memory_limit 0: libvirt's default (no hard limit). */
    if (c->memory_limit)
        fprintf(f,
                "  <memtune>\n    <hard_limit unit='MiB'>%" PRIu64 "</hard_limit>\n  </memtune>\n",
                c->memory_limit);
}

static void write_os(FILE *f, const DomainConfig *c)
{
    fputs("  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n", f);
    if (c->kernel) {
        element(f, "    ", "kernel", c->kernel);
        if (c->initrd)
            element(f, "    ", "initrd", c->initrd);
        if (c->cmdline)
            element(f, "    ", "cmdline", c->cmdline);
    } else
        fputs("    <boot dev='hd'/>\n", f);
    fputs("  </os>\n", f);
}

/* The image format is named by the file: ".qcow2" is qcow2, anything else raw. It is never probed
 * from the contents, which a guest can write. */
const char *kvm_disk_format(const char *path)
{
    size_t n = strlen(path);

    return n > 6 && streq(path + n - 6, ".qcow2") ? "qcow2" : "raw";
}

const char *kvm_disk_target(const DomainConfig *c)
{
    return c->mode == MODE_PV ? "vda" : "hda";
}

static void write_disk(FILE *f, const DomainConfig *c, bool pv)
{
    if (!c->disk)
        return;
    fprintf(f,
            "    <disk type='file' device='disk'>\n"
            "      <driver name='qemu' type='%s'/>\n"
            "      <source",
            kvm_disk_format(c->disk));
    attribute(f, "file", c->disk);
    fprintf(f, "/>\n      <target dev='%s' bus='%s'/>\n    </disk>\n", kvm_disk_target(c),
            pv ? "virtio" : "ide");
}

/* On an hvd network the NIC joins hvd's bridge with the lease's MAC; any other network name
 * is a libvirt network. */
static void write_interface(FILE *f, const DomainConfig *c, bool pv)
{
    if (!c->network)
        return;
    if (c->nic.bridge[0]) {
        fputs("    <interface type='bridge'>\n      <source", f);
        attribute(f, "bridge", c->nic.bridge);
        fputs("/>\n", f);
        if (c->nic.mac[0]) {
            fputs("      <mac", f);
            attribute(f, "address", c->nic.mac);
            fputs("/>\n", f);
        }
    } else {
        fputs("    <interface type='network'>\n      <source", f);
        attribute(f, "network", c->network);
        fputs("/>\n", f);
    }
    fprintf(f, "      <model type='%s'/>\n    </interface>\n", pv ? "virtio" : "e1000");
}

static void write_devices(FILE *f, const DomainConfig *c, const KvmXmlOptions *o)
{
    bool pv = c->mode == MODE_PV;

    fputs("  <devices>\n", f);
    write_disk(f, c, pv);
    write_interface(f, c, pv);
    /* The serial port carries the console in both modes: the boot protocol's earliest output
     * goes there, and it is what the console log records. pv adds a virtio console for guests
     * that drive one. */
    fputs("    <serial type='pty'>\n", f);
    if (o->console_log) {
        fputs("      <log", f);
        attribute(f, "file", o->console_log);
        fputs(" append='on'/>\n", f);
    }
    fputs("      <target type='isa-serial' port='0'/>\n    </serial>\n", f);
    if (pv) {
        /* hvc0 in the guest, logged as the serial port is. */
        fputs("    <console type='pty'>\n", f);
        if (o->virtio_log) {
            fputs("      <log", f);
            attribute(f, "file", o->virtio_log);
            fputs(" append='on'/>\n", f);
        }
        fputs("      <target type='virtio' port='0'/>\n"
              "      <alias name='" KVM_VIRTIO_CONSOLE_ALIAS "'/>\n    </console>\n"
              "    <memballoon model='virtio'>\n      <stats period='5'/>\n"
              "    </memballoon>\n",
              f);
    } else
        fputs("    <memballoon model='none'/>\n", f);
    /* The graphical console: a standard VGA card whose screen QEMU serves as VNC on a unix
     * socket only (hvd bridges it), as virt-install gives every domain a display. */
    if (o->vnc_socket) {
        fputs("    <graphics type='vnc'>\n      <listen type='socket'", f);
        attribute(f, "socket", o->vnc_socket);
        fputs("/>\n    </graphics>\n"
              "    <video>\n      <model type='vga' vram='16384' heads='1' primary='yes'/>\n"
              "    </video>\n",
              f);
    }
    /* A guest that panics says so (pvpanic), so hvd's on-crash policy can act on it. */
    fputs("    <panic model='isa'/>\n", f);
    fputs("  </devices>\n", f);
}

int kvm_xml_build(const DomainConfig *c, const KvmXmlOptions *o, char **ret)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    if (!f)
        return -ENOMEM;
    fprintf(f, "<domain type='%s'>\n", o->domain_type);
    element(f, "  ", "name", c->name);
    element(f, "  ", "uuid", c->uuid);
    fputs("  <description>managed by hvd</description>\n", f);
    fprintf(f, "  <memory unit='MiB'>%" PRIu64 "</memory>\n", c->memory_mib);
    fprintf(f, "  <currentMemory unit='MiB'>%" PRIu64 "</currentMemory>\n", c->memory_mib);
    fprintf(f, "  <vcpu placement='static'>%u</vcpu>\n", c->vcpus);
    write_cputune(f, c);
    write_os(f, c);
    /* ACPI in both modes: the power button is how a graceful shutdown reaches the guest. */
    fputs("  <features>\n    <acpi/>\n  </features>\n", f);
    /* A crashed guest stays crashed: hvd's on-crash policy decides what happens next. */
    fputs("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
          "  <on_crash>preserve</on_crash>\n",
          f);
    write_devices(f, c, o);
    fputs("</domain>\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    return 0;
}
