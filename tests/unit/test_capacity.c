/* The capacity learner with a fake clock (TZ=UTC, so slots are predictable). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "node/capacity.h"

#define HOUR 3600.0
#define DAY 86400.0
#define WEEK (7 * DAY)
/* Monday 2026-11-23 00:00 UTC. */
#define MONDAY 1795392000.0

static void slot_index_is_weekday_by_hour(void **state)
{
    (void)state;
    assert_int_equal(capacity_slot_index(MONDAY), 0);
    assert_int_equal(capacity_slot_index(MONDAY + 13 * HOUR + 59 * 60), 13);
    assert_int_equal(capacity_slot_index(MONDAY + DAY + 2 * HOUR), 26); /* Tuesday 02:00 */
    assert_int_equal(capacity_slot_index(MONDAY + WEEK - 1), 167);      /* Sunday 23:59:59 */
    assert_int_equal(capacity_slot_index(MONDAY + WEEK), 0);
}

/* Observes every `step` seconds from `from` for `seconds` at a constant load. */
static double run(struct capacity *c, double from, double seconds, double step, double cpu,
                  double mem)
{
    double t = from;
    for (; t < from + seconds; t += step)
        capacity_observe(c, t, cpu, mem);
    return t;
}

static void history_decays_with_a_half_life_of_15_days(void **state)
{
    (void)state;
    struct capacity *c = calloc(1, sizeof *c);
    capacity_init(c);
    double t0 = MONDAY + 9 * HOUR;
    run(c, t0, HOUR, 5, 80, 40);
    double cpu, hours;
    capacity_slot_history(c, 9, t0 + HOUR, &cpu, &hours);
    assert_float_equal(hours, 1.0, 0.01);
    assert_float_equal(cpu, 80.0, 1e-6);
    capacity_slot_history(c, 9, t0 + HOUR + 15 * DAY, &cpu, &hours);
    assert_float_equal(hours, 0.5, 0.01); /* half the weight ... */
    assert_float_equal(cpu, 80.0, 1e-6);  /* ... the same mean */
    capacity_slot_history(c, 9, t0 + HOUR + 30 * DAY, &cpu, &hours);
    assert_float_equal(hours, 0.25, 0.01);
    /* Another slot has nothing. */
    capacity_slot_history(c, 10, t0 + HOUR, &cpu, &hours);
    assert_float_equal(hours, 0, 0);
    /* A long gap (the machine slept) counts as at most one minute, not the whole night. */
    capacity_init(c);
    capacity_observe(c, MONDAY + 2 * HOUR, 10, 10);
    capacity_observe(c, MONDAY + 2 * HOUR + 50 * 60, 10, 10);
    capacity_slot_history(c, 2, MONDAY + 3 * HOUR, &cpu, &hours);
    assert_float_equal(hours, (5.0 + 60.0) / HOUR, 1e-4);
    free(c);
}

