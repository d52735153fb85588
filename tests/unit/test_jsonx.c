#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/jsonx.h"

static void typed_getters(void **state)
{
    (void)state;
    char err[128];
    const char *body = "{\"model\":\"m\",\"n\":3,\"r\":2.0,\"f\":2.5,\"b\":true,\"z\":null}";
    json_t *o = jsonx_parse_body(body, strlen(body), err, sizeof err);
    assert_non_null(o);
    assert_string_equal(jsonx_str(o, "model"), "m");
    assert_null(jsonx_str(o, "n"));
    assert_string_equal(jsonx_str_or(o, "missing", "d"), "d");
    int64_t i;
    assert_int_equal(jsonx_int(o, "n", &i), 0);
    assert_int_equal(i, 3);
    assert_int_equal(jsonx_int(o, "r", &i), 0); /* 2.0 is an integer value */
    assert_int_equal(i, 2);
    assert_int_equal(jsonx_int(o, "f", &i), -EINVAL);
    assert_int_equal(jsonx_int(o, "model", &i), -EINVAL);
    assert_int_equal(jsonx_int(o, "z", &i), -ENOENT);
    assert_int_equal(jsonx_int(o, "absent", &i), -ENOENT);
    double d;
    assert_int_equal(jsonx_num(o, "f", &d), 0);
    assert_true(d == 2.5);
    assert_true(jsonx_bool_or(o, "b", false));
    assert_false(jsonx_bool_or(o, "model", false));
    json_decref(o);
}

static void parse_errors_are_clear(void **state)
{
    (void)state;
    char err[128];
    assert_null(jsonx_parse_body("", 0, err, sizeof err));
    assert_string_equal(err, "missing request body");
    assert_null(jsonx_parse_body("{\"a\":", 5, err, sizeof err));
    assert_non_null(strstr(err, "invalid JSON at line 1"));
    assert_null(jsonx_parse_body("\"\xff\"", 3, err, sizeof err)); /* invalid UTF-8 */
}

static void dump_into_bounded_buffer(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s}", "error", "x");
    struct hbuf b;
    hbuf_init(&b, 100);
    assert_int_equal(jsonx_dump_append(o, &b), 0);
    assert_string_equal(b.data, "{\"error\":\"x\"}");
    hbuf_free(&b);
    hbuf_init(&b, 4);
    assert_int_equal(jsonx_dump_append(o, &b), -EMSGSIZE);
    hbuf_free(&b);
    json_decref(o);
}

static void utf8_sanitize(void **state)
{
    (void)state;
    char s1[] = "caf\xc3\xa9 ok";
    assert_int_equal(jsonx_utf8_sanitize(s1), 0);
    assert_string_equal(s1, "caf\xc3\xa9 ok");
    char s2[] = "bad\xff\xc3_end";
    assert_int_equal(jsonx_utf8_sanitize(s2), 2);
    assert_string_equal(s2, "bad?"
                            "?_end");
    char s3[] = "\xed\xa0\x80"; /* a surrogate is not valid UTF-8 */
    assert_int_equal(jsonx_utf8_sanitize(s3), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(typed_getters),
        cmocka_unit_test(parse_errors_are_clear),
        cmocka_unit_test(dump_into_bounded_buffer),
        cmocka_unit_test(utf8_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
