/* The HTTP server and client wrappers together on one loop, over loopback: streaming with
 * backpressure, cancellation seen by the server, timeouts, limits and error shapes. */
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/hbuf.h"
#include "net/httpc.h"
#include "common/api_error.h"
#include "net/httpd.h"

#define CHUNK 16384
#define HIGH_WATER (64 * 1024)

static struct event_base *base;
static struct httpd *server;
static struct httpc *client;
static int port;

/* ---- server side ---- */

struct producer {
    struct httpd_req *r;
    int left;
    int sent;
    int slow_signals;
    size_t max_pending;
    bool closed;
};
static struct producer prod;
static bool hang_closed;
static struct httpd_req *hanging;

static void produce(struct httpd_req *r, void *arg);

static void produce_closed(struct httpd_req *r, void *arg)
{
    (void)r;
    struct producer *p = arg;
    p->closed = true;
    p->r = NULL;
}

static void produce(struct httpd_req *r, void *arg)
{
    struct producer *p = arg;
    char buf[CHUNK];
    while (p->left > 0) {
        memset(buf, 'a' + p->sent % 26, sizeof buf);
        int slow = httpd_stream_write(r, buf, sizeof buf);
        p->left--;
        p->sent++;
        size_t pending = httpd_stream_pending(r);
        if (pending > p->max_pending)
            p->max_pending = pending;
        if (slow) {
            p->slow_signals++;
            httpd_stream_on_drain(r, produce, p);
            return;
        }
    }
    httpd_stream_end(r);
    p->r = NULL;
}

static void handle_stream(struct httpd_req *r, void *arg)
{
    (void)arg;
    memset(&prod, 0, sizeof prod);
    const char *n = httpd_req_query(r, "n");
    prod.left = n ? (int)strtol(n, NULL, 10) : 10;
    prod.r = r;
    httpd_req_on_close(r, produce_closed, &prod);
    httpd_stream_start(r, 200, "application/octet-stream");
    produce(r, &prod);
}

static void on_hang_closed(struct httpd_req *r, void *arg)
{
    (void)r;
    (void)arg;
    hang_closed = true;
    hanging = NULL;
}

static void handle_hang(struct httpd_req *r, void *arg)
{
    (void)arg;
    hanging = r;
    httpd_req_on_close(r, on_hang_closed, NULL);
}

static void handle_echo(struct httpd_req *r, void *arg)
{
    (void)arg;
    size_t len;
    const char *body = httpd_req_body(r, &len);
    httpd_reply(r, 200, "application/octet-stream", body, len);
}

static void handle_errors(struct httpd_req *r, void *arg)
{
    (void)arg;
    if (strncmp(httpd_req_path(r), "/v1/", 4) == 0)
        httpd_reply_error(r, 404, "model 'x' not found");
    else
        httpd_reply_error(r, 503, "busy");
}

/* The error format herd and herd-sim give their servers. */
static void error_format(void *arg, const char *path, int status, const char *msg,
                         struct httpd_error_body *out)
{
    (void)arg;
    api_error_for_path(path, status, msg, &out->json, &out->content_type, &out->newline);
}

/* ---- loop helpers ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/* Runs the loop until *flag is set or ms pass; returns whether the flag was set. */
static bool run_until(const bool *flag, int ms)
{
    bool expired = false;
    struct event *t = evtimer_new(base, on_deadline, &expired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t, &tv);
    while (!*flag && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    return *flag;
}

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    struct httpd_limits lim = {
        .max_body_bytes = 1024 * 1024, .stream_high_water = HIGH_WATER, .idle_timeout_s = 5};
    server = httpd_new(base, &lim);
    httpd_route(server, HTTPD_GET, "/stream", handle_stream, NULL);
    httpd_route(server, HTTPD_GET, "/hang", handle_hang, NULL);
    httpd_route(server, HTTPD_POST, "/echo", handle_echo, NULL);
    httpd_route(server, HTTPD_GET, "/errors", handle_errors, NULL);
    httpd_route(server, HTTPD_GET, "/v1/errors", handle_errors, NULL);
    httpd_set_error_format(server, error_format, NULL);
    assert_int_equal(httpd_listen(server, "127.0.0.1", 0, &port), 0);
    client = httpc_new(base);
    assert_non_null(client);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    httpc_free(client);
    httpd_free(server);
    event_base_free(base);
    return 0;
}

static char *url(const char *path)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", port, path);
    return buf;
}

/* ---- fetch ---- */

struct fetched {
    bool done;
    long status;
    int rc;
    char body[4096];
    size_t len;
};

static void on_fetched(long status, const char *body, size_t len, int rc, const char *err,
                       void *arg)
{
    (void)err;
    struct fetched *f = arg;
    f->done = true;
    f->status = status;
    f->rc = rc;
    f->len = len < sizeof f->body - 1 ? len : sizeof f->body - 1;
    if (body)
        memcpy(f->body, body, f->len);
    f->body[f->len] = '\0';
}

