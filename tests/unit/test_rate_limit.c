/* Token buckets per client: the burst, the rate, Retry-After, independence, the sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coord/rate_limit.h"

static void test_burst_then_rate(void **state)
{
    (void)state;
    struct rate_limit rl;
    rate_limit_init(&rl, 2, 3);
    double retry;
    for (int i = 0; i < 3; i++)
        assert_true(rate_limit_take(&rl, "key:a", 100.0, &retry));
    assert_false(rate_limit_take(&rl, "key:a", 100.0, &retry));
    assert_float_equal(retry, 0.5, 1e-9);
    assert_true(rate_limit_take(&rl, "key:b", 100.0, &retry)); /* another client */
    assert_false(rate_limit_take(&rl, "key:a", 100.25, &retry));
    assert_float_equal(retry, 0.25, 1e-9);
    assert_true(rate_limit_take(&rl, "key:a", 100.5, &retry));
    /* A long pause refills only up to the burst. */
    for (int i = 0; i < 3; i++)
        assert_true(rate_limit_take(&rl, "key:a", 1000.0, &retry));
    assert_false(rate_limit_take(&rl, "key:a", 1000.0, &retry));
    rate_limit_free(&rl);
}

static void test_off_and_sweep(void **state)
{
    (void)state;
    struct rate_limit rl;
    double retry;
    rate_limit_init(&rl, 0, 1);
    for (int i = 0; i < 100; i++)
        assert_true(rate_limit_take(&rl, "x", 1.0, &retry));
    assert_int_equal(rl.n, 0);
    rate_limit_init(&rl, 1, 2);
    assert_true(rate_limit_take(&rl, "a", 1.0, &retry));
    assert_true(rate_limit_take(&rl, "b", 1.0, &retry));
    assert_int_equal(rl.n, 2);
    rate_limit_sweep(&rl, 1.5); /* half a token back: both still partial */
    assert_int_equal(rl.n, 2);
    rate_limit_sweep(&rl, 10.0); /* full again: nothing to remember */
    assert_int_equal(rl.n, 0);
    rate_limit_free(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_off_and_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
