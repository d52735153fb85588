/* bench_stats: the figures of a dashboard benchmark from its requests. Pure (no clock, no I/O).
 *
 * Percentiles are nearest-rank over the requests that completed; rates are over the run's
 * duration; a node's share is its part of the completed requests. */
#ifndef HERD_BENCH_STATS_H
#define HERD_BENCH_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One request of the run; model and node index the name tables given to bench_summary. */
struct bench_sample {
    uint16_t model;
    uint16_t node; /* BENCH_NO_NODE when it never reached one */
    bool ok;
    float latency_ms;
    float ttft_ms; /* < 0 when no token came */
    uint32_t prompt_tokens, completion_tokens;
};

#define BENCH_NO_NODE UINT16_MAX

/* The nearest-rank percentile p (0..100) of v (sorted ascending, n > 0). */
double bench_percentile(const double *sorted, size_t n, double p);

/* {total_requests, total_failures, total_prompt_tokens, total_completion_tokens,
 * requests_per_sec, tokens_per_sec, latency_p50_ms, latency_p95_ms, latency_p99_ms,
 * ttft_p50_ms, ttft_p95_ms, ttft_p99_ms, per_model: [{model, requests, failures,
 * requests_per_sec, tokens_per_sec, latency_p50_ms, latency_p95_ms, ttft_p50_ms,
 * ttft_p95_ms}], per_node: [{node_id, requests, failures, share, tokens_per_sec,
 * latency_p50_ms, ttft_p50_ms}]}. Percentiles are null when nothing completed. A new
 * reference, or NULL when out of memory. */
json_t *bench_summary(const struct bench_sample *s, size_t n, double duration_s,
                      const char *const *models, size_t n_models, const char *const *nodes,
                      size_t n_nodes);

#endif
