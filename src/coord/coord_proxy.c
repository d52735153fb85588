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
#include "coord/coord.h"
#include "coord/trace_store.h"

#define MAX_FRAME (16 * 1024 * 1024) /* longest NDJSON line or SSE event parsed for traces */
#define MAX_WHOLE (8 * 1024 * 1024)  /* non-streamed replies kept for their token counts */
#define MAX_HEADERS 64
#define MAX_ATTEMPTS 11 /* the first try and up to FLEET_MAX_RETRIES (at most 10) more */
#define MAX_ERROR_BODY 65536
#define MAX_FALLBACKS 8
#define ROUTE_HOLD 1 /* route(): no node now, but one may come: wait in the holding queue */

enum fwd_api {
    API_CHAT,
    API_GENERATE,
    API_EMBED,
    API_EMBEDDINGS,
    API_SHOW,
    API_OAI_CHAT,
    API_OAI_COMPLETIONS,
    API_OAI_EMBEDDINGS,
};

struct fwd_route {
    const char *path;
    enum fwd_api api;
    bool openai;
    bool queued; /* takes a slot on node:model and is traced */
};

static const struct fwd_route routes[] = {
    {"/api/chat", API_CHAT, false, true},
    {"/api/generate", API_GENERATE, false, true},
    {"/api/embed", API_EMBED, false, true},
    {"/api/embeddings", API_EMBEDDINGS, false, true},
    {"/api/show", API_SHOW, false, false},
    {"/v1/chat/completions", API_OAI_CHAT, true, true},
    {"/v1/completions", API_OAI_COMPLETIONS, true, true},
    {"/v1/embeddings", API_OAI_EMBEDDINGS, true, true},
};

enum framing { FRAME_WHOLE, FRAME_NDJSON, FRAME_SSE };

struct fwd {
    struct fq_waiter w; /* first: the queue hands it back */
    struct coord *c;
    LIST_ENTRY(fwd) link;       /* in c->active */
    TAILQ_ENTRY(fwd) hold_link; /* in c->held while held */
    bool held;
    struct event *hold_timer;
    double t_progress; /* last time the node sent something (monotonic) */
    struct httpd_req *req;
    const struct fwd_route *route;
    char id[40];
    char model[MODEL_NAME_MAX]; /* the model served (a fallback when one was chosen) */
    char model_sent[MODEL_NAME_MAX];
    char original[MODEL_NAME_MAX]; /* the model asked for, normalised */
    bool fallback_used;
    char node_id[NODE_ID_MAX];
    char url[512];
    char client_ip[64];
    char *headers[MAX_HEADERS + 1];
    int n_headers;
    char *body; /* what goes to the node (the client's bytes unless rewritten) */
    size_t body_len;
    bool strip_usage; /* herd asked for usage the client did not: drop that event */
    struct fleet_queue *q;
    bool in_flight;
    struct event *admit;
    struct score_breakdown score;
    struct httpc_req *up;
    long status;
    char ctype[128];
    bool got_body; /* a byte of this attempt's body has arrived */
    bool retrying; /* this attempt failed; its bytes are not for the client */
    int retries;
    char excluded[MAX_ATTEMPTS][NODE_ID_MAX];
    int n_excluded;
    char failures[1024]; /* what went wrong on each node tried, for the final message */
    bool started;
    enum framing framing;
    struct ndjson_framer nd;
    struct sse_framer sse;
    bool framer_ok;
    struct hbuf whole;
    bool saw_done;
    bool saw_error;
    int64_t prompt_tokens;
    int64_t completion_tokens;
    bool slow; /* the client's queue passed its mark during this delivery */
    char error[2048];
    double t0;
    double t_first;
    int64_t tokens; /* estimated prompt tokens, for the context-fit signal */
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
    if (f->held) {
        TAILQ_REMOVE(&f->c->held, f, hold_link);
        f->c->n_held--;
    }
    if (f->hold_timer)
        event_free(f->hold_timer);
    for (int i = 0; i < f->n_headers; i++)
        free(f->headers[i]);
    free(f->body);
    if (f->admit)
        event_free(f->admit);
    ndjson_framer_free(&f->nd);
    sse_framer_free(&f->sse);
    hbuf_free(&f->whole);
    free(f);
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
    snprintf(row.original_model, sizeof row.original_model, "%s",
             f->original[0] ? f->original : f->model);
    row.fallback_used = f->fallback_used;
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
    row.timestamp = time_wall();
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
    if (f->fallback_used)
        httpd_add_header(f->req, "X-Fleet-Fallback", f->model);
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

static void start_upstream(struct fwd *f)
{
    static const struct httpc_callbacks cb = {on_response, on_data, on_done};
    struct coord *c = f->c;
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
        reply_error(f->req, f->route, 502, f->error);
        f->req = NULL;
        leave_queue(f, FQ_FAILED);
        record(f, "failed");
        fwd_free(f);
    }
}

