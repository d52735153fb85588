/* coord_api: the fleet as one Ollama (root, version), heartbeats, and the fleet's own
 * endpoints (/fleet/status, /fleet/queue). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "coord/coord_api.h"
#include "coord/fwd.h"
#include "coord/coord_auth.h"
#include "coord/coord_heartbeat.h"
#include "coord/coord_poll.h"
#include "coord/trace_store.h"

static bool routable(const struct node *n)
{
    return n->status != NODE_OFFLINE && !n->draining;
}

static void handle_root(struct httpd_req *r, void *arg)
{
    (void)arg;
    httpd_reply_text(r, 200, "Ollama is running");
}

static void handle_version(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    const char *version = "unknown";
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        if (routable(n) && n->ollama_version[0]) {
            version = n->ollama_version;
            break;
        }
    }
    httpd_reply_json(r, 200, NULL,
                     json_pack("{s:s, s:s}", "version", version, "herd_version", HERD_VERSION),
                     false);
}

static void handle_heartbeat(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    size_t len;
    const char *raw = httpd_req_body(r, &len);
    char err[300];
    json_t *body = jsonx_parse_body(raw, len, err, sizeof err);
    if (!body) {
        httpd_reply_error(r, 400, err);
        return;
    }
    int64_t signed_ms = 0;
    if (coord_auth_heartbeat(c->auth, r, body, &signed_ms) != 0) {
        json_decref(body);
        return; /* refused and answered */
    }
    struct node *n = NULL;
    int rc = coord_heartbeat_apply(c, body, httpd_req_peer(r), &n, err, sizeof err);
    json_decref(body);
    if (rc) {
        LOG_WARN("heartbeat from %s rejected: %s", httpd_req_peer(r), err);
        httpd_reply_error(r, rc == -EINVAL ? 400 : 503, err);
        return;
    }
    if (n && signed_ms)
        n->last_signed_ms = signed_ms;
    if (n)
        coord_poll_heard(c, n); /* an agent may take over an Ollama herd polls */
    if (!n || n->draining) {
        httpd_reply_json(
            r, 200, NULL,
            json_pack("{s:s, s:s?}", "status", "draining", "node_id", n ? n->id : NULL), false);
        return;
    }
    httpd_reply_json(
        r, 200, NULL,
        json_pack("{s:s, s:s}", "status", "ok", "node_status", node_status_name(n->status)), false);
}

static json_t *queue_json(const struct coord *c, const struct fleet_queue *q)
{
    (void)c;
    return json_pack(
        "{s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:i, s:f, s:f, s:f}", "node_id", q->node_id, "model",
        q->model, "pending", q->pending, "in_flight", q->in_flight, "completed",
        (json_int_t)q->completed, "failed", (json_int_t)q->failed, "client_disconnected",
        (json_int_t)q->disconnected, "concurrency", q->concurrency, "avg_latency_ms",
        q->latency_n ? q->latency_ms_sum / q->latency_n : 0.0, "avg_prompt_tokens",
        q->completed ? (double)q->prompt_tokens_sum / q->completed : 0.0, "avg_completion_tokens",
        q->completed ? (double)q->completion_tokens_sum / q->completed : 0.0);
}

static json_t *queues_json(const struct coord *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < c->queues.n; i++) {
        const struct fleet_queue *q = c->queues.q[i];
        char key[400];
        snprintf(key, sizeof key, "%s:%s", q->node_id, q->model);
        json_object_set_new(o, key, queue_json(c, q));
    }
    return o;
}

json_t *coord_fleet_summary(struct coord *c)
{
    int online = 0, loaded = 0, active = 0, pending = 0;
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        online += n->status == NODE_ONLINE;
        loaded += routable(n) ? (int)n->n_loaded : 0;
    }
    for (size_t i = 0; i < c->queues.n; i++) {
        active += c->queues.q[i]->in_flight;
        pending += c->queues.q[i]->pending;
    }
    return json_pack("{s:i, s:i, s:i, s:i, s:i}", "nodes_total", (int)c->registry.n, "nodes_online",
                     online, "models_loaded", loaded, "requests_active", active, "requests_queued",
                     pending + (int)c->n_held);
}

/* The node:models whose breaker is not closed: [{node_id, model, state, failures,
 * backoff_s, retry_in_s}]. */
static json_t *breakers_json(const struct coord *c)
{
    static const char *const names[] = {"closed", "open", "half_open"};
    double now = time_mono();
    json_t *a = json_array();
    for (size_t i = 0; i < c->breakers.n; i++) {
        const struct breaker_entry *e = &c->breakers.e[i];
        enum breaker_state st = breaker_state(&c->breakers, e->node_id, e->model, now);
        if (st == BREAKER_CLOSED)
            continue;
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i, s:f, s:f}", "node_id", e->node_id,
                                           "model", e->model, "state", names[st], "failures",
                                           e->failures, "backoff_s", e->backoff_s, "retry_in_s",
                                           st == BREAKER_OPEN ? e->open_until - now : 0));
    }
    return a;
}

json_t *coord_status_json(struct coord *c)
{
    double now = time_wall();
    json_t *nodes = json_array();
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        json_t *o = n->payload ? json_deep_copy(n->payload) : json_object();
        json_object_set_new(o, "node_id", json_string(n->id));
        json_object_set_new(o, "status", json_string(node_status_name(n->status)));
        json_object_set_new(o, "draining", json_boolean(n->draining));
        json_object_set_new(o, "ollama_url", json_string(n->url));
        json_object_set_new(o, "last_heartbeat_age_s", json_real(now - n->last_heartbeat));
        json_object_set_new(o, "parallel", json_integer(coord_node_parallel(c, n)));
        json_array_append_new(nodes, o);
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:f}", "fleet", coord_fleet_summary(c), "nodes", nodes,
                     "queues", queues_json(c), "breakers", breakers_json(c), "timestamp", now);
}

static void handle_status(struct httpd_req *r, void *arg)
{
    httpd_reply_json(r, 200, NULL, coord_status_json(arg), false);
}

static void handle_queue(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    int pending = 0, in_flight = 0, online = 0;
    long completed = 0, failed = 0;
    for (size_t i = 0; i < c->queues.n; i++) {
        pending += c->queues.q[i]->pending;
        in_flight += c->queues.q[i]->in_flight;
        completed += c->queues.q[i]->completed;
        failed += c->queues.q[i]->failed;
    }
    for (size_t i = 0; i < c->registry.n; i++)
        online += routable(c->registry.nodes[i]);
    json_t *o =
        json_pack("{s:i, s:i, s:i, s:I, s:I, s:i, s:o, s:f}", "queue_depth", pending + in_flight,
                  "pending", pending, "in_flight", in_flight, "completed", (json_int_t)completed,
                  "failed", (json_int_t)failed, "nodes_online", online, "queues", queues_json(c),
                  "timestamp", time_wall());
    httpd_reply_json(r, 200, NULL, o, false);
}

void coord_api_routes(struct coord *c)
{
    struct httpd *h = c->httpd;
    httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/", handle_root, c);
    httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/api/version", handle_version, c);
    httpd_route(h, HTTPD_POST, "/heartbeat", handle_heartbeat, c);
    httpd_route(h, HTTPD_GET, "/fleet/status", handle_status, c);
    httpd_route(h, HTTPD_GET, "/fleet/queue", handle_queue, c);
}
