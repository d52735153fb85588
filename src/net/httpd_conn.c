#include "net/httpd_conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/timeutil.h"

static unsigned addr_hash(const char *a)
{
    return (unsigned)(hash_str(a, 0) % HTTPD_ADDR_BUCKETS);
}

static struct httpd_addr *addr_get(struct httpd_conns *cs, const char *a)
{
    unsigned b = addr_hash(a);
    for (struct httpd_addr *e = cs->addrs[b]; e; e = e->next)
        if (strcmp(e->addr, a) == 0)
            return e;
    struct httpd_addr *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    snprintf(e->addr, sizeof e->addr, "%s", a);
    e->next = cs->addrs[b];
    cs->addrs[b] = e;
    return e;
}

static void addr_put(struct httpd_conns *cs, struct httpd_addr *e)
{
    if (!e || --e->conns > 0)
        return;
    struct httpd_addr **pp = &cs->addrs[addr_hash(e->addr)];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (*pp)
        *pp = e->next;
    free(e);
}

struct httpd_conn *httpd_conn_of(const struct httpd_conns *cs, struct evhttp_connection *evcon)
{
    if (!evcon)
        return NULL;
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    if (fd < 0 || (size_t)fd >= cs->cap_by_fd)
        return NULL;
    struct httpd_conn *hc = cs->by_fd[fd];
    return hc && hc->evcon == evcon ? hc : NULL;
}

static void conn_free(struct httpd_conn *hc)
{
    struct httpd_conns *cs = hc->cs;
    if (hc->in_cb)
        evbuffer_remove_cb_entry(bufferevent_get_input(hc->bev), hc->in_cb);
    if (hc->head_timer)
        event_free(hc->head_timer);
    if (hc->refuse_ev)
        event_free(hc->refuse_ev);
    if (hc->fd >= 0 && (size_t)hc->fd < cs->cap_by_fd && cs->by_fd[hc->fd] == hc)
        cs->by_fd[hc->fd] = NULL;
    addr_put(cs, hc->addr);
    LIST_REMOVE(hc, link);
    cs->stats->connections--;
    free(hc);
}

/* An aborted connection first delivers what was already queued, then closes. evhttp has no
 * notion of this, so the connection's bufferevent gets our callbacks for its last moments. */
static void on_abort_flushed(struct bufferevent *bev, void *arg)
{
    (void)bev;
    evhttp_connection_free(arg);
}

static void on_abort_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    evhttp_connection_free(arg);
}

/* Closes the connection once what is queued for it has been written: its bufferevent gets
 * our callbacks for its last moments. */
void httpd_conn_close_after_flush(struct bufferevent *bev, struct evhttp_connection *conn)
{
    bufferevent_setcb(bev, NULL, on_abort_flushed, on_abort_event, conn);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_enable(bev, EV_WRITE);
}

/* What a head over the limits is told (as it arrives, or when evhttp hands it over). */
void httpd_head_limit_text(const struct httpd_limits *lim, bool too_many, char *out, size_t outlen)
{
    if (too_many)
        snprintf(out, outlen, "too many request headers: more than %zu", lim->max_header_count);
    else
        snprintf(out, outlen, "request headers too large: more than %zu bytes",
                 lim->max_header_bytes);
}

/* Answers a request that evhttp never completed (its head broke a limit) straight from here,
 * in the shape of its API as its request line tells, and closes the connection once the
 * answer is out. Works the same over TLS. */
static void conn_refuse(struct httpd_conn *hc, int status, const char *reason, const char *msg)
{
    const char *path = strchr(hc->head.line0, ' '); /* "POST /v1/chat..." */
    struct httpd_error_body e;
    httpd_conns_error_body(hc->cs, path ? path + 1 : "", status, msg, &e);
    char *body = json_dumps(e.json, JSON_COMPACT);
    json_decref(e.json);
    char head[256];
    size_t blen = body ? strlen(body) : 0;
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                        "Connection: close\r\nContent-Length: %zu\r\n\r\n",
                        status, reason, e.content_type, blen);
    if (hc->head_timer)
        event_del(hc->head_timer);
    hc->state = CONN_BUSY; /* nothing more is read */
    struct bufferevent *bev = hc->bev;
    bufferevent_disable(bev, EV_READ);
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_write(bev, head, (size_t)hlen);
    if (body)
        bufferevent_write(bev, body, blen);
    free(body);
    httpd_conn_close_after_flush(bev, hc->evcon);
}

/* A client that starts a request and does not finish its headers in time holds a connection
 * for nothing (slowloris): it is told so and cut. */
static void on_head_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct httpd_conn *hc = arg;
    hc->cs->stats->header_timeouts++;
    LOG_WARN("client %s did not send its request headers within %.0f s: connection closed",
             hc->addr ? hc->addr->addr : "?", hc->cs->limits->header_timeout_s);
    conn_refuse(hc, 408, "Request Timeout",
                "the request's headers did not arrive in time; connection closed");
}

