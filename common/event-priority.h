/* hvd's event-loop priorities beyond sd-event's own (a lower value runs first): callers' work
 * (SD_EVENT_PRIORITY_NORMAL), then the group commit their answers wait for, then bulk work that
 * no caller waits on (statistics sweeps, re-attach probes, a new domain's console and first
 * statistics), so that none of it delays an answer. */
#pragma once

#include <systemd/sd-event.h>

#define PRIORITY_COMMIT     (SD_EVENT_PRIORITY_NORMAL + 5)
#define PRIORITY_BACKGROUND (SD_EVENT_PRIORITY_NORMAL + 10)
