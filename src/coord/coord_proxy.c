/* coord_proxy: the inference API. Every request is scored, queued on its node:model, and
 * relayed to the chosen node's Ollama byte for byte as the chunks arrive; a slow client pauses
 * the node's stream, a client that leaves cancels it. Each outcome becomes a trace row. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hbuf.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/ndjson.h"
#include "common/sse.h"
#include "common/timeutil.h"
#include "coord/coord_fwd.h"
#include "coord/coord_metrics.h"
#include "coord/request_tags.h"
#include "coord/model_class.h"
#include "coord/trace_store.h"

#define MAX_FRAME (16 * 1024 * 1024) /* longest NDJSON line or SSE event parsed for traces */
#define MAX_WHOLE (8 * 1024 * 1024)  /* non-streamed replies kept for their token counts */
#define MAX_ERROR_BODY 65536

static const struct fwd_route routes[] = {
    {"/api/chat", API_CHAT, false, true, false},
    {"/api/generate", API_GENERATE, false, true, false},
    {"/api/embed", API_EMBED, false, true, true},
    {"/api/embeddings", API_EMBEDDINGS, false, true, true},
    {"/api/show", API_SHOW, false, false, false},
    {"/v1/chat/completions", API_OAI_CHAT, true, true, false},
    {"/v1/completions", API_OAI_COMPLETIONS, true, true, false},
    {"/v1/embeddings", API_OAI_EMBEDDINGS, true, true, true},
};

static void reply_error(struct httpd_req *r, const struct fwd_route *rt, int status,
                        const char *msg)
{
    if (rt->openai)
        httpd_reply_error_openai(r, status, msg);
    else
        httpd_reply_error_ollama(r, status, msg);
}

static void fwd_free(struct fwd *f)
{
    if (!f)
        return;
    LIST_REMOVE(f, link);
    f->c->n_active--;
    fwd_unhold(f);
    coord_pull_forget(f);
    if (f->hold_timer)
        event_free(f->hold_timer);
    for (int i = 0; i < f->n_headers; i++)
        free(f->headers[i]);
    free(f->tags);
    if (f->body != f->raw)
        free(f->body);
    free(f->raw);
    if (f->admit)
        event_free(f->admit);
    ndjson_framer_free(&f->nd);
    sse_framer_free(&f->sse);
    hbuf_free(&f->whole);
    free(f);
}

static void record(struct fwd *f, const char *status);

void fwd_fail(struct fwd *f, int status, const char *msg)
{
    if (msg != f->error)
        snprintf(f->error, sizeof f->error, "%s", msg);
    httpd_req_on_close(f->req, NULL, NULL);
    /* The id ties the error to its trace row. */
    httpd_add_header(f->req, "X-Fleet-Request-Id", f->id);
    reply_error(f->req, f->route, status, f->error);
    f->req = NULL;
    record(f, "failed");
    fwd_free(f);
}

static void record(struct fwd *f, const char *status)
{
    struct coord *c = f->c;
    if (!c->traces || !f->route->queued)
        return;
    struct trace_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.request_id, sizeof row.request_id, "%s", f->id);
    snprintf(row.model, sizeof row.model, "%s", f->model);
    snprintf(row.original_model, sizeof row.original_model, "%s", f->chain[0]);
    row.fallback_used = f->fallback != ROUTE_FALLBACK_NONE;
    row.fallback_reason = route_fallback_name(f->fallback);
    row.context_action = route_context_name(f->context_action);
    row.auto_pulled = f->pulled;
    snprintf(row.node_id, sizeof row.node_id, "%s", f->node_id);
    row.score = f->score.total;
    json_t *b = score_breakdown_json(&f->score);
    row.scores_breakdown = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    row.status = status;
    double now = time_mono();
    row.latency_ms = (now - f->t0) * 1000;
    row.ttft_ms = f->t_first > 0 ? (f->t_first - f->t0) * 1000 : -1;
    row.prompt_tokens = f->prompt_tokens;
    row.completion_tokens = f->completion_tokens;
    snprintf(row.client_ip, sizeof row.client_ip, "%s", f->client_ip);
    row.original_format = f->route->openai ? "openai" : "ollama";
    row.error_message = f->error[0] ? strdup(f->error) : NULL;
    row.retry_count = f->retries;
    json_t *ex = json_array();
    for (int i = 0; i < f->n_excluded; i++)
        json_array_append_new(ex, json_string(f->excluded[i]));
    row.excluded_nodes = json_dumps(ex, JSON_COMPACT);
    json_decref(ex);
    row.tags = f->tags ? strdup(f->tags) : NULL;
    snprintf(row.app, sizeof row.app, "%s", f->app);
    row.timestamp = time_wall();
    coord_metrics_request(c->metrics, &row, f->route->path);
    trace_store_add(c->traces, &row);
    LOG_INFO("request %s model=%s node=%s status=%s latency_ms=%.0f ttft_ms=%.0f tokens=%lld/%lld",
             f->id, f->model, f->node_id, status, (now - f->t0) * 1000,
             f->t_first > 0 ? (f->t_first - f->t0) * 1000 : -1.0, (long long)f->prompt_tokens,
             (long long)f->completion_tokens);
}

