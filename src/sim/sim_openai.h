/* sim_openai: the OpenAI-compatible API of a simulated node, translated to native requests as
 * Ollama does. */
#ifndef HERD_SIM_OPENAI_H
#define HERD_SIM_OPENAI_H

#include "sim/sim_server.h"

/* Registers the OpenAI API's routes on n's server. */
void sim_openai_routes(struct sim_node *n);

#endif
