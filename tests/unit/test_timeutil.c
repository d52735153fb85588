/* RFC 3339 times as Ollama writes them, both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/timeutil.h"

static void parses_offsets_and_fractions(void **state)
{
    (void)state;
    double t = 0;
    assert_int_equal(time_parse_rfc3339("2024-06-04T14:38:31.83753-07:00", &t), 0);
    assert_float_equal(t, 1717537111.83753, 1e-4);
    assert_int_equal(time_parse_rfc3339("2024-06-04T21:38:31Z", &t), 0);
    assert_float_equal(t, 1717537111.0, 1e-9);
    assert_int_equal(time_parse_rfc3339("2024-06-05T03:08:31+05:30", &t), 0);
    assert_float_equal(t, 1717537111.0, 1e-9);
    /* About 292 years ahead: keep_alive -1. */
    assert_int_equal(time_parse_rfc3339("2318-09-14T01:47:01.123-07:00", &t), 0);
    assert_true(t > 1.1e10);
}

static void refuses_what_is_not_a_time(void **state)
{
    (void)state;
    double t = 0;
    assert_int_equal(time_parse_rfc3339("2024-06-04 14:38:31Z", &t), -1);
    assert_int_equal(time_parse_rfc3339("2024-06-04T14:38:31", &t), -1);
    assert_int_equal(time_parse_rfc3339("2024-13-04T14:38:31Z", &t), -1);
    assert_int_equal(time_parse_rfc3339("2024-06-04T14:38:31+0700", &t), -1);
    assert_int_equal(time_parse_rfc3339("2024-06-04T14:38:31Zjunk", &t), -1);
    assert_int_equal(time_parse_rfc3339("", &t), -1);
    assert_int_equal(time_parse_rfc3339(NULL, &t), -1);
}

static void what_it_writes_it_reads_back(void **state)
{
    (void)state;
    char buf[64];
    double t = 0, now = 1733330000.25;
    assert_int_equal(time_parse_rfc3339(time_rfc3339_local(now, buf, sizeof buf), &t), 0);
    assert_float_equal(t, now, 1e-6);
    assert_int_equal(time_parse_rfc3339(time_rfc3339_utc(now, buf, sizeof buf), &t), 0);
    assert_float_equal(t, now, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_offsets_and_fractions),
        cmocka_unit_test(refuses_what_is_not_a_time),
        cmocka_unit_test(what_it_writes_it_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
