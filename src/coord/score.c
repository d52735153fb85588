#include "coord/score.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

void score_weights_default(struct score_weights *w)
{
    w->hot = 50;
    w->warm = 30;
    w->cold = 10;
    w->memory_fit_max = 20;
    w->queue_max_penalty = 30;
    w->queue_penalty_per = 6;
    w->wait_max_penalty = 25;
    w->role_affinity_max = 15;
    w->role_large_gb = 20;
    w->role_small_gb = 8;
    w->availability_max = 10;
    w->context_fit_max = 15;
    w->warm_window_s = 1800;
    w->bandwidth_aware = true;
    w->queue_bandwidth_normalize = true;
    w->policy = SCORE_POLICY_HERD;
}

const char *score_verdict_name(enum score_verdict v)
{
    static const char *const names[] = {
        "eligible", "offline",  "no_model_state",      "memory_pressure",
        "paused",   "no_model", "insufficient_memory", "ejected"};
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "?";
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static double memory_fit(const struct score_weights *w, const struct node *n, bool loaded,
                         double size)
{
    if (loaded)
        return w->memory_fit_max;
    if (size <= 0 || !n->has_memory)
        return 0;
    double fit = node_available_gb(n) / size;
    if (fit > 2.0)
        return w->memory_fit_max;
    if (fit > 1.5)
        return 0.75 * w->memory_fit_max;
    if (fit > 1.2)
        return 0.4 * w->memory_fit_max;
    if (fit >= 1.0)
        return 0.15 * w->memory_fit_max;
    return 0;
}

/* Requests per parallel slot, counting for less on a node faster than the fleet's median. */
/* The node's parallel slots as the policy counts them: the Python reference ignores them. */
static int slots_of(const struct score_weights *w, const struct node *n)
{
    return n->num_parallel > 0 && w->policy != SCORE_POLICY_REFERENCE ? n->num_parallel : 1;
}

static double effective_depth(const struct score_weights *w, const struct node *n, int depth,
                              double median_bw)
{
    int slots = slots_of(w, n);
    double d = (double)depth / slots;
    if (w->queue_bandwidth_normalize && n->bandwidth_gbps > 0 && median_bw > 0)
        d /= clampd(n->bandwidth_gbps / median_bw, 0.25, 4.0);
    return d;
}

static double wait_time(const struct score_weights *w, const struct score_node_input *in,
                        double size)
{
    const struct node *n = in->node;
    int slots = slots_of(w, n);
    /* Requests that must finish before this one gets a slot. */
    int ahead = in->queue_depth - slots + 1;
    if (in->queue_depth <= 0 || ahead <= 0)
        return 0;
    double p75 = in->p75_ms;
    if (p75 <= 0) {
        /* No history yet: the time for about 100 tokens on this machine. */
        double tps = n->bandwidth_gbps > 0 ? fmax(10, n->bandwidth_gbps * 1.2 / fmax(1, size / 10))
                                           : fmax(1, 100 / fmax(1, size));
        p75 = 100 / tps * 1000;
    }
    double wait_s = (double)ahead / slots * p75 / 1000;
    return -fmin(w->wait_max_penalty, wait_s / 10);
}

static double role_affinity(const struct score_weights *w, const struct node *n, double size)
{
    bool large = size > w->role_large_gb;
    bool small = size < w->role_small_gb;
    if (w->bandwidth_aware && n->bandwidth_gbps > 0) {
        /* On a 25-point scale (an 819 GB/s machine gets all of it for a large model), then
         * brought to the configured maximum. */
        double b = fmin(25, 5 + n->bandwidth_gbps / 40);
        double v = large ? b : small ? fmax(3, 18 - 0.6 * b) : 0.6 * b;
        return v * w->role_affinity_max / 25;
    }
    double total = n->mem_total_gb;
    double v;
    if (large)
        v = total >= 128 ? 15 : total >= 32 ? 5 : 0;
    else if (small)
        v = total <= 32 ? 15 : total <= 128 ? 8 : 3;
    else
        v = 5;
    return v * w->role_affinity_max / 15;
}

static double context_fit(const struct score_weights *w, const struct node_model *loaded,
                          int64_t tokens)
{
    if (tokens <= 0 || !loaded || loaded->context_length <= 0)
        return 0;
    double r = (double)loaded->context_length / (double)tokens;
    if (r < 1)
        return -w->context_fit_max;
    if (r < 1.5)
        return 0.2 * w->context_fit_max;
    if (r < 3)
        return 0.5 * w->context_fit_max;
    if (r < 8)
        return 0.8 * w->context_fit_max;
    return w->context_fit_max;
}

enum score_verdict score_node_usable(const struct node *n)
{
    if (n->status == NODE_OFFLINE || n->draining)
        return SCORE_OFFLINE;
    if (!n->has_ollama || !n->ollama_up)
        return SCORE_NO_STATE;
    if (n->has_memory && n->pressure == PRESSURE_CRITICAL)
        return SCORE_PRESSURE;
    if (n->capacity.present &&
        (strcmp(n->capacity.mode, "paused") == 0 || n->capacity.availability_score < 0.2))
        return SCORE_PAUSED;
    return SCORE_ELIGIBLE;
}

enum score_verdict score_node(const struct score_weights *w, const struct score_request *req,
                              const struct score_node_input *in, double median_bw, double now,
                              struct score_breakdown *out)
{
    const struct node *n = in->node;
    enum score_verdict v = score_node_usable(n);
    if (v != SCORE_ELIGIBLE)
        return v;
    const struct node_model *loaded = node_loaded_model(n, req->model);
    if (!loaded && !node_has_model(n, req->model))
        return SCORE_NO_MODEL;
    double size = loaded && loaded->size_gb > 0 ? loaded->size_gb : req->model_size_gb;
    if (!loaded && n->has_memory && size > node_available_gb(n) + in->evictable_gb)
        return SCORE_NO_MEMORY;
    if (in->ejected)
        return SCORE_EJECTED;

    struct score_breakdown b;
    double unloaded = node_unloaded_at(n, req->model);
    if (loaded)
        b.thermal = w->hot;
    else if (unloaded > 0 && now - unloaded < w->warm_window_s)
        b.thermal = w->warm;
    else
        b.thermal = w->cold;
    b.memory_fit = memory_fit(w, n, loaded != NULL, size);
    double depth = effective_depth(w, n, in->queue_depth, median_bw);
    b.queue_depth =
        in->queue_depth > 0 ? -fmin(w->queue_max_penalty, depth * w->queue_penalty_per) : 0;
    b.wait_time = wait_time(w, in, size);
    b.role_affinity = role_affinity(w, n, size);
    b.availability_trend =
        n->capacity.present
            ? fmin(w->availability_max,
                   clampd(n->capacity.availability_score, 0, 1) * w->availability_max)
            : 0;
    b.context_fit = context_fit(w, loaded, req->estimated_tokens);
    b.total = b.thermal + b.memory_fit + b.queue_depth + b.wait_time + b.role_affinity +
              b.availability_trend + b.context_fit;
    b.predicted = in->predicted != NULL;
    if (in->predicted)
        b.p = *in->predicted;
    else
        memset(&b.p, 0, sizeof b.p);
    *out = b;
    return SCORE_ELIGIBLE;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double score_median_bandwidth(const struct score_node_input *in, size_t n)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i].node->status != NODE_OFFLINE && in[i].node->bandwidth_gbps > 0)
            v[k++] = in[i].node->bandwidth_gbps;
    double median = 0;
    if (k) {
        qsort(v, k, sizeof *v, cmp_double);
        median = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    }
    free(v);
    return median;
}