static void on_admit_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_upstream(arg);
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
    static const char *const drop[] = {"connection",
                                       "keep-alive",
                                       "proxy-connection",
                                       "transfer-encoding",
                                       "te",
                                       "trailer",
                                       "upgrade",
                                       "host",
                                       "content-length",
                                       "expect",
                                       "accept-encoding"};
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

/* Nodes' scores for this request, best first. Returns how many are eligible; *out is
 * allocated (caller frees). */
static size_t rank_nodes(struct coord *c, const char *model, int64_t tokens,
                         struct score_result **out)
{
    struct registry *reg = &c->registry;
    size_t n = reg->n;
    struct score_node_input *in = calloc(n ? n : 1, sizeof *in);
    *out = calloc(n ? n : 1, sizeof **out);
    if (!in || !*out) {
        free(in);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        in[i].node = reg->nodes[i];
        in[i].queue_depth = queue_depth(&c->queues, reg->nodes[i]->id, model);
        in[i].p75_ms = trace_store_p75(c->traces, reg->nodes[i]->id, model);
    }
    struct score_request req = {
        model, score_model_size(model, (const struct node *const *)reg->nodes, n), tokens};
    size_t eligible = score_rank(&c->weights, &req, in, n, time_wall(), c->decisions++, *out);
    free(in);
    return eligible;
}

/* Why no node can take the model, for the 503 message. */
static void explain(const struct score_result *res, size_t n, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < outlen; i++) {
        if (res[i].verdict == SCORE_NO_MODEL)
            continue;
        int k = snprintf(out + used, outlen - used, "%s%s: %s", used ? ", " : "", res[i].node->id,
                         score_verdict_name(res[i].verdict));
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

static bool excluded(const struct fwd *f, const char *node_id)
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
    struct score_result *res = NULL;
    size_t eligible = rank_nodes(f->c, f->model, f->tokens, &res);
    bool other = false;
    for (size_t i = 0; i < eligible && !other; i++)
        other = !excluded(f, res[i].node->id) && strcmp(res[i].node->id, f->node_id) != 0;
    free(res);
    return other;
}

/* Chooses a node for the request and takes (or waits for) a slot there. Returns 0 (the
 * request is on its way or waiting; it may even be finished and freed already), or an HTTP
 * status with a message in err. */
static int route(struct fwd *f, char *err, size_t errlen)
{
    struct coord *c = f->c;
    struct score_result *res = NULL;
    size_t eligible;
    const struct score_result *best = NULL;
    eligible = rank_nodes(c, f->model, f->tokens, &res);
    for (size_t i = 0; i < eligible && !best; i++)
        if (!excluded(f, res[i].node->id))
            best = &res[i];
    if (!best) {
        bool anywhere = false, known_fleet = false;
        for (size_t i = 0; i < c->registry.n; i++) {
            anywhere |= node_has_model(c->registry.nodes[i], f->model);
            known_fleet |= c->registry.nodes[i]->has_ollama;
        }
        char why[400];
        explain(res, c->registry.n, why, sizeof why);
        free(res);
        if (!anywhere) {
            snprintf(err, errlen, "model '%s' not found", f->model_sent);
            /* With no node known yet (herd just started), the model may still appear. */
            return known_fleet ? 404 : ROUTE_HOLD;
        }
        snprintf(err, errlen, "no node can serve model '%s' now (%s)", f->model, why);
        return ROUTE_HOLD;
    }
    const struct node *node = best->node;
    f->score = best->b;
    free(res);
    snprintf(f->node_id, sizeof f->node_id, "%s", node->id);
    snprintf(f->url, sizeof f->url, "%s%s", node->url, f->route->path);
    LOG_DEBUG("request %s model=%s node=%s score=%.1f attempt=%d", f->id, f->model, node->id,
              f->score.total, f->retries + 1);
    if (!f->route->queued) {
        start_upstream(f);
        return 0;
    }
    f->q = queue_get(&c->queues, node->id, f->model);
    if (!f->q) {
        snprintf(err, errlen, "out of memory");
        return 503;
    }
    queue_set_concurrency(f->q, coord_node_parallel(c, node));
    int rc = queue_enter(&c->queues, f->q, &f->w);
    if (rc < 0) {
        f->q = NULL;
        snprintf(err, errlen, "too many requests waiting for %s on %s (%lld)", f->model, node->id,
                 (long long)c->settings->max_queue);
        return 503;
    }
    if (rc == 1) {
        f->in_flight = true;
        start_upstream(f);
    }
    return 0;
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
    int status = route(f, err, sizeof err);
    if (status) { /* including ROUTE_HOLD: a retry does not wait */
        snprintf(f->error, sizeof f->error, "every node tried failed: %s", f->failures);
        reply_error(f->req, f->route, 502, f->error);
        f->req = NULL;
        record(f, "failed");
        fwd_free(f);
    }
}

