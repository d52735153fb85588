#include "net/httpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/log.h"
#include "common/timeutil.h"

struct httpc {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;  /* libcurl's single timeout */
    struct event *reaper; /* frees cancelled transfers outside libcurl's callbacks */
    struct event *adder;  /* adds transfers started inside libcurl's callbacks */
    LIST_HEAD(, httpc_req) reqs;
    size_t n_active;
    char *ca_file; /* NULL: the system's CAs */
};

struct httpc_req {
    struct httpc *c;
    CURL *easy;
    struct curl_slist *headers;
    LIST_ENTRY(httpc_req) link;
    struct httpc_callbacks cb;
    void *arg;
    struct event *idle;
    long idle_timeout_ms;
    long status;
    bool response_seen;
    bool paused;
    bool cancelled;
    bool unadded; /* started inside a libcurl callback: added to the multi from the loop */
    char errbuf[CURL_ERROR_SIZE];
    /* httpc_fetch's collector */
    struct hbuf body;
    httpc_fetch_cb fetch_cb;
    void *fetch_arg;
    bool too_big;
};

/* One per socket libcurl asks us to watch. */
struct sock_watch {
    struct event *ev;
};

static void check_done(struct httpc *c);
static void on_add(evutil_socket_t fd, short what, void *arg);

static void arm_idle(struct httpc_req *q)
{
    if (!q->idle || q->paused)
        return;
    struct timeval tv = time_tv((double)q->idle_timeout_ms / 1000.0);
    evtimer_add(q->idle, &tv);
}

static void req_destroy(struct httpc_req *q)
{
    struct httpc *c = q->c;
    curl_multi_remove_handle(c->multi, q->easy);
    curl_easy_cleanup(q->easy);
    curl_slist_free_all(q->headers);
    if (q->idle)
        event_free(q->idle);
    hbuf_free(&q->body);
    LIST_REMOVE(q, link);
    c->n_active--;
    free(q);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct httpc *c = arg;
    struct httpc_req *q = LIST_FIRST(&c->reqs);
    while (q) {
        struct httpc_req *next = LIST_NEXT(q, link);
        if (q->cancelled)
            req_destroy(q);
        q = next;
    }
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
    struct httpc *c = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct httpc *c = arg;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct httpc *c = userp;
    struct sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_free(w->ev);
            free(w);
        }
        return 0;
    }
    short kind =
        EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w)
            return -1;
        curl_multi_assign(c->multi, s, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(c->base, s, kind, on_sock_event, c);
    if (!w->ev)
        return -1;
    event_add(w->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct httpc *c = userp;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = time_tv((double)timeout_ms / 1000.0);
    evtimer_add(c->timer, &tv);
    return 0;
}

static int errno_of(CURLcode rc, long status)
{
    (void)status;
    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
        return -ECONNRESET;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return -EACCES;
    default:
        return -EPROTO;
    }
}

static void check_done(struct httpc *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct httpc_req *q = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
        if (!q || q->cancelled)
            continue;
        CURLcode res = m->data.result;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->status);
        int rc = errno_of(res, q->status);
        const char *err = q->errbuf[0] ? q->errbuf : curl_easy_strerror(res);
        if (rc == 0 && !q->response_seen && q->cb.on_response) {
            q->response_seen = true;
            q->cb.on_response(q, q->status, q->arg);
        }
        if (!q->cancelled && q->cb.on_done)
            q->cb.on_done(q, rc, rc ? err : NULL, q->arg);
        q->cancelled = true; /* freed below or by the reaper; no more callbacks */
        req_destroy(q);
    }
}

/* Headers: report the response when its blank line arrives (skipping 1xx interim replies). */
static size_t header_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct httpc_req *q = userp;
    size_t len = size * n;
    if (q->cancelled)
        return 0;
    if (len <= 2 && (len == 0 || buf[0] == '\r' || buf[0] == '\n')) {
        long status = 0;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && !q->response_seen) {
            q->status = status;
            q->response_seen = true;
            if (q->cb.on_response)
                q->cb.on_response(q, status, q->arg);
        }
    }
    if (q->idle)
        arm_idle(q);
    return q->cancelled ? 0 : len;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct httpc_req *q = userp;
    size_t len = size * n;
    if (q->cancelled)
        return 0;
    if (q->paused)
        return CURL_WRITEFUNC_PAUSE;
    if (!q->response_seen) {
        q->response_seen = true;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->status);
        if (q->cb.on_response)
            q->cb.on_response(q, q->status, q->arg);
        if (q->cancelled)
            return 0;
    }
    if (q->cb.on_data)
        q->cb.on_data(q, buf, len, q->arg);
    if (q->cancelled || q->too_big)
        return 0;
    arm_idle(q);
    return len;
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct httpc_req *q = arg;
    if (q->paused || q->cancelled)
        return;
    /* End it here rather than through a libcurl timeout: a CURLOPT_TIMEOUT_MS changed in the
     * middle of a transfer is only seen when libcurl next looks at that handle, which on a
     * silent connection may be never. We are outside libcurl's callbacks, so the owner may
     * start another transfer from on_done. */
    q->cancelled = true;
    if (q->cb.on_done)
        q->cb.on_done(q, -ETIMEDOUT, "no data from the server within the idle timeout", q->arg);
    req_destroy(q);
}

