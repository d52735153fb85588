#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/sse.h"

struct events {
    char type[8][32];
    char data[8][256];
    char id[8][32];
    int n;
};

static int collect(const struct sse_event *ev, void *arg)
{
    struct events *e = arg;
    snprintf(e->type[e->n], sizeof e->type[0], "%s", ev->type);
    snprintf(e->data[e->n], sizeof e->data[0], "%s", ev->data);
    snprintf(e->id[e->n], sizeof e->id[0], "%s", ev->id);
    assert_int_equal(strlen(ev->data), ev->data_len);
    e->n++;
    return 0;
}

static void feed_all(struct sse_framer *f, const char *s, size_t step, struct events *e)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i += step) {
        size_t n = len - i < step ? len - i : step;
        assert_int_equal(sse_framer_feed(f, s + i, n, collect, e), 0);
    }
}

static void openai_stream_any_split(void **state)
{
    (void)state;
    const char *in = "data: {\"id\":\"chatcmpl-1\",\"choices\":[]}\n\n"
                     "data: {\"id\":\"chatcmpl-1\"}\n\n"
                     "data: [DONE]\n\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        struct sse_framer f;
        sse_framer_init(&f, 1024);
        struct events e = {0};
        feed_all(&f, in, step, &e);
        assert_int_equal(e.n, 3);
        assert_string_equal(e.type[0], "message");
        assert_string_equal(e.data[0], "{\"id\":\"chatcmpl-1\",\"choices\":[]}");
        assert_string_equal(e.data[2], "[DONE]");
        assert_false(sse_framer_mid_event(&f));
        sse_framer_free(&f);
    }
}

static void line_endings_fields_comments(void **state)
{
    (void)state;
    /* CRLF, lone CR and LF endings; a comment; multi-line data; event and id; no space. */
    const char *in = ": keep-alive\r\n"
                     "event: error\r"
                     "id: 7\n"
                     "data:first\r\n"
                     "data: second\r\n"
                     "retry: 100\n"
                     "\r\n"
                     "data: next\n\n";
    for (size_t step = 1; step <= 3; step++) {
        struct sse_framer f;
        sse_framer_init(&f, 1024);
        struct events e = {0};
        feed_all(&f, in, step, &e);
        assert_int_equal(e.n, 2);
        assert_string_equal(e.type[0], "error");
        assert_string_equal(e.data[0], "first\nsecond");
        assert_string_equal(e.id[0], "7");
        assert_string_equal(e.type[1], "message"); /* the type does not carry over */
        assert_string_equal(e.id[1], "7");         /* the id does */
        sse_framer_free(&f);
    }
}

static void bom_and_empty_events(void **state)
{
    (void)state;
    struct sse_framer f;
    sse_framer_init(&f, 1024);
    struct events e = {0};
    feed_all(&f,
             "\xEF\xBB\xBF"
             "event: x\n\ndata: y\n\n",
             1, &e);
    assert_int_equal(e.n, 1); /* an event without data is not dispatched */
    assert_string_equal(e.data[0], "y");
    assert_string_equal(e.type[0], "message");
    sse_framer_free(&f);
}

static void oversized_event_rejected(void **state)
{
    (void)state;
    struct sse_framer f;
    sse_framer_init(&f, 16);
    struct events e = {0};
    assert_int_equal(sse_framer_feed(&f, "data: 0123456789\n", 17, collect, &e), 0);
    assert_int_equal(sse_framer_feed(&f, "data: 0123456789\n", 17, collect, &e), -EMSGSIZE);
    assert_int_equal(sse_framer_feed(&f, "\n", 1, collect, &e), -EMSGSIZE);
    assert_int_equal(e.n, 0);
    sse_framer_free(&f);

    sse_framer_init(&f, 16);
    char big[100];
    memset(big, 'x', sizeof big);
    assert_int_equal(sse_framer_feed(&f, big, sizeof big, collect, &e), -EMSGSIZE);
    sse_framer_free(&f);
}

static void cut_stream_is_mid_event(void **state)
{
    (void)state;
    struct sse_framer f;
    sse_framer_init(&f, 1024);
    struct events e = {0};
    feed_all(&f, "data: {\"partial\":", 5, &e);
    assert_int_equal(e.n, 0);
    assert_true(sse_framer_mid_event(&f));
    sse_framer_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openai_stream_any_split), cmocka_unit_test(line_endings_fields_comments),
        cmocka_unit_test(bom_and_empty_events),    cmocka_unit_test(oversized_event_rejected),
        cmocka_unit_test(cut_stream_is_mid_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