static int cmp_result(const void *a, const void *b)
{
    const struct score_result *x = a, *y = b;
    if ((x->verdict == SCORE_ELIGIBLE) != (y->verdict == SCORE_ELIGIBLE))
        return x->verdict == SCORE_ELIGIBLE ? -1 : 1;
    if (x->verdict == SCORE_ELIGIBLE && x->b.total != y->b.total)
        return x->b.total > y->b.total ? -1 : 1;
    return x->node->order - y->node->order;
}

static int cmp_order(const void *a, const void *b)
{
    const struct score_result *x = a, *y = b;
    return x->node->order - y->node->order;
}

static void rotate_pick(struct score_result *out, size_t pick);

/* Predictions within this of each other are equal: ties are shared out in turn. */
#define SAME_SECONDS 1e-3

/* The lowest predicted time to first token first, then the lowest completion, then the order
 * the nodes joined. */
static int cmp_predicted(const void *a, const void *b)
{
    /* Exact comparisons: a tolerance here would make the order intransitive, which qsort
     * does not allow. Near-equal predictions are shared out after sorting. */
    const struct score_result *x = a, *y = b;
    if (x->b.p.ttft_s != y->b.p.ttft_s)
        return x->b.p.ttft_s < y->b.p.ttft_s ? -1 : 1;
    if (x->b.p.total_s != y->b.p.total_s)
        return x->b.p.total_s < y->b.p.total_s ? -1 : 1;
    return cmp_order(a, b);
}

