#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/ndjson.h"

struct collected {
    char lines[16][128];
    int n;
    int stop_after; /* return 7 from the callback after this many lines (0 = never) */
};

static int collect(const char *line, size_t len, void *arg)
{
    struct collected *c = arg;
    snprintf(c->lines[c->n], sizeof c->lines[0], "%.*s", (int)len, line);
    c->n++;
    return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

static void whole_lines_in_one_read(void **state)
{
    (void)state;
    struct ndjson_framer f;
    ndjson_framer_init(&f, 100);
    struct collected c = {0};
    const char *in = "{\"a\":1}\n{\"b\":2}\n";
    assert_int_equal(ndjson_framer_feed(&f, in, strlen(in), collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.lines[0], "{\"a\":1}");
    assert_string_equal(c.lines[1], "{\"b\":2}");
    assert_int_equal(ndjson_framer_pending(&f), 0);
    ndjson_framer_free(&f);
}

static void line_split_at_every_byte(void **state)
{
    (void)state;
    const char *in = "{\"model\":\"x\",\"done\":false}\r\n\n{\"done\":true}\n";
    struct ndjson_framer f;
    ndjson_framer_init(&f, 100);
    struct collected c = {0};
    for (size_t i = 0; i < strlen(in); i++)
        assert_int_equal(ndjson_framer_feed(&f, in + i, 1, collect, &c), 0);
    assert_int_equal(c.n, 2); /* the empty line is skipped */
    assert_string_equal(c.lines[0], "{\"model\":\"x\",\"done\":false}"); /* CR dropped */
    assert_string_equal(c.lines[1], "{\"done\":true}");
    ndjson_framer_free(&f);
}

static void oversized_line_rejected_and_sticky(void **state)
{
    (void)state;
    struct ndjson_framer f;
    ndjson_framer_init(&f, 8);
    struct collected c = {0};
    assert_int_equal(ndjson_framer_feed(&f, "12345678\n", 9, collect, &c), 0);
    assert_int_equal(ndjson_framer_feed(&f, "123456789\n", 10, collect, &c), -EMSGSIZE);
    assert_int_equal(ndjson_framer_feed(&f, "ok\n", 3, collect, &c), -EMSGSIZE);
    assert_int_equal(c.n, 1);
    ndjson_framer_free(&f);

    /* The same limit when the line arrives in pieces, and when it never ends. */
    ndjson_framer_init(&f, 8);
    assert_int_equal(ndjson_framer_feed(&f, "12345", 5, collect, &c), 0);
    assert_int_equal(ndjson_framer_feed(&f, "6789\n", 5, collect, &c), -EMSGSIZE);
    ndjson_framer_free(&f);
    ndjson_framer_init(&f, 8);
    assert_int_equal(ndjson_framer_feed(&f, "123456789", 9, collect, &c), -EMSGSIZE);
    ndjson_framer_free(&f);
}

static void crlf_at_the_limit_is_accepted(void **state)
{
    (void)state;
    struct ndjson_framer f;
    ndjson_framer_init(&f, 4);
    struct collected c = {0};
    assert_int_equal(ndjson_framer_feed(&f, "ab", 2, collect, &c), 0);
    assert_int_equal(ndjson_framer_feed(&f, "cd\r", 3, collect, &c), 0);
    assert_int_equal(ndjson_framer_feed(&f, "\n", 1, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.lines[0], "abcd");
    ndjson_framer_free(&f);
}

static void finish_delivers_unterminated_line(void **state)
{
    (void)state;
    struct ndjson_framer f;
    ndjson_framer_init(&f, 100);
    struct collected c = {0};
    assert_int_equal(ndjson_framer_feed(&f, "{\"done\":true}", 13, collect, &c), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(ndjson_framer_pending(&f), 13);
    assert_int_equal(ndjson_framer_finish(&f, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.lines[0], "{\"done\":true}");
    ndjson_framer_free(&f);
}

static void callback_can_stop_feeding(void **state)
{
    (void)state;
    struct ndjson_framer f;
    ndjson_framer_init(&f, 100);
    struct collected c = {.stop_after = 1};
    assert_int_equal(ndjson_framer_feed(&f, "a\nb\nc\n", 6, collect, &c), 7);
    assert_int_equal(c.n, 1);
    ndjson_framer_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_lines_in_one_read),
        cmocka_unit_test(line_split_at_every_byte),
        cmocka_unit_test(oversized_line_rejected_and_sticky),
        cmocka_unit_test(crlf_at_the_limit_is_accepted),
        cmocka_unit_test(finish_delivers_unterminated_line),
        cmocka_unit_test(callback_can_stop_feeding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
