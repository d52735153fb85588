/* coord_poll: Ollamas without an agent (herd --ollama [NAME=]URL). Every heartbeat interval
 * herd asks each one for /api/version, /api/tags and /api/ps, with timeouts, and turns the
 * answers into the heartbeat herd-node would have sent, without the blocks only an agent can
 * fill (CPU, memory, GPU, thermal): such a node is scored with those unknown, never invented.
 * A failed poll is retried with a doubling delay (up to a minute); a node that stops answering
 * leaves the fleet as a dead herd-node does. When a herd-node reports the same Ollama, it
 * takes the node over: the polled entry goes away and polling pauses while the agent is
 * online. */
#ifndef HERD_COORD_POLL_H
#define HERD_COORD_POLL_H

#include <stdbool.h>
#include <stddef.h>

#include "coord/coord.h"

struct coord_poll;

/* Starts polling the Ollamas of c's settings. NULL with a message in err (a malformed entry,
 * out of memory). Free with coord_poll_free. */
struct coord_poll *coord_poll_new(struct coord *c, char *err, size_t errlen);
/* Polls what c's settings list now: new entries start, removed ones leave the fleet, the
 * others go on. 0, or -1 with a message in err (the list is refused whole; nothing changes). */
int coord_poll_reload(struct coord *c, char *err, size_t errlen);
/* Stops polling. Accepts NULL. */
void coord_poll_free(struct coord_poll *p);

/* Node n sent a heartbeat of its own: if it reports an Ollama herd polls, it takes it over. */
void coord_poll_heard(struct coord *c, const struct node *n);

/* Whether node_id is an Ollama herd polls (for the fleet's status). */
bool coord_poll_is_polled(const struct coord *c, const char *node_id);

#endif
