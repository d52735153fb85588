/* coord_bench: benchmarks started from the dashboard. A run sends chat requests to herd's own
 * port (so they take the whole path a client's do: routing, queues, retries, traces tagged
 * "herd-benchmark" and "benchmark:<run id>") from a fixed number of concurrent slots, each
 * sending its next request when the last one ends, until the duration is over. Then the
 * requests under way may finish (for up to BENCH_GRACE_S more; any left then are cancelled and
 * not counted), so that every request the run counts is one that herd traced as done, and
 * rates are over the time until the last one ended. A cancelled run stops at once, its
 * requests under way cancelled and not counted. The results go to benchmark_runs in
 * latency.db. One run at a time. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/model_name.h"
#include "common/ndjson.h"
#include "common/timeutil.h"
#include "coord/bench_stats.h"
#include "coord/coord_bench.h"
#include "coord/model_class.h"
#include "coord/trace_store.h"
#include "coord/sql_json.h"

#define BENCH_MAX_SAMPLES 200000 /* about 4 MB; a run that reaches it ends there */
#define BENCH_MAX_MODELS 8
#define BENCH_MAX_CONCURRENCY 64
#define BENCH_MAX_NODES 1024
#define BENCH_MAX_LINE 65536
#define BENCH_MAX_PROMPT 4096
#define BENCH_LIST_LIMIT 50
#define BENCH_GRACE_S 30

static const char *const default_prompts[] = {
    "Explain in three sentences why the sky is blue.",
    "Write a short Python function that checks whether a string is a palindrome.",
    "Summarise the plot of a heist film in one paragraph.",
    "List five practical tips for keeping a small vegetable garden healthy.",
    "What are the trade-offs between SQL and document databases?",
};

struct bench_slot {
    struct coord_bench *b;
    struct httpc_req *q;
    int model;
    double t0;
    double ttft_ms;
    int node;
    bool done;
    bool error;
    uint32_t prompt_tokens, completion_tokens;
    struct ndjson_framer nd;
};

struct coord_bench {
    struct coord *c;
    bool running;
    bool finishing; /* past the duration: the requests under way end, no new ones */
    char run_id[48];
    char last_run_id[48];
    const char *status; /* "running", "completed", "cancelled", "failed" */
    double started;     /* wall */
    double t0;          /* monotonic */
    double duration_s;
    double ended_after_s;
    int concurrency;
    int max_tokens;
    char *prompt; /* NULL: the default prompts in turn */
    char models[BENCH_MAX_MODELS][MODEL_NAME_MAX];
    int n_models;
    char **nodes; /* names of the nodes that answered */
    size_t n_nodes;
    struct bench_sample *samples;
    size_t n_samples;
    struct bench_slot slots[BENCH_MAX_CONCURRENCY];
    uint64_t sent;
    struct event *end_timer;
    struct event *sample_timer;
    json_t *snapshot; /* the fleet when the run started */
    json_t *peak;     /* {node: {peak_in_flight, slots}} */
};

/* ---- the run ---- */

static void slot_send(struct bench_slot *s);
static void bench_finish(struct coord_bench *b, const char *status);

static int node_index(struct coord_bench *b, const char *name)
{
    if (!name || !*name)
        return BENCH_NO_NODE;
    for (size_t i = 0; i < b->n_nodes; i++)
        if (strcmp(b->nodes[i], name) == 0)
            return (int)i;
    if (b->n_nodes >= BENCH_MAX_NODES)
        return BENCH_NO_NODE;
    char **grown = realloc(b->nodes, (b->n_nodes + 1) * sizeof *grown);
    char *copy = strdup(name);
    if (!grown || !copy) {
        free(copy);
        if (grown)
            b->nodes = grown;
        return BENCH_NO_NODE;
    }
    b->nodes = grown;
    b->nodes[b->n_nodes] = copy;
    return (int)b->n_nodes++;
}

