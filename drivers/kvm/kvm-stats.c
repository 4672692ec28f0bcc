/* libvirt's domain statistics records (typed parameters) as JSON in hvd's field names, and as
 * the driver's record of each domain a worker saw. */
#include <string.h>

#include "kvm-internal.h"
#include "kvm-state.h"

/* Fields taken as they are, under a name that carries the unit. */
static const struct {
    const char *libvirt;
    const char *hvd;
} renamed[] = {
    {"cpu.time", "cpu_time_ns"}, {"cpu.user", "cpu_user_ns"},   {"cpu.system", "cpu_system_ns"},
    {"vcpu.current", "vcpus"},   {"vcpu.maximum", "vcpus_max"},
};

/* balloon.* fields that libvirt reports in KiB; the others are counts or seconds. */
static const char *const balloon_kib[] = {
    "current",   "maximum", "swap_in", "swap_out",    "unused",
    "available", "usable",  "rss",     "disk_caches",
};

static json_t *param_value(const virTypedParameter *p)
{
    switch (p->type) {
    case VIR_TYPED_PARAM_INT:
        return json_integer(p->value.i);
    case VIR_TYPED_PARAM_UINT:
        return json_integer(p->value.ui);
    case VIR_TYPED_PARAM_LLONG:
        return json_integer(p->value.l);
    case VIR_TYPED_PARAM_ULLONG:
        return json_integer((json_int_t)p->value.ul);
    case VIR_TYPED_PARAM_DOUBLE:
        return json_real(p->value.d);
    case VIR_TYPED_PARAM_BOOLEAN:
        return json_boolean(p->value.b);
    default:
        return NULL;
    }
}

static bool is_balloon_kib(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(balloon_kib); i++)
        if (streq(balloon_kib[i], name))
            return true;
    return false;
}

/* "balloon.last-update" -> "balloon_last_update", "balloon.rss" -> "balloon_rss_kib". */
static void balloon_key(const char *field, char *buf, size_t n)
{
    (void)snprintf(buf, n, "balloon_%s%s", field, is_balloon_kib(field) ? "_kib" : "");
    for (char *c = buf; *c; c++)
        if (*c == '-' || *c == '.')
            *c = '_';
}

bool kvm_stats_record_state(const virDomainStatsRecord *rec, DomainState *ret_state,
                            DomainReason *ret_reason)
{
    int vir_state = -1, vir_reason = 0;

    for (int i = 0; i < rec->nparams; i++) {
        const virTypedParameter *p = &rec->params[i];
        if (p->type != VIR_TYPED_PARAM_INT)
            continue;
        if (streq(p->field, "state.state"))
            vir_state = p->value.i;
        else if (streq(p->field, "state.reason"))
            vir_reason = p->value.i;
    }
    if (vir_state < 0)
        return false;
    kvm_state_from_libvirt(vir_state, vir_reason, ret_state, ret_reason, NULL);
    return true;
}

static int add_state(json_t *o, const virDomainStatsRecord *rec)
{
    DomainState state;
    DomainReason reason;

    if (!kvm_stats_record_state(rec, &state, &reason))
        return 0;
    if (json_object_set_new(o, "state", json_string(domain_state_to_string(state))) < 0 ||
        json_object_set_new(o, "reason", json_string(domain_reason_to_string(reason))) < 0)
        return -ENOMEM;
    return 0;
}

json_t *kvm_stats_from_record(const virDomainStatsRecord *rec)
{
    json_t *o = json_pack("{s:I, s:I}", "cpu_time_ns", (json_int_t)0, "memory_kib", (json_int_t)0);

    if (!o || add_state(o, rec) < 0)
        goto fail;
    for (int i = 0; i < rec->nparams; i++) {
        const virTypedParameter *p = &rec->params[i];
        char key[VIR_TYPED_PARAM_FIELD_LENGTH + 16];
        json_t *v;

        key[0] = 0;
        for (size_t j = 0; j < ELEMENTSOF(renamed); j++)
            if (streq(p->field, renamed[j].libvirt))
                (void)snprintf(key, sizeof(key), "%s", renamed[j].hvd);
        if (strneq(p->field, "balloon.", 8))
            balloon_key(p->field + 8, key, sizeof(key));
        if (!key[0])
            continue;
        v = param_value(p);
        if (!v || json_object_set_new(o, key, v) < 0)
            goto fail;
    }
    /* What the balloon leaves the guest is the guest's memory; the most it can give is the
     * guest's maximum (libvirt reports both also without a balloon device). */
    if (json_object_get(o, "balloon_current_kib") &&
        json_object_set(o, "memory_kib", json_object_get(o, "balloon_current_kib")) < 0)
        goto fail;
    if (json_object_get(o, "balloon_maximum_kib") &&
        json_object_set(o, "memory_max_kib", json_object_get(o, "balloon_maximum_kib")) < 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

void kvm_seen_free(KvmSeen *seen, size_t n)
{
    for (size_t i = 0; seen && i < n; i++) {
        free(seen[i].name);
        json_decref(seen[i].stats);
    }
    free(seen);
}

int kvm_seen_from_records(virDomainStatsRecordPtr *records, int n, KvmSeen **ret, size_t *ret_n)
{
    KvmSeen *seen = calloc(MAX(n, 1), sizeof(*seen));
    size_t k = 0;

    if (!seen)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        KvmSeen *s = &seen[k];

        if (virDomainGetUUIDString(records[i]->dom, s->uuid) < 0 ||
            !kvm_stats_record_state(records[i], &s->state, &s->reason))
            continue;
        s->name = strdup(virDomainGetName(records[i]->dom));
        if (domain_state_is_active(s->state))
            s->stats = kvm_stats_from_record(records[i]);
        k++;
        if (!s->name || (domain_state_is_active(s->state) && !s->stats)) {
            kvm_seen_free(seen, k);
            return -ENOMEM;
        }
    }
    *ret = seen;
    *ret_n = k;
    return 0;
}
