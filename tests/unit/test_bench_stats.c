/* Benchmark figures: nearest-rank percentiles, rates, per model and per node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "coord/bench_stats.h"

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void percentiles_are_nearest_rank(void **state)
{
    (void)state;
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i + 1;
    assert_true(bench_percentile(v, 100, 50) == 50);
    assert_true(bench_percentile(v, 100, 95) == 95);
    assert_true(bench_percentile(v, 100, 99) == 99);
    assert_true(bench_percentile(v, 100, 100) == 100);
    assert_true(bench_percentile(v, 100, 0) == 1);
    double one = 7;
    assert_true(bench_percentile(&one, 1, 99) == 7);
    double three[] = {1, 2, 3};
    assert_true(bench_percentile(three, 3, 50) == 2);
}

static void totals_rates_and_groups(void **state)
{
    (void)state;
    const char *models[] = {"m1", "m2"};
    const char *nodes[] = {"a", "b"};
    struct bench_sample s[] = {
        {0, 0, true, 100, 10, 5, 20},           {0, 1, true, 300, 30, 5, 40},
        {1, 0, true, 200, 20, 7, 10},           {1, 1, false, 50, -1, 0, 0},
        {0, BENCH_NO_NODE, false, 5, -1, 0, 0},
    };
    json_t *o = bench_summary(s, 5, 10.0, models, 2, nodes, 2);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "total_requests")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "total_failures")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "total_prompt_tokens")), 17);
    assert_int_equal(json_integer_value(json_object_get(o, "total_completion_tokens")), 70);
    assert_true(num(o, "requests_per_sec") == 0.3); /* 3 completed in 10 s */
    assert_true(num(o, "tokens_per_sec") == 7.0);
    /* Failed requests' latencies are not in the percentiles. */
    assert_true(num(o, "latency_p50_ms") == 200);
    assert_true(num(o, "latency_p99_ms") == 300);
    assert_true(num(o, "ttft_p50_ms") == 20);
    const json_t *m1 = json_array_get(json_object_get(o, "per_model"), 0);
    assert_string_equal(json_string_value(json_object_get(m1, "model")), "m1");
    assert_int_equal(json_integer_value(json_object_get(m1, "requests")), 3);
    assert_int_equal(json_integer_value(json_object_get(m1, "failures")), 1);
    assert_true(num(m1, "latency_p50_ms") == 100);
    const json_t *a = json_array_get(json_object_get(o, "per_node"), 0);
    const json_t *b = json_array_get(json_object_get(o, "per_node"), 1);
    assert_int_equal(json_integer_value(json_object_get(a, "requests")), 2);
    assert_true(num(a, "share") * 3 > 1.99 && num(a, "share") * 3 < 2.01);
    assert_true(num(b, "share") * 3 > 0.99 && num(b, "share") * 3 < 1.01);
    json_decref(o);
}

static void nothing_completed_gives_null_percentiles(void **state)
{
    (void)state;
    struct bench_sample s[] = {{0, BENCH_NO_NODE, false, 5, -1, 0, 0}};
    const char *models[] = {"m"};
    json_t *o = bench_summary(s, 1, 5, models, 1, NULL, 0);
    assert_true(json_is_null(json_object_get(o, "latency_p50_ms")));
    assert_true(json_is_null(json_object_get(o, "ttft_p99_ms")));
    assert_true(num(o, "requests_per_sec") == 0);
    json_decref(o);
    o = bench_summary(NULL, 0, 0, NULL, 0, NULL, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "total_requests")), 0);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percentiles_are_nearest_rank),
        cmocka_unit_test(totals_rates_and_groups),
        cmocka_unit_test(nothing_completed_gives_null_percentiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
