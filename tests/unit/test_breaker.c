/* The circuit breaker: ejection after failures in a row, the half-open probe, the backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "coord/breaker.h"

static struct breaker_table *T;

static int setup(void **state)
{
    (void)state;
    T = malloc(sizeof *T);
    breaker_init(T);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(T);
    return 0;
}

static void failures_in_a_row_eject(void **state)
{
    (void)state;
    assert_int_equal(breaker_state(T, "a", "m", 0), BREAKER_CLOSED);
    assert_false(breaker_failure(T, "a", "m", 10));
    assert_false(breaker_failure(T, "a", "m", 11));
    breaker_success(T, "a", "m"); /* a success in between starts the count again */
    assert_false(breaker_failure(T, "a", "m", 12));
    assert_false(breaker_failure(T, "a", "m", 13));
    assert_true(breaker_allows(T, "a", "m", 13));
    assert_true(breaker_failure(T, "a", "m", 14)); /* the third in a row */
    assert_int_equal(breaker_state(T, "a", "m", 14.5), BREAKER_OPEN);
    assert_false(breaker_allows(T, "a", "m", 14.5));
    /* Only that node:model. */
    assert_true(breaker_allows(T, "a", "other", 14.5));
    assert_true(breaker_allows(T, "b", "m", 14.5));
    /* Requests already under way that fail do not extend it. */
    assert_false(breaker_failure(T, "a", "m", 14.6));
    assert_int_equal(breaker_state(T, "a", "m", 15.1), BREAKER_HALF_OPEN);
}

static void one_probe_then_closed_or_ejected_for_longer(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        breaker_failure(T, "a", "m", 100);
    /* After a second: half open, and one request may go. */
    assert_true(breaker_allows(T, "a", "m", 101.5));
    breaker_attempt(T, "a", "m", 101.5);
    assert_false(breaker_allows(T, "a", "m", 101.6)); /* the probe is out */
    /* It fails: ejected for two seconds. */
    assert_true(breaker_failure(T, "a", "m", 102));
    assert_false(breaker_allows(T, "a", "m", 103.9));
    assert_true(breaker_allows(T, "a", "m", 104.1));
    breaker_attempt(T, "a", "m", 104.1);
    assert_true(breaker_failure(T, "a", "m", 104.2)); /* four seconds now */
    assert_false(breaker_allows(T, "a", "m", 108.1));
    assert_true(breaker_allows(T, "a", "m", 108.3));
    /* The next probe succeeds: closed, the count and the backoff start over. */
    breaker_attempt(T, "a", "m", 108.3);
    breaker_success(T, "a", "m");
    assert_int_equal(breaker_state(T, "a", "m", 108.4), BREAKER_CLOSED);
    for (int i = 0; i < 3; i++)
        breaker_failure(T, "a", "m", 200);
    assert_true(breaker_allows(T, "a", "m", 201.1)); /* one second again */
}

static void the_backoff_stops_at_a_minute(void **state)
{
    (void)state;
    double now = 0;
    for (int i = 0; i < 3; i++)
        breaker_failure(T, "a", "m", now);
    for (int k = 0; k < 12; k++) {
        while (!breaker_allows(T, "a", "m", now))
            now += 0.5;
        breaker_attempt(T, "a", "m", now);
        breaker_failure(T, "a", "m", now);
    }
    double start = now;
    while (!breaker_allows(T, "a", "m", now))
        now += 0.5;
    assert_true(now - start <= BREAKER_MAX_BACKOFF_S + 0.5);
    assert_true(now - start >= BREAKER_MAX_BACKOFF_S);
}

static void a_probe_that_never_reports_lets_another_go(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        breaker_failure(T, "a", "m", 0);
    breaker_attempt(T, "a", "m", 1.5);
    assert_false(breaker_allows(T, "a", "m", 20));
    assert_true(breaker_allows(T, "a", "m", 40));
}

#define U(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        U(failures_in_a_row_eject),
        U(one_probe_then_closed_or_ejected_for_longer),
        U(the_backoff_stops_at_a_minute),
        U(a_probe_that_never_reports_lets_another_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
