#include "coord/route.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

#include "coord/model_class.h"

const char *route_fallback_name(enum route_fallback f)
{
    static const char *const names[] = {NULL, "fallback_models", "vram", "context"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : NULL;
}

const char *route_context_name(enum route_context c)
{
    static const char *const names[] = {NULL,    "stripped", "warned",
                                        "moved", "upgraded", "overflow"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : NULL;
}

/* Requests queued or running on a node, every model (least connections counts these). */
static int node_load(const struct queue_set *qs, const char *node_id)
{
    int load = 0;
    for (size_t i = 0; i < qs->n; i++)
        if (strcmp(qs->q[i]->node_id, node_id) == 0)
            load += qs->q[i]->pending + qs->q[i]->in_flight;
    return load;
}

static double model_size(const struct route_fleet *v, const char *model)
{
    return score_model_size(model, v->nodes, v->n_nodes);
}

/* Whether the model must be loaded on n before it can answer: not loaded, or loaded with
 * another context than the request will make Ollama use. */
static bool needs_load(const struct route_fleet *v, const struct route_ask *a,
                       const struct node_model *loaded)
{
    if (!loaded)
        return true;
    if (a->num_ctx <= 0 || a->openai || loaded->context_length <= 0)
        return false;
    /* Context protection strips a num_ctx the loaded context holds; a larger one reloads. */
    if (v->context_mode == CONTEXT_STRIP)
        return a->num_ctx > loaded->context_length;
    return a->num_ctx != loaded->context_length;
}

/* Whether herd has requests running or waiting for model on node_id. */
static bool in_use(const struct queue_set *qs, const char *node_id, const char *model)
{
    const struct fleet_queue *q = queue_find(qs, node_id, model);
    return q && q->in_flight + q->pending > 0;
}

/* What loading model (size_gb) on n would evict: the memory of the idle loaded models Ollama
 * would unload to make room, and what reloading them later costs. 0 when it fits in what is
 * free. *evictable_gb gets all the idle memory (whether needed or not). */
static double eviction(const struct route_fleet *v, const struct node *n, const char *model,
                       double size_gb, double *evictable_gb)
{
    double idle = 0, cost = 0, need = size_gb - node_available_gb(n);
    for (size_t i = 0; i < n->n_loaded; i++) {
        const struct node_model *m = &n->loaded[i];
        if (strcmp(m->name, model) == 0 || in_use(v->queues, n->id, m->name))
            continue;
        idle += m->size_gb;
        if (need > 0) {
            /* Largest first would be Ollama's choice only by chance: count them in order. */
            struct cost_rates r;
            cost_rates(v->costs, n, m->name, m->size_gb, v->nodes, v->n_nodes, &r);
            cost += 0.5 * r.load_s; /* the next request for it may have to load it again */
            need -= m->size_gb;
        }
    }
    *evictable_gb = idle;
    return size_gb > node_available_gb(n) ? cost : 0;
}

static void predict(const struct route_fleet *v, const struct route_ask *a, const struct node *n,
                    const char *model, double model_size_gb, struct score_prediction *out,
                    double *evictable_gb)
{
    const struct node_model *loaded = node_loaded_model(n, model);
    double size = loaded && loaded->size_gb > 0 ? loaded->size_gb : model_size_gb;
    double evict_s = loaded ? 0 : eviction(v, n, model, size, evictable_gb);
    struct cost_rates rates;
    cost_rates(v->costs, n, model, size, v->nodes, v->n_nodes, &rates);
    const struct fleet_queue *q = queue_find(v->queues, n->id, model);
    struct cost_queue cq = {
        .slots = n->num_parallel > 0 ? n->num_parallel : v->default_slots,
        .running = q ? q->in_flight : 0,
        .waiting = q ? q->pending : 0,
        .work_running_s = q ? q->work_running_s : 0,
        .work_waiting_s = q ? q->work_waiting_s : 0,
    };
    struct cost_ask ca = {
        .cached_share =
            v->prefixes && a->prefix ? prefix_match(v->prefixes, n->id, model, a->prefix) : 0,
        .prompt_tokens = (int64_t)((double)a->tokens * cost_token_ratio(v->costs, model) + 0.5),
        .output_tokens =
            a->max_output > 0 ? (double)a->max_output : cost_typical_output(v->costs, model),
    };
    struct cost_estimate e;
    cost_predict(&rates, &cq, needs_load(v, a, loaded), evict_s, &ca, &e);
    *out = (struct score_prediction){.queue_s = e.queue_s,
                                     .load_s = e.load_s + e.evict_s,
                                     .prefill_s = e.prefill_s,
                                     .decode_s = e.decode_s,
                                     .prefix_match = ca.cached_share,
                                     .ttft_s = e.ttft_s,
                                     .total_s = e.total_s,
                                     .service_s = e.service_s};
}

size_t route_rank(const struct route_fleet *v, const struct route_ask *a, const char *model,
                  uint64_t turn, struct score_result **out)
{
    size_t n = v->n_nodes;
    struct score_node_input *in = calloc(n ? n : 1, sizeof *in);
    struct score_prediction *pred = calloc(n ? n : 1, sizeof *pred);
    *out = calloc(n ? n : 1, sizeof **out);
    if (!in || !pred || !*out) {
        free(in);
        free(pred);
        free(*out);
        *out = NULL;
        return 0;
    }
    double size = model_size(v, model);
    for (size_t i = 0; i < n; i++) {
        const char *id = v->nodes[i]->id;
        in[i].node = v->nodes[i];
        in[i].queue_depth = queue_depth(v->queues, id, model);
        in[i].p75_ms = v->p75_ms ? v->p75_ms(v->p75_ctx, id, model) : 0;
        if (v->weights->policy == SCORE_POLICY_LEAST_CONN ||
            v->weights->policy == SCORE_POLICY_CACHE_AWARE)
            in[i].node_load = node_load(v->queues, id);
        if (v->prefixes)
            in[i].cached_blocks = prefix_blocks(v->prefixes, id, model);
        in[i].ejected = v->breakers && !breaker_allows(v->breakers, id, model, v->clock);
        /* Only where the model is: the others are not eligible, and a prediction reads every
         * speed the table has. */
        if (v->costs && node_has_model(v->nodes[i], model)) {
            double evictable = 0;
            predict(v, a, v->nodes[i], model, size, &pred[i], &evictable);
            in[i].predicted = &pred[i];
            /* Only herd's policy weighs an eviction; the others keep to free memory. */
            if (v->weights->policy == SCORE_POLICY_HERD)
                in[i].evictable_gb = evictable;
        }
    }
    struct score_request req = {model, size, a->tokens};
    size_t eligible = score_rank(v->weights, &req, in, n, v->now, turn, *out);
    bool any_ejected = false;
    for (size_t i = 0; i < n; i++)
        any_ejected |= (*out)[i].verdict == SCORE_EJECTED;
    if (eligible == 0 && any_ejected) {
        /* Every node that could serve is ejected: better their own answer than none (as
         * Envoy's panic threshold does). */
        for (size_t i = 0; i < n; i++)
            in[i].ejected = false;
        eligible = score_rank(v->weights, &req, in, n, v->now, turn, *out);
    }
    free(in);
    free(pred);
    return eligible;
}

static bool excluded(const struct route_ask *a, const char *node_id)
{
    for (int i = 0; i < a->n_excluded; i++)
        if (strcmp(a->excluded[i], node_id) == 0)
            return true;
    return false;
}

/* The best eligible node not tried yet with model loaded, if ctx > 0 with at least that
 * context; NULL when none. */
static const struct score_result *best_loaded(const struct route_ask *a,
                                              const struct score_result *res, size_t eligible,
                                              const char *model, int64_t ctx)
{
    for (size_t i = 0; i < eligible; i++) {
        if (excluded(a, res[i].node->id))
            continue;
        const struct node_model *m = node_loaded_model(res[i].node, model);
        if (m && (ctx <= 0 || m->context_length >= ctx))
            return &res[i];
    }
    return NULL;
}

/* Whether model is loaded, with at least ctx (0: any), on an eligible node not tried yet.
 * -1 when out of memory. */
static int loaded_usable(const struct route_fleet *v, const struct route_ask *a, const char *model,
                         int64_t ctx, size_t *eligible_out)
{
    struct score_result *res = NULL;
    size_t eligible = route_rank(v, a, model, v->turn, &res);
    if (!res)
        return -1;
    int hot = best_loaded(a, res, eligible, model, ctx) != NULL;
    free(res);
    if (eligible_out)
        *eligible_out = eligible;
    return hot;
}

static bool exists_anywhere(const struct route_fleet *v, const char *model)
{
    for (size_t i = 0; i < v->n_nodes; i++)
        if (node_has_model(v->nodes[i], model))
            return true;
    return false;
}

/* What the fleet says the model can do: its capabilities on any node that reported them. */
static unsigned fleet_caps(const struct route_fleet *v, const char *model)
{
    for (size_t i = 0; i < v->n_nodes; i++) {
        unsigned caps = node_model_caps(v->nodes[i], model);
        if (caps & MCAP_KNOWN)
            return caps;
    }
    return 0;
}

/* Whether any node:model queue of the model has requests running or waiting. */
static bool has_requests(const struct queue_set *qs, const char *model)
{
    for (size_t i = 0; i < qs->n; i++)
        if (strcmp(qs->q[i]->model, model) == 0 && qs->q[i]->in_flight + qs->q[i]->pending > 0)
            return true;
    return false;
}

/* A loaded model that may stand in for model: same category, every capability the request
 * needs, larger than min_size_gb and with a loaded context of at least ctx (0: any), loaded
 * on an eligible node. Among several, the closest in size to model. Writes its name to out
 * and returns 1 when there is one, 0 when not, -1 when out of memory. */
static int find_stand_in(const struct route_fleet *v, const struct route_ask *a, const char *model,
                         double min_size_gb, int64_t ctx, char *out, size_t outlen)
{
    enum model_category cat = model_category(model, fleet_caps(v, model));
    double want = model_size(v, model);
    double best_dist = INFINITY, best_size = 0;
    int found = 0;
    for (size_t i = 0; i < v->n_nodes; i++) {
        const struct node *n = v->nodes[i];
        for (size_t k = 0; k < n->n_loaded; k++) {
            const struct node_model *m = &n->loaded[k];
            if (strcmp(m->name, model) == 0 || (found && strcmp(m->name, out) == 0))
                continue;
            unsigned caps = m->caps ? m->caps : node_model_caps(n, m->name);
            if (model_category(m->name, caps) != cat || !model_caps_satisfy(caps, a->needs))
                continue;
            double size = m->size_gb > 0 ? m->size_gb : model_size(v, m->name);
            if (size <= min_size_gb || (ctx > 0 && m->context_length < ctx))
                continue;
            double dist = fabs(log((size + 0.01) / (want + 0.01)));
            if (dist > best_dist || (dist == best_dist && size <= best_size))
                continue;
            int usable = loaded_usable(v, a, m->name, ctx, NULL);
            if (usable < 0)
                return -1;
            if (!usable)
                continue;
            snprintf(out, outlen, "%s", m->name);
            best_dist = dist;
            best_size = size;
            found = 1;
        }
    }
    return found;
}

static void use_model(struct route_choice *c, const struct route_ask *a, const char *model,
                      enum route_fallback reason)
{
    c->fallback = strcmp(model, a->chain[0]) != 0 ? reason : ROUTE_FALLBACK_NONE;
    snprintf(c->model, sizeof c->model, "%s", model);
}

/* Why no node can take the model, for the message: each node that has it and its verdict. */
static void explain(const struct route_ask *a, const struct score_result *res, size_t n, char *out,
                    size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < outlen; i++) {
        if (res[i].verdict == SCORE_NO_MODEL)
            continue;
        const char *why = res[i].verdict == SCORE_ELIGIBLE && excluded(a, res[i].node->id)
                              ? "tried"
                              : score_verdict_name(res[i].verdict);
        int k =
            snprintf(out + used, outlen - used, "%s%s: %s", used ? ", " : "", res[i].node->id, why);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

static enum route_outcome hold_on(struct route_choice *c, const struct route_ask *a,
                                  const struct score_result *res, size_t n, const char *model)
{
    char why[400];
    explain(a, res, n, why, sizeof why);
    snprintf(c->why, sizeof c->why, "no node can serve model '%s' now (%s)", model, why);
    return c->outcome = ROUTE_HOLD;
}

static enum route_outcome no_memory(struct route_choice *c)
{
    snprintf(c->why, sizeof c->why, "out of memory");
    return c->outcome = ROUTE_NO_MEMORY;
}

/* Chooses the model (before any node was tried): into c->model, or the outcome that says
 * why none. */
static enum route_outcome choose_model(const struct route_fleet *v, const struct route_ask *a,
                                       struct route_choice *c)
{
    int first_any = -1;
    for (int k = 0; k < a->n_chain; k++) {
        size_t eligible = 0;
        int hot = loaded_usable(v, a, a->chain[k], 0, &eligible);
        if (hot < 0)
            return no_memory(c);
        if (hot) {
            use_model(c, a, a->chain[k], ROUTE_FALLBACK_CHAIN);
            return ROUTE_GO;
        }
        if (eligible > 0 && first_any < 0)
            first_any = k;
    }
    /* Loaded nowhere. Rather than a cold load, a loaded model of the same kind may serve: not
     * one less than half its size (a quality the client did not ask for), and not while the
     * model has requests somewhere (it is being loaded for them: joining them is better). */
    const char *model = a->chain[0];
    if (a->n_chain == 1 && v->vram_fallback && !a->embedding && a->queued && !a->pulled &&
        exists_anywhere(v, model) && !has_requests(v->queues, model)) {
        char stand_in[MODEL_NAME_MAX];
        int found =
            find_stand_in(v, a, model, model_size(v, model) / 2, 0, stand_in, sizeof stand_in);
        if (found < 0)
            return no_memory(c);
        if (found) {
            use_model(c, a, stand_in, ROUTE_FALLBACK_VRAM);
            return ROUTE_GO;
        }
    }
    if (first_any >= 0) {
        use_model(c, a, a->chain[first_any], ROUTE_FALLBACK_CHAIN);
        return ROUTE_GO;
    }
    bool anywhere = false, known_fleet = false;
    for (int k = 0; k < a->n_chain; k++)
        anywhere |= exists_anywhere(v, a->chain[k]);
    for (size_t i = 0; i < v->n_nodes; i++)
        known_fleet |= v->nodes[i]->has_ollama;
    if (anywhere) {
        struct score_result *res = NULL;
        route_rank(v, a, model, v->turn, &res);
        if (!res)
            return no_memory(c);
        hold_on(c, a, res, v->n_nodes, model);
        free(res);
        return ROUTE_HOLD;
    }
    snprintf(c->why, sizeof c->why, "model '%s' not found", a->model_sent);
    if (!known_fleet)
        return c->outcome = ROUTE_HOLD; /* with no node known yet (herd just started), it may
                                           still appear */
    if (v->auto_pull && a->queued && !a->pulled)
        return c->outcome = ROUTE_PULL;
    return c->outcome = ROUTE_NOT_FOUND;
}

/* The best eligible node not tried yet; NULL when none. */
static const struct score_result *first_open(const struct route_ask *a,
                                             const struct score_result *res, size_t eligible)
{
    for (size_t i = 0; i < eligible; i++)
        if (!excluded(a, res[i].node->id))
            return &res[i];
    return NULL;
}

/* Context protection, once the node is chosen: *best becomes another node where the loaded
 * context holds the request's num_ctx when there is one. May change the model to a larger
 * loaded one with enough context, in which case the ranking is redone for it. Returns 0, or
 * -1 when out of memory. */
static int protect_context(const struct route_fleet *v, const struct route_ask *a,
                           struct route_choice *c, const struct score_result **best)
{
    enum context_mode mode = v->context_mode;
    if (a->num_ctx <= 0 || a->openai || mode == CONTEXT_PASSTHROUGH)
        return 0;
    const struct node_model *m = node_loaded_model((*best)->node, c->model);
    int64_t m_ctx = m ? m->context_length : 0;
    const struct score_result *fit = *best;
    if (!m || m_ctx < a->num_ctx) {
        fit = best_loaded(a, c->ranking, c->eligible, c->model, a->num_ctx);
        if (fit)
            c->context = ROUTE_CTX_MOVED;
    }
    if (!fit && mode == CONTEXT_STRIP && !a->fixed_model && !a->embedding && m && m_ctx > 0) {
        /* Loaded here with less context: a larger loaded model that has enough serves. */
        char bigger[MODEL_NAME_MAX];
        double size = m->size_gb > 0 ? m->size_gb : model_size(v, c->model);
        int found = find_stand_in(v, a, c->model, size, a->num_ctx, bigger, sizeof bigger);
        if (found < 0)
            return -1;
        if (found) {
            use_model(c, a, bigger, ROUTE_FALLBACK_CONTEXT);
            free(c->ranking);
            /* The turn was taken by the first ranking: this one looks with the next. */
            c->eligible = route_rank(v, a, c->model, v->turn + 1, &c->ranking);
            if (!c->ranking)
                return -1;
            *best = first_open(a, c->ranking, c->eligible); /* the old one is gone */
            fit = best_loaded(a, c->ranking, c->eligible, c->model, a->num_ctx);
            if (fit)
                c->context = ROUTE_CTX_UPGRADED;
        }
    }
    if (!fit) {
        if (m_ctx > 0) {
            /* Ollama will reload the model with the larger context: say so. */
            c->context = ROUTE_CTX_OVERFLOW;
            c->loaded_ctx = m_ctx;
        }
        return 0;
    }
    const struct node_model *fm = node_loaded_model(fit->node, c->model);
    c->loaded_ctx = fm ? fm->context_length : 0;
    if (mode == CONTEXT_STRIP) {
        c->strip_ctx = true;
        if (!c->context)
            c->context = ROUTE_CTX_STRIPPED;
    } else if (!c->context) {
        c->context = ROUTE_CTX_WARNED;
    }
    *best = fit;
    return 0;
}

/* Now and then (v->explore of the decisions, herd's policy only), the eligible node with the
 * model hot whose speed was observed least long ago, when it is not the best: a node that gets
 * no traffic would otherwise keep the speed it had, however much it changed. Hot only, so
 * that an exploration never costs a load. NULL when not exploring. */
static const struct score_result *explore(const struct route_fleet *v, const struct route_ask *a,
                                          const struct route_choice *c,
                                          const struct score_result *best)
{
    if (v->weights->policy != SCORE_POLICY_HERD || v->explore <= 0 || !v->costs ||
        (double)(hash_mix64(v->turn) % 1000000) >= v->explore * 1e6)
        return NULL;
    const struct score_result *pick = NULL;
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < c->eligible; i++) {
        const struct score_result *r = &c->ranking[i];
        if (r == best || excluded(a, r->node->id) || !node_loaded_model(r->node, c->model))
            continue;
        const struct cost_speed *e = cost_find(v->costs, r->node->id, c->model);
        uint64_t used = e ? e->used : 0;
        if (used < oldest) {
            oldest = used;
            pick = r;
        }
    }
    return pick;
}

enum route_outcome route_decide(const struct route_fleet *v, const struct route_ask *a,
                                struct route_choice *c)
{
    memset(c, 0, sizeof *c);
    if (a->fixed_model) {
        snprintf(c->model, sizeof c->model, "%s", a->fixed_model);
    } else {
        enum route_outcome o = choose_model(v, a, c);
        if (o != ROUTE_GO)
            return c->outcome = o;
    }
    c->eligible = route_rank(v, a, c->model, v->turn, &c->ranking);
    if (!c->ranking)
        return no_memory(c);
    c->n_ranking = v->n_nodes;
    c->took_turn = true;
    const struct score_result *best = first_open(a, c->ranking, c->eligible);
    if (!best)
        return hold_on(c, a, c->ranking, c->n_ranking, c->model);
    const struct score_result *probe = explore(v, a, c, best);
    if (probe) {
        best = probe;
        c->explored = true;
    }
    if (protect_context(v, a, c, &best) != 0)
        return no_memory(c);
    if (!best)
        return hold_on(c, a, c->ranking, c->n_ranking, c->model);
    c->node = best->node;
    c->score = best->b;
    return c->outcome = ROUTE_GO;
}

void route_choice_free(struct route_choice *c)
{
    if (!c)
        return;
    free(c->ranking);
    c->ranking = NULL;
    c->n_ranking = c->eligible = 0;
}

bool route_other_node(const struct route_fleet *v, const struct route_ask *a, const char *current)
{
    struct score_result *res = NULL;
    const char *model = a->fixed_model ? a->fixed_model : a->chain[0];
    size_t eligible = route_rank(v, a, model, v->turn, &res);
    bool other = false;
    for (size_t i = 0; res && i < eligible && !other; i++)
        other = !excluded(a, res[i].node->id) && strcmp(res[i].node->id, current) != 0;
    free(res);
    return other;
}
