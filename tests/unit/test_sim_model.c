#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim/sim_model.h"

static struct sim_machine_spec machine_spec(void)
{
    struct sim_machine_spec s = {0};
    snprintf(s.name, sizeof s.name, "box");
    s.memory_gb = 24;
    s.vram_gb = 24;
    s.disk_gbps = 2;
    s.bandwidth_gbps = 400;
    s.speed = 1;
    s.load_overhead_s = 0.5;
    s.parallel_efficiency = 0.5;
    s.num_parallel = 2;
    s.max_loaded = 2;
    s.max_queue = 512;
    s.keep_alive_s = 300;
    return s;
}

static void add(struct sim_machine *m, const char *name, double gb)
{
    struct sim_model_spec s;
    sim_catalog_describe(name, gb, &s);
    assert_int_equal(sim_machine_add_model(m, &s), 0);
}

static void load_time_from_size_and_disk(void **state)
{
    (void)state;
    struct sim_machine_spec spec = machine_spec();
    struct sim_machine m;
    sim_machine_init(&m, &spec);
    add(&m, "qwen2.5:7b", 4.0);
    struct sim_model_spec *q = sim_machine_model(&m, "qwen2.5:7b");
    assert_true(fabs(sim_load_seconds(&m, q) - 2.5) < 1e-9); /* 0.5 + 4 GB / 2 GB/s */
    m.spec.speed = 2;
    assert_true(fabs(sim_load_seconds(&m, q) - 1.25) < 1e-9);
    /* Generation is bandwidth bound; prefill is faster; a slower machine is slower. */
    double g = sim_gen_tps(&m, q);
    assert_true(g > 0 && sim_prompt_tps(&m, q) > 10 * g);
    m.spec.speed = 1;
    assert_true(sim_gen_tps(&m, q) < g);
    sim_machine_free(&m);
}

static void default_context_and_reload_rule(void **state)
{
    (void)state;
    struct sim_machine_spec spec = machine_spec();
    struct sim_machine m;
    sim_machine_init(&m, &spec);
    add(&m, "qwen2.5:7b", 4.0);
    struct sim_model_spec *q = sim_machine_model(&m, "qwen2.5:7b");
    /* 24 GB of VRAM is 22.4 GiB: the 4096 tier. */
    assert_int_equal(sim_default_num_ctx(&m, q), 4096);
    m.spec.vram_gb = 48;
    assert_int_equal(sim_default_num_ctx(&m, q), 32768); /* capped at the trained 32768 */
    m.spec.vram_gb = 24;
    m.spec.context_length = 8192;
    assert_int_equal(sim_effective_num_ctx(&m, q, 0), 8192);
    m.spec.context_length = 0;
    assert_int_equal(sim_effective_num_ctx(&m, q, 1000000), 32768);
    assert_int_equal(sim_effective_num_ctx(&m, q, 2), 4);

    struct sim_runner *r = sim_runner_start(&m, q, 4096, 300, 0);
    assert_non_null(r);
    assert_true(fabs(r->ready_at - 2.5) < 1e-9);
    /* Same context (explicit or default) joins; another context needs a reload. */
    assert_ptr_equal(sim_runner_for(&m, q->name, sim_effective_num_ctx(&m, q, 0)), r);
    assert_ptr_equal(sim_runner_for(&m, q->name, sim_effective_num_ctx(&m, q, 4096)), r);
    assert_null(sim_runner_for(&m, q->name, sim_effective_num_ctx(&m, q, 8192)));
    assert_ptr_equal(sim_runner_any(&m, q->name), r);
    /* A bigger context occupies more memory. */
    assert_true(sim_runner_size_gb(q, 8192, 2) > r->size_gb);
    sim_machine_free(&m);
}

static void eviction_prefers_idle_then_short_keep_alive(void **state)
{
    (void)state;
    struct sim_machine_spec spec = machine_spec();
    spec.max_loaded = 3;
    struct sim_machine m;
    sim_machine_init(&m, &spec);
    add(&m, "a:7b", 4);
    add(&m, "b:7b", 4);
    add(&m, "c:7b", 4);
    add(&m, "big:70b", 40);
    struct sim_runner *ra = sim_runner_start(&m, sim_machine_model(&m, "a:7b"), 2048, 600, 0);
    struct sim_runner *rb = sim_runner_start(&m, sim_machine_model(&m, "b:7b"), 2048, 60, 0);
    struct sim_runner *rc = sim_runner_start(&m, sim_machine_model(&m, "c:7b"), 2048, 30, 0);
    assert_false(sim_has_room(&m, 1)); /* count limit */
    rc->in_flight = 1;                 /* busy: not the first choice even with the shortest */
    assert_int_equal(sim_pick_victim(&m), sim_runner_index(&m, rb));
    rb->in_flight = 1;
    assert_int_equal(sim_pick_victim(&m), sim_runner_index(&m, ra));
    ra->in_flight = 1;
    assert_int_equal(sim_pick_victim(&m), sim_runner_index(&m, rc)); /* all busy: shortest */
    sim_runner_remove(&m, (size_t)sim_runner_index(&m, rc));
    /* A 40 GB model never fits a 24 GB budget. */
    assert_true(sim_has_room(&m, 4));
    assert_false(sim_has_room(&m, 40));
    sim_machine_free(&m);
}

