/* A domain's JSON form, shared by D-Bus GetInfo, HTTP and hvctl --json. */
#include <string.h>

#include "domain.h"
#include "macro.h"

int domain_to_json(const Domain *d, json_t *obj)
{
    int r = domain_config_to_json(&d->config, obj);

    if (r < 0)
        return r;
    r |= json_object_set_new(obj, "state", json_string(domain_state_to_string(d->state)));
    r |= json_object_set_new(obj, "reason", json_string(domain_reason_to_string(d->reason)));
    r |= json_object_set_new(obj, "pid", json_integer(d->runtime.pid));
    r |= json_object_set_new(obj, "created_us", json_integer((json_int_t)d->created_us));
    r |=
        json_object_set_new(obj, "state_changed_us", json_integer((json_int_t)d->state_changed_us));
    r |= json_object_set_new(obj, "started_us", json_integer((json_int_t)d->runtime.started_us));
    return r ? -ENOMEM : 0;
}

static bool json_text_current(const Domain *d)
{
    const DomainJsonText *j = &d->json;

    return j->text && j->config_generation == d->config_generation && j->state == d->state &&
           j->reason == d->reason && j->pid == d->runtime.pid &&
           j->state_changed_us == d->state_changed_us && j->started_us == d->runtime.started_us;
}

const char *domain_json_text(Domain *d, size_t *ret_len)
{
    json_t *obj;
    char *text;

    if (!json_text_current(d)) {
        obj = json_object();
        text = obj && domain_to_json(d, obj) >= 0 ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (!text)
            return NULL;
        free(d->json.text);
        d->json = (DomainJsonText){
            .text = text,
            .len = strlen(text),
            .config_generation = d->config_generation,
            .state = d->state,
            .reason = d->reason,
            .pid = d->runtime.pid,
            .state_changed_us = d->state_changed_us,
            .started_us = d->runtime.started_us,
        };
    }
    *ret_len = d->json.len;
    return d->json.text;
}

void domain_json_text_done(Domain *d)
{
    d->json.text = mfree(d->json.text);
}
