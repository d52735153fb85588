#include "coord/relay.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"

#define MAX_FRAME (16 * 1024 * 1024) /* longest NDJSON line or SSE event parsed for traces */
#define MAX_WHOLE (8 * 1024 * 1024)  /* non-streamed replies kept for their token counts */

void relay_init(struct relay *r, bool strip_usage, relay_write_fn write, void *arg)
{
    memset(r, 0, sizeof *r);
    r->write = write;
    r->arg = arg;
    r->strip_usage = strip_usage;
    ndjson_framer_init(&r->nd, MAX_FRAME);
    sse_framer_init(&r->sse, MAX_FRAME);
    hbuf_init(&r->whole, MAX_WHOLE);
    relay_begin(r, NULL);
}

void relay_free(struct relay *r)
{
    ndjson_framer_free(&r->nd);
    sse_framer_free(&r->sse);
    hbuf_free(&r->whole);
}

void relay_begin(struct relay *r, const char *ctype)
{
    if (ctype && strstr(ctype, "ndjson"))
        r->framing = RELAY_NDJSON;
    else if (ctype && strstr(ctype, "event-stream"))
        r->framing = RELAY_SSE;
    else
        r->framing = RELAY_WHOLE;
    r->framer_ok = true;
    ndjson_framer_free(&r->nd);
    ndjson_framer_init(&r->nd, MAX_FRAME);
    sse_framer_free(&r->sse);
    sse_framer_init(&r->sse, MAX_FRAME);
    hbuf_free(&r->whole);
    hbuf_init(&r->whole, MAX_WHOLE);
    r->saw_done = r->saw_error = false;
    r->prompt_tokens = r->completion_tokens = -1;
    r->prompt_s = r->output_s = r->load_s = r->total_s = -1;
    r->error[0] = '\0';
}

static int out(struct relay *r, const void *p, size_t len)
{
    int slow = r->write(r->arg, p, len);
    if (slow)
        r->slow = true;
    return slow;
}

/* A duration in Ollama's nanoseconds, as seconds; -1 when absent. */
static double seconds_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) && json_number_value(v) >= 0 ? json_number_value(v) / 1e9 : -1;
}

static void note_native_final(struct relay *r, const json_t *o)
{
    int64_t v;
    if (jsonx_int(o, "prompt_eval_count", &v) == 0)
        r->prompt_tokens = v;
    if (jsonx_int(o, "eval_count", &v) == 0)
        r->completion_tokens = v;
    r->prompt_s = seconds_of(o, "prompt_eval_duration");
    r->output_s = seconds_of(o, "eval_duration");
    r->load_s = seconds_of(o, "load_duration");
    r->total_s = seconds_of(o, "total_duration");
}

static void note_usage(struct relay *r, const json_t *usage)
{
    int64_t v;
    if (jsonx_int(usage, "prompt_tokens", &v) == 0 && v > 0)
        r->prompt_tokens = v;
    if (jsonx_int(usage, "completion_tokens", &v) == 0 && v > 0)
        r->completion_tokens = v;
}

/* An error as Ollama (a string) or OpenAI (an object with a message) writes it. */
static void note_error(struct relay *r, const json_t *err)
{
    const char *m = json_is_string(err) ? json_string_value(err) : jsonx_str(err, "message");
    snprintf(r->error, sizeof r->error, "%s", m ? m : "error");
}

static int on_ndjson_line(const char *line, size_t len, void *arg)
{
    struct relay *r = arg;
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
        r->saw_done = true;
        note_native_final(r, o);
    }
    const char *err = jsonx_str(o, "error");
    if (err) {
        r->saw_error = true;
        snprintf(r->error, sizeof r->error, "%s", err);
    }
    json_decref(o);
    return 0;
}

/* Relays one SSE event's data, framed again. */
static void out_event(struct relay *r, const char *data, size_t len)
{
    struct hbuf b;
    hbuf_init(&b, len + 16);
    hbuf_append_str(&b, "data: ");
    hbuf_append(&b, data, len);
    hbuf_append_str(&b, "\n\n");
    out(r, b.data, b.len);
    hbuf_free(&b);
}