static void expiry_and_release(void **state)
{
    (void)state;
    struct sim_machine_spec spec = machine_spec();
    struct sim_machine m;
    sim_machine_init(&m, &spec);
    add(&m, "a:7b", 4);
    struct sim_runner *r = sim_runner_start(&m, sim_machine_model(&m, "a:7b"), 2048, 10, 0);
    r->in_flight = 1;
    assert_int_equal(sim_expire(&m, 100), 0); /* in use: never expires */
    sim_runner_release(r, 100);
    assert_true(r->expires_at == 110);
    assert_int_equal(sim_expire(&m, 109), 0);
    assert_int_equal(sim_expire(&m, 110), 1);
    assert_int_equal(m.n_runners, 0);

    r = sim_runner_start(&m, sim_machine_model(&m, "a:7b"), 2048, -1, 0);
    assert_true(r->expires_at > 1e9);       /* forever */
    r->draining = true;                     /* marked for reload: goes as soon as idle and loaded */
    assert_int_equal(sim_expire(&m, 1), 0); /* still loading */
    assert_int_equal(sim_expire(&m, 10), 1);
    sim_machine_free(&m);
}

static void slots_and_prefix_cache(void **state)
{
    (void)state;
    struct sim_machine_spec spec = machine_spec();
    struct sim_machine m;
    sim_machine_init(&m, &spec);
    add(&m, "a:7b", 4);
    struct sim_runner *r = sim_runner_start(&m, sim_machine_model(&m, "a:7b"), 2048, 300, 0);
    assert_int_equal(r->parallel, 2);
    struct sim_tokens p;
    sim_tokens_init(&p);
    const char *conv = "system: be brief user: hello assistant: hi user: more";
    sim_tokenize_append(&p, conv, strlen(conv));
    /* Slot 1 saw the first part of this conversation; it is picked over an empty slot 0. */
    const char *seen = "system: be brief user: hello";
    sim_tokenize_append(&r->slots[1].cache, seen, strlen(seen));
    size_t matched;
    assert_int_equal(sim_pick_slot(r, &p, &matched), 1);
    assert_int_equal(matched, 4); /* "hello" differs from "hello " (whitespace ends a token) */
    r->slots[1].busy = true;
    assert_int_equal(sim_pick_slot(r, &p, &matched), 0);
    assert_int_equal(matched, 0);
    r->slots[0].busy = true;
    assert_int_equal(sim_pick_slot(r, &p, &matched), -1); /* all busy: the request queues */
    sim_tokens_free(&p);
    sim_machine_free(&m);
}

static void streams_slow_down_when_sharing(void **state)
{
    (void)state;
    struct sim_machine_spec spec = machine_spec();
    struct sim_machine m;
    sim_machine_init(&m, &spec);
    assert_true(sim_stream_rate(&m, 100, 1) == 100);
    assert_true(sim_stream_rate(&m, 100, 2) == 75); /* (1 + 0.5) / 2 */
    assert_true(sim_stream_rate(&m, 100, 4) == 62.5);
    m.spec.parallel_efficiency = 0;
    assert_true(sim_stream_rate(&m, 100, 4) == 25); /* no batching gain */
    sim_machine_free(&m);
}

static void embedding_models_get_one_slot(void **state)
{
    (void)state;
    struct sim_machine_spec spec = machine_spec();
    spec.num_parallel = 4;
    struct sim_machine m;
    sim_machine_init(&m, &spec);
    add(&m, "nomic-embed-text", 0.3);
    add(&m, "a:7b", 4);
    assert_int_equal(sim_runner_parallel(&m, sim_machine_model(&m, "nomic-embed-text:latest")), 1);
    assert_int_equal(sim_runner_parallel(&m, sim_machine_model(&m, "a:7b")), 4);
    assert_int_equal(sim_machine_remove_model(&m, "a:7b"), 0);
    assert_int_equal(sim_machine_remove_model(&m, "a:7b"), -ENOENT);
    sim_machine_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_time_from_size_and_disk),
        cmocka_unit_test(default_context_and_reload_rule),
        cmocka_unit_test(eviction_prefers_idle_then_short_keep_alive),
        cmocka_unit_test(expiry_and_release),
        cmocka_unit_test(slots_and_prefix_cache),
        cmocka_unit_test(streams_slow_down_when_sharing),
        cmocka_unit_test(embedding_models_get_one_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
