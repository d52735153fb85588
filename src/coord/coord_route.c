/* coord_route: which model and which node serve a request, and where it waits when none can
 * yet.
 *
 * The model: the first of the request's chain (model, then fallback_models) that is loaded on
 * an eligible node, else the first that any eligible node has; with no chain and the model
 * loaded nowhere, a loaded model of the same kind that can do what the request needs (the VRAM
 * fallback). The node: the best score for that model, except that a request whose num_ctx the
 * model's loaded context cannot hold goes where it can (context protection). A request no node
 * can take waits in the holding queue, in order, woken by heartbeats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "coord/coord_fwd.h"
#include "coord/model_class.h"

/* Whether an eligible node (not already tried) has model loaded; if ctx > 0, with at least
 * that context. Returns the best such result, or NULL. */
static const struct score_result *best_loaded(const struct fwd *f, const struct score_result *res,
                                              size_t eligible, const char *model, int64_t ctx)
{
    for (size_t i = 0; i < eligible; i++) {
        if (fwd_excluded(f, res[i].node->id))
            continue;
        const struct node_model *m = node_loaded_model(res[i].node, model);
        if (m && (ctx <= 0 || m->context_length >= ctx))
            return &res[i];
    }
    return NULL;
}

static bool exists_anywhere(const struct coord *c, const char *model)
{
    for (size_t i = 0; i < c->registry.n; i++)
        if (node_has_model(c->registry.nodes[i], model))
            return true;
    return false;
}

/* What the fleet says the model can do: its capabilities on any node that reported them. */
static unsigned fleet_caps(const struct coord *c, const char *model)
{
    for (size_t i = 0; i < c->registry.n; i++) {
        unsigned caps = node_model_caps(c->registry.nodes[i], model);
        if (caps & MCAP_KNOWN)
            return caps;
    }
    return 0;
}

static double model_size(const struct coord *c, const char *model)
{
    return score_model_size(model, (const struct node *const *)c->registry.nodes, c->registry.n);
}

/* A loaded model that may stand in for model: same category, every capability the request
 * needs, larger than min_size_gb and with a loaded context of at least ctx (0: any),
 * loaded on an eligible node. Among several, the closest in size to model. Writes its name to
 * out and returns true when there is one. */
static bool find_stand_in(struct fwd *f, const char *model, double min_size_gb, int64_t ctx,
                          char *out, size_t outlen)
{
    struct coord *c = f->c;
    enum model_category cat = model_category(model, fleet_caps(c, model));
    double want = model_size(c, model);
    double best_dist = INFINITY, best_size = 0;
    bool found = false;
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        for (size_t k = 0; k < n->n_loaded; k++) {
            const struct node_model *m = &n->loaded[k];
            if (strcmp(m->name, model) == 0 || (found && strcmp(m->name, out) == 0))
                continue;
            unsigned caps = m->caps ? m->caps : node_model_caps(n, m->name);
            if (model_category(m->name, caps) != cat || !model_caps_satisfy(caps, f->needs))
                continue;
            double size = m->size_gb > 0 ? m->size_gb : model_size(c, m->name);
            if (size <= min_size_gb || (ctx > 0 && m->context_length < ctx))
                continue;
            double dist = fabs(log((size + 0.01) / (want + 0.01)));
            if (dist > best_dist || (dist == best_dist && size <= best_size))
                continue;
            struct score_result *res = NULL;
            size_t eligible = coord_rank_nodes(c, m->name, f->tokens, false, &res);
            bool usable = best_loaded(f, res, eligible, m->name, ctx) != NULL;
            free(res);
            if (!usable)
                continue;
            snprintf(out, outlen, "%s", m->name);
            best_dist = dist;
            best_size = size;
            found = true;
        }
    }
    return found;
}

/* Whether any node:model queue of the model has requests running or waiting. */
static bool has_requests(const struct coord *c, const char *model)
{
    for (size_t i = 0; i < c->queues.n; i++)
        if (strcmp(c->queues.q[i]->model, model) == 0 &&
            c->queues.q[i]->in_flight + c->queues.q[i]->pending > 0)
            return true;
    return false;
}

