/* coord_proxy: the inference API's endpoints (Ollama's /api/chat, /api/generate, /api/embed,
 * /api/embeddings, /api/show and OpenAI's /v1/chat/completions, /v1/completions,
 * /v1/embeddings). */
#ifndef HERD_COORD_PROXY_H
#define HERD_COORD_PROXY_H

#include "coord/coord.h"

/* Registers the inference endpoints on c's server. */
void coord_proxy_routes(struct coord *c);

#endif
