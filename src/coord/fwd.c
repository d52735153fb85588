#include "coord/fwd.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hbuf.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "coord/coord_metrics.h"
#include "coord/coord_pull.h"
#include "coord/fleet_view.h"
#include "coord/relay.h"
#include "coord/request_body.h"
#include "coord/trace_store.h"

#define MAX_ATTEMPTS 11 /* the first try and up to FLEET_MAX_RETRIES (at most 10) more */
#define MAX_ERROR_BODY 65536

enum fwd_state {
    FWD_PARSED,    /* read; not routed, or routed again after a failed attempt */
    FWD_HELD,      /* no node can take it yet: in the holding queue */
    FWD_PULLING,   /* waits for a pull of its model */
    FWD_QUEUED,    /* waits for a slot on its node:model */
    FWD_UPSTREAM,  /* has its slot; sent (or about to be) to the node, nothing relayed yet */
    FWD_STREAMING, /* the client has the status line: no retry from here */
};

/* Why the request is routed (advance()): what may follow a decision depends on it. */
enum fwd_cause {
    CAUSE_NEW,       /* it just arrived */
    CAUSE_WAKE,      /* held, and the fleet changed */
    CAUSE_DEADLINE,  /* held for --hold-timeout: a last look */
    CAUSE_PULLED,    /* the pull it waited for succeeded */
    CAUSE_NODE_GONE, /* its node left before it started there */
    CAUSE_RETRY,     /* its node failed before the first chunk: never waits */
};

/* Where the current attempt is. */
enum attempt_phase {
    ATTEMPT_SENT,    /* no answer yet */
    ATTEMPT_HEAD,    /* the node's status line came */
    ATTEMPT_BODY,    /* a byte of its body came */
    ATTEMPT_REFUSED, /* a server error while another node can answer: kept as the reason */
};

struct fwd {
    struct fq_waiter w;    /* first: the queue hands it back */
    struct pull_waiter pw; /* while PULLING */
    struct coord *c;
    LIST_ENTRY(fwd) link;       /* in c->active */
    TAILQ_ENTRY(fwd) hold_link; /* in c->held while HELD */
    enum fwd_state state;
    struct event *hold_timer;
    struct event *admit;
    struct httpd_req *req; /* NULL once answered */
    char id[40];
    struct fwd_request rq; /* as parsed; never changes */

    /* The choice. */
    char model[MODEL_NAME_MAX]; /* the model served (a fallback when one was chosen) */
    bool model_chosen;          /* retries and moves keep it */
    enum route_fallback fallback;
    bool pulled; /* its model was pulled for it: serve that model */
    bool strip_ctx;
    enum route_context context_action;
    int64_t loaded_ctx; /* for X-Fleet-Context-Overflow */
    char node_id[NODE_ID_MAX];
    char url[512];
    struct score_breakdown score;
    struct fleet_queue *q; /* its node:model's queue, once it entered it */
    char *body;            /* what goes to the node: rq.raw, or an edited copy */
    size_t body_len;

    /* The attempts. */
    struct httpc_req *up;
    enum attempt_phase phase;
    long status;
    char ctype[128];
    struct hbuf refusal; /* the body of a refused attempt */
    struct relay relay;
    int retries;
    char excluded[MAX_ATTEMPTS][NODE_ID_MAX];
    int n_excluded;
    char failures[1024]; /* what went wrong on each node tried, for the final message */
    char error[2048];
    double t0;
    double t_first;
    double t_progress; /* last time the node sent something (monotonic) */
};

static void advance(struct fwd *f, enum fwd_cause cause);

void fwd_request_free(struct fwd_request *rq)
{
    if (!rq)
        return;
    for (int i = 0; i < rq->n_headers; i++)
        free(rq->headers[i]);
    rq->n_headers = 0;
    free(rq->tags);
    rq->tags = NULL;
    free(rq->raw);
    rq->raw = NULL;
    free(rq->prefix);
    rq->prefix = NULL;
}

/* ---- the holding queue ---- */

static void unhold(struct fwd *f)
{
    if (f->state != FWD_HELD)
        return;
    TAILQ_REMOVE(&f->c->held, f, hold_link);
    f->state = FWD_PARSED;
    f->c->n_held--;
    if (f->hold_timer)
        evtimer_del(f->hold_timer);
}

