/* coord_manage: one model-management operation on several nodes, one answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hbuf.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/model_name.h"
#include "common/ndjson.h"
#include "common/timeutil.h"
#include "coord/coord_manage.h"
#include "coord/coord_pull.h"
#include "coord/progress_merge.h"

_Static_assert(MANAGE_TARGETS_MAX <= PMERGE_SOURCES_MAX, "one merge source per node");

#define MANAGE_MAX_LINE 65536
#define MANAGE_MAX_REPLY (64 * 1024)
/* A slow client skips progress lines once this much is queued for it; status lines and the
 * outcome are always written. */
#define MANAGE_MAX_PENDING (64 * 1024)

struct manage_op;

struct manage_target {
    struct manage_op *op;
    int index;
    char node_id[NODE_ID_MAX];
    char url[256]; /* the node's Ollama */
    struct pull_waiter w;
    struct httpc_req *up;
    struct ndjson_framer nd;
    long status; /* the node's HTTP status, 0 before it answered */
    bool ended;
    bool ok;
    bool missing;    /* a delete or copy: the node did not have the model */
    char error[600]; /* why it failed */
};

struct manage_op {
    LIST_ENTRY(manage_op) link;
    struct coord *c;
    struct httpd_req *r; /* NULL once its client left */
    enum manage_kind kind;
    bool dashboard, stream, streaming, unload_first, forced;
    char model[MODEL_NAME_MAX];
    char dest[MODEL_NAME_MAX];
    char peer[64];
    char nodes[1024]; /* the targets, comma-separated */
    char *body;       /* forwarded to the nodes (create, push, unload) */
    size_t body_len;
    char path[32]; /* an unload's */
    char *reply;   /* an unload's: the first node's answer */
    size_t reply_len;
    struct progress_merge *merge; /* streamed kinds */
    double t0;
    int n, ended;
    int pull_status; /* the first failed pull's status (404 unknown, 502, 504) */
    struct manage_target t[];
};

struct coord_manage {
    LIST_HEAD(, manage_op) ops;
};

static const char *const kind_verb[] = {"pull", "delete", "copy", "create", "push", "unload"};
static const char *const kind_done[] = {"pulled",  "deleted", "copied",
                                        "created", "pushed",  "unloaded"};

/* "pulled onto", "deleted from", "created on" */
static const char *kind_where(enum manage_kind k)
{
    return k == MANAGE_DELETE ? "from" : k == MANAGE_PULL ? "onto" : "on";
}

static bool streamed(enum manage_kind k)
{
    return k == MANAGE_PULL || k == MANAGE_CREATE || k == MANAGE_PUSH;
}

static const char *origin(const struct manage_op *op)
{
    return op->dashboard ? "dashboard" : "api";
}

static void op_free(struct manage_op *op)
{
    LIST_REMOVE(op, link);
    if (op->r)
        httpd_req_on_close(op->r, NULL, NULL);
    for (int i = 0; i < op->n; i++) {
        coord_pull_forget(&op->t[i].w);
        if (op->t[i].up)
            httpc_cancel(op->t[i].up);
        ndjson_framer_free(&op->t[i].nd);
    }
    free(op->merge);
    free(op->body);
    free(op->reply);
    free(op);
}

static void write_line(struct httpd_req *r, const json_t *o)
{
    struct hbuf b;
    hbuf_init(&b, MANAGE_MAX_LINE);
    jsonx_dump_append(o, &b);
    hbuf_append(&b, "\n", 1);
    httpd_stream_write(r, b.data, b.len);
    hbuf_free(&b);
}

/* Writes the merge's lines to a streaming client; a slow one misses progress lines. */
static void write_lines(struct manage_op *op, json_t *lines)
{
    size_t i;
    json_t *o;
    json_array_foreach (lines, i, o) {
        if (!op->r || !op->streaming)
            break;
        bool progress = json_object_get(o, "completed") || json_object_get(o, "total");
        if (progress && httpd_stream_pending(op->r) > MANAGE_MAX_PENDING)
            continue;
        write_line(op->r, o);
    }
    json_array_clear(lines);
}

