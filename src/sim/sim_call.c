#include "sim/sim_call.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hbuf.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/timeutil.h"

static bool is_openai(const struct sim_call *c)
{
    return c->api == SIM_API_OAI_CHAT || c->api == SIM_API_OAI_COMPLETION;
}

struct sim_call *sim_call_new(struct sim_node *n, struct httpd_req *r, enum sim_call_api api)
{
    struct sim_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->node = n;
    c->req = r;
    c->api = api;
    c->entry = sim_engine_now(n->engine);
    c->done_reason = "stop";
    c->drop_after = -1;
    c->stall_after = -1;
    c->created = (long)time_wall();
    hbuf_init(&c->text, 256 * 1024 * 1024);
    /* Ollama's ids are a small random number, not unique; deterministic here. */
    snprintf(c->oai_id, sizeof c->oai_id, "%s-%ld",
             api == SIM_API_OAI_COMPLETION ? "cmpl" : "chatcmpl", n->requests % 999);
    return c;
}

void sim_call_free(struct sim_call *c)
{
    if (!c)
        return;
    hbuf_free(&c->text);
    free(c->piece_end);
    json_decref(c->tool_calls);
    json_decref(c->context);
    free(c);
}

static void push_piece(struct sim_call *c, const char *text, size_t len)
{
    if ((size_t)c->n_pieces == c->piece_cap) {
        size_t cap = c->piece_cap ? c->piece_cap * 2 : 64;
        size_t *p = realloc(c->piece_end, cap * sizeof *p);
        if (!p)
            return;
        c->piece_end = p;
        c->piece_cap = cap;
    }
    if (hbuf_append(&c->text, text, len) != 0)
        return;
    c->piece_end[c->n_pieces++] = c->text.len;
}

const char *sim_call_text(const struct sim_call *c, int from, int to, size_t *len)
{
    if (to > c->n_pieces)
        to = c->n_pieces;
    size_t start = from > 0 && from <= c->n_pieces ? c->piece_end[from - 1] : 0;
    size_t end = to > 0 ? c->piece_end[to - 1] : 0;
    *len = end > start ? end - start : 0;
    return c->text.data ? c->text.data + start : "";
}

/* Splits text into pieces of a few bytes each, like a tokenizer would. */
static void push_text_in_pieces(struct sim_call *c, const char *text)
{
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i += 4)
        push_piece(c, text + i, len - i < 4 ? len - i : 4);
}

void sim_call_plan(struct sim_call *c, uint64_t seed, int n_tokens, int n_thinking,
                   const json_t *tool, const json_t *format)
{
    struct sim_rng rng;
    sim_rng_seed(&rng, seed);
    if (n_thinking > 0) {
        for (int i = 0; i < n_thinking; i++) {
            struct hbuf w;
            hbuf_init(&w, 256);
            sim_next_word(&rng, &w, i);
            push_piece(c, w.data ? w.data : "", w.len);
            hbuf_free(&w);
        }
        c->n_thinking = c->n_pieces;
    }
    if (tool) {
        const json_t *fn = json_object_get(tool, "function");
        const char *name = jsonx_str_or(fn, "name", "tool");
        json_t *args = sim_tool_arguments(json_object_get(fn, "parameters"), &rng);
        char id[32];
        snprintf(id, sizeof id, "call_%08llx", (unsigned long long)(sim_rng_next(&rng) >> 32));
        char *text = json_dumps(args, JSON_COMPACT);
        c->tool_calls = json_pack("[{s:s, s:{s:i, s:s, s:o}}]", "id", id, "function", "index", 0,
                                  "name", name, "arguments", args);
        /* The call's tokens produce no visible text; the call appears with the last one. */
        int n = text ? (int)(strlen(text) / 4) + 1 : 1;
        free(text);
        for (int i = 0; i < n; i++)
            push_piece(c, "", 0);
        return;
    }
    if (format) {
        json_t *v = sim_json_for_schema(json_is_object(format) ? format : NULL, &rng);
        char *text = json_dumps(v, JSON_COMPACT);
        json_decref(v);
        if (text)
            push_text_in_pieces(c, text);
        free(text);
        return;
    }
    for (int i = 0; i < n_tokens; i++) {
        struct hbuf w;
        hbuf_init(&w, 256);
        sim_next_word(&rng, &w, i);
        push_piece(c, w.data ? w.data : "", w.len);
        hbuf_free(&w);
    }
}

