/* coord_pull: pulls of models onto nodes, auto-pull for requests and the dashboard's. */
#ifndef HERD_COORD_PULL_H
#define HERD_COORD_PULL_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/queue.h>

#include "coord/coord.h"

struct pull;
struct pull_waiter;

/* The pull the waiter waited for ended: status 0 (node_id has the model now) or an HTTP status
 * with the node's error. The waiter has left the pull before this is called. */
typedef void (*pull_done_cb)(struct pull_waiter *w, int status, const char *node_id,
                             const char *error);
/* A progress line of the node (parsed, borrowed), as it comes. */
typedef void (*pull_line_cb)(struct pull_waiter *w, const json_t *line);

/* Embedded in whatever waits for a pull (a request, a client's pull). */
struct pull_waiter {
    TAILQ_ENTRY(pull_waiter) link;
    struct pull *pull; /* the pull it waits for, or NULL */
    pull_done_cb done;
    pull_line_cb line; /* may be NULL */
};

/* Makes w wait for a pull of model, starting one onto the node with the most memory to offer
 * unless one is under way; w->done is called when it ends. model_sent (the name as the client
 * wrote it) and who (a request id) are for the messages. Returns 0, or an HTTP status with a
 * message in err (no node can take the model). */
int coord_pull_wait(struct coord *c, struct pull_waiter *w, const char *model,
                    const char *model_sent, const char *who, char *err, size_t errlen);
/* w stops waiting for its pull (it is being freed). Accepts a waiter that waits for nothing. */
void coord_pull_forget(struct pull_waiter *w);
/* Cancels every pull (herd is stopping); waiters are not called. */
void coord_pull_free_all(struct coord *c);

/* Makes w wait for the pull of model (normalised) onto node n, starting one unless it is
 * under way (insecure: from a registry without TLS, as Ollama's pull allows); origin ("api",
 * "dashboard") is shown in the list of pulls. Such a pull ends only
 * when the node stops sending progress for FLEET_AUTO_PULL_TIMEOUT (a large model takes
 * longer than any fixed limit). Returns 0, or 503 with a message when it cannot start. */
int coord_pull_onto(struct coord *c, struct pull_waiter *w, const char *model, const struct node *n,
                    const char *origin, bool insecure, char *err, size_t errlen);
/* The node a new model goes to: eligible for new work, with the most memory to offer and
 * enough for the model's estimated size; NULL when none. */
const struct node *coord_pull_target(struct coord *c, const char *model);
/* Whether model is being pulled onto node_id (NULL: onto any node). */
bool coord_pulling(const struct coord *c, const char *model, const char *node_id);
/* Pulls under way: [{model, node_id, origin, status, started, completed, total,
 * waiting_requests}]; a new reference. */
json_t *coord_pulls_json(const struct coord *c);

#endif
