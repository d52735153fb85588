/* The cost model: learning speeds from what nodes report, the priors for what was never run,
 * and the prediction of a request's time to first token and completion. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "coord/cost.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-9 * fmax(1, fabs((double)(b))))

static struct node make_node(const char *id, double bw)
{
    struct node n;
    memset(&n, 0, sizeof n);
    snprintf(n.id, sizeof n.id, "%s", id);
    n.bandwidth_gbps = bw;
    return n;
}

static struct cost_observation seen(int64_t pt, double ps, int64_t ot, double os, double load)
{
    return (struct cost_observation){
        .prompt_tokens = pt, .prompt_s = ps, .output_tokens = ot, .output_s = os, .load_s = load};
}

static void speeds_follow_what_nodes_report(void **state)
{
    (void)state;
    struct cost_table t;
    cost_table_init(&t, 16);
    struct cost_observation o = seen(1000, 1.0, 100, 2.0, 0.01); /* 1000 tok/s, 50 tok/s */
    assert_int_equal(cost_observe(&t, "a", "m", &o), 0);
    const struct cost_speed *e = cost_find(&t, "a", "m");
    assert_non_null(e);
    NEAR(e->prompt_tps, 1000);
    NEAR(e->gen_tps, 50);
    assert_true(e->load_s == 0); /* 10 ms is a hot model, not a load */
    /* The next observation moves the estimate by 30%. */
    o = seen(1000, 1.0, 100, 1.6, 0); /* 62.5 tok/s */
    cost_observe(&t, "a", "m", &o);
    NEAR(e->gen_tps, 50 + 0.3 * 12.5);
    /* A node that became much slower (throttled) is believed almost at once. */
    o = seen(1000, 1.0, 100, 10.0, 0); /* 10 tok/s */
    cost_observe(&t, "a", "m", &o);
    double before = 50 + 0.3 * 12.5;
    NEAR(e->gen_tps, before + 0.8 * (10 - before));
    assert_int_equal(e->n_gen, 3);
    cost_table_free(&t);
}

static void loads_and_tiny_prompts_count_only_when_real(void **state)
{
    (void)state;
    struct cost_table t;
    cost_table_init(&t, 16);
    struct cost_observation o = seen(8, 0.001, 50, 1, 0.2); /* a cached prompt, a warm start */
    cost_observe(&t, "a", "m", &o);
    const struct cost_speed *e = cost_find(&t, "a", "m");
    assert_true(e->prompt_tps == 0 && e->n_prompt == 0);
    assert_true(e->load_s == 0);
    o = seen(500, 0.5, 50, 1, 3.0); /* a cold load of 3 s */
    cost_observe(&t, "a", "m", &o);
    NEAR(e->load_s, 3.0);
    NEAR(e->prompt_tps, 1000);
    /* Unknown durations teach nothing. */
    assert_int_equal(e->n_gen, 2);
    o = seen(-1, -1, -1, -1, -1);
    cost_observe(&t, "a", "m", &o);
    assert_int_equal(e->n_gen, 2);
    assert_int_equal(e->n_load, 1);
    cost_table_free(&t);
}

static void priors_for_a_model_never_run_here(void **state)
{
    (void)state;
    struct cost_table t;
    cost_table_init(&t, 16);
    struct node fast = make_node("fast", 800), slow = make_node("slow", 100),
                blind = make_node("blind", 0);
    const struct node *nodes[] = {&fast, &slow, &blind};
    struct cost_rates r;
    /* Nothing seen anywhere: decoding from bandwidth over size, prefill 20 times that. */
    cost_rates(&t, &fast, "m:7b", 5, nodes, 3, &r);
    NEAR(r.gen_tps, 0.6 * 800 / 5);
    NEAR(r.prompt_tps, 20 * 0.6 * 800 / 5);
    NEAR(r.load_s, 1 + 5.0 / 2);
    assert_false(r.measured);
    cost_rates(&t, &blind, "m:7b", 5, nodes, 3, &r);
    NEAR(r.gen_tps, 100.0 / 5);
    /* Seen on fast: slow gets it scaled by bandwidth, and fast's load time. */
    struct cost_observation o = seen(2000, 1, 200, 2, 4);
    cost_observe(&t, "fast", "m:7b", &o);
    cost_rates(&t, &slow, "m:7b", 5, nodes, 3, &r);
    NEAR(r.gen_tps, 100 * 100.0 / 800);
    NEAR(r.prompt_tps, 2000 * 100.0 / 800);
    NEAR(r.load_s, 4);
    assert_false(r.measured);
    /* A node without a bandwidth takes the others' speed as it is. */
    cost_rates(&t, &blind, "m:7b", 5, nodes, 3, &r);
    NEAR(r.gen_tps, 100);
    /* Its own measurement wins. */
    cost_rates(&t, &fast, "m:7b", 5, nodes, 3, &r);
    NEAR(r.gen_tps, 100);
    assert_true(r.measured);
    cost_table_free(&t);
}

static void a_cached_prompt_is_timed_on_its_fresh_part_only(void **state)
{
    (void)state;
    struct cost_table t;
    cost_table_init(&t, 16);
    /* 4000 tokens, three quarters cached: 1000 evaluated in 1 s. */
    struct cost_observation o = seen(4000, 1.0, 50, 1, 0);
    o.cached_share = 0.75;
    cost_observe(&t, "a", "m", &o);
    NEAR(cost_find(&t, "a", "m")->prompt_tps, 1000);
    /* Almost all cached: too little fresh prompt to time. */
    o.cached_share = 0.999;
    cost_observe(&t, "a", "m", &o);
    assert_int_equal(cost_find(&t, "a", "m")->n_prompt, 1);
    cost_table_free(&t);
}