/* The client's stream starts when a node has accepted the operation. */
static void start_stream(struct manage_op *op)
{
    if (op->streaming || !op->stream || !op->r)
        return;
    op->streaming = true;
    httpd_stream_start(op->r, 200, "application/x-ndjson");
}

/* Every node that failed, with its reason: "reason (node b); reason (node c)". */
static void failures(const struct manage_op *op, char *out, size_t outlen)
{
    struct hbuf b;
    hbuf_init(&b, outlen);
    for (int i = 0; i < op->n; i++) {
        const struct manage_target *t = &op->t[i];
        if (t->ok || t->missing)
            continue;
        /* A delete's or copy's reason names its node already. */
        if (streamed(op->kind))
            hbuf_printf(&b, "%s%s (node %s)", b.len ? "; " : "", t->error, t->node_id);
        else
            hbuf_printf(&b, "%s%s", b.len ? "; " : "", t->error);
    }
    snprintf(out, outlen, "%s", b.len ? b.data : "failed");
    hbuf_free(&b);
}

/* The nodes where it worked, comma-separated. */
static void successes(const struct manage_op *op, char *out, size_t outlen)
{
    struct hbuf b;
    hbuf_init(&b, outlen);
    for (int i = 0; i < op->n; i++)
        if (op->t[i].ok)
            hbuf_printf(&b, "%s%s", b.len ? ", " : "", op->t[i].node_id);
    snprintf(out, outlen, "%s", b.len ? b.data : "");
    hbuf_free(&b);
}

/* What the fleet knows at once, before the nodes' next heartbeats. */
static void note_success(struct manage_op *op, const struct manage_target *t)
{
    struct node *n = registry_find(&op->c->registry, t->node_id);
    if (!n)
        return;
    if (op->kind == MANAGE_DELETE)
        node_remove_model(n, op->model);
    else if (op->kind == MANAGE_COPY)
        node_add_available(n, op->dest);
    else if (op->kind == MANAGE_CREATE)
        node_add_available(n, op->model);
    else if (op->kind == MANAGE_UNLOAD)
        node_forget_loaded(n, op->model);
    /* A pull's own module has noted it. */
}

/* The status of a failed operation answered in one piece. */
static int failure_status(const struct manage_op *op, int n_ok, int n_missing)
{
    if (n_ok == 0 && n_missing == op->n)
        return 404;
    if (op->kind == MANAGE_PULL && op->dashboard)
        return op->pull_status ? op->pull_status : 502;
    /* A node's own refusal of the request (400, 404...) when it is the only answer. */
    int status = 0;
    for (int i = 0; i < op->n; i++) {
        long s = op->t[i].status;
        if (op->t[i].ok || op->t[i].missing)
            continue;
        if (s < 400 || s >= 500 || (status && status != s))
            return op->dashboard ? 502 : 500;
        status = (int)s;
    }
    return status ? status : 500;
}

static void answer_dashboard_delete(struct manage_op *op, const struct manage_target *t)
{
    if (t->ok) {
        httpd_reply_json(op->r, 200, NULL,
                         json_pack("{s:s, s:s, s:s, s:b, s:b}", "status", "success", "model",
                                   op->model, "node_id", t->node_id, "forced", op->forced,
                                   "was_loaded", op->unload_first),
                         false);
    } else {
        httpd_reply_error(op->r, t->missing ? 404 : 502, t->error);
    }
}

