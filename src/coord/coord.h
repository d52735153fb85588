/* coord: the coordinator's shared state and its core's life cycle. The parts that serve on it
 * (the APIs, the proxy, pulls, the dashboard) are wired by herd.h, above it; what the core
 * must tell them comes through the hooks they set. */
#ifndef HERD_COORD_H
#define HERD_COORD_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/config.h"
#include "coord/queue.h"
#include "coord/registry.h"
#include "coord/route.h"
#include "coord/score.h"
#include "net/httpc.h"
#include "net/httpd.h"

struct trace_store;
struct fwd;
struct pull;
struct model_delete;
struct coord_bench;
struct coord_auth;
struct coord_metrics;

struct coord_settings {
    char *host;
    int64_t port;
    char *data_dir;
    bool mdns;
    char *mdns_service_name;
    char *mdns_address;
    double heartbeat_interval;
    double heartbeat_timeout;
    double heartbeat_offline;
    struct cfg_list ollama; /* Ollamas without an agent, polled by herd: [NAME=]URL */
    double score_hot, score_warm, score_cold;
    double score_memory_fit_max;
    double score_queue_max_penalty, score_queue_penalty_per;
    double score_wait_max_penalty;
    double score_role_affinity_max, score_role_large_gb, score_role_small_gb;
    double score_availability_max;
    double score_context_fit_max;
    bool bandwidth_aware;
    bool queue_bandwidth_normalize;
    int routing_policy; /* enum score_policy */
    double routing_explore;
    int64_t default_parallel;
    int64_t max_queue;
    int64_t max_retries;
    double stale_timeout;
    double hold_timeout;
    double drain_timeout;
    bool vram_fallback;
    bool auto_pull;
    double auto_pull_timeout;
    int context_protection; /* enum context_mode */
    int64_t max_body_mb;
    double connect_timeout;
    int64_t trace_retention_days;
    char *log_level;
    char *console_log_level;
    /* Security and limits (coord_auth.c, docs/security.md) */
    char *api_keys;      /* NAME:KEY,... */
    char *api_keys_file; /* NAME:sha256:HEX lines */
    char *admin_key;
    char *node_secret;
    double heartbeat_max_skew;
    char *tls_cert;
    char *tls_key;
    char *tls_ca; /* verifies https:// nodes; NULL: the system's CAs */
    double rate_limit;
    int64_t rate_limit_burst;
    int64_t max_conns_per_client;
    int64_t max_header_kb;
    int64_t max_headers;
    double header_timeout;
    double idle_timeout;
    char *new_key; /* --new-key NAME: print a new key and exit */
};

/* The settings table (for --help, the docs and the settings page). */
extern const struct cfg_spec coord_config_spec;

struct coord;

/* What the core tells the parts above it (set by herd.c when it wires them; each may be NULL). */
struct coord_hooks {
    void (*node_gone)(struct coord *c, const char *node_id); /* went offline or unreachable */
    void (*reap)(struct coord *c);                           /* the reaper's tick */
    void (*drain)(struct coord *c);                          /* herd begins to drain */
};

struct coord {
    struct event_base *base;
    struct coord_hooks hooks;
    struct coord_settings *settings;
    const enum cfg_source *cfg_sources; /* where each setting came from (borrowed), or NULL */
    struct score_weights weights;
    struct registry registry;
    struct cost_table costs;       /* speeds learned per node:model (cost.h) */
    struct prefix_index prefixes;  /* prompts each node:model has cached (prefix.h) */
    struct breaker_table breakers; /* node:models ejected after failures (breaker.h) */
    struct coord_events *events;   /* the dashboard's live streams (coord_events.c) */
    struct queue_set queues;
    struct httpd *httpd;
    struct httpc *httpc;
    struct trace_store *traces;
    struct event *monitor;   /* liveness of nodes */
    struct event *reaper;    /* requests whose node stopped making progress */
    LIST_HEAD(, fwd) active; /* requests being routed, queued or relayed */
    TAILQ_HEAD(, fwd) held;  /* requests no node can take yet, in arrival order */
    size_t n_held;
    size_t n_active;
    LIST_HEAD(, pull) pulls;           /* models being pulled (for requests or the dashboard) */
    struct coord_manage *manage;       /* model management under way (coord_manage.c) */
    struct coord_model_api *model_api; /* where blobs went (coord_model_api.c) */
    struct coord_catalog *catalog;     /* the nodes' lists of models (coord_catalog.c) */
    struct coord_poll *poll;           /* Ollamas without an agent (coord_poll.c) */
    struct coord_bench *bench;         /* the dashboard's benchmarks (coord_bench.c) */
    struct coord_auth *auth;           /* keys, rate limits, node secret, audit (coord_auth.c) */
    struct coord_metrics *metrics;     /* Prometheus counters (coord_metrics.c) */
    int port;                          /* where herd listens (after coord_listen) */
    bool draining;                     /* shutting down: no new requests */
    uint64_t decisions;                /* turns for fair tie-breaking */
    uint64_t next_request;
    double started;
};

/* Builds the core on base from settings (borrowed, must outlive it): opens the trace store in
 * the data directory, makes the HTTP server (with TLS when configured) and client, and starts
 * the liveness and reaper timers. No route is registered yet (herd_new does). NULL with a
 * message on failure. */
struct coord *coord_new(struct event_base *base, struct coord_settings *settings, char *err,
                        size_t errlen);
/* Frees the core (the parts are freed by herd_free first). Accepts NULL. */
void coord_free(struct coord *c);
/* Listens; 0 or a negative errno. *bound_port gets the port. */
int coord_listen(struct coord *c, int *bound_port);

/* herd could not reach the node's Ollama (connection refused, connect timeout): it is offline
 * until its next heartbeat, so that no other request tries it meanwhile, and its requests not
 * started yet go elsewhere (hooks.node_gone). */
void coord_node_unreachable(struct coord *c, const char *node_id, const char *why);

/* Stops taking new requests; in-flight ones go on (hooks.drain). */
void coord_begin_drain(struct coord *c);

/* The node's parallel slots: what it reports, else the configured default. */
int coord_node_parallel(const struct coord *c, const struct node *n);

/* How many requests herd lets run at once on one node:model: the node's slots under herd's
 * policy, no bound under the others (FLEET_ROUTING_POLICY). */
int coord_queue_concurrency(const struct coord *c, const struct node *n);

/* A new request id ("3f2a...", 32 hex characters) into out. */
void coord_request_id(struct coord *c, char *out, size_t outlen);

#endif