static int slots_busy(const struct coord_bench *b)
{
    int n = 0;
    for (int i = 0; i < b->concurrency; i++)
        n += b->slots[i].q != NULL;
    return n;
}

static void on_slot_response(struct httpc_req *q, long status, void *arg)
{
    struct bench_slot *s = arg;
    s->node = node_index(s->b, httpc_header(q, "X-Fleet-Node"));
    if (status != 200)
        s->error = true;
}

static int on_slot_line(const char *line, size_t len, void *arg)
{
    struct bench_slot *s = arg;
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    if (!o || json_object_get(o, "error")) {
        s->error = true;
        json_decref(o);
        return 0;
    }
    const char *text = jsonx_str(json_object_get(o, "message"), "content");
    if (s->ttft_ms < 0 && text && *text)
        s->ttft_ms = (time_mono() - s->t0) * 1000;
    if (jsonx_bool_or(o, "done", false)) {
        int64_t v = 0;
        if (jsonx_int(o, "prompt_eval_count", &v) == 0 && v > 0)
            s->prompt_tokens = (uint32_t)v;
        v = 0;
        if (jsonx_int(o, "eval_count", &v) == 0 && v > 0)
            s->completion_tokens = (uint32_t)v;
        s->done = true;
    }
    json_decref(o);
    return 0;
}

static void on_slot_data(struct httpc_req *q, const char *data, size_t len, void *arg)
{
    (void)q;
    struct bench_slot *s = arg;
    if (ndjson_framer_feed(&s->nd, data, len, on_slot_line, s) != 0)
        s->error = true;
}

static void on_slot_done(struct httpc_req *q, int rc, const char *err, void *arg)
{
    (void)q;
    (void)err;
    struct bench_slot *s = arg;
    struct coord_bench *b = s->b;
    s->q = NULL;
    ndjson_framer_finish(&s->nd, on_slot_line, s);
    ndjson_framer_free(&s->nd);
    if (b->n_samples < BENCH_MAX_SAMPLES) {
        b->samples[b->n_samples++] = (struct bench_sample){
            .model = (uint16_t)s->model,
            .node = (uint16_t)s->node,
            .ok = rc == 0 && s->done && !s->error,
            .latency_ms = (float)((time_mono() - s->t0) * 1000),
            .ttft_ms = (float)s->ttft_ms,
            .prompt_tokens = s->prompt_tokens,
            .completion_tokens = s->completion_tokens,
        };
    }
    if (b->n_samples >= BENCH_MAX_SAMPLES) {
        LOG_WARN("benchmark %s: reached %d requests; it ends here", b->run_id, BENCH_MAX_SAMPLES);
        bench_finish(b, "completed");
        return;
    }
    if (b->running && !b->finishing) {
        slot_send(s);
        return;
    }
    if (b->running && slots_busy(b) == 0)
        bench_finish(b, "completed");
}

/* Where herd's own API answers. */
static void self_url(const struct coord *c, char *out, size_t outlen)
{
    const char *h = c->settings->host;
    if (!h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "*") == 0)
        h = "127.0.0.1";
    else if (strcmp(h, "::") == 0)
        h = "::1";
    bool v6 = strchr(h, ':') != NULL;
    snprintf(out, outlen, "http://%s%s%s:%d/api/chat", v6 ? "[" : "", h, v6 ? "]" : "", c->port);
}