static void score_maps_to_mode_and_ceiling(void **state)
{
    (void)state;
    struct {
        double score;
        const char *mode;
        double ceiling_64, ceiling_512;
    } cases[] = {
        {0.0, "paused", 0, 0},           {0.19, "paused", 0, 0},
        {0.2, "learned_low", 8, 16},     {0.39, "learned_low", 8, 16},
        {0.4, "learned_medium", 16, 32}, {0.59, "learned_medium", 16, 32},
        {0.6, "learned_high", 32, 64},   {0.79, "learned_high", 32, 64},
        {0.8, "full", 51.2, 409.6},      {1.0, "full", 51.2, 409.6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cap_decision d = {.score = cases[i].score};
        capacity_map_score(&d, 64, 10);
        assert_string_equal(d.mode, cases[i].mode);
        assert_float_equal(d.ceiling_gb, cases[i].ceiling_64, 1e-9);
        d = (struct cap_decision){.score = cases[i].score};
        capacity_map_score(&d, 512, 10);
        assert_float_equal(d.ceiling_gb, cases[i].ceiling_512, 1e-9);
    }
    struct cap_decision d = {.score = 0.1};
    capacity_map_score(&d, 64, 90);
    assert_string_equal(d.reason, "historically_busy_slot");
    d = (struct cap_decision){.score = 0.1};
    capacity_map_score(&d, 64, 5);
    assert_string_equal(d.reason, "currently_busy");
}

static void a_new_machine_is_routable_from_the_first_minute(void **state)
{
    (void)state;
    struct capacity *c = calloc(1, sizeof *c);
    capacity_init(c);
    double t = run(c, MONDAY + 10 * HOUR, 60, 5, 10, 30);
    struct cap_decision d = capacity_decide(c, t, 64, NULL);
    assert_true(d.score >= 0.6);
    assert_true(strcmp(d.mode, "learned_high") == 0 || strcmp(d.mode, "full") == 0);
    assert_true(d.ceiling_gb >= 32);
    assert_true(d.learning_confidence < 0.01);
    assert_false(d.override_active);
    /* An idle new machine is offered in full. */
    capacity_init(c);
    t = run(c, MONDAY + 10 * HOUR, 60, 5, 0, 0);
    d = capacity_decide(c, t, 64, NULL);
    assert_string_equal(d.mode, "full");
    free(c);
}

/* Three weeks in which the owner works Mondays 09:00-10:00 (CPU 95 %) and the machine is
 * otherwise idle: in the fourth week, at the same current load, 09:30 on Monday offers less
 * than 03:00. */
static void history_weighs_in_as_it_accumulates(void **state)
{
    (void)state;
    struct capacity *c = calloc(1, sizeof *c);
    capacity_init(c);
    for (int week = 0; week < 3; week++) {
        double w = MONDAY + week * WEEK;
        run(c, w, 9 * HOUR, 60, 5, 20);
        run(c, w + 9 * HOUR, HOUR, 60, 95, 60);
        run(c, w + 10 * HOUR, WEEK - 10 * HOUR, 60, 5, 20);
    }
    double cpu, hours;
    double busy_at = MONDAY + 3 * WEEK + 9.5 * HOUR, idle_at = MONDAY + 3 * WEEK + 3 * HOUR;
    capacity_slot_history(c, 9, busy_at, &cpu, &hours);
    assert_float_equal(cpu, 95, 1.0);
    assert_true(hours > 1.5); /* three decayed hours: fully trusted */

    /* The same current load at both times: two minutes at 20 % CPU. */
    struct capacity *busy = calloc(1, sizeof *busy), *idle = calloc(1, sizeof *idle);
    *busy = *c;
    *idle = *c;
    run(busy, busy_at - 120, 125, 5, 20, 30);
    run(idle, idle_at - 120, 125, 5, 20, 30);
    struct cap_decision db = capacity_decide(busy, busy_at + 5, 64, NULL);
    struct cap_decision di = capacity_decide(idle, idle_at + 5, 64, NULL);
    assert_true(db.score + 0.25 < di.score);
    assert_string_equal(db.mode, "learned_medium");
    assert_string_equal(di.mode, "learned_high");
    assert_true(db.ceiling_gb < di.ceiling_gb);
    assert_true(di.learning_confidence > 0.3);
    assert_float_equal(di.days_observed, 21.1, 0.2);
    free(busy);
    free(idle);
    free(c);
}

static void sustained_high_cpu_pauses_after_two_minutes(void **state)
{
    (void)state;
    struct capacity *c = calloc(1, sizeof *c);
    capacity_init(c);
    double t0 = MONDAY + 14 * HOUR;
    run(c, t0, 115, 5, 90, 30); /* last sample at t0 + 110 */
    struct cap_decision d = capacity_decide(c, t0 + 115, 64, NULL);
    assert_string_not_equal(d.reason, "sustained_high_cpu");
    capacity_observe(c, t0 + 120, 92, 30);
    d = capacity_decide(c, t0 + 120, 64, NULL);
    assert_string_equal(d.mode, "paused");
    assert_string_equal(d.reason, "sustained_high_cpu");
    assert_float_equal(d.ceiling_gb, 6.4, 1e-9);
    d = capacity_decide(c, t0 + 120, 512, NULL);
    assert_float_equal(d.ceiling_gb, 16, 1e-9);
    /* One calm sample ends it. */
    capacity_observe(c, t0 + 125, 40, 30);
    d = capacity_decide(c, t0 + 125, 64, NULL);
    assert_string_not_equal(d.reason, "sustained_high_cpu");
    free(c);
}

static void manual_override_comes_first(void **state)
{
    (void)state;
    struct capacity *c = calloc(1, sizeof *c);
    capacity_init(c);
    double t0 = MONDAY + 14 * HOUR;
    double t = run(c, t0, 180, 5, 95, 30); /* paused by high CPU */
    struct cap_override full = {CAP_OVERRIDE_FULL, t + HOUR};
    struct cap_decision d = capacity_decide(c, t, 64, &full);
    assert_string_equal(d.mode, "full");
    assert_string_equal(d.reason, "manual_override");
    assert_true(d.override_active);
    assert_float_equal(d.ceiling_gb, 51.2, 1e-9);
    assert_float_equal(d.score, 1.0, 0);
    /* Expired: the learner decides again. */
    d = capacity_decide(c, t + 2 * HOUR, 64, &full);
    assert_false(d.override_active);
    /* Until cleared. */
    struct cap_override paused = {CAP_OVERRIDE_PAUSED, 0};
    capacity_init(c);
    t = run(c, t0, 60, 5, 0, 0);
    d = capacity_decide(c, t + 100 * DAY, 64, &paused);
    assert_string_equal(d.mode, "paused");
    assert_float_equal(d.ceiling_gb, 0, 0);
    assert_float_equal(d.score, 0, 0);
    struct cap_override none = {CAP_OVERRIDE_NONE, 0};
    d = capacity_decide(c, t, 64, &none);
    assert_false(d.override_active);
    assert_string_equal(d.mode, "full");
    free(c);
}

static void state_and_override_round_trip_through_json(void **state)
{
    (void)state;
    struct capacity *c = calloc(1, sizeof *c), *back = calloc(1, sizeof *back);
    capacity_init(c);
    run(c, MONDAY, 2 * DAY, 60, 30, 40);
    json_t *j = capacity_to_json(c);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_t *parsed = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(capacity_from_json(back, parsed), 0);
    json_decref(parsed);
    double now = MONDAY + 3 * DAY;
    for (int s = 0; s < CAP_SLOTS; s++) {
        double a_cpu, a_h, b_cpu, b_h;
        capacity_slot_history(c, s, now, &a_cpu, &a_h);
        capacity_slot_history(back, s, now, &b_cpu, &b_h);
        assert_float_equal(a_cpu, b_cpu, 1e-6);
        assert_float_equal(a_h, b_h, 1e-6);
    }
    assert_float_equal(back->first_observation, MONDAY, 1e-3);

    json_t *bad = json_pack("{s:i, s:[]}", "version", 2, "slots");
    assert_int_equal(capacity_from_json(back, bad), -EINVAL);
    assert_float_equal(back->first_observation, 0, 0); /* left empty */
    json_decref(bad);
    bad = json_pack("{s:i, s:[[f,f,f,f]]}", "version", 1, "slots", 1.0, 1.0, 1.0, 1.0);
    assert_int_equal(capacity_from_json(back, bad), -EINVAL); /* not 168 slots */
    json_decref(bad);

    enum cap_override_mode m;
    assert_int_equal(cap_override_parse("full", &m), 0);
    assert_int_equal(m, CAP_OVERRIDE_FULL);
    assert_int_equal(cap_override_parse("paused", &m), 0);
    assert_int_equal(m, CAP_OVERRIDE_PAUSED);
    assert_int_equal(cap_override_parse("auto", &m), 0);
    assert_int_equal(m, CAP_OVERRIDE_NONE);
    assert_int_equal(cap_override_parse("max", &m), -EINVAL);
    struct cap_override o = {CAP_OVERRIDE_PAUSED, MONDAY + HOUR}, o2;
    j = cap_override_to_json(&o);
    assert_int_equal(cap_override_from_json(&o2, j), 0);
    json_decref(j);
    assert_int_equal(o2.mode, CAP_OVERRIDE_PAUSED);
    assert_float_equal(o2.until, MONDAY + HOUR, 1e-3);
    j = json_pack("{s:s}", "mode", "sideways");
    assert_int_equal(cap_override_from_json(&o2, j), -EINVAL);
    assert_int_equal(o2.mode, CAP_OVERRIDE_NONE);
    json_decref(j);
    free(c);
    free(back);
}

static void decision_json_block(void **state)
{
    (void)state;
    struct cap_decision d = {.mode = "learned_high",
                             .reason = "good_availability",
                             .ceiling_gb = 32.004,
                             .score = 0.7123,
                             .learning_confidence = 0.25,
                             .days_observed = 3.5};
    json_t *j = capacity_decision_json(&d);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "learned_high");
    assert_float_equal(json_real_value(json_object_get(j, "ceiling_gb")), 32.0, 1e-9);
    assert_float_equal(json_real_value(json_object_get(j, "availability_score")), 0.712, 1e-9);
    assert_false(json_boolean_value(json_object_get(j, "override_active")));
    json_decref(j);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slot_index_is_weekday_by_hour),
        cmocka_unit_test(history_decays_with_a_half_life_of_15_days),
        cmocka_unit_test(score_maps_to_mode_and_ceiling),
        cmocka_unit_test(a_new_machine_is_routable_from_the_first_minute),
        cmocka_unit_test(history_weighs_in_as_it_accumulates),
        cmocka_unit_test(sustained_high_cpu_pauses_after_two_minutes),
        cmocka_unit_test(manual_override_comes_first),
        cmocka_unit_test(state_and_override_round_trip_through_json),
        cmocka_unit_test(decision_json_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
