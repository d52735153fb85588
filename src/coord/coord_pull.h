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

/* Embedded in whatever waits for a pull (a request). */
struct pull_waiter {
    TAILQ_ENTRY(pull_waiter) link;
    struct pull *pull; /* the pull it waits for, or NULL */
    pull_done_cb done;
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

/* Pulls model (normalised) onto node n (NULL: the eligible node with the most memory to
 * offer) for the dashboard request r: with stream, r gets the node's progress lines as they
 * come (NDJSON, ending with the outcome), else one reply when the pull ends. Returns 0 when
 * the pull started (it answers r itself, and goes on if r's client leaves), or an HTTP status
 * with a message when it could not (409: already being pulled onto that node). */
int coord_pull_manual(struct coord *c, struct httpd_req *r, const char *model, const struct node *n,
                      bool stream, char *err, size_t errlen);
/* Whether model is being pulled onto node_id (NULL: onto any node). */
bool coord_pulling(const struct coord *c, const char *model, const char *node_id);
/* Pulls under way: [{model, node_id, origin, status, started, completed, total,
 * waiting_requests}]; a new reference. */
json_t *coord_pulls_json(const struct coord *c);

#endif
