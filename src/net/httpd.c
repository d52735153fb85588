#include "net/httpd.h"
#include "net/httpd_conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/timeutil.h"

struct httpd_route {
    unsigned methods;
    char *path;
    size_t path_len;
    bool prefix;
    httpd_handler fn;
    void *arg;
};

struct httpd {
    struct event_base *base;
    struct evhttp *http;
    struct httpd_limits limits;
    struct httpd_route *routes;
    size_t n_routes;
    LIST_HEAD(, httpd_req) active;
    size_t n_active;
    size_t n_flushing; /* replies handed to evhttp and not yet written out */
    struct httpd_conns conns;
    struct httpd_stats stats;
    httpd_gate_fn gate;
    void *gate_arg;
    httpd_done_fn done_fn;
    void *done_arg;
};

struct httpd_req {
    struct httpd *h;
    struct evhttp_request *ev;
    struct evhttp_connection *conn;
    struct httpd_conn *hc; /* until the reply leaves our hands */
    int status;            /* what was answered, 0 until then */
    char principal[64];
    LIST_ENTRY(httpd_req) link;
    enum httpd_method method;
    char *path;
    struct evkeyvalq query;
    bool query_parsed;
    char *body;
    size_t body_len;
    char peer[64];
    double started;
    struct event *watch;    /* notices a disconnect before the reply starts */
    struct event *drain_ev; /* delivers a drain notice from the loop */
    httpd_event_cb close_cb;
    void *close_arg;
    httpd_event_cb drain_cb;
    void *drain_arg;
    bool streaming;
    bool drain_armed;
    bool tls;
};

static const struct httpd_limits default_limits = {
    .max_header_bytes = 64 * 1024,
    .max_header_count = 100,
    .header_timeout_s = 10,
    .max_body_bytes = 64 * 1024 * 1024,
    .idle_timeout_s = 60,
    .write_stall_timeout_s = 300,
    .stream_high_water = 256 * 1024,
};

static enum httpd_method method_of(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return HTTPD_GET;
    case EVHTTP_REQ_POST:
        return HTTPD_POST;
    case EVHTTP_REQ_HEAD:
        return HTTPD_HEAD;
    case EVHTTP_REQ_PUT:
        return HTTPD_PUT;
    case EVHTTP_REQ_DELETE:
        return HTTPD_DELETE;
    case EVHTTP_REQ_OPTIONS:
        return HTTPD_OPTIONS;
    case EVHTTP_REQ_PATCH:
        return HTTPD_PATCH;
    default:
        return HTTPD_OTHER;
    }
}

const char *httpd_req_method_name(const struct httpd_req *r)
{
    switch (r->method) {
    case HTTPD_GET:
        return "GET";
    case HTTPD_POST:
        return "POST";
    case HTTPD_HEAD:
        return "HEAD";
    case HTTPD_PUT:
        return "PUT";
    case HTTPD_DELETE:
        return "DELETE";
    case HTTPD_OPTIONS:
        return "OPTIONS";
    case HTTPD_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

/* Frees our side of a request; the evhttp request is someone else's business by now. */
static void req_free(struct httpd_req *r)
{
    if (r->h->done_fn)
        r->h->done_fn(r, r->status, r->h->done_arg);
    if (r->watch)
        event_free(r->watch);
    if (r->drain_ev)
        event_free(r->drain_ev);
    if (r->query_parsed)
        evhttp_clear_headers(&r->query);
    LIST_REMOVE(r, link);
    r->h->n_active--;
    free(r->path);
    free(r->body);
    free(r);
}

static void stop_watch(struct httpd_req *r)
{
    if (r->watch) {
        event_free(r->watch);
        r->watch = NULL;
    }
}

/* ---- connections ---- */

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct httpd_req *r = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return; /* pipelined bytes: a disconnect cannot be told from here; evhttp will see it */
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        event_add(r->watch, NULL);
        return;
    }
    /* Freeing the connection runs on_conn_close, which tells the owner and frees r. */
    evhttp_connection_free(r->conn);
}