/* Joins tokens [from, to) into a new string the caller frees. */
static char *join(const struct sim_call *c, int from, int to)
{
    size_t len;
    const char *p = sim_call_text(c, from, to, &len);
    return strndup(p, len);
}

static json_int_t ns(double s)
{
    return (json_int_t)llround(s * 1e9);
}

/* Adds Ollama's metrics to a final object, leaving out zeros as Ollama does. */
static void add_metrics(json_t *o, const struct sim_call *c, const struct sim_job_timing *t)
{
    double done = t->done > 0 ? t->done : sim_engine_now(c->node->engine);
    double load = t->attached - t->arrived;
    /* A warm model still takes a few milliseconds to hand over its runner. */
    double load_floor = 0.001 + (double)(c->node->requests % 7) * 0.0007;
    if (load < load_floor)
        load = load_floor;
    double eval = t->eval_s;
    json_object_set_new(o, "total_duration", json_integer(ns(done - c->entry + load_floor)));
    json_object_set_new(o, "load_duration", json_integer(ns(load)));
    if (t->prompt_tokens > 0)
        json_object_set_new(o, "prompt_eval_count", json_integer(t->prompt_tokens));
    if (t->prompt_s > 0)
        json_object_set_new(o, "prompt_eval_duration", json_integer(ns(t->prompt_s)));
    if (t->tokens > 0) {
        json_object_set_new(o, "eval_count", json_integer(t->tokens));
        json_object_set_new(o, "eval_duration", json_integer(ns(eval)));
    }
}

static json_t *oai_usage(const struct sim_job_timing *t)
{
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", t->prompt_tokens, "completion_tokens",
                     t->tokens, "total_tokens", t->prompt_tokens + t->tokens);
}

/* OpenAI tool calls: arguments as a JSON string, index and type present. */
static json_t *oai_tool_calls(const json_t *native)
{
    json_t *out = json_array();
    size_t i;
    const json_t *tc;
    json_array_foreach (native, i, tc) {
        const json_t *fn = json_object_get(tc, "function");
        char *args = json_dumps(json_object_get(fn, "arguments"), JSON_COMPACT);
        json_array_append_new(
            out, json_pack("{s:s, s:i, s:s, s:{s:s, s:s}}", "id", jsonx_str_or(tc, "id", ""),
                           "index", (int)i, "type", "function", "function", "name",
                           jsonx_str_or(fn, "name", ""), "arguments", args ? args : "{}"));
        free(args);
    }
    return out;
}

static const char *oai_finish_reason(const struct sim_call *c)
{
    if (c->tool_calls && strcmp(c->done_reason, "stop") == 0)
        return "tool_calls";
    return c->done_reason;
}

static json_t *oai_chunk(const struct sim_call *c, json_t *choice)
{
    const char *object =
        c->api == SIM_API_OAI_COMPLETION ? "text_completion" : "chat.completion.chunk";
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", c->oai_id, "object", object, "created",
                          (json_int_t)c->created, "model", c->model_echo, "system_fingerprint",
                          "fp_ollama");
    json_object_set_new(o, "choices", choice ? json_pack("[o]", choice) : json_array());
    return o;
}

/* Writes one frame; returns 1 when the client is slow. */
static int write_frame(struct sim_call *c, json_t *o)
{
    struct hbuf b;
    hbuf_init(&b, 64 * 1024 * 1024);
    if (is_openai(c))
        hbuf_append_str(&b, "data: ");
    jsonx_dump_append(o, &b);
    hbuf_append_str(&b, is_openai(c) ? "\n\n" : "\n");
    json_decref(o);
    if (!c->started) {
        httpd_stream_start(c->req, 200,
                           is_openai(c) ? "text/event-stream" : "application/x-ndjson");
        c->started = true;
    }
    int rc = httpd_stream_write(c->req, b.data, b.len);
    hbuf_free(&b);
    c->chunks++;
    return rc;
}

