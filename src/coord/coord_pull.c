/* coord_pull: pulls of models onto nodes.
 *
 * Auto-pull: a model that no node has is pulled onto the eligible node with the most memory
 * to offer, while the requests that want it wait; one pull per model at a time, bounded by
 * FLEET_AUTO_PULL_TIMEOUT. Dashboard pulls (POST /dashboard/api/pull) name the node; their
 * caller watches the node's progress, and they end only when the node stops sending progress
 * for FLEET_AUTO_PULL_TIMEOUT (a large model takes longer than any fixed limit). Requests
 * for a model being pulled wait for whichever pull it is. When a pull succeeds the node has
 * the model at once (before its next heartbeat says so) and the waiting requests are routed;
 * when it fails they are told why. A watcher that goes away does not stop the pull. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/ndjson.h"
#include "common/timeutil.h"
#include "coord/coord_pull.h"

#define PULL_MAX_LINE 65536
/* A slow watcher skips progress lines once this much is queued for it; the last line (the
 * outcome) is always written. */
#define PULL_WATCH_MAX_PENDING (64 * 1024)

struct pull {
    LIST_ENTRY(pull) link; /* in c->pulls */
    struct coord *c;
    char model[MODEL_NAME_MAX];
    char node_id[NODE_ID_MAX];
    struct httpc_req *up;
    struct event *timer;
    TAILQ_HEAD(, pull_waiter) waiters;
    struct ndjson_framer nd;
    bool success;
    char error[512];
    double t0;
    double started;            /* wall time */
    bool manual;               /* asked for on the dashboard */
    bool error_sent;           /* the node's error line went to the watcher */
    struct httpd_req *watcher; /* the dashboard request that asked for it, or NULL */
    bool watch_stream;         /* it gets every progress line, else one reply at the end */
    char status[128];          /* the node's last progress status */
    int64_t completed, total;  /* bytes of the layer being downloaded */
};

static void pull_free(struct pull *p)
{
    if (p->watcher)
        httpd_req_on_close(p->watcher, NULL, NULL);
    LIST_REMOVE(p, link);
    if (p->up)
        httpc_cancel(p->up);
    if (p->timer)
        event_free(p->timer);
    ndjson_framer_free(&p->nd);
    free(p);
}

/* Tells the dashboard request that asked for the pull how it ended. */
static void pull_answer_watcher(struct pull *p, int status)
{
    struct httpd_req *r = p->watcher;
    if (!r)
        return;
    httpd_req_on_close(r, NULL, NULL);
    p->watcher = NULL;
    if (p->watch_stream) {
        if (status != 0 && !p->error_sent) {
            json_t *o = json_pack("{s:s}", "error", p->error);
            char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (line) {
                httpd_stream_write(r, line, strlen(line));
                httpd_stream_write(r, "\n", 1);
            }
            free(line);
            json_decref(o);
        }
        httpd_stream_end(r);
    } else if (status == 0) {
        httpd_reply_json(r, 200, NULL,
                         json_pack("{s:s, s:s, s:s, s:f}", "status", "success", "model", p->model,
                                   "node_id", p->node_id, "duration_s", time_mono() - p->t0),
                         false);
    } else {
        httpd_reply_error(r, status, p->error);
    }
}

/* Ends the pull: routes its waiters (success) or fails them with status and the reason. */
static void pull_finish(struct pull *p, int status)
{
    struct coord *c = p->c;
    p->up = NULL;
    if (status == 0) {
        struct node *n = registry_find(&c->registry, p->node_id);
        if (n)
            node_add_available(n, p->model);
        LOG_INFO("pulled %s onto %s in %.1f s", p->model, p->node_id, time_mono() - p->t0);
    } else {
        LOG_WARN("pulling %s onto %s failed: %s", p->model, p->node_id, p->error);
    }
    pull_answer_watcher(p, status);
    /* The waiters leave the pull first, so that routing them cannot touch it. */
    TAILQ_HEAD(, pull_waiter) waiters;
    TAILQ_INIT(&waiters);
    struct pull_waiter *w;
    while ((w = TAILQ_FIRST(&p->waiters))) {
        TAILQ_REMOVE(&p->waiters, w, link);
        w->pull = NULL;
        TAILQ_INSERT_TAIL(&waiters, w, link);
    }
    char node_id[NODE_ID_MAX], error[sizeof p->error];
    snprintf(node_id, sizeof node_id, "%s", p->node_id);
    snprintf(error, sizeof error, "%s", p->error);
    pull_free(p);
    while ((w = TAILQ_FIRST(&waiters))) {
        TAILQ_REMOVE(&waiters, w, link);
        w->done(w, status, node_id, error);
    }
}

