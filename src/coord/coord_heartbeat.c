/* coord_heartbeat: a heartbeat applied. */
#include "coord/coord_heartbeat.h"

#include <string.h>

#include "common/timeutil.h"
#include "coord/coord_catalog.h"
#include "coord/fwd.h"

int coord_heartbeat_apply(struct coord *c, const json_t *body, const char *peer, struct node **out,
                          char *err, size_t errlen)
{
    struct node *n = NULL;
    int rc = registry_heartbeat(&c->registry, body, peer, time_wall(), &n, err, errlen);
    *out = n;
    if (rc || !n)
        return rc;
    coord_catalog_heard(c, n);
    if (n->draining) {
        fwd_node_gone(c, n->id); /* its requests not started yet go to other nodes */
        return 0;
    }
    /* The node may report other parallel slots: queues follow at once. */
    for (size_t i = 0; i < c->queues.n; i++)
        if (strcmp(c->queues.q[i]->node_id, n->id) == 0)
            queue_set_concurrency(c->queues.q[i], coord_queue_concurrency(c, n));
    /* A node came or changed: requests waiting for one may go now. */
    fwd_wake(c);
    return 0;
}