static void on_hold_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fwd *f = arg;
    unhold(f);
    advance(f, CAUSE_DEADLINE);
}

static bool hold(struct fwd *f, const char *why)
{
    struct coord *c = f->c;
    if (c->n_held >= (size_t)c->settings->max_queue || c->settings->hold_timeout <= 0)
        return false;
    if (!f->hold_timer) {
        f->hold_timer = evtimer_new(c->base, on_hold_deadline, f);
        if (!f->hold_timer)
            return false;
    }
    struct timeval tv = time_tv(c->settings->hold_timeout);
    evtimer_add(f->hold_timer, &tv);
    TAILQ_INSERT_TAIL(&c->held, f, hold_link);
    f->state = FWD_HELD;
    c->n_held++;
    LOG_INFO("request %s model=%s waits for a node (%s)", f->id, f->rq.chain[0], why);
    return true;
}

/* ---- the end ---- */

static void fwd_free(struct fwd *f)
{
    LIST_REMOVE(f, link);
    f->c->n_active--;
    unhold(f);
    coord_pull_forget(&f->pw);
    if (f->hold_timer)
        event_free(f->hold_timer);
    if (f->admit)
        event_free(f->admit);
    if (f->body != f->rq.raw)
        free(f->body);
    fwd_request_free(&f->rq);
    relay_free(&f->relay);
    hbuf_free(&f->refusal);
    free(f);
}

static void record(struct fwd *f, enum trace_status status)
{
    struct coord *c = f->c;
    if (!c->traces || !f->rq.endpoint->queued)
        return;
    struct trace_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.request_id, sizeof row.request_id, "%s", f->id);
    snprintf(row.model, sizeof row.model, "%s", f->model);
    snprintf(row.original_model, sizeof row.original_model, "%s", f->rq.chain[0]);
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
    row.prompt_tokens = f->relay.prompt_tokens;
    row.completion_tokens = f->relay.completion_tokens;
    snprintf(row.client_ip, sizeof row.client_ip, "%s", f->rq.client_ip);
    row.original_format = f->rq.endpoint->openai ? "openai" : "ollama";
    row.error_message = f->error[0] ? strdup(f->error) : NULL;
    row.retry_count = f->retries;
    json_t *ex = json_array();
    for (int i = 0; i < f->n_excluded; i++)
        json_array_append_new(ex, json_string(f->excluded[i]));
    row.excluded_nodes = json_dumps(ex, JSON_COMPACT);
    json_decref(ex);
    row.tags = f->rq.tags ? strdup(f->rq.tags) : NULL;
    snprintf(row.app, sizeof row.app, "%s", f->rq.app);
    row.timestamp = time_wall();
    coord_metrics_request(c->metrics, &row, f->rq.endpoint->path);
    trace_store_add(c->traces, &row);
    LOG_INFO("request %s model=%s node=%s status=%s latency_ms=%.0f ttft_ms=%.0f tokens=%lld/%lld",
             f->id, f->model, f->node_id, trace_status_name(status), (now - f->t0) * 1000,
             f->t_first > 0 ? (f->t_first - f->t0) * 1000 : -1.0, (long long)f->relay.prompt_tokens,
             (long long)f->relay.completion_tokens);
}

/* Gives back the slot (or the place in line), with the outcome and what it cost. */
static void leave_queue(struct fwd *f, enum fq_outcome outcome)
{
    if (!f->q)
        return;
    if (f->state == FWD_QUEUED)
        queue_withdraw(f->q, &f->w);
    else
        queue_leave(f->q, &f->w, outcome,
                    outcome == FQ_COMPLETED ? (time_mono() - f->t0) * 1000 : -1,
                    f->relay.prompt_tokens, f->relay.completion_tokens);
    f->q = NULL;
}

/* Answers f with an error in its API's shape (before anything was sent), records it as
 * failed and frees it. */
static void fail(struct fwd *f, int status, const char *msg)
{
    if (msg != f->error)
        snprintf(f->error, sizeof f->error, "%s", msg);
    leave_queue(f, FQ_FAILED);
    httpd_req_on_close(f->req, NULL, NULL);
    httpd_add_header(f->req, "X-Fleet-Request-Id", f->id); /* ties the error to its trace */
    httpd_reply_error(f->req, status, f->error);
    f->req = NULL;
    record(f, TRACE_FAILED);
    fwd_free(f);
}

