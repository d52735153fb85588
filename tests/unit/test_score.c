/* Every elimination rule, tier and formula of the scorer, pinned. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "coord/score.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static struct node make_node(const char *id, double avail_gb, double total_gb, double bw)
{
    struct node n;
    memset(&n, 0, sizeof n);
    snprintf(n.id, sizeof n.id, "%s", id);
    n.status = NODE_ONLINE;
    n.has_ollama = n.ollama_up = true;
    n.has_memory = true;
    n.mem_available_gb = avail_gb;
    n.mem_total_gb = total_gb;
    n.bandwidth_gbps = bw;
    return n;
}

static struct node_model loaded_m;
static struct node_model available_m[2];

static void give_loaded(struct node *n, const char *model, double size, int64_t ctx)
{
    snprintf(loaded_m.name, sizeof loaded_m.name, "%s", model);
    loaded_m.size_gb = size;
    loaded_m.context_length = ctx;
    n->loaded = &loaded_m;
    n->n_loaded = 1;
}

static void give_available(struct node *n, const char *model)
{
    snprintf(available_m[0].name, MODEL_NAME_MAX, "%s", model);
    n->available = available_m;
    n->n_available = 1;
}

static struct score_weights W;
static int setup(void **state)
{
    (void)state;
    score_weights_default(&W);
    return 0;
}

static enum score_verdict run(struct node *n, const char *model, double size, int64_t tokens,
                              int depth, double p75, double median, struct score_breakdown *b)
{
    struct score_request req = {model, size, tokens};
    struct score_node_input in = {.node = n, .queue_depth = depth, .p75_ms = p75};
    memset(b, 0, sizeof *b);
    return score_node(&W, &req, &in, median, 10000, b);
}

static void elimination_rules(void **state)
{
    (void)state;
    struct score_breakdown b;
    struct node n = make_node("a", 10, 32, 0);
    give_available(&n, "m:7b");
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_ELIGIBLE);
    assert_int_equal(run(&n, "other:7b", 5, 0, 0, 0, 0, &b), SCORE_NO_MODEL);
    assert_int_equal(run(&n, "m:7b", 11, 0, 0, 0, 0, &b), SCORE_NO_MEMORY);
    n.status = NODE_DEGRADED; /* still routable */
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_ELIGIBLE);
    n.status = NODE_OFFLINE;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_OFFLINE);
    n.status = NODE_ONLINE;
    n.draining = true;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_OFFLINE);
    n.draining = false;
    n.ollama_up = false;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_NO_STATE);
    n.ollama_up = true;
    n.pressure = PRESSURE_WARN; /* not penalised */
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_ELIGIBLE);
    n.pressure = PRESSURE_CRITICAL;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_PRESSURE);
    n.pressure = PRESSURE_NORMAL;
    n.capacity.present = true;
    snprintf(n.capacity.mode, sizeof n.capacity.mode, "paused");
    n.capacity.availability_score = 0.9;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_PAUSED);
    snprintf(n.capacity.mode, sizeof n.capacity.mode, "learned_low");
    n.capacity.availability_score = 0.1;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_PAUSED);
    /* A new node learning its week is routable from the start. */
    snprintf(n.capacity.mode, sizeof n.capacity.mode, "bootstrap");
    n.capacity.availability_score = 0.5;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_ELIGIBLE);
    /* The capacity ceiling caps the memory offered to a cold model. */
    n.capacity.ceiling_gb = 4;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_NO_MEMORY);
    n.capacity.present = false;
    /* A loaded model never fails the memory rule. */
    give_loaded(&n, "m:7b", 50, 4096);
    assert_int_equal(run(&n, "m:7b", 50, 0, 0, 0, 0, &b), SCORE_ELIGIBLE);
    /* No ollama block at all: no model state. */
    n.has_ollama = false;
    assert_int_equal(run(&n, "m:7b", 5, 0, 0, 0, 0, &b), SCORE_NO_STATE);
}

