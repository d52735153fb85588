/* Recommendations: copies follow demand, memory and disk bound them, unused models go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "coord/recommend.h"

#define MAX_MODELS 8

struct fake {
    struct node node;
    struct node_model models[MAX_MODELS];
    struct node_model loaded[MAX_MODELS];
};

static void make(struct fake *f, const char *id, double mem_gb)
{
    memset(f, 0, sizeof *f);
    snprintf(f->node.id, sizeof f->node.id, "%s", id);
    f->node.has_memory = true;
    f->node.mem_total_gb = mem_gb;
    f->node.available = f->models;
    f->node.loaded = f->loaded;
}

static void has(struct fake *f, const char *model, double gb, bool loaded)
{
    struct node_model *m = &f->models[f->node.n_available++];
    snprintf(m->name, sizeof m->name, "%s", model);
    m->size_gb = gb;
    if (loaded)
        f->loaded[f->node.n_loaded++] = *m;
}

static double ten_gb(const char *model, void *arg)
{
    (void)model;
    (void)arg;
    return 10;
}

static const json_t *find(const json_t *arr, const char *key, const char *value)
{
    size_t i;
    const json_t *o;
    json_array_foreach (arr, i, o)
        if (strcmp(json_string_value(json_object_get(o, key)), value) == 0)
            return o;
    return NULL;
}

static const json_t *plan_node(const json_t *plan, const char *id)
{
    return find(json_object_get(plan, "nodes"), "node_id", id);
}

static const json_t *plan_model(const json_t *plan, const char *model)
{
    return find(json_object_get(plan, "models"), "model", model);
}

static size_t count(const json_t *node, const char *list)
{
    return json_array_size(json_object_get(node, list));
}

static void a_missing_model_goes_to_the_roomiest_node_it_fits(void **state)
{
    (void)state;
    static struct fake a, b;
    make(&a, "small", 16);
    make(&b, "big", 64);
    has(&a, "qwen2.5:7b", 4.7, true);
    struct rec_node nodes[] = {{&a.node, true, -1}, {&b.node, true, -1}};
    struct rec_demand d[] = {{"qwen2.5:7b", 10, 2, 0}, {"qwen3:32b", 5, 5, 5}};
    json_t *plan = recommend_plan(nodes, 2, d, 2, NULL, 0, ten_gb, NULL);
    assert_non_null(plan);
    /* qwen3:32b has no reported size: the estimate (10 GB) is used, flagged as such. */
    const json_t *pull =
        find(json_object_get(plan_node(plan, "big"), "pull"), "model", "qwen3:32b");
    assert_non_null(pull);
    assert_false(json_boolean_value(json_object_get(pull, "size_known")));
    /* 12 GB with its context does not fit small's 10. */
    assert_null(find(json_object_get(plan_node(plan, "small"), "pull"), "model", "qwen3:32b"));
    /* qwen2.5:7b has two thirds of the requests: it belongs on both nodes. */
    assert_non_null(find(json_object_get(plan_node(plan, "big"), "pull"), "model", "qwen2.5:7b"));
    assert_string_equal(json_string_value(json_object_get(plan_model(plan, "qwen3:32b"), "status")),
                        "missing");
    assert_string_equal(
        json_string_value(json_object_get(plan_model(plan, "qwen2.5:7b"), "status")), "add_copies");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(plan, "summary"), "pulls")),
                     2);
    json_decref(plan);
}

static void a_busy_model_gets_copies_in_proportion_to_its_share(void **state)
{
    (void)state;
    static struct fake n[4];
    struct rec_node nodes[4];
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "n%d", i);
        make(&n[i], id, 32);
        nodes[i] = (struct rec_node){&n[i].node, true, -1};
    }
    has(&n[0], "hot:7b", 5, true);
    has(&n[1], "cold:7b", 5, true);
    /* hot has 75 % of 400 requests: 3 of the 4 nodes; cold 25 % (1 node), but with 50 or more
     * requests a week it wants a second copy. */
    struct rec_demand d[] = {{"cold:7b", 100, 10, 0}, {"hot:7b", 300, 40, 0}};
    json_t *plan = recommend_plan(nodes, 4, d, 2, NULL, 0, ten_gb, NULL);
    assert_int_equal(
        json_integer_value(json_object_get(plan_model(plan, "hot:7b"), "target_nodes")), 3);
    assert_int_equal(
        json_integer_value(json_object_get(plan_model(plan, "cold:7b"), "target_nodes")), 2);
    int pulls_of_hot = 0;
    for (int i = 0; i < 4; i++)
        if (find(json_object_get(json_array_get(json_object_get(plan, "nodes"), (size_t)i), "pull"),
                 "model", "hot:7b"))
            pulls_of_hot++;
    assert_int_equal(pulls_of_hot, 2);
    /* n1's memory already goes to cold:7b, so the roomier n2 and n3 take the copies. */
    assert_null(find(json_object_get(plan_node(plan, "n1"), "pull"), "model", "hot:7b"));
    assert_string_equal(json_string_value(json_object_get(plan_model(plan, "hot:7b"), "status")),
                        "add_copies");
    json_decref(plan);
}

