#include "coord/coord_metrics.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coord/coord.h"
#include "coord/coord_auth.h"
#include "coord/metrics.h"
#include "coord/trace_store.h"

#define MAX_SERIES 20000

/* Seconds: from a fast embedding to a long generation on a slow machine. */
static const double latency_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

struct coord_metrics {
    struct coord *c;
    struct metrics *m;
    int requests, ttft, duration, prompt_tokens, completion_tokens, retries, fallbacks, reaped;
    int pulled;
    int active, held, queue_depth, in_flight, concurrency;
    int node_up, node_status, node_mem_total, node_mem_used, node_cpu, node_loaded;
    int conns, conns_accepted, conn_refused, header_timeouts, header_refused;
    int auth_refused, rate_limited, hb_refused, dropped, traces_dropped, info;
};

#define N_LATENCY_BUCKETS (sizeof latency_buckets / sizeof latency_buckets[0])

/* Every family, in the order /metrics lists them; id_offset is where its id is kept. */
struct family_def {
    size_t id_offset;
    const char *name;
    enum metric_type type;
    const char *help;
};
#define F(field) offsetof(struct coord_metrics, field)
static const struct family_def families[] = {
    {F(info), "herd_build_info", METRIC_GAUGE, "herd's version (always 1)"},
    {F(requests), "herd_requests_total", METRIC_COUNTER,
     "Request attempts by API, model, node and outcome (one per row of request_traces)"},
    {F(ttft), "herd_time_to_first_token_seconds", METRIC_HISTOGRAM,
     "Time from arrival to the first token of completed requests"},
    {F(duration), "herd_request_duration_seconds", METRIC_HISTOGRAM,
     "Time from arrival to the end of completed requests"},
    {F(prompt_tokens), "herd_prompt_tokens_total", METRIC_COUNTER,
     "Tokens in: prompt tokens the nodes evaluated"},
    {F(completion_tokens), "herd_completion_tokens_total", METRIC_COUNTER,
     "Tokens out: tokens the nodes generated"},
    {F(retries), "herd_retries_total", METRIC_COUNTER,
     "Attempts that failed before their first byte and were sent to another node"},
    {F(fallbacks), "herd_fallbacks_total", METRIC_COUNTER,
     "Requests served by another model than the one asked for"},
    {F(pulled), "herd_auto_pulls_total", METRIC_COUNTER,
     "Requests whose model was pulled for them"},
    {F(reaped), "herd_reaped_requests_total", METRIC_COUNTER,
     "Requests cancelled because their node stopped sending"},
    {F(active), "herd_requests_active", METRIC_GAUGE, "Requests being routed, queued or relayed"},
    {F(held), "herd_requests_held", METRIC_GAUGE,
     "Requests waiting for any node to be able to take them"},
    {F(queue_depth), "herd_queue_depth", METRIC_GAUGE, "Requests waiting for a slot on node:model"},
    {F(in_flight), "herd_in_flight", METRIC_GAUGE, "Requests running on node:model"},
    {F(concurrency), "herd_queue_concurrency", METRIC_GAUGE, "Parallel slots of node:model"},
    {F(node_up), "herd_node_up", METRIC_GAUGE, "1 when the node is routable (online or degraded)"},
    {F(node_status), "herd_node_status", METRIC_GAUGE,
     "1 for the node's current status, 0 for the others"},
    {F(node_mem_total), "herd_node_memory_total_bytes", METRIC_GAUGE, "Node memory as reported"},
    {F(node_mem_used), "herd_node_memory_used_bytes", METRIC_GAUGE,
     "Node memory in use as reported"},
    {F(node_cpu), "herd_node_cpu_utilization_ratio", METRIC_GAUGE, "Node CPU use, 0 to 1"},
    {F(node_loaded), "herd_node_models_loaded", METRIC_GAUGE, "Models loaded on the node"},
    {F(conns), "herd_http_connections", METRIC_GAUGE, "Client connections open"},
    {F(conns_accepted), "herd_http_connections_accepted_total", METRIC_COUNTER,
     "Client connections accepted"},
    {F(conn_refused), "herd_http_limit_refusals_total", METRIC_COUNTER,
     "Requests or connections refused by a limit"},
    {F(auth_refused), "herd_auth_refusals_total", METRIC_COUNTER,
     "Requests refused for a missing, unknown or too weak key (401 and 403)"},
    {F(rate_limited), "herd_rate_limited_total", METRIC_COUNTER,
     "Requests refused by the rate limit (429)"},
    {F(hb_refused), "herd_heartbeats_refused_total", METRIC_COUNTER,
     "Heartbeats refused by the node secret check"},
    {F(dropped), "herd_metrics_series_dropped_total", METRIC_COUNTER,
     "Series not created because the bound was reached"},
    {F(traces_dropped), "herd_trace_rows_dropped_total", METRIC_COUNTER,
     "Trace rows not written to latency.db because its queue was full (the disk did not keep "
     "up)"},
};
#undef F