/* Gives back the slot, with the outcome and what it cost. */
static void leave_queue(struct fwd *f, enum fq_outcome outcome)
{
    if (!f->q)
        return;
    if (f->in_flight) {
        f->in_flight = false;
        queue_leave(f->q, outcome, outcome == FQ_COMPLETED ? (time_mono() - f->t0) * 1000 : -1,
                    f->prompt_tokens, f->completion_tokens);
    } else {
        queue_withdraw(f->q, &f->w);
    }
}

/* ---- reading what the node sends, for the trace ---- */

static void note_native_final(struct fwd *f, const json_t *o)
{
    int64_t v;
    if (jsonx_int(o, "prompt_eval_count", &v) == 0)
        f->prompt_tokens = v;
    if (jsonx_int(o, "eval_count", &v) == 0)
        f->completion_tokens = v;
}

static void note_usage(struct fwd *f, const json_t *usage)
{
    int64_t v;
    if (jsonx_int(usage, "prompt_tokens", &v) == 0 && v > 0)
        f->prompt_tokens = v;
    if (jsonx_int(usage, "completion_tokens", &v) == 0 && v > 0)
        f->completion_tokens = v;
}

static int on_ndjson_line(const char *line, size_t len, void *arg)
{
    struct fwd *f = arg;
    /* Only the lines that matter are parsed: the last one and errors. */
    bool done = memmem(line, len, "\"done\":true", 11) != NULL;
    bool error = memmem(line, len, "\"error\"", 7) != NULL;
    if (!done && !error)
        return 0;
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    if (!o)
        return 0;
    if (json_is_true(json_object_get(o, "done"))) {
        f->saw_done = true;
        note_native_final(f, o);
    }
    const char *err = jsonx_str(o, "error");
    if (err) {
        f->saw_error = true;
        snprintf(f->error, sizeof f->error, "%s", err);
    }
    json_decref(o);
    return 0;
}

/* Relays one SSE event (already framed) and notes what it says. Returns 1 if the client is
 * slow. */
static int relay(struct fwd *f, const void *p, size_t len);

static void relay_event(struct fwd *f, const char *data, size_t len)
{
    struct hbuf b;
    hbuf_init(&b, len + 16);
    hbuf_append_str(&b, "data: ");
    hbuf_append(&b, data, len);
    hbuf_append_str(&b, "\n\n");
    relay(f, b.data, b.len);
    hbuf_free(&b);
}

static int on_sse_event(const struct sse_event *ev, void *arg)
{
    struct fwd *f = arg;
    if (strcmp(ev->data, "[DONE]") == 0) {
        f->saw_done = true;
    } else {
        if (strstr(ev->data, "\"usage\"") || strstr(ev->data, "\"error\"")) {
            json_error_t je;
            json_t *o = json_loadb(ev->data, ev->data_len, 0, &je);
            json_t *usage = json_object_get(o, "usage");
            if (json_is_object(usage))
                note_usage(f, usage);
            const json_t *err = json_object_get(o, "error");
            if (err && !json_is_null(err)) {
                f->saw_error = true;
                const char *m =
                    json_is_string(err) ? json_string_value(err) : jsonx_str(err, "message");
                snprintf(f->error, sizeof f->error, "%s", m ? m : "error");
            }
            if (f->strip_usage && json_is_object(usage)) {
                /* Usage herd asked for on the client's behalf stays with herd: the usage-only
                 * event is dropped, and the (zero) usage Ollama then puts on every completion
                 * chunk is taken off. */
                bool usage_only = json_array_size(json_object_get(o, "choices")) == 0;
                if (!usage_only) {
                    json_object_del(o, "usage");
                    char *text = json_dumps(o, JSON_COMPACT);
                    if (text)
                        relay_event(f, text, strlen(text));
                    free(text);
                }
                json_decref(o);
                return 0;
            }
            json_decref(o);
        }
    }
    /* With a rewritten stream, events are relayed one by one, as Ollama writes them. */
    if (f->strip_usage)
        relay_event(f, ev->data, ev->data_len);
    return 0;
}

