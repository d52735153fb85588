/* score: which node should serve a request. Pure functions of the fleet's state.
 *
 * Stage 1 eliminates nodes that cannot serve: offline or draining, no model state, critical
 * memory pressure, paused by the capacity learner, model absent, or a cold model that does not
 * fit in the memory the node offers. Stage 2 scores the survivors with seven signals:
 *   thermal        +hot (loaded) / +warm (unloaded less than 30 min ago) / +cold (on disk)
 *   memory_fit     how comfortably the model fits (full marks when loaded)
 *   queue_depth    minus a penalty per request queued or running on node:model
 *   wait_time      minus the expected wait: p75 latency of node:model times its queue depth
 *   role_affinity  large models to high-bandwidth or high-memory nodes, small ones elsewhere
 *   availability_trend  the capacity learner's availability
 *   context_fit    whether the loaded context fits the request's estimated tokens
 * The highest total wins; equal totals are shared out in turn, not always to the same node.
 *
 * Other routing policies exist to be measured against (bench/routing.mjs), chosen by
 * FLEET_ROUTING_POLICY: round robin, least connections and random over the nodes that can
 * serve, and "reference", the Python project's behaviour (queue depth not divided by parallel
 * slots, the wait counting every request on node:model, ties to the node that joined first). */
#ifndef HERD_SCORE_H
#define HERD_SCORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/registry.h"

enum score_policy {
    SCORE_POLICY_HERD = 0, /* the lowest predicted time to first token (cost.h) */
    SCORE_POLICY_SIGNALS,  /* the highest total of the seven signals */
    SCORE_POLICY_ROUND_ROBIN,
    SCORE_POLICY_LEAST_CONN,
    SCORE_POLICY_RANDOM,
    SCORE_POLICY_REFERENCE,
    SCORE_POLICY_CACHE_AWARE, /* SGLang's / SMG's cache_aware router */
    SCORE_POLICY_LLMD,        /* llm-d's default scorers: prefix : queue : KV = 2 : 2 : 1 */
};

/* The names of the policies, '|'-separated in enum order (the setting's choices). */
#define SCORE_POLICY_CHOICES "herd|signals|round_robin|least_conn|random|reference|cache_aware|llmd"

struct score_weights {
    double hot, warm, cold;         /* thermal tiers: 50 / 30 / 10 */
    double memory_fit_max;          /* 20 */
    double queue_max_penalty;       /* 30 */
    double queue_penalty_per;       /* 6 per queued request */
    double wait_max_penalty;        /* 25 */
    double role_affinity_max;       /* 15 */
    double role_large_gb;           /* 20: larger models are "large" */
    double role_small_gb;           /* 8: smaller ones are "small" */
    double availability_max;        /* 10 */
    double context_fit_max;         /* 15 */
    double warm_window_s;           /* 1800 */
    bool bandwidth_aware;           /* role affinity from memory bandwidth when known */
    bool queue_bandwidth_normalize; /* a faster node's queue counts for less */
    enum score_policy policy;       /* SCORE_POLICY_HERD */
};

/* The defaults above. */
void score_weights_default(struct score_weights *w);

/* What a request is predicted to take on a node (seconds), for the herd policy and the
 * breakdown. */
struct score_prediction {
    double queue_s, load_s, prefill_s, decode_s, prefix_match, ttft_s, total_s, service_s;
};

struct score_breakdown {
    double thermal, memory_fit, queue_depth, wait_time, role_affinity, availability_trend,
        context_fit, total;
    bool predicted;            /* a prediction was made (cost.h) */
    struct score_prediction p; /* it, when predicted; zero otherwise */
};

enum score_verdict {
    SCORE_ELIGIBLE = 0,
    SCORE_OFFLINE,   /* offline or draining */
    SCORE_NO_STATE,  /* no model state reported (or Ollama down) */
    SCORE_PRESSURE,  /* critical memory pressure */
    SCORE_PAUSED,    /* capacity learner: paused, bootstrap, or availability < 0.2 */
    SCORE_NO_MODEL,  /* the model is neither loaded nor on disk */
    SCORE_NO_MEMORY, /* cold, and larger than the memory the node offers */
    SCORE_EJECTED,   /* its breaker is open after failures in a row (breaker.h) */
};

/* What the scorer knows about one node for one request. */
struct score_node_input {
    const struct node *node;
    int queue_depth; /* pending + in flight on node:model */
    double p75_ms;   /* p75 latency of node:model; <= 0 when unknown */
    int node_load;   /* pending + in flight on the node, every model (least_conn, cache_aware) */
    size_t cached_blocks; /* prompt blocks herd remembers on node:model (cache_aware) */
    /* The predicted cost here (herd's policy), or NULL. */
    const struct score_prediction *predicted;
    /* Memory of idle loaded models that Ollama would evict to make room (herd's policy; 0:
     * a cold model must fit in what is free). */
    double evictable_gb;
    bool ejected; /* its breaker for this model keeps requests away */
};

struct score_request {
    const char *model;        /* normalised */
    double model_size_gb;     /* estimate (see score_model_size) */
    int64_t estimated_tokens; /* of the prompt; 0 = unknown */
};

struct score_result {
    const struct node *node;
    enum score_verdict verdict;
    struct score_breakdown b;
    int load;             /* the input's node_load */
    int depth;            /* the input's queue_depth */
    size_t cached_blocks; /* the input's cached_blocks */
    double peer_score;    /* what the peers' policies rank by (cache_aware, llmd) */
};

/* The checks of stage 1 that do not depend on the model: SCORE_ELIGIBLE when the node may
 * take new work at all, else why not (offline, no state, pressure, paused). */
enum score_verdict score_node_usable(const struct node *n);

/* Scores one node. now is wall time (for the warm tier); median_bw is the fleet's median
 * memory bandwidth (0 when unknown). Returns the verdict; the breakdown is filled only for
 * eligible nodes. */
enum score_verdict score_node(const struct score_weights *w, const struct score_request *req,
                              const struct score_node_input *in, double median_bw, double now,
                              struct score_breakdown *out);

/* Scores every node and sorts eligible ones first, best first. Among equal best totals the
 * turn-th one (modulo their number) comes first, so ties are shared out; pass a counter that
 * grows with each decision. Policies other than herd's order the eligible nodes their own way
 * (the breakdowns stay herd's). out must have room for n results. Returns the number
 * eligible. */
size_t score_rank(const struct score_weights *w, const struct score_request *req,
                  const struct score_node_input *in, size_t n, double now, uint64_t turn,
                  struct score_result *out);

/* Median memory bandwidth over the nodes that report one and are not offline (0 if none). */
double score_median_bandwidth(const struct score_node_input *in, size_t n);

/* Size estimate of a model: its loaded size on any node, else from its parameter count in the
 * name ("70b" -> 42 GB at about 0.6 GB per billion), "embed" models 0.3, else 10 GB. */
double score_model_size(const char *model, const struct node *const *nodes, size_t n);

/* Prompt tokens estimated from a chat or completion body: (characters of text + 16 per
 * message) / 4, plus 150 per image; at least 1. */
int64_t score_estimate_tokens(const json_t *body);

/* The breakdown as a JSON object with the keys of request_traces.scores_breakdown. */
json_t *score_breakdown_json(const struct score_breakdown *b);

/* Name of a verdict ("offline", "no_model", ...). */
const char *score_verdict_name(enum score_verdict v);

#endif
