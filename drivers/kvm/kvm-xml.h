/* libvirt domain XML generated from a domain's definition; device models follow its mode. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "domain-config.h"

/* Period of a domain's CPU cap (libvirt's global_period), in microseconds. */
#define KVM_CPU_PERIOD_US 100000u

/* The alias of a pv domain's virtio console (hvc0), to open it by. */
#define KVM_VIRTIO_CONSOLE_ALIAS "ua-hvc0"

typedef struct KvmXmlOptions {
    const char *domain_type; /* "kvm" or "qemu" */
    const char *console_log; /* file that receives the serial console, or NULL */
    const char *virtio_log;  /* file that receives the virtio console (pv), or NULL */
    const char *vnc_socket;  /* unix socket of the VNC display (with a VGA card), or NULL */
} KvmXmlOptions;

/* Returns a newly allocated XML document for c in *ret. Text is escaped so any name, path or
 * command line yields well-formed XML. Returns 0 or -ENOMEM. */
int kvm_xml_build(const DomainConfig *c, const KvmXmlOptions *o, char **ret);

/* Whether s can be carried by XML at all (escaping aside): no control characters other than
 * tab and line ends, and no U+FFFE/U+FFFF. */
bool kvm_xml_text_is_valid(const char *s);

/* The format of the disk image at path, named by the file: "qcow2" for a ".qcow2" file, "raw"
 * for anything else (never probed from the contents, which a guest can write). */
const char *kvm_disk_format(const char *path);

/* The name the guest's disk has in c's domain XML (its target device). */
const char *kvm_disk_target(const DomainConfig *c);

/* Writes s to f with the five XML special characters escaped. */
void xml_escape_to(FILE *f, const char *s);
