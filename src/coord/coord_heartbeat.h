/* coord_heartbeat: what a heartbeat changes, whoever sent it (a herd-node over HTTP, or herd's
 * own poll of an Ollama without an agent): the registry, the node's list of models, its
 * queues' slots, and the requests waiting for a node. */
#ifndef HERD_COORD_HEARTBEAT_H
#define HERD_COORD_HEARTBEAT_H

#include <jansson.h>
#include <stddef.h>

#include "coord/coord.h"

/* Applies heartbeat body (parsed, borrowed) that came from peer (NULL: herd polled the Ollama
 * itself). Returns 0 with *out set to the node (NULL when a node herd never knew says goodbye),
 * or -EINVAL (malformed) / -ENOMEM with the reason in err. */
int coord_heartbeat_apply(struct coord *c, const json_t *body, const char *peer, struct node **out,
                          char *err, size_t errlen);

#endif