/* Every node has ended: logs and answers the client. */
static void op_finish(struct manage_op *op)
{
    int n_ok = 0, n_missing = 0;
    for (int i = 0; i < op->n; i++) {
        n_ok += op->t[i].ok;
        n_missing += op->t[i].missing;
    }
    bool ok = n_ok > 0 && n_ok + n_missing == op->n;
    char why[2048], done[1024];
    failures(op, why, sizeof why);
    successes(op, done, sizeof done);
    const char *what = op->kind == MANAGE_COPY ? op->dest : op->model;
    const char *where = kind_where(op->kind);
    if (ok) {
        LOG_INFO("%s: %s %s %s %s %s%s, in %.1f s", origin(op), op->peer, kind_done[op->kind], what,
                 where, done, op->forced ? " (forced)" : "", time_mono() - op->t0);
    } else {
        LOG_WARN("%s: %s of %s %s %s asked by %s failed: %s%s%s", origin(op), kind_verb[op->kind],
                 what, where, op->nodes, op->peer, why, n_ok ? "; done on " : "", n_ok ? done : "");
    }
    if (!op->r) {
        op_free(op);
        return;
    }
    httpd_req_on_close(op->r, NULL, NULL);
    char msg[sizeof why + sizeof done + 32];
    if (n_missing == op->n)
        snprintf(msg, sizeof msg,
                 op->kind == MANAGE_COPY ? "model \"%s\" not found" : "model '%s' not found",
                 op->model);
    else
        snprintf(msg, sizeof msg, "%s%s%s", why, n_ok ? "; done on " : "", n_ok ? done : "");
    if (op->streaming) {
        json_t *last =
            ok ? json_pack("{s:s}", "status", "success") : json_pack("{s:s}", "error", msg);
        write_line(op->r, last);
        json_decref(last);
        httpd_stream_end(op->r);
    } else if (op->dashboard && op->kind == MANAGE_DELETE) {
        answer_dashboard_delete(op, &op->t[0]);
    } else if (!ok) {
        httpd_reply_error(op->r, failure_status(op, n_ok, n_missing), msg);
    } else if (op->dashboard) {
        httpd_reply_json(op->r, 200, NULL,
                         json_pack("{s:s, s:s, s:s, s:f}", "status", "success", "model", op->model,
                                   "node_id", op->t[0].node_id, "duration_s", time_mono() - op->t0),
                         false);
    } else if (op->kind == MANAGE_UNLOAD) {
        httpd_reply(op->r, 200, "application/json; charset=utf-8", op->reply, op->reply_len);
    } else if (streamed(op->kind)) {
        httpd_reply_json(op->r, 200, NULL, json_pack("{s:s}", "status", "success"), false);
    } else {
        httpd_reply(op->r, 200, NULL, NULL, 0); /* delete and copy: Ollama sends no body */
    }
    op->r = NULL;
    op_free(op);
}

/* Target t has ended (t->ok, t->missing or t->error set). */
static void target_end(struct manage_target *t)
{
    struct manage_op *op = t->op;
    if (t->ended)
        return;
    t->ended = true;
    op->ended++;
    if (t->ok)
        note_success(op, t);
    if (op->merge) {
        json_t *lines = json_array();
        if (!t->ok)
            progress_merge_fail(op->merge, t->index, t->error, lines);
        else {
            json_t *s = json_pack("{s:s}", "status", "success");
            progress_merge_line(op->merge, t->index, s, lines);
            json_decref(s);
        }
        write_lines(op, lines);
        json_decref(lines);
    }
    if (op->ended == op->n)
        op_finish(op);
}

/* A progress line of a node, parsed. */
static void target_line(struct manage_target *t, const json_t *o)
{
    struct manage_op *op = t->op;
    const char *err = jsonx_str(o, "error");
    if (err)
        snprintf(t->error, sizeof t->error, "%s", err);
    if (t->status == 200)
        start_stream(op);
    json_t *lines = json_array();
    progress_merge_line(op->merge, t->index, o, lines);
    write_lines(op, lines);
    json_decref(lines);
}

/* ---- pull, through coord_pull (shared with auto-pull and the requests that wait) ---- */

static struct manage_target *target_of_waiter(struct pull_waiter *w)
{
    return (struct manage_target *)((char *)w - offsetof(struct manage_target, w));
}

static void on_pull_line(struct pull_waiter *w, const json_t *line)
{
    struct manage_target *t = target_of_waiter(w);
    t->status = 200; /* the node is sending progress */
    if (!jsonx_str(line, "error") && strcmp(jsonx_str_or(line, "status", ""), "success") == 0)
        return; /* the outcome is written once every node has ended */
    target_line(t, line);
}