static void thermal_tiers(void **state)
{
    (void)state;
    struct score_breakdown b;
    struct node n = make_node("a", 100, 128, 0);
    give_available(&n, "m:7b");
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.thermal, 10); /* cold */
    struct node_unloaded u = {"m:7b", 10000 - 1799};
    n.unloaded = &u;
    n.n_unloaded = 1;
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.thermal, 30); /* warm: unloaded less than 30 minutes ago */
    u.at = 10000 - 1801;
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.thermal, 10);
    give_loaded(&n, "m:7b", 5, 4096);
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.thermal, 50); /* hot */
    W.hot = 70;
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.thermal, 70); /* weights are configurable */
}

static void memory_fit_tiers(void **state)
{
    (void)state;
    struct score_breakdown b;
    const double fits[][2] = {{10.1, 20}, {7.6, 15}, {6.1, 8}, {5.0, 3}};
    for (size_t i = 0; i < 4; i++) {
        struct node n = make_node("a", fits[i][0], 64, 0);
        give_available(&n, "m:7b");
        run(&n, "m:7b", 5, 0, 0, 0, 0, &b); /* available / 5 GB: >2, >1.5, >1.2, >=1 */
        NEAR(b.memory_fit, fits[i][1]);
    }
    struct node n = make_node("a", 1, 64, 0);
    give_loaded(&n, "m:7b", 5, 4096);
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.memory_fit, 20); /* loaded: full marks */
}

static void queue_depth_and_wait_time(void **state)
{
    (void)state;
    struct score_breakdown b;
    struct node n = make_node("a", 100, 128, 0);
    give_loaded(&n, "m:7b", 5, 4096);
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.queue_depth, 0);
    NEAR(b.wait_time, 0);
    run(&n, "m:7b", 5, 0, 2, 60000, 0, &b);
    NEAR(b.queue_depth, -12);            /* 6 per request */
    NEAR(b.wait_time, -(2 * 60.0) / 10); /* 2 ahead x p75 60 s, a tenth per second */
    run(&n, "m:7b", 5, 0, 9, 600000, 0, &b);
    NEAR(b.queue_depth, -30); /* capped */
    NEAR(b.wait_time, -25);   /* capped */
    /* Parallel slots: with 4 slots, 2 requests are 0.5 each and nobody waits. */
    n.num_parallel = 4;
    run(&n, "m:7b", 5, 0, 2, 60000, 0, &b);
    NEAR(b.queue_depth, -3);
    NEAR(b.wait_time, 0);
    run(&n, "m:7b", 5, 0, 6, 60000, 0, &b); /* 3 ahead over 4 slots */
    NEAR(b.wait_time, -(3.0 / 4 * 60) / 10);
    /* A node twice the median bandwidth counts its queue as half as long. */
    n.num_parallel = 1;
    n.bandwidth_gbps = 400;
    run(&n, "m:7b", 5, 0, 2, 60000, 200, &b);
    NEAR(b.queue_depth, -6);
    /* No history: the wait is estimated from the machine (100 tokens). */
    n.bandwidth_gbps = 0;
    run(&n, "m:7b", 5, 0, 1, 0, 0, &b);
    double tps = 100.0 / 5; /* max(1, 100 / size) */
    NEAR(b.wait_time, -((100 / tps)) / 10);
}