static void slot_send(struct bench_slot *s)
{
    struct coord_bench *b = s->b;
    uint64_t i = b->sent++;
    s->model = (int)(i % (uint64_t)b->n_models);
    s->t0 = time_mono();
    s->ttft_ms = -1;
    s->node = BENCH_NO_NODE;
    s->done = s->error = false;
    s->prompt_tokens = s->completion_tokens = 0;
    ndjson_framer_init(&s->nd, BENCH_MAX_LINE);
    const char *prompt =
        b->prompt ? b->prompt
                  : default_prompts[i % (sizeof default_prompts / sizeof default_prompts[0])];
    char run_tag[64];
    snprintf(run_tag, sizeof run_tag, "benchmark:%s", b->run_id);
    json_t *body =
        json_pack("{s:s, s:[{s:s, s:s}], s:b, s:{s:i}, s:{s:[s, s]}}", "model", b->models[s->model],
                  "messages", "role", "user", "content", prompt, "stream", 1, "options",
                  "num_predict", b->max_tokens, "metadata", "tags", "herd-benchmark", run_tag);
    char *raw = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char url[128];
    self_url(b->c, url, sizeof url);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct httpc_opts o = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = raw,
        .body_len = raw ? strlen(raw) : 0,
        .total_timeout_ms = (long)((b->duration_s + 60) * 1000),
    };
    static const struct httpc_callbacks cb = {on_slot_response, on_slot_data, on_slot_done};
    s->q = raw ? httpc_start(b->c->httpc, &o, &cb, s) : NULL;
    free(raw);
    if (!s->q) {
        ndjson_framer_free(&s->nd);
        LOG_WARN("benchmark %s: cannot start a request; the slot stops", b->run_id);
    }
}

/* Each second: how busy each node is, for the run's peak utilisation. */
static void on_sample(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct coord_bench *b = arg;
    struct coord *c = b->c;
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        int in_flight = 0, slots = 0;
        for (size_t k = 0; k < c->queues.n; k++) {
            const struct fleet_queue *q = c->queues.q[k];
            if (strcmp(q->node_id, n->id) != 0)
                continue;
            in_flight += q->in_flight;
            slots += q->concurrency;
        }
        json_t *p = json_object_get(b->peak, n->id);
        if (!p) {
            p = json_pack("{s:i, s:i}", "peak_in_flight", 0, "slots", 0);
            json_object_set_new(b->peak, n->id, p);
        }
        if (in_flight > json_integer_value(json_object_get(p, "peak_in_flight")))
            json_object_set_new(p, "peak_in_flight", json_integer(in_flight));
        if (slots > json_integer_value(json_object_get(p, "slots")))
            json_object_set_new(p, "slots", json_integer(slots));
    }
}

/* The duration is over: the requests under way may finish; this timer fires again after
 * BENCH_GRACE_S for those that do not. */
static void on_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct coord_bench *b = arg;
    if (b->finishing || slots_busy(b) == 0) {
        bench_finish(b, "completed");
        return;
    }
    b->finishing = true;
    struct timeval tv = time_tv(BENCH_GRACE_S);
    evtimer_add(b->end_timer, &tv);
}

static json_t *run_config(const struct coord_bench *b)
{
    json_t *models = json_array();
    for (int i = 0; i < b->n_models; i++)
        json_array_append_new(models, json_string(b->models[i]));
    return json_pack("{s:f, s:i, s:i, s:o, s:s?}", "duration", b->duration_s, "concurrency",
                     b->concurrency, "max_tokens", b->max_tokens, "models", models, "prompt",
                     b->prompt);
}

static json_t *run_summary(const struct coord_bench *b, double elapsed)
{
    const char *models[BENCH_MAX_MODELS];
    for (int i = 0; i < b->n_models; i++)
        models[i] = b->models[i];
    return bench_summary(b->samples, b->n_samples, elapsed, models, (size_t)b->n_models,
                         (const char *const *)b->nodes, b->n_nodes);
}

static int store_run(struct coord_bench *b, json_t *sum, char *err, size_t errlen)
{
    json_t *config = run_config(b);
    struct trace_bench_run run = {
        .run_id = b->run_id,
        .timestamp = b->started,
        .duration_s = b->ended_after_s,
        .summary = sum,
        .snapshot = b->snapshot,
        .peak = b->peak,
        .config = config,
        .status = b->status,
    };
    int rc = trace_store_add_bench_run(b->c->traces, &run, err, errlen);
    json_decref(config);
    return rc;
}