static void on_pull_done(struct pull_waiter *w, int status, const char *node_id, const char *error)
{
    (void)node_id;
    struct manage_target *t = target_of_waiter(w);
    t->ok = status == 0;
    if (!t->ok) {
        if (!t->op->pull_status)
            t->op->pull_status = status;
        snprintf(t->error, sizeof t->error, "%s", error && *error ? error : "pull failed");
    }
    target_end(t);
}

/* ---- create and push: the node's stream, relayed ---- */

static int on_stream_line(const char *line, size_t len, void *arg)
{
    struct manage_target *t = arg;
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    const char *status = jsonx_str(o, "status");
    if (jsonx_str(o, "error") || !status || strcmp(status, "success") != 0)
        target_line(t, o);
    else
        t->ok = true;
    json_decref(o);
    return 0;
}

static void on_stream_response(struct httpc_req *q, long status, void *arg)
{
    (void)q;
    struct manage_target *t = arg;
    t->status = status;
}

static void on_stream_data(struct httpc_req *q, const char *data, size_t len, void *arg)
{
    (void)q;
    struct manage_target *t = arg;
    ndjson_framer_feed(&t->nd, data, len, on_stream_line, t);
}

static void on_stream_done(struct httpc_req *q, int rc, const char *err, void *arg)
{
    (void)q;
    struct manage_target *t = arg;
    t->up = NULL;
    ndjson_framer_finish(&t->nd, on_stream_line, t);
    if (rc != 0) {
        t->ok = false;
        snprintf(t->error, sizeof t->error, "the node could not be reached: %s",
                 err ? err : "transfer failed");
    } else if (t->status != 200 || t->error[0]) {
        t->ok = false;
        if (!t->error[0])
            snprintf(t->error, sizeof t->error, "the node answered HTTP %ld", t->status);
    } else if (!t->ok) {
        snprintf(t->error, sizeof t->error, "the node ended without success");
    }
    target_end(t);
}

static struct httpc_req *start_stream_call(struct manage_target *t, const char *path)
{
    struct manage_op *op = t->op;
    char url[320];
    snprintf(url, sizeof url, "%s%s", t->url, path);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct httpc_opts o = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = op->body,
        .body_len = op->body_len,
        .connect_timeout_ms = (long)(op->c->settings->connect_timeout * 1000),
        /* A quantisation may be silent for a while; a dead node is not. */
        .idle_timeout_ms = (long)(op->c->settings->auto_pull_timeout * 1000),
    };
    static const struct httpc_callbacks cb = {on_stream_response, on_stream_data, on_stream_done};
    return httpc_start(op->c->httpc, &o, &cb, t);
}

/* ---- delete and copy: one answer per node ---- */

static struct httpc_req *start_fetch(struct manage_target *t, const char *method, const char *path,
                                     json_t *body, httpc_fetch_cb cb);

static void on_fetch_done(long status, const char *body, size_t len, int rc, const char *err,
                          void *arg)
{
    struct manage_target *t = arg;
    struct manage_op *op = t->op;
    t->up = NULL;
    t->status = status;
    const char *verb = kind_verb[op->kind];
    if (rc != 0) {
        snprintf(t->error, sizeof t->error, "node %s could not be reached: %s", t->node_id,
                 err ? err : "transfer failed");
    } else if (status == 200) {
        t->ok = true;
        if (op->kind == MANAGE_UNLOAD && !op->reply && (op->reply = malloc(len + 1))) {
            memcpy(op->reply, body, len);
            op->reply[len] = '\0';
            op->reply_len = len;
        }
    } else {
        json_error_t je;
        json_t *o = json_loadb(body, len, 0, &je);
        const char *why = jsonx_str(o, "error");
        snprintf(t->error, sizeof t->error, "node %s refused to %s %s: %s", t->node_id, verb,
                 op->model, why ? why : "HTTP error");
        json_decref(o);
        t->missing = status == 404;
    }
    target_end(t);
}

