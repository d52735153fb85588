/* coord_tags: the fleet's models as one Ollama lists them. GET /api/tags lists each model once
 * with the nodes' own entry (digest, details, modified_at, size) and herd's fleet_nodes, and
 * fleet_digests when nodes hold different models under one name; GET /api/ps lists each loaded
 * model once, as the node with the latest expiry runs it, with the nodes it is loaded on;
 * /v1/models and /v1/models/{id} list the same models in OpenAI's shape. */
#ifndef HERD_COORD_TAGS_H
#define HERD_COORD_TAGS_H

#include "coord/coord.h"

/* Registers the listings' routes on c's server. */
void coord_tags_routes(struct coord *c);

#endif