/* The holding queue: requests no node can take yet wait here in order, woken by heartbeats
 * (no polling), until their deadline. */
static void on_hold_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fwd *f = arg;
    TAILQ_REMOVE(&f->c->held, f, hold_link);
    f->held = false;
    f->c->n_held--;
    char err[512];
    int status = route(f, err, sizeof err); /* a last look; f may be gone if it went */
    if (status == 0)
        return;
    if (status == ROUTE_HOLD) {
        status = 503;
        snprintf(f->error, sizeof f->error, "%s; waited %.0f s", err, f->c->settings->hold_timeout);
    } else {
        snprintf(f->error, sizeof f->error, "%s", err);
    }
    LOG_INFO("request %s model=%s: gave up waiting for a node: %s", f->id, f->model, f->error);
    httpd_req_on_close(f->req, NULL, NULL);
    reply_error(f->req, f->route, status, f->error);
    f->req = NULL;
    record(f, "failed");
    fwd_free(f);
}

static void hold(struct fwd *f, const char *why)
{
    struct coord *c = f->c;
    f->hold_timer = evtimer_new(c->base, on_hold_deadline, f);
    struct timeval tv = time_tv(c->settings->hold_timeout);
    if (f->hold_timer)
        evtimer_add(f->hold_timer, &tv);
    TAILQ_INSERT_TAIL(&c->held, f, hold_link);
    f->held = true;
    c->n_held++;
    LOG_INFO("request %s model=%s waits for a node (%s)", f->id, f->model, why);
}

