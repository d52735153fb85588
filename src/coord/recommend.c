/* recommend: the model placement plan (see recommend.h). */
#include "coord/recommend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct planned {
    double left_gb;      /* memory not yet planned for a model */
    double disk_left_gb; /* < 0 when unknown */
    json_t *keep, *pull, *remove;
    double planned_gb;
};

/* A model with demand, as the plan sees it. */
struct placing {
    const struct rec_demand *d;
    double size; /* GB */
    bool known;  /* a node reported the size (else herd's estimate) */
    int have;    /* usable nodes that have it */
};

static int by_demand(const void *a, const void *b)
{
    const struct rec_demand *x = ((const struct placing *)a)->d;
    const struct rec_demand *y = ((const struct placing *)b)->d;
    if (x->requests_7d != y->requests_7d)
        return x->requests_7d > y->requests_7d ? -1 : 1;
    return strcmp(x->model, y->model);
}

/* The memory a node offers to models. */
static double offers_gb(const struct node *n)
{
    if (!n->has_memory)
        return 0;
    double offers = n->mem_total_gb - REC_OS_OVERHEAD_GB;
    if (n->capacity.present && n->capacity.ceiling_gb > 0 && n->capacity.ceiling_gb < offers)
        offers = n->capacity.ceiling_gb;
    return offers > 0 ? offers : 0;
}

/* A model's size as some node reports it, or 0. */
static double reported_size(const struct rec_node *nodes, size_t n_nodes, const char *model)
{
    for (size_t i = 0; i < n_nodes; i++) {
        const struct node *n = nodes[i].node;
        const struct node_model *l = node_loaded_model(n, model);
        if (l && l->size_gb > 0)
            return l->size_gb;
        for (size_t k = 0; k < n->n_available; k++)
            if (strcmp(n->available[k].name, model) == 0 && n->available[k].size_gb > 0)
                return n->available[k].size_gb;
    }
    return 0;
}

static const struct rec_use *find_use(const struct rec_use *uses, size_t n_uses,
                                      const char *node_id, const char *model)
{
    for (size_t i = 0; i < n_uses; i++)
        if (strcmp(uses[i].node_id, node_id) == 0 && strcmp(uses[i].model, model) == 0)
            return &uses[i];
    return NULL;
}

static const struct rec_demand *find_demand(const struct rec_demand *d, size_t n, const char *model)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].model, model) == 0)
            return &d[i];
    return NULL;
}

/* The number of nodes a model should be on: its share of the requests, of the usable nodes. */
static int target_nodes(const struct rec_demand *d, int64_t total, int usable)
{
    if (usable == 0 || d->requests_7d <= 0)
        return 0;
    int t = (int)ceil((double)d->requests_7d / (double)total * usable - 1e-9);
    if (t < 1)
        t = 1;
    if (d->requests_7d >= REC_BUSY_REQUESTS && usable >= 2 && t < 2)
        t = 2;
    return t > usable ? usable : t;
}

/* A model's size: as a node reports it, else herd's estimate (*known false). */
static double model_size(const struct rec_demand *d, const struct rec_node *nodes, size_t n_nodes,
                         bool *known, double (*size_of)(const char *, void *), void *size_arg)
{
    double size = reported_size(nodes, n_nodes, d->model);
    *known = size > 0;
    if (!*known)
        size = size_of ? size_of(d->model, size_arg) : 0;
    return size;
}

/* The usable nodes that have the model keep it, and its memory is theirs; counts them. */
static void reserve_copies(struct placing *m, const struct rec_node *nodes, size_t n_nodes,
                           struct planned *plan)
{
    double need = m->size * REC_KV_HEADROOM;
    for (size_t i = 0; i < n_nodes; i++) {
        if (!nodes[i].usable || !node_has_model(nodes[i].node, m->d->model))
            continue;
        m->have++;
        plan[i].left_gb = plan[i].left_gb > need ? plan[i].left_gb - need : 0;
        plan[i].planned_gb += m->size;
        json_array_append_new(plan[i].keep,
                              json_pack("{s:s, s:f, s:I}", "model", m->d->model, "size_gb", m->size,
                                        "requests_7d", (json_int_t)m->d->requests_7d));
    }
}

