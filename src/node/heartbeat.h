/* heartbeat: the JSON a node sends to the coordinator, built from what was collected. Pure. */
#ifndef HERD_HEARTBEAT_H
#define HERD_HEARTBEAT_H

#include <jansson.h>

#include "node/capacity.h"
#include "common/ollama_state.h"
#include "node/sysinfo.h"

struct hb_input {
    const char *node_id;
    const char *agent_version;
    const char *lan_ip;      /* may be NULL */
    const char *ollama_host; /* the URL the coordinator should use, as reported */
    double timestamp;
    const struct sys_sample *sys;        /* NULL: no machine metrics */
    const struct ollama_state *ollama;   /* required */
    int num_parallel;                    /* 0 = unknown */
    double bandwidth_gbps;               /* 0 = unknown */
    const struct cap_decision *capacity; /* NULL: no capacity block */
    unsigned connection_failures;        /* since the last beat the coordinator took */
    unsigned connection_failures_total;
};

/* The heartbeat; a new reference. Parts that are unknown are left out, not zeroed. */
json_t *heartbeat_build(const struct hb_input *in);

/* The one beat a leaving node sends; a new reference. */
json_t *heartbeat_draining(const char *node_id, double timestamp);

#endif