/* Restores idle timeouts once a reply has been written out, before the next request. */
static void on_complete(struct evhttp_request *ev, void *arg)
{
    struct httpd *h = arg;
    if (h->n_flushing > 0)
        h->n_flushing--;
    struct evhttp_connection *conn = evhttp_request_get_connection(ev);
    if (!conn)
        return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    struct timeval idle = time_tv(h->limits.idle_timeout_s);
    bufferevent_set_timeouts(bev, &idle, &idle);
    httpd_conn_request_done(&h->conns, conn);
}

/* The connection of a request still unfinished is closing: its owner is told, and it is
 * freed. */
static void on_conn_gone(struct httpd_conn *hc, void *arg)
{
    (void)arg;
    struct httpd_req *r = hc->req;
    r->hc = NULL;
    stop_watch(r);
    /* When evhttp noticed the disconnect itself it detached the request and no longer frees
     * it; when we or the server shut the connection, evhttp frees it with the connection. */
    bool detached = evhttp_request_get_connection(r->ev) == NULL;
    struct evhttp_request *ev = r->ev;
    LOG_DEBUG("%s %s: client %s went away before the reply ended", httpd_req_method_name(r),
              r->path, r->peer);
    if (r->close_cb)
        r->close_cb(r, r->close_arg);
    req_free(r);
    if (detached)
        evhttp_request_free(ev);
}

static const struct httpd_route *find_route(const struct httpd *h, const char *path,
                                            enum httpd_method m, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < h->n_routes; i++) {
        const struct httpd_route *rt = &h->routes[i];
        bool match =
            rt->prefix ? strncmp(path, rt->path, rt->path_len) == 0 : strcmp(path, rt->path) == 0;
        if (!match)
            continue;
        *path_known = true;
        if (rt->methods & (unsigned)m)
            return rt;
    }
    return NULL;
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct httpd *h = arg;
    struct evhttp_connection *conn = evhttp_request_get_connection(ev);
    struct httpd_req *r = calloc(1, sizeof *r);
    if (!r) {
        evhttp_send_error(ev, 503, "Out of memory");
        return;
    }
    r->h = h;
    r->ev = ev;
    r->conn = conn;
    r->method = method_of(evhttp_request_get_command(ev));
    r->started = time_mono();
    LIST_INSERT_HEAD(&h->active, r, link);
    h->n_active++;

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    r->path = strdup(path && *path ? path : "/");
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &addr, &port);
    snprintf(r->peer, sizeof r->peer, "%s", addr ? addr : "");

    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    r->body_len = evbuffer_get_length(in);
    r->body = malloc(r->body_len + 1);
    if (!r->path || !r->body) {
        httpd_reply_error(r, 503, "out of memory");
        return;
    }
    evbuffer_remove(in, r->body, r->body_len);
    r->body[r->body_len] = '\0';

    /* While the handler works, only a client that stops taking bytes is cut off. */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    struct timeval stall = time_tv(h->limits.write_stall_timeout_s);
    bufferevent_set_timeouts(bev, NULL, &stall);
    evhttp_request_set_on_complete_cb(ev, on_complete, h);
    struct httpd_conn *hc = httpd_conn_of(&h->conns, conn);
    if (!hc) {
        /* Never expected: every accepted connection is tracked. Refuse rather than serve a
         * request that no close callback would ever clean up. */
        LOG_ERROR("request from %s on an untracked connection: refused", r->peer);
        r->status = 503;
        evhttp_send_error(ev, 503, "Service Unavailable");
        req_free(r);
        return;
    }
    httpd_conn_take_request(hc, r);
    r->hc = hc;
    r->tls = hc->tls;
    r->watch = event_new(h->base, bufferevent_getfd(bev), EV_READ, on_watch, r);
    if (r->watch)
        event_add(r->watch, NULL);

    if (hc->over_limit) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "too many connections from %s (at most %zu at a time); close some and retry",
                 r->peer, h->limits.max_conns_per_addr);
        h->stats.refused_conn_limit++;
        httpd_add_header(r, "Connection", "close");
        httpd_add_header(r, "Retry-After", "1");
        httpd_reply_error(r, 429, msg);
        return;
    }
    size_t n_headers = 0;
    struct evkeyval *kv;
    TAILQ_FOREACH (kv, evhttp_request_get_input_headers(ev), next)
        n_headers++;
    if (hc->head.bytes > h->limits.max_header_bytes || n_headers > h->limits.max_header_count) {
        char msg[160];
        httpd_head_limit_text(&h->limits, n_headers > h->limits.max_header_count, msg, sizeof msg);
        h->stats.header_too_large++;
        httpd_add_header(r, "Connection", "close");
        httpd_reply_error(r, 431, msg);
        return;
    }

    bool known;
    const struct httpd_route *rt = find_route(h, r->path, r->method, &known);
    if (!rt) {
        if (known)
            httpd_reply_text(r, 405, "405 method not allowed");
        else
            httpd_reply_text(r, 404, "404 page not found");
        return;
    }
    if (h->gate && !h->gate(r, h->gate_arg))
        return;         /* refused and answered */
    rt->fn(r, rt->arg); /* r may be freed from here on */
}

