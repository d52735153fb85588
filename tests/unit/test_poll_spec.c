/* The Ollamas herd polls, as the settings give them: "[NAME=]URL". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "coord/node.h"
#include "coord/poll_spec.h"

static void a_name_or_the_host_names_the_node(void **state)
{
    (void)state;
    char id[NODE_ID_MAX], url[256], err[300];
    assert_int_equal(poll_spec_parse("mac-studio=http://mac-studio.local:11434/", id, sizeof id,
                                     url, sizeof url, err, sizeof err),
                     0);
    assert_string_equal(id, "mac-studio");
    assert_string_equal(url, "http://mac-studio.local:11434");
    assert_int_equal(poll_spec_parse("http://192.168.1.30:11434", id, sizeof id, url, sizeof url,
                                     err, sizeof err),
                     0);
    assert_string_equal(id, "192.168.1.30");
    assert_int_equal(
        poll_spec_parse("https://[fd00::5]:11434", id, sizeof id, url, sizeof url, err, sizeof err),
        0);
    assert_string_equal(id, "fd00::5");
    assert_string_equal(url, "https://[fd00::5]:11434");
    /* An '=' inside the URL is not a name. */
    assert_int_equal(
        poll_spec_parse("http://h:1/?a=b", id, sizeof id, url, sizeof url, err, sizeof err), 0);
    assert_string_equal(id, "h");
}

static void what_cannot_be_polled_is_refused(void **state)
{
    (void)state;
    char id[NODE_ID_MAX], url[256], err[300];
    assert_int_equal(poll_spec_parse("ftp://x", id, sizeof id, url, sizeof url, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "http:// or https://"));
    assert_int_equal(
        poll_spec_parse("mac-studio.local:11434", id, sizeof id, url, sizeof url, err, sizeof err),
        -1);
    assert_int_equal(
        poll_spec_parse("a b=http://h:1", id, sizeof id, url, sizeof url, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot name a node"));
    assert_int_equal(
        poll_spec_parse("=http://h:1", id, sizeof id, url, sizeof url, err, sizeof err), -1);
}

static void a_list_names_each_node_once(void **state)
{
    (void)state;
    char err[300];
    char *ok[] = {"a=http://h:1", "http://h:2"};
    struct cfg_list good = {.items = ok, .n = 2};
    assert_int_equal(poll_spec_check(&good, err, sizeof err), 0);
    char *twice[] = {"a=http://h:1", "a=http://h:2"};
    struct cfg_list bad = {.items = twice, .n = 2};
    assert_int_equal(poll_spec_check(&bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "node a is given twice"));
    char *same_host[] = {"http://h:1", "http://h:2"};
    struct cfg_list hosts = {.items = same_host, .n = 2};
    assert_int_equal(poll_spec_check(&hosts, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_name_or_the_host_names_the_node),
        cmocka_unit_test(what_cannot_be_polled_is_refused),
        cmocka_unit_test(a_list_names_each_node_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
