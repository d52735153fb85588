#include "coord/coord_events.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "coord/coord_api.h"

/* Output a stream may have queued before updates are skipped for it. */
#define EVENTS_PENDING_MAX (1u << 20)

struct events_client {
    struct coord_events *e;
    struct httpd_req *r;
    LIST_ENTRY(events_client) link;
};

struct coord_events {
    struct coord *c;
    struct event *timer;
    LIST_HEAD(, events_client) clients;
    size_t n;
};

static void send_update(struct events_client *k, const char *frame, size_t len)
{
    if (httpd_stream_pending(k->r) > EVENTS_PENDING_MAX)
        return; /* a slow reader skips this one */
    httpd_stream_write(k->r, frame, len);
}

/* The frame for every client: "data: {...}\n\n". */
static char *frame_now(struct coord_events *e, size_t *len)
{
    json_t *o = coord_status_json(e->c);
    char *json = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!json)
        return NULL;
    size_t n = strlen(json);
    char *frame = malloc(n + 9);
    if (frame) {
        memcpy(frame, "data: ", 6);
        memcpy(frame + 6, json, n);
        memcpy(frame + 6 + n, "\n\n", 3);
        *len = n + 8;
    }
    free(json);
    return frame;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct coord_events *e = arg;
    size_t len;
    char *frame = e->n ? frame_now(e, &len) : NULL;
    struct events_client *k;
    if (frame)
        LIST_FOREACH (k, &e->clients, link)
            send_update(k, frame, len);
    free(frame);
}

static void on_client_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct events_client *k = arg;
    LIST_REMOVE(k, link);
    k->e->n--;
    if (k->e->n == 0)
        evtimer_del(k->e->timer);
    free(k);
}

static void handle_events(struct httpd_req *r, void *arg)
{
    struct coord_events *e = arg;
    if (e->n >= EVENTS_CLIENTS_MAX) {
        httpd_reply_error(r, 503, "too many dashboards are watching; close one");
        return;
    }
    struct events_client *k = calloc(1, sizeof *k);
    size_t len;
    char *frame = k ? frame_now(e, &len) : NULL;
    if (!frame) {
        free(k);
        httpd_reply_error(r, 503, "out of memory");
        return;
    }
    k->e = e;
    k->r = r;
    LIST_INSERT_HEAD(&e->clients, k, link);
    if (e->n++ == 0) {
        struct timeval tv = time_tv(EVENTS_PERIOD_S);
        evtimer_add(e->timer, &tv);
    }
    httpd_add_header(r, "Cache-Control", "no-cache");
    httpd_add_header(r, "X-Accel-Buffering", "no");
    httpd_stream_start(r, 200, "text/event-stream");
    httpd_req_on_close(r, on_client_gone, k);
    send_update(k, frame, len);
    free(frame);
}

struct coord_events *coord_events_new(struct coord *c)
{
    struct coord_events *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->c = c;
    LIST_INIT(&e->clients);
    e->timer = event_new(c->base, -1, EV_PERSIST, on_tick, e);
    if (!e->timer) {
        free(e);
        return NULL;
    }
    httpd_route(c->httpd, HTTPD_GET, "/dashboard/events", handle_events, e);
    return e;
}

void coord_events_free(struct coord_events *e)
{
    if (!e)
        return;
    while (!LIST_EMPTY(&e->clients)) {
        struct events_client *k = LIST_FIRST(&e->clients);
        LIST_REMOVE(k, link);
        httpd_stream_end(k->r);
        free(k);
    }
    event_free(e->timer);
    free(e);
}
