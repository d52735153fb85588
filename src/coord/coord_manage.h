/* coord_manage: one model-management operation (pull, delete, copy, create, push, unload) on
 * several nodes, with one answer to the client in Ollama's wire format: several nodes' progress
 * merged into one stream (progress_merge.h), a node that fails named in the error, what the
 * fleet knows updated at once. The Ollama API (coord_model_api.h) and the dashboard's pull and
 * delete (coord_models.h) choose the nodes and start operations here. */
#ifndef HERD_COORD_MANAGE_H
#define HERD_COORD_MANAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "coord/coord.h"

#define MANAGE_TARGETS_MAX 64 /* nodes one operation may go to */

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
    bool insecure;     /* a pull from a registry without TLS */
    bool dashboard;    /* the dashboard's API: its answers and log lines */
    bool unload_first; /* a delete unloads the model first (the dashboard's forced delete) */
    bool forced;       /* shown in the dashboard's answer */
};

/* Sets up what operations under way keep. 0 or -ENOMEM. */
int coord_manage_init(struct coord *c);
/* Cancels the operations under way (herd is stopping) and frees what they keep. */
void coord_manage_free(struct coord *c);

/* Runs the operation on nodes (n of them, at most 64): it answers r itself and goes on when r's
 * client leaves. Returns 0, or an HTTP status with a message in err when it could not start. */
int coord_manage_start(struct coord *c, struct httpd_req *r, const struct manage_ask *a,
                       const struct node *const *nodes, int n, char *err, size_t errlen);

#endif