static json_t *native_base(const struct sim_call *c)
{
    char ts[64];
    time_rfc3339_utc(time_wall(), ts, sizeof ts);
    return json_pack("{s:s, s:s}", "model", c->model_echo, "created_at", ts);
}

/* The frame for token i (NULL when the token shows nothing). */
static json_t *token_frame(struct sim_call *c, int i)
{
    size_t piece_len;
    const char *piece_text = sim_call_text(c, i, i + 1, &piece_len);
    char small[64];
    char *heap = NULL;
    const char *piece = small;
    if (piece_len < sizeof small) {
        memcpy(small, piece_text, piece_len);
        small[piece_len] = '\0';
    } else {
        heap = strndup(piece_text, piece_len);
        piece = heap ? heap : "";
    }
    json_t *frame = NULL;
    bool thinking = i < c->n_thinking;
    bool last = i == c->n_pieces - 1;
    bool tool = c->tool_calls && !thinking;
    if (tool && !last) {
        free(heap);
        return NULL;
    }
    switch (c->api) {
    case SIM_API_CHAT: {
        json_t *o = native_base(c);
        json_t *msg =
            json_pack("{s:s, s:s}", "role", "assistant", "content", thinking ? "" : piece);
        if (thinking)
            json_object_set_new(msg, "thinking", json_string(piece));
        if (tool) {
            json_object_set_new(msg, "content", json_string(""));
            json_object_set(msg, "tool_calls", c->tool_calls);
        }
        json_object_set_new(o, "message", msg);
        json_object_set_new(o, "done", json_false());
        frame = o;
        break;
    }
    case SIM_API_GENERATE: {
        json_t *o = native_base(c);
        json_object_set_new(o, "response", json_string(thinking ? "" : piece));
        if (thinking)
            json_object_set_new(o, "thinking", json_string(piece));
        json_object_set_new(o, "done", json_false());
        frame = o;
        break;
    }
    case SIM_API_OAI_CHAT: {
        json_t *delta = json_object();
        if (!c->role_sent) {
            json_object_set_new(delta, "role", json_string("assistant"));
            c->role_sent = true;
        }
        if (thinking) {
            json_object_set_new(delta, "content", json_string(""));
            json_object_set_new(delta, "reasoning", json_string(piece));
        } else if (tool) {
            json_object_set_new(delta, "tool_calls", oai_tool_calls(c->tool_calls));
        } else {
            json_object_set_new(delta, "content", json_string(piece));
        }
        frame =
            oai_chunk(c, json_pack("{s:i, s:o, s:n}", "index", 0, "delta", delta, "finish_reason"));
        break;
    }
    case SIM_API_OAI_COMPLETION: {
        json_t *o = oai_chunk(c, json_pack("{s:s, s:i, s:n}", "text", thinking ? "" : piece,
                                           "index", 0, "finish_reason"));
        if (c->include_usage)
            json_object_set_new(o, "usage",
                                json_pack("{s:i, s:i, s:i}", "prompt_tokens", 0,
                                          "completion_tokens", 0, "total_tokens", 0));
        frame = o;
        break;
    }
    }
    free(heap);
    return frame;
}

static void on_drain(struct httpd_req *r, void *arg)
{
    (void)r;
    struct sim_call *c = arg;
    if (c->job)
        sim_job_resume(c->job);
}

static void on_client_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct sim_call *c = arg;
    LOG_DEBUG("node %s: client left %s for %s", c->node->machine.spec.name, httpd_req_path(r),
              c->model_echo);
    if (c->job)
        sim_job_cancel(c->job);
    c->req = NULL;
    sim_call_free(c);
}

static enum sim_flow on_tokens(struct sim_job *j, int first, int count, void *arg)
{
    (void)j;
    struct sim_call *c = arg;
    bool slow = false;
    for (int i = first; i < first + count && i < c->n_pieces; i++) {
        /* Faults count what the client has been sent (tokens, when not streaming). */
        int sent = c->stream ? c->chunks : i;
        if (c->stall_after >= 0 && sent >= c->stall_after)
            return SIM_FLOW_STALL;
        if (c->drop_after >= 0 && sent >= c->drop_after) {
            LOG_INFO("node %s: dropping the connection after %d chunks (injected)",
                     c->node->machine.spec.name, sent);
            httpd_abort(c->req);
            c->job = NULL;
            sim_call_free(c);
            return SIM_FLOW_STOP;
        }
        if (!c->stream)
            continue;
        json_t *frame = token_frame(c, i);
        if (frame && write_frame(c, frame))
            slow = true;
    }
    if (slow) {
        httpd_stream_on_drain(c->req, on_drain, c);
        return SIM_FLOW_PAUSE;
    }
    return SIM_FLOW_GO_ON;
}

