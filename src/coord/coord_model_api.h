/* coord_model_api: Ollama's model management through herd, in Ollama's wire format:
 * POST /api/pull, DELETE /api/delete, POST /api/copy, POST /api/create, POST /api/push,
 * HEAD/POST /api/blobs/:digest, and keep_alive 0 unloads.
 *
 * Each call goes to the nodes the client names with X-Herd-Node (NAME[,NAME...] or "all"),
 * else to the nodes it concerns: a pull to the nodes that hold the model (to bring them up to
 * date) or, when none does, to the node placement chooses; delete and copy to every node
 * holding the model; create to the nodes holding its base model, or to the node its blobs were
 * uploaded to; push to one node holding the model; an unload to every node where the model is
 * loaded. The operation itself runs in coord_manage. */
#ifndef HERD_COORD_MODEL_API_H
#define HERD_COORD_MODEL_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "coord/coord.h"

/* Registers the routes on c's server and sets up what they keep. 0 or -ENOMEM. */
int coord_model_api_routes(struct coord *c);
/* Frees what they keep. */
void coord_model_api_free(struct coord *c);

/* A chat or generate request (its path and parsed body) that unloads its model: keep_alive 0
 * and no prompt or messages. */
bool coord_model_api_is_unload(const char *path, const json_t *body);
/* Unloads model (normalised) on every node where it is loaded, or on the nodes X-Herd-Node
 * names; body (the client's, borrowed) goes to each. Answers r as Ollama does (the first
 * node's reply) and returns true; false when no node has the model (the request goes its
 * usual way, to a 404 or a pull). */
bool coord_model_api_unload(struct coord *c, struct httpd_req *r, const char *path,
                            const char *model, const char *body, size_t len);

#endif