/* What the node reported of a completed request teaches its speeds. */
static void learn_speeds(struct fwd *f)
{
    const struct relay *r = &f->relay;
    struct cost_observation o = {
        .prompt_tokens = r->prompt_tokens,
        .prompt_s = r->prompt_s,
        .estimated_prompt_tokens = f->rq.tokens,
        .cached_share = f->score.p.prefix_match,
        .output_tokens = r->completion_tokens,
        .output_s = r->output_s,
        .load_s = r->load_s,
    };
    /* Embeddings report only their whole time: what is not the load is the prompt. */
    if (f->rq.endpoint->embedding && o.prompt_s < 0 && r->total_s > 0)
        o.prompt_s = r->total_s - (r->load_s > 0 ? r->load_s : 0);
    if (o.prompt_s > 0 || o.output_s > 0 || o.load_s > 0)
        cost_observe(&f->c->costs, f->node_id, f->model, &o);
}

/* Ends f whose reply had started: the stream ends (with an error in its framing when msg is
 * set), the slot is given back, the trace written, f freed. */
static void finish(struct fwd *f, enum trace_status status, const char *msg)
{
    if (msg)
        relay_write_error(&f->relay, msg);
    if (status == TRACE_COMPLETED)
        learn_speeds(f);
    httpd_req_on_close(f->req, NULL, NULL);
    httpd_stream_end(f->req);
    f->req = NULL;
    leave_queue(f, status == TRACE_COMPLETED ? FQ_COMPLETED : FQ_FAILED);
    record(f, status);
    fwd_free(f);
}

/* ---- the attempt ---- */

static void ask_of(const struct fwd *f, struct route_ask *a, const char **excluded_ids);

static bool can_retry(const struct fwd *f)
{
    if (f->retries >= f->c->settings->max_retries || f->n_excluded + 1 >= MAX_ATTEMPTS)
        return false;
    struct route_fleet view;
    struct route_ask ask;
    const char *ids[MAX_ATTEMPTS];
    fleet_view_of(f->c, &view);
    ask_of(f, &ask, ids);
    return route_other_node(&view, &ask, f->node_id);
}

static void on_response(struct httpc_req *q, long status, void *arg)
{
    struct fwd *f = arg;
    f->t_progress = time_mono();
    f->status = status;
    f->phase = ATTEMPT_HEAD;
    const char *ctype = httpc_header(q, "Content-Type");
    snprintf(f->ctype, sizeof f->ctype, "%s", ctype ? ctype : "application/json");
    relay_begin(&f->relay, f->ctype);
    if (status >= 400)
        snprintf(f->error, sizeof f->error, "node answered %ld", status);
    /* A node's server error is not the client's answer while another node can give one. */
    if (status >= 500 && can_retry(f)) {
        f->phase = ATTEMPT_REFUSED;
        hbuf_free(&f->refusal);
        hbuf_init(&f->refusal, MAX_ERROR_BODY);
    }
}

/* The client's status line and headers go out with the first byte of the body (or at the
 * end when there is none), once the node that answers is known. */
static void start_client(struct fwd *f)
{
    if (f->state == FWD_STREAMING)
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
        snprintf(overflow, sizeof overflow, "%lld > %lld", (long long)f->rq.num_ctx,
                 (long long)f->loaded_ctx);
        httpd_add_header(f->req, "X-Fleet-Context-Overflow", overflow);
    }
    httpd_add_header(f->req, "X-Fleet-Request-Id", f->id);
    httpd_stream_start(f->req, (int)f->status, f->ctype);
    f->state = FWD_STREAMING;
    free(f->rq.prefix); /* no more routing: what it was for */
    f->rq.prefix = NULL;
}

static void on_drain(struct httpd_req *r, void *arg)
{
    (void)r;
    struct fwd *f = arg;
    if (f->up)
        httpc_resume(f->up);
}

static int write_client(void *arg, const void *data, size_t len)
{
    struct fwd *f = arg;
    return httpd_stream_write(f->req, data, len);
}