static int on_sse_event(const struct sse_event *ev, void *arg)
{
    struct relay *r = arg;
    if (strcmp(ev->data, "[DONE]") == 0) {
        r->saw_done = true;
    } else if (strstr(ev->data, "\"usage\"") || strstr(ev->data, "\"error\"")) {
        json_error_t je;
        json_t *o = json_loadb(ev->data, ev->data_len, 0, &je);
        json_t *usage = json_object_get(o, "usage");
        if (json_is_object(usage))
            note_usage(r, usage);
        const json_t *err = json_object_get(o, "error");
        if (err && !json_is_null(err)) {
            r->saw_error = true;
            note_error(r, err);
        }
        if (r->strip_usage && json_is_object(usage)) {
            /* Usage herd asked for on the client's behalf stays with herd: the usage-only
             * event is dropped, and the (zero) usage Ollama then puts on every completion
             * chunk is taken off. */
            bool usage_only = json_array_size(json_object_get(o, "choices")) == 0;
            if (!usage_only) {
                json_object_del(o, "usage");
                char *text = json_dumps(o, JSON_COMPACT);
                if (text)
                    out_event(r, text, strlen(text));
                free(text);
            }
            json_decref(o);
            return 0;
        }
        json_decref(o);
    }
    /* With a rewritten stream, events are relayed one by one, as Ollama writes them. */
    if (r->strip_usage)
        out_event(r, ev->data, ev->data_len);
    return 0;
}

int relay_feed(struct relay *r, const char *data, size_t len)
{
    r->slow = false;
    switch (r->framing) {
    case RELAY_NDJSON:
        if (r->framer_ok && ndjson_framer_feed(&r->nd, data, len, on_ndjson_line, r) != 0)
            r->framer_ok = false;
        out(r, data, len);
        break;
    case RELAY_SSE:
        if (r->framer_ok && sse_framer_feed(&r->sse, data, len, on_sse_event, r) != 0) {
            /* An event too large to parse: relay the bytes as they are from here on. */
            r->framer_ok = false;
            if (r->strip_usage) {
                r->strip_usage = false;
                break;
            }
        }
        if (!r->strip_usage)
            out(r, data, len);
        break;
    case RELAY_WHOLE:
        if (hbuf_append(&r->whole, data, len) != 0)
            hbuf_free(&r->whole);
        out(r, data, len);
        break;
    }
    return r->slow;
}

/* Reads token counts and the outcome from a non-streamed reply. */
static void note_whole(struct relay *r)
{
    if (!r->whole.data)
        return;
    json_error_t je;
    json_t *o = json_loadb(r->whole.data, r->whole.len, 0, &je);
    if (!o)
        return;
    if (json_is_object(json_object_get(o, "usage")))
        note_usage(r, json_object_get(o, "usage"));
    else
        note_native_final(r, o);
    if (json_is_true(json_object_get(o, "done")) || json_object_get(o, "usage") ||
        json_object_get(o, "embeddings") || json_object_get(o, "embedding") ||
        json_object_get(o, "data"))
        r->saw_done = true;
    const json_t *err = json_object_get(o, "error");
    if (err && !json_is_null(err))
        note_error(r, err);
    json_decref(o);
}

void relay_finish(struct relay *r)
{
    if (r->framing == RELAY_NDJSON && r->framer_ok)
        ndjson_framer_finish(&r->nd, on_ndjson_line, r);
    if (r->framing == RELAY_WHOLE)
        note_whole(r);
}

void relay_write_error(struct relay *r, const char *msg)
{
    if (r->framing == RELAY_WHOLE)
        return;
    json_t *o = r->framing == RELAY_SSE
                    ? json_pack("{s:{s:s, s:s}}", "error", "message", msg, "type", "api_error")
                    : json_pack("{s:s}", "error", msg);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return;
    if (r->framing == RELAY_SSE) {
        r->write(r->arg, "data: ", 6);
        r->write(r->arg, s, strlen(s));
        r->write(r->arg, "\n\n", 2);
    } else {
        r->write(r->arg, s, strlen(s));
        r->write(r->arg, "\n", 1);
    }
    free(s);
}