static int on_pull_line(const char *line, size_t len, void *arg)
{
    struct pull *p = arg;
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    const char *err = jsonx_str(o, "error");
    const char *status = jsonx_str(o, "status");
    bool last = false;
    if (err) {
        snprintf(p->error, sizeof p->error, "%s", err);
        last = true;
    } else if (status && strcmp(status, "success") == 0) {
        p->success = true;
        last = true;
    }
    if (status) {
        snprintf(p->status, sizeof p->status, "%s", status);
        int64_t total = 0, completed = 0;
        if (jsonx_int(o, "total", &total) == 0 && total > 0) {
            jsonx_int(o, "completed", &completed);
            p->total = total;
            p->completed = completed;
        }
    }
    json_decref(o);
    if (p->watcher && p->watch_stream &&
        (last || httpd_stream_pending(p->watcher) < PULL_WATCH_MAX_PENDING)) {
        httpd_stream_write(p->watcher, line, len);
        httpd_stream_write(p->watcher, "\n", 1);
        if (err)
            p->error_sent = true;
    }
    return 0;
}

static void on_pull_data(struct httpc_req *q, const char *data, size_t len, void *arg)
{
    (void)q;
    struct pull *p = arg;
    ndjson_framer_feed(&p->nd, data, len, on_pull_line, p);
    if (p->manual) { /* its limit is on silence */
        struct timeval tv = time_tv(p->c->settings->auto_pull_timeout);
        evtimer_add(p->timer, &tv);
    }
}

static void on_pull_done(struct httpc_req *q, int rc, const char *err, void *arg)
{
    struct pull *p = arg;
    long status = httpc_status(q);
    ndjson_framer_finish(&p->nd, on_pull_line, p);
    if (rc == 0 && status == 200 && p->success && !p->error[0]) {
        pull_finish(p, 0);
        return;
    }
    if (!p->error[0])
        snprintf(p->error, sizeof p->error, "%s",
                 rc ? (err ? err : "transfer failed") : "the node did not confirm the pull");
    /* The registry has no such model: that is a 404, as Ollama would say. */
    bool unknown = strstr(p->error, "file does not exist") || strstr(p->error, "not found");
    pull_finish(p, unknown ? 404 : 502);
}

static int pull_waiters(const struct pull *p)
{
    int n = 0;
    const struct pull_waiter *w;
    TAILQ_FOREACH (w, &p->waiters, link)
        n++;
    return n;
}

static void on_pull_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pull *p = arg;
    if (p->up)
        httpc_cancel(p->up);
    if (p->manual)
        snprintf(p->error, sizeof p->error,
                 "the node sent no progress for %.0f s (FLEET_AUTO_PULL_TIMEOUT)",
                 p->c->settings->auto_pull_timeout);
    else
        snprintf(p->error, sizeof p->error, "it took longer than %.0f s (FLEET_AUTO_PULL_TIMEOUT)",
                 p->c->settings->auto_pull_timeout);
    pull_finish(p, 504);
}

/* The node to pull onto: eligible for new work, with the most memory to offer, enough for the
 * model's estimated size. */
static const struct node *pull_target(struct coord *c, const char *model)
{
    double need =
        score_model_size(model, (const struct node *const *)c->registry.nodes, c->registry.n);
    const struct node *best = NULL;
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        if (score_node_usable(n) != SCORE_ELIGIBLE)
            continue;
        double avail = node_available_gb(n);
        if (n->has_memory && avail < need)
            continue;
        if (!best || avail > node_available_gb(best))
            best = n;
    }
    return best;
}