static void on_data(struct httpc_req *q, const char *data, size_t len, void *arg)
{
    struct fwd *f = arg;
    f->t_progress = time_mono();
    if (f->phase == ATTEMPT_REFUSED) {
        hbuf_append(&f->refusal, data, len); /* the error, for the log and the trace */
        return;
    }
    f->phase = ATTEMPT_BODY;
    if (f->t_first == 0)
        f->t_first = time_mono();
    start_client(f);
    if (relay_feed(&f->relay, data, len)) {
        httpc_pause(q);
        httpd_stream_on_drain(f->req, on_drain, f);
    }
}

/* The node failed before its first chunk: record it, leave it out, try the next best. */
static void retry(struct fwd *f, const char *transfer_error)
{
    char reason[300];
    if (transfer_error) {
        snprintf(reason, sizeof reason, "%s", transfer_error);
    } else {
        /* The node's own error message, when it sent one. */
        json_error_t je;
        json_t *o = f->refusal.data ? json_loadb(f->refusal.data, f->refusal.len, 0, &je) : NULL;
        const json_t *e = json_object_get(o, "error");
        const char *msg = json_is_string(e) ? json_string_value(e) : jsonx_str(e, "message");
        snprintf(reason, sizeof reason, "HTTP %ld%s%s", f->status, msg ? ": " : "", msg ? msg : "");
        json_decref(o);
    }
    snprintf(f->error, sizeof f->error, "node %s failed before its first chunk: %s", f->node_id,
             reason);
    size_t used = strlen(f->failures);
    snprintf(f->failures + used, sizeof f->failures - used, "%s: %s; ", f->node_id, reason);
    LOG_WARN("request %s model=%s: %s; trying another node (retry %d of %lld)", f->id, f->model,
             f->error, f->retries + 1, (long long)f->c->settings->max_retries);
    record(f, TRACE_RETRIED);
    leave_queue(f, FQ_FAILED);
    f->state = FWD_PARSED;
    snprintf(f->excluded[f->n_excluded++], NODE_ID_MAX, "%s", f->node_id);
    f->retries++;
    f->error[0] = '\0';
    f->status = 0;
    f->ctype[0] = '\0';
    hbuf_free(&f->refusal);
    relay_begin(&f->relay, NULL);
    f->t_first = 0;
    advance(f, CAUSE_RETRY);
}

/* What an attempt's end says of its node: a transport error, a server error or a stall is a
 * failure; any answer of the node's own (a 4xx included) is a success. */
static void judge_node(struct fwd *f, bool failed)
{
    struct breaker_table *b = &f->c->breakers;
    if (!failed) {
        breaker_success(b, f->node_id, f->model);
    } else if (breaker_failure(b, f->node_id, f->model, time_mono())) {
        LOG_WARN("node %s: %s failed %d times in a row: no requests for it there for a while",
                 f->node_id, f->model, BREAKER_FAILURES);
    }
}

static void on_done(struct httpc_req *q, int rc, const char *err, void *arg)
{
    (void)q;
    struct fwd *f = arg;
    f->up = NULL;
    judge_node(f, rc != 0 || f->status >= 500);
    if (rc == -ECONNREFUSED || (rc == -ETIMEDOUT && f->status == 0))
        coord_node_unreachable(f->c, f->node_id, err ? err : "cannot connect");
    /* Failed before its first chunk: another node may still answer. */
    if (f->phase == ATTEMPT_REFUSED || (rc != 0 && f->phase < ATTEMPT_BODY && can_retry(f))) {
        retry(f, rc != 0 ? (err ? err : "failed") : NULL);
        return;
    }
    relay_finish(&f->relay);
    if (rc != 0) {
        snprintf(f->error, sizeof f->error, "node %s: %s", f->node_id, err ? err : "failed");
        LOG_WARN("request %s: %s", f->id, f->error);
        if (f->state == FWD_STREAMING) {
            finish(f, TRACE_INCOMPLETE, f->error);
            return;
        }
        char msg[3200];
        if (f->failures[0])
            snprintf(msg, sizeof msg, "every node tried failed: %s%s", f->failures, f->error);
        else
            snprintf(msg, sizeof msg, "%s", f->error);
        fail(f, 502, msg);
        return;
    }
    if (f->relay.error[0])
        snprintf(f->error, sizeof f->error, "%s", f->relay.error);
    start_client(f); /* a reply without a body */
    enum trace_status status = f->status >= 400 || f->relay.saw_error ? TRACE_FAILED
                               : f->relay.saw_done                    ? TRACE_COMPLETED
                                                                      : TRACE_INCOMPLETE;
    finish(f, status, NULL);
}

