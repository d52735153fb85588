/* httpd_conn: the connections of an httpd server, from accept to close (private to
 * net/httpd.c). evhttp has no hook for a connection's life (2.1 has no newreqcb): the
 * bufferevent comes from httpd_conns_new_bev (plain or OpenSSL), the connection is found once
 * evhttp has set it up, and its close callback is owned from accept to close. So each
 * connection is counted per client address, its request heads are counted as they arrive
 * (http_head: size, header count, a deadline from the first byte), and a broken head is
 * answered here, in the server's error format, before evhttp would. */
#ifndef HERD_HTTPD_CONN_H
#define HERD_HTTPD_CONN_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "net/http_head.h"
#include "net/httpd_types.h"

struct httpd_req;
struct httpd_conns;

/* Where a connection is in its current request, as far as its bytes tell. */
enum conn_state {
    CONN_IDLE, /* between requests */
    CONN_HEAD, /* receiving the request line and headers: the header deadline runs */
    CONN_BODY, /* headers done, body coming */
    CONN_BUSY, /* request handed to a handler */
};

/* Open connections of one client address. */
struct httpd_addr {
    struct httpd_addr *next;
    size_t conns;
    char addr[64];
};

#define HTTPD_ADDR_BUCKETS 256

/* One client connection, from accept to close. */
struct httpd_conn {
    struct httpd_conns *cs;
    struct evhttp_connection *evcon;
    struct bufferevent *bev;
    evutil_socket_t fd;
    struct evbuffer_cb_entry *in_cb;
    struct event *head_timer;
    LIST_ENTRY(httpd_conn) link;
    struct httpd_req *req; /* the request being handled, until its reply leaves our hands */
    struct httpd_addr *addr;
    enum conn_state state;
    struct http_head head;   /* the head being read */
    struct event *refuse_ev; /* answers a head over the limits, from the loop */
    bool over_limit;         /* opened when its address already had the most it may */
    bool tls;
    bool served; /* at least one request arrived */
};

/* A connection closes while a request on it is unfinished (hc->req is set). */
typedef void (*httpd_conn_gone_fn)(struct httpd_conn *hc, void *arg);

/* Every connection of one server. */
struct httpd_conns {
    struct event_base *base;
    const struct httpd_limits *limits; /* borrowed from the server */
    struct httpd_stats *stats;         /* the server's counters (borrowed) */
    SSL_CTX *tls;                      /* serves TLS when set (owned) */
    httpd_error_fn error_fn;           /* how errors look (NULL: {"error": msg}) */
    void *error_arg;
    httpd_conn_gone_fn gone;
    void *gone_arg;
    /* Connections accepted by evhttp in this turn of the loop, taken in by on_accepted. */
    struct bufferevent **pending;
    size_t n_pending, cap_pending;
    struct event *accept_ev;
    LIST_HEAD(, httpd_conn) list;
    struct httpd_conn **by_fd; /* open connections by socket, to find a request's own */
    size_t cap_by_fd;
    struct httpd_addr *addrs[HTTPD_ADDR_BUCKETS];
};

/* Sets up an empty table on base; limits and stats are the server's (borrowed, must outlive
 * it); gone(hc, gone_arg) is told of a request whose connection closes. 0 or -ENOMEM. */
int httpd_conns_init(struct httpd_conns *cs, struct event_base *base,
                     const struct httpd_limits *limits, struct httpd_stats *stats,
                     httpd_conn_gone_fn gone, void *gone_arg);
/* Frees what is left (after evhttp closed the connections) and the TLS context. */
void httpd_conns_free(struct httpd_conns *cs);

/* evhttp's bufferevent callback (evhttp_set_bevcb with cs as arg): a plain or TLS bufferevent
 * for a connection being accepted, taken in once evhttp has set it up. NULL when out of
 * memory. */
struct bufferevent *httpd_conns_new_bev(struct event_base *base, void *arg);

/* The tracked connection of evcon, or NULL. */
struct httpd_conn *httpd_conn_of(const struct httpd_conns *cs, struct evhttp_connection *evcon);

/* A request arrived on hc and goes to a handler: the header deadline stops. */
void httpd_conn_take_request(struct httpd_conn *hc, struct httpd_req *r);

/* The reply on conn was written out: the connection is idle again, and a request already
 * pipelined behind it starts its header deadline. */
void httpd_conn_request_done(struct httpd_conns *cs, struct evhttp_connection *conn);

/* Closes conn once what is queued on bev has been written. */
void httpd_conn_close_after_flush(struct bufferevent *bev, struct evhttp_connection *conn);

/* The error body for path and status, in the server's format (defaults to {"error": msg} as
 * application/json). out->json is a new reference. */
void httpd_conns_error_body(const struct httpd_conns *cs, const char *path, int status,
                            const char *msg, struct httpd_error_body *out);

/* What a head over the limits is told. */
void httpd_head_limit_text(const struct httpd_limits *lim, bool too_many, char *out, size_t outlen);

#endif
