/* route: which model and which node serve one request. A pure decision over a read-only view
 * of the fleet and what the request asks; no loop, no sockets, no clock of its own.
 *
 * The model: the first of the request's chain (model, then fallback_models) that is loaded on
 * an eligible node, else the first that any eligible node has; with no chain and the model
 * loaded nowhere, a loaded model of the same kind that can do what the request needs (the
 * VRAM fallback). The node: the best in the ranking for that model (score.h), except that a
 * request whose num_ctx the model's loaded context cannot hold goes where it can (context
 * protection). When no node can take the request, the answer says why: wait for one (hold),
 * pull the model, or the model does not exist. */
#ifndef HERD_ROUTE_H
#define HERD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/breaker.h"
#include "coord/cost.h"
#include "coord/prefix.h"
#include "coord/queue.h"
#include "coord/registry.h"
#include "coord/score.h"

#define ROUTE_MAX_CHAIN 9 /* the model and up to 8 fallback_models */

/* FLEET_CONTEXT_PROTECTION: what to do with a num_ctx the loaded model does not run with. */
enum context_mode { CONTEXT_STRIP, CONTEXT_WARN, CONTEXT_PASSTHROUGH };

enum route_outcome {
    ROUTE_GO = 0,    /* model and node chosen */
    ROUTE_HOLD,      /* no node can take it now, but one may come: wait */
    ROUTE_PULL,      /* no node has the model and auto-pull is on: pull it */
    ROUTE_NOT_FOUND, /* no node has any model of the chain (HTTP 404) */
    ROUTE_NO_MEMORY, /* out of memory (HTTP 503) */
};

/* Why another model than the one asked for serves (the trace's fallback_reason). */
enum route_fallback {
    ROUTE_FALLBACK_NONE = 0,
    ROUTE_FALLBACK_CHAIN,   /* "fallback_models": a later model of the chain */
    ROUTE_FALLBACK_VRAM,    /* "vram": a loaded model of the same kind instead of a cold load */
    ROUTE_FALLBACK_CONTEXT, /* "context": a larger loaded model with the context asked for */
};

/* What context protection did (the trace's context_action). */
enum route_context {
    ROUTE_CTX_NONE = 0,
    ROUTE_CTX_STRIPPED, /* num_ctx taken out of the body: the loaded context holds it */
    ROUTE_CTX_WARNED,   /* num_ctx kept (warn mode); the node may reload */
    ROUTE_CTX_MOVED,    /* sent to another node whose loaded context holds it */
    ROUTE_CTX_UPGRADED, /* served by a larger loaded model whose context holds it */
    ROUTE_CTX_OVERFLOW, /* no loaded context holds it: the node will reload the model */
};

/* The fleet as the decision sees it; every pointer is borrowed for the call. */
struct route_fleet {
    const struct node *const *nodes;
    size_t n_nodes;
    const struct queue_set *queues; /* requests waiting and running per node:model */
    const struct score_weights *weights;
    /* p75 latency (ms) of node:model, <= 0 when unknown; NULL when nothing is known. */
    double (*p75_ms)(const void *ctx, const char *node_id, const char *model);
    const void *p75_ctx;
    const struct cost_table *costs;       /* learned speeds, for the predictions; NULL: none */
    const struct prefix_index *prefixes;  /* what each node has cached; NULL: nothing known */
    const struct breaker_table *breakers; /* node:models ejected after failures; NULL: none */
    double clock;                         /* monotonic seconds, for the breakers */
    int default_slots;                    /* parallel slots of a node that does not report them */
    double now;                           /* wall time, for the warm tier */
    uint64_t turn;  /* the fleet's decision counter: equal scores are shared out in turn */
    double explore; /* share of decisions that try the hot node known least (herd's policy) */
    bool vram_fallback;
    bool auto_pull;
    enum context_mode context_mode;
};

/* What the request asks; borrowed for the call. */
struct route_ask {
    const char (*chain)[MODEL_NAME_MAX]; /* the model, then fallback_models; normalised */
    int n_chain;                         /* 1 to ROUTE_MAX_CHAIN */
    const char *model_sent;              /* the model as the client wrote it (for the 404) */
    const char *fixed_model;     /* the model chosen by an earlier decision (a retry keeps it), or
                                    NULL to choose one */
    const char *const *excluded; /* nodes already tried: never chosen again */
    int n_excluded;
    unsigned needs;                  /* enum model_cap */
    int64_t num_ctx;                 /* options.num_ctx of an Ollama request; 0 when absent */
    int64_t tokens;                  /* estimated prompt tokens */
    int64_t max_output;              /* num_predict / max_tokens; 0 when not set */
    const struct prefix_key *prefix; /* its prompt as blocks, or NULL */
    bool openai;                     /* context protection is for Ollama's API only */
    bool embedding;                  /* an embedding API: never served by another model */
    bool queued;                     /* takes a slot (inference), as opposed to /api/show */
    bool pulled; /* its model was pulled for it: serve that model, pull no more */
};

struct route_choice {
    enum route_outcome outcome;
    char model[MODEL_NAME_MAX];   /* the model chosen (ask->fixed_model when given) */
    enum route_fallback fallback; /* why model is not chain[0] (when chosen now) */
    const struct node *node;      /* ROUTE_GO: where it goes (borrowed from the view) */
    struct score_breakdown score; /* the node's score */
    enum route_context context;
    bool strip_ctx;     /* take options.num_ctx out of the body */
    int64_t loaded_ctx; /* the context model runs with on node (warned, overflow); 0 unknown */
    bool took_turn;     /* the final ranking used fleet->turn: the caller moves it on */
    bool explored;      /* node is not the best: it was tried to measure it again */
    /* Every node for model, eligible ones first, best first, with the breakdowns (owned:
     * route_choice_free); for ROUTE_GO and for a hold of a known model. */
    struct score_result *ranking;
    size_t n_ranking;
    size_t eligible;
    char why[512]; /* ROUTE_HOLD, ROUTE_PULL, ROUTE_NOT_FOUND: the message for the client */
};

/* Decides for ask over fleet. Fills *choice (route_choice_free releases it, whatever the
 * outcome) and returns its outcome. */
enum route_outcome route_decide(const struct route_fleet *fleet, const struct route_ask *ask,
                                struct route_choice *choice);

/* Frees what choice owns. Accepts a choice never decided if zeroed. */
void route_choice_free(struct route_choice *choice);

/* Whether an eligible node other than current and the excluded ones can serve
 * ask->fixed_model: a retry has somewhere to go. */
bool route_other_node(const struct route_fleet *fleet, const struct route_ask *ask,
                      const char *current);

/* Every node's score and prediction for model and what ask asks, best first, into *out
 * (allocated, caller frees; room for every node); returns how many are eligible, 0 with *out
 * NULL when out of memory. */
size_t route_rank(const struct route_fleet *fleet, const struct route_ask *ask, const char *model,
                  uint64_t turn, struct score_result **out);

/* "fallback_models", "vram", "context"; NULL for none. */
const char *route_fallback_name(enum route_fallback f);
/* "stripped", "warned", "moved", "upgraded", "overflow"; NULL for none. */
const char *route_context_name(enum route_context c);

#endif