static void role_affinity_bandwidth_and_memory(void **state)
{
    (void)state;
    struct score_breakdown b;
    struct node n = make_node("a", 500, 512, 819);
    give_available(&n, "big:70b");
    run(&n, "big:70b", 42, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 15); /* large model on an 819 GB/s machine: the maximum */
    give_available(&n, "s:3b");
    run(&n, "s:3b", 2, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 3 * 15.0 / 25); /* small model on the big machine: little */
    n.bandwidth_gbps = 100;
    run(&n, "s:3b", 2, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, (18 - 0.6 * 7.5) * 15 / 25); /* b = 5 + 100/40 */
    give_available(&n, "mid:14b");
    run(&n, "mid:14b", 9, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 0.6 * 7.5 * 15 / 25);
    /* Bandwidth unknown: memory tiers. */
    n.bandwidth_gbps = 0;
    give_available(&n, "big:70b");
    run(&n, "big:70b", 42, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 15); /* 512 GB */
    n.mem_total_gb = 64;
    run(&n, "big:70b", 42, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 5);
    n.mem_total_gb = 16;
    n.mem_available_gb = 60;
    run(&n, "big:70b", 42, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 0);
    give_available(&n, "s:3b");
    run(&n, "s:3b", 2, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 15); /* small model on a small machine */
    n.mem_total_gb = 64;
    run(&n, "s:3b", 2, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 8);
    n.mem_total_gb = 256;
    run(&n, "s:3b", 2, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 3);
    give_available(&n, "mid:14b");
    run(&n, "mid:14b", 9, 0, 0, 0, 0, &b);
    NEAR(b.role_affinity, 5);
}

static void availability_and_context_fit(void **state)
{
    (void)state;
    struct score_breakdown b;
    struct node n = make_node("a", 100, 128, 0);
    give_loaded(&n, "m:7b", 5, 8192);
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.availability_trend, 0); /* no capacity block */
    NEAR(b.context_fit, 0);        /* no estimate */
    n.capacity.present = true;
    n.capacity.availability_score = 0.65;
    run(&n, "m:7b", 5, 0, 0, 0, 0, &b);
    NEAR(b.availability_trend, 6.5);
    const int64_t tokens[] = {9000, 6000, 4000, 2000, 1000};
    const double expect[] = {-15, 3, 7.5, 12, 15}; /* ratio <1, <1.5, <3, <8, >=8 */
    for (int i = 0; i < 5; i++) {
        run(&n, "m:7b", 5, tokens[i], 0, 0, 0, &b);
        NEAR(b.context_fit, expect[i]);
    }
    /* Total is the sum of the signals. */
    run(&n, "m:7b", 5, 2000, 1, 1000, 0, &b);
    NEAR(b.total, b.thermal + b.memory_fit + b.queue_depth + b.wait_time + b.role_affinity +
                      b.availability_trend + b.context_fit);
}

static void ranking_and_fair_ties(void **state)
{
    (void)state;
    struct node a = make_node("a", 100, 128, 0), b = make_node("b", 100, 128, 0),
                c = make_node("c", 100, 128, 0);
    a.order = 0;
    b.order = 1;
    c.order = 2;
    give_available(&a, "m:7b");
    b.available = a.available;
    b.n_available = 1;
    c.status = NODE_OFFLINE;
    c.available = a.available;
    c.n_available = 1;
    struct score_node_input in[3] = {{.node = &c}, {.node = &a}, {.node = &b}};
    struct score_request req = {"m:7b", 5, 0};
    struct score_result out[3];
    int first_a = 0, first_b = 0;
    for (uint64_t turn = 0; turn < 10; turn++) {
        assert_int_equal(score_rank(&W, &req, in, 3, 10000, turn, out), 2);
        assert_int_equal(out[2].verdict, SCORE_OFFLINE); /* eliminated last */
        first_a += out[0].node == &a;
        first_b += out[0].node == &b;
    }
    assert_int_equal(first_a, 5); /* equal nodes share the work */
    assert_int_equal(first_b, 5);
    /* A better score always wins. */
    in[2].queue_depth = 1;
    for (uint64_t turn = 0; turn < 4; turn++) {
        score_rank(&W, &req, in, 3, 10000, turn, out);
        assert_ptr_equal(out[0].node, &a);
        assert_true(out[0].b.total > out[1].b.total);
    }
}

/* Three nodes that can serve m:7b (a, b, c in the order they joined) and one that cannot. */
struct policy_fleet {
    struct node a, b, c, off;
    struct score_node_input in[4];
};

