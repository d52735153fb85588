/* coord_explain: GET /fleet/route, the routing decision for a model and a prompt size as herd
 * would make it now, with every node's breakdown, without sending anything. */
#ifndef HERD_COORD_EXPLAIN_H
#define HERD_COORD_EXPLAIN_H

#include "coord/coord.h"

/* Registers /fleet/route on c's server. */
void coord_explain_routes(struct coord *c);

#endif