/* ---- relaying ---- */

static void on_drain(struct httpd_req *r, void *arg)
{
    (void)r;
    struct fwd *f = arg;
    if (f->up)
        httpc_resume(f->up);
}

static int relay(struct fwd *f, const void *p, size_t len)
{
    int slow = httpd_stream_write(f->req, p, len);
    if (slow)
        f->slow = true;
    return slow;
}

static bool can_retry(struct fwd *f);

static void on_response(struct httpc_req *q, long status, void *arg)
{
    struct fwd *f = arg;
    f->t_progress = time_mono();
    f->status = status;
    const char *ctype = httpc_header(q, "Content-Type");
    snprintf(f->ctype, sizeof f->ctype, "%s", ctype ? ctype : "application/json");
    if (strstr(f->ctype, "ndjson"))
        f->framing = FRAME_NDJSON;
    else if (strstr(f->ctype, "event-stream"))
        f->framing = FRAME_SSE;
    else
        f->framing = FRAME_WHOLE;
    if (status >= 400)
        snprintf(f->error, sizeof f->error, "node answered %ld", status);
    /* A node's server error is not the client's answer while another node can give one. */
    if (status >= 500 && can_retry(f)) {
        f->retrying = true;
        hbuf_init(&f->whole, MAX_ERROR_BODY);
    }
}

/* The client's status line and headers go out with the first byte of the body (or at the
 * end when there is none), once the node that answers is known. */
static void start_client(struct fwd *f)
{
    if (f->started)
        return;
    char score[32], retries[16];
    snprintf(score, sizeof score, "%.1f", f->score.total);
    snprintf(retries, sizeof retries, "%d", f->retries);
    httpd_add_header(f->req, "X-Fleet-Node", f->node_id);
    httpd_add_header(f->req, "X-Fleet-Score", score);
    httpd_add_header(f->req, "X-Fleet-Retries", retries);
    if (f->fallback != ROUTE_FALLBACK_NONE)
        httpd_add_header(f->req, "X-Fleet-Fallback", f->model);
    if (f->pulled)
        httpd_add_header(f->req, "X-Fleet-Pulled", f->model);
    if (f->context_action == ROUTE_CTX_OVERFLOW) {
        char overflow[64];
        snprintf(overflow, sizeof overflow, "%lld > %lld", (long long)f->num_ctx,
                 (long long)f->loaded_ctx);
        httpd_add_header(f->req, "X-Fleet-Context-Overflow", overflow);
    }
    httpd_add_header(f->req, "X-Fleet-Request-Id", f->id);
    httpd_stream_start(f->req, (int)f->status, f->ctype);
    f->started = true;
}

static void on_data(struct httpc_req *q, const char *data, size_t len, void *arg)
{
    struct fwd *f = arg;
    f->t_progress = time_mono();
    f->got_body = true;
    if (f->retrying) {
        hbuf_append(&f->whole, data, len); /* the error, for the log and the trace */
        return;
    }
    if (f->t_first == 0)
        f->t_first = time_mono();
    start_client(f);
    f->slow = false;
    switch (f->framing) {
    case FRAME_NDJSON:
        if (f->framer_ok && ndjson_framer_feed(&f->nd, data, len, on_ndjson_line, f) != 0)
            f->framer_ok = false;
        relay(f, data, len);
        break;
    case FRAME_SSE:
        if (f->framer_ok && sse_framer_feed(&f->sse, data, len, on_sse_event, f) != 0) {
            /* An event too large to parse: relay the bytes as they are from here on. */
            f->framer_ok = false;
            if (f->strip_usage) {
                f->strip_usage = false;
                break;
            }
        }
        if (!f->strip_usage)
            relay(f, data, len);
        break;
    case FRAME_WHOLE:
        if (hbuf_append(&f->whole, data, len) != 0)
            hbuf_free(&f->whole);
        relay(f, data, len);
        break;
    }
    if (f->slow) {
        httpc_pause(q);
        httpd_stream_on_drain(f->req, on_drain, f);
    }
}

