/* Worker threads, a per-key serialised job list, and an eventfd that wakes the loop; or, with no
 * threads, the same jobs run on the loop itself from a deferred event. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "work-queue.h"

typedef struct Job {
    char *key;
    WorkRun run;
    WorkDone done;
    void *data;
    struct Job *next;
} Job;

struct WorkQueue {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    Job *queued, *queued_tail; /* waiting to run, in order */
    Job *finished;             /* run, waiting for done (reverse order) */
    char **busy_keys;          /* keys of jobs that are running */
    unsigned n_threads;
    unsigned n_joined; /* workers that ended and were joined, in order */
    unsigned n_pending;
    bool stopping;
    bool inline_mode; /* no threads: jobs run on the loop */
    pthread_t *threads;
    int event_fd;
    sd_event_source *source;
};

static bool key_busy(WorkQueue *q, const char *key)
{
    for (unsigned i = 0; i < q->n_threads; i++)
        if (q->busy_keys[i] && streq(q->busy_keys[i], key))
            return true;
    return false;
}

/* Takes the first queued job whose key is not running (and is not behind an earlier queued job
 * with the same key). Called with the lock held. */
static Job *take_runnable(WorkQueue *q)
{
    Job **p = &q->queued, *prev = NULL;

    for (; *p; prev = *p, p = &(*p)->next) {
        Job *j = *p;
        bool blocked = key_busy(q, j->key);

        for (Job *e = q->queued; !blocked && e != j; e = e->next)
            blocked = streq(e->key, j->key);
        if (blocked)
            continue;
        *p = j->next;
        if (q->queued_tail == j)
            q->queued_tail = prev;
        return j;
    }
    return NULL;
}