void coord_proxy_wake(struct coord *c)
{
    struct fwd *f = TAILQ_FIRST(&c->held);
    while (f) {
        struct fwd *next = TAILQ_NEXT(f, hold_link);
        struct score_result *res = NULL;
        size_t eligible = rank_nodes(c, f->model, f->tokens, &res);
        free(res);
        if (eligible > 0) {
            TAILQ_REMOVE(&c->held, f, hold_link);
            f->held = false;
            c->n_held--;
            if (f->hold_timer)
                evtimer_del(f->hold_timer);
            char err[512];
            int status = route(f, err, sizeof err);
            if (status) { /* lost the race: keep waiting */
                TAILQ_INSERT_TAIL(&c->held, f, hold_link);
                f->held = true;
                c->n_held++;
                struct timeval tv = time_tv(1);
                evtimer_add(f->hold_timer, &tv);
            }
        }
        f = next;
    }
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
    if (!f) {
        json_decref(body);
        reply_error(r, rt, 503, "out of memory");
        return;
    }
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
    snprintf(f->model_sent, sizeof f->model_sent, "%s", sent);
    snprintf(f->client_ip, sizeof f->client_ip, "%s", httpd_req_peer(r));

    /* fallback_models: the first model of the chain that is loaded somewhere wins; else the
     * first that any node has. Neither it nor metadata goes to Ollama. */
    bool dirty = false;
    snprintf(f->original, sizeof f->original, "%s", model);
    const json_t *fb = json_object_get(body, "fallback_models");
    if (fb && !json_is_null(fb)) {
        bool chain_ok =
            (rt->api == API_CHAT || rt->api == API_GENERATE || rt->api == API_OAI_CHAT) &&
            json_is_array(fb) && json_array_size(fb) <= MAX_FALLBACKS;
        char chain[MAX_FALLBACKS + 1][MODEL_NAME_MAX];
        size_t n_chain = 0;
        snprintf(chain[n_chain++], MODEL_NAME_MAX, "%s", model);
        size_t i;
        const json_t *m;
        json_array_foreach (fb, i, m) {
            if (!json_is_string(m) ||
                model_name_normalize(json_string_value(m), chain[n_chain], MODEL_NAME_MAX)) {
                chain_ok = false;
                break;
            }
            n_chain++;
        }
        if (!chain_ok) {
            snprintf(err, sizeof err, "fallback_models must be a list of at most %d model names%s",
                     MAX_FALLBACKS,
                     json_is_array(fb) && json_array_size(fb) <= MAX_FALLBACKS
                         ? " (on /api/chat, /api/generate and /v1/chat/completions)"
                         : "");
            json_decref(body);
            reply_error(r, rt, 400, err);
            fwd_free(f);
            return;
        }
        int64_t est = score_estimate_tokens(body);
        int first_any = -1, hot = -1;
        for (size_t k = 0; k < n_chain && hot < 0; k++) {
            struct score_result *res = NULL;
            size_t eligible = rank_nodes(c, chain[k], est, &res);
            if (eligible > 0 && first_any < 0)
                first_any = (int)k;
            if (eligible > 0 && node_loaded_model(res[0].node, chain[k]))
                hot = (int)k;
            free(res);
        }
        int pick = hot >= 0 ? hot : first_any >= 0 ? first_any : 0;
        if (pick > 0) {
            snprintf(f->model, sizeof f->model, "%s", chain[pick]);
            f->fallback_used = true;
            json_object_set_new(body, "model", json_string(chain[pick]));
            LOG_INFO("request %s: model %s served by fallback %s (%s)", f->id, model, chain[pick],
                     hot >= 0 ? "loaded" : "the first that a node has");
        }
        json_object_del(body, "fallback_models");
        dirty = true;
    }
    if (json_object_get(body, "metadata")) {
        json_object_del(body, "metadata");
        dirty = true;
    }
    /* An OpenAI stream carries token counts only if asked; herd asks, and keeps what that
     * adds to itself. */
    if ((rt->api == API_OAI_CHAT || rt->api == API_OAI_COMPLETIONS) &&
        jsonx_bool_or(body, "stream", false) &&
        !jsonx_bool_or(json_object_get(body, "stream_options"), "include_usage", false)) {
        json_t *so = json_object_get(body, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(body, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
        f->strip_usage = true;
        dirty = true;
    }
    if (dirty) {
        f->body = json_dumps(body, JSON_COMPACT);
        f->body_len = f->body ? strlen(f->body) : 0;
        if (!f->body)
            f->strip_usage = false;
    }
    if (!f->body) {
        f->body = malloc(len + 1);
        if (f->body) {
            memcpy(f->body, raw, len);
            f->body[len] = '\0';
        }
        f->body_len = len;
    }
    int64_t tokens = score_estimate_tokens(body);
    json_decref(body); /* sent points into it: use f->model_sent from here */
    sent = NULL;

    f->tokens = tokens;
    httpd_req_foreach_header(r, copy_header, f);
    f->admit = evtimer_new(c->base, on_admit_event, f);
    if (!f->admit) {
        reply_error(r, rt, 503, "out of memory");
        fwd_free(f);
        return;
    }
    httpd_req_on_close(r, on_client_gone, f);
    int status = route(f, err, sizeof err);
    if (status == ROUTE_HOLD && c->n_held < (size_t)c->settings->max_queue &&
        c->settings->hold_timeout > 0) {
        hold(f, err);
        return;
    }
    if (status) {
        if (status == ROUTE_HOLD)
            status = 503;
        LOG_INFO("request %s model=%s: %s", f->id, f->model, err);
        httpd_req_on_close(r, NULL, NULL);
        reply_error(r, rt, status, err);
        fwd_free(f);
    }
    /* else f is running or waiting, and may already be freed */
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
            if (!f->started)
                reply_error(f->req, f->route, 504, f->error);
            else
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