static void policy_fleet_init(struct policy_fleet *f)
{
    f->a = make_node("a", 100, 128, 0);
    f->b = make_node("b", 100, 128, 0);
    f->c = make_node("c", 100, 128, 0);
    f->off = make_node("off", 100, 128, 0);
    give_available(&f->a, "m:7b");
    struct node *all[] = {&f->a, &f->b, &f->c, &f->off};
    for (int i = 0; i < 4; i++) {
        all[i]->order = i;
        all[i]->available = f->a.available;
        all[i]->n_available = 1;
    }
    f->off.status = NODE_OFFLINE;
    /* Given out of order: the policies must not depend on it. */
    f->in[0] = (struct score_node_input){.node = &f->c};
    f->in[1] = (struct score_node_input){.node = &f->off};
    f->in[2] = (struct score_node_input){.node = &f->b};
    f->in[3] = (struct score_node_input){.node = &f->a};
}

static const struct node *first_for(struct policy_fleet *f, enum score_policy p, uint64_t turn)
{
    struct score_weights w = W;
    w.policy = p;
    struct score_request req = {"m:7b", 5, 0};
    struct score_result out[4];
    assert_int_equal(score_rank(&w, &req, f->in, 4, 10000, turn, out), 3);
    assert_ptr_equal(out[3].node, &f->off); /* never chosen */
    return out[0].node;
}

