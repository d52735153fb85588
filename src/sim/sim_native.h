/* sim_native: Ollama's native API of a simulated node (chat, generate, embed, show, tags, ps,
 * pull, delete, version). */
#ifndef HERD_SIM_NATIVE_H
#define HERD_SIM_NATIVE_H

#include <jansson.h>

#include "sim/sim_call.h"
#include "sim/sim_server.h"

/* Registers the native API's routes on n's server. */
void sim_native_routes(struct sim_node *n);

/* Runs a chat or completion request whose body has been parsed (body is taken over): the
 * native handlers and the OpenAI layer (after translating to a native body) end here. */
void sim_generate_request(struct sim_node *n, struct httpd_req *r, enum sim_call_api api,
                          json_t *body);

#endif
