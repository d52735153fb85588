/* cost: what a request will cost on a node, in seconds: the wait for a slot, a cold load or
 * reload, the prefill of its prompt and the decode of its reply. Pure.
 *
 * Speeds are learned per node:model from what Ollama reports on each final chunk (prompt and
 * generated tokens with their durations, the load time), as moving estimates that follow a
 * change within a few requests. A model never run on a node gets a prior: the same model's
 * speed on other nodes scaled by memory bandwidth, else the bandwidth and the model's size
 * (decoding reads the weights once per token), else a plain guess.
 *
 * Seconds here are the seconds Ollama reports (a simulator's model seconds when it runs
 * faster than real time), so that nothing mixes its durations with herd's clock. */
#ifndef HERD_COST_H
#define HERD_COST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/node.h"

/* What one node:model has shown. Speeds are 0 until observed. */
struct cost_speed {
    char node_id[NODE_ID_MAX];
    char model[MODEL_NAME_MAX];
    double prompt_tps; /* prompt tokens per second (prefill) */
    double gen_tps;    /* generated tokens per second, per stream */
    double load_s;     /* a cold load */
    uint32_t n_prompt, n_gen, n_load;
    uint64_t used; /* when last observed (the table's counter): the oldest goes first */
};

/* Speeds per node:model, bounded. */
struct cost_table {
    struct cost_speed *e;
    size_t n, cap;
    uint64_t clock;
    /* Typical reply length per model (tokens), for requests that set no limit. */
    struct {
        char model[MODEL_NAME_MAX];
        double tokens;      /* a reply's length */
        double token_ratio; /* the prompt's tokens as the model counts them, per herd's guess */
    } typical[64];
    size_t n_typical;
};

/* An empty table of at most cap entries (the least recently observed are dropped beyond). */
void cost_table_init(struct cost_table *t, size_t cap);
/* Frees it. */
void cost_table_free(struct cost_table *t);

/* What a finished request reported. A count or duration < 0 (or a duration of 0) is unknown. */
struct cost_observation {
    int64_t prompt_tokens;           /* the whole prompt, cached or not (as Ollama counts them) */
    double prompt_s;                 /* the time to evaluate what was not cached */
    int64_t estimated_prompt_tokens; /* herd's guess of prompt_tokens, when it made one */
    double cached_share;             /* the share herd predicted the node had cached */
    int64_t output_tokens;
    double output_s;
    double load_s;
};

/* Learns from a request node:model finished. A load counts only when one happened (a load
 * time over 0.25 s, or a tenth of the known one). A prompt's speed is learned only from the
 * part that was not cached (Ollama counts the whole prompt but times only that part), and
 * only when there was enough of it to time. 0 or -ENOMEM. */
int cost_observe(struct cost_table *t, const char *node_id, const char *model,
                 const struct cost_observation *o);

/* What node:model has shown, or NULL. */
const struct cost_speed *cost_find(const struct cost_table *t, const char *node_id,
                                   const char *model);

/* The typical reply length of model, in tokens (200 when nothing was seen). */
double cost_typical_output(const struct cost_table *t, const char *model);

/* How many of model's tokens herd's guess of one prompt token is (1 when nothing was seen). */
double cost_token_ratio(const struct cost_table *t, const char *model);

/* The speeds to predict with for model on node n: measured where known, else the prior from
 * the other nodes (nodes, borrowed) and the heartbeat. size_gb is the model's size. */
struct cost_rates {
    double prompt_tps, gen_tps, load_s;
    bool measured; /* decode speed observed on this node */
};
void cost_rates(const struct cost_table *t, const struct node *n, const char *model, double size_gb,
                const struct node *const *nodes, size_t n_nodes, struct cost_rates *out);

/* Where node:model's queue stands (queue.h's counts and predicted work). */
struct cost_queue {
    int slots;             /* parallel slots */
    int running;           /* requests holding a slot */
    int waiting;           /* requests waiting for one */
    double work_running_s; /* predicted service of the running ones, whole */
    double work_waiting_s; /* and of the waiting ones */
};

/* The request. */
struct cost_ask {
    int64_t prompt_tokens; /* estimated */
    double output_tokens;  /* its limit, or the typical length */
    double cached_share;   /* 0..1: the part of the prompt the node has cached */
};

struct cost_estimate {
    double queue_s;   /* until a slot is free */
    double load_s;    /* a cold load or reload first (0 when hot) */
    double evict_s;   /* what evicting a model others use costs them */
    double prefill_s; /* the uncached part of the prompt */
    double decode_s;  /* the reply */
    double ttft_s;    /* queue + load + evict + prefill */
    double total_s;   /* ttft + decode */
    double service_s; /* prefill + decode: the slot time it takes */
};

/* Predicts the request on a node with rates r and queue q; load says whether the model must
 * be loaded (or reloaded) first, evict_s what that load costs others. */
void cost_predict(const struct cost_rates *r, const struct cost_queue *q, bool load, double evict_s,
                  const struct cost_ask *a, struct cost_estimate *out);

#endif
