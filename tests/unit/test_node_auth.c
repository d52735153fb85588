/* Signed heartbeats: the signature's format, and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/node_auth.h"
#include "common/secret.h"

#define SECRET "fleet-secret-0123456789"
static const char body[] = "{\"node_id\":\"n1\"}";

static void test_sign_matches_the_documented_hmac(void **state)
{
    (void)state;
    char sig[NODE_AUTH_SIG_LEN], hex[SECRET_SHA256_HEX];
    assert_int_equal(node_auth_sign(SECRET, 1700000000123, body, strlen(body), sig), 0);
    struct secret_part parts[] = {{"v1\n1700000000123\n", 17}, {body, strlen(body)}};
    assert_int_equal(secret_hmac_hex(SECRET, parts, 2, hex), 0);
    assert_memory_equal(sig, "v1=", 3);
    assert_string_equal(sig + 3, hex);
    /* RFC 4231 test case 2: HMAC-SHA-256 with key "Jefe". */
    struct secret_part rfc[] = {{"what do ya want ", 16}, {"for nothing?", 12}};
    assert_int_equal(secret_hmac_hex("Jefe", rfc, 2, hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_verify(void **state)
{
    (void)state;
    struct node_auth_seen *seen = calloc(1, sizeof *seen);
    assert_non_null(seen);
    int64_t now = 1700000000000, ts = 0;
    char sig[NODE_AUTH_SIG_LEN], ts_text[32];
    snprintf(ts_text, sizeof ts_text, "%lld", (long long)now);
    node_auth_sign(SECRET, now, body, strlen(body), sig);
    const size_t len = strlen(body);
    assert_int_equal(node_auth_verify(SECRET, NULL, sig, body, len, now, 30000, seen, &ts),
                     NODE_AUTH_MISSING);
    assert_int_equal(node_auth_verify(SECRET, "12x", sig, body, len, now, 30000, seen, &ts),
                     NODE_AUTH_BAD_TIMESTAMP);
    assert_int_equal(
        node_auth_verify("another-secret-000000", ts_text, sig, body, len, now, 30000, seen, &ts),
        NODE_AUTH_BAD_MAC);
    assert_int_equal(
        node_auth_verify(SECRET, ts_text, sig, "{\"node_id\":\"n2\"}", len, now, 30000, seen, &ts),
        NODE_AUTH_BAD_MAC);
    assert_int_equal(
        node_auth_verify(SECRET, ts_text, sig, body, len, now + 31000, 30000, seen, &ts),
        NODE_AUTH_STALE);
    assert_int_equal(
        node_auth_verify(SECRET, ts_text, sig, body, len, now - 31000, 30000, seen, &ts),
        NODE_AUTH_STALE);
    assert_int_equal(
        node_auth_verify(SECRET, ts_text, sig, body, len, now + 1000, 30000, seen, &ts),
        NODE_AUTH_OK);
    assert_int_equal(ts, now);
    assert_int_equal(
        node_auth_verify(SECRET, ts_text, sig, body, len, now + 2000, 30000, seen, &ts),
        NODE_AUTH_REPLAY);
    /* Without the memory of signatures the same one passes: the check is that memory. */
    assert_int_equal(
        node_auth_verify(SECRET, ts_text, sig, body, len, now + 2000, 30000, NULL, &ts),
        NODE_AUTH_OK);
    assert_non_null(strstr(node_auth_result_text(NODE_AUTH_REPLAY), "replayed"));
    free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_matches_the_documented_hmac),
        cmocka_unit_test(test_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
