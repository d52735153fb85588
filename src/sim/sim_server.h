/* sim_server: one simulated Ollama node: its machine, engine, faults and HTTP server, and the
 * helpers its API handlers share. */
#ifndef HERD_SIM_SERVER_H
#define HERD_SIM_SERVER_H

#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>

#include "net/httpd.h"
#include "sim/sim_engine.h"
#include "sim/sim_faults.h"
#include "sim/sim_model.h"

#define SIM_REQUEST_LOG 64 /* requests remembered for /_sim/requests */

struct sim_registry_entry {
    char name[SIM_NAME_MAX];
    double size_gb;
};

struct sim_node;
/* Registers an API's routes on a node's server (the APIs are above this file: sim_main gives
 * them). */
typedef void (*sim_routes_fn)(struct sim_node *n);

struct sim_node_config {
    const sim_routes_fn *routes; /* the APIs it serves, besides the control API (borrowed) */
    size_t n_routes;
    struct sim_machine_spec machine;
    char host[64];
    int port;
    double time_scale;
    uint64_t seed;
    int min_tokens, max_tokens;    /* length of a reply when num_predict is not set */
    struct sim_model_spec *models; /* on disk at start (copied) */
    size_t n_models;
    char (*loaded)[SIM_NAME_MAX]; /* warm at start */
    size_t n_loaded;
    struct sim_registry_entry *registry; /* pullable models (besides the built-in ones) */
    size_t n_registry;
    struct sim_fault *faults; /* injected from the start */
    size_t n_faults;
};

struct sim_logged_request {
    char method[8];
    char path[256];
    char *body; /* owned, at most 64 KiB */
    json_t *headers;
    double at;
};

#define SIM_BLOBS_MAX 256

/* A blob a client uploaded for a following create (its bytes are not kept, only its size). */
struct sim_blob {
    char digest[72]; /* "sha256:<64 hex>" */
    int64_t size;
};

struct sim_node {
    struct event_base *base;
    struct sim_machine machine;
    struct sim_engine *engine;
    struct httpd *httpd;
    struct sim_fault_set faults;
    char host[64];
    int port;
    bool tls; /* serves HTTPS (--tls-cert) */
    uint64_t seed;
    int min_tokens, max_tokens;
    struct sim_registry_entry *registry;
    size_t n_registry;
    long requests;
    struct sim_logged_request log[SIM_REQUEST_LOG];
    size_t log_next;
    size_t log_count;
    int active_pulls;
    struct sim_blob *blobs; /* uploaded with POST /api/blobs/:digest */
    size_t n_blobs;
};

/* Creates a node from cfg (copied) and listens. On failure returns NULL with a message in
 * err. Free with sim_node_free. */
struct sim_node *sim_node_start(struct event_base *base, const struct sim_node_config *cfg,
                                char *err, size_t errlen);
/* Stops listening and frees everything. Accepts NULL. */
void sim_node_free(struct sim_node *n);

/* Remembers a request for /_sim/requests and counts it. */
void sim_node_log_request(struct sim_node *n, struct httpd_req *r);

/* Registers the control API under /_sim/ (requests seen, faults, state) on n's server. */
void sim_control_routes(struct sim_node *n);

/* Looks up a model by the name a client sent; NULL if not on disk. norm receives the
 * normalised name (or "" when the name is invalid). */
struct sim_model_spec *sim_node_find_model(struct sim_node *n, const char *name, char *norm,
                                           size_t normlen);

/* Ollama's JSON for a model in /api/tags ("details", digest, size, capabilities). New
 * reference. */
json_t *sim_model_details_json(const struct sim_model_spec *m);

/* Size in bytes of GB (10^9). */
static inline int64_t sim_gb_bytes(double gb)
{
    return (int64_t)(gb * 1e9);
}

#endif
