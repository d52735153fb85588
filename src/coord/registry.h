/* registry: the nodes of the fleet as their heartbeats describe them.
 *
 * A node appears with its first heartbeat and is never forgotten; it is online while its
 * heartbeats arrive, degraded after degraded_after seconds without one (still routable),
 * offline after offline_after seconds, and offline at once when it says it is draining. */
#ifndef HERD_REGISTRY_H
#define HERD_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/node.h"

struct registry {
    struct node **nodes;
    size_t n;
    double degraded_after; /* seconds without a heartbeat */
    double offline_after;
};

/* An empty registry with the given timeouts. */
void registry_init(struct registry *r, double degraded_after, double offline_after);
/* Frees every node. */
void registry_free(struct registry *r);

/* Applies a heartbeat. peer_ip is the address it came from (to build the Ollama URL); NULL
 * when herd polled the Ollama itself (its ollama_host is then the URL as given). On a
 * malformed payload returns -EINVAL with the reason in err and changes nothing. *out (may be
 * NULL) gets the node. */
int registry_heartbeat(struct registry *r, const json_t *payload, const char *peer_ip, double now,
                       struct node **out, char *err, size_t errlen);

/* Moves nodes to degraded or offline as time passes. Returns how many changed. */
int registry_tick(struct registry *r, double now);

/* The node with this id, or NULL. */
struct node *registry_find(const struct registry *r, const char *id);
/* Removes the node (another entry reports the same Ollama now) and frees it. */
void registry_remove(struct registry *r, const char *id);

#endif
