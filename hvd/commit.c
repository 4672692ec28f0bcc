/* Group commit: the domain changes made while the loop is busy share one SQLite transaction,
 * each inside its own savepoint, committed once callers' work is done, before bulk work that no
 * caller waits on (event-priority.h; or after COMMIT_BATCH_MAX changes). What depends on the
 * changes being durable, the answers to callers and the announcements to listeners, waits for that
 * commit. */
#include <string.h>

#include "event-priority.h"
#include "log.h"
#include "manager-internal.h"

#define COMMIT_BATCH_MAX 256u

/* What waits for the open transaction: a caller's completion or an announcement. */
struct PendingCommit {
    Domain *d;
    bool is_change;
    DomainChange change;
    ManagerDone done;
    void *userdata;
    bool has_error;
    Error error;
};

static int on_commit_due(sd_event_source *s, void *userdata)
{
    manager_commit(userdata);
    return 0;
}

int manager_change_begin(Manager *m)
{
    int r;

    if (!m->batch_open) {
        r = store_begin(m->store);
        if (r < 0)
            return r;
        m->batch_open = true;
        m->batch_changes = 0;
        if (!m->commit_source) {
            r = sd_event_add_defer(m->event, &m->commit_source, on_commit_due, m);
            if (r >= 0)
                (void)sd_event_source_set_priority(m->commit_source, PRIORITY_COMMIT);
        } else
            r = sd_event_source_set_enabled(m->commit_source, SD_EVENT_ONESHOT);
        if (r < 0)
            log_warning_errno(r, "Failed to schedule the commit, committing each change: %m");
        m->commit_each = r < 0;
    }
    r = store_savepoint(m->store);
    return r;
}

void manager_change_end(Manager *m, int r)
{
    if (r < 0) {
        store_rollback_to(m->store);
        return;
    }
    (void)store_release(m->store);
    m->batch_changes++;
    if (m->commit_each || m->batch_changes >= COMMIT_BATCH_MAX)
        manager_commit(m);
}

static PendingCommit *pending_add(Manager *m, Domain *d)
{
    PendingCommit *p;

    if (m->n_pending == m->n_pending_allocated) {
        size_t n = m->n_pending_allocated ? m->n_pending_allocated * 2 : 64;
        p = reallocarray(m->pending, n, sizeof(*p));
        if (!p)
            return NULL;
        m->pending = p;
        m->n_pending_allocated = n;
    }
    p = &m->pending[m->n_pending++];
    *p = (PendingCommit){.d = d};
    return p;
}

void manager_after_commit_done(Manager *m, Domain *d, ManagerDone done, void *userdata,
                               const Error *e)
{
    PendingCommit *p = m->batch_open ? pending_add(m, d) : NULL;

    if (!p) {
        done(userdata, d, e);
        return;
    }
    p->done = done;
    p->userdata = userdata;
    if (e) {
        p->has_error = true;
        p->error = *e;
    }
}

void manager_after_commit_change(Manager *m, Domain *d, const DomainChange *change)
{
    PendingCommit *p = m->batch_open ? pending_add(m, d) : NULL;

    if (!p) {
        DomainChange now = *change;
        now.last = true;
        manager_notify_change(m, d, &now);
        return;
    }
    p->is_change = true;
    p->change = *change;
}

/* Marks the last announcement of each domain, whose properties are then final, and each
 * starting state the domain left again within the commit. */
static void mark_last_changes(PendingCommit *p, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        Domain *d = p[i].d;

        if (!p[i].is_change)
            continue;
        if (!d->announce_mark) {
            d->announce_mark = true;
            p[i].change.last = true;
        }
        if (p[i].change.runtime_only)
            continue;
        p[i].change.passed = p[i].change.state == STATE_STARTING && d->announce_state_mark;
        d->announce_state_mark = true;
    }
    for (size_t i = 0; i < n; i++)
        p[i].d->announce_mark = p[i].d->announce_state_mark = false;
}

void manager_commit(Manager *m)
{
    PendingCommit *p;
    size_t n, allocated;
    Error failure = ERROR_NULL;
    int r;

    if (!m->batch_open)
        return;
    m->batch_open = false;
    if (m->commit_source)
        (void)sd_event_source_set_enabled(m->commit_source, SD_EVENT_OFF);
    r = store_commit(m->store);
    if (r < 0) {
        char why[256];

        (void)snprintf(why, sizeof(why), "%s",
                       r == -ENOSPC ? "no space left in the state directory"
                                    : store_last_error(m->store));
        store_rollback(m->store);
        log_error_errno(r, "Failed to record %u domain changes: %s", m->batch_changes, why);
        (void)error_set_errno(&failure, r,
                              "done, but hvd could not record it yet: %s (it will as soon as it "
                              "can)",
                              why);
        for (size_t i = 0; i < m->n_pending; i++)
            if (m->pending[i].is_change)
                manager_save_later(m, m->pending[i].d);
    }

    /* Take the queue: what it runs may open the next transaction. */
    p = TAKE_PTR(m->pending);
    n = m->n_pending;
    allocated = m->n_pending_allocated;
    m->n_pending = m->n_pending_allocated = 0;
    mark_last_changes(p, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i].is_change)
            manager_notify_change(m, p[i].d, &p[i].change);
        else if (r < 0 && !p[i].has_error)
            p[i].done(p[i].userdata, p[i].d, &failure);
        else
            p[i].done(p[i].userdata, p[i].d, p[i].has_error ? &p[i].error : NULL);
    }
    if (!m->pending) {
        /* Keep the buffer for the next transaction. */
        m->pending = p;
        m->n_pending_allocated = allocated;
        p = NULL;
    }
    free(p);
    manager_update_status(m);
}

void manager_flush(Manager *m)
{
    manager_commit(m);
}