static void finish_stream(struct sim_call *c, const struct sim_job_timing *t)
{
    switch (c->api) {
    case SIM_API_CHAT:
    case SIM_API_GENERATE: {
        json_t *o = native_base(c);
        if (c->api == SIM_API_CHAT)
            json_object_set_new(o, "message",
                                json_pack("{s:s, s:s}", "role", "assistant", "content", ""));
        else
            json_object_set_new(o, "response", json_string(""));
        json_object_set_new(o, "done", json_true());
        json_object_set_new(o, "done_reason", json_string(c->done_reason));
        if (c->context)
            json_object_set(o, "context", c->context);
        add_metrics(o, c, t);
        write_frame(c, o);
        break;
    }
    case SIM_API_OAI_CHAT:
        write_frame(c, oai_chunk(c, json_pack("{s:i, s:{}, s:s}", "index", 0, "delta",
                                              "finish_reason", oai_finish_reason(c))));
        if (c->include_usage) {
            json_t *o = oai_chunk(c, NULL);
            json_object_set_new(o, "usage", oai_usage(t));
            write_frame(c, o);
        }
        httpd_stream_write(c->req, "data: [DONE]\n\n", 14);
        break;
    case SIM_API_OAI_COMPLETION: {
        json_t *o = oai_chunk(c, json_pack("{s:s, s:i, s:s}", "text", "", "index", 0,
                                           "finish_reason", c->done_reason));
        if (c->include_usage)
            json_object_set_new(o, "usage",
                                json_pack("{s:i, s:i, s:i}", "prompt_tokens", 0,
                                          "completion_tokens", 0, "total_tokens", 0));
        write_frame(c, o);
        if (c->include_usage) {
            json_t *u = oai_chunk(c, NULL);
            json_object_set_new(u, "usage", oai_usage(t));
            write_frame(c, u);
        }
        httpd_stream_write(c->req, "data: [DONE]\n\n", 14);
        break;
    }
    }
    httpd_stream_end(c->req);
}

static void finish_whole(struct sim_call *c, const struct sim_job_timing *t)
{
    char *content = join(c, c->n_thinking, c->n_pieces);
    char *thinking = c->n_thinking ? join(c, 0, c->n_thinking) : NULL;
    if (c->tool_calls) {
        free(content);
        content = strdup("");
    }
    json_t *o;
    if (c->load_only) {
        o = native_base(c);
        if (c->api == SIM_API_GENERATE || c->api == SIM_API_OAI_COMPLETION)
            json_object_set_new(o, "response", json_string(""));
        else
            json_object_set_new(o, "message",
                                json_pack("{s:s, s:s}", "role", "assistant", "content", ""));
        json_object_set_new(o, "done", json_true());
        json_object_set_new(o, "done_reason", json_string("load"));
        httpd_reply_json(c->req, 200, NULL, o, false);
        free(content);
        free(thinking);
        return;
    }
    switch (c->api) {
    case SIM_API_CHAT:
    case SIM_API_GENERATE:
        o = native_base(c);
        if (c->api == SIM_API_CHAT) {
            json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content", content);
            if (thinking)
                json_object_set_new(msg, "thinking", json_string(thinking));
            if (c->tool_calls)
                json_object_set(msg, "tool_calls", c->tool_calls);
            json_object_set_new(o, "message", msg);
        } else {
            json_object_set_new(o, "response", json_string(content));
            if (thinking)
                json_object_set_new(o, "thinking", json_string(thinking));
        }
        json_object_set_new(o, "done", json_true());
        json_object_set_new(o, "done_reason", json_string(c->done_reason));
        if (c->context)
            json_object_set(o, "context", c->context);
        add_metrics(o, c, t);
        httpd_reply_json(c->req, 200, "application/json; charset=utf-8", o, false);
        break;
    case SIM_API_OAI_CHAT: {
        json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content", content);
        if (thinking)
            json_object_set_new(msg, "reasoning", json_string(thinking));
        if (c->tool_calls)
            json_object_set_new(msg, "tool_calls", oai_tool_calls(c->tool_calls));
        o = oai_chunk(c, json_pack("{s:i, s:o, s:s}", "index", 0, "message", msg, "finish_reason",
                                   oai_finish_reason(c)));
        json_object_set_new(o, "object", json_string("chat.completion"));
        json_object_set_new(o, "usage", oai_usage(t));
        httpd_reply_json(c->req, 200, "application/json", o, true);
        break;
    }
    case SIM_API_OAI_COMPLETION:
        o = oai_chunk(c, json_pack("{s:s, s:i, s:s}", "text", content, "index", 0, "finish_reason",
                                   c->done_reason));
        json_object_set_new(o, "usage", oai_usage(t));
        httpd_reply_json(c->req, 200, "application/json", o, true);
        break;
    }
    free(content);
    free(thinking);
}

