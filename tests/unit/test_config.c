#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/config.h"

struct settings {
    int64_t port;
    char *host;
    bool learn;
    double timeout;
    int mode;
    struct cfg_list models;
};

static const struct cfg_option options[] = {
    {"port", "FLEET_PORT", CFG_INT, offsetof(struct settings, port), "11435", 1, 65535, NULL,
     "PORT", "Port to listen on"},
    {"host", "FLEET_HOST", CFG_STRING, offsetof(struct settings, host), "0.0.0.0", 0, 0, NULL,
     "HOST", "Address to listen on"},
    {"learn-capacity", "FLEET_LEARN", CFG_BOOL, offsetof(struct settings, learn), "false", 0, 0,
     NULL, NULL, "Learn capacity"},
    {"timeout", "FLEET_TIMEOUT", CFG_DOUBLE, offsetof(struct settings, timeout), "30", 0.5, 600,
     NULL, "SECONDS", "Timeout"},
    {"mode", "FLEET_MODE", CFG_ENUM, offsetof(struct settings, mode), "strip", 0, 0,
     "strip|warn|passthrough", NULL, "Context protection"},
    {"model", "FLEET_MODELS", CFG_LIST, offsetof(struct settings, models), NULL, 0, 0, NULL, "NAME",
     "A model"},
};

static const struct cfg_spec spec = {
    "test", "A test program", "[options]", options, sizeof options / sizeof options[0], NULL};

static char env_path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(env_path, sizeof env_path, "/tmp/herd-test-env-%d", (int)getpid());
    FILE *f = fopen(env_path, "w");
    fputs("# a comment\n"
          "export FLEET_PORT=2000\n"
          "FLEET_HOST = \"10.0.0.1\"\n"
          "FLEET_MODE='warn'\n"
          "OTHER_PROGRAM_KEY=whatever\n"
          "\n"
          "FLEET_TIMEOUT=12.5\r\n",
          f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(env_path);
    return 0;
}

static void defaults_apply(void **state)
{
    (void)state;
    struct settings s;
    struct cfg_status st;
    char err[256] = "";
    char *argv[] = {"test", NULL};
    assert_int_equal(cfg_load(&spec, &s, 1, argv, NULL, NULL, &st, err, sizeof err), 0);
    assert_int_equal(s.port, 11435);
    assert_string_equal(s.host, "0.0.0.0");
    assert_false(s.learn);
    assert_true(s.timeout == 30.0);
    assert_int_equal(s.mode, 0);
    assert_int_equal(s.models.n, 0);
    assert_int_equal(st.sources[0], CFG_SRC_DEFAULT);
    cfg_status_free(&st);
    cfg_free(&spec, &s);
}

static void precedence_flag_env_file_default(void **state)
{
    (void)state;
    struct settings s;
    struct cfg_status st;
    char err[256] = "";
    char *envp[] = {"FLEET_HOST=192.168.1.5", "FLEET_MODELS=a:1, b:2", "UNRELATED=x", NULL};
    char *argv[] = {"test", "--port", "3000", "--model=c:3", "--model", "d:4", "extra", NULL};
    assert_int_equal(cfg_load(&spec, &s, 7, argv, envp, env_path, &st, err, sizeof err), 0);
    assert_int_equal(s.port, 3000);             /* flag beats the file */
    assert_string_equal(s.host, "192.168.1.5"); /* environment beats the file */
    assert_int_equal(s.mode, 1);                /* file beats the default */
    assert_true(s.timeout == 12.5);             /* CRLF line from the file */
    assert_false(s.learn);                      /* default */
    assert_int_equal(s.models.n, 2);            /* flags replace the environment's list */
    assert_string_equal(s.models.items[0], "c:3");
    assert_string_equal(s.models.items[1], "d:4");
    assert_int_equal(st.sources[0], CFG_SRC_FLAG);
    assert_int_equal(st.sources[1], CFG_SRC_ENV);
    assert_int_equal(st.sources[3], CFG_SRC_FILE);
    assert_int_equal(st.sources[2], CFG_SRC_DEFAULT);
    assert_int_equal(st.n_positional, 1);
    assert_string_equal(st.positional[0], "extra");
    cfg_status_free(&st);
    cfg_free(&spec, &s);

    /* Without flags the environment's comma-separated list is used. */
    char *argv2[] = {"test", NULL};
    assert_int_equal(cfg_load(&spec, &s, 1, argv2, envp, env_path, &st, err, sizeof err), 0);
    assert_int_equal(s.models.n, 2);
    assert_string_equal(s.models.items[1], "b:2");
    assert_int_equal(s.port, 2000); /* from the file */
    cfg_status_free(&st);
    cfg_free(&spec, &s);
}

