/* The simulator's engine on a real event loop with a tiny time scale: slot queueing in order,
 * the bounded pending queue, cancellation, and loads that follow each other. */
#include <errno.h>
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sim/sim_engine.h"

struct outcome {
    int order;
    int status;
    struct sim_job_timing t;
    int tokens_seen;
};

static int finished;
static struct event_base *base;

static enum sim_flow on_tokens(struct sim_job *j, int first, int count, void *arg)
{
    (void)j;
    struct outcome *o = arg;
    assert_int_equal(first, o->tokens_seen);
    o->tokens_seen += count;
    return SIM_FLOW_GO_ON;
}

static void on_done(struct sim_job *j, void *arg)
{
    struct outcome *o = arg;
    o->t = *sim_job_timing(j);
    o->order = ++finished;
    o->status = 200;
}

static void on_error(struct sim_job *j, int status, const char *msg, void *arg)
{
    (void)j;
    (void)msg;
    struct outcome *o = arg;
    o->order = ++finished;
    o->status = status;
}

static const struct sim_job_callbacks cb = {on_tokens, on_done, on_error};

static void machine(struct sim_machine *m, int parallel, int max_queue)
{
    struct sim_machine_spec s = {0};
    snprintf(s.name, sizeof s.name, "t");
    s.memory_gb = 100;
    s.vram_gb = -1;
    s.disk_gbps = 1;
    s.bandwidth_gbps = 100;
    s.speed = 1;
    s.load_overhead_s = 0;
    s.parallel_efficiency = 0.5;
    s.num_parallel = parallel;
    s.max_loaded = 3;
    s.max_queue = max_queue;
    s.keep_alive_s = 300;
    s.context_length = 2048;
    sim_machine_init(m, &s);
    const char *names[] = {"a:7b", "b:7b", "c:7b"};
    for (int i = 0; i < 3; i++) {
        struct sim_model_spec ms;
        sim_catalog_describe(names[i], 4, &ms);
        sim_machine_add_model(m, &ms);
    }
}

static struct sim_job *submit(struct sim_engine *e, struct sim_machine *m, const char *model,
                              const char *prompt, int tokens, struct outcome *o)
{
    struct sim_job_params p;
    memset(&p, 0, sizeof p);
    p.kind = SIM_JOB_GENERATE;
    p.model = *sim_machine_model(m, model);
    sim_tokenize_append(&p.prompt, prompt, strlen(prompt));
    p.n_tokens = tokens;
    return sim_job_submit(e, &p, &cb, o);
}

static void run_until_finished(int n)
{
    for (int i = 0; i < 100000 && finished < n; i++)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(finished, n);
}

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    finished = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    event_base_free(base);
    return 0;
}

static void one_slot_serves_in_order(void **state)
{
    (void)state;
    struct sim_machine m;
    machine(&m, 1, 512);
    struct sim_engine *e = sim_engine_new(base, &m, 0.0005);
    struct outcome o[3] = {0};
    for (int i = 0; i < 3; i++)
        assert_non_null(submit(e, &m, "a:7b",
                               i == 0   ? "first"
                               : i == 1 ? "second"
                                        : "third",
                               20, &o[i]));
    run_until_finished(3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].status, 200);
        assert_int_equal(o[i].order, i + 1);
        assert_int_equal(o[i].tokens_seen, 20);
        assert_int_equal(o[i].t.tokens, 20);
    }
    /* One load for all three; each waited for the previous to free the slot. */
    assert_int_equal(sim_engine_stats(e).loads, 1);
    assert_true(o[1].t.slot >= o[0].t.done);
    assert_true(o[2].t.slot >= o[1].t.done);
    assert_true(o[0].t.loaded_model);
    /* Load time: 4 GB at 1 GB/s. */
    assert_true(o[0].t.attached - o[0].t.arrived >= 4.0);
    assert_int_equal(m.runners[0]->in_flight, 0);
    sim_engine_free(e);
    sim_machine_free(&m);
}

static void two_slots_run_together(void **state)
{
    (void)state;
    struct sim_machine m;
    machine(&m, 2, 512);
    struct sim_engine *e = sim_engine_new(base, &m, 0.0005);
    struct outcome o[2] = {0};
    submit(e, &m, "a:7b", "x", 30, &o[0]);
    submit(e, &m, "a:7b", "y", 30, &o[1]);
    run_until_finished(2);
    /* Both got a slot at once, and each generated slower than alone would: 2 streams at
     * (1 + 0.5)/2 of the speed. */
    assert_true(o[1].t.slot < o[0].t.done);
    double alone = 30 / sim_gen_tps(&m, sim_machine_model(&m, "a:7b"));
    assert_true(o[0].t.eval_s > alone * 1.2);
    sim_engine_free(e);
    sim_machine_free(&m);
}

static void pending_queue_is_bounded_and_loads_are_serialised(void **state)
{
    (void)state;
    struct sim_machine m;
    machine(&m, 1, 1);
    struct sim_engine *e = sim_engine_new(base, &m, 0.0005);
    struct outcome o[3] = {0};
    /* All three need a load. The loader runs from the loop, so the first fills the queue of
     * one and the other two are refused. */
    submit(e, &m, "a:7b", "x", 5, &o[0]);
    submit(e, &m, "b:7b", "x", 5, &o[1]);
    submit(e, &m, "c:7b", "x", 5, &o[2]);
    run_until_finished(3);
    int refused = 0;
    for (int i = 0; i < 3; i++)
        refused += o[i].status == 503;
    assert_int_equal(refused, 2);
    assert_int_equal(sim_engine_stats(e).rejected, 2);
    sim_engine_free(e);

    /* With room in the queue, loads follow one another in model time. */
    finished = 0;
    sim_machine_free(&m);
    machine(&m, 1, 8);
    e = sim_engine_new(base, &m, 0.0005);
    struct outcome p[2] = {0};
    submit(e, &m, "a:7b", "x", 5, &p[0]);
    submit(e, &m, "b:7b", "x", 5, &p[1]);
    run_until_finished(2);
    assert_true(p[1].t.attached - p[0].t.attached >= 4.0 - 1e-6);
    assert_int_equal(sim_engine_stats(e).loads, 2);
    sim_engine_free(e);
    sim_machine_free(&m);
}

static void cancel_while_waiting_frees_the_place(void **state)
{
    (void)state;
    struct sim_machine m;
    machine(&m, 1, 512);
    struct sim_engine *e = sim_engine_new(base, &m, 0.0005);
    struct outcome o[3] = {0};
    submit(e, &m, "a:7b", "x", 20, &o[0]);
    struct sim_job *waiting = submit(e, &m, "a:7b", "y", 20, &o[1]);
    submit(e, &m, "a:7b", "z", 20, &o[2]);
    sim_job_cancel(waiting);
    run_until_finished(2);
    assert_int_equal(o[0].order, 1);
    assert_int_equal(o[2].order, 2);
    assert_int_equal(o[1].order, 0); /* no callback for a cancelled job */
    assert_int_equal(sim_engine_stats(e).cancelled, 1);
    assert_int_equal(sim_engine_jobs(e), 0);
    assert_int_equal(m.runners[0]->in_flight, 0);
    sim_engine_free(e);
    sim_machine_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_slot_serves_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(two_slots_run_together, setup, teardown),
        cmocka_unit_test_setup_teardown(pending_queue_is_bounded_and_loads_are_serialised, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cancel_while_waiting_frees_the_place, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