static void bench_finish(struct coord_bench *b, const char *status)
{
    if (!b->running)
        return;
    b->running = false;
    b->status = status;
    b->ended_after_s = time_mono() - b->t0;
    evtimer_del(b->end_timer);
    evtimer_del(b->sample_timer);
    on_sample(-1, 0, b);
    for (int i = 0; i < b->concurrency; i++) {
        struct bench_slot *s = &b->slots[i];
        if (s->q) {
            httpc_cancel(s->q);
            s->q = NULL;
            ndjson_framer_free(&s->nd);
        }
    }
    json_t *sum = run_summary(b, b->ended_after_s);
    char why[256] = "out of memory";
    if (!sum || store_run(b, sum, why, sizeof why) != 0)
        LOG_ERROR("benchmark %s: cannot save its results in latency.db: %s", b->run_id, why);
    LOG_INFO("benchmark %s %s after %.1f s: %lld requests, %lld failed, %.2f requests/s, "
             "%.1f tokens/s",
             b->run_id, status, b->ended_after_s,
             (long long)json_integer_value(json_object_get(sum, "total_requests")),
             (long long)json_integer_value(json_object_get(sum, "total_failures")),
             json_number_value(json_object_get(sum, "requests_per_sec")),
             json_number_value(json_object_get(sum, "tokens_per_sec")));
    json_decref(sum);
    snprintf(b->last_run_id, sizeof b->last_run_id, "%s", b->run_id);
}

static void bench_reset(struct coord_bench *b)
{
    for (size_t i = 0; i < b->n_nodes; i++)
        free(b->nodes[i]);
    free(b->nodes);
    b->nodes = NULL;
    b->n_nodes = 0;
    free(b->samples);
    b->samples = NULL;
    b->n_samples = 0;
    free(b->prompt);
    b->prompt = NULL;
    json_decref(b->snapshot);
    json_decref(b->peak);
    b->snapshot = b->peak = NULL;
}

/* ---- the API ---- */

static void reply_error(struct httpd_req *r, int status, const char *msg)
{
    httpd_reply_error(r, status, msg);
}

/* Whether some node has the model and it can chat (a run sends chats: an embedding model
 * would only fail). */
static bool has_chat_model(const struct coord *c, const char *model, bool *embedding)
{
    *embedding = false;
    for (size_t k = 0; k < c->registry.n; k++) {
        const struct node *n = c->registry.nodes[k];
        if (!node_has_model(n, model))
            continue;
        if (model_category(model, node_model_caps(n, model)) == MCAT_EMBEDDING) {
            *embedding = true;
            return false;
        }
        return true;
    }
    return false;
}