static void *worker(void *userdata)
{
    WorkQueue *q = userdata;
    unsigned slot = UINT32_MAX;

    (void)pthread_mutex_lock(&q->lock);
    for (;;) {
        Job *j = NULL; /* gcc with -fsanitize cannot see that the loop sets it before use */
        uint64_t one = 1;

        while (!q->stopping && !(j = take_runnable(q)))
            (void)pthread_cond_wait(&q->wake, &q->lock);
        if (q->stopping)
            break;
        for (slot = 0; q->busy_keys[slot]; slot++)
            ;
        q->busy_keys[slot] = j->key;
        (void)pthread_mutex_unlock(&q->lock);

        j->run(j->data);

        (void)pthread_mutex_lock(&q->lock);
        q->busy_keys[slot] = NULL;
        j->next = q->finished;
        q->finished = j;
        (void)write(q->event_fd, &one, sizeof(one));
        (void)pthread_cond_broadcast(&q->wake);
    }
    (void)pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void job_free(Job *j)
{
    free(j->key);
    free(j);
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    WorkQueue *q = userdata;
    Job *list, *ordered = NULL;
    uint64_t n;

    (void)read(fd, &n, sizeof(n));
    (void)pthread_mutex_lock(&q->lock);
    list = q->finished;
    q->finished = NULL;
    (void)pthread_mutex_unlock(&q->lock);

    /* The list is newest first: reverse it so completions arrive in finishing order. */
    while (list) {
        Job *next = list->next;
        list->next = ordered;
        ordered = list;
        list = next;
    }
    while (ordered) {
        Job *next = ordered->next;
        q->n_pending--;
        ordered->done(ordered->data);
        job_free(ordered);
        ordered = next;
    }
    return 0;
}

/* Inline mode: runs the jobs queued so far, each followed by its done, in submission order
 * (which keeps every key's order). Jobs queued meanwhile wait for the next round. */
static int on_inline(sd_event_source *s, void *userdata)
{
    work_queue_run_now(userdata);
    return 0;
}

void work_queue_run_now(WorkQueue *q)
{
    Job *list;

    if (!q->inline_mode)
        return;
    (void)sd_event_source_set_enabled(q->source, SD_EVENT_OFF);
    list = q->queued;

    q->queued = q->queued_tail = NULL;
    while (list) {
        Job *next = list->next;
        list->run(list->data);
        q->n_pending--;
        list->done(list->data);
        job_free(list);
        list = next;
    }
}

static int inline_new(sd_event *event, WorkQueue *q)
{
    int r = sd_event_add_defer(event, &q->source, on_inline, q);

    if (r >= 0)
        r = sd_event_source_set_enabled(q->source, SD_EVENT_OFF);
    return r;
}

int work_queue_new(sd_event *event, unsigned n_threads, WorkQueue **ret)
{
    WorkQueue *q;
    int r;

    q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    (void)pthread_mutex_init(&q->lock, NULL);
    (void)pthread_cond_init(&q->wake, NULL);
    q->event_fd = -EBADF;
    if (n_threads == 0) {
        q->inline_mode = true;
        r = inline_new(event, q);
        if (r < 0)
            goto fail;
        *ret = q;
        return 0;
    }
    q->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    q->busy_keys = calloc(n_threads, sizeof(char *));
    q->threads = calloc(n_threads, sizeof(pthread_t));
    if (q->event_fd < 0 || !q->busy_keys || !q->threads) {
        r = q->event_fd < 0 ? -errno : -ENOMEM;
        goto fail;
    }
    r = sd_event_add_io(event, &q->source, q->event_fd, EPOLLIN, on_finished, q);
    if (r < 0)
        goto fail;
    for (; q->n_threads < n_threads; q->n_threads++) {
        r = -pthread_create(&q->threads[q->n_threads], NULL, worker, q);
        if (r < 0)
            goto fail;
    }
    *ret = q;
    return 0;
fail:
    work_queue_free(q, NULL);
    return r;
}

int work_queue_submit(WorkQueue *q, const char *key, WorkRun run, WorkDone done, void *data)
{
    Job *j = calloc(1, sizeof(*j));

    if (!j)
        return -ENOMEM;
    *j = (Job){.key = strdup(key), .run = run, .done = done, .data = data};
    if (!j->key) {
        free(j);
        return -ENOMEM;
    }
    (void)pthread_mutex_lock(&q->lock);
    if (q->queued_tail)
        q->queued_tail->next = j;
    else
        q->queued = j;
    q->queued_tail = j;
    q->n_pending++;
    if (q->inline_mode)
        (void)sd_event_source_set_enabled(q->source, SD_EVENT_ONESHOT);
    else
        (void)pthread_cond_broadcast(&q->wake);
    (void)pthread_mutex_unlock(&q->lock);
    return 0;
}

unsigned work_queue_pending(WorkQueue *q)
{
    return q->n_pending;
}

bool work_queue_stop(WorkQueue *q, unsigned wait_ms)
{
    struct timespec deadline;

    (void)pthread_mutex_lock(&q->lock);
    q->stopping = true;
    (void)pthread_cond_broadcast(&q->wake);
    (void)pthread_mutex_unlock(&q->lock);
    (void)clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(wait_ms / 1000u);
    deadline.tv_nsec += (long)(wait_ms % 1000u) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    for (; q->n_joined < q->n_threads; q->n_joined++) {
        pthread_t t = q->threads[q->n_joined];
        if ((wait_ms ? pthread_timedjoin_np(t, NULL, &deadline) : pthread_join(t, NULL)) != 0)
            return false;
    }
    return true;
}

WorkQueue *work_queue_free(WorkQueue *q, void (*cancel)(void *job))
{
    if (!q)
        return NULL;
    (void)work_queue_stop(q, 0);

    for (Job *lists[2] = {q->finished, q->queued}, **l = lists; l < lists + 2; l++)
        while (*l) {
            Job *next = (*l)->next;
            if (cancel)
                cancel((*l)->data);
            job_free(*l);
            *l = next;
        }
    (void)sd_event_source_disable_unref(q->source);
    safe_close(q->event_fd);
    free(q->busy_keys);
    free(q->threads);
    (void)pthread_mutex_destroy(&q->lock);
    (void)pthread_cond_destroy(&q->wake);
    free(q);
    return NULL;
}
