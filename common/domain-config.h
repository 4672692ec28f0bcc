/* A domain's definition (what the user asked for) and the one validator every surface uses:
 * settings arrive as JSON objects (HTTP directly, D-Bus a{sv} converted by the bus layer). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "domain-types.h"
#include "error.h"

#define DOMAIN_UUID_STRING_MAX    37
#define DOMAIN_VCPUS_MAX          256u
#define DOMAIN_MEMORY_MIB_MAX     (UINT64_C(4) * 1024 * 1024)
#define DOMAIN_PATH_MAX           4095u
#define DOMAIN_CMDLINE_MAX        2047u
#define DOMAIN_NETWORK_MAX        255u
#define DOMAIN_CPU_WEIGHT_MIN     1u
#define DOMAIN_CPU_WEIGHT_MAX     10000u
#define DOMAIN_CPU_WEIGHT_DEFAULT 100u

/* Interface names are at most this long (IFNAMSIZ - 1). */
#define DOMAIN_IFNAME_MAX 15u

/* Where a domain's NIC attaches when its network is an hvd network: filled by hvd from its
 * network and lease records before it hands the config to a driver, never set by the user nor
 * recorded with the definition. bridge is empty when the domain names no hvd network; mac and
 * ipv4 are empty until the domain holds a lease (given at its start). */
typedef struct DomainNic {
    char bridge[DOMAIN_IFNAME_MAX + 1];
    char tap[DOMAIN_IFNAME_MAX + 1]; /* the tap hvd opens for a driver that asks for one */
    char mac[18];                    /* "02:xx:xx:xx:xx:xx" */
    char ipv4[16];                   /* "A.B.C.D" */
    unsigned prefix;                 /* of the network's subnet */
} DomainNic;

typedef struct DomainConfig {
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_STRING_MAX]; /* canonical lower-case 8-4-4-4-12 */
    DriverKind driver;
    DomainMode mode;
    unsigned vcpus;
    uint64_t memory_mib;
    char *kernel;  /* NULL when unset */
    char *initrd;  /* initial ramdisk booted with kernel, NULL when unset */
    char *disk;    /* NULL when unset */
    char *cmdline; /* NULL when unset */
    char *cpuset;  /* canonical CPU list, NULL when not pinned */
    char *network; /* hvd network (or, kvm only, libvirt network) of the NIC, NULL: no NIC */
    DomainNic nic; /* the attachment to an hvd network, see DomainNic */
    bool autostart;
    OnCrash on_crash;
    /* Resource enforcement, changeable while the domain runs: the relative CPU weight
     * (1..10000), the CPU cap in percent of one host CPU (0: none, at most vcpus x 100), and the
     * hard limit on the domain's host memory in MiB (0: the driver's default). */
    unsigned cpu_weight;
    unsigned cpu_cap;
    uint64_t memory_limit;
} DomainConfig;

typedef enum SettingType {
    SETTING_STRING,
    SETTING_UINT32,
    SETTING_UINT64,
    SETTING_BOOL,
} SettingType;

typedef enum SettingFlags {
    SETTING_IMMUTABLE = 1 << 0, /* set at creation only */
    SETTING_LIVE = 1 << 1,      /* may change while the domain is active */
} SettingFlags;

typedef struct SettingField {
    const char *key;
    SettingType type;
    SettingFlags flags;
} SettingField;

/* The table of settings, in display order; n_ret receives its length. */
const SettingField *domain_setting_fields(size_t *n_ret);

/* The field for key, or NULL when key is not a setting. */
const SettingField *domain_setting_lookup(const char *key);

/* The D-Bus signature character of a setting type ("s", "u", "t", "b"). */
const char *setting_type_dbus_signature(SettingType t);

/* Checks one entry of a settings dictionary before its value is read: key must be a setting
 * not already in settings, and signature its D-Bus type. *ret receives the field. */
int domain_setting_check_entry(const json_t *settings, const char *key, const char *signature,
                               const SettingField **ret, Error *e);

/* Fills c with defaults (driver kvm, mode pv, 1 vCPU, 64 MiB, on-crash destroy, CPU weight
 * 100, no cap, the default memory limit) and an empty name; the caller frees with
 * domain_config_done(). */
void domain_config_init(DomainConfig *c);

/* Frees the strings c owns and resets it to defaults. Safe on an initialised config. */
void domain_config_done(DomainConfig *c);

/* Deep copy of src into dst (dst need not be initialised). Returns 0 or -ENOMEM. */
int domain_config_copy(DomainConfig *dst, const DomainConfig *src);

/* Builds a new config from a settings object: every key must be a known setting of the right
 * JSON type and in range; "name" is required; a missing "uuid" is generated. On failure e names
 * the field and what is allowed, and *ret is left as domain_config_init() leaves it (owning
 * nothing: domain_config_done() on it is harmless). */
int domain_config_from_json(const json_t *settings, DomainConfig *ret, Error *e);

/* Applies a settings object to an existing config of a domain in state: immutable keys are
 * refused, and while active only SETTING_LIVE keys may change. All or nothing: c is unchanged on
 * failure. */
int domain_config_update_from_json(DomainConfig *c, const json_t *settings, DomainState state,
                                   Error *e);

/* Adds every definition field of c to obj with its stable name (unset strings as null).
 * Returns 0 or -ENOMEM. */
int domain_config_to_json(const DomainConfig *c, json_t *obj);

/* Whether a and b differ in a resource setting (cpu_weight, cpu_cap, memory_limit). */
bool domain_config_resources_differ(const DomainConfig *a, const DomainConfig *b);

/* Parses and canonicalises a UUID string into out. Returns 0 or -EINVAL. */
int domain_uuid_canonicalize(const char *s, char out[DOMAIN_UUID_STRING_MAX]);

/* Generates a random version 4 UUID. Returns 0 or a negative errno. */
int domain_uuid_generate(char out[DOMAIN_UUID_STRING_MAX]);

/* What hvd records about a running instance besides its state, so it can re-attach after a
 * restart: the hypervisor process (0 when the driver has none) and when it started. */
typedef struct DomainRuntime {
    int pid;
    uint64_t pid_start_time; /* in clock ticks since boot, as /proc/PID/stat field 22 */
    uint64_t started_us;     /* CLOCK_REALTIME when the domain last started, 0 if never */
} DomainRuntime;
