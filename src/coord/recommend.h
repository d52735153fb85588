/* recommend: which models each node should hold, from the fleet as it is and the demand the
 * traces show. Pure: no clock, no I/O, so it is tested with made-up fleets.
 *
 * The plan, in plain words:
 * - A node offers its memory minus REC_OS_OVERHEAD_GB for the OS and its apps (or its capacity
 *   ceiling, when lower). A model fits when its size plus REC_KV_HEADROOM (for the context
 *   cache) is within what is left.
 * - Models are taken busiest first. Each one should be on a share of the usable nodes equal to
 *   its share of the requests (at least one node, at least two when it has REC_BUSY_REQUESTS
 *   requests a week and two nodes can take it), so that its traffic can spread.
 * - The nodes that already have it count first (and use their memory for it); missing copies
 *   go to the nodes with the most memory left, among those it fits and whose disk can take it.
 * - A model no node can hold is reported with the largest node's memory, so the user knows how
 *   far off it is.
 * - A model on a node's disk, not loaded, that had no request for REC_UNUSED_DAYS days, is a
 *   candidate for removal (its disk space is named). */
#ifndef HERD_RECOMMEND_H
#define HERD_RECOMMEND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/registry.h"

#define REC_OS_OVERHEAD_GB 6.0
#define REC_KV_HEADROOM 1.2 /* a model needs its size times this */
#define REC_BUSY_REQUESTS 50
#define REC_UNUSED_DAYS 30

/* Requests for one model over the last week (any node, or none when nobody had it). */
struct rec_demand {
    char model[MODEL_NAME_MAX];
    int64_t requests_7d;
    int64_t requests_24h;
    int64_t unserved_7d; /* failed because no node had it, or it failed everywhere */
};

/* What recommend_plan needs of a node. */
struct rec_node {
    const struct node *node; /* borrowed */
    bool usable;             /* online, Ollama up, not draining or paused */
    double disk_free_gb;     /* < 0 when unknown */
};

/* Whether a model on a node was used lately: requests in the last REC_UNUSED_DAYS days. */
struct rec_use {
    const char *node_id;
    const char *model;
    int64_t requests;
    double last_used; /* wall time, 0 when never */
};

/* The plan: {"nodes": [{node_id, usable, memory_gb, offers_gb, planned_gb, keep: [{model,
 * size_gb, requests_7d}], pull: [{model, size_gb, requests_7d, reason}], remove: [{model,
 * size_gb, last_used, reason}]}], "models": [{model, size_gb, size_known, requests_7d,
 * requests_24h, unserved_7d, nodes_with_it, target_nodes, status ("ok", "add_copies",
 * "missing", "too_big"), note}], "summary": {pulls, removals, reclaimable_gb}}. demand is
 * read in any order; uses may be NULL. size_of gives a model's size in GB when no node reports
 * it (herd's estimate). A new reference, NULL when out of memory. */
json_t *recommend_plan(const struct rec_node *nodes, size_t n_nodes,
                       const struct rec_demand *demand, size_t n_demand, const struct rec_use *uses,
                       size_t n_uses, double (*size_of)(const char *model, void *arg),
                       void *size_arg);

#endif
