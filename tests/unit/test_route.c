/* The routing decision, one test per rule it applies: the fallback chain, the VRAM fallback,
 * hold / pull / 404, the node choice with retries left out, context protection, the turn. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/model_caps.h"
#include "coord/route.h"

#define MAX_NODES 4
#define MAX_MODELS 4

/* A fleet of up to four nodes, each with its own loaded and on-disk models. */
struct fleet {
    struct node nodes[MAX_NODES];
    struct node_model loaded[MAX_NODES][MAX_MODELS];
    struct node_model disk[MAX_NODES][MAX_MODELS];
    const struct node *ptrs[MAX_NODES];
    size_t n;
    struct queue_set queues;
    struct score_weights w;
    struct route_fleet view;
};

static struct fleet F;

static struct node *add_node(const char *id, double avail_gb)
{
    size_t i = F.n++;
    struct node *n = &F.nodes[i];
    memset(n, 0, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", id);
    n->order = (int)i;
    n->status = NODE_ONLINE;
    n->has_ollama = n->ollama_up = true;
    n->has_memory = true;
    n->mem_available_gb = avail_gb;
    n->mem_total_gb = 64;
    n->loaded = F.loaded[i];
    n->available = F.disk[i];
    F.ptrs[i] = n;
    F.view.n_nodes = F.n;
    return n;
}

static void load(struct node *n, const char *model, double size, int64_t ctx, unsigned caps)
{
    struct node_model *m = &n->loaded[n->n_loaded++];
    snprintf(m->name, sizeof m->name, "%s", model);
    m->size_gb = size;
    m->context_length = ctx;
    m->caps = caps;
    struct node_model *d = &n->available[n->n_available++];
    snprintf(d->name, sizeof d->name, "%s", model);
    d->size_gb = size;
    d->caps = caps;
}

static void on_disk(struct node *n, const char *model, double size)
{
    struct node_model *d = &n->available[n->n_available++];
    snprintf(d->name, sizeof d->name, "%s", model);
    d->size_gb = size;
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    score_weights_default(&F.w);
    queue_set_init(&F.queues, 100);
    F.view.nodes = F.ptrs;
    F.view.queues = &F.queues;
    F.view.weights = &F.w;
    F.view.now = 100000;
    F.view.vram_fallback = true;
    F.view.auto_pull = false;
    F.view.context_mode = CONTEXT_STRIP;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    queue_set_free(&F.queues);
    return 0;
}

/* What a request asks, built up by the tests. */
struct ask {
    char chain[ROUTE_MAX_CHAIN][MODEL_NAME_MAX];
    const char *excluded[4];
    struct route_ask a;
};

static struct ask A;

static struct route_ask *ask_for(const char *model)
{
    memset(&A, 0, sizeof A);
    snprintf(A.chain[0], MODEL_NAME_MAX, "%s", model);
    A.a.chain = (const char(*)[MODEL_NAME_MAX])A.chain;
    A.a.n_chain = 1;
    A.a.model_sent = model;
    A.a.excluded = A.excluded;
    A.a.needs = MCAP_COMPLETION;
    A.a.tokens = 100;
    A.a.queued = true;
    return &A.a;
}

static void add_fallback(const char *model)
{
    snprintf(A.chain[A.a.n_chain++], MODEL_NAME_MAX, "%s", model);
}

static void exclude(const char *node)
{
    A.excluded[A.a.n_excluded++] = node;
}

/* A request running on node:model (it counts in the queue depth). */
static void busy(const char *node, const char *model)
{
    struct fleet_queue *q = queue_get(&F.queues, node, model);
    assert_non_null(q);
    queue_set_concurrency(q, 4);
    static struct fq_waiter w[16];
    static int used;
    assert_int_equal(queue_enter(&F.queues, q, &w[used++ % 16]), 1);
}

static enum route_outcome decide(struct route_choice *c)
{
    memset(c, 0, sizeof *c);
    return route_decide(&F.view, &A.a, c);
}

/* ---- the model ---- */

static void asked_model_loaded_goes_hot(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    add_node("b", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    on_disk(&F.nodes[1], "llama3:8b", 5);
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    assert_int_equal(c.fallback, ROUTE_FALLBACK_NONE);
    assert_string_equal(c.node->id, "a");
    assert_true(c.took_turn);
    assert_int_equal(c.eligible, 2);
    assert_int_equal(c.n_ranking, 2);
    assert_ptr_equal(c.ranking[0].node, c.node);
    assert_true(c.score.total == c.ranking[0].b.total);
    route_choice_free(&c);
}

static void chain_prefers_a_loaded_fallback_over_a_cold_first(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    on_disk(a, "big:70b", 20);
    load(a, "small:8b", 5, 4096, 0);
    ask_for("big:70b");
    add_fallback("small:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "small:8b");
    assert_int_equal(c.fallback, ROUTE_FALLBACK_CHAIN);
    assert_string_equal(route_fallback_name(c.fallback), "fallback_models");
    route_choice_free(&c);
}

static void chain_takes_the_first_loaded_in_order(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    load(a, "two:8b", 5, 4096, 0);
    load(a, "three:8b", 5, 4096, 0);
    ask_for("one:8b");
    add_fallback("three:8b");
    add_fallback("two:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "three:8b");
    route_choice_free(&c);
}

static void chain_with_nothing_loaded_takes_the_first_on_disk(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    on_disk(a, "two:8b", 5);
    on_disk(a, "three:8b", 5);
    ask_for("one:8b"); /* nowhere */
    add_fallback("two:8b");
    add_fallback("three:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "two:8b");
    assert_int_equal(c.fallback, ROUTE_FALLBACK_CHAIN);
    route_choice_free(&c);

    /* The first of the chain on disk is no fallback. */
    ask_for("two:8b");
    add_fallback("three:8b");
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "two:8b");
    assert_int_equal(c.fallback, ROUTE_FALLBACK_NONE);
    route_choice_free(&c);
}

static void loaded_on_a_node_that_cannot_serve_is_not_hot(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "small:8b", 5, 4096, 0);
    a->pressure = PRESSURE_CRITICAL;
    on_disk(b, "big:14b", 9);
    ask_for("small:8b");
    add_fallback("big:14b");
    on_disk(b, "small:8b", 5);
    struct route_choice c;
    /* small is loaded only where the node is under critical pressure: cold on b it is, the
     * first of the chain that an eligible node has. */
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "small:8b");
    assert_string_equal(c.node->id, "b");
    route_choice_free(&c);
}

static void a_fixed_model_is_kept(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    load(a, "other:8b", 5, 4096, 0);
    on_disk(a, "asked:8b", 5);
    ask_for("asked:8b");
    A.a.fixed_model = "asked:8b";
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "asked:8b"); /* no VRAM fallback on a retry */
    route_choice_free(&c);
}

/* ---- the VRAM fallback ---- */

static void vram_fallback_serves_a_cold_model_with_a_loaded_one(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    on_disk(a, "llama3:8b", 5);
    load(a, "mistral:7b", 4.1, 4096, 0);
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "mistral:7b");
    assert_int_equal(c.fallback, ROUTE_FALLBACK_VRAM);
    assert_string_equal(route_fallback_name(c.fallback), "vram");
    route_choice_free(&c);
}

