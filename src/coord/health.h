/* health: the fleet's health checks, each with a plain fix, and a score. Pure: the caller
 * gathers the facts (the registry's nodes, the last hour of traffic) and this judges them.
 *
 * Score = 100 - 20 per critical - 10 per warning - 3 per notice, never below 0. */
#ifndef HERD_HEALTH_H
#define HERD_HEALTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum health_node_status { HEALTH_ONLINE, HEALTH_DEGRADED, HEALTH_OFFLINE };
enum health_pressure { HEALTH_PRESSURE_NORMAL, HEALTH_PRESSURE_WARN, HEALTH_PRESSURE_CRITICAL };

struct health_node {
    const char *id;
    enum health_node_status status;
    bool draining;
    bool reports_ollama; /* the heartbeats carry Ollama's state */
    bool ollama_up;
    bool has_memory;
    enum health_pressure pressure;
    double disk_available_gb, disk_total_gb; /* < 0 when not reported */
    const char *ollama_version;              /* "" when not reported */
};

/* What the last hour of traffic shows. */
struct health_traffic {
    long requests; /* finished requests (not counting retried attempts) */
    long failed;
    long retried;           /* attempts that failed and were retried elsewhere */
    long vram_fallbacks;    /* served by another loaded model instead of a cold load */
    long context_actions;   /* context protection stripped, warned, moved or upgraded */
    long reaped;            /* cancelled because their node sent nothing */
    char thrash_model[128]; /* the model with most cold loads (first token > 40 s), or "" */
    long thrash_loads;
};

#define HEALTH_COLD_LOAD_MS 40000.0 /* a first token this late means the model was loaded */

/* {"score", "status": "healthy"|"warning"|"critical", "checks": [{check_id, severity
 * ("critical"|"warning"|"notice"), title, description, fix, node_id?}], "vitals": {...},
 * "checked_at"}; a new reference. */
json_t *health_report(const struct health_node *nodes, size_t n, const struct health_traffic *t,
                      double now);

#endif
