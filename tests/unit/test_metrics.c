/* The Prometheus text format: families, escaping, histograms, resets and the series bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "coord/metrics.h"

static void test_render(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(100);
    static const double b[] = {0.1, 1};
    int c = metrics_family(m, "x_total", METRIC_COUNTER, "Things", NULL, 0);
    int g = metrics_family(m, "y", METRIC_GAUGE, "Level", NULL, 0);
    int h = metrics_family(m, "z_seconds", METRIC_HISTOGRAM, "Times", b, 2);
    const char *l1[] = {"model", "a\"b\\c\nd", NULL};
    const char *l2[] = {"model", "b", NULL};
    metrics_add(m, c, l2, 1);
    metrics_add(m, c, l1, 2);
    metrics_add(m, c, l1, 0.5);
    metrics_set(m, g, NULL, 7);
    metrics_observe(m, h, l2, 0.05);
    metrics_observe(m, h, l2, 0.5);
    metrics_observe(m, h, l2, 5);
    size_t len;
    char *text = metrics_render(m, &len);
    assert_string_equal(text, "# HELP x_total Things\n# TYPE x_total counter\n"
                              "x_total{model=\"a\\\"b\\\\c\\nd\"} 2.5\n"
                              "x_total{model=\"b\"} 1\n"
                              "# HELP y Level\n# TYPE y gauge\ny 7\n"
                              "# HELP z_seconds Times\n# TYPE z_seconds histogram\n"
                              "z_seconds_bucket{model=\"b\",le=\"0.1\"} 1\n"
                              "z_seconds_bucket{model=\"b\",le=\"1\"} 2\n"
                              "z_seconds_bucket{model=\"b\",le=\"+Inf\"} 3\n"
                              "z_seconds_sum{model=\"b\"} 5.5499999999999998\n"
                              "z_seconds_count{model=\"b\"} 3\n");
    assert_int_equal(len, strlen(text));
    free(text);
    metrics_reset(m, c);
    text = metrics_render(m, NULL);
    assert_non_null(strstr(text, "# TYPE x_total counter\n# HELP y"));
    free(text);
    metrics_free(m);
}

static void test_bound(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(3);
    int c = metrics_family(m, "x_total", METRIC_COUNTER, "Things", NULL, 0);
    metrics_family(m, "never_used", METRIC_GAUGE, "A family with no series yet", NULL, 0);
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "m%d", i);
        const char *l[] = {"model", name, NULL};
        metrics_add(m, c, l, 1);
    }
    assert_int_equal(metrics_dropped(m), 7);
    const char *l0[] = {"model", "m0", NULL};
    metrics_add(m, c, l0, 1); /* an existing series still counts */
    char *text = metrics_render(m, NULL);
    assert_non_null(strstr(text, "x_total{model=\"m0\"} 2\n"));
    assert_null(strstr(text, "m3"));
    assert_non_null(strstr(text, "# TYPE never_used gauge\n"));
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
