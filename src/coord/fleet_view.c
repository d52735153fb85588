#include "coord/fleet_view.h"

#include <string.h>

#include "common/timeutil.h"
#include "coord/trace_store.h"

static double p75_of(const void *ctx, const char *node_id, const char *model)
{
    return trace_store_p75((struct trace_store *)ctx, node_id, model);
}

void fleet_view_of(const struct coord *c, struct route_fleet *v)
{
    memset(v, 0, sizeof *v);
    v->nodes = (const struct node *const *)c->registry.nodes;
    v->n_nodes = c->registry.n;
    v->queues = &c->queues;
    v->weights = &c->weights;
    v->p75_ms = c->traces ? p75_of : NULL;
    v->p75_ctx = c->traces;
    v->costs = &c->costs;
    v->prefixes = &c->prefixes;
    v->breakers = &c->breakers;
    v->clock = time_mono();
    v->default_slots = (int)c->settings->default_parallel;
    v->now = time_wall();
    v->turn = c->decisions;
    v->explore = c->settings->routing_explore;
    v->vram_fallback = c->settings->vram_fallback;
    v->auto_pull = c->settings->auto_pull;
    v->context_mode = (enum context_mode)c->settings->context_protection;
}
