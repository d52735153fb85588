/* The body a node gets: each of herd's edits, and nothing else changed. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "coord/request_body.h"

static json_t *edit(const char *raw, const struct request_body_edits *e)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(request_body_edit(raw, strlen(raw), e, &out, &len), 0);
    assert_int_equal(len, strlen(out));
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    free(out);
    assert_non_null(o);
    return o;
}

static void no_edit_is_no_edit(void **state)
{
    (void)state;
    struct request_body_edits e = {0};
    assert_false(request_body_edited(&e));
    e.add_usage = true;
    assert_true(request_body_edited(&e));
}

static void model_and_extras(void **state)
{
    (void)state;
    struct request_body_edits e = {.model = "mistral:7b", .drop_extra = true};
    json_t *o =
        edit("{\"model\":\"llama3\",\"fallback_models\":[\"a\"],\"metadata\":{\"tags\":[\"x\"]},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             &e);
    assert_string_equal(json_string_value(json_object_get(o, "model")), "mistral:7b");
    assert_null(json_object_get(o, "fallback_models"));
    assert_null(json_object_get(o, "metadata"));
    assert_int_equal(json_array_size(json_object_get(o, "messages")), 1);
    json_decref(o);
}

static void num_ctx_out_and_options_with_it_when_empty(void **state)
{
    (void)state;
    struct request_body_edits e = {.strip_ctx = true};
    json_t *o = edit("{\"model\":\"m\",\"options\":{\"num_ctx\":8192,\"temperature\":0}}", &e);
    json_t *opts = json_object_get(o, "options");
    assert_null(json_object_get(opts, "num_ctx"));
    assert_non_null(json_object_get(opts, "temperature"));
    json_decref(o);
    o = edit("{\"model\":\"m\",\"options\":{\"num_ctx\":8192}}", &e);
    assert_null(json_object_get(o, "options"));
    json_decref(o);
}

static void usage_is_asked_for(void **state)
{
    (void)state;
    struct request_body_edits e = {.add_usage = true};
    json_t *o = edit("{\"model\":\"m\",\"stream\":true}", &e);
    assert_true(
        json_is_true(json_object_get(json_object_get(o, "stream_options"), "include_usage")));
    json_decref(o);
    o = edit("{\"model\":\"m\",\"stream_options\":{\"include_usage\":false,\"x\":1}}", &e);
    json_t *so = json_object_get(o, "stream_options");
    assert_true(json_is_true(json_object_get(so, "include_usage")));
    assert_non_null(json_object_get(so, "x"));
    json_decref(o);
}

static void not_an_object_is_refused(void **state)
{
    (void)state;
    struct request_body_edits e = {.add_usage = true};
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(request_body_edit("[1]", 3, &e, &out, &len), -1);
    assert_int_equal(request_body_edit("{", 1, &e, &out, &len), -1);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_edit_is_no_edit),
        cmocka_unit_test(model_and_extras),
        cmocka_unit_test(num_ctx_out_and_options_with_it_when_empty),
        cmocka_unit_test(usage_is_asked_for),
        cmocka_unit_test(not_an_object_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