static void vram_fallback_takes_the_closest_in_size(void **state)
{
    (void)state;
    struct node *a = add_node("a", 100);
    on_disk(a, "llama3:8b", 5);
    load(a, "qwen:14b", 9, 4096, 0);
    load(a, "mistral:7b", 4.5, 4096, 0);
    load(a, "gemma:9b", 30, 4096, 0);
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "mistral:7b");
    route_choice_free(&c);
}

static void vram_fallback_at_equal_size_keeps_the_first_found(void **state)
{
    (void)state;
    struct node *a = add_node("a", 100);
    on_disk(a, "base:8b", 4);
    load(a, "x:7b", 4, 4096, 0);
    load(a, "y:7b", 4, 4096, 0);
    ask_for("base:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "x:7b");
    route_choice_free(&c);
}

static void vram_fallback_never_halves_the_model(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    on_disk(a, "llama3:8b", 5);
    load(a, "tiny:1b", 2.4, 4096, 0); /* under half of 5 */
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b"); /* a cold load instead */
    assert_int_equal(c.fallback, ROUTE_FALLBACK_NONE);
    route_choice_free(&c);
}

static void vram_fallback_keeps_the_kind_and_the_capabilities(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    on_disk(a, "llama3:8b", 5);
    load(a, "qwen2.5-coder:7b", 4.5, 4096, 0); /* coding, not general */
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    route_choice_free(&c);

    /* Tools asked for, and the loaded general model cannot use them. */
    load(a, "mistral:7b", 4.5, 4096, MCAP_KNOWN | MCAP_COMPLETION);
    ask_for("llama3:8b");
    A.a.needs = MCAP_COMPLETION | MCAP_TOOLS;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    route_choice_free(&c);

    /* With tools it can. */
    F.nodes[0].loaded[1].caps = MCAP_KNOWN | MCAP_COMPLETION | MCAP_TOOLS;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "mistral:7b");
    route_choice_free(&c);
}

