/* coord_manage: Ollama's model management at fleet level, in Ollama's wire format:
 * POST /api/pull, DELETE /api/delete, POST /api/copy, POST /api/create, POST /api/push and
 * HEAD/POST /api/blobs/:digest.
 *
 * Each operation goes to the nodes the client names with X-Herd-Node (NAME[,NAME...] or
 * "all"), else to the nodes the operation concerns: a pull to the nodes that hold the model
 * (to bring them up to date) or, when none does, to the node placement chooses; delete and
 * copy to every node holding the model; create to the nodes holding its base model, or to the
 * node its blobs were uploaded to; push to one node holding the model. Several nodes' progress
 * is merged into one stream (progress_merge.h); a node that fails is named in the error. The
 * dashboard's pull and delete run through the same operations. */
#ifndef HERD_COORD_MANAGE_H
#define HERD_COORD_MANAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "coord/coord.h"

enum manage_kind {
    MANAGE_PULL,
    MANAGE_DELETE,
    MANAGE_COPY,
    MANAGE_CREATE,
    MANAGE_PUSH,
    MANAGE_UNLOAD, /* keep_alive 0 with nothing to generate: /api/generate or /api/chat */
};

/* What a client asked for (all borrowed for the call). */
struct manage_ask {
    enum manage_kind kind;
    const char *model; /* normalised; for a copy, the source */
    const char *dest;  /* a copy's destination, normalised */
    const char *body;  /* a create's, push's or unload's request body, forwarded */
    const char *path;  /* an unload's path: "/api/generate" or "/api/chat" */
    size_t body_len;   /* its length */
    bool stream;       /* NDJSON progress, else one answer at the end */
    bool dashboard;    /* the dashboard's API: its answers and log lines */
    bool unload_first; /* a delete unloads the model first (the dashboard's forced delete) */
    bool forced;       /* shown in the dashboard's answer */
};

/* Registers the routes on c's server and sets up what they keep. 0 or -ENOMEM. */
int coord_manage_routes(struct coord *c);
/* Cancels the operations under way (herd is stopping) and frees what they keep. */
void coord_manage_free(struct coord *c);

/* A chat or generate request (its path and parsed body) that unloads its model: keep_alive 0
 * and no prompt or messages. */
bool coord_manage_is_unload(const char *path, const json_t *body);
/* Unloads model (normalised) on every node where it is loaded, or on the nodes X-Herd-Node
 * names; body (the client's, borrowed) goes to each. Answers r as Ollama does (the first
 * node's reply) and returns true; false when no node has the model (the request goes its
 * usual way, to a 404 or a pull). */
bool coord_manage_unload(struct coord *c, struct httpd_req *r, const char *path, const char *model,
                         const char *body, size_t len);

/* Runs the operation on nodes (n of them, at most 64): it answers r itself and goes on when r's
 * client leaves. Returns 0, or an HTTP status with a message in err when it could not start. */
int coord_manage_start(struct coord *c, struct httpd_req *r, const struct manage_ask *a,
                       const struct node *const *nodes, int n, char *err, size_t errlen);

#endif
