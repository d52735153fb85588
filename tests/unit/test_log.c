#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"

static double fake_now;
static double fake_clock(void)
{
    return fake_now;
}

static char dir[128];

static int count_files(const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/herd-test-log-%d/logs", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/herd-test-log-%d", (int)getpid());
    return system(cmd) == 0 ? 0 : -1;
}

static int evaluated;
static int side_effect(void)
{
    return ++evaluated;
}

static void disabled_levels_do_not_evaluate(void **state)
{
    (void)state;
    struct log_options o = {
        .program = "t", .stderr_level = LOG_LEVEL_ERROR, .file_level = LOG_LEVEL_OFF};
    assert_int_equal(log_open(&o), 0);
    evaluated = 0;
    LOG_DEBUG("value %d", side_effect());
    LOG_INFO("value %d", side_effect());
    assert_int_equal(evaluated, 0);
    log_close();
}

static void json_lines_and_daily_rotation(void **state)
{
    (void)state;
    fake_now = 1767225600.0 + 3600; /* 2026-01-01 01:00 UTC */
    struct log_options o = {.program = "herd",
                            .stderr_level = LOG_LEVEL_OFF,
                            .file_level = LOG_LEVEL_INFO,
                            .dir = dir,
                            .file_name = "herd.jsonl",
                            .retention = 2,
                            .clock = fake_clock};
    assert_int_equal(log_open(&o), 0);
    LOG_INFO("node %s is online", "studio");
    LOG_DEBUG("not written");

    char path[256];
    snprintf(path, sizeof path, "%s/herd.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f));
    assert_null(fgets(line + 512, 512, f)); /* exactly one line */
    fclose(f);
    json_error_t je;
    json_t *o1 = json_loads(line, 0, &je);
    assert_non_null(o1);
    assert_string_equal(json_string_value(json_object_get(o1, "level")), "INFO");
    assert_string_equal(json_string_value(json_object_get(o1, "logger")), "herd");
    assert_string_equal(json_string_value(json_object_get(o1, "msg")), "node studio is online");
    assert_string_equal(json_string_value(json_object_get(o1, "ts")), "2026-01-01T01:00:00Z");
    json_decref(o1);

    /* Each new UTC day rotates; only `retention` rotated files are kept. */
    for (int day = 1; day <= 4; day++) {
        fake_now += 86400;
        LOG_WARN("day %d", day);
    }
    assert_int_equal(count_files("herd.jsonl."), 2);
    snprintf(path, sizeof path, "%s/herd.jsonl.2026-01-04", dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/herd.jsonl.2026-01-01", dir);
    assert_int_equal(access(path, F_OK), -1);
    log_close();
}

static void level_names_parse(void **state)
{
    (void)state;
    enum log_level l;
    assert_int_equal(log_level_parse("DEBUG", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("loud", &l), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disabled_levels_do_not_evaluate),
        cmocka_unit_test(json_lines_and_daily_rotation),
        cmocka_unit_test(level_names_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