/* Equal predictions: the turn decides which goes first. */
static void share_predicted_ties(struct score_result *out, size_t eligible, uint64_t turn)
{
    size_t ties = 1;
    while (ties < eligible && fabs(out[ties].b.p.ttft_s - out[0].b.p.ttft_s) <= SAME_SECONDS &&
           fabs(out[ties].b.p.total_s - out[0].b.p.total_s) <= SAME_SECONDS)
        ties++;
    if (ties > 1)
        rotate_pick(out, (size_t)(turn % ties));
}

/* Least loaded first, then in the order the nodes joined. */
static int cmp_load(const void *a, const void *b)
{
    const struct score_result *x = a, *y = b;
    return x->load != y->load ? (x->load < y->load ? -1 : 1) : cmp_order(a, b);
}

/* Moves out[pick] to the front, keeping the others in order. */
static void rotate_pick(struct score_result *out, size_t pick)
{
    struct score_result chosen = out[pick];
    memmove(&out[1], &out[0], pick * sizeof *out);
    out[0] = chosen;
}

/* Equal best totals: the turn decides which goes first, so equal nodes share the work. */
static void share_ties(struct score_result *out, size_t eligible, uint64_t turn)
{
    size_t ties = 0;
    while (ties < eligible && fabs(out[ties].b.total - out[0].b.total) < 1e-9)
        ties++;
    if (ties > 1)
        rotate_pick(out, (size_t)(turn % ties));
}

/* The highest peer_score first, then the order the nodes joined. */
static int cmp_peer(const void *a, const void *b)
{
    const struct score_result *x = a, *y = b;
    if (x->peer_score != y->peer_score)
        return x->peer_score > y->peer_score ? -1 : 1;
    return cmp_order(a, b);
}

/* Sorts by peer_score; equal best scores are shared out in turn. */
static void rank_by_peer_score(struct score_result *out, size_t eligible, uint64_t turn)
{
    qsort(out, eligible, sizeof *out, cmp_peer);
    size_t ties = 1;
    while (ties < eligible && fabs(out[ties].peer_score - out[0].peer_score) <= 1e-12)
        ties++;
    if (ties > 1)
        rotate_pick(out, (size_t)(turn % ties));
}