static void fifty_requests_a_week_want_two_nodes(void **state)
{
    (void)state;
    static struct fake a, b;
    make(&a, "a", 32);
    make(&b, "b", 32);
    has(&a, "m:7b", 5, false);
    has(&a, "n:7b", 5, false);
    struct rec_node nodes[] = {{&a.node, true, -1}, {&b.node, true, -1}};
    struct rec_demand d[] = {{"m:7b", 50, 1, 0}, {"n:7b", 450, 1, 0}};
    json_t *plan = recommend_plan(nodes, 2, d, 2, NULL, 0, ten_gb, NULL);
    assert_int_equal(json_integer_value(json_object_get(plan_model(plan, "m:7b"), "target_nodes")),
                     2);
    assert_non_null(find(json_object_get(plan_node(plan, "b"), "pull"), "model", "m:7b"));
    json_decref(plan);
}

static void memory_overhead_ceiling_and_disk_bound_the_plan(void **state)
{
    (void)state;
    static struct fake a, b, c;
    make(&a, "tight", 16);   /* offers 10 GB: 9 GB * 1.2 does not fit */
    make(&b, "capped", 128); /* ceiling 8 GB */
    b.node.capacity.present = true;
    b.node.capacity.ceiling_gb = 8;
    make(&c, "full-disk", 128);
    struct rec_node nodes[] = {{&a.node, true, -1}, {&b.node, true, -1}, {&c.node, true, 5}};
    struct rec_demand d[] = {{"big:14b", 20, 1, 20}};
    json_t *plan = recommend_plan(nodes, 3, d, 1, NULL, 0, ten_gb, NULL);
    assert_true(json_real_value(json_object_get(plan_node(plan, "tight"), "offers_gb")) == 10.0);
    assert_true(json_real_value(json_object_get(plan_node(plan, "capped"), "offers_gb")) == 8.0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(plan, "summary"), "pulls")),
                     0);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(count(json_array_get(json_object_get(plan, "nodes"), i), "pull"), 0);
    /* full-disk offers the memory but not the disk: no room, rather than too big. */
    assert_string_equal(json_string_value(json_object_get(plan_model(plan, "big:14b"), "status")),
                        "no_room");
    json_decref(plan);

    nodes[2].disk_free_gb = -1;
    c.node.mem_total_gb = 16;
    plan = recommend_plan(nodes, 3, d, 1, NULL, 0, ten_gb, NULL);
    const json_t *m = plan_model(plan, "big:14b");
    assert_string_equal(json_string_value(json_object_get(m, "status")), "too_big");
    assert_non_null(
        strstr(json_string_value(json_object_get(m, "note")), "largest node offers 10.0 GB"));
    json_decref(plan);
}

static void unusable_nodes_get_nothing(void **state)
{
    (void)state;
    static struct fake a;
    make(&a, "paused", 64);
    struct rec_node nodes[] = {{&a.node, false, -1}};
    struct rec_demand d[] = {{"m:7b", 5, 1, 5}};
    json_t *plan = recommend_plan(nodes, 1, d, 1, NULL, 0, ten_gb, NULL);
    assert_int_equal(count(plan_node(plan, "paused"), "pull"), 0);
    assert_int_equal(json_integer_value(json_object_get(plan_model(plan, "m:7b"), "target_nodes")),
                     0);
    json_decref(plan);
}

static void unused_models_on_disk_are_removal_candidates(void **state)
{
    (void)state;
    static struct fake a;
    make(&a, "a", 64);
    has(&a, "loaded-idle:7b", 4, true); /* loaded: kept */
    has(&a, "asked:7b", 4, false);      /* asked for this week: kept */
    has(&a, "used:7b", 4, false);       /* served this month: kept */
    has(&a, "old:7b", 4.5, false);      /* nothing: goes */
    has(&a, "older:3b", 2, false);      /* only long ago: goes */
    struct rec_node nodes[] = {{&a.node, true, -1}};
    struct rec_demand d[] = {{"asked:7b", 3, 0, 0}};
    struct rec_use u[] = {{"a", "used:7b", 4, 1000}, {"a", "older:3b", 0, 500}};
    json_t *plan = recommend_plan(nodes, 1, d, 1, u, 2, ten_gb, NULL);
    const json_t *rm = json_object_get(plan_node(plan, "a"), "remove");
    assert_int_equal(json_array_size(rm), 2);
    assert_non_null(find(rm, "model", "old:7b"));
    const json_t *older = find(rm, "model", "older:3b");
    assert_non_null(older);
    assert_true(json_real_value(json_object_get(older, "last_used")) == 500);
    assert_true(json_real_value(
                    json_object_get(json_object_get(plan, "summary"), "reclaimable_gb")) == 6.5);
    json_decref(plan);
}

static void no_demand_no_nodes(void **state)
{
    (void)state;
    json_t *plan = recommend_plan(NULL, 0, NULL, 0, NULL, 0, NULL, NULL);
    assert_non_null(plan);
    assert_int_equal(json_array_size(json_object_get(plan, "nodes")), 0);
    assert_int_equal(json_array_size(json_object_get(plan, "models")), 0);
    json_decref(plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_missing_model_goes_to_the_roomiest_node_it_fits),
        cmocka_unit_test(a_busy_model_gets_copies_in_proportion_to_its_share),
        cmocka_unit_test(fifty_requests_a_week_want_two_nodes),
        cmocka_unit_test(memory_overhead_ceiling_and_disk_bound_the_plan),
        cmocka_unit_test(unusable_nodes_get_nothing),
        cmocka_unit_test(unused_models_on_disk_are_removal_candidates),
        cmocka_unit_test(no_demand_no_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
