#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coord/model_class.h"

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o)
        fail_msg("bad test JSON: %s", je.text);
    return o;
}

static unsigned caps_of(const char *text)
{
    json_t *a = load(text);
    unsigned caps = model_caps_from_json(a);
    json_decref(a);
    return caps;
}

static void capabilities_are_parsed_and_unknown_names_ignored(void **state)
{
    (void)state;
    assert_int_equal(caps_of("[\"completion\",\"tools\",\"audio\"]"),
                     MCAP_KNOWN | MCAP_COMPLETION | MCAP_TOOLS);
    assert_int_equal(caps_of("[]"), MCAP_KNOWN);
    assert_int_equal(model_caps_from_json(NULL), 0u);
    json_t *s = json_string("tools");
    assert_int_equal(model_caps_from_json(s), 0u);
    json_decref(s);
}

static void categories_come_from_capabilities_then_names(void **state)
{
    (void)state;
    unsigned embed = MCAP_KNOWN | MCAP_EMBEDDING;
    unsigned chat = MCAP_KNOWN | MCAP_COMPLETION;
    /* Reported capabilities decide embedding, whatever the name says. */
    assert_int_equal(model_category("my-model:latest", embed), MCAT_EMBEDDING);
    assert_int_equal(model_category("embedder-chat:latest", chat), MCAT_GENERAL);
    /* Without capabilities, the name. */
    assert_int_equal(model_category("nomic-embed-text:latest", 0), MCAT_EMBEDDING);
    assert_int_equal(model_category("all-minilm:latest", 0), MCAT_EMBEDDING);
    assert_int_equal(model_category("bge-m3:latest", 0), MCAT_EMBEDDING);
    assert_int_equal(model_category("qwen2.5-coder:7b", chat), MCAT_CODING);
    assert_int_equal(model_category("deepseek-r1:8b", 0), MCAT_REASONING);
    assert_int_equal(model_category("llava:13b", 0), MCAT_VISION);
    assert_int_equal(model_category("llama3.2-vision:11b", 0), MCAT_VISION);
    assert_int_equal(model_category("llama3.2:latest", 0), MCAT_GENERAL);
    assert_int_equal(model_category("user/starcoder2:3b", 0), MCAT_CODING);
    assert_string_equal(model_category_name(MCAT_EMBEDDING), "embedding");
}

static unsigned needs_of(const char *text, bool embedding)
{
    json_t *o = load(text);
    unsigned need = model_request_needs(o, embedding);
    json_decref(o);
    return need;
}

static void a_request_needs_what_it_uses(void **state)
{
    (void)state;
    assert_int_equal(needs_of("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", false),
                     MCAP_COMPLETION);
    assert_int_equal(needs_of("{\"input\":\"x\"}", true), MCAP_EMBEDDING);
    assert_int_equal(needs_of("{\"tools\":[{\"type\":\"function\"}],\"messages\":[]}", false),
                     MCAP_COMPLETION | MCAP_TOOLS);
    assert_int_equal(needs_of("{\"tools\":[],\"messages\":[]}", false), MCAP_COMPLETION);
    /* Ollama images, in a message or on /api/generate. */
    assert_int_equal(
        needs_of("{\"messages\":[{\"role\":\"user\",\"content\":\"?\",\"images\":[\"aGk=\"]}]}",
                 false),
        MCAP_COMPLETION | MCAP_VISION);
    assert_int_equal(needs_of("{\"prompt\":\"?\",\"images\":[\"aGk=\"]}", false),
                     MCAP_COMPLETION | MCAP_VISION);
    /* OpenAI content parts. */
    assert_int_equal(needs_of("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                              "\"text\":\"?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
                              "\"data:image/png;base64,aGk=\"}}]}]}",
                              false),
                     MCAP_COMPLETION | MCAP_VISION);
}

static void capabilities_must_cover_the_needs(void **state)
{
    (void)state;
    unsigned tools = MCAP_KNOWN | MCAP_COMPLETION | MCAP_TOOLS;
    unsigned plain = MCAP_KNOWN | MCAP_COMPLETION;
    assert_true(model_caps_satisfy(tools, MCAP_COMPLETION | MCAP_TOOLS));
    assert_false(model_caps_satisfy(plain, MCAP_COMPLETION | MCAP_TOOLS));
    assert_false(model_caps_satisfy(plain, MCAP_COMPLETION | MCAP_VISION));
    assert_false(model_caps_satisfy(MCAP_KNOWN | MCAP_EMBEDDING, MCAP_COMPLETION));
    /* Unknown capabilities: plain completion or embedding only (the category decides which),
     * never tools or images. */
    assert_true(model_caps_satisfy(0, MCAP_COMPLETION));
    assert_true(model_caps_satisfy(0, MCAP_EMBEDDING));
    assert_false(model_caps_satisfy(0, MCAP_COMPLETION | MCAP_TOOLS));
    assert_false(model_caps_satisfy(0, MCAP_COMPLETION | MCAP_VISION));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capabilities_are_parsed_and_unknown_names_ignored),
        cmocka_unit_test(categories_come_from_capabilities_then_names),
        cmocka_unit_test(a_request_needs_what_it_uses),
        cmocka_unit_test(capabilities_must_cover_the_needs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