static void gauges(struct coord_metrics *cm)
{
    struct metrics *m = cm->m;
    struct coord *c = cm->c;
    int fams[] = {cm->queue_depth,   cm->in_flight,   cm->concurrency,
                  cm->node_up,       cm->node_status, cm->node_mem_total,
                  cm->node_mem_used, cm->node_cpu,    cm->node_loaded};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
        metrics_reset(m, fams[i]);
    metrics_set(m, cm->active, NULL, (double)c->n_active);
    metrics_set(m, cm->held, NULL, (double)c->n_held);
    for (size_t i = 0; i < c->queues.n; i++) {
        const struct fleet_queue *q = c->queues.q[i];
        const char *l[] = {"model", q->model, "node", q->node_id, NULL};
        metrics_set(m, cm->queue_depth, l, q->pending);
        metrics_set(m, cm->in_flight, l, q->in_flight);
        metrics_set(m, cm->concurrency, l, q->concurrency);
    }
    static const enum node_status statuses[] = {NODE_ONLINE, NODE_DEGRADED, NODE_OFFLINE};
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        const char *l[] = {"node", n->id, NULL};
        metrics_set(m, cm->node_up, l, n->status == NODE_OFFLINE ? 0 : 1);
        for (size_t k = 0; k < sizeof statuses / sizeof statuses[0]; k++) {
            const char *ls[] = {"node", n->id, "status", node_status_name(statuses[k]), NULL};
            metrics_set(m, cm->node_status, ls, n->status == statuses[k] ? 1 : 0);
        }
        const char *ld[] = {"node", n->id, "status", "draining", NULL};
        metrics_set(m, cm->node_status, ld, n->draining ? 1 : 0);
        if (n->has_memory) {
            metrics_set(m, cm->node_mem_total, l, n->mem_total_gb * 1e9);
            metrics_set(m, cm->node_mem_used, l, n->mem_used_gb * 1e9);
        }
        if (n->has_cpu)
            metrics_set(m, cm->node_cpu, l, n->cpu_pct / 100.0);
        metrics_set(m, cm->node_loaded, l, (double)n->n_loaded);
    }
    struct httpd_stats hs;
    httpd_get_stats(c->httpd, &hs);
    metrics_set(m, cm->conns, NULL, (double)hs.connections);
    metrics_set(m, cm->conns_accepted, NULL, (double)hs.accepted);
    const char *lc[] = {"reason", "connections_per_client", NULL};
    metrics_set(m, cm->conn_refused, lc, (double)hs.refused_conn_limit);
    const char *lt[] = {"reason", "header_timeout", NULL};
    metrics_set(m, cm->conn_refused, lt, (double)hs.header_timeouts);
    const char *lh[] = {"reason", "header_too_large", NULL};
    metrics_set(m, cm->conn_refused, lh, (double)hs.header_too_large);
    struct coord_auth_stats as;
    coord_auth_get_stats(c->auth, &as);
    metrics_set(m, cm->auth_refused, NULL, (double)as.refused);
    metrics_set(m, cm->rate_limited, NULL, (double)as.rate_limited);
    metrics_set(m, cm->hb_refused, NULL, (double)as.heartbeats_refused);
    metrics_set(m, cm->dropped, NULL, (double)metrics_dropped(m));
    metrics_set(m, cm->traces_dropped, NULL, (double)trace_store_dropped(c->traces));
}

static void handle_metrics(struct httpd_req *r, void *arg)
{
    struct coord_metrics *cm = arg;
    gauges(cm);
    size_t len = 0;
    char *text = metrics_render(cm->m, &len);
    if (!text) {
        httpd_reply_error(r, 503, "out of memory");
        return;
    }
    httpd_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

struct coord_metrics *coord_metrics_new(struct coord *c)
{
    struct coord_metrics *cm = calloc(1, sizeof *cm);
    if (!cm)
        return NULL;
    cm->c = c;
    cm->m = metrics_new(MAX_SERIES);
    if (!cm->m) {
        free(cm);
        return NULL;
    }
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        const struct family_def *d = &families[i];
        int id = metrics_family(cm->m, d->name, d->type, d->help,
                                d->type == METRIC_HISTOGRAM ? latency_buckets : NULL,
                                d->type == METRIC_HISTOGRAM ? N_LATENCY_BUCKETS : 0);
        if (id < 0) {
            coord_metrics_free(cm);
            return NULL;
        }
        *(int *)((char *)cm + d->id_offset) = id;
    }
    const char *li[] = {"version", HERD_VERSION, NULL};
    metrics_set(cm->m, cm->info, li, 1);
    httpd_route(c->httpd, HTTPD_GET, "/metrics", handle_metrics, cm);
    return cm;
}

void coord_metrics_free(struct coord_metrics *cm)
{
    if (!cm)
        return;
    metrics_free(cm->m);
    free(cm);
}

void coord_metrics_request(struct coord_metrics *cm, const struct trace_row *row, const char *api)
{
    if (!cm)
        return;
    struct metrics *m = cm->m;
    const char *node = row->node_id[0] ? row->node_id : "none";
    const char *l[] = {"api",  api,  "model",  row->model,
                       "node", node, "status", trace_status_name(row->status),
                       NULL};
    metrics_add(m, cm->requests, l, 1);
    const char *mn[] = {"model", row->model, "node", node, NULL};
    if (row->status == TRACE_RETRIED)
        metrics_add(m, cm->retries, mn, 1);
    if (row->status == TRACE_COMPLETED) {
        if (row->ttft_ms >= 0)
            metrics_observe(m, cm->ttft, mn, row->ttft_ms / 1000.0);
        if (row->latency_ms >= 0)
            metrics_observe(m, cm->duration, mn, row->latency_ms / 1000.0);
        if (row->fallback_used) {
            const char *lf[] = {"reason", row->fallback_reason ? row->fallback_reason : "other",
                                NULL};
            metrics_add(m, cm->fallbacks, lf, 1);
        }
        if (row->auto_pulled)
            metrics_add(m, cm->pulled, NULL, 1);
    }
    if (row->prompt_tokens > 0)
        metrics_add(m, cm->prompt_tokens, mn, (double)row->prompt_tokens);
    if (row->completion_tokens > 0)
        metrics_add(m, cm->completion_tokens, mn, (double)row->completion_tokens);
}

void coord_metrics_reaped(struct coord_metrics *cm)
{
    if (cm)
        metrics_add(cm->m, cm->reaped, NULL, 1);
}