static void fetch_echo_and_error_shapes(void **state)
{
    (void)state;
    struct fetched f = {0};
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    struct httpc_opts o = {
        .method = "POST", .url = url("/echo"), .headers = hdrs, .body = "{\"a\":1}", .body_len = 7};
    assert_non_null(httpc_fetch(client, &o, 1024, on_fetched, &f));
    assert_true(run_until(&f.done, 5000));
    assert_int_equal(f.rc, 0);
    assert_int_equal(f.status, 200);
    assert_string_equal(f.body, "{\"a\":1}");

    struct fetched e = {0};
    struct httpc_opts o2 = {.url = url("/errors")};
    httpc_fetch(client, &o2, 1024, on_fetched, &e);
    assert_true(run_until(&e.done, 5000));
    assert_int_equal(e.status, 503);
    assert_string_equal(e.body, "{\"error\":\"busy\"}");

    struct fetched oa = {0};
    struct httpc_opts o3 = {.url = url("/v1/errors")};
    httpc_fetch(client, &o3, 1024, on_fetched, &oa);
    assert_true(run_until(&oa.done, 5000));
    assert_int_equal(oa.status, 404);
    assert_string_equal(oa.body, "{\"error\":{\"message\":\"model 'x' not found\",\"type\":"
                                 "\"not_found_error\",\"param\":null,\"code\":null}}\n");

    struct fetched nf = {0}, na = {0};
    struct httpc_opts o4 = {.url = url("/nothing")};
    httpc_fetch(client, &o4, 1024, on_fetched, &nf);
    struct httpc_opts o5 = {.method = "DELETE", .url = url("/echo")};
    httpc_fetch(client, &o5, 1024, on_fetched, &na);
    assert_true(run_until(&nf.done, 5000));
    assert_true(run_until(&na.done, 5000));
    assert_int_equal(nf.status, 404);
    assert_string_equal(nf.body, "404 page not found");
    assert_int_equal(na.status, 405);

    /* A response larger than the caller's bound is refused. */
    struct fetched big = {0};
    struct httpc_opts o6 = {.url = url("/stream?n=4")};
    httpc_fetch(client, &o6, 1000, on_fetched, &big);
    assert_true(run_until(&big.done, 5000));
    assert_int_equal(big.rc, -EMSGSIZE);
}

/* An owner that reacts to an answer by starting the next transfer at once (herd-node's next
 * probe, herd's retry on another node) may do so from inside libcurl's processing. */
struct chained {
    struct fetched first, second;
    bool second_started;
};

static void on_first(long status, const char *body, size_t len, int rc, const char *err, void *arg)
{
    struct chained *c = arg;
    on_fetched(status, body, len, rc, err, &c->first);
    struct httpc_opts o = {.method = "POST", .url = url("/echo"), .body = "again", .body_len = 5};
    c->second_started = httpc_fetch(client, &o, 1024, on_fetched, &c->second) != NULL;
}

static void a_fetch_may_start_from_a_callback(void **state)
{
    (void)state;
    /* Too large: reported after libcurl stopped the transfer, not from its write callback. */
    struct chained c = {0};
    struct httpc_opts o = {.url = url("/stream?n=4")};
    httpc_fetch(client, &o, 1000, on_first, &c);
    assert_true(run_until(&c.first.done, 5000));
    assert_int_equal(c.first.rc, -EMSGSIZE);
    assert_true(c.second_started);
    assert_true(run_until(&c.second.done, 5000));
    assert_int_equal(c.second.rc, 0);
    assert_string_equal(c.second.body, "again");
}

/* A transfer started from inside on_data (libcurl's write callback) runs too. */
struct from_data {
    bool started, done;
    struct fetched inner;
};

static void started_data(struct httpc_req *q, const char *data, size_t len, void *arg)
{
    (void)q;
    (void)data;
    (void)len;
    struct from_data *f = arg;
    if (f->started)
        return;
    struct httpc_opts o = {.method = "POST", .url = url("/echo"), .body = "inner", .body_len = 5};
    f->started = httpc_fetch(client, &o, 1024, on_fetched, &f->inner) != NULL;
}

static void started_done(struct httpc_req *q, int rc, const char *err, void *arg)
{
    (void)q;
    (void)rc;
    (void)err;
    ((struct from_data *)arg)->done = true;
}

static void a_transfer_may_start_from_on_data(void **state)
{
    (void)state;
    struct from_data f = {0};
    static const struct httpc_callbacks cb = {.on_data = started_data, .on_done = started_done};
    struct httpc_opts o = {.url = url("/stream?n=2")};
    assert_non_null(httpc_start(client, &o, &cb, &f));
    assert_true(run_until(&f.done, 5000));
    assert_true(f.started);
    assert_true(run_until(&f.inner.done, 5000));
    assert_int_equal(f.inner.rc, 0);
    assert_string_equal(f.inner.body, "inner");
}