/* The smallest and largest node load (or node:model queue depth) of the eligible nodes. */
static void load_range(const struct score_result *out, size_t eligible, bool depth, int *lo,
                       int *hi)
{
    *lo = *hi = depth ? out[0].depth : out[0].load;
    for (size_t i = 1; i < eligible; i++) {
        int v = depth ? out[i].depth : out[i].load;
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
}

/* SGLang's (SMG's) cache_aware, after model_gateway/src/policies/cache_aware.rs: when the load
 * is imbalanced (max - min > 64 and max > 1.5 min), the least loaded worker; else the one whose
 * prefix tree matches the prompt best if it matches more than 30% of it; else the one with the
 * smallest tree. The tree is herd's prefix index; the load, requests on the node. */
static void rank_cache_aware(struct score_result *out, size_t eligible, uint64_t turn)
{
    if (eligible == 0)
        return;
    int lo, hi;
    load_range(out, eligible, false, &lo, &hi);
    double best_match = 0;
    for (size_t i = 0; i < eligible; i++)
        best_match = fmax(best_match, out[i].b.p.prefix_match);
    for (size_t i = 0; i < eligible; i++) {
        if (hi - lo > 64 && hi > 1.5 * lo)
            out[i].peer_score = -out[i].load;
        else if (best_match > 0.3)
            out[i].peer_score = out[i].b.p.prefix_match;
        else
            out[i].peer_score = -(double)out[i].cached_blocks;
    }
    rank_by_peer_score(out, eligible, turn);
}

/* llm-d's default scheduling profile: max of 2 x prefix score (the share of the prompt
 * cached) + 2 x queue score (normalised shortest queue: 1 for the shortest, 0 for the
 * longest) + 1 x KV-cache score (1 - usage, usage taken as the node:model's requests over its
 * slots). */
static void rank_llmd(struct score_result *out, size_t eligible, uint64_t turn)
{
    if (eligible == 0)
        return;
    int lo, hi;
    load_range(out, eligible, true, &lo, &hi);
    for (size_t i = 0; i < eligible; i++) {
        double queue = hi > lo ? (double)(hi - out[i].depth) / (double)(hi - lo) : 1;
        int slots = out[i].node->num_parallel > 0 ? out[i].node->num_parallel : 1;
        double usage = fmin(1, (double)out[i].depth / slots);
        out[i].peer_score = 2 * out[i].b.p.prefix_match + 2 * queue + (1 - usage);
    }
    rank_by_peer_score(out, eligible, turn);
}

size_t score_rank(const struct score_weights *w, const struct score_request *req,
                  const struct score_node_input *in, size_t n, double now, uint64_t turn,
                  struct score_result *out)
{
    double median = score_median_bandwidth(in, n);
    size_t eligible = 0;
    for (size_t i = 0; i < n; i++) {
        out[i].node = in[i].node;
        memset(&out[i].b, 0, sizeof out[i].b);
        out[i].verdict = score_node(w, req, &in[i], median, now, &out[i].b);
        out[i].load = in[i].node_load;
        out[i].depth = in[i].queue_depth;
        out[i].cached_blocks = in[i].cached_blocks;
        eligible += out[i].verdict == SCORE_ELIGIBLE;
    }
    qsort(out, n, sizeof *out, cmp_result);
    switch (w->policy) {
    case SCORE_POLICY_HERD:
        /* Without a prediction for every node (not expected) the signals decide. */
        for (size_t i = 0; i < eligible; i++)
            if (!out[i].b.predicted) {
                share_ties(out, eligible, turn);
                return eligible;
            }
        qsort(out, eligible, sizeof *out, cmp_predicted);
        share_predicted_ties(out, eligible, turn);
        break;
    case SCORE_POLICY_SIGNALS:
        share_ties(out, eligible, turn);
        break;
    case SCORE_POLICY_REFERENCE:
        break; /* a stable order: the node that joined first wins every tie */
    case SCORE_POLICY_ROUND_ROBIN:
        qsort(out, eligible, sizeof *out, cmp_order);
        if (eligible > 1)
            rotate_pick(out, (size_t)(turn % eligible));
        break;
    case SCORE_POLICY_LEAST_CONN: {
        /* The least loaded; among equally loaded ones, the turn decides (as nginx does). */
        qsort(out, eligible, sizeof *out, cmp_load);
        size_t ties = 1;
        while (ties < eligible && out[ties].load == out[0].load)
            ties++;
        if (ties > 1)
            rotate_pick(out, (size_t)(turn % ties));
        break;
    }
    case SCORE_POLICY_RANDOM:
        if (eligible > 1)
            rotate_pick(out, (size_t)(hash_mix64(turn) % eligible));
        break;
    case SCORE_POLICY_CACHE_AWARE:
        rank_cache_aware(out, eligible, turn);
        break;
    case SCORE_POLICY_LLMD:
        rank_llmd(out, eligible, turn);
        break;
    }
    return eligible;
}

/* Billions of parameters named in a model name ("llama3.3:70b", "qwen2.5:0.5b", "x:8x7b" counts
 * 56, "smollm:135m"), or 0. A number glued to letters before it ("q4_k_m", "e2b") is not one. */
static double params_billion(const char *model)
{
    for (const char *p = model; *p; p++) {
        if (!isdigit((unsigned char)*p) || (p > model && isalpha((unsigned char)p[-1])))
            continue;
        char *end;
        double v = strtod(p, &end);
        if (*end == 'x' && isdigit((unsigned char)end[1])) {
            double per = strtod(end + 1, &end);
            v *= per;
        }
        bool boundary = !isalnum((unsigned char)end[1]);
        if ((*end == 'b' || *end == 'B') && boundary)
            return v;
        if ((*end == 'm' || *end == 'M') && boundary)
            return v / 1000;
        p = end > p ? end - 1 : p;
    }
    return 0;
}

double score_model_size(const char *model, const struct node *const *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct node_model *m = node_loaded_model(nodes[i], model);
        if (m && m->size_gb > 0)
            return m->size_gb;
    }
    double params = params_billion(model);
    if (params > 0)
        return params * 0.6; /* Q4: about 0.6 GB per billion parameters */
    if (strstr(model, "embed") || strstr(model, "minilm"))
        return 0.3;
    return 10.0;
}