/* The body of this attempt: the client's bytes, or a copy with herd's edits. */
static int build_body(struct fwd *f)
{
    if (f->body != f->rq.raw)
        free(f->body);
    f->body = f->rq.raw;
    f->body_len = f->rq.raw_len;
    struct request_body_edits e = {
        .model = strcmp(f->model, f->rq.chain[0]) != 0 ? f->model : NULL,
        .strip_ctx = f->strip_ctx,
        .drop_extra = f->rq.drop_extra,
        .add_usage = f->rq.add_usage,
    };
    if (!request_body_edited(&e))
        return 0;
    return request_body_edit(f->rq.raw, f->rq.raw_len, &e, &f->body, &f->body_len);
}

/* Sends f to its chosen node now (UPSTREAM). On failure f is answered and freed. */
static void start_upstream(struct fwd *f)
{
    static const struct httpc_callbacks cb = {on_response, on_data, on_done};
    struct coord *c = f->c;
    f->state = FWD_UPSTREAM;
    if (build_body(f) != 0) {
        fail(f, 503, "out of memory");
        return;
    }
    struct httpc_opts o = {
        .method = "POST",
        .url = f->url,
        .headers = (const char *const *)f->rq.headers,
        .body = f->body,
        .body_len = f->body_len,
        .connect_timeout_ms = (long)(c->settings->connect_timeout * 1000),
    };
    f->phase = ATTEMPT_SENT;
    f->t_first = 0;
    f->t_progress = time_mono();
    breaker_attempt(&c->breakers, f->node_id, f->model, f->t_progress);
    f->up = httpc_start(c->httpc, &o, &cb, f);
    if (!f->up) {
        snprintf(f->error, sizeof f->error, "cannot start a request to node %s", f->node_id);
        fail(f, 502, f->error);
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
    f->state = FWD_UPSTREAM; /* holds its slot from now on */
    /* Start from the loop: this may run inside another request's completion. */
    event_active(f->admit, EV_TIMEOUT, 1);
}

/* ---- routing ---- */

static void ask_of(const struct fwd *f, struct route_ask *a, const char **excluded_ids)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < f->n_excluded; i++)
        excluded_ids[i] = f->excluded[i];
    a->chain = (const char(*)[MODEL_NAME_MAX])f->rq.chain;
    a->n_chain = f->rq.n_chain;
    a->model_sent = f->rq.model_sent;
    a->fixed_model = f->model_chosen ? f->model : NULL;
    a->excluded = excluded_ids;
    a->n_excluded = f->n_excluded;
    a->needs = f->rq.needs;
    a->num_ctx = f->rq.num_ctx;
    a->tokens = f->rq.tokens;
    a->max_output = f->rq.max_output;
    a->prefix = f->rq.prefix;
    a->openai = f->rq.endpoint->openai;
    a->embedding = f->rq.endpoint->embedding;
    a->queued = f->rq.endpoint->queued;
    a->pulled = f->pulled;
}

/* Takes what the decision says about the model, the node and the request's num_ctx. */
static void adopt(struct fwd *f, const struct route_choice *ch)
{
    if (!f->model_chosen) { /* a retry keeps the model and why it was chosen */
        f->fallback = ch->fallback;
        if (ch->fallback)
            LOG_INFO("request %s: model %s served by %s (%s)", f->id, f->rq.chain[0], ch->model,
                     route_fallback_name(ch->fallback));
        snprintf(f->model, sizeof f->model, "%s", ch->model);
        f->model_chosen = true;
    }
    f->strip_ctx = ch->strip_ctx;
    f->context_action = ch->context;
    f->loaded_ctx = ch->loaded_ctx;
    if (ch->context == ROUTE_CTX_OVERFLOW)
        LOG_WARN("request %s: num_ctx %lld is more than %s is loaded with on %s (%lld); the node "
                 "will reload it",
                 f->id, (long long)f->rq.num_ctx, f->model, ch->node->id,
                 (long long)ch->loaded_ctx);
    else if (ch->context && !ch->strip_ctx)
        LOG_WARN("request %s: num_ctx %lld sent to %s on %s, loaded with %lld: a different "
                 "num_ctx makes Ollama reload the model (FLEET_CONTEXT_PROTECTION=warn keeps it)",
                 f->id, (long long)f->rq.num_ctx, f->model, ch->node->id,
                 (long long)ch->loaded_ctx);
    f->score = ch->score;
    f->w.work_s = ch->score.predicted ? ch->score.p.service_s : 0; /* what its slot will take */
    if (f->rq.prefix) /* the node's slot caches this prompt from now on */
        prefix_remember(&f->c->prefixes, ch->node->id, f->model,
                        ch->node->num_parallel > 0 ? ch->node->num_parallel
                                                   : (int)f->c->settings->default_parallel,
                        f->rq.prefix);
    snprintf(f->node_id, sizeof f->node_id, "%s", ch->node->id);
    snprintf(f->url, sizeof f->url, "%s%s", ch->node->url, f->rq.endpoint->path);
}

