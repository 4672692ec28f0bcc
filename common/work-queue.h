/* A small thread pool whose results come back into an sd-event loop: blocking calls (libvirt)
 * run on workers while the loop stays responsive. Jobs with the same key run one after another,
 * in submission order; jobs with different keys may run in parallel. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

typedef struct WorkQueue WorkQueue;

/* Runs on a worker thread; must not touch loop-owned state. */
typedef void (*WorkRun)(void *job);
/* Runs on the event loop once run() has finished; owns job afterwards. */
typedef void (*WorkDone)(void *job);

/* Starts n_threads workers delivering completions on event. With 0 threads the jobs run on the
 * loop itself, later than their submission (for calls that cannot block). */
int work_queue_new(sd_event *event, unsigned n_threads, WorkQueue **ret);

/* Queues job under key (copied). Returns 0 or -ENOMEM. */
int work_queue_submit(WorkQueue *q, const char *key, WorkRun run, WorkDone done, void *job);

/* With no threads: runs the jobs queued so far now, each followed by its done. Otherwise does
 * nothing. */
void work_queue_run_now(WorkQueue *q);

/* Number of jobs queued or running. */
unsigned work_queue_pending(WorkQueue *q);

/* Asks the workers to stop after the jobs that are running and waits up to wait_ms for them to
 * end (0: as long as they take). Returns true once every worker ended; then, and only then, the
 * queue may be freed. A false return leaves the queue working on its running jobs. */
bool work_queue_stop(WorkQueue *q, unsigned wait_ms);

/* Stops the workers after the jobs that are running; queued jobs are handed to done without
 * having run (cancel is true for them). Accepts NULL; returns NULL. */
WorkQueue *work_queue_free(WorkQueue *q, void (*cancel)(void *job));