/* The head broke a limit while it arrived (seen in on_input, answered from the loop). */
static void on_refuse(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct httpd_conn *hc = arg;
    struct httpd_conns *cs = hc->cs;
    char msg[160];
    httpd_head_limit_text(cs->limits, hc->head.state == HTTP_HEAD_TOO_MANY, msg, sizeof msg);
    cs->stats->header_too_large++;
    LOG_INFO("client %s: %s; connection closed", hc->addr ? hc->addr->addr : "?", msg);
    conn_refuse(hc, 431, "Request Header Fields Too Large", msg);
}

static void head_begin(struct httpd_conn *hc)
{
    hc->state = CONN_HEAD;
    http_head_begin(&hc->head, hc->cs->limits->max_header_bytes, hc->cs->limits->max_header_count);
    if (!hc->head_timer)
        hc->head_timer = evtimer_new(hc->cs->base, on_head_timeout, hc);
    struct timeval tv = time_tv(hc->cs->limits->header_timeout_s);
    if (hc->head_timer)
        event_add(hc->head_timer, &tv);
}

/* Counts the head as it arrives (http_head); a head over the limits is answered from the loop. */
static void head_scan(struct httpd_conn *hc, const unsigned char *p, size_t n)
{
    enum http_head_state st = http_head_feed(&hc->head, p, n);
    if (st == HTTP_HEAD_READING)
        return;
    hc->state = CONN_BODY; /* the head ended, or stopped counting: the rest is evhttp's */
    if (hc->head_timer)
        event_del(hc->head_timer);
    if (st == HTTP_HEAD_DONE)
        return;
    if (!hc->refuse_ev)
        hc->refuse_ev = event_new(hc->cs->base, -1, 0, on_refuse, hc);
    if (hc->refuse_ev)
        event_active(hc->refuse_ev, EV_TIMEOUT, 1);
}

/* Scans the last n bytes of buf (those just read) while the head lasts. */
static void head_scan_tail(struct httpd_conn *hc, struct evbuffer *buf, size_t n)
{
    size_t len = evbuffer_get_length(buf);
    if (n > len)
        n = len; /* some were already consumed: count what is left */
    if (n == 0)
        return;
    struct evbuffer_ptr at;
    if (evbuffer_ptr_set(buf, &at, len - n, EVBUFFER_PTR_SET) != 0)
        return;
    struct evbuffer_iovec v[16];
    while (n > 0 && hc->state == CONN_HEAD) {
        int nv = evbuffer_peek(buf, (ev_ssize_t)n, &at, v, 16);
        if (nv <= 0)
            return;
        int used = nv < 16 ? nv : 16;
        size_t done = 0;
        for (int i = 0; i < used && done < n; i++) {
            size_t take = v[i].iov_len < n - done ? v[i].iov_len : n - done;
            head_scan(hc, v[i].iov_base, take);
            done += take;
        }
        n -= done;
        if (n && evbuffer_ptr_set(buf, &at, done, EVBUFFER_PTR_ADD) != 0)
            return;
    }
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct httpd_conn *hc = arg;
    if (info->n_added == 0)
        return;
    if (hc->state == CONN_IDLE)
        head_begin(hc);
    if (hc->state == CONN_HEAD)
        head_scan_tail(hc, buf, info->n_added);
}

static void on_conn_close(struct evhttp_connection *conn, void *arg);

static void conn_open(struct httpd_conns *cs, struct bufferevent *bev, bool tls)
{
    /* evhttp made the connection the bufferevent's owner (its callbacks' argument). */
    bufferevent_data_cb rcb, wcb;
    bufferevent_event_cb ecb;
    void *owner = NULL;
    bufferevent_getcb(bev, &rcb, &wcb, &ecb, &owner);
    struct evhttp_connection *evcon = owner;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (!evcon || fd < 0)
        return;
    struct httpd_conn *hc = calloc(1, sizeof *hc);
    if ((size_t)fd >= cs->cap_by_fd) {
        size_t cap = cs->cap_by_fd ? cs->cap_by_fd : 256;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct httpd_conn **p = realloc(cs->by_fd, cap * sizeof *p);
        if (p) {
            memset(p + cs->cap_by_fd, 0, (cap - cs->cap_by_fd) * sizeof *p);
            cs->by_fd = p;
            cs->cap_by_fd = cap;
        }
    }
    if (!hc || (size_t)fd >= cs->cap_by_fd) {
        free(hc);
        evhttp_connection_free(evcon); /* out of memory: no untracked connections */
        return;
    }
    hc->cs = cs;
    hc->evcon = evcon;
    hc->bev = bev;
    hc->fd = fd;
    hc->tls = tls;
    LIST_INSERT_HEAD(&cs->list, hc, link);
    cs->stats->connections++;
    cs->stats->accepted++;
    cs->by_fd[fd] = hc;
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &peer, &port);
    hc->addr = addr_get(cs, peer ? peer : "");
    if (hc->addr && ++hc->addr->conns > cs->limits->max_conns_per_addr &&
        cs->limits->max_conns_per_addr > 0)
        hc->over_limit = true;
    hc->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, hc);
    evhttp_connection_set_closecb(evcon, on_conn_close, hc);
}