struct httpd *httpd_new(struct event_base *base, const struct httpd_limits *limits)
{
    /* A client that disconnects while we write must be an error on that connection, not the
     * end of the program. */
    signal(SIGPIPE, SIG_IGN);
    struct httpd *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->base = base;
    h->limits = default_limits;
    if (limits) {
        if (limits->max_header_bytes)
            h->limits.max_header_bytes = limits->max_header_bytes;
        if (limits->max_body_bytes)
            h->limits.max_body_bytes = limits->max_body_bytes;
        if (limits->idle_timeout_s > 0)
            h->limits.idle_timeout_s = limits->idle_timeout_s;
        if (limits->write_stall_timeout_s > 0)
            h->limits.write_stall_timeout_s = limits->write_stall_timeout_s;
        if (limits->stream_high_water)
            h->limits.stream_high_water = limits->stream_high_water;
        if (limits->max_header_count)
            h->limits.max_header_count = limits->max_header_count;
        if (limits->header_timeout_s > 0)
            h->limits.header_timeout_s = limits->header_timeout_s;
        h->limits.max_conns_per_addr = limits->max_conns_per_addr;
    }
    LIST_INIT(&h->active);
    h->http = evhttp_new(base);
    if (!h->http || httpd_conns_init(&h->conns, base, &h->limits, &h->stats, on_conn_gone, h)) {
        if (h->http)
            evhttp_free(h->http);
        httpd_conns_free(&h->conns);
        free(h);
        return NULL;
    }
    /* Heads over the limit get a JSON 431 as they arrive (head_scan); evhttp's own limit,
     * above it, is only a second line. */
    evhttp_set_max_headers_size(h->http, (ev_ssize_t)(2 * h->limits.max_header_bytes + 4096));
    evhttp_set_bevcb(h->http, httpd_conns_new_bev, &h->conns);
    evhttp_set_max_body_size(h->http, (ev_ssize_t)h->limits.max_body_bytes);
    struct timeval idle = time_tv(h->limits.idle_timeout_s);
    evhttp_set_timeout_tv(h->http, &idle);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(h->http, "text/plain; charset=utf-8");
    evhttp_set_gencb(h->http, on_request, h);
    return h;
}

void httpd_free(struct httpd *h)
{
    if (!h)
        return;
    /* Freeing evhttp closes every connection; each unfinished request gets on_conn_close. */
    evhttp_free(h->http);
    while (!LIST_EMPTY(&h->active))
        req_free(LIST_FIRST(&h->active));
    httpd_conns_free(&h->conns);
    for (size_t i = 0; i < h->n_routes; i++)
        free(h->routes[i].path);
    free(h->routes);
    free(h);
}

int httpd_listen(struct httpd *h, const char *host, int port, int *bound_port)
{
    struct evhttp_bound_socket *s =
        evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (!s)
        return errno ? -errno : -EADDRINUSE;
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        evutil_socket_t fd = evhttp_bound_socket_get_fd(s);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
            return -errno;
        if (ss.ss_family == AF_INET6)
            *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        else
            *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return 0;
}