static void herd_s_token_guess_is_calibrated_per_model(void **state)
{
    (void)state;
    struct cost_table t;
    cost_table_init(&t, 16);
    NEAR(cost_token_ratio(&t, "m"), 1);
    struct cost_observation o = seen(1200, 1, 50, 1, 0);
    o.estimated_prompt_tokens = 1000;
    cost_observe(&t, "a", "m", &o);
    NEAR(cost_token_ratio(&t, "m"), 1.2);
    o.prompt_tokens = 2200;
    cost_observe(&t, "b", "m", &o);
    NEAR(cost_token_ratio(&t, "m"), 1.2 + 0.1 * (2.2 - 1.2));
    NEAR(cost_token_ratio(&t, "other"), 1);
    cost_table_free(&t);
}

static void typical_reply_length(void **state)
{
    (void)state;
    struct cost_table t;
    cost_table_init(&t, 16);
    assert_true(cost_typical_output(&t, "m") == 200);
    struct cost_observation o = seen(100, 0.1, 100, 1, 0);
    cost_observe(&t, "a", "m", &o);
    NEAR(cost_typical_output(&t, "m"), 100);
    o.output_tokens = 300;
    cost_observe(&t, "b", "m", &o); /* the model's, whichever node */
    NEAR(cost_typical_output(&t, "m"), 120);
    cost_table_free(&t);
}

static void the_table_is_bounded(void **state)
{
    (void)state;
    struct cost_table t;
    cost_table_init(&t, 2);
    struct cost_observation o = seen(100, 0.1, 100, 1, 0);
    cost_observe(&t, "a", "m", &o);
    cost_observe(&t, "b", "m", &o);
    cost_observe(&t, "a", "m", &o); /* a is the more recent now */
    cost_observe(&t, "c", "m", &o);
    assert_int_equal(t.n, 2);
    assert_non_null(cost_find(&t, "a", "m"));
    assert_null(cost_find(&t, "b", "m"));
    assert_non_null(cost_find(&t, "c", "m"));
    cost_table_free(&t);
}

static void the_prediction_adds_up(void **state)
{
    (void)state;
    struct cost_rates r = {.prompt_tps = 1000, .gen_tps = 50, .load_s = 4};
    struct cost_ask a = {.prompt_tokens = 2000, .output_tokens = 100};
    struct cost_queue idle = {.slots = 2, .running = 1, .work_running_s = 10};
    struct cost_estimate e;
    cost_predict(&r, &idle, false, 0, &a, &e);
    NEAR(e.queue_s, 0); /* a slot is free */
    NEAR(e.load_s, 0);
    NEAR(e.prefill_s, 2);
    NEAR(e.decode_s, 2);
    NEAR(e.ttft_s, 2);
    NEAR(e.total_s, 4);
    NEAR(e.service_s, 4);
    /* Both slots busy and two waiting: half of what runs and all that waits, over two slots. */
    struct cost_queue busy = {
        .slots = 2, .running = 2, .waiting = 2, .work_running_s = 8, .work_waiting_s = 6};
    cost_predict(&r, &busy, true, 1, &a, &e);
    NEAR(e.queue_s, (0.5 * 8 + 6) / 2);
    NEAR(e.load_s, 4);
    NEAR(e.evict_s, 1);
    NEAR(e.ttft_s, 5 + 4 + 1 + 2);
    /* What the node has cached is not prefilled again. */
    a.cached_share = 0.75;
    cost_predict(&r, &idle, false, 0, &a, &e);
    NEAR(e.prefill_s, 0.5);
}

static void
a_fast_cold_node_beats_a_slow_hot_one_when_its_load_is_shorter_than_the_wait(void **state)
{
    (void)state;
    struct cost_rates fast = {.prompt_tps = 4000, .gen_tps = 100, .load_s = 3};
    struct cost_rates slow = {.prompt_tps = 400, .gen_tps = 10, .load_s = 20};
    struct cost_ask a = {.prompt_tokens = 400, .output_tokens = 100};
    struct cost_queue empty = {.slots = 1};
    struct cost_estimate cold, hot;
    cost_predict(&fast, &empty, true, 0, &a, &cold);
    /* The slow node has one request running for 4 s: half left, 2 s; the load takes 3 s. */
    struct cost_queue one = {.slots = 1, .running = 1, .work_running_s = 4};
    cost_predict(&slow, &one, false, 0, &a, &hot);
    assert_true(hot.ttft_s < cold.ttft_s);
    /* Behind a 12 s request the wait is 6 s: longer than the load. */
    one.work_running_s = 12;
    cost_predict(&slow, &one, false, 0, &a, &hot);
    assert_true(cold.ttft_s < hot.ttft_s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(speeds_follow_what_nodes_report),
        cmocka_unit_test(loads_and_tiny_prompts_count_only_when_real),
        cmocka_unit_test(priors_for_a_model_never_run_here),
        cmocka_unit_test(a_cached_prompt_is_timed_on_its_fresh_part_only),
        cmocka_unit_test(herd_s_token_guess_is_calibrated_per_model),
        cmocka_unit_test(typical_reply_length),
        cmocka_unit_test(the_table_is_bounded),
        cmocka_unit_test(the_prediction_adds_up),
        cmocka_unit_test(
            a_fast_cold_node_beats_a_slow_hot_one_when_its_load_is_shorter_than_the_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
