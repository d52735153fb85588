#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/keep_alive.h"
#include "sim/sim_text.h"

static void tokens_are_stable_and_prefix_friendly(void **state)
{
    (void)state;
    struct sim_tokens a, b;
    sim_tokens_init(&a);
    sim_tokens_init(&b);
    const char *t1 = "You are a helpful assistant. Hello there";
    const char *t2 = "You are a helpful assistant. Hello there, how are you?";
    sim_tokenize_append(&a, t1, strlen(t1));
    sim_tokenize_append(&b, t2, strlen(t2));
    assert_int_equal(a.n, 8); /* "assistant." is split after 8 bytes */
    assert_int_equal(sim_token_count(t1, strlen(t1)), 8);
    size_t i = 0;
    while (i < a.n && a.ids[i] == b.ids[i])
        i++;
    assert_int_equal(i, 7); /* "there" vs "there," differ; everything before is shared */
    /* Long words are split every 8 bytes. */
    assert_int_equal(sim_token_count("abcdefghijklmnopq", 17), 3);
    sim_tokens_free(&a);
    sim_tokens_free(&b);
}

static void words_are_deterministic_for_a_seed(void **state)
{
    (void)state;
    struct sim_rng r1, r2;
    sim_rng_seed(&r1, 42);
    sim_rng_seed(&r2, 42);
    struct hbuf a, b;
    hbuf_init(&a, 4096);
    hbuf_init(&b, 4096);
    for (int i = 0; i < 20; i++) {
        sim_next_word(&r1, &a, i);
        sim_next_word(&r2, &b, i);
    }
    assert_string_equal(a.data, b.data);
    assert_int_equal(sim_token_count(a.data, a.len), 20);
    hbuf_free(&a);
    hbuf_free(&b);
}

static void embeddings_normalised_and_deterministic(void **state)
{
    (void)state;
    float v[64], w[64];
    sim_embedding("hello", 5, v, 64, 1);
    sim_embedding("hello", 5, w, 64, 1);
    double sum = 0;
    for (int i = 0; i < 64; i++) {
        assert_true(v[i] == w[i]);
        sum += (double)v[i] * v[i];
    }
    assert_true(fabs(sum - 1.0) < 1e-5);
    sim_embedding("other", 5, w, 64, 1);
    assert_true(memcmp(v, w, sizeof v) != 0);
}

static void tool_arguments_follow_the_schema(void **state)
{
    (void)state;
    json_error_t je;
    json_t *params = json_loads("{\"type\":\"object\",\"properties\":{"
                                "\"city\":{\"type\":\"string\"},"
                                "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"f\"]},"
                                "\"days\":{\"type\":\"integer\"}},\"required\":[\"city\"]}",
                                0, &je);
    struct sim_rng r;
    sim_rng_seed(&r, 1);
    json_t *args = sim_tool_arguments(params, &r);
    assert_string_equal(json_string_value(json_object_get(args, "city")), "example");
    assert_string_equal(json_string_value(json_object_get(args, "unit")), "celsius");
    assert_true(json_is_integer(json_object_get(args, "days")));
    json_decref(args);
    json_decref(params);
}

static void keep_alive_parsing(void **state)
{
    (void)state;
    double s;
    char err[128];
    json_t *v = json_string("1h30m");
    assert_int_equal(keep_alive_parse(v, &s, err, sizeof err), 0);
    assert_true(s == 5400);
    json_decref(v);
    v = json_string("300ms");
    assert_int_equal(keep_alive_parse(v, &s, err, sizeof err), 0);
    assert_true(fabs(s - 0.3) < 1e-9);
    json_decref(v);
    v = json_string("-1m");
    assert_int_equal(keep_alive_parse(v, &s, err, sizeof err), 0);
    assert_true(s < 0);
    json_decref(v);
    v = json_real(2.5);
    assert_int_equal(keep_alive_parse(v, &s, err, sizeof err), 0);
    assert_true(s == 2.5);
    json_decref(v);
    v = json_string("3600");
    assert_int_equal(keep_alive_parse(v, &s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "time: missing unit in duration \"3600\"");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_are_stable_and_prefix_friendly),
        cmocka_unit_test(words_are_deterministic_for_a_seed),
        cmocka_unit_test(embeddings_normalised_and_deterministic),
        cmocka_unit_test(tool_arguments_follow_the_schema),
        cmocka_unit_test(keep_alive_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
