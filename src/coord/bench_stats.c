/* bench_stats: a benchmark's figures (see bench_stats.h). */
#include "coord/bench_stats.h"

#include <math.h>
#include <stdlib.h>

#define ALL UINT32_MAX

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_percentile(const double *sorted, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* Which samples a group takes: every one, one model's or one node's. */
struct group {
    uint32_t model; /* ALL or an index */
    uint32_t node;
};

static bool in_group(const struct bench_sample *s, struct group g)
{
    return (g.model == ALL || s->model == g.model) && (g.node == ALL || s->node == g.node);
}

static json_t *pct_or_null(const double *v, size_t n, double p)
{
    return n ? json_real(bench_percentile(v, n, p)) : json_null();
}

/* The figures of one group into o; scratch holds n doubles. */
static void figures(json_t *o, const struct bench_sample *s, size_t n, double duration_s,
                    struct group g, double *scratch, bool totals)
{
    int64_t requests = 0, failures = 0, prompt = 0, completion = 0;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_group(&s[i], g))
            continue;
        requests++;
        if (!s[i].ok) {
            failures++;
            continue;
        }
        prompt += s[i].prompt_tokens;
        completion += s[i].completion_tokens;
        scratch[ok++] = s[i].latency_ms;
    }
    double d = duration_s > 0 ? duration_s : 1;
    json_object_set_new(o, totals ? "total_requests" : "requests", json_integer(requests));
    json_object_set_new(o, totals ? "total_failures" : "failures", json_integer(failures));
    if (totals) {
        json_object_set_new(o, "total_prompt_tokens", json_integer(prompt));
        json_object_set_new(o, "total_completion_tokens", json_integer(completion));
    }
    json_object_set_new(o, "requests_per_sec", json_real((double)ok / d));
    json_object_set_new(o, "tokens_per_sec", json_real((double)completion / d));
    qsort(scratch, ok, sizeof *scratch, cmp_double);
    json_object_set_new(o, "latency_p50_ms", pct_or_null(scratch, ok, 50));
    json_object_set_new(o, "latency_p95_ms", pct_or_null(scratch, ok, 95));
    if (totals)
        json_object_set_new(o, "latency_p99_ms", pct_or_null(scratch, ok, 99));
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        if (in_group(&s[i], g) && s[i].ok && s[i].ttft_ms >= 0)
            scratch[t++] = s[i].ttft_ms;
    qsort(scratch, t, sizeof *scratch, cmp_double);
    json_object_set_new(o, "ttft_p50_ms", pct_or_null(scratch, t, 50));
    json_object_set_new(o, "ttft_p95_ms", pct_or_null(scratch, t, 95));
    if (totals)
        json_object_set_new(o, "ttft_p99_ms", pct_or_null(scratch, t, 99));
}

json_t *bench_summary(const struct bench_sample *s, size_t n, double duration_s,
                      const char *const *models, size_t n_models, const char *const *nodes,
                      size_t n_nodes)
{
    double *scratch = malloc((n ? n : 1) * sizeof *scratch);
    json_t *o = json_object(), *per_model = json_array(), *per_node = json_array();
    if (!scratch || !o || !per_model || !per_node) {
        free(scratch);
        json_decref(o);
        json_decref(per_model);
        json_decref(per_node);
        return NULL;
    }
    figures(o, s, n, duration_s, (struct group){ALL, ALL}, scratch, true);
    for (size_t m = 0; m < n_models; m++) {
        json_t *row = json_pack("{s:s}", "model", models[m]);
        figures(row, s, n, duration_s, (struct group){(uint32_t)m, ALL}, scratch, false);
        json_array_append_new(per_model, row);
    }
    size_t completed = 0;
    for (size_t i = 0; i < n; i++)
        completed += s[i].ok;
    for (size_t k = 0; k < n_nodes; k++) {
        json_t *row = json_pack("{s:s}", "node_id", nodes[k]);
        figures(row, s, n, duration_s, (struct group){ALL, (uint32_t)k}, scratch, false);
        size_t mine = 0;
        for (size_t i = 0; i < n; i++)
            mine += s[i].ok && s[i].node == k;
        json_object_set_new(row, "share",
                            json_real(completed ? (double)mine / (double)completed : 0));
        json_object_del(row, "requests_per_sec");
        json_object_del(row, "latency_p95_ms");
        json_object_del(row, "ttft_p95_ms");
        json_array_append_new(per_node, row);
    }
    json_object_set_new(o, "per_model", per_model);
    json_object_set_new(o, "per_node", per_node);
    free(scratch);
    return o;
}