static void on_done(struct sim_job *j, void *arg)
{
    struct sim_call *c = arg;
    const struct sim_job_timing *t = sim_job_timing(j);
    c->job = NULL;
    if (c->stream)
        finish_stream(c, t);
    else
        finish_whole(c, t);
    c->req = NULL;
    sim_call_free(c);
}

static void on_error(struct sim_job *j, int status, const char *msg, void *arg)
{
    (void)j;
    struct sim_call *c = arg;
    c->job = NULL;
    sim_call_fail(c, status, msg);
}

void sim_call_fail(struct sim_call *c, int status, const char *msg)
{
    if (c->req)
        httpd_reply_error(c->req, status, msg);
    c->req = NULL;
    sim_call_free(c);
}

/* A request that never gets an answer (stall before the first byte): it only ends when the
 * client gives up. */
static void on_stalled_client_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    sim_call_free(arg);
}

void sim_call_run(struct sim_call *c, struct sim_job_params *p)
{
    struct sim_fault f;
    const char *path = httpd_req_path(c->req);
    if (sim_faults_take(&c->node->faults, p->model.name, path, &f)) {
        switch (f.kind) {
        case SIM_FAULT_FAIL:
            sim_tokens_free(&p->prompt);
            sim_tokens_free(&p->output);
            sim_call_fail(c, f.status, f.message);
            return;
        case SIM_FAULT_QUEUE_FULL:
            sim_tokens_free(&p->prompt);
            sim_tokens_free(&p->output);
            sim_call_fail(c, 503,
                          "server busy, please try again.  maximum pending requests "
                          "exceeded");
            return;
        case SIM_FAULT_DROP:
            if (f.after == 0) {
                sim_tokens_free(&p->prompt);
                sim_tokens_free(&p->output);
                httpd_abort(c->req);
                sim_call_free(c);
                return;
            }
            c->drop_after = f.after;
            break;
        case SIM_FAULT_STALL:
            if (f.after == 0) {
                sim_tokens_free(&p->prompt);
                sim_tokens_free(&p->output);
                httpd_req_on_close(c->req, on_stalled_client_gone, c);
                return;
            }
            c->stall_after = f.after;
            break;
        case SIM_FAULT_SLOW:
            break;
        }
    }
    static const struct sim_job_callbacks callbacks = {on_tokens, on_done, on_error};
    httpd_req_on_close(c->req, on_client_gone, c);
    c->job = sim_job_submit(c->node->engine, p, &callbacks, c);
    if (!c->job) {
        httpd_req_on_close(c->req, NULL, NULL);
        sim_call_fail(c, 500, "out of memory");
    }
}

json_t *sim_read_body(struct httpd_req *r)
{
    size_t len;
    const char *body = httpd_req_body(r, &len);
    char err[256];
    json_t *o = jsonx_parse_body(body, len, err, sizeof err);
    if (!o) {
        httpd_reply_error(r, 400, err);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        httpd_reply_error(r, 400, "request body must be a JSON object");
        return NULL;
    }
    return o;
}
