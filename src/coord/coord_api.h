/* coord_api: the fleet as one Ollama (root, version), heartbeats, the /fleet API. */
#ifndef HERD_COORD_API_H
#define HERD_COORD_API_H

#include <jansson.h>

#include "coord/coord.h"

/* Registers the fleet API's routes on c's server. */
void coord_api_routes(struct coord *c);
/* {nodes_total, nodes_online, models_loaded, requests_active, requests_queued}; a new
 * reference. */
json_t *coord_fleet_summary(struct coord *c);
/* What /fleet/status answers: {fleet, nodes, queues, timestamp}; a new reference. */
json_t *coord_status_json(struct coord *c);

#endif