static void use_model(struct fwd *f, const char *model, const char *reason)
{
    if (strcmp(model, f->chain[0]) != 0) {
        f->fallback_used = true;
        f->fallback_reason = reason;
        LOG_INFO("request %s: model %s served by %s (%s)", f->id, f->chain[0], model, reason);
    } else {
        f->fallback_used = false;
        f->fallback_reason = NULL;
    }
    snprintf(f->model, sizeof f->model, "%s", model);
}

/* Why no node can take the model, for the 503 message. */
static void explain(const struct score_result *res, size_t n, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < outlen; i++) {
        if (res[i].verdict == SCORE_NO_MODEL)
            continue;
        int k = snprintf(out + used, outlen - used, "%s%s: %s", used ? ", " : "", res[i].node->id,
                         score_verdict_name(res[i].verdict));
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

/* Chooses the model, once (before any node was tried). Returns 0, ROUTE_HOLD, ROUTE_PULL or
 * 404 (message in err). */
static int choose_model(struct fwd *f, char *err, size_t errlen)
{
    struct coord *c = f->c;
    int first_any = -1;
    for (int k = 0; k < f->n_chain; k++) {
        struct score_result *res = NULL;
        size_t eligible = coord_rank_nodes(c, f->chain[k], f->tokens, false, &res);
        bool hot = best_loaded(f, res, eligible, f->chain[k], 0) != NULL;
        free(res);
        if (hot) {
            use_model(f, f->chain[k], "fallback_models");
            return 0;
        }
        if (eligible > 0 && first_any < 0)
            first_any = k;
    }
    /* Loaded nowhere. Rather than a cold load, a loaded model of the same kind may serve: not
     * one less than half its size (a quality the client did not ask for), and not while the
     * model has requests somewhere (it is being loaded for them: joining them is better). */
    char stand_in[MODEL_NAME_MAX];
    if (f->n_chain == 1 && c->settings->vram_fallback && !f->route->embedding && f->route->queued &&
        !f->pulled && exists_anywhere(c, f->chain[0]) && !has_requests(c, f->chain[0]) &&
        find_stand_in(f, f->chain[0], model_size(c, f->chain[0]) / 2, 0, stand_in,
                      sizeof stand_in)) {
        use_model(f, stand_in, "vram");
        return 0;
    }
    if (first_any >= 0) {
        use_model(f, f->chain[first_any], "fallback_models");
        return 0;
    }
    bool anywhere = false, known_fleet = false;
    for (int k = 0; k < f->n_chain; k++)
        anywhere |= exists_anywhere(c, f->chain[k]);
    for (size_t i = 0; i < c->registry.n; i++)
        known_fleet |= c->registry.nodes[i]->has_ollama;
    if (anywhere) {
        struct score_result *res = NULL;
        coord_rank_nodes(c, f->chain[0], f->tokens, false, &res);
        char why[400];
        explain(res, c->registry.n, why, sizeof why);
        free(res);
        snprintf(err, errlen, "no node can serve model '%s' now (%s)", f->chain[0], why);
        return ROUTE_HOLD;
    }
    snprintf(err, errlen, "model '%s' not found", f->model_sent);
    if (!known_fleet)
        return ROUTE_HOLD; /* with no node known yet (herd just started), it may still appear */
    if (c->settings->auto_pull && f->route->queued && !f->pulled)
        return ROUTE_PULL;
    return 404;
}

/* Context protection, once the node is chosen: returns the result to use (best, or another
 * node where the loaded context holds the request's num_ctx). May change the model (a larger
 * loaded model with enough context), in which case *res_io is re-ranked. */
static const struct score_result *protect_context(struct fwd *f, const struct score_result *best,
                                                  struct score_result **res_io, size_t *eligible)
{
    struct coord *c = f->c;
    int mode = c->settings->context_protection;
    f->strip_ctx = false;
    f->context_action = NULL;
    f->loaded_ctx = 0;
    if (f->num_ctx <= 0 || f->route->openai || mode == CONTEXT_PASSTHROUGH)
        return best;
    const struct node_model *m = node_loaded_model(best->node, f->model);
    const struct score_result *fit = best;
    if (!m || m->context_length < f->num_ctx) {
        fit = best_loaded(f, *res_io, *eligible, f->model, f->num_ctx);
        if (fit)
            f->context_action = "moved";
    }
    if (!fit && mode == CONTEXT_STRIP && !f->model_fixed && !f->route->embedding && m &&
        m->context_length > 0) {
        /* Loaded here with less context: a larger loaded model that has enough serves. */
        char bigger[MODEL_NAME_MAX];
        if (find_stand_in(f, f->model, m->size_gb > 0 ? m->size_gb : model_size(c, f->model),
                          f->num_ctx, bigger, sizeof bigger)) {
            use_model(f, bigger, "context");
            free(*res_io);
            *eligible = coord_rank_nodes(c, f->model, f->tokens, false, res_io);
            fit = best_loaded(f, *res_io, *eligible, f->model, f->num_ctx);
            if (fit)
                f->context_action = "upgraded";
        }
    }
    if (!fit) {
        if (m && m->context_length > 0) {
            /* Ollama will reload the model with the larger context: say so. */
            f->context_action = "overflow";
            f->loaded_ctx = m->context_length;
            LOG_WARN("request %s: num_ctx %lld is more than %s is loaded with on %s (%lld); "
                     "the node will reload it",
                     f->id, (long long)f->num_ctx, f->model, best->node->id,
                     (long long)m->context_length);
        }
        return best;
    }
    const struct node_model *fm = node_loaded_model(fit->node, f->model);
    if (mode == CONTEXT_STRIP) {
        f->strip_ctx = true;
        if (!f->context_action)
            f->context_action = "stripped";
    } else {
        if (!f->context_action)
            f->context_action = "warned";
        LOG_WARN("request %s: num_ctx %lld sent to %s on %s, loaded with %lld: a different "
                 "num_ctx makes Ollama reload the model (FLEET_CONTEXT_PROTECTION=warn keeps it)",
                 f->id, (long long)f->num_ctx, f->model, fit->node->id,
                 (long long)(fm ? fm->context_length : 0));
    }
    return fit;
}

int fwd_route(struct fwd *f, char *err, size_t errlen)
{
    struct coord *c = f->c;
    if (!f->model_fixed) {
        int rc = choose_model(f, err, errlen);
        if (rc)
            return rc;
    }
    struct score_result *res = NULL;
    size_t eligible = coord_rank_nodes(c, f->model, f->tokens, true, &res);
    const struct score_result *best = NULL;
    for (size_t i = 0; i < eligible && !best; i++)
        if (!fwd_excluded(f, res[i].node->id))
            best = &res[i];
    if (!best) {
        char why[400];
        explain(res, c->registry.n, why, sizeof why);
        free(res);
        snprintf(err, errlen, "no node can serve model '%s' now (%s)", f->model, why);
        return ROUTE_HOLD;
    }
    best = protect_context(f, best, &res, &eligible);
    const struct node *node = best->node;
    f->score = best->b;
    free(res);
    f->model_fixed = true;
    fwd_unhold(f);
    snprintf(f->node_id, sizeof f->node_id, "%s", node->id);
    snprintf(f->url, sizeof f->url, "%s%s", node->url, f->route->path);
    LOG_DEBUG("request %s model=%s node=%s score=%.1f attempt=%d", f->id, f->model, node->id,
              f->score.total, f->retries + 1);
    if (!f->route->queued) {
        fwd_start_upstream(f);
        return 0;
    }
    f->q = queue_get(&c->queues, node->id, f->model);
    if (!f->q) {
        snprintf(err, errlen, "out of memory");
        return 503;
    }
    queue_set_concurrency(f->q, coord_queue_concurrency(c, node));
    int rc = queue_enter(&c->queues, f->q, &f->w);
    if (rc < 0) {
        f->q = NULL;
        snprintf(err, errlen, "too many requests waiting for %s on %s (%lld)", f->model, node->id,
                 (long long)c->settings->max_queue);
        return 503;
    }
    if (rc == 1) {
        f->in_flight = true;
        fwd_start_upstream(f);
    }
    return 0;
}

/* ---- the holding queue ---- */

void fwd_unhold(struct fwd *f)
{
    if (!f->held)
        return;
    TAILQ_REMOVE(&f->c->held, f, hold_link);
    f->held = false;
    f->c->n_held--;
    if (f->hold_timer)
        evtimer_del(f->hold_timer);
}

static void on_hold_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fwd *f = arg;
    fwd_unhold(f);
    char err[512];
    int status = fwd_route(f, err, sizeof err); /* a last look; f may be gone if it went */
    if (status == ROUTE_PULL)                   /* the fleet is known now, and lacks the model */
        status = coord_pull_wait(f, err, sizeof err);
    if (status == 0)
        return;
    char msg[700];
    if (status == ROUTE_HOLD || status == ROUTE_PULL)
        snprintf(msg, sizeof msg, "%s; waited %.0f s", err, f->c->settings->hold_timeout);
    else
        snprintf(msg, sizeof msg, "%s", err);
    LOG_INFO("request %s model=%s: gave up waiting for a node: %s", f->id, f->model, msg);
    fwd_fail(f, status == ROUTE_HOLD || status == ROUTE_PULL ? 503 : status, msg);
}