/* Reads the start request into b. false after replying 400. */
static bool read_config(struct coord_bench *b, struct httpd_req *r, const json_t *body)
{
    struct coord *c = b->c;
    char err[512];
    double duration = 60;
    int64_t concurrency = 4, max_tokens = 128;
    int rc = jsonx_num(body, "duration", &duration);
    if (rc == -EINVAL || duration < 5 || duration > 3600) {
        reply_error(r, 400, "duration must be a number of seconds from 5 to 3600");
        return false;
    }
    rc = jsonx_int(body, "concurrency", &concurrency);
    if (rc == -EINVAL || concurrency < 1 || concurrency > BENCH_MAX_CONCURRENCY) {
        reply_error(r, 400, "concurrency must be a whole number from 1 to 64");
        return false;
    }
    rc = jsonx_int(body, "max_tokens", &max_tokens);
    if (rc == -EINVAL || max_tokens < 1 || max_tokens > 4096) {
        reply_error(r, 400, "max_tokens must be a whole number from 1 to 4096");
        return false;
    }
    const json_t *prompt = json_object_get(body, "prompt");
    if (prompt && !json_is_null(prompt) &&
        (!json_is_string(prompt) || json_string_length(prompt) == 0 ||
         json_string_length(prompt) > BENCH_MAX_PROMPT)) {
        reply_error(r, 400, "prompt must be a text of 1 to 4096 bytes");
        return false;
    }
    b->n_models = 0;
    const json_t *models = json_object_get(body, "models");
    if (models && !json_is_null(models)) {
        if (!json_is_array(models) || json_array_size(models) < 1 ||
            json_array_size(models) > BENCH_MAX_MODELS) {
            reply_error(r, 400, "models must be a list of 1 to 8 model names");
            return false;
        }
        size_t i;
        const json_t *m;
        json_array_foreach (models, i, m) {
            char norm[MODEL_NAME_MAX];
            if (!json_is_string(m) ||
                model_name_normalize(json_string_value(m), norm, sizeof norm) != 0) {
                reply_error(r, 400, "models must be a list of model names");
                return false;
            }
            bool embedding;
            if (!has_chat_model(c, norm, &embedding)) {
                snprintf(err, sizeof err,
                         embedding ? "'%s' is an embedding model; a benchmark sends chats"
                                   : "no node has the model '%s'",
                         json_string_value(m));
                reply_error(r, 400, err);
                return false;
            }
            snprintf(b->models[b->n_models++], MODEL_NAME_MAX, "%s", norm);
        }
    } else {
        /* The chat models loaded right now (what the fleet serves), up to four. */
        for (size_t k = 0; k < c->registry.n && b->n_models < 4; k++) {
            const struct node *n = c->registry.nodes[k];
            if (n->status == NODE_OFFLINE)
                continue;
            for (size_t j = 0; j < n->n_loaded && b->n_models < 4; j++) {
                bool embedding, dup = !has_chat_model(c, n->loaded[j].name, &embedding);
                for (int x = 0; x < b->n_models; x++)
                    dup = dup || strcmp(b->models[x], n->loaded[j].name) == 0;
                if (!dup)
                    snprintf(b->models[b->n_models++], MODEL_NAME_MAX, "%s", n->loaded[j].name);
            }
        }
        if (b->n_models == 0) {
            reply_error(r, 400, "no chat model is loaded on any node; name the models to use");
            return false;
        }
    }
    b->duration_s = duration;
    b->concurrency = (int)concurrency;
    b->max_tokens = (int)max_tokens;
    b->prompt = prompt && json_is_string(prompt) ? strdup(json_string_value(prompt)) : NULL;
    return true;
}

static json_t *fleet_snapshot(struct coord *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        json_t *loaded = json_array();
        for (size_t k = 0; k < n->n_loaded; k++)
            json_array_append_new(loaded, json_string(n->loaded[k].name));
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:f, s:o}", "node_id", n->id, "status",
                                           node_status_name(n->status), "chip", n->chip,
                                           "memory_gb", n->has_memory ? n->mem_total_gb : 0.0,
                                           "models_loaded", loaded));
    }
    return a;
}