static struct httpc_req *start_op_call(struct manage_target *t);

/* The unload before a forced delete ended; the delete goes ahead whatever its outcome. */
static void on_unload_done(long status, const char *body, size_t len, int rc, const char *err,
                           void *arg)
{
    (void)body;
    (void)len;
    struct manage_target *t = arg;
    struct manage_op *op = t->op;
    t->up = NULL;
    if (rc != 0 || status != 200)
        LOG_WARN("%s: unloading %s from %s before deleting it failed (%s); deleting anyway",
                 origin(op), op->model, t->node_id,
                 rc ? (err ? err : "transfer failed") : "HTTP error");
    t->up = start_fetch(t, "DELETE", "/api/delete", json_pack("{s:s}", "model", op->model),
                        on_fetch_done);
    if (!t->up) {
        snprintf(t->error, sizeof t->error, "cannot start the delete on %s", t->node_id);
        target_end(t);
    }
}

/* Sends body (stolen) to the target's Ollama at path; cb gets the whole reply. */
static struct httpc_req *start_fetch(struct manage_target *t, const char *method, const char *path,
                                     json_t *body, httpc_fetch_cb cb)
{
    struct manage_op *op = t->op;
    char url[320];
    snprintf(url, sizeof url, "%s%s", t->url, path);
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct httpc_opts o = {
        .method = method,
        .url = url,
        .headers = headers,
        .body = payload,
        .body_len = payload ? strlen(payload) : 0,
        .connect_timeout_ms = (long)(op->c->settings->connect_timeout * 1000),
        .total_timeout_ms = 60000,
    };
    struct httpc_req *q = payload ? httpc_fetch(op->c->httpc, &o, MANAGE_MAX_REPLY, cb, t) : NULL;
    free(payload);
    return q;
}

/* Starts the operation on one node: NULL when it cannot (t->error says why). */
static struct httpc_req *start_op_call(struct manage_target *t)
{
    struct manage_op *op = t->op;
    switch (op->kind) {
    case MANAGE_DELETE:
        if (op->unload_first)
            return start_fetch(
                t, "POST", "/api/generate",
                json_pack("{s:s, s:i, s:b}", "model", op->model, "keep_alive", 0, "stream", 0),
                on_unload_done);
        return start_fetch(t, "DELETE", "/api/delete", json_pack("{s:s}", "model", op->model),
                           on_fetch_done);
    case MANAGE_COPY:
        return start_fetch(t, "POST", "/api/copy",
                           json_pack("{s:s, s:s}", "source", op->model, "destination", op->dest),
                           on_fetch_done);
    case MANAGE_CREATE:
        return start_stream_call(t, "/api/create");
    case MANAGE_PUSH:
        return start_stream_call(t, "/api/push");
    case MANAGE_UNLOAD: {
        json_error_t je;
        json_t *body = json_loadb(op->body, op->body_len, 0, &je);
        json_object_set_new(body, "stream", json_false());
        return start_fetch(t, "POST", op->path, body, on_fetch_done);
    }
    case MANAGE_PULL:
        break;
    }
    return NULL;
}

static void on_client_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct manage_op *op = arg;
    op->r = NULL; /* the operation goes on; its outcome is logged */
    LOG_INFO("%s: the client of the %s of %s left; it goes on", origin(op), kind_verb[op->kind],
             op->model);
}

/* The body forwarded to the nodes: the client's, asking for a stream (the nodes' progress is
 * merged here, whatever the client wants). */
static int forward_body(struct manage_op *op, const char *body, size_t len)
{
    json_error_t je;
    json_t *o = json_loadb(body ? body : "{}", body ? len : 2, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return -EINVAL;
    }
    json_object_set_new(o, "stream", json_true());
    op->body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!op->body)
        return -ENOMEM;
    op->body_len = strlen(op->body);
    return 0;
}

