/* Destroys that complete when the guest has stopped: the VMM's own teardown (KVM's VM, guest
 * memory, the process's exit) then finishes on its own, while hvd keeps the instance, its
 * cgroups and a restart of the same domain waiting until the process is gone. */
#include "minihv-internal.h"

bool instance_may_end_early(const Instance *inst)
{
    return inst->ready && !inst->save_call && !inst->migrate_call && !inst->migrate_ending &&
           !inst->end_detail;
}

bool instance_end_early(Instance *inst)
{
    MinihvDriver *md = inst->md;
    Driver *drv = md->drv;
    DomainRuntime rt = {.pid = inst->pid, .pid_start_time = inst->start_ticks};

    if (inst->ending || !inst->destroy_requested || !instance_may_end_early(inst))
        return false;
    instance_stats_stop(inst);
    if (hashmap_get(md->instances, inst->config.name) == inst)
        (void)hashmap_remove(md->instances, inst->config.name);
    inst->ending = true;
    inst->ending_next = md->ending;
    md->ending = inst;
    md->n_ending++;
    drv->ctx.events.op_completed(drv->ctx.events.userdata, drv, inst->config.name, ACTION_DESTROY,
                                 NULL, &rt, STATE_SHUTOFF);
    return true;
}

Instance *minihv_ending_find(MinihvDriver *md, const char *name)
{
    for (Instance *i = md->ending; i; i = i->ending_next)
        if (streq(i->config.name, name))
            return i;
    return NULL;
}

void instance_ending_forget(Instance *inst)
{
    if (inst->ending)
        for (Instance **p = &inst->md->ending; *p; p = &(*p)->ending_next)
            if (*p == inst) {
                *p = inst->ending_next;
                inst->md->n_ending--;
                break;
            }
    inst->ending = false;
    if (inst->successor)
        inst->successor->predecessor = NULL;
    if (inst->predecessor)
        inst->predecessor->successor = NULL;
    inst->successor = inst->predecessor = NULL;
}

bool instance_ending_exited(Instance *inst)
{
    Instance *next;

    if (!inst->ending)
        return false;
    next = inst->successor;
    instance_cgroup_remove(inst);
    instance_free(inst); /* unties next */
    if (next)
        instance_start_deferred(next);
    return true;
}

void minihv_ending_free_all(MinihvDriver *md)
{
    while (md->ending)
        instance_free(md->ending);
}
