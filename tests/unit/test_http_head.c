/* The head counter: where a head ends, its limits, and pieces of any size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "net/http_head.h"

static enum http_head_state feed_str(struct http_head *h, const char *s)
{
    return http_head_feed(h, (const unsigned char *)s, strlen(s));
}

static void a_head_ends_at_its_blank_line(void **state)
{
    (void)state;
    struct http_head h;
    http_head_begin(&h, 1024, 10);
    const char *req =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    assert_int_equal(feed_str(&h, req), HTTP_HEAD_DONE);
    assert_int_equal(h.lines, 3);
    assert_int_equal(h.bytes, strlen(req) - 2);              /* the body is not counted */
    assert_string_equal(h.line0, "POST /v1/chat/completio"); /* its first 23 bytes */
}

static void bare_newlines_and_leading_blank_lines(void **state)
{
    (void)state;
    struct http_head h;
    http_head_begin(&h, 1024, 10);
    /* A blank line before the request line does not end the head (RFC 9112 2.2). */
    assert_int_equal(feed_str(&h, "\r\nGET / HTTP/1.1\nHost: x\n"), HTTP_HEAD_READING);
    assert_string_equal(h.line0, "GET / HTTP/1.1");
    assert_int_equal(feed_str(&h, "\n"), HTTP_HEAD_DONE);
}

static void one_byte_at_a_time_is_the_same(void **state)
{
    (void)state;
    const char *req = "GET /api/tags HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n";
    struct http_head whole, bytes;
    http_head_begin(&whole, 1024, 10);
    http_head_begin(&bytes, 1024, 10);
    feed_str(&whole, req);
    for (const char *p = req; *p; p++)
        http_head_feed(&bytes, (const unsigned char *)p, 1);
    assert_int_equal(bytes.state, HTTP_HEAD_DONE);
    assert_int_equal(bytes.bytes, whole.bytes);
    assert_int_equal(bytes.lines, whole.lines);
    assert_string_equal(bytes.line0, whole.line0);
}

static void too_many_headers(void **state)
{
    (void)state;
    struct http_head h;
    http_head_begin(&h, 1 << 20, 2);
    assert_int_equal(feed_str(&h, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n"), HTTP_HEAD_READING);
    assert_int_equal(feed_str(&h, "C: 3\r\n"), HTTP_HEAD_TOO_MANY);
    /* Nothing more is counted. */
    size_t bytes = h.bytes;
    assert_int_equal(feed_str(&h, "\r\n"), HTTP_HEAD_TOO_MANY);
    assert_int_equal(h.bytes, bytes);
    /* The same head in one read, blank line and all, is refused the same way. */
    http_head_begin(&h, 1 << 20, 2);
    assert_int_equal(feed_str(&h, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
                     HTTP_HEAD_TOO_MANY);
    assert_int_equal(h.bytes, bytes);
}

static void too_large_a_head(void **state)
{
    (void)state;
    struct http_head h;
    http_head_begin(&h, 32, 100);
    assert_int_equal(feed_str(&h, "GET / HTTP/1.1\r\n"), HTTP_HEAD_READING);
    assert_int_equal(feed_str(&h, "X-Long: 0123456789abcdef\r\n"), HTTP_HEAD_TOO_LARGE);
    /* A head exactly at the limit is fine. */
    http_head_begin(&h, 18, 100);
    assert_int_equal(feed_str(&h, "GET / HTTP/1.1\r\n\r\n"), HTTP_HEAD_DONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_head_ends_at_its_blank_line),
        cmocka_unit_test(bare_newlines_and_leading_blank_lines),
        cmocka_unit_test(one_byte_at_a_time_is_the_same),
        cmocka_unit_test(too_many_headers),
        cmocka_unit_test(too_large_a_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