/* Reads token counts from a non-streamed reply. */
static void note_whole(struct fwd *f)
{
    if (!f->whole.data)
        return;
    json_error_t je;
    json_t *o = json_loadb(f->whole.data, f->whole.len, 0, &je);
    if (!o)
        return;
    if (json_is_object(json_object_get(o, "usage")))
        note_usage(f, json_object_get(o, "usage"));
    else
        note_native_final(f, o);
    int64_t v;
    if (f->prompt_tokens < 0 && jsonx_int(o, "prompt_eval_count", &v) == 0)
        f->prompt_tokens = v;
    if (json_is_true(json_object_get(o, "done")) || json_object_get(o, "usage") ||
        json_object_get(o, "embeddings") || json_object_get(o, "embedding") ||
        json_object_get(o, "data"))
        f->saw_done = true;
    const json_t *err = json_object_get(o, "error");
    if (err && !json_is_null(err)) {
        const char *m = json_is_string(err) ? json_string_value(err) : jsonx_str(err, "message");
        snprintf(f->error, sizeof f->error, "%s", m ? m : "error");
    }
    json_decref(o);
}

/* A stream that broke after it started ends with an error in its own shape. */
static void end_with_error(struct fwd *f, const char *msg)
{
    json_t *o = f->framing == FRAME_SSE
                    ? json_pack("{s:{s:s, s:s}}", "error", "message", msg, "type", "api_error")
                    : json_pack("{s:s}", "error", msg);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s) {
        if (f->framing == FRAME_SSE) {
            httpd_stream_write(f->req, "data: ", 6);
            httpd_stream_write(f->req, s, strlen(s));
            httpd_stream_write(f->req, "\n\n", 2);
        } else if (f->framing == FRAME_NDJSON) {
            httpd_stream_write(f->req, s, strlen(s));
            httpd_stream_write(f->req, "\n", 1);
        }
        free(s);
    }
    httpd_stream_end(f->req);
}

static void retry(struct fwd *f, const char *transfer_error);

static void on_done(struct httpc_req *q, int rc, const char *err, void *arg)
{
    (void)q;
    struct fwd *f = arg;
    f->up = NULL;
    if (rc == -ECONNREFUSED || (rc == -ETIMEDOUT && f->status == 0))
        coord_node_unreachable(f->c, f->node_id, err ? err : "cannot connect");
    /* Failed before its first chunk: another node may still answer. */
    if (f->retrying || (rc != 0 && !f->got_body && can_retry(f))) {
        retry(f, rc != 0 ? (err ? err : "failed") : NULL);
        return;
    }
    if (f->framing == FRAME_NDJSON && f->framer_ok)
        ndjson_framer_finish(&f->nd, on_ndjson_line, f);
    if (f->framing == FRAME_WHOLE)
        note_whole(f);
    const char *status;
    if (rc != 0) {
        snprintf(f->error, sizeof f->error, "node %s: %s", f->node_id, err ? err : "failed");
        LOG_WARN("request %s: %s", f->id, f->error);
        if (!f->started) {
            char msg[3200];
            if (f->failures[0])
                snprintf(msg, sizeof msg, "every node tried failed: %s%s", f->failures, f->error);
            else
                snprintf(msg, sizeof msg, "%s", f->error);
            httpd_add_header(f->req, "X-Fleet-Request-Id", f->id);
            reply_error(f->req, f->route, 502, msg);
            status = "failed";
        } else {
            end_with_error(f, f->error);
            status = "incomplete";
        }
    } else {
        start_client(f); /* a reply without a body */
        httpd_stream_end(f->req);
        if (f->status >= 400 || f->saw_error)
            status = "failed";
        else if (f->saw_done)
            status = "completed";
        else
            status = "incomplete";
    }
    f->req = NULL;
    leave_queue(f, strcmp(status, "completed") == 0 ? FQ_COMPLETED : FQ_FAILED);
    record(f, status);
    fwd_free(f);
}

static void on_client_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct fwd *f = arg;
    LOG_INFO("request %s: client %s went away; cancelling it on %s", f->id, f->client_ip,
             f->node_id);
    if (f->up)
        httpc_cancel(f->up);
    f->up = NULL;
    f->req = NULL;
    leave_queue(f, FQ_DISCONNECTED);
    record(f, "client_disconnected");
    fwd_free(f);
}