static void vram_fallback_is_not_for_every_request(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    on_disk(a, "llama3:8b", 5);
    load(a, "mistral:7b", 4.5, 4096, 0);
    struct route_choice c;

    ask_for("llama3:8b");
    F.view.vram_fallback = false; /* turned off */
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    route_choice_free(&c);
    F.view.vram_fallback = true;

    ask_for("llama3:8b");
    add_fallback("mistral:7b"); /* a chain of the client's own: it decides */
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "mistral:7b");
    assert_int_equal(c.fallback, ROUTE_FALLBACK_CHAIN);
    route_choice_free(&c);

    ask_for("llama3:8b");
    A.a.embedding = true;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    route_choice_free(&c);

    ask_for("llama3:8b");
    A.a.queued = false; /* /api/show */
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    route_choice_free(&c);

    ask_for("llama3:8b");
    A.a.pulled = true;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    route_choice_free(&c);
}

static void vram_fallback_joins_requests_already_loading_the_model(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    on_disk(a, "llama3:8b", 5);
    load(a, "mistral:7b", 4.5, 4096, 0);
    busy("a", "llama3:8b"); /* being loaded for another request */
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    route_choice_free(&c);
}

static void vram_fallback_needs_a_usable_node_for_the_stand_in(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    on_disk(a, "llama3:8b", 5);
    load(b, "mistral:7b", 4.5, 4096, 0);
    b->draining = true;
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    assert_string_equal(c.node->id, "a");
    route_choice_free(&c);
}

/* ---- hold, pull, not found ---- */

static void unknown_model_is_404_with_the_name_sent(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    ask_for("nope:latest");
    A.a.model_sent = "nope";
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_NOT_FOUND);
    assert_string_equal(c.why, "model 'nope' not found");
    assert_null(c.node);
    assert_false(c.took_turn);
    route_choice_free(&c);
}

static void unknown_model_is_pulled_when_auto_pull_is_on(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    F.view.auto_pull = true;
    ask_for("nope:latest");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_PULL);
    route_choice_free(&c);

    A.a.pulled = true; /* pulled once already: no second pull */
    assert_int_equal(decide(&c), ROUTE_NOT_FOUND);
    route_choice_free(&c);

    ask_for("nope:latest");
    A.a.queued = false; /* /api/show pulls nothing */
    assert_int_equal(decide(&c), ROUTE_NOT_FOUND);
    route_choice_free(&c);
}