static size_t text_chars(const json_t *content, int *images)
{
    if (json_is_string(content))
        return json_string_length(content);
    size_t n = 0;
    size_t i;
    const json_t *part;
    json_array_foreach (content, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type && strcmp(type, "image_url") == 0)
            (*images)++;
        const json_t *text = json_object_get(part, "text");
        if (json_is_string(text))
            n += json_string_length(text);
    }
    return n;
}

int64_t score_estimate_tokens(const json_t *body)
{
    size_t chars = 0;
    int images = 0;
    const json_t *messages = json_object_get(body, "messages");
    size_t i;
    const json_t *m;
    json_array_foreach (messages, i, m) {
        chars += text_chars(json_object_get(m, "content"), &images) + 16;
        images += (int)json_array_size(json_object_get(m, "images"));
    }
    const json_t *prompt = json_object_get(body, "prompt");
    if (json_is_string(prompt))
        chars += json_string_length(prompt);
    const json_t *system = json_object_get(body, "system");
    if (json_is_string(system))
        chars += json_string_length(system);
    images += (int)json_array_size(json_object_get(body, "images"));
    int64_t tokens = (int64_t)(chars / 4) + 150 * (int64_t)images;
    return tokens > 0 ? tokens : 1;
}

json_t *score_breakdown_json(const struct score_breakdown *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "thermal", json_real(b->thermal));
    json_object_set_new(o, "memory_fit", json_real(b->memory_fit));
    json_object_set_new(o, "queue_depth", json_real(b->queue_depth));
    json_object_set_new(o, "wait_time", json_real(b->wait_time));
    json_object_set_new(o, "role_affinity", json_real(b->role_affinity));
    json_object_set_new(o, "availability_trend", json_real(b->availability_trend));
    json_object_set_new(o, "context_fit", json_real(b->context_fit));
    json_object_set_new(o, "total", json_real(b->total));
    if (b->predicted) {
        json_object_set_new(o, "queue_s", json_real(b->p.queue_s));
        json_object_set_new(o, "load_s", json_real(b->p.load_s));
        json_object_set_new(o, "prefill_s", json_real(b->p.prefill_s));
        json_object_set_new(o, "decode_s", json_real(b->p.decode_s));
        json_object_set_new(o, "prefix_match", json_real(b->p.prefix_match));
        json_object_set_new(o, "predicted_ttft_s", json_real(b->p.ttft_s));
        json_object_set_new(o, "predicted_total_s", json_real(b->p.total_s));
    }
    return o;
}