/* The body of this attempt: the client's bytes, or a copy with herd's edits (the model that
 * serves, num_ctx taken out, fallback_models and metadata dropped, usage asked for). */
static int build_body(struct fwd *f)
{
    if (f->body != f->raw)
        free(f->body);
    f->body = f->raw;
    f->body_len = f->raw_len;
    bool new_model = strcmp(f->model, f->chain[0]) != 0;
    if (!new_model && !f->strip_ctx && !f->drop_extra && !f->add_usage)
        return 0;
    json_error_t je;
    json_t *o = json_loadb(f->raw, f->raw_len, 0, &je);
    if (!o)
        return -1;
    if (new_model)
        json_object_set_new(o, "model", json_string(f->model));
    if (f->strip_ctx) {
        json_t *opts = json_object_get(o, "options");
        json_object_del(opts, "num_ctx");
        if (json_object_size(opts) == 0)
            json_object_del(o, "options");
    }
    if (f->drop_extra) {
        json_object_del(o, "fallback_models");
        json_object_del(o, "metadata");
    }
    if (f->add_usage) {
        json_t *so = json_object_get(o, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(o, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return -1;
    f->body = text;
    f->body_len = strlen(text);
    return 0;
}

void fwd_start_upstream(struct fwd *f)
{
    static const struct httpc_callbacks cb = {on_response, on_data, on_done};
    struct coord *c = f->c;
    if (build_body(f) != 0) {
        leave_queue(f, FQ_FAILED);
        fwd_fail(f, 503, "out of memory");
        return;
    }
    struct httpc_opts o = {
        .method = "POST",
        .url = f->url,
        .headers = (const char *const *)f->headers,
        .body = f->body,
        .body_len = f->body_len,
        .connect_timeout_ms = (long)(c->settings->connect_timeout * 1000),
    };
    f->t_first = 0;
    f->t_progress = time_mono();
    f->up = httpc_start(c->httpc, &o, &cb, f);
    if (!f->up) {
        snprintf(f->error, sizeof f->error, "cannot start a request to node %s", f->node_id);
        leave_queue(f, FQ_FAILED);
        fwd_fail(f, 502, f->error);
    }
}

static void on_admit_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fwd_start_upstream(arg);
}

static void on_admitted(struct fq_waiter *w)
{
    struct fwd *f = (struct fwd *)w;
    f->in_flight = true;
    /* Start from the loop: this may run inside another request's completion. */
    event_active(f->admit, EV_TIMEOUT, 1);
}

/* ---- the request ---- */

static bool hop_by_hop(const char *name)
{
    static const char *const drop[] = {"connection", "keep-alive", "proxy-connection",
                                       "transfer-encoding", "te", "trailer", "upgrade", "host",
                                       "content-length", "expect", "accept-encoding",
                                       /* herd's API key is for herd, never for a node */
                                       "authorization"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strcasecmp(name, drop[i]) == 0)
            return true;
    return false;
}

static void copy_header(const char *name, const char *value, void *arg)
{
    struct fwd *f = arg;
    if (hop_by_hop(name) || f->n_headers >= MAX_HEADERS)
        return;
    size_t n = strlen(name) + strlen(value) + 3;
    char *h = malloc(n);
    if (!h)
        return;
    snprintf(h, n, "%s: %s", name, value);
    f->headers[f->n_headers++] = h;
}

bool fwd_excluded(const struct fwd *f, const char *node_id)
{
    for (int i = 0; i < f->n_excluded; i++)
        if (strcmp(f->excluded[i], node_id) == 0)
            return true;
    return false;
}

static bool can_retry(struct fwd *f)
{
    if (f->retries >= f->c->settings->max_retries || f->n_excluded + 1 >= MAX_ATTEMPTS)
        return false;
    struct route_fleet view;
    struct route_ask ask;
    const char *excluded[MAX_ATTEMPTS];
    fwd_fleet_view(f->c, &view);
    fwd_ask(f, &ask, excluded);
    return route_other_node(&view, &ask, f->node_id);
}

/* Forgets what the last attempt received. */
static void reset_attempt(struct fwd *f)
{
    f->status = 0;
    f->ctype[0] = '\0';
    f->got_body = false;
    f->retrying = false;
    f->framing = FRAME_WHOLE;
    f->framer_ok = true;
    ndjson_framer_free(&f->nd);
    ndjson_framer_init(&f->nd, MAX_FRAME);
    sse_framer_free(&f->sse);
    sse_framer_init(&f->sse, MAX_FRAME);
    hbuf_free(&f->whole);
    hbuf_init(&f->whole, MAX_WHOLE);
    f->saw_done = f->saw_error = false;
    f->prompt_tokens = f->completion_tokens = -1;
    f->t_first = 0;
}

/* The node failed before its first chunk: record it, leave it out, try the next best. */
static void retry(struct fwd *f, const char *transfer_error)
{
    char reason[300];
    if (transfer_error) {
        snprintf(reason, sizeof reason, "%s", transfer_error);
    } else {
        /* The node's own error message, when it sent one. */
        const char *msg = NULL;
        json_error_t je;
        json_t *o = f->whole.data ? json_loadb(f->whole.data, f->whole.len, 0, &je) : NULL;
        const json_t *e = json_object_get(o, "error");
        msg = json_is_string(e) ? json_string_value(e) : jsonx_str(e, "message");
        snprintf(reason, sizeof reason, "HTTP %ld%s%s", f->status, msg ? ": " : "", msg ? msg : "");
        json_decref(o);
    }
    snprintf(f->error, sizeof f->error, "node %s failed before its first chunk: %s", f->node_id,
             reason);
    size_t used = strlen(f->failures);
    snprintf(f->failures + used, sizeof f->failures - used, "%s: %s; ", f->node_id, reason);
    LOG_WARN("request %s model=%s: %s; trying another node (retry %d of %lld)", f->id, f->model,
             f->error, f->retries + 1, (long long)f->c->settings->max_retries);
    record(f, "retried");
    leave_queue(f, FQ_FAILED);
    f->q = NULL;
    snprintf(f->excluded[f->n_excluded++], NODE_ID_MAX, "%s", f->node_id);
    f->retries++;
    f->error[0] = '\0';
    reset_attempt(f);
    char err[512];
    int status = fwd_route(f, err, sizeof err);
    if (status) { /* including FWD_HOLD: a retry does not wait */
        snprintf(f->error, sizeof f->error, "every node tried failed: %s", f->failures);
        fwd_fail(f, 502, f->error);
    }
}

/* Reads the fallback chain: the model, then fallback_models. 0, or -1 with a message. */
static int read_chain(struct fwd *f, const json_t *body, char *err, size_t errlen)
{
    const struct fwd_route *rt = f->route;
    const json_t *fb = json_object_get(body, "fallback_models");
    f->n_chain = 1;
    if (!fb || json_is_null(fb))
        return 0;
    bool allowed = rt->api == API_CHAT || rt->api == API_GENERATE || rt->api == API_OAI_CHAT;
    bool ok = allowed && json_is_array(fb) && json_array_size(fb) <= MAX_FALLBACKS;
    size_t i;
    const json_t *m;
    json_array_foreach (fb, i, m) {
        if (!ok || !json_is_string(m) ||
            model_name_normalize(json_string_value(m), f->chain[f->n_chain], MODEL_NAME_MAX)) {
            ok = false;
            break;
        }
        f->n_chain++;
    }
    if (!ok) {
        snprintf(err, errlen, "fallback_models must be a list of at most %d model names%s",
                 MAX_FALLBACKS,
                 !allowed ? " (on /api/chat, /api/generate and /v1/chat/completions)" : "");
        return -1;
    }
    return 0;
}

static void handle_inference(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    const char *path = httpd_req_path(r);
    const struct fwd_route *rt = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(path, routes[i].path) == 0)
            rt = &routes[i];
    if (!rt) {
        httpd_reply_text(r, 404, "404 page not found");
        return;
    }
    if (c->draining) {
        reply_error(r, rt, 503, "herd is shutting down; try again in a moment");
        return;
    }
    size_t len;
    const char *raw = httpd_req_body(r, &len);
    char err[512];
    json_t *body = jsonx_parse_body(raw, len, err, sizeof err);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        reply_error(r, rt, 400, body ? "request body must be a JSON object" : err);
        return;
    }
    const char *sent = jsonx_str(body, "model");
    if (!sent && rt->api == API_SHOW)
        sent = jsonx_str(body, "name");
    char model[MODEL_NAME_MAX];
    if (!sent || !*sent) {
        json_decref(body);
        reply_error(r, rt, 400, "model is required");
        return;
    }
    if (model_name_normalize(sent, model, sizeof model) != 0) {
        snprintf(err, sizeof err, "invalid model name '%s'", sent);
        json_decref(body);
        reply_error(r, rt, 400, err);
        return;
    }
    struct fwd *f = calloc(1, sizeof *f);
    char *copy = malloc(len + 1);
    if (!f || !copy) {
        free(f);
        free(copy);
        json_decref(body);
        reply_error(r, rt, 503, "out of memory");
        return;
    }
    memcpy(copy, raw, len);
    copy[len] = '\0';
    f->raw = copy;
    f->raw_len = len;
    f->c = c;
    LIST_INSERT_HEAD(&c->active, f, link);
    c->n_active++;
    f->req = r;
    f->route = rt;
    f->t0 = time_mono();
    f->prompt_tokens = f->completion_tokens = -1;
    f->framer_ok = true;
    ndjson_framer_init(&f->nd, MAX_FRAME);
    sse_framer_init(&f->sse, MAX_FRAME);
    hbuf_init(&f->whole, MAX_WHOLE);
    f->w.admit = on_admitted;
    coord_request_id(c, f->id, sizeof f->id);
    snprintf(f->model, sizeof f->model, "%s", model);
    snprintf(f->chain[0], MODEL_NAME_MAX, "%s", model);
    snprintf(f->model_sent, sizeof f->model_sent, "%s", sent);
    snprintf(f->client_ip, sizeof f->client_ip, "%s", httpd_req_peer(r));
    if (read_chain(f, body, err, sizeof err) != 0) {
        json_decref(body);
        reply_error(r, rt, 400, err);
        fwd_free(f);
        return;
    }
    /* fallback_models and metadata are herd's; Ollama does not get them. */
    f->drop_extra = json_object_get(body, "fallback_models") || json_object_get(body, "metadata");
    /* An OpenAI stream carries token counts only if asked; herd asks, and keeps what that
     * adds to itself. */
    f->add_usage = (rt->api == API_OAI_CHAT || rt->api == API_OAI_COMPLETIONS) &&
                   jsonx_bool_or(body, "stream", false) &&
                   !jsonx_bool_or(json_object_get(body, "stream_options"), "include_usage", false);
    f->strip_usage = f->add_usage;
    int64_t num_ctx;
    if (!rt->openai && jsonx_int(json_object_get(body, "options"), "num_ctx", &num_ctx) == 0 &&
        num_ctx > 0)
        f->num_ctx = num_ctx;
    f->needs = model_request_needs(body, rt->embedding);
    f->tokens = score_estimate_tokens(body);
    f->tags = request_tags(body, httpd_req_header(r, "X-Herd-Tags"));
    snprintf(f->app, sizeof f->app, "%s", httpd_req_principal(r) ? httpd_req_principal(r) : "");
    json_decref(body); /* sent pointed into it */

    httpd_req_foreach_header(r, copy_header, f);
    f->admit = evtimer_new(c->base, on_admit_event, f);
    if (!f->admit) {
        reply_error(r, rt, 503, "out of memory");
        fwd_free(f);
        return;
    }
    httpd_req_on_close(r, on_client_gone, f);
    fwd_dispatch(f); /* f is running, waiting, or already answered and freed */
}

