/* node: one machine of the fleet as the coordinator knows it from its heartbeats (its state,
 * its models loaded and on disk, the warm tier), and what can be asked of it. The registry
 * (registry.h) keeps them. */
#ifndef HERD_COORD_NODE_H
#define HERD_COORD_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model_name.h"

#define NODE_ID_MAX 128

enum node_status { NODE_ONLINE, NODE_DEGRADED, NODE_OFFLINE };
enum node_pressure { PRESSURE_NORMAL, PRESSURE_WARN, PRESSURE_CRITICAL };

struct node_model {
    char name[MODEL_NAME_MAX]; /* normalised */
    double size_gb;            /* 0 when unknown */
    int64_t context_length;    /* loaded models: the context it runs with; 0 when unknown */
    unsigned caps;             /* enum model_cap; 0 when the node did not say */
};

struct node_capacity {
    bool present;
    char mode[24]; /* "full", "learned_high", ..., "paused", "bootstrap" */
    double ceiling_gb;
    double availability_score;
};

struct node_unloaded {
    char name[MODEL_NAME_MAX];
    double at; /* wall time the model disappeared from models_loaded */
};

struct node {
    char id[NODE_ID_MAX];
    int order; /* registration order */
    enum node_status status;
    double last_heartbeat;  /* wall time */
    int64_t last_signed_ms; /* timestamp of its last signed heartbeat (node secret) */
    double first_seen;
    json_t *payload; /* the last heartbeat as received (owned), for /fleet/status */
    char url[256];   /* where its Ollama answers */
    char lan_ip[64];
    /* parsed state; has_* tell which blocks the node reported */
    bool has_ollama;
    bool ollama_up;
    bool has_memory;
    bool has_cpu;
    bool draining;
    double cpu_pct;
    int cores;
    double mem_total_gb, mem_used_gb, mem_available_gb;
    enum node_pressure pressure;
    double bandwidth_gbps;
    char chip[128];
    char ollama_version[32];
    int num_parallel; /* reported parallel slots; 0 = unknown */
    struct node_capacity capacity;
    struct node_model *loaded;
    size_t n_loaded;
    struct node_model *available; /* on disk */
    size_t n_available;
    struct node_unloaded *unloaded; /* for the warm tier */
    size_t n_unloaded;
    /* What its Ollama says of its models, as /api/tags gives them (digest, details,
     * modified_at...), fetched by coord_catalog when the heartbeat's signature of the list
     * changes. */
    char tags_sig[65];    /* the last heartbeat's signature of the list; "" unknown */
    json_t *catalog;      /* [{name, model, modified_at, size, digest, details, ...}] or NULL */
    char catalog_sig[65]; /* the signature the catalog was fetched for */
};

/* Frees its model lists (they are replaced at each heartbeat). */
void node_clear_models(struct node *n);
/* Frees the node and all it owns. Accepts NULL. */
void node_free(struct node *n);

/* Whether a node has the model loaded (returns it) or on disk. */
const struct node_model *node_loaded_model(const struct node *n, const char *model);
bool node_has_model(const struct node *n, const char *model);
/* The model's capabilities on this node (enum model_cap; 0 when unknown). */
unsigned node_model_caps(const struct node *n, const char *model);
/* Adds a model to what the node has on disk (a pull finished before its next heartbeat).
 * 0 or -ENOMEM. */
int node_add_available(struct node *n, const char *model);
/* Forgets that the node has the model, loaded or on disk (it was deleted before its next
 * heartbeat says so). */
void node_remove_model(struct node *n, const char *model);
/* Forgets that the model is loaded on the node (it was unloaded before its next heartbeat
 * says so). */
void node_forget_loaded(struct node *n, const char *model);
/* Wall time the model was last seen unloading from this node, or 0. */
double node_unloaded_at(const struct node *n, const char *model);

/* A figure of the disk of the node's model store as its last heartbeat gave it ("total_gb" or
 * "available_gb"), or -1 when it did not report one. */
double node_disk_gb(const struct node *n, const char *key);

/* Memory the node offers a new model: available, capped by the capacity ceiling when set. */
double node_available_gb(const struct node *n);

/* Whether the node can be asked to change its models now (online or degraded, not draining,
 * its Ollama up); when not, why ("offline", "draining", "without a running Ollama"). */
bool node_ready(const struct node *n);
const char *node_unready_reason(const struct node *n);

const char *node_status_name(enum node_status s);
const char *node_pressure_name(enum node_pressure p);

#endif