/* evhttp has set up the connections accepted in this turn: take them in. */
static void on_accepted(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct httpd_conns *cs = arg;
    for (size_t i = 0; i < cs->n_pending; i++) {
        struct bufferevent *bev = (struct bufferevent *)((uintptr_t)cs->pending[i] & ~(uintptr_t)1);
        conn_open(cs, bev, ((uintptr_t)cs->pending[i] & 1) != 0);
    }
    cs->n_pending = 0;
}

/* evhttp asks for each accepted connection's bufferevent (before it has the socket). */
struct bufferevent *httpd_conns_new_bev(struct event_base *base, void *arg)
{
    struct httpd_conns *cs = arg;
    struct bufferevent *bev = NULL;
    bool tls = cs->tls != NULL;
    if (tls) {
        SSL *ssl = SSL_new(cs->tls);
        if (ssl)
            bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
        if (bev) /* clients that close without TLS's goodbye are common; not an error */
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        else
            SSL_free(ssl);
    } else
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    if (cs->n_pending == cs->cap_pending) {
        size_t cap = cs->cap_pending ? cs->cap_pending * 2 : 16;
        struct bufferevent **p = realloc(cs->pending, cap * sizeof *p);
        if (!p) {
            bufferevent_free(bev);
            return NULL;
        }
        cs->pending = p;
        cs->cap_pending = cap;
    }
    cs->pending[cs->n_pending++] = (struct bufferevent *)((uintptr_t)bev | (tls ? 1 : 0));
    event_active(cs->accept_ev, EV_TIMEOUT, 1);
    return bev;
}

static void on_conn_close(struct evhttp_connection *conn, void *arg);

/* The connection is going away (client closed, timed out, or the server is shutting down).
 * A request still unfinished on it goes to the request layer first. */
static void on_conn_close(struct evhttp_connection *conn, void *arg)
{
    struct httpd_conn *hc = arg;
    evhttp_connection_set_closecb(conn, NULL, NULL);
    struct httpd_req *r = hc->req;
    if (hc->tls && !hc->served) {
        unsigned long e = bufferevent_get_openssl_error(hc->bev);
        if (e) {
            char why[256];
            ERR_error_string_n(e, why, sizeof why);
            LOG_INFO("TLS with client %s failed: %s", hc->addr ? hc->addr->addr : "?", why);
        }
    }
    if (r && hc->cs->gone)
        hc->cs->gone(hc, hc->cs->gone_arg); /* the request layer tells its owner and frees it */
    conn_free(hc);
}

void httpd_conns_error_body(const struct httpd_conns *cs, const char *path, int status,
                            const char *msg, struct httpd_error_body *out)
{
    memset(out, 0, sizeof *out);
    out->content_type = "application/json";
    if (cs->error_fn)
        cs->error_fn(cs->error_arg, path, status, msg, out);
    if (!out->json)
        out->json = json_pack("{s:s}", "error", msg ? msg : "");
}

int httpd_conns_init(struct httpd_conns *cs, struct event_base *base,
                     const struct httpd_limits *limits, struct httpd_stats *stats,
                     httpd_conn_gone_fn gone, void *gone_arg)
{
    memset(cs, 0, sizeof *cs);
    cs->base = base;
    cs->limits = limits;
    cs->stats = stats;
    cs->gone = gone;
    cs->gone_arg = gone_arg;
    LIST_INIT(&cs->list);
    cs->accept_ev = event_new(base, -1, 0, on_accepted, cs);
    return cs->accept_ev ? 0 : -ENOMEM;
}

void httpd_conns_free(struct httpd_conns *cs)
{
    while (!LIST_EMPTY(&cs->list)) /* not expected: evhttp_free closed them all */
        conn_free(LIST_FIRST(&cs->list));
    if (cs->accept_ev)
        event_free(cs->accept_ev);
    free(cs->pending);
    free(cs->by_fd);
    if (cs->tls)
        SSL_CTX_free(cs->tls);
}

void httpd_conn_take_request(struct httpd_conn *hc, struct httpd_req *r)
{
    hc->req = r;
    hc->served = true;
    hc->state = CONN_BUSY;
    if (hc->head_timer)
        event_del(hc->head_timer);
}

void httpd_conn_request_done(struct httpd_conns *cs, struct evhttp_connection *conn)
{
    struct httpd_conn *hc = httpd_conn_of(cs, conn);
    if (!hc)
        return;
    hc->state = CONN_IDLE;
    /* A pipelined request already here starts its header deadline now. */
    struct evbuffer *in = bufferevent_get_input(evhttp_connection_get_bufferevent(conn));
    if (evbuffer_get_length(in) > 0) {
        head_begin(hc);
        head_scan_tail(hc, in, evbuffer_get_length(in));
    }
}