static void bool_flags(void **state)
{
    (void)state;
    struct settings s;
    struct cfg_status st;
    char err[256] = "";
    char *envp[] = {"FLEET_LEARN=true", NULL};
    char *argv[] = {"test", "--no-learn-capacity", NULL};
    assert_int_equal(cfg_load(&spec, &s, 2, argv, envp, NULL, &st, err, sizeof err), 0);
    assert_false(s.learn);
    cfg_status_free(&st);
    cfg_free(&spec, &s);
    char *argv2[] = {"test", "--learn-capacity", NULL};
    assert_int_equal(cfg_load(&spec, &s, 2, argv2, NULL, NULL, &st, err, sizeof err), 0);
    assert_true(s.learn);
    cfg_status_free(&st);
    cfg_free(&spec, &s);
}

static void expect_error(char **argv, int argc, char **envp, const char *needle)
{
    struct settings s;
    struct cfg_status st;
    char err[256] = "";
    assert_int_equal(cfg_load(&spec, &s, argc, argv, envp, NULL, &st, err, sizeof err), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
    cfg_status_free(&st);
    cfg_free(&spec, &s);
}

static void errors_name_the_setting(void **state)
{
    (void)state;
    char *a1[] = {"test", "--port", "70000", NULL};
    expect_error(a1, 3, NULL, "--port: 70000 is out of range 1..65535");
    char *a2[] = {"test", "--port", "12x", NULL};
    expect_error(a2, 3, NULL, "not an integer");
    char *a3[] = {"test", "--nope", NULL};
    expect_error(a3, 2, NULL, "unknown option --nope");
    char *a4[] = {"test", "--mode", "maybe", NULL};
    expect_error(a4, 3, NULL, "not one of strip|warn|passthrough");
    char *a5[] = {"test", "--port", NULL};
    expect_error(a5, 2, NULL, "--port needs a value");
    char *a6[] = {"test", NULL};
    char *e6[] = {"FLEET_TIMEOUT=0.1", NULL};
    expect_error(a6, 1, e6, "FLEET_TIMEOUT (environment)");
    char *e7[] = {"FLEET_LEARN=perhaps", NULL};
    expect_error(a6, 1, e7, "not a boolean");
}

static void help_and_json_come_from_the_table(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cfg_print_help(&spec, f);
    fclose(f);
    assert_non_null(strstr(buf, "--port PORT"));
    assert_non_null(strstr(buf, "env FLEET_PORT; default 11435; range 1..65535"));
    assert_non_null(strstr(buf, "--learn-capacity[=BOOL]"));
    free(buf);

    struct settings s;
    struct cfg_status st;
    char err[256];
    char *argv[] = {"test", "--mode", "passthrough", NULL};
    assert_int_equal(cfg_load(&spec, &s, 3, argv, NULL, NULL, &st, err, sizeof err), 0);
    json_t *j = cfg_to_json(&spec, &s, st.sources);
    assert_int_equal(json_array_size(j), 6);
    json_t *mode = json_array_get(j, 4);
    assert_string_equal(json_string_value(json_object_get(mode, "value")), "passthrough");
    assert_string_equal(json_string_value(json_object_get(mode, "source")), "flag");
    json_decref(j);

    assert_int_equal(cfg_set(&options[0], &s, "8080", err, sizeof err), 0);
    assert_int_equal(s.port, 8080);
    assert_int_equal(cfg_set(&options[0], &s, "0", err, sizeof err), -EINVAL);
    assert_int_equal(s.port, 8080);
    cfg_status_free(&st);
    cfg_free(&spec, &s);
}

static void env_file_location(void **state)
{
    (void)state;
    char out[256];
    char *e1[] = {"HOME=/home/u", NULL};
    assert_string_equal(cfg_default_env_file(e1, out, sizeof out), "/home/u/.fleet-manager/env");
    char *e2[] = {"HOME=/home/u", "FLEET_ENV_FILE=/etc/herd/env", NULL};
    assert_string_equal(cfg_default_env_file(e2, out, sizeof out), "/etc/herd/env");
    char *e3[] = {NULL};
    assert_null(cfg_default_env_file(e3, out, sizeof out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_apply),
        cmocka_unit_test(precedence_flag_env_file_default),
        cmocka_unit_test(bool_flags),
        cmocka_unit_test(errors_name_the_setting),
        cmocka_unit_test(help_and_json_come_from_the_table),
        cmocka_unit_test(env_file_location),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