static void other_policies(void **state)
{
    (void)state;
    struct policy_fleet f;
    policy_fleet_init(&f);
    /* A node with work queued scores less: herd's policy avoids it; round robin does not. */
    f.in[0].queue_depth = f.in[0].node_load = 2; /* c */
    const struct node *rr[6];
    for (uint64_t t = 0; t < 6; t++) {
        rr[t] = first_for(&f, SCORE_POLICY_ROUND_ROBIN, t);
        assert_ptr_not_equal(first_for(&f, SCORE_POLICY_HERD, t), &f.c);
    }
    assert_ptr_equal(rr[0], &f.a);
    assert_ptr_equal(rr[1], &f.b);
    assert_ptr_equal(rr[2], &f.c);
    assert_ptr_equal(rr[3], &f.a);
    assert_ptr_equal(rr[5], &f.c);

    /* Least connections counts the node's requests for every model, not the model's. */
    f.in[0].queue_depth = 0;
    f.in[0].node_load = 1;   /* c */
    f.in[2].node_load = 3;   /* b */
    f.in[3].node_load = 1;   /* a */
    f.in[3].queue_depth = 1; /* a's are this model's */
    int got_a = 0, got_c = 0;
    for (uint64_t t = 0; t < 10; t++) {
        const struct node *n = first_for(&f, SCORE_POLICY_LEAST_CONN, t);
        assert_ptr_not_equal(n, &f.b);
        got_a += n == &f.a;
        got_c += n == &f.c;
    }
    assert_int_equal(got_a, 5); /* equally loaded ones take turns */
    assert_int_equal(got_c, 5);

    /* Random: every node that can serve, roughly evenly. */
    int count[3] = {0};
    for (uint64_t t = 0; t < 3000; t++) {
        const struct node *n = first_for(&f, SCORE_POLICY_RANDOM, t);
        count[n == &f.a ? 0 : n == &f.b ? 1 : 2]++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(count[i] > 800 && count[i] < 1200);
}

static void reference_policy(void **state)
{
    (void)state;
    struct policy_fleet f;
    policy_fleet_init(&f);
    /* Equal scores: always the node that joined first, never shared. */
    for (uint64_t t = 0; t < 6; t++) {
        assert_ptr_equal(first_for(&f, SCORE_POLICY_REFERENCE, t), &f.a);
        if (t < 3)
            assert_ptr_equal(first_for(&f, SCORE_POLICY_HERD, t), t == 0   ? &f.a
                                                                  : t == 1 ? &f.b
                                                                           : &f.c);
    }
    /* Queue depth is not divided by parallel slots, and the wait counts every request: on a
     * node with 4 slots and 2 requests, herd sees half a request and no wait. */
    struct node n = make_node("n", 100, 128, 0);
    n.num_parallel = 4;
    give_available(&n, "m:7b");
    struct score_request req = {"m:7b", 5, 0};
    struct score_node_input in = {.node = &n, .queue_depth = 2, .p75_ms = 30000};
    struct score_breakdown herd, ref;
    struct score_weights w = W;
    assert_int_equal(score_node(&w, &req, &in, 0, 10000, &herd), SCORE_ELIGIBLE);
    w.policy = SCORE_POLICY_REFERENCE;
    assert_int_equal(score_node(&w, &req, &in, 0, 10000, &ref), SCORE_ELIGIBLE);
    NEAR(herd.queue_depth, -3);
    NEAR(herd.wait_time, 0);
    NEAR(ref.queue_depth, -12);
    NEAR(ref.wait_time, -6); /* 2 x 30 s / 10 */
}

/* herd's policy: the lowest predicted time to first token, completion breaking ties, equal
 * predictions in turn; the seven signals do not enter into it. */
static void herd_policy_ranks_by_prediction(void **state)
{
    (void)state;
    struct policy_fleet f;
    policy_fleet_init(&f);
    struct score_prediction p[4] = {
        {.ttft_s = 2, .total_s = 5},   /* c */
        {.ttft_s = 0.1, .total_s = 1}, /* off: never */
        {.ttft_s = 1, .total_s = 9},   /* b */
        {.ttft_s = 1, .total_s = 4},   /* a: b's TTFT, sooner done */
    };
    for (int i = 0; i < 4; i++)
        f.in[i].predicted = &p[i];
    f.in[3].queue_depth = 5; /* the signals would mark a down; the prediction already counts it */
    for (uint64_t t = 0; t < 4; t++)
        assert_ptr_equal(first_for(&f, SCORE_POLICY_HERD, t), &f.a);
    p[2].total_s = 4; /* a and b the same: in turn */
    assert_ptr_not_equal(first_for(&f, SCORE_POLICY_HERD, 0), first_for(&f, SCORE_POLICY_HERD, 1));
    struct score_weights w = W;
    struct score_request req = {"m:7b", 5, 0};
    struct score_result out[4];
    score_rank(&w, &req, f.in, 4, 10000, 0, out);
    assert_true(out[0].b.predicted && out[0].b.p.ttft_s == 1);
    json_t *j = score_breakdown_json(&out[0].b);
    assert_non_null(json_object_get(j, "predicted_ttft_s"));
    assert_non_null(json_object_get(j, "thermal")); /* the seven keys stay */
    json_decref(j);
}

static void peer_policies(void **state)
{
    (void)state;
    struct policy_fleet f;
    policy_fleet_init(&f);
    struct score_prediction p[4] = {{0}};
    for (int i = 0; i < 4; i++)
        f.in[i].predicted = &p[i];
    /* cache_aware: a prompt matching more than 30% goes where it matches best. */
    p[2].prefix_match = 0.6; /* b */
    p[3].prefix_match = 0.4; /* a */
    for (uint64_t t = 0; t < 3; t++)
        assert_ptr_equal(first_for(&f, SCORE_POLICY_CACHE_AWARE, t), &f.b);
    /* At most 30%: to the smallest tree. */
    p[2].prefix_match = 0.3;
    p[3].prefix_match = 0.2;
    f.in[0].cached_blocks = 10; /* c */
    f.in[2].cached_blocks = 3;  /* b */
    f.in[3].cached_blocks = 7;  /* a */
    assert_ptr_equal(first_for(&f, SCORE_POLICY_CACHE_AWARE, 0), &f.b);
    /* Imbalanced load (max - min > 64 and max > 1.5 min): the least loaded, cache or not. */
    p[2].prefix_match = 0.9;
    f.in[0].node_load = 100;
    f.in[2].node_load = 90;
    f.in[3].node_load = 20;
    assert_ptr_equal(first_for(&f, SCORE_POLICY_CACHE_AWARE, 0), &f.a);

    /* llm-d: 2 x prefix + 2 x normalised shortest queue + (1 - KV usage). */
    struct policy_fleet g;
    policy_fleet_init(&g);
    struct score_prediction q[4] = {{0}};
    for (int i = 0; i < 4; i++)
        g.in[i].predicted = &q[i];
    g.a.num_parallel = g.b.num_parallel = g.c.num_parallel = 4;
    q[3].prefix_match = 0.5;
    g.in[3].queue_depth = 2; /* a: 2 x 0.5 + 2 x 1 + (1 - 0.5) = 3.5 */
    g.in[2].queue_depth = 2; /* b: 0 + 2 x 1 + 0.5 = 2.5 */
    g.in[0].queue_depth = 4; /* c: 0 + 0 + 0 = 0 */
    assert_ptr_equal(first_for(&g, SCORE_POLICY_LLMD, 0), &g.a);
    g.in[3].queue_depth = 4; /* a: 1 + 0 + 0 = 1 */
    g.in[0].queue_depth = 2; /* b and c: 2.5 each, in turn */
    const struct node *x = first_for(&g, SCORE_POLICY_LLMD, 0),
                      *y = first_for(&g, SCORE_POLICY_LLMD, 1);
    assert_true((x == &g.b && y == &g.c) || (x == &g.c && y == &g.b));
}

static void size_and_token_estimates(void **state)
{
    (void)state;
    NEAR(score_model_size("llama3.3:70b", NULL, 0), 42);
    NEAR(score_model_size("qwen2.5:0.5b", NULL, 0), 0.3);
    NEAR(score_model_size("llama2:13b", NULL, 0), 7.8); /* not mistaken for 3b */
    NEAR(score_model_size("mixtral:8x7b", NULL, 0), 56 * 0.6);
    NEAR(score_model_size("qwen3:30b-a3b-q4_k_m", NULL, 0), 18);
    NEAR(score_model_size("nomic-embed-text:latest", NULL, 0), 0.3);
    NEAR(score_model_size("mystery:latest", NULL, 0), 10);
    struct node n = make_node("a", 1, 1, 0);
    give_loaded(&n, "mystery:latest", 3.3, 0);
    const struct node *nodes[] = {&n};
    NEAR(score_model_size("mystery:latest", nodes, 1), 3.3); /* what a node reports wins */

    json_error_t je;
    json_t *body = json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"12345678\"},"
                              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                              "\"abcd\"},{\"type\":\"image_url\",\"image_url\":\"x\"}]},"
                              "{\"role\":\"user\",\"content\":\"\",\"images\":[\"a\",\"b\"]}]}",
                              0, &je);
    /* (8 + 4 + 0 + 3 x 16) / 4 = 15, plus 3 images x 150 */
    assert_int_equal(score_estimate_tokens(body), 15 + 450);
    json_decref(body);
    body = json_loads("{\"prompt\":\"\"}", 0, &je);
    assert_int_equal(score_estimate_tokens(body), 1);
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(elimination_rules, setup),
        cmocka_unit_test_setup(thermal_tiers, setup),
        cmocka_unit_test_setup(memory_fit_tiers, setup),
        cmocka_unit_test_setup(queue_depth_and_wait_time, setup),
        cmocka_unit_test_setup(role_affinity_bandwidth_and_memory, setup),
        cmocka_unit_test_setup(availability_and_context_fit, setup),
        cmocka_unit_test_setup(ranking_and_fair_ties, setup),
        cmocka_unit_test_setup(other_policies, setup),
        cmocka_unit_test_setup(reference_policy, setup),
        cmocka_unit_test_setup(herd_policy_ranks_by_prediction, setup),
        cmocka_unit_test_setup(peer_policies, setup),
        cmocka_unit_test_setup(size_and_token_estimates, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
