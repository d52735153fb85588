/* Health checks: which fire, how severe, the score. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "coord/health.h"

static struct health_node healthy(const char *id)
{
    return (struct health_node){.id = id,
                                .status = HEALTH_ONLINE,
                                .reports_ollama = true,
                                .ollama_up = true,
                                .has_memory = true,
                                .disk_available_gb = 500,
                                .disk_total_gb = 1000,
                                .ollama_version = "0.12.6"};
}

/* The severity of check id (for node, or any node when NULL), or NULL when it did not fire. */
static const char *severity(const json_t *report, const char *id, const char *node)
{
    size_t i;
    const json_t *c;
    json_array_foreach (json_object_get(report, "checks"), i, c) {
        const char *cid = json_string_value(json_object_get(c, "check_id"));
        const char *nid = json_string_value(json_object_get(c, "node_id"));
        if (strcmp(cid, id) == 0 && (!node || (nid && strcmp(nid, node) == 0))) {
            assert_true(strlen(json_string_value(json_object_get(c, "fix"))) > 20);
            return json_string_value(json_object_get(c, "severity"));
        }
    }
    return NULL;
}

static void a_healthy_fleet_scores_100(void **state)
{
    (void)state;
    struct health_node n[] = {healthy("a"), healthy("b")};
    struct health_traffic t = {.requests = 100, .failed = 1};
    json_t *r = health_report(n, 2, &t, 1000);
    assert_int_equal(json_integer_value(json_object_get(r, "score")), 100);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "healthy");
    assert_int_equal(json_array_size(json_object_get(r, "checks")), 0);
    json_decref(r);
}

static void node_problems(void **state)
{
    (void)state;
    struct health_node n[6];
    for (int i = 0; i < 6; i++)
        n[i] = healthy("x");
    n[0].id = "off";
    n[0].status = HEALTH_OFFLINE;
    n[1].id = "late";
    n[1].status = HEALTH_DEGRADED;
    n[2].id = "noollama";
    n[2].ollama_up = false;
    n[3].id = "tight";
    n[3].pressure = HEALTH_PRESSURE_CRITICAL;
    n[4].id = "full";
    n[4].disk_available_gb = 8;
    n[4].disk_total_gb = 100;
    n[5].id = "leaving";
    n[5].status = HEALTH_OFFLINE;
    n[5].draining = true; /* going away on purpose: no alarm */
    n[5].ollama_version = "0.11.0";
    struct health_traffic t = {0};
    json_t *r = health_report(n, 6, &t, 1000);
    assert_string_equal(severity(r, "node_offline", "off"), "critical");
    assert_null(severity(r, "node_offline", "leaving"));
    assert_string_equal(severity(r, "node_degraded", "late"), "warning");
    assert_string_equal(severity(r, "ollama_down", "noollama"), "critical");
    assert_string_equal(severity(r, "memory_pressure", "tight"), "critical");
    assert_string_equal(severity(r, "disk_nearly_full", "full"), "warning");
    assert_null(severity(r, "version_mismatch", NULL)); /* the odd one is offline */
    /* 3 critical, 2 warning */
    assert_int_equal(json_integer_value(json_object_get(r, "score")), 100 - 60 - 20);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "critical");
    json_decref(r);

    struct health_node m[] = {healthy("a"), healthy("b")};
    m[1].ollama_version = "0.11.0";
    m[0].pressure = HEALTH_PRESSURE_WARN;
    m[1].disk_available_gb = 10;
    m[1].disk_total_gb = 1000; /* 1 %: critical */
    r = health_report(m, 2, &t, 1000);
    assert_string_equal(severity(r, "version_mismatch", NULL), "warning");
    assert_string_equal(severity(r, "memory_pressure", "a"), "warning");
    assert_string_equal(severity(r, "disk_nearly_full", "b"), "critical");
    json_decref(r);
}

static void traffic_problems(void **state)
{
    (void)state;
    struct health_node n[] = {healthy("a")};
    struct health_traffic t = {.requests = 40,
                               .failed = 12,
                               .retried = 14,
                               .vram_fallbacks = 2,
                               .context_actions = 1,
                               .reaped = 11,
                               .thrash_model = "big:70b",
                               .thrash_loads = 3};
    json_t *r = health_report(n, 1, &t, 1000);
    assert_string_equal(severity(r, "high_error_rate", NULL), "critical"); /* 30 % */
    assert_string_equal(severity(r, "high_retry_rate", NULL), "warning");
    assert_string_equal(severity(r, "vram_fallback_active", NULL), "notice");
    assert_string_equal(severity(r, "context_protection_active", NULL), "notice");
    assert_string_equal(severity(r, "zombie_reaper_active", NULL), "critical");
    assert_string_equal(severity(r, "model_thrashing", NULL), "warning");
    assert_int_equal(json_integer_value(json_object_get(r, "score")), 100 - 40 - 20 - 6);
    json_decref(r);
    /* Too few requests to judge rates; fewer than 3 cold loads is no thrashing. */
    struct health_traffic quiet = {.requests = 5, .failed = 5, .retried = 5, .thrash_loads = 2};
    r = health_report(n, 1, &quiet, 1000);
    assert_null(severity(r, "high_error_rate", NULL));
    assert_null(severity(r, "high_retry_rate", NULL));
    assert_null(severity(r, "model_thrashing", NULL));
    json_decref(r);
    /* The score never goes below 0. */
    struct health_node many[8];
    for (int i = 0; i < 8; i++) {
        many[i] = healthy("n");
        many[i].status = HEALTH_OFFLINE;
    }
    r = health_report(many, 8, &quiet, 1000);
    assert_int_equal(json_integer_value(json_object_get(r, "score")), 0);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_healthy_fleet_scores_100),
        cmocka_unit_test(node_problems),
        cmocka_unit_test(traffic_problems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