/* Takes a slot on the chosen node:model (UPSTREAM, sent at once) or a place in its line
 * (QUEUED). 0, or an HTTP status with a message in err. */
static int take_slot(struct fwd *f, const struct node *node, char *err, size_t errlen)
{
    struct coord *c = f->c;
    if (!f->rq.endpoint->queued) {
        start_upstream(f);
        return 0;
    }
    f->q = queue_get(&c->queues, node->id, f->model);
    if (!f->q) {
        snprintf(err, errlen, "out of memory");
        return 503;
    }
    queue_set_concurrency(f->q, coord_queue_concurrency(c, node));
    int rc = queue_enter(&c->queues, f->q, &f->w);
    if (rc < 0) {
        f->q = NULL;
        snprintf(err, errlen, "too many requests waiting for %s on %s (%lld)", f->model, f->node_id,
                 (long long)c->settings->max_queue);
        return 503;
    }
    f->state = FWD_QUEUED;
    if (rc == 1)
        start_upstream(f);
    return 0;
}

static void on_pull_done(struct pull_waiter *w, int status, const char *node_id, const char *error)
{
    struct fwd *f = (struct fwd *)((char *)w - offsetof(struct fwd, pw));
    f->state = FWD_PARSED;
    f->pulled = true;
    if (status == 0) {
        advance(f, CAUSE_PULLED);
        return;
    }
    char msg[1024];
    snprintf(msg, sizeof msg, "model '%s' not found, and pulling it onto %s failed: %s",
             f->rq.model_sent, node_id, error);
    fail(f, status, msg);
}

/* The one transition out of PARSED and HELD: routes f and moves it to where the decision
 * sends it (a slot, the holding queue, a pull), or answers it with an error. A retry never
 * waits; a held request whose deadline came waits no more. f may be freed on return. */
static void advance(struct fwd *f, enum fwd_cause cause)
{
    struct coord *c = f->c;
    struct route_fleet view;
    struct route_ask ask;
    const char *ids[MAX_ATTEMPTS];
    struct route_choice ch;
    fleet_view_of(c, &view);
    ask_of(f, &ask, ids);
    enum route_outcome o = route_decide(&view, &ask, &ch);
    if (ch.took_turn)
        c->decisions++;
    char err[512];
    snprintf(err, sizeof err, "%s", ch.why);
    int status = 0;
    if (o == ROUTE_GO) {
        adopt(f, &ch);
        const struct node *node = ch.node;
        route_choice_free(&ch);
        unhold(f);
        if (ch.explored)
            LOG_DEBUG("request %s goes to %s to measure it again (exploration)", f->id, f->node_id);
        LOG_DEBUG("request %s model=%s node=%s score=%.1f attempt=%d", f->id, f->model, f->node_id,
                  f->score.total, f->retries + 1);
        status = take_slot(f, node, err, sizeof err);
        if (status == 0)
            return; /* on its way, or queued; it may even be answered already */
    }
    route_choice_free(&ch);
    if (cause == CAUSE_RETRY) {
        snprintf(f->error, sizeof f->error, "every node tried failed: %s", f->failures);
        fail(f, 502, f->error);
        return;
    }
    if (o == ROUTE_PULL) {
        unhold(f);
        f->pw.done = on_pull_done;
        status =
            coord_pull_wait(c, &f->pw, f->rq.chain[0], f->rq.model_sent, f->id, err, sizeof err);
        if (status == 0) {
            f->state = FWD_PULLING;
            return;
        }
    } else if (o == ROUTE_HOLD && cause != CAUSE_DEADLINE) {
        if (f->state == FWD_HELD || hold(f, err))
            return; /* waits (on) for a node */
        status = 503;
    } else if (o == ROUTE_HOLD) {
        status = 503;
    } else if (o == ROUTE_NOT_FOUND) {
        status = 404;
    } else if (o != ROUTE_GO) {
        status = 503;
    }
    unhold(f);
    char msg[700];
    if (cause == CAUSE_DEADLINE && o == ROUTE_HOLD) {
        snprintf(msg, sizeof msg, "%s; waited %.0f s", err, c->settings->hold_timeout);
        LOG_INFO("request %s model=%s: gave up waiting for a node: %s", f->id, f->model, msg);
    } else {
        snprintf(msg, sizeof msg, "%s", err);
        LOG_INFO("request %s model=%s: %s", f->id, f->rq.chain[0], msg);
    }
    fail(f, status, msg);
}