int httpd_route(struct httpd *h, unsigned methods, const char *path, httpd_handler fn, void *arg)
{
    struct httpd_route *p = realloc(h->routes, (h->n_routes + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    h->routes = p;
    struct httpd_route *rt = &h->routes[h->n_routes];
    size_t len = strlen(path);
    rt->prefix = len > 0 && path[len - 1] == '*';
    rt->path = strndup(path, rt->prefix ? len - 1 : len);
    if (!rt->path)
        return -ENOMEM;
    rt->path_len = strlen(rt->path);
    rt->methods = methods;
    rt->fn = fn;
    rt->arg = arg;
    h->n_routes++;
    return 0;
}

size_t httpd_active_requests(const struct httpd *h)
{
    return h->n_active;
}

size_t httpd_flushing(const struct httpd *h)
{
    return h->n_flushing;
}

enum httpd_method httpd_req_method(const struct httpd_req *r)
{
    return r->method;
}

const char *httpd_req_path(const struct httpd_req *r)
{
    return r->path;
}

const char *httpd_req_query(struct httpd_req *r, const char *key)
{
    if (!r->query_parsed) {
        TAILQ_INIT(&r->query);
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->ev);
        const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
        if (q)
            evhttp_parse_query_str(q, &r->query);
        r->query_parsed = true;
    }
    return evhttp_find_header(&r->query, key);
}

const char *httpd_req_header(const struct httpd_req *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

void httpd_req_foreach_header(const struct httpd_req *r,
                              void (*fn)(const char *name, const char *value, void *arg), void *arg)
{
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(r->ev);
    struct evkeyval *kv;
    TAILQ_FOREACH (kv, hdrs, next)
        fn(kv->key, kv->value, arg);
}

const char *httpd_req_body(const struct httpd_req *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body;
}

const char *httpd_req_peer(const struct httpd_req *r)
{
    return r->peer;
}

struct httpd *httpd_req_server(const struct httpd_req *r)
{
    return r->h;
}

double httpd_req_started(const struct httpd_req *r)
{
    return r->started;
}

bool httpd_req_tls(const struct httpd_req *r)
{
    return r->tls;
}

void httpd_req_set_principal(struct httpd_req *r, const char *name)
{
    snprintf(r->principal, sizeof r->principal, "%s", name ? name : "");
}

const char *httpd_req_principal(const struct httpd_req *r)
{
    return r->principal[0] ? r->principal : NULL;
}

void httpd_set_gate(struct httpd *h, httpd_gate_fn fn, void *arg)
{
    h->gate = fn;
    h->gate_arg = arg;
}

void httpd_set_error_format(struct httpd *h, httpd_error_fn fn, void *arg)
{
    h->conns.error_fn = fn;
    h->conns.error_arg = arg;
}

void httpd_set_done(struct httpd *h, httpd_done_fn fn, void *arg)
{
    h->done_fn = fn;
    h->done_arg = arg;
}

void httpd_get_stats(const struct httpd *h, struct httpd_stats *out)
{
    *out = h->stats;
}

int httpd_use_tls(struct httpd *h, const char *cert_file, const char *key_file, char *err,
                  size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context");
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    const char *what = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        what = "cannot use the TLS certificate";
    else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
        what = "cannot use the TLS private key";
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "the TLS private key does not match the certificate";
    if (what) {
        char why[256];
        unsigned long e = ERR_peek_error();
        if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            what = "the TLS private key does not match the certificate";
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        ERR_clear_error();
        snprintf(err, errlen, "%s (%s, %s): %s", what, cert_file, key_file, why);
        SSL_CTX_free(ctx);
        return -1;
    }
    if (h->conns.tls)
        SSL_CTX_free(h->conns.tls);
    h->conns.tls = ctx;
    return 0;
}

void httpd_req_on_close(struct httpd_req *r, httpd_event_cb cb, void *arg)
{
    r->close_cb = cb;
    r->close_arg = arg;
}

void httpd_add_header(struct httpd_req *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

/* The reply is leaving our hands: evhttp owns the request from here. */
static void release(struct httpd_req *r)
{
    stop_watch(r);
    if (r->hc) {
        r->hc->req = NULL;
        r->hc = NULL;
    }
    r->h->n_flushing++;
}

void httpd_reply(struct httpd_req *r, int status, const char *content_type, const void *body,
                 size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    if (content_type)
        evhttp_add_header(out, "Content-Type", content_type);
    struct evbuffer *buf = NULL;
    if (r->method == HTTPD_HEAD) {
        char n[32];
        snprintf(n, sizeof n, "%zu", len);
        evhttp_add_header(out, "Content-Length", n);
    } else if (len) {
        buf = evbuffer_new();
        if (buf)
            evbuffer_add(buf, body, len);
    }
    r->status = status;
    release(r);
    evhttp_send_reply(r->ev, status, NULL, buf);
    if (buf)
        evbuffer_free(buf);
    req_free(r);
}

void httpd_reply_json(struct httpd_req *r, int status, const char *content_type, json_t *v,
                      bool extra_newline)
{
    /* 15 significant digits: 16.1 stays 16.1 instead of 16.100000000000001. */
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    if (!s) {
        httpd_reply_text(r, 500, "failed to encode JSON");
        return;
    }
    size_t len = strlen(s);
    if (extra_newline) {
        char *p = realloc(s, len + 2);
        if (p) {
            s = p;
            s[len++] = '\n';
            s[len] = '\0';
        }
    }
    httpd_reply(r, status, content_type ? content_type : "application/json; charset=utf-8", s, len);
    free(s);
}

void httpd_reply_text(struct httpd_req *r, int status, const char *text)
{
    httpd_reply(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

void httpd_reply_error(struct httpd_req *r, int status, const char *msg)
{
    struct httpd_error_body e;
    httpd_conns_error_body(&r->h->conns, r->path, status, msg, &e);
    httpd_reply_json(r, status, e.content_type, e.json, e.newline);
}

void httpd_stream_start(struct httpd_req *r, int status, const char *content_type)
{
    if (content_type)
        httpd_add_header(r, "Content-Type", content_type);
    /* A proxy in between must not hold the stream back. */
    httpd_add_header(r, "Cache-Control", "no-cache");
    httpd_add_header(r, "X-Accel-Buffering", "no");
    stop_watch(r); /* from here evhttp watches the connection itself */
    r->streaming = true;
    r->status = status;
    evhttp_send_reply_start(r->ev, status, NULL);
}

static void on_drained(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct httpd_req *r = arg;
    if (!r->drain_armed)
        return;
    r->drain_armed = false;
    httpd_event_cb cb = r->drain_cb;
    r->drain_cb = NULL;
    if (cb)
        cb(r, r->drain_arg);
}

size_t httpd_stream_pending(const struct httpd_req *r)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(r->ev);
    if (!conn)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(conn)));
}

int httpd_stream_write(struct httpd_req *r, const void *data, size_t len)
{
    if (len) {
        struct evbuffer *buf = evbuffer_new();
        if (!buf)
            return 1;
        evbuffer_add(buf, data, len);
        evhttp_send_reply_chunk_with_cb(r->ev, buf, on_drained, r);
        evbuffer_free(buf);
    }
    if (httpd_stream_pending(r) > r->h->limits.stream_high_water) {
        r->drain_armed = true;
        return 1;
    }
    return 0;
}

static void drain_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    on_drained(NULL, arg);
}

void httpd_stream_on_drain(struct httpd_req *r, httpd_event_cb cb, void *arg)
{
    r->drain_cb = cb;
    r->drain_arg = arg;
    if (!r->drain_armed || httpd_stream_pending(r) == 0) {
        /* Already drained: call back from the loop, never from inside this call. */
        r->drain_armed = true;
        if (!r->drain_ev)
            r->drain_ev = evtimer_new(r->h->base, drain_now, r);
        if (r->drain_ev)
            event_active(r->drain_ev, EV_TIMEOUT, 1);
    }
}

void httpd_stream_end(struct httpd_req *r)
{
    release(r);
    evhttp_send_reply_end(r->ev);
    req_free(r);
}

void httpd_abort(struct httpd_req *r)
{
    struct evhttp_connection *conn = r->conn;
    release(r);
    r->h->n_flushing--; /* an aborted reply is never written out */
    req_free(r);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        evhttp_connection_free(conn);
        return;
    }
    httpd_conn_close_after_flush(bev, conn);
}

bool httpd_query_long(struct httpd_req *r, const char *name, long def, long min, long max,
                      long *out)
{
    const char *v = httpd_req_query(r, name);
    *out = def;
    if (!v)
        return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min || n > max) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be a number from %ld to %ld", name, min, max);
        httpd_reply_error(r, 400, msg);
        return false;
    }
    *out = n;
    return true;
}
