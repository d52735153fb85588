/* coord_route: a request's route on the loop. The decision itself is route.c's (pure); here
 * the fleet is shown to it, its choice is taken into the request, and the request takes a slot
 * on its node:model, or waits in the holding queue, in order, woken by heartbeats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "coord/coord_fwd.h"
#include "coord/route.h"
#include "coord/trace_store.h"

static double p75_of(const void *ctx, const char *node_id, const char *model)
{
    return trace_store_p75((struct trace_store *)ctx, node_id, model);
}

void fwd_fleet_view(const struct coord *c, struct route_fleet *v)
{
    memset(v, 0, sizeof *v);
    v->nodes = (const struct node *const *)c->registry.nodes;
    v->n_nodes = c->registry.n;
    v->queues = &c->queues;
    v->weights = &c->weights;
    v->p75_ms = c->traces ? p75_of : NULL;
    v->p75_ctx = c->traces;
    v->now = time_wall();
    v->turn = c->decisions;
    v->vram_fallback = c->settings->vram_fallback;
    v->auto_pull = c->settings->auto_pull;
    v->context_mode = (enum context_mode)c->settings->context_protection;
}

void fwd_ask(const struct fwd *f, struct route_ask *a, const char **excluded)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < f->n_excluded; i++)
        excluded[i] = f->excluded[i];
    a->chain = (const char(*)[MODEL_NAME_MAX])f->chain;
    a->n_chain = f->n_chain;
    a->model_sent = f->model_sent;
    a->fixed_model = f->model_fixed ? f->model : NULL;
    a->excluded = excluded;
    a->n_excluded = f->n_excluded;
    a->needs = f->needs;
    a->num_ctx = f->num_ctx;
    a->tokens = f->tokens;
    a->openai = f->route->openai;
    a->embedding = f->route->embedding;
    a->queued = f->route->queued;
    a->pulled = f->pulled;
}

/* Takes what the decision says about the model and the request's num_ctx. */
static void adopt(struct fwd *f, const struct route_choice *ch)
{
    if (!f->model_fixed) { /* a retry keeps the model and why it was chosen */
        f->fallback = ch->fallback;
        if (ch->fallback)
            LOG_INFO("request %s: model %s served by %s (%s)", f->id, f->chain[0], ch->model,
                     route_fallback_name(ch->fallback));
        snprintf(f->model, sizeof f->model, "%s", ch->model);
    }
    f->strip_ctx = ch->strip_ctx;
    f->context_action = ch->context;
    f->loaded_ctx = ch->loaded_ctx;
    if (ch->context == ROUTE_CTX_OVERFLOW)
        LOG_WARN("request %s: num_ctx %lld is more than %s is loaded with on %s (%lld); the node "
                 "will reload it",
                 f->id, (long long)f->num_ctx, f->model, ch->node->id, (long long)ch->loaded_ctx);
    else if (ch->context && !ch->strip_ctx)
        LOG_WARN("request %s: num_ctx %lld sent to %s on %s, loaded with %lld: a different "
                 "num_ctx makes Ollama reload the model (FLEET_CONTEXT_PROTECTION=warn keeps it)",
                 f->id, (long long)f->num_ctx, f->model, ch->node->id, (long long)ch->loaded_ctx);
}

int fwd_route(struct fwd *f, char *err, size_t errlen)
{
    struct coord *c = f->c;
    struct route_fleet view;
    struct route_ask ask;
    const char *excluded[MAX_ATTEMPTS];
    struct route_choice ch;
    fwd_fleet_view(c, &view);
    fwd_ask(f, &ask, excluded);
    enum route_outcome o = route_decide(&view, &ask, &ch);
    if (ch.took_turn)
        c->decisions++;
    if (o != ROUTE_GO) {
        snprintf(err, errlen, "%s", ch.why);
        route_choice_free(&ch);
        switch (o) {
        case FWD_HOLD:
            return FWD_HOLD;
        case FWD_PULL:
            return FWD_PULL;
        case ROUTE_NOT_FOUND:
            return 404;
        default:
            return 503;
        }
    }
    adopt(f, &ch);
    const struct node *node = ch.node;
    f->score = ch.score;
    f->model_fixed = true;
    fwd_unhold(f);
    snprintf(f->node_id, sizeof f->node_id, "%s", node->id);
    snprintf(f->url, sizeof f->url, "%s%s", node->url, f->route->path);
    route_choice_free(&ch);
    LOG_DEBUG("request %s model=%s node=%s score=%.1f attempt=%d", f->id, f->model, f->node_id,
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
        snprintf(err, errlen, "too many requests waiting for %s on %s (%lld)", f->model, f->node_id,
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
    if (status == FWD_PULL)                     /* the fleet is known now, and lacks the model */
        status = coord_pull_wait(f, err, sizeof err);
    if (status == 0)
        return;
    char msg[700];
    if (status == FWD_HOLD || status == FWD_PULL)
        snprintf(msg, sizeof msg, "%s; waited %.0f s", err, f->c->settings->hold_timeout);
    else
        snprintf(msg, sizeof msg, "%s", err);
    LOG_INFO("request %s model=%s: gave up waiting for a node: %s", f->id, f->model, msg);
    fwd_fail(f, status == FWD_HOLD || status == FWD_PULL ? 503 : status, msg);
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
    if (status == FWD_PULL) {
        fwd_unhold(f);
        status = coord_pull_wait(f, err, sizeof err);
        if (status == 0)
            return;
    }
    if (status == FWD_HOLD) {
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