/* ---- the client ---- */

static void on_client_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct fwd *f = arg;
    LOG_INFO("request %s: client %s went away; cancelling it on %s", f->id, f->rq.client_ip,
             f->node_id);
    if (f->up)
        httpc_cancel(f->up);
    f->up = NULL;
    f->req = NULL;
    if (f->relay.error[0])
        snprintf(f->error, sizeof f->error, "%s", f->relay.error);
    leave_queue(f, FQ_DISCONNECTED);
    record(f, TRACE_CLIENT_DISCONNECTED);
    fwd_free(f);
}

void fwd_start(struct coord *c, struct httpd_req *r, struct fwd_request *rq)
{
    struct fwd *f = calloc(1, sizeof *f);
    if (!f) {
        httpd_reply_error(r, 503, "out of memory");
        fwd_request_free(rq);
        return;
    }
    f->rq = *rq;
    memset(rq, 0, sizeof *rq);
    f->c = c;
    LIST_INSERT_HEAD(&c->active, f, link);
    c->n_active++;
    f->req = r;
    f->state = FWD_PARSED;
    f->t0 = time_mono();
    f->w.admit = on_admitted;
    relay_init(&f->relay, f->rq.add_usage, write_client, f);
    hbuf_init(&f->refusal, MAX_ERROR_BODY);
    coord_request_id(c, f->id, sizeof f->id);
    snprintf(f->model, sizeof f->model, "%s", f->rq.chain[0]);
    f->admit = evtimer_new(c->base, on_admit_event, f);
    if (!f->admit) {
        httpd_reply_error(r, 503, "out of memory");
        fwd_free(f);
        return;
    }
    httpd_req_on_close(r, on_client_gone, f);
    advance(f, CAUSE_NEW); /* f is running, waiting, or already answered and freed */
}

/* ---- the fleet's events ---- */

void fwd_wake(struct coord *c)
{
    struct fwd *f = TAILQ_FIRST(&c->held);
    while (f) {
        struct fwd *next = TAILQ_NEXT(f, hold_link);
        advance(f, CAUSE_WAKE); /* stays held if still no node can take it */
        f = next;
    }
}

void fwd_node_gone(struct coord *c, const char *node_id)
{
    struct fwd *f = LIST_FIRST(&c->active);
    while (f) {
        struct fwd *next = LIST_NEXT(f, link);
        if (f->state == FWD_QUEUED && strcmp(f->q->node_id, node_id) == 0) {
            /* Not started on the node yet: it goes elsewhere, without counting as a retry. */
            LOG_INFO("request %s model=%s: node %s left before the request started; routing "
                     "it again",
                     f->id, f->model, node_id);
            leave_queue(f, FQ_FAILED);
            f->state = FWD_PARSED;
            advance(f, CAUSE_NODE_GONE);
        }
        f = next;
    }
}

void fwd_reap(struct coord *c)
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
            judge_node(f, true);
            if (f->state == FWD_STREAMING)
                finish(f, TRACE_FAILED, f->error);
            else
                fail(f, 504, f->error);
        }
        f = next;
    }
}