static void handle_start(struct coord_bench *b, struct httpd_req *r)
{
    struct coord *c = b->c;
    if (b->running) {
        char msg[128];
        snprintf(msg, sizeof msg, "benchmark %s is running; cancel it first", b->run_id);
        reply_error(r, 409, msg);
        return;
    }
    if (c->draining) {
        reply_error(r, 503, "herd is shutting down");
        return;
    }
    size_t len;
    const char *raw = httpd_req_body(r, &len);
    char err[512];
    json_t *body = len ? jsonx_parse_body(raw, len, err, sizeof err) : json_object();
    if (!body) {
        reply_error(r, 400, err);
        return;
    }
    bench_reset(b);
    bool ok = json_is_object(body) && read_config(b, r, body);
    if (!json_is_object(body))
        reply_error(r, 400, "the body must be a JSON object");
    json_decref(body);
    if (!ok)
        return;
    b->samples = malloc(BENCH_MAX_SAMPLES * sizeof *b->samples);
    b->snapshot = fleet_snapshot(c);
    b->peak = json_object();
    if (!b->samples || !b->snapshot || !b->peak) {
        bench_reset(b);
        reply_error(r, 503, "out of memory");
        return;
    }
    char id[40];
    coord_request_id(c, id, sizeof id);
    char stamp[20];
    time_t now = (time_t)time_wall();
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(b->run_id, sizeof b->run_id, "bench-%s-%.6s", stamp, id);
    b->running = true;
    b->finishing = false;
    b->status = "running";
    b->started = time_wall();
    b->t0 = time_mono();
    b->sent = 0;
    struct timeval tv = time_tv(b->duration_s);
    evtimer_add(b->end_timer, &tv);
    struct timeval sec = {1, 0};
    evtimer_add(b->sample_timer, &sec);
    for (int i = 0; i < b->concurrency; i++) {
        b->slots[i].b = b;
        slot_send(&b->slots[i]);
    }
    json_t *config = run_config(b);
    char *desc = json_dumps(config, JSON_COMPACT);
    LOG_INFO("benchmark %s started by %s: %s", b->run_id, httpd_req_peer(r), desc ? desc : "");
    free(desc);
    httpd_reply_json(r, 202, NULL,
                     json_pack("{s:s, s:s, s:o, s:f}", "run_id", b->run_id, "status", "running",
                               "config", config, "started", b->started),
                     false);
}

static void handle_progress(struct coord_bench *b, struct httpd_req *r)
{
    if (!b->running) {
        json_t *o = json_pack("{s:b, s:s?, s:s?}", "running", 0, "last_run_id",
                              b->last_run_id[0] ? b->last_run_id : NULL, "last_status",
                              b->last_run_id[0] ? b->status : NULL);
        httpd_reply_json(r, 200, NULL, o, false);
        return;
    }
    double elapsed = time_mono() - b->t0;
    json_t *o = run_summary(b, elapsed);
    if (!o) {
        reply_error(r, 503, "out of memory");
        return;
    }
    int in_flight = slots_busy(b);
    json_object_set_new(o, "running", json_true());
    json_object_set_new(o, "run_id", json_string(b->run_id));
    json_object_set_new(o, "status", json_string(b->finishing ? "finishing" : "running"));
    json_object_set_new(o, "elapsed_s", json_real(elapsed));
    json_object_set_new(o, "duration_s", json_real(b->duration_s));
    json_object_set_new(o, "progress",
                        json_real(elapsed / b->duration_s < 1 ? elapsed / b->duration_s : 1));
    json_object_set_new(o, "in_flight", json_integer(in_flight));
    json_object_set_new(o, "config", run_config(b));
    httpd_reply_json(r, 200, NULL, o, false);
}

static void handle_cancel(struct coord_bench *b, struct httpd_req *r)
{
    if (!b->running) {
        reply_error(r, 409, "no benchmark is running");
        return;
    }
    LOG_INFO("benchmark %s cancelled by %s", b->run_id, httpd_req_peer(r));
    bench_finish(b, "cancelled");
    httpd_reply_json(r, 200, NULL,
                     json_pack("{s:s, s:s}", "run_id", b->run_id, "status", "cancelled"), false);
}

/* A stored run as JSON: the row, with its JSON columns parsed; NULL when there is none. */
static json_t *run_rows(sqlite3 *db, const char *run_id, bool full)
{
    const char *cols = full ? "*"
                            : "run_id, timestamp, duration_s, status, total_requests,"
                              " total_failures, requests_per_sec, tokens_per_sec, latency_p50_ms,"
                              " latency_p95_ms, latency_p99_ms, ttft_p50_ms, ttft_p95_ms,"
                              " ttft_p99_ms, config";
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM benchmark_runs %s ORDER BY timestamp DESC LIMIT %d",
             cols, run_id ? "WHERE run_id = ?1" : "", BENCH_LIST_LIMIT);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    if (run_id)
        sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    static const char *const json_columns[] = {"fleet_snapshot",   "per_model_results",
                                               "per_node_results", "peak_utilization",
                                               "config",           NULL};
    json_t *rows = sql_json_rows(st, json_columns);
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row)
        json_object_del(row, "id");
    return rows;
}