void coord_proxy_reap(struct coord *c)
{
    double now = time_mono();
    double limit = c->settings->stale_timeout;
    struct fwd *f = LIST_FIRST(&c->active);
    while (f) {
        struct fwd *next = LIST_NEXT(f, link);
        /* Only requests waiting on their node; a stream paused for its slow client is not
         * stuck, and a request waiting for a slot is the queue's business. */
        if (f->up && !httpc_paused(f->up) && now - f->t_progress > limit) {
            httpc_cancel(f->up);
            f->up = NULL;
            snprintf(f->error, sizeof f->error,
                     "node %s sent nothing for %.0f s; the request was cancelled", f->node_id,
                     now - f->t_progress);
            LOG_WARN("request %s model=%s: %s", f->id, f->model, f->error);
            coord_metrics_reaped(c->metrics);
            if (!f->started) {
                httpd_add_header(f->req, "X-Fleet-Request-Id", f->id);
                reply_error(f->req, f->route, 504, f->error);
            } else
                end_with_error(f, f->error);
            f->req = NULL;
            leave_queue(f, FQ_FAILED);
            record(f, "failed");
            fwd_free(f);
        }
        f = next;
    }
}

void coord_proxy_routes(struct coord *c)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        httpd_route(c->httpd, HTTPD_POST, routes[i].path, handle_inference, c);
}
