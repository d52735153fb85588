#include "coord/cost.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALPHA 0.3         /* weight of a new observation */
#define ALPHA_OUTLIER 0.8 /* ... when it is more than twice off: the node changed */
#define MIN_PROMPT_TOKENS 16
#define MIN_OUTPUT_TOKENS 4
#define MIN_LOAD_S 0.25
#define DEFAULT_OUTPUT 200.0
#define PREFILL_PER_DECODE 20.0 /* prefill runs many tokens per weight read */

void cost_table_init(struct cost_table *t, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->cap = cap > 0 ? cap : 1;
}

void cost_table_free(struct cost_table *t)
{
    free(t->e);
    memset(t, 0, sizeof *t);
}

const struct cost_speed *cost_find(const struct cost_table *t, const char *node_id,
                                   const char *model)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].node_id, node_id) == 0 && strcmp(t->e[i].model, model) == 0)
            return &t->e[i];
    return NULL;
}

/* The entry of node:model, made (in the place of the least recently observed when full). */
static struct cost_speed *entry(struct cost_table *t, const char *node_id, const char *model)
{
    struct cost_speed *e = (struct cost_speed *)cost_find(t, node_id, model);
    if (e)
        return e;
    if (t->n < t->cap) {
        struct cost_speed *p = realloc(t->e, (t->n + 1) * sizeof *p);
        if (!p)
            return NULL;
        t->e = p;
        e = &t->e[t->n++];
    } else {
        e = &t->e[0];
        for (size_t i = 1; i < t->n; i++)
            if (t->e[i].used < e->used)
                e = &t->e[i];
    }
    memset(e, 0, sizeof *e);
    snprintf(e->node_id, sizeof e->node_id, "%s", node_id);
    snprintf(e->model, sizeof e->model, "%s", model);
    return e;
}

/* A moving estimate: the first observation is taken whole, an outlier almost whole. */
static void learn(double *est, uint32_t *n, double obs)
{
    if (!(obs > 0) || !isfinite(obs))
        return;
    if (*n == 0 || *est <= 0) {
        *est = obs;
    } else {
        double ratio = obs / *est;
        double a = ratio > 2 || ratio < 0.5 ? ALPHA_OUTLIER : ALPHA;
        *est += a * (obs - *est);
    }
    (*n)++;
}

/* The model's entry of typical figures, made when new (in turn over the old when full). */
static size_t typical_of(struct cost_table *t, const char *model)
{
    size_t i = 0;
    while (i < t->n_typical && strcmp(t->typical[i].model, model) != 0)
        i++;
    if (i == t->n_typical) {
        if (t->n_typical == sizeof t->typical / sizeof t->typical[0])
            i = (size_t)(t->clock % t->n_typical);
        else
            t->n_typical++;
        snprintf(t->typical[i].model, sizeof t->typical[i].model, "%s", model);
        t->typical[i].tokens = 0;
        t->typical[i].token_ratio = 0;
    }
    return i;
}

static void ewma(double *v, double obs, double a)
{
    *v = *v > 0 ? *v + a * (obs - *v) : obs;
}

int cost_observe(struct cost_table *t, const char *node_id, const char *model,
                 const struct cost_observation *o)
{
    struct cost_speed *e = entry(t, node_id, model);
    if (!e)
        return -ENOMEM;
    e->used = ++t->clock;
    double cached = o->cached_share > 0 ? (o->cached_share < 1 ? o->cached_share : 1) : 0;
    double fresh = (double)o->prompt_tokens * (1 - cached);
    if (fresh >= MIN_PROMPT_TOKENS && o->prompt_s > 0)
        learn(&e->prompt_tps, &e->n_prompt, fresh / o->prompt_s);
    if (o->output_tokens >= MIN_OUTPUT_TOKENS && o->output_s > 0)
        learn(&e->gen_tps, &e->n_gen, (double)o->output_tokens / o->output_s);
    if (o->load_s > MIN_LOAD_S || (e->load_s > 0 && o->load_s > 0.1 * e->load_s))
        learn(&e->load_s, &e->n_load, o->load_s);
    if (o->output_tokens > 0 || (o->prompt_tokens > 0 && o->estimated_prompt_tokens > 0)) {
        size_t i = typical_of(t, model);
        if (o->output_tokens > 0)
            ewma(&t->typical[i].tokens, (double)o->output_tokens, 0.1);
        if (o->prompt_tokens > 0 && o->estimated_prompt_tokens > 0)
            ewma(&t->typical[i].token_ratio,
                 (double)o->prompt_tokens / (double)o->estimated_prompt_tokens, 0.1);
    }
    return 0;
}

