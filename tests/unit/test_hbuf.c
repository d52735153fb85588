#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/hbuf.h"

static void append_within_bound(void **state)
{
    (void)state;
    struct hbuf b;
    hbuf_init(&b, 8);
    assert_int_equal(hbuf_append_str(&b, "abc"), 0);
    assert_int_equal(hbuf_append(&b, "defgh", 5), 0);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh");
    assert_int_equal(hbuf_append(&b, "i", 1), -EMSGSIZE);
    assert_string_equal(b.data, "abcdefgh"); /* unchanged on refusal */
    hbuf_free(&b);
}

static void printf_and_consume(void **state)
{
    (void)state;
    struct hbuf b;
    hbuf_init(&b, 64);
    assert_int_equal(hbuf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "42-x");
    hbuf_consume(&b, 3);
    assert_string_equal(b.data, "x");
    assert_int_equal(hbuf_printf(&b, "%070d", 1), -EMSGSIZE);
    size_t len;
    char *s = hbuf_take(&b, &len);
    assert_string_equal(s, "x");
    assert_int_equal(len, 1);
    assert_null(b.data);
    free(s);
    hbuf_free(&b);
}

static void take_empty_gives_string(void **state)
{
    (void)state;
    struct hbuf b;
    hbuf_init(&b, 4);
    size_t len = 99;
    char *s = hbuf_take(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_within_bound),
        cmocka_unit_test(printf_and_consume),
        cmocka_unit_test(take_empty_gives_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