int coord_manage_start(struct coord *c, struct httpd_req *r, const struct manage_ask *a,
                       const struct node *const *nodes, int n, char *err, size_t errlen)
{
    if (n < 1 || n > MANAGE_TARGETS_MAX) {
        snprintf(err, errlen, "an operation goes to 1 to %d nodes", MANAGE_TARGETS_MAX);
        return 400;
    }
    struct manage_op *op = calloc(1, sizeof *op + (size_t)n * sizeof op->t[0]);
    if (!op) {
        snprintf(err, errlen, "out of memory");
        return 503;
    }
    LIST_INSERT_HEAD(&c->manage->ops, op, link);
    op->c = c;
    op->kind = a->kind;
    op->dashboard = a->dashboard;
    op->stream = a->stream;
    op->unload_first = a->unload_first;
    op->forced = a->forced;
    op->t0 = time_mono();
    op->n = n;
    snprintf(op->model, sizeof op->model, "%s", a->model);
    snprintf(op->dest, sizeof op->dest, "%s", a->dest ? a->dest : "");
    snprintf(op->peer, sizeof op->peer, "%s", httpd_req_peer(r));
    snprintf(op->path, sizeof op->path, "%s", a->path ? a->path : "");
    if ((a->kind == MANAGE_CREATE || a->kind == MANAGE_PUSH || a->kind == MANAGE_UNLOAD) &&
        forward_body(op, a->body, a->body_len) != 0) {
        op_free(op);
        snprintf(err, errlen, "the request body is not a JSON object");
        return 400;
    }
    if (streamed(a->kind)) {
        op->merge = malloc(sizeof *op->merge);
        if (!op->merge) {
            op_free(op);
            snprintf(err, errlen, "out of memory");
            return 503;
        }
        progress_merge_init(op->merge, n);
    }
    struct hbuf names;
    hbuf_init(&names, 4096);
    for (int i = 0; i < n; i++) {
        struct manage_target *t = &op->t[i];
        t->op = op;
        t->index = i;
        snprintf(t->node_id, sizeof t->node_id, "%s", nodes[i]->id);
        snprintf(t->url, sizeof t->url, "%s", nodes[i]->url);
        ndjson_framer_init(&t->nd, MANAGE_MAX_LINE);
        t->w.done = on_pull_done;
        t->w.line = on_pull_line;
        hbuf_printf(&names, "%s%s", i ? "," : "", t->node_id);
    }
    httpd_add_header(r, "X-Fleet-Node", names.len ? names.data : "");
    snprintf(op->nodes, sizeof op->nodes, "%s", names.len ? names.data : "");
    LOG_INFO("%s: %s asked to %s %s %s %s", origin(op), op->peer, kind_verb[op->kind],
             a->kind == MANAGE_COPY ? op->dest : op->model, kind_where(a->kind), op->nodes);
    hbuf_free(&names);
    op->r = r;
    httpd_req_on_close(r, on_client_gone, op);
    /* Started only once all are set up: a node may answer (or fail) at once. */
    for (int i = 0; i < n; i++) {
        struct manage_target *t = &op->t[i];
        char why[512] = "";
        bool started;
        if (a->kind == MANAGE_PULL)
            started = coord_pull_onto(c, &t->w, op->model, nodes[i], origin(op), a->insecure, why,
                                      sizeof why) == 0;
        else
            started = (t->up = start_op_call(t)) != NULL;
        if (!started) {
            snprintf(t->error, sizeof t->error, "cannot start: %s", why[0] ? why : "no memory");
            bool last = i == n - 1;
            target_end(t); /* the last one may finish (and free) the operation */
            if (last)
                break;
        }
    }
    return 0;
}

int coord_manage_init(struct coord *c)
{
    c->manage = calloc(1, sizeof *c->manage);
    if (!c->manage)
        return -ENOMEM;
    LIST_INIT(&c->manage->ops);
    return 0;
}

void coord_manage_free(struct coord *c)
{
    if (!c->manage)
        return;
    struct manage_op *op;
    while ((op = LIST_FIRST(&c->manage->ops)))
        op_free(op);
    free(c->manage);
    c->manage = NULL;
}
