/* Who may call what: key parsing, hashing, the keys file, the path rules and the verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/secret.h"
#include "coord/access.h"

static void test_keys_and_verdicts(void **state)
{
    (void)state;
    struct access a = {0};
    char err[256];
    char hash[SECRET_SHA256_HEX], spec[128];
    assert_int_equal(secret_sha256_hex("second-key-0123456789", 21, hash), 0);
    snprintf(spec, sizeof spec, "app-one:first-key-0123456789, app-two:sha256:%s", hash);
    assert_int_equal(access_add_list(&a, spec, err, sizeof err), 0);
    assert_int_equal(access_add(&a, "admin-key-0123456789", true, err, sizeof err), 0);
    assert_int_equal(a.n_client, 2);
    assert_true(a.have_admin);

    const struct access_key *who;
    assert_int_equal(access_check(&a, ACCESS_CLIENT, NULL, &who), ACCESS_NO_KEY);
    assert_int_equal(access_check(&a, ACCESS_CLIENT, "Bearer nope-nope-nope", &who),
                     ACCESS_UNKNOWN_KEY);
    assert_int_equal(access_check(&a, ACCESS_CLIENT, "Basic Zm9vOmJhcg==", &who),
                     ACCESS_UNKNOWN_KEY);
    assert_int_equal(access_check(&a, ACCESS_CLIENT, "bearer  first-key-0123456789 ", &who),
                     ACCESS_ALLOW);
    assert_string_equal(who->name, "app-one");
    assert_int_equal(access_check(&a, ACCESS_CLIENT, "Bearer second-key-0123456789", &who),
                     ACCESS_ALLOW);
    assert_string_equal(who->name, "app-two");
    assert_int_equal(access_check(&a, ACCESS_ADMIN, "Bearer second-key-0123456789", &who),
                     ACCESS_NOT_ADMIN);
    assert_int_equal(access_check(&a, ACCESS_ADMIN, "Bearer admin-key-0123456789", &who),
                     ACCESS_ALLOW);
    assert_string_equal(who->name, "admin");
    assert_int_equal(access_check(&a, ACCESS_CLIENT, "Bearer admin-key-0123456789", &who),
                     ACCESS_ALLOW);
    assert_int_equal(access_check(&a, ACCESS_OPEN, NULL, &who), ACCESS_ALLOW);
    assert_int_equal(access_check(&a, ACCESS_NODE, NULL, &who), ACCESS_ALLOW);
    access_free(&a);
}

static void test_open_and_admin_only_fleets(void **state)
{
    (void)state;
    struct access a = {0};
    char err[256];
    const struct access_key *who;
    /* Nothing configured: open. */
    assert_int_equal(access_check(&a, ACCESS_ADMIN, NULL, &who), ACCESS_ALLOW);
    /* Only an admin key: reads open, changes need it. */
    assert_int_equal(access_add(&a, "admin-key-0123456789", true, err, sizeof err), 0);
    assert_int_equal(access_check(&a, ACCESS_CLIENT, NULL, &who), ACCESS_ALLOW);
    assert_int_equal(access_check(&a, ACCESS_ADMIN, NULL, &who), ACCESS_NO_KEY);
    access_free(&a);
    /* Client keys and no admin key: nobody may change the fleet. */
    assert_int_equal(access_add_list(&a, "x:client-key-0123456789", err, sizeof err), 0);
    assert_int_equal(access_check(&a, ACCESS_ADMIN, "Bearer client-key-0123456789", &who),
                     ACCESS_ADMIN_DISABLED);
    assert_int_equal(access_check(&a, ACCESS_ADMIN, NULL, &who), ACCESS_NO_KEY);
    access_free(&a);
}

static void test_bad_keys_are_refused(void **state)
{
    (void)state;
    struct access a = {0};
    char err[256];
    assert_int_equal(access_add_list(&a, "nocolon", err, sizeof err), -1);
    assert_non_null(strstr(err, "NAME:KEY"));
    assert_int_equal(access_add_list(&a, "a:short", err, sizeof err), -1);
    assert_non_null(strstr(err, "too short"));
    assert_int_equal(access_add_list(&a, "bad name:0123456789abcdef", err, sizeof err), -1);
    assert_int_equal(access_add_list(&a, "x:sha256:abc", err, sizeof err), -1);
    assert_non_null(strstr(err, "64 hex digits"));
    assert_int_equal(access_add_list(&a, "d:0123456789abcdef,d:fedcba9876543210", err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "used twice"));
    access_free(&a);
}

static void test_keys_file_holds_hashes_only(void **state)
{
    (void)state;
    struct access a = {0};
    char err[256];
    const char *good = "# comment\n\n  one:sha256:"
                       "2CFD23F0CAA68A0D98DD3F909C3FFB424DD01A47432DC5EB5754635FDF63F635  \n";
    assert_int_equal(access_add_file_text(&a, good, "keys", err, sizeof err), 0);
    assert_int_equal(a.n_client, 1);
    assert_string_equal(a.keys[0].hash,
                        "2cfd23f0caa68a0d98dd3f909c3ffb424dd01a47432dc5eb5754635fdf63f635");
    access_free(&a);
    assert_int_equal(
        access_add_file_text(&a, "\nbad:in-clear-0123456789\n", "keys", err, sizeof err), -1);
    assert_string_equal(err, "keys line 2: key 'bad' is written in clear; store its hash instead "
                             "(NAME:sha256:HEX, as `herd --new-key NAME` prints it)");
    access_free(&a);
}

static void test_paths(void **state)
{
    (void)state;
    assert_int_equal(access_need_for("/", true), ACCESS_OPEN);
    assert_int_equal(access_need_for("/api/version", true), ACCESS_OPEN);
    assert_int_equal(access_need_for("/dashboard", true), ACCESS_OPEN);
    assert_int_equal(access_need_for("/dashboard/static/app.js", true), ACCESS_OPEN);
    assert_int_equal(access_need_for("/dashboard/events", true), ACCESS_CLIENT);
    assert_int_equal(access_need_for("/dashboard/api/overview", true), ACCESS_CLIENT);
    assert_int_equal(access_need_for("/dashboard/api/settings", false), ACCESS_ADMIN);
    assert_int_equal(access_need_for("/dashboard/api/benchmarks/start", false), ACCESS_ADMIN);
    assert_int_equal(access_need_for("/heartbeat", false), ACCESS_NODE);
    assert_int_equal(access_need_for("/api/chat", false), ACCESS_CLIENT);
    assert_int_equal(access_need_for("/v1/models", true), ACCESS_CLIENT);
    assert_int_equal(access_need_for("/metrics", true), ACCESS_CLIENT);
    assert_int_equal(access_need_for("/api/pull", false), ACCESS_ADMIN);
    assert_int_equal(access_need_for("/api/delete", false), ACCESS_ADMIN);
    char tok[64];
    assert_null(access_bearer("Bearer ", tok, sizeof tok));
    assert_null(access_bearer("Bearerx abc", tok, sizeof tok));
    assert_string_equal(access_bearer(" BEARER abc ", tok, sizeof tok), "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_and_verdicts),
        cmocka_unit_test(test_open_and_admin_only_fleets),
        cmocka_unit_test(test_bad_keys_are_refused),
        cmocka_unit_test(test_keys_file_holds_hashes_only),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
