/* agent: herd-node's work on the event loop.
 *
 * Every heartbeat interval: read the machine (sysinfo), ask the local Ollama what it has
 * (/api/ps, /api/tags, /api/version, in parallel), feed the capacity learner, and POST the
 * heartbeat to the coordinator. The period is measured from the start of each cycle, so
 * collection time does not stretch it. When the coordinator cannot be reached the agent
 * retries sooner (0.25 s, doubling up to 2 s or the interval if shorter), so a coordinator
 * that comes back sees the node again within two seconds. State changes (Ollama down or up,
 * coordinator lost or back) are logged once, not on every beat. */
#ifndef HERD_AGENT_H
#define HERD_AGENT_H

#include <event2/event.h>
#include <stdbool.h>

#include "node/node_config.h"

struct agent;

/* Builds the agent on base. settings are borrowed and must outlive it; node_id must be set.
 * NULL with a message in err on failure. Nothing starts before agent_start. */
struct agent *agent_new(struct event_base *base, const struct node_settings *settings, char *err,
                        size_t errlen);

/* Starts the cycle (at once). */
void agent_start(struct agent *a);

/* Sets where heartbeats go ("http://10.0.0.2:11435"); from --router-url or discovery. A change
 * is logged and the next beat goes there at once. url is copied; NULL forgets it. */
void agent_set_router(struct agent *a, const char *url, const char *how);

/* The coordinator URL in use, or NULL. Borrowed. */
const char *agent_router(const struct agent *a);

/* Consecutive failed heartbeats (for re-discovery). */
unsigned agent_failures(const struct agent *a);

/* Stops the cycle, saves the capacity model, sends one draining heartbeat (waiting up to
 * 3 s for it) and calls done. */
void agent_drain(struct agent *a, void (*done)(void *arg), void *arg);

/* Frees the agent (cancels what is in flight). Accepts NULL. */
void agent_free(struct agent *a);

#endif