/* Starts pulling model onto n. NULL with a message when it cannot start. */
static struct pull *pull_start(struct coord *c, const char *model, const struct node *n,
                               bool manual, char *err, size_t errlen)
{
    struct pull *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->c = c;
    p->manual = manual;
    snprintf(p->model, sizeof p->model, "%s", model);
    snprintf(p->node_id, sizeof p->node_id, "%s", n->id);
    snprintf(p->status, sizeof p->status, "starting");
    TAILQ_INIT(&p->waiters);
    ndjson_framer_init(&p->nd, PULL_MAX_LINE);
    p->t0 = time_mono();
    p->started = time_wall();
    LIST_INSERT_HEAD(&c->pulls, p, link);
    char url[600];
    snprintf(url, sizeof url, "%s/api/pull", n->url);
    json_t *req = json_pack("{s:s, s:b}", "model", model, "stream", 1);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct httpc_opts o = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .connect_timeout_ms = (long)(c->settings->connect_timeout * 1000),
    };
    static const struct httpc_callbacks cb = {NULL, on_pull_data, on_pull_done};
    p->timer = evtimer_new(c->base, on_pull_timeout, p);
    p->up = body ? httpc_start(c->httpc, &o, &cb, p) : NULL;
    free(body); /* httpc copied it */
    if (!p->up || !p->timer) {
        pull_free(p);
        snprintf(err, errlen, "cannot start pulling %s onto %s", model, n->id);
        return NULL;
    }
    struct timeval tv = time_tv(c->settings->auto_pull_timeout);
    evtimer_add(p->timer, &tv);
    return p;
}

int coord_pull_wait(struct coord *c, struct pull_waiter *w, const char *model,
                    const char *model_sent, const char *who, char *err, size_t errlen)
{
    struct pull *p;
    LIST_FOREACH (p, &c->pulls, link)
        if (strcmp(p->model, model) == 0)
            break;
    if (!p) {
        const struct node *n = pull_target(c, model);
        if (!n) {
            snprintf(err, errlen,
                     "model '%s' not found, and no node has the memory to pull it (about %.1f GB)",
                     model_sent,
                     score_model_size(model, (const struct node *const *)c->registry.nodes,
                                      c->registry.n));
            return 404;
        }
        p = pull_start(c, model, n, false, err, errlen);
        if (!p)
            return 503;
        LOG_INFO("request %s: no node has %s; pulling it onto %s (%.1f GB free)", who, model, n->id,
                 node_available_gb(n));
    } else {
        LOG_INFO("request %s: waits for the pull of %s onto %s", who, model, p->node_id);
    }
    TAILQ_INSERT_TAIL(&p->waiters, w, link);
    w->pull = p;
    return 0;
}

static void on_watcher_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct pull *p = arg;
    p->watcher = NULL;
    LOG_INFO("pull of %s onto %s: its caller left; the pull goes on", p->model, p->node_id);
}

int coord_pull_manual(struct coord *c, struct httpd_req *r, const char *model, const struct node *n,
                      bool stream, char *err, size_t errlen)
{
    if (!n)
        n = pull_target(c, model);
    if (!n) {
        snprintf(
            err, errlen, "no node has the memory to take %s (about %.1f GB)", model,
            score_model_size(model, (const struct node *const *)c->registry.nodes, c->registry.n));
        return 503;
    }
    if (coord_pulling(c, model, n->id)) {
        snprintf(err, errlen, "%s is already being pulled onto %s", model, n->id);
        return 409;
    }
    struct pull *p = pull_start(c, model, n, true, err, errlen);
    if (!p)
        return 503;
    p->watcher = r;
    p->watch_stream = stream;
    httpd_req_on_close(r, on_watcher_gone, p);
    if (stream)
        httpd_stream_start(r, 200, "application/x-ndjson");
    return 0;
}

bool coord_pulling(const struct coord *c, const char *model, const char *node_id)
{
    const struct pull *p;
    LIST_FOREACH (p, &c->pulls, link)
        if (strcmp(p->model, model) == 0 && (!node_id || strcmp(p->node_id, node_id) == 0))
            return true;
    return false;
}

json_t *coord_pulls_json(const struct coord *c)
{
    json_t *a = json_array();
    const struct pull *p;
    LIST_FOREACH (p, &c->pulls, link) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:f, s:I, s:I, s:i}", "model", p->model, "node_id",
                      p->node_id, "origin", p->manual ? "dashboard" : "auto-pull", "status",
                      p->status, "started", p->started, "completed", (json_int_t)p->completed,
                      "total", (json_int_t)p->total, "waiting_requests", pull_waiters(p));
        json_array_append_new(a, o);
    }
    return a;
}

void coord_pull_forget(struct pull_waiter *w)
{
    if (!w->pull)
        return;
    TAILQ_REMOVE(&w->pull->waiters, w, link);
    w->pull = NULL;
}

void coord_pull_free_all(struct coord *c)
{
    struct pull *p;
    while ((p = LIST_FIRST(&c->pulls))) {
        struct pull_waiter *w;
        while ((w = TAILQ_FIRST(&p->waiters))) {
            TAILQ_REMOVE(&p->waiters, w, link);
            w->pull = NULL;
        }
        pull_free(p);
    }
}
