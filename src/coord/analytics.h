/* analytics: the dashboard's figures, from latency.db's hourly summaries of request_traces
 * (traces_hourly and tags_hourly, kept by a trigger; see trace_store.c), so a query reads one
 * row per hour, model and node however many requests there were, and stays short on the event
 * loop.
 *
 * Every function covers the whole hours of a window ending at now (wall-clock seconds) and
 * returns a new JSON reference, or NULL when the database fails. Latency and time to first
 * token average completed requests only (a failed request's latency says nothing about a
 * node's speed); tokens count every request that reported them. */
#ifndef HERD_ANALYTICS_H
#define HERD_ANALYTICS_H

#include <jansson.h>
#include <sqlite3.h>

#include "coord/health.h"

/* {"last_24h": T, "last_7d": T, "all_time": T} with T = {requests, completed, failed,
 * other, avg_latency_ms, avg_ttft_ms, prompt_tokens, completion_tokens, models, nodes}. */
json_t *analytics_overview(sqlite3 *db, double now);

/* {"hours": N, "buckets": [{"hour": start (epoch s), requests, completed, failed,
 * avg_latency_ms, avg_ttft_ms, prompt_tokens, completion_tokens}]}: one bucket per hour of the
 * window, oldest first, empty hours included (charts need them). */
json_t *analytics_trends(sqlite3 *db, double now, int hours);

/* {"days": N, "models": [{model, requests, completed, failed, avg_latency_ms, min_latency_ms,
 * max_latency_ms, avg_ttft_ms, prompt_tokens, completion_tokens, tokens_per_s,
 * "nodes": [{node_id, requests, completed, failed, avg_latency_ms, avg_ttft_ms,
 * tokens_per_s}], "daily": [{day, requests, avg_latency_ms, completion_tokens}]}]}, busiest
 * model first. tokens_per_s is completion tokens over the whole time of the completed
 * requests that produced them, as clients see it. */
json_t *analytics_models(sqlite3 *db, double now, int days);

/* {"days": N, "usage": [{day ("YYYY-MM-DD", UTC), node_id, model, requests, completed,
 * failed, avg_latency_ms, prompt_tokens, completion_tokens}]}, newest day first. */
json_t *analytics_usage(sqlite3 *db, double now, int days);

/* {"days": N, "untagged": requests without a tag, "tags": [{tag, requests, completed,
 * failed, avg_latency_ms, avg_ttft_ms, prompt_tokens, completion_tokens, "daily": [{day,
 * requests, failed}]}]}, busiest tag first. A request with several tags counts for each. */
json_t *analytics_tags(sqlite3 *db, double now, int days);

/* The traffic facts of the health checks, over request_traces since `since` (the last hour:
 * the timestamp index keeps it short). 0, or -EIO. */
int analytics_recent_traffic(sqlite3 *db, double since, struct health_traffic *out);

/* Use of each model on each node: [{node_id, model, requests (in the last `days` days),
 * last_used (wall time of its last request, at any time)}], most recently used first.
 * last_used is exact for the most recent 64 distinct hours of last use, and the start of the
 * hour beyond them. */
json_t *analytics_model_use(sqlite3 *db, double now, int days);

/* Demand per model asked for (fallbacks count for the model the client wanted) over the last
 * week: [{model, requests_7d, requests_24h, unserved_7d (requests no node took: none had the
 * model)}], busiest first, over the whole hours of the week (from demand_hourly). Retried
 * attempts are not counted twice. */
json_t *analytics_demand(sqlite3 *db, double now);

#endif
