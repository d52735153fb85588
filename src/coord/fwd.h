/* fwd: one proxied request as a state machine.
 *
 *   PARSED --route--> QUEUED (waits for a slot on node:model) --slot--> UPSTREAM
 *      |                  ^                                               |
 *      +--> HELD (no node can take it yet; heartbeats wake it) -----------+ first byte
 *      +--> PULLING (waits for a pull of its model) ----------------------+    v
 *                                                                      STREAMING --> DONE
 *
 * The request as parsed (struct fwd_request) never changes; the decision (model, node,
 * context action) is route.c's, taken at each routing; the attempt (the transfer to the node,
 * what came back) starts again on a retry. One function, advance(), routes the request and
 * moves it on from whatever the decision says: a slot, the holding queue, a pull, a retry
 * elsewhere, or an error to the client. */
#ifndef HERD_FWD_H
#define HERD_FWD_H

#include <stdbool.h>
#include <stdint.h>

#include "coord/coord.h"
#include "coord/route.h"

#define FWD_MAX_HEADERS 64

enum fwd_api {
    API_CHAT,
    API_GENERATE,
    API_EMBED,
    API_EMBEDDINGS,
    API_SHOW,
    API_OAI_CHAT,
    API_OAI_COMPLETIONS,
    API_OAI_EMBEDDINGS,
};

/* One endpoint of the inference API. */
struct fwd_endpoint {
    const char *path;
    enum fwd_api api;
    bool openai;
    bool queued;    /* takes a slot on node:model and is traced */
    bool embedding; /* an embedding API: never served by another model */
};

/* The request as the client sent it, read once. */
struct fwd_request {
    const struct fwd_endpoint *endpoint;         /* static */
    char model_sent[MODEL_NAME_MAX];             /* as the client wrote it */
    char chain[ROUTE_MAX_CHAIN][MODEL_NAME_MAX]; /* the model, then fallback_models */
    int n_chain;
    unsigned needs;     /* enum model_cap the request needs */
    int64_t num_ctx;    /* options.num_ctx of an Ollama request; 0 when absent */
    int64_t tokens;     /* estimated prompt tokens */
    int64_t max_output; /* options.num_predict, max_tokens or max_completion_tokens; 0: none */
    struct prefix_key *prefix; /* the prompt as blocks (chats and completions; owned), or NULL */
    char *raw;                 /* the client's body (owned) */
    size_t raw_len;
    bool drop_extra; /* the body has fallback_models or metadata, which Ollama must not get */
    bool add_usage;  /* herd asks for usage in an OpenAI stream (and keeps it to itself) */
    char client_ip[64];
    char *tags;   /* JSON array text for the trace (request_tags), or NULL (owned) */
    char app[64]; /* the name of the client's API key, or "" */
    char *headers[FWD_MAX_HEADERS + 1]; /* "Name: value" for the node (owned) */
    int n_headers;
};

/* Frees what a request owns (when it never reached fwd_start). Accepts NULL. */
void fwd_request_free(struct fwd_request *rq);

/* Takes over *rq (its owned parts move into the request; *rq is left empty) and routes it
 * for the client's request r: it runs, waits, or is answered at once. */
void fwd_start(struct coord *c, struct httpd_req *r, struct fwd_request *rq);

/* The fleet changed (a heartbeat): held requests that a node can now take go, in order. */
void fwd_wake(struct coord *c);

/* The node is draining or offline: requests waiting for a slot on it (not started) are
 * routed again, to other nodes, without counting as a retry. */
void fwd_node_gone(struct coord *c, const char *node_id);

/* Cancels requests whose node has sent nothing for --stale-timeout (not those paused by
 * their own slow client); called from a timer. */
void fwd_reap(struct coord *c);

#endif
