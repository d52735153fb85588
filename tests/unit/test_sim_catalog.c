#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim/sim_catalog.h"

static void names_normalise(void **state)
{
    (void)state;
    char out[SIM_NAME_MAX];
    assert_int_equal(model_name_normalize("llama3", out, sizeof out), 0);
    assert_string_equal(out, "llama3:latest");
    assert_int_equal(model_name_normalize("Qwen2.5:7B", out, sizeof out), 0);
    assert_string_equal(out, "qwen2.5:7b");
    assert_int_equal(model_name_normalize("registry.ollama.ai/library/mistral", out, sizeof out),
                     0);
    assert_string_equal(out, "mistral:latest");
    assert_int_equal(model_name_normalize("user/model", out, sizeof out), 0);
    assert_string_equal(out, "user/model:latest");
    assert_int_equal(model_name_normalize("", out, sizeof out), -EINVAL);
    assert_int_equal(model_name_normalize("bad name", out, sizeof out), -EINVAL);
    assert_int_equal(model_name_normalize("x:", out, sizeof out), -EINVAL);
}

static void describe_known_and_unknown(void **state)
{
    (void)state;
    struct sim_model_spec s;
    sim_catalog_describe("qwen2.5:7b", 4.7, &s);
    assert_string_equal(s.family, "qwen2");
    assert_string_equal(s.parameter_size, "7.0B");
    assert_string_equal(s.quantization, "Q4_K_M");
    assert_true(s.caps & MCAP_TOOLS);
    assert_int_equal(strlen(s.digest), 64);

    sim_catalog_describe("nomic-embed-text", 0.27, &s);
    assert_string_equal(s.name, "nomic-embed-text:latest");
    assert_int_equal(s.caps, MCAP_EMBEDDING);
    assert_int_equal(s.embedding_length, 768);

    sim_catalog_describe("mymodel:70b-q8", 75, &s);
    assert_string_equal(s.parameter_size, "70B");
    assert_string_equal(s.quantization, "Q8_0");
    assert_true(s.caps & MCAP_COMPLETION);

    struct sim_model_spec t;
    sim_catalog_describe("mymodel:70b-q8", 75, &t);
    assert_string_equal(s.digest, t.digest); /* stable */
}

static void capability_names(void **state)
{
    (void)state;
    const char *names[8];
    size_t n = model_caps_names(MCAP_COMPLETION | MCAP_VISION | MCAP_TOOLS, names, 8);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "completion");
    assert_string_equal(names[1], "tools");
    assert_string_equal(names[2], "vision");
    assert_int_equal(model_cap_parse("thinking"), MCAP_THINKING);
    assert_int_equal(model_cap_parse("flying"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_normalise),
        cmocka_unit_test(describe_known_and_unknown),
        cmocka_unit_test(capability_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
