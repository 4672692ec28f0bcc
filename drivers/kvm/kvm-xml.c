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

static void element(FILE *f, const char *indent, const char *name, const char *text)
{
    fprintf(f, "%s<%s>", indent, name);
    xml_escape_to(f, text);
    fprintf(f, "</%s>\n", name);
}

/* vCPU i runs on the i-th CPU of the set, wrapping around. */
static void write_cputune(FILE *f, const DomainConfig *c)
{
    CpuSet set;
    unsigned cpus[CPUSET_MAX_CPUS], n = 0;

    if (!c->cpuset || cpuset_parse(c->cpuset, &set) < 0)
        return;
    for (unsigned i = 0; i < CPUSET_MAX_CPUS; i++)
        if (cpuset_has(&set, i))
            cpus[n++] = i;
    if (n == 0)
        return;
    fputs("  <cputune>\n", f);
    for (unsigned v = 0; v < c->vcpus; v++)
        fprintf(f, "    <vcpupin vcpu='%u' cpuset='%u'/>\n", v, cpus[v % n]);
    fputs("  </cputune>\n", f);
}

static void write_devices(FILE *f, const DomainConfig *c, const KvmXmlOptions *o)
{
    bool pv = c->mode == MODE_PV;

    fputs("  <devices>\n", f);
    if (c->disk) {
        fputs("    <disk type='file' device='disk'>\n"
              "      <driver name='qemu' type='raw'/>\n"
              "      <source file='",
              f);
        xml_escape_to(f, c->disk);
        fprintf(f, "'/>\n      <target dev='%s' bus='%s'/>\n    </disk>\n", pv ? "vda" : "hda",
                pv ? "virtio" : "ide");
    }
    /* The serial port carries the console in both modes: the boot protocol's earliest output
     * goes there. pv adds a virtio console for guests that drive one. */
    fputs("    <serial type='pty'>\n", f);
    if (o->console_log) {
        fputs("      <log file='", f);
        xml_escape_to(f, o->console_log);
        fputs("' append='on'/>\n", f);
    }
    fputs("      <target type='isa-serial' port='0'/>\n    </serial>\n", f);
    if (pv) {
        fputs("    <console type='pty'>\n      <target type='virtio' port='1'/>\n"
              "    </console>\n",
              f);
        fputs("    <memballoon model='virtio'/>\n", f);
    } else
        fputs("    <memballoon model='none'/>\n", f);
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
    fputs("  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n", f);
    if (c->kernel) {
        element(f, "    ", "kernel", c->kernel);
        if (c->cmdline)
            element(f, "    ", "cmdline", c->cmdline);
    } else
        fputs("    <boot dev='hd'/>\n", f);
    fputs("  </os>\n", f);
    if (c->mode == MODE_FULL)
        fputs("  <features>\n    <acpi/>\n  </features>\n", f);
    fputs("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
          "  <on_crash>destroy</on_crash>\n",
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