static void with_no_node_known_yet_it_waits(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    a->has_ollama = false; /* a heartbeat without Ollama's state */
    F.view.auto_pull = true;
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_HOLD);
    assert_string_equal(c.why, "model 'llama3:8b' not found");
    route_choice_free(&c);

    F.n = 0;
    F.view.n_nodes = 0;
    assert_int_equal(decide(&c), ROUTE_HOLD);
    route_choice_free(&c);
}

static void a_model_no_eligible_node_can_take_waits_and_says_why(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    struct node *z = add_node("z", 40); /* without the model: not named */
    load(a, "llama3:8b", 5, 4096, 0);
    on_disk(b, "llama3:8b", 5);
    on_disk(z, "other:8b", 5);
    a->status = NODE_OFFLINE;
    b->pressure = PRESSURE_CRITICAL;
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_HOLD);
    assert_string_equal(c.why,
                        "no node can serve model 'llama3:8b' now (a: offline, b: memory_pressure)");
    route_choice_free(&c);
}

static void a_cold_model_too_large_for_every_node_waits(void **state)
{
    (void)state;
    struct node *a = add_node("a", 10);
    on_disk(a, "big:70b", 42);
    ask_for("big:70b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_HOLD);
    assert_string_equal(c.why, "no node can serve model 'big:70b' now (a: insufficient_memory)");
    route_choice_free(&c);
}

/* ---- the node ---- */

static void the_best_score_wins_and_tried_nodes_are_left_out(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    struct node *d = add_node("d", 40);
    load(a, "llama3:8b", 5, 4096, 0); /* hot */
    on_disk(b, "llama3:8b", 5);       /* cold */
    on_disk(d, "llama3:8b", 5);
    d->mem_available_gb = 6; /* cold and a tight fit: last */
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.node->id, "a");
    route_choice_free(&c);

    A.a.fixed_model = "llama3:8b";
    exclude("a");
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.node->id, "b");
    route_choice_free(&c);

    exclude("b");
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.node->id, "d");
    route_choice_free(&c);

    exclude("d");
    assert_int_equal(decide(&c), ROUTE_HOLD);
    assert_string_equal(c.why,
                        "no node can serve model 'llama3:8b' now (a: tried, b: tried, d: tried)");
    assert_true(c.took_turn);
    route_choice_free(&c);
}

static void a_busy_node_loses_to_an_idle_one(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    load(b, "llama3:8b", 5, 4096, 0);
    a->num_parallel = b->num_parallel = 1;
    busy("a", "llama3:8b");
    busy("a", "llama3:8b");
    ask_for("llama3:8b");
    struct route_choice c;
    for (uint64_t turn = 0; turn < 4; turn++) {
        F.view.turn = turn;
        assert_int_equal(decide(&c), ROUTE_GO);
        assert_string_equal(c.node->id, "b");
        assert_true(c.ranking[1].b.queue_depth < 0);
        route_choice_free(&c);
    }
}

static void equal_nodes_share_the_work_by_turn(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    load(b, "llama3:8b", 5, 4096, 0);
    ask_for("llama3:8b");
    struct route_choice c;
    const char *seen[2];
    for (uint64_t turn = 0; turn < 2; turn++) {
        F.view.turn = turn;
        assert_int_equal(decide(&c), ROUTE_GO);
        seen[turn] = c.node->id;
        route_choice_free(&c);
    }
    assert_string_not_equal(seen[0], seen[1]);
}

static double fixed_p75(const void *ctx, const char *node_id, const char *model)
{
    (void)ctx;
    (void)model;
    return strcmp(node_id, "slow") == 0 ? 60000 : 500;
}

static void history_of_latency_counts_in_the_wait(void **state)
{
    (void)state;
    struct node *slow = add_node("slow", 40);
    struct node *fast = add_node("fast", 40);
    load(slow, "llama3:8b", 5, 4096, 0);
    load(fast, "llama3:8b", 5, 4096, 0);
    slow->num_parallel = fast->num_parallel = 1;
    busy("slow", "llama3:8b");
    busy("fast", "llama3:8b");
    F.view.p75_ms = fixed_p75;
    ask_for("llama3:8b");
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.node->id, "fast");
    assert_true(c.ranking[1].b.wait_time < c.ranking[0].b.wait_time);
    route_choice_free(&c);
}

