/* coord_pull: pulls of models onto nodes.
 *
 * Auto-pull: a model that no node has is pulled onto the eligible node with the most memory
 * to offer, while the requests that want it wait; one pull per model at a time, bounded by
 * FLEET_AUTO_PULL_TIMEOUT. A client's pull (POST /api/pull, the dashboard's) names the node;
 * its waiter sees the node's progress lines, and it ends only when the node stops sending
 * progress for FLEET_AUTO_PULL_TIMEOUT (a large model takes longer than any fixed limit).
 * Whoever asks for a model being pulled waits for that pull. When a pull succeeds the node has
 * the model at once (before its next heartbeat says so) and the waiting requests are routed;
 * when it fails they are told why. A waiter that goes away does not stop the pull. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/ndjson.h"
#include "common/timeutil.h"
#include "coord/coord_pull.h"

#define PULL_MAX_LINE 65536

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
    double started;           /* wall time */
    const char *origin;       /* "auto-pull", or who asked for it ("api", "dashboard") */
    bool manual;              /* asked for by a client: its limit is on silence */
    char status[128];         /* the node's last progress status */
    int64_t completed, total; /* bytes of the layer being downloaded */
};

static void pull_free(struct pull *p)
{
    LIST_REMOVE(p, link);
    if (p->up)
        httpc_cancel(p->up);
    if (p->timer)
        event_free(p->timer);
    ndjson_framer_free(&p->nd);
    free(p);
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
    if (err)
        snprintf(p->error, sizeof p->error, "%s", err);
    else if (status && strcmp(status, "success") == 0)
        p->success = true;
    if (status) {
        snprintf(p->status, sizeof p->status, "%s", status);
        int64_t total = 0, completed = 0;
        if (jsonx_int(o, "total", &total) == 0 && total > 0) {
            jsonx_int(o, "completed", &completed);
            p->total = total;
            p->completed = completed;
        }
    }
    struct pull_waiter *w = TAILQ_FIRST(&p->waiters), *next;
    for (; o && w; w = next) {
        next = TAILQ_NEXT(w, link);
        if (w->line)
            w->line(w, o);
    }
    json_decref(o);
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

const struct node *coord_pull_target(struct coord *c, const char *model)
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
                               const char *origin, bool insecure, char *err, size_t errlen)
{
    struct pull *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->c = c;
    p->origin = origin ? origin : "auto-pull";
    p->manual = origin != NULL;
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
    if (insecure) /* a registry without TLS, as the client asked */
        json_object_set_new(req, "insecure", json_true());
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
        const struct node *n = coord_pull_target(c, model);
        if (!n) {
            snprintf(err, errlen,
                     "model '%s' not found, and no node has the memory to pull it (about %.1f GB)",
                     model_sent,
                     score_model_size(model, (const struct node *const *)c->registry.nodes,
                                      c->registry.n));
            return 404;
        }
        p = pull_start(c, model, n, NULL, false, err, errlen);
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

int coord_pull_onto(struct coord *c, struct pull_waiter *w, const char *model, const struct node *n,
                    const char *origin, bool insecure, char *err, size_t errlen)
{
    struct pull *p;
    LIST_FOREACH (p, &c->pulls, link)
        if (strcmp(p->model, model) == 0 && strcmp(p->node_id, n->id) == 0)
            break;
    if (!p && !(p = pull_start(c, model, n, origin, insecure, err, errlen)))
        return 503;
    TAILQ_INSERT_TAIL(&p->waiters, w, link);
    w->pull = p;
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
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:f, s:I, s:I, s:i}", "model", p->model,
                              "node_id", p->node_id, "origin", p->origin, "status", p->status,
                              "started", p->started, "completed", (json_int_t)p->completed, "total",
                              (json_int_t)p->total, "waiting_requests", pull_waiters(p));
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
