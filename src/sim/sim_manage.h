/* sim_manage: the model management of Ollama's native API that makes or moves models on a
 * simulated node without a download: copy, create (from a model on disk or from uploaded
 * blobs), push (refused, as a registry refuses a client without credentials) and blobs. */
#ifndef HERD_SIM_MANAGE_H
#define HERD_SIM_MANAGE_H

#include "sim/sim_server.h"

/* Registers /api/copy, /api/create, /api/push and /api/blobs/:digest on n's server. */
void sim_manage_routes(struct sim_node *n);

#endif