struct httpc *httpc_new(struct event_base *base)
{
    static bool global_done;
    if (!global_done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_done = true;
    }
    struct httpc *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = base;
    LIST_INIT(&c->reqs);
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    c->reaper = evtimer_new(base, on_reap, c);
    c->adder = evtimer_new(base, on_add, c);
    if (!c->multi || !c->timer || !c->reaper || !c->adder) {
        httpc_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
}

void httpc_free(struct httpc *c)
{
    if (!c)
        return;
    while (!LIST_EMPTY(&c->reqs))
        req_destroy(LIST_FIRST(&c->reqs));
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->timer)
        event_free(c->timer);
    if (c->reaper)
        event_free(c->reaper);
    if (c->adder)
        event_free(c->adder);
    free(c->ca_file);
    free(c);
}

void httpc_set_ca_file(struct httpc *c, const char *path)
{
    free(c->ca_file);
    c->ca_file = path && *path ? strdup(path) : NULL;
}

struct httpc_req *httpc_start(struct httpc *c, const struct httpc_opts *o,
                              const struct httpc_callbacks *cb, void *arg)
{
    if (!o->url)
        return NULL;
    struct httpc_req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->c = c;
    q->cb = *cb;
    q->arg = arg;
    hbuf_init(&q->body, 0);
    q->easy = curl_easy_init();
    if (!q->easy) {
        free(q);
        return NULL;
    }
    CURL *e = q->easy;
    const char *method = o->method ? o->method : "GET";
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, q);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000L);
    if (o->total_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body ? (const char *)o->body : "");
    }
    for (const char *const *h = o->headers; h && *h; h++)
        q->headers = curl_slist_append(q->headers, *h);
    /* Never wait for a 100-continue that a simple server does not send. */
    q->headers = curl_slist_append(q->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers);
    if (o->idle_timeout_ms > 0) {
        q->idle_timeout_ms = o->idle_timeout_ms;
        q->idle = evtimer_new(c->base, on_idle, q);
        arm_idle(q);
    }
    LIST_INSERT_HEAD(&c->reqs, q, link);
    c->n_active++;
    CURLMcode mc = curl_multi_add_handle(c->multi, e);
    if (mc == CURLM_RECURSIVE_API_CALL) {
        /* Called from one of libcurl's callbacks (an owner reacting to a reply): add it as
         * soon as libcurl has returned. */
        q->unadded = true;
        struct timeval now = {0, 0};
        evtimer_add(c->adder, &now);
    } else if (mc != CURLM_OK) {
        q->cancelled = true;
        req_destroy(q);
        return NULL;
    }
    return q;
}

static void on_add(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct httpc *c = arg;
    struct httpc_req *q = LIST_FIRST(&c->reqs);
    while (q) {
        struct httpc_req *next = LIST_NEXT(q, link);
        if (q->unadded && !q->cancelled) {
            q->unadded = false;
            if (curl_multi_add_handle(c->multi, q->easy) != CURLM_OK) {
                if (q->cb.on_done)
                    q->cb.on_done(q, -EIO, "cannot start the transfer", q->arg);
                q->cancelled = true;
                req_destroy(q);
            }
        }
        q = next;
    }
}

void httpc_pause(struct httpc_req *q)
{
    q->paused = true;
    if (q->idle)
        evtimer_del(q->idle);
}

void httpc_resume(struct httpc_req *q)
{
    if (!q->paused || q->cancelled)
        return;
    q->paused = false;
    arm_idle(q);
    curl_easy_pause(q->easy, CURLPAUSE_CONT);
}

bool httpc_paused(const struct httpc_req *q)
{
    return q->paused;
}

void httpc_cancel(struct httpc_req *q)
{
    if (!q || q->cancelled)
        return;
    q->cancelled = true;
    if (q->idle)
        evtimer_del(q->idle);
    event_active(q->c->reaper, EV_TIMEOUT, 1);
}

long httpc_status(const struct httpc_req *q)
{
    return q->status;
}

const char *httpc_header(struct httpc_req *q, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(q->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
        return NULL;
    return h->value;
}

size_t httpc_active(const struct httpc *c)
{
    return c->n_active;
}

static void fetch_data(struct httpc_req *q, const char *data, size_t len, void *arg)
{
    (void)arg;
    if (q->too_big)
        return;
    /* The write callback then makes libcurl stop; the owner hears of it from fetch_done,
     * outside libcurl's callbacks, where it may start another transfer. */
    if (hbuf_append(&q->body, data, len) != 0)
        q->too_big = true;
}

static void fetch_done(struct httpc_req *q, int rc, const char *err, void *arg)
{
    (void)arg;
    if (q->too_big) {
        q->fetch_cb(q->status, NULL, 0, -EMSGSIZE, "response body too large", q->fetch_arg);
        return;
    }
    q->fetch_cb(q->status, q->body.data ? q->body.data : "", q->body.len, rc, err, q->fetch_arg);
}

struct httpc_req *httpc_fetch(struct httpc *c, const struct httpc_opts *o, size_t max_body,
                              httpc_fetch_cb cb, void *arg)
{
    static const struct httpc_callbacks fetch_callbacks = {
        .on_data = fetch_data,
        .on_done = fetch_done,
    };
    struct httpc_req *q = httpc_start(c, o, &fetch_callbacks, NULL);
    if (!q)
        return NULL;
    hbuf_init(&q->body, max_body);
    q->fetch_cb = cb;
    q->fetch_arg = arg;
    return q;
}