double cost_typical_output(const struct cost_table *t, const char *model)
{
    for (size_t i = 0; i < t->n_typical; i++)
        if (strcmp(t->typical[i].model, model) == 0 && t->typical[i].tokens > 0)
            return t->typical[i].tokens;
    return DEFAULT_OUTPUT;
}

double cost_token_ratio(const struct cost_table *t, const char *model)
{
    for (size_t i = 0; i < t->n_typical; i++)
        if (strcmp(t->typical[i].model, model) == 0 && t->typical[i].token_ratio > 0)
            return t->typical[i].token_ratio;
    return 1;
}

/* The bandwidth of the node with this id, or 0. */
static double bandwidth_of(const struct node *const *nodes, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(nodes[i]->id, id) == 0)
            return nodes[i]->bandwidth_gbps;
    return 0;
}

/* The model's speeds on the other nodes, scaled to node n by bandwidth where both are known
 * (averaged); 0 for what no node has shown. */
static void elsewhere(const struct cost_table *t, const struct node *n, const char *model,
                      const struct node *const *nodes, size_t n_nodes, struct cost_rates *out)
{
    double sum[3] = {0}, k[3] = {0};
    for (size_t i = 0; i < t->n; i++) {
        const struct cost_speed *e = &t->e[i];
        if (strcmp(e->model, model) != 0 || strcmp(e->node_id, n->id) == 0)
            continue;
        double bw = bandwidth_of(nodes, n_nodes, e->node_id);
        double scale = bw > 0 && n->bandwidth_gbps > 0 ? n->bandwidth_gbps / bw : 1;
        if (e->prompt_tps > 0) {
            sum[0] += e->prompt_tps * scale;
            k[0]++;
        }
        if (e->gen_tps > 0) {
            sum[1] += e->gen_tps * scale;
            k[1]++;
        }
        if (e->load_s > 0) {
            sum[2] += e->load_s;
            k[2]++;
        }
    }
    out->prompt_tps = k[0] ? sum[0] / k[0] : 0;
    out->gen_tps = k[1] ? sum[1] / k[1] : 0;
    out->load_s = k[2] ? sum[2] / k[2] : 0;
}

void cost_rates(const struct cost_table *t, const struct node *n, const char *model, double size_gb,
                const struct node *const *nodes, size_t n_nodes, struct cost_rates *out)
{
    memset(out, 0, sizeof *out);
    const struct cost_speed *e = cost_find(t, n->id, model);
    struct cost_rates other;
    elsewhere(t, n, model, nodes, n_nodes, &other);
    double size = size_gb > 0.05 ? size_gb : 0.05;
    /* Decoding reads the weights once per token: bandwidth over size, at about 60%. */
    double guess_gen =
        n->bandwidth_gbps > 0 ? 0.6 * n->bandwidth_gbps / size : 100 / fmax(size, 0.5);
    out->measured = e && e->gen_tps > 0;
    out->gen_tps = out->measured ? e->gen_tps : other.gen_tps > 0 ? other.gen_tps : guess_gen;
    if (e && e->prompt_tps > 0)
        out->prompt_tps = e->prompt_tps;
    else if (other.prompt_tps > 0)
        out->prompt_tps = other.prompt_tps;
    else
        out->prompt_tps = out->gen_tps * PREFILL_PER_DECODE;
    if (e && e->load_s > 0)
        out->load_s = e->load_s;
    else if (other.load_s > 0)
        out->load_s = other.load_s;
    else
        out->load_s = 1 + size / 2; /* a few GB/s from disk */
}

void cost_predict(const struct cost_rates *r, const struct cost_queue *q, bool load, double evict_s,
                  const struct cost_ask *a, struct cost_estimate *out)
{
    memset(out, 0, sizeof *out);
    int slots = q->slots > 0 ? q->slots : 1;
    /* Until a slot is free: what is ahead, shared by the slots. A running request is taken
     * as half done. */
    if (q->running >= slots || q->waiting > 0)
        out->queue_s = (0.5 * q->work_running_s + q->work_waiting_s) / slots;
    out->load_s = load ? r->load_s : 0;
    out->evict_s = load ? evict_s : 0;
    double cached = a->cached_share < 0 ? 0 : a->cached_share > 1 ? 1 : a->cached_share;
    double tokens = a->prompt_tokens > 0 ? (double)a->prompt_tokens : 1;
    out->prefill_s = tokens * (1 - cached) / (r->prompt_tps > 0 ? r->prompt_tps : 1);
    out->decode_s =
        (a->output_tokens > 0 ? a->output_tokens : 1) / (r->gen_tps > 0 ? r->gen_tps : 1);
    out->ttft_s = out->queue_s + out->load_s + out->evict_s + out->prefill_s;
    out->total_s = out->ttft_s + out->decode_s;
    out->service_s = out->prefill_s + out->decode_s;
}