static void oversized_body_is_refused(void **state)
{
    (void)state;
    size_t n = 2 * 1024 * 1024;
    char *body = malloc(n);
    memset(body, 'x', n);
    struct fetched f = {0};
    struct httpc_opts o = {.method = "POST", .url = url("/echo"), .body = body, .body_len = n};
    httpc_fetch(client, &o, 4096, on_fetched, &f);
    free(body);
    assert_true(run_until(&f.done, 5000));
    assert_int_equal(f.rc, 0);
    assert_int_equal(f.status, 413);
}

static void connection_refused(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s); /* nothing listens on this port now */
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct fetched f = {0};
    struct httpc_opts o = {.url = u};
    httpc_fetch(client, &o, 1024, on_fetched, &f);
    assert_true(run_until(&f.done, 5000));
    assert_int_equal(f.rc, -ECONNREFUSED);
}

/* ---- streaming with backpressure ---- */

struct reader {
    struct httpc_req *q;
    size_t got;
    size_t since_pause;
    int pauses;
    bool done;
    int rc;
    bool bad_content;
    struct event *resume;
    size_t cancel_after;
    bool cancelled;
};

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct reader *r = arg;
    httpc_resume(r->q);
}

static void reader_data(struct httpc_req *q, const char *data, size_t len, void *arg)
{
    struct reader *r = arg;
    for (size_t i = 0; i < len; i++) {
        size_t pos = r->got + i;
        if (data[i] != 'a' + (char)((pos / CHUNK) % 26))
            r->bad_content = true;
    }
    r->got += len;
    r->since_pause += len;
    if (r->cancel_after && r->got >= r->cancel_after && !r->cancelled) {
        r->cancelled = true;
        httpc_cancel(q);
        return;
    }
    /* A slow consumer: after every 256 KiB, stop for 30 ms. */
    if (r->since_pause >= 256 * 1024) {
        r->since_pause = 0;
        r->pauses++;
        httpc_pause(q);
        struct timeval tv = {0, 30000};
        evtimer_add(r->resume, &tv);
    }
}

static void reader_done(struct httpc_req *q, int rc, const char *err, void *arg)
{
    (void)q;
    (void)err;
    struct reader *r = arg;
    r->done = true;
    r->rc = rc;
}

static void slow_client_pauses_the_producer(void **state)
{
    (void)state;
    struct reader r = {0};
    r.resume = evtimer_new(base, resume_cb, &r);
    static const struct httpc_callbacks cb = {NULL, reader_data, reader_done};
    struct httpc_opts o = {.url = url("/stream?n=200")}; /* 3.2 MB */
    r.q = httpc_start(client, &o, &cb, &r);
    assert_non_null(r.q);
    assert_true(run_until(&r.done, 20000));
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.got, 200 * CHUNK);
    assert_false(r.bad_content);
    assert_true(r.pauses >= 10);
    /* The producer was told to wait, and the server never queued much more than its mark. */
    assert_true(prod.slow_signals > 0);
    assert_true(prod.max_pending <= HIGH_WATER + CHUNK);
    /* Every finished reply has been written out: nothing is left for a shutdown to wait on. */
    assert_int_equal(httpd_flushing(server), 0);
    event_free(r.resume);
}

static void client_cancel_is_seen_by_the_server(void **state)
{
    (void)state;
    struct reader r = {0};
    r.resume = evtimer_new(base, resume_cb, &r);
    r.cancel_after = 1;
    static const struct httpc_callbacks cb = {NULL, reader_data, reader_done};
    /* Too big to fit in socket buffers: the producer is still at work when the client goes. */
    struct httpc_opts o = {.url = url("/stream?n=100000")};
    r.q = httpc_start(client, &o, &cb, &r);
    assert_true(run_until(&prod.closed, 5000));
    assert_true(r.cancelled);
    assert_false(r.done); /* no callback after a cancel */
    assert_true(prod.left > 0);
    assert_int_equal(httpd_active_requests(server), 0);
    event_free(r.resume);
}

static void idle_timeout_and_disconnect_while_waiting(void **state)
{
    (void)state;
    hang_closed = false;
    struct reader r = {0};
    static const struct httpc_callbacks cb = {NULL, reader_data, reader_done};
    struct httpc_opts o = {.url = url("/hang"), .idle_timeout_ms = 200};
    r.q = httpc_start(client, &o, &cb, &r);
    assert_true(run_until(&r.done, 5000));
    assert_int_equal(r.rc, -ETIMEDOUT);
    /* The server notices that a client waiting for an answer has gone. */
    assert_true(run_until(&hang_closed, 5000));
    assert_null(hanging);
    assert_int_equal(httpd_active_requests(server), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fetch_echo_and_error_shapes),
        cmocka_unit_test(a_fetch_may_start_from_a_callback),
        cmocka_unit_test(a_transfer_may_start_from_on_data),
        cmocka_unit_test(oversized_body_is_refused),
        cmocka_unit_test(connection_refused),
        cmocka_unit_test(slow_client_pauses_the_producer),
        cmocka_unit_test(client_cancel_is_seen_by_the_server),
        cmocka_unit_test(idle_timeout_and_disconnect_while_waiting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