static void handle_list(struct coord_bench *b, struct httpd_req *r)
{
    json_t *rows = run_rows(trace_store_db(b->c->traces), NULL, false);
    if (!rows) {
        reply_error(r, 500, "latency.db could not be read; see herd's log");
        return;
    }
    httpd_reply_json(r, 200, NULL,
                     json_pack("{s:o, s:b, s:s?}", "runs", rows, "running", b->running, "run_id",
                               b->running ? b->run_id : NULL),
                     false);
}

static void handle_get(struct coord_bench *b, struct httpd_req *r, const char *run_id)
{
    json_t *rows = run_rows(trace_store_db(b->c->traces), run_id, true);
    json_t *row = json_array_get(rows, 0);
    if (row) {
        httpd_reply_json(r, 200, NULL, json_incref(row), false);
    } else if (b->running && strcmp(run_id, b->run_id) == 0) {
        handle_progress(b, r);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "no benchmark run '%.100s'", run_id);
        reply_error(r, rows ? 404 : 500, msg);
    }
    json_decref(rows);
}

/* /dashboard/api/benchmarks[/start|/progress|/cancel|/<run id>]. */
static void handle_benchmarks(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    struct coord_bench *b = c->bench;
    const char *rest = httpd_req_path(r) + strlen("/dashboard/api/benchmarks");
    bool post = httpd_req_method(r) == HTTPD_POST;
    if (*rest == '/')
        rest++;
    if (!*rest) {
        if (post)
            handle_start(b, r);
        else
            handle_list(b, r);
    } else if (strcmp(rest, "start") == 0 && post) {
        handle_start(b, r);
    } else if (strcmp(rest, "cancel") == 0 && post) {
        handle_cancel(b, r);
    } else if (strcmp(rest, "progress") == 0 && !post) {
        handle_progress(b, r);
    } else if (!post && !strchr(rest, '/') && strcmp(rest, "start") != 0 &&
               strcmp(rest, "cancel") != 0) {
        handle_get(b, r, rest);
    } else {
        reply_error(r, 405, "method not allowed here");
    }
}

struct coord_bench *coord_bench_new(struct coord *c)
{
    struct coord_bench *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->c = c;
    b->status = "none";
    b->end_timer = evtimer_new(c->base, on_end, b);
    b->sample_timer = event_new(c->base, -1, EV_PERSIST, on_sample, b);
    if (!b->end_timer || !b->sample_timer) {
        coord_bench_free(b);
        return NULL;
    }
    struct httpd *h = c->httpd;
    httpd_route(h, HTTPD_GET | HTTPD_POST, "/dashboard/api/benchmarks", handle_benchmarks, c);
    httpd_route(h, HTTPD_GET | HTTPD_POST, "/dashboard/api/benchmarks/*", handle_benchmarks, c);
    return b;
}

void coord_bench_stop(struct coord_bench *b)
{
    if (b)
        bench_finish(b, "cancelled");
}

void coord_bench_free(struct coord_bench *b)
{
    if (!b)
        return;
    for (int i = 0; i < BENCH_MAX_CONCURRENCY; i++)
        if (b->slots[i].q) {
            httpc_cancel(b->slots[i].q);
            ndjson_framer_free(&b->slots[i].nd);
        }
    if (b->end_timer)
        event_free(b->end_timer);
    if (b->sample_timer)
        event_free(b->sample_timer);
    bench_reset(b);
    free(b);
}