static void retry_needs_another_eligible_node(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    on_disk(b, "llama3:8b", 5);
    ask_for("llama3:8b");
    A.a.fixed_model = "llama3:8b";
    assert_true(route_other_node(&F.view, &A.a, "a"));
    b->status = NODE_OFFLINE;
    assert_false(route_other_node(&F.view, &A.a, "a"));
    b->status = NODE_ONLINE;
    exclude("b");
    assert_false(route_other_node(&F.view, &A.a, "a"));
}

/* ---- context protection ---- */

static void num_ctx_the_loaded_context_holds_is_stripped(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    load(a, "llama3:8b", 5, 8192, 0);
    ask_for("llama3:8b");
    A.a.num_ctx = 4096;
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_true(c.strip_ctx);
    assert_int_equal(c.context, ROUTE_CTX_STRIPPED);
    assert_string_equal(route_context_name(c.context), "stripped");
    route_choice_free(&c);

    F.view.context_mode = CONTEXT_WARN;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_false(c.strip_ctx);
    assert_int_equal(c.context, ROUTE_CTX_WARNED);
    assert_int_equal(c.loaded_ctx, 8192);
    route_choice_free(&c);

    F.view.context_mode = CONTEXT_PASSTHROUGH;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_false(c.strip_ctx);
    assert_int_equal(c.context, ROUTE_CTX_NONE);
    route_choice_free(&c);
}

static void num_ctx_is_left_alone_where_it_does_not_apply(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "llama3:8b", 5, 8192, 0);
    on_disk(b, "other:8b", 5);
    struct route_choice c;

    ask_for("llama3:8b"); /* no num_ctx */
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_int_equal(c.context, ROUTE_CTX_NONE);
    assert_false(c.strip_ctx);
    route_choice_free(&c);

    ask_for("llama3:8b");
    A.a.num_ctx = 4096;
    A.a.openai = true; /* OpenAI requests carry no num_ctx of Ollama's */
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_int_equal(c.context, ROUTE_CTX_NONE);
    route_choice_free(&c);

    ask_for("other:8b"); /* cold: it will load with what is asked */
    A.a.num_ctx = 4096;
    F.view.vram_fallback = false; /* else llama3 would stand in */
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.node->id, "b");
    assert_int_equal(c.context, ROUTE_CTX_NONE);
    assert_false(c.strip_ctx);
    route_choice_free(&c);
}

static void num_ctx_moves_to_a_node_whose_context_holds_it(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "llama3:8b", 5, 2048, 0);
    load(b, "llama3:8b", 5, 16384, 0);
    a->num_parallel = b->num_parallel = 4;
    busy("b", "llama3:8b"); /* b scores lower, but holds the context */
    ask_for("llama3:8b");
    A.a.num_ctx = 8192;
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.node->id, "b");
    assert_int_equal(c.context, ROUTE_CTX_MOVED);
    assert_true(c.strip_ctx);
    assert_true(c.score.total == c.ranking[1].b.total); /* the score of where it went */
    route_choice_free(&c);
}

static void num_ctx_upgrades_to_a_larger_loaded_model(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "llama3:8b", 5, 2048, 0);
    load(b, "llama3:70b", 40, 32768, 0);
    b->mem_available_gb = 10;
    ask_for("llama3:8b");
    A.a.num_ctx = 8192;
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:70b");
    assert_string_equal(c.node->id, "b");
    assert_int_equal(c.fallback, ROUTE_FALLBACK_CONTEXT);
    assert_int_equal(c.context, ROUTE_CTX_UPGRADED);
    assert_true(c.strip_ctx);
    assert_ptr_equal(c.ranking[0].node, c.node); /* the ranking is the new model's */
    route_choice_free(&c);

    /* Not in warn mode, not with a model fixed by an earlier attempt, not for embeddings. */
    F.view.context_mode = CONTEXT_WARN;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    assert_int_equal(c.context, ROUTE_CTX_OVERFLOW);
    route_choice_free(&c);
    F.view.context_mode = CONTEXT_STRIP;
    A.a.fixed_model = "llama3:8b";
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.model, "llama3:8b");
    route_choice_free(&c);
}

