/* fleet_view: the fleet as the routing decision (route.h) sees it, from the coordinator's
 * state now: nodes, queues, learned speeds, cached prefixes, breakers, settings. */
#ifndef HERD_FLEET_VIEW_H
#define HERD_FLEET_VIEW_H

#include "coord/coord.h"
#include "coord/route.h"

/* Fills *v; what it points to is borrowed from c until the loop runs again. */
void fleet_view_of(const struct coord *c, struct route_fleet *v);

#endif