/* Plans the missing copies of one model (after every model's existing copies took their
 * memory); adds its row to models. */
static void plan_model(const struct placing *m, int64_t total, const struct rec_node *nodes,
                       size_t n_nodes, struct planned *plan, int usable, json_t *models)
{
    const struct rec_demand *d = m->d;
    double size = m->size;
    bool known = m->known;
    double need = size * REC_KV_HEADROOM;
    int target = target_nodes(d, total, usable);
    int have = m->have;
    double largest = 0;
    int added = 0;
    while (have + added < target) {
        long best = -1;
        for (size_t i = 0; i < n_nodes; i++) {
            if (!nodes[i].usable || node_has_model(nodes[i].node, d->model))
                continue;
            bool planned_here = false;
            json_t *p;
            size_t k;
            json_array_foreach (plan[i].pull, k, p)
                if (strcmp(json_string_value(json_object_get(p, "model")), d->model) == 0)
                    planned_here = true;
            if (planned_here || plan[i].left_gb < need)
                continue;
            if (plan[i].disk_left_gb >= 0 && plan[i].disk_left_gb < size)
                continue;
            if (best < 0 || plan[i].left_gb > plan[best].left_gb)
                best = (long)i;
        }
        if (best < 0)
            break;
        char reason[200];
        if (have == 0 && d->requests_7d == 1)
            snprintf(reason, sizeof reason, "requested once this week and no node has it");
        else if (have == 0)
            snprintf(reason, sizeof reason, "requested %lld times this week and no node has it",
                     (long long)d->requests_7d);
        else
            snprintf(reason, sizeof reason,
                     "%lld requests this week (%.0f%% of all); on %d of the %d nodes it should be "
                     "on",
                     (long long)d->requests_7d, 100.0 * (double)d->requests_7d / (double)total,
                     have + added, target);
        struct planned *p = &plan[best];
        p->left_gb -= need;
        p->planned_gb += size;
        if (p->disk_left_gb >= 0)
            p->disk_left_gb -= size;
        json_array_append_new(p->pull,
                              json_pack("{s:s, s:f, s:b, s:I, s:s}", "model", d->model, "size_gb",
                                        size, "size_known", known, "requests_7d",
                                        (json_int_t)d->requests_7d, "reason", reason));
        added++;
    }
    const char *status = "ok";
    char note[240] = "";
    if (have + added < target) {
        for (size_t i = 0; i < n_nodes; i++)
            if (nodes[i].usable && offers_gb(nodes[i].node) > largest)
                largest = offers_gb(nodes[i].node);
        if (have == 0 && largest < need) {
            status = "too_big";
            snprintf(note, sizeof note,
                     "needs about %.1f GB with room for its context; the largest node offers "
                     "%.1f GB",
                     need, largest);
        } else {
            status = "no_room";
            snprintf(note, sizeof note,
                     "should be on %d nodes, is on %d; no other node has the memory or disk left",
                     target, have + added);
        }
    } else if (added > 0) {
        status = have == 0 ? "missing" : "add_copies";
        snprintf(note, sizeof note, "pull it onto %d more node%s", added, added == 1 ? "" : "s");
    }
    json_array_append_new(
        models, json_pack("{s:s, s:f, s:b, s:I, s:I, s:I, s:i, s:i, s:s, s:s}", "model", d->model,
                          "size_gb", size, "size_known", known, "requests_7d",
                          (json_int_t)d->requests_7d, "requests_24h", (json_int_t)d->requests_24h,
                          "unserved_7d", (json_int_t)d->unserved_7d, "nodes_with_it", have,
                          "target_nodes", target, "status", status, "note", note));
}