static bool hold(struct fwd *f, const char *why)
{
    struct coord *c = f->c;
    if (c->n_held >= (size_t)c->settings->max_queue || c->settings->hold_timeout <= 0)
        return false;
    if (!f->hold_timer) {
        f->hold_timer = evtimer_new(c->base, on_hold_deadline, f);
        if (!f->hold_timer)
            return false;
    }
    struct timeval tv = time_tv(c->settings->hold_timeout);
    evtimer_add(f->hold_timer, &tv);
    TAILQ_INSERT_TAIL(&c->held, f, hold_link);
    f->held = true;
    c->n_held++;
    LOG_INFO("request %s model=%s waits for a node (%s)", f->id, f->chain[0], why);
    return true;
}

void fwd_dispatch(struct fwd *f)
{
    char err[512];
    int status = fwd_route(f, err, sizeof err);
    if (status == 0)
        return;
    if (status == ROUTE_PULL) {
        fwd_unhold(f);
        status = coord_pull_wait(f, err, sizeof err);
        if (status == 0)
            return;
    }
    if (status == ROUTE_HOLD) {
        if (f->held || hold(f, err))
            return; /* waits (on) for a node */
        status = 503;
    }
    fwd_unhold(f);
    LOG_INFO("request %s model=%s: %s", f->id, f->chain[0], err);
    fwd_fail(f, status, err);
}

void coord_proxy_wake(struct coord *c)
{
    struct fwd *f = TAILQ_FIRST(&c->held);
    while (f) {
        struct fwd *next = TAILQ_NEXT(f, hold_link);
        fwd_dispatch(f); /* stays held if still no node can take it */
        f = next;
    }
}

void coord_proxy_node_gone(struct coord *c, const char *node_id)
{
    struct fwd *f = LIST_FIRST(&c->active);
    while (f) {
        struct fwd *next = LIST_NEXT(f, link);
        if (f->q && !f->in_flight && !f->up && strcmp(f->q->node_id, node_id) == 0) {
            /* Not started on the node yet: it goes elsewhere, without counting as a retry. */
            LOG_INFO("request %s model=%s: node %s left before the request started; routing "
                     "it again",
                     f->id, f->model, node_id);
            queue_withdraw(f->q, &f->w);
            f->q = NULL;
            fwd_dispatch(f);
        }
        f = next;
    }
}