static void num_ctx_no_loaded_context_holds_overflows(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    load(a, "llama3:8b", 5, 2048, 0);
    ask_for("llama3:8b");
    A.a.num_ctx = 8192;
    struct route_choice c;
    assert_int_equal(decide(&c), ROUTE_GO);
    assert_string_equal(c.node->id, "a");
    assert_int_equal(c.context, ROUTE_CTX_OVERFLOW);
    assert_string_equal(route_context_name(c.context), "overflow");
    assert_int_equal(c.loaded_ctx, 2048);
    assert_false(c.strip_ctx);
    route_choice_free(&c);
}

static void now_and_then_the_hot_node_known_least_is_tried(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    struct node *c = add_node("c", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    load(b, "llama3:8b", 5, 4096, 0);
    on_disk(c, "llama3:8b", 5); /* cold: never explored */
    a->bandwidth_gbps = 1000;
    b->bandwidth_gbps = 100;
    c->bandwidth_gbps = 100;
    struct cost_table costs;
    cost_table_init(&costs, 16);
    F.view.costs = &costs;
    F.view.default_slots = 1;
    ask_for("llama3:8b");
    struct route_choice ch;
    assert_int_equal(decide(&ch), ROUTE_GO);
    assert_string_equal(ch.node->id, "a"); /* the fastest */
    assert_false(ch.explored);
    assert_true(ch.score.predicted);
    route_choice_free(&ch);
    F.view.explore = 1; /* every decision, for the test (the setting allows 2% at most) */
    assert_int_equal(decide(&ch), ROUTE_GO);
    assert_string_equal(ch.node->id, "b");
    assert_true(ch.explored);
    route_choice_free(&ch);
    /* The best is never "explored"; of the others, the one observed longest ago. */
    load(c, "llama3:8b", 5, 4096, 0); /* c is hot now too */
    struct cost_observation o = {.output_tokens = 100, .output_s = 1};
    cost_observe(&costs, "c", "llama3:8b", &o);
    cost_observe(&costs, "b", "llama3:8b", &o);
    assert_int_equal(decide(&ch), ROUTE_GO);
    assert_string_equal(ch.node->id, "c");
    assert_true(ch.explored);
    route_choice_free(&ch);
    /* Not under the other policies. */
    F.w.policy = SCORE_POLICY_SIGNALS;
    cost_observe(&costs, "a", "llama3:8b", &o);
    assert_int_equal(decide(&ch), ROUTE_GO);
    assert_false(ch.explored);
    route_choice_free(&ch);
    cost_table_free(&costs);
}

static void an_ejected_node_is_passed_over_unless_every_node_is(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    load(b, "llama3:8b", 5, 4096, 0);
    a->bandwidth_gbps = 1000; /* the better one */
    b->bandwidth_gbps = 100;
    struct cost_table costs;
    cost_table_init(&costs, 16);
    struct breaker_table *br = calloc(1, sizeof *br);
    breaker_init(br);
    F.view.costs = &costs;
    F.view.breakers = br;
    F.view.clock = 100;
    F.view.default_slots = 1;
    for (int i = 0; i < BREAKER_FAILURES; i++)
        breaker_failure(br, "a", "llama3:8b", 100);
    ask_for("llama3:8b");
    struct route_choice ch;
    assert_int_equal(decide(&ch), ROUTE_GO);
    assert_string_equal(ch.node->id, "b");
    assert_int_equal(ch.ranking[1].verdict, SCORE_EJECTED);
    route_choice_free(&ch);
    /* Both ejected: their own answers are better than none. */
    for (int i = 0; i < BREAKER_FAILURES; i++)
        breaker_failure(br, "b", "llama3:8b", 100);
    assert_int_equal(decide(&ch), ROUTE_GO);
    assert_string_equal(ch.node->id, "a");
    route_choice_free(&ch);
    free(br);
    cost_table_free(&costs);
}

static void near_equal_predictions_are_shared_in_turn(void **state)
{
    (void)state;
    struct node *a = add_node("a", 40);
    struct node *b = add_node("b", 40);
    load(a, "llama3:8b", 5, 4096, 0);
    load(b, "llama3:8b", 5, 4096, 0);
    a->bandwidth_gbps = 200;
    b->bandwidth_gbps = 200.000001; /* microseconds apart: the same to a client */
    struct cost_table costs;
    cost_table_init(&costs, 16);
    F.view.costs = &costs;
    F.view.default_slots = 1;
    ask_for("llama3:8b");
    const char *seen[2];
    for (uint64_t turn = 0; turn < 2; turn++) {
        struct route_choice ch;
        F.view.turn = turn;
        assert_int_equal(decide(&ch), ROUTE_GO);
        seen[turn] = ch.node->id;
        route_choice_free(&ch);
    }
    assert_string_not_equal(seen[0], seen[1]);
    cost_table_free(&costs);
}

static void names_of_the_enums(void **state)
{
    (void)state;
    assert_null(route_fallback_name(ROUTE_FALLBACK_NONE));
    assert_string_equal(route_fallback_name(ROUTE_FALLBACK_CONTEXT), "context");
    assert_null(route_context_name(ROUTE_CTX_NONE));
    assert_string_equal(route_context_name(ROUTE_CTX_WARNED), "warned");
    assert_string_equal(route_context_name(ROUTE_CTX_MOVED), "moved");
    assert_string_equal(route_context_name(ROUTE_CTX_UPGRADED), "upgraded");
    assert_null(route_context_name((enum route_context)99));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(asked_model_loaded_goes_hot),
        T(chain_prefers_a_loaded_fallback_over_a_cold_first),
        T(chain_takes_the_first_loaded_in_order),
        T(chain_with_nothing_loaded_takes_the_first_on_disk),
        T(loaded_on_a_node_that_cannot_serve_is_not_hot),
        T(a_fixed_model_is_kept),
        T(vram_fallback_serves_a_cold_model_with_a_loaded_one),
        T(vram_fallback_takes_the_closest_in_size),
        T(vram_fallback_at_equal_size_keeps_the_first_found),
        T(vram_fallback_never_halves_the_model),
        T(vram_fallback_keeps_the_kind_and_the_capabilities),
        T(vram_fallback_is_not_for_every_request),
        T(vram_fallback_joins_requests_already_loading_the_model),
        T(vram_fallback_needs_a_usable_node_for_the_stand_in),
        T(unknown_model_is_404_with_the_name_sent),
        T(unknown_model_is_pulled_when_auto_pull_is_on),
        T(with_no_node_known_yet_it_waits),
        T(a_model_no_eligible_node_can_take_waits_and_says_why),
        T(a_cold_model_too_large_for_every_node_waits),
        T(the_best_score_wins_and_tried_nodes_are_left_out),
        T(a_busy_node_loses_to_an_idle_one),
        T(equal_nodes_share_the_work_by_turn),
        T(history_of_latency_counts_in_the_wait),
        T(retry_needs_another_eligible_node),
        T(num_ctx_the_loaded_context_holds_is_stripped),
        T(num_ctx_is_left_alone_where_it_does_not_apply),
        T(num_ctx_moves_to_a_node_whose_context_holds_it),
        T(num_ctx_upgrades_to_a_larger_loaded_model),
        T(num_ctx_no_loaded_context_holds_overflows),
        T(now_and_then_the_hot_node_known_least_is_tried),
        T(an_ejected_node_is_passed_over_unless_every_node_is),
        T(near_equal_predictions_are_shared_in_turn),
        T(names_of_the_enums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