/* Models on a node's disk that nobody used lately. Returns the space they take. */
static double plan_removals(const struct rec_node *rn, struct planned *p,
                            const struct rec_demand *demand, size_t n_demand,
                            const struct rec_use *uses, size_t n_uses)
{
    const struct node *n = rn->node;
    double total = 0;
    for (size_t k = 0; k < n->n_available; k++) {
        const struct node_model *m = &n->available[k];
        if (node_loaded_model(n, m->name))
            continue;
        const struct rec_demand *d = find_demand(demand, n_demand, m->name);
        if (d && d->requests_7d > 0)
            continue;
        const struct rec_use *u = find_use(uses, n_uses, n->id, m->name);
        if (u && u->requests > 0)
            continue;
        char reason[120];
        snprintf(reason, sizeof reason, "not loaded, and no request for it in %d days",
                 REC_UNUSED_DAYS);
        json_array_append_new(p->remove, json_pack("{s:s, s:f, s:f, s:s}", "model", m->name,
                                                   "size_gb", m->size_gb, "last_used",
                                                   u ? u->last_used : 0.0, "reason", reason));
        total += m->size_gb;
    }
    return total;
}

json_t *recommend_plan(const struct rec_node *nodes, size_t n_nodes,
                       const struct rec_demand *demand, size_t n_demand, const struct rec_use *uses,
                       size_t n_uses, double (*size_of)(const char *model, void *arg),
                       void *size_arg)
{
    struct planned *plan = calloc(n_nodes ? n_nodes : 1, sizeof *plan);
    struct placing *order = calloc(n_demand ? n_demand : 1, sizeof *order);
    json_t *out = json_object(), *models = json_array(), *jnodes = json_array();
    if (!plan || !order || !out || !models || !jnodes) {
        free(plan);
        free(order);
        json_decref(out);
        json_decref(models);
        json_decref(jnodes);
        return NULL;
    }
    int usable = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        plan[i].left_gb = offers_gb(nodes[i].node);
        plan[i].disk_left_gb = nodes[i].disk_free_gb;
        plan[i].keep = json_array();
        plan[i].pull = json_array();
        plan[i].remove = json_array();
        usable += nodes[i].usable;
    }
    int64_t total = 0;
    size_t n_order = 0;
    for (size_t i = 0; i < n_demand; i++)
        if (demand[i].requests_7d > 0) {
            struct placing *m = &order[n_order++];
            m->d = &demand[i];
            m->size = model_size(m->d, nodes, n_nodes, &m->known, size_of, size_arg);
            total += demand[i].requests_7d;
        }
    qsort(order, n_order, sizeof *order, by_demand);
    for (size_t i = 0; i < n_order; i++)
        reserve_copies(&order[i], nodes, n_nodes, plan);
    for (size_t i = 0; i < n_order; i++)
        plan_model(&order[i], total, nodes, n_nodes, plan, usable, models);

    int pulls = 0, removals = 0;
    double reclaimable = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        const struct node *n = nodes[i].node;
        reclaimable += plan_removals(&nodes[i], &plan[i], demand, n_demand, uses, n_uses);
        pulls += (int)json_array_size(plan[i].pull);
        removals += (int)json_array_size(plan[i].remove);
        json_array_append_new(jnodes, json_pack("{s:s, s:b, s:f, s:f, s:f, s:o, s:o, s:o}",
                                                "node_id", n->id, "usable", nodes[i].usable,
                                                "memory_gb", n->has_memory ? n->mem_total_gb : 0.0,
                                                "offers_gb", offers_gb(n), "planned_gb",
                                                plan[i].planned_gb, "keep", plan[i].keep, "pull",
                                                plan[i].pull, "remove", plan[i].remove));
    }
    json_object_set_new(out, "nodes", jnodes);
    json_object_set_new(out, "models", models);
    json_object_set_new(out, "summary",
                        json_pack("{s:i, s:i, s:f}", "pulls", pulls, "removals", removals,
                                  "reclaimable_gb", reclaimable));
    free(plan);
    free(order);
    return out;
}
