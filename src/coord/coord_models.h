/* coord_models: the dashboard's model lifecycle: model-management, pull onto a node, delete,
 * recommendations. */
#ifndef HERD_COORD_MODELS_H
#define HERD_COORD_MODELS_H

#include "coord/coord.h"

/* Registers the model lifecycle's routes on c's server. */
void coord_models_routes(struct coord *c);

#endif
