#include "sim/sim_server.h"

#include "common/api_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/timeutil.h"

#define LOG_BODY_MAX (64 * 1024)

/* Errors in the shape of the API asked, as Ollama writes them: OpenAI's under /v1/. */
static void error_format(void *arg, const char *path, int status, const char *msg,
                         struct httpd_error_body *out)
{
    (void)arg;
    api_error_for_path(path, status, msg, &out->json, &out->content_type, &out->newline);
}

struct sim_node *sim_node_start(struct event_base *base, const struct sim_node_config *cfg,
                                char *err, size_t errlen)
{
    struct sim_node *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->base = base;
    sim_machine_init(&n->machine, &cfg->machine);
    snprintf(n->host, sizeof n->host, "%s", cfg->host);
    n->seed = cfg->seed;
    n->min_tokens = cfg->min_tokens > 0 ? cfg->min_tokens : 1;
    n->max_tokens = cfg->max_tokens >= n->min_tokens ? cfg->max_tokens : n->min_tokens;
    for (size_t i = 0; i < cfg->n_models; i++)
        sim_machine_add_model(&n->machine, &cfg->models[i]);
    if (cfg->n_registry) {
        n->registry = calloc(cfg->n_registry, sizeof *n->registry);
        if (n->registry) {
            memcpy(n->registry, cfg->registry, cfg->n_registry * sizeof *n->registry);
            n->n_registry = cfg->n_registry;
        }
    }
    for (size_t i = 0; i < cfg->n_faults; i++)
        sim_faults_add(&n->faults, &cfg->faults[i]);

    n->engine = sim_engine_new(base, &n->machine, cfg->time_scale);
    n->httpd = httpd_new(base, NULL);
    if (n->httpd)
        httpd_set_error_format(n->httpd, error_format, NULL);
    if (!n->engine || !n->httpd) {
        snprintf(err, errlen, "out of memory");
        sim_node_free(n);
        return NULL;
    }
    sim_engine_set_slowdown(n->engine, sim_faults_slowdown(&n->faults));

    /* Models listed as loaded start warm, with the default context. */
    for (size_t i = 0; i < cfg->n_loaded; i++) {
        char norm[SIM_NAME_MAX];
        struct sim_model_spec *m = sim_node_find_model(n, cfg->loaded[i], norm, sizeof norm);
        if (!m) {
            snprintf(err, errlen, "--loaded %s: no such model on node %s", cfg->loaded[i],
                     cfg->machine.name);
            sim_node_free(n);
            return NULL;
        }
        double now = sim_engine_now(n->engine);
        struct sim_runner *r = sim_runner_start(&n->machine, m, sim_default_num_ctx(&n->machine, m),
                                                n->machine.spec.keep_alive_s, now);
        if (r) {
            r->ready_at = now;
            r->expires_at = now + (r->keep_alive_s < 0 ? SIM_FOREVER_S : r->keep_alive_s);
        }
        if (sim_memory_used(&n->machine) > n->machine.spec.memory_gb) {
            snprintf(err, errlen, "node %s: the loaded models need %.1f GB, more than its %.1f GB",
                     cfg->machine.name, sim_memory_used(&n->machine), n->machine.spec.memory_gb);
            sim_node_free(n);
            return NULL;
        }
    }

    sim_control_routes(n);
    for (size_t i = 0; i < cfg->n_routes; i++)
        cfg->routes[i](n);
    int rc = httpd_listen(n->httpd, cfg->host, cfg->port, &n->port);
    if (rc) {
        snprintf(err, errlen, "node %s: cannot listen on %s:%d: %s", cfg->machine.name, cfg->host,
                 cfg->port, strerror(-rc));
        sim_node_free(n);
        return NULL;
    }
    return n;
}

void sim_node_free(struct sim_node *n)
{
    if (!n)
        return;
    httpd_free(n->httpd); /* requests in flight are cancelled through their close callbacks */
    sim_engine_free(n->engine);
    sim_machine_free(&n->machine);
    for (size_t i = 0; i < SIM_REQUEST_LOG; i++) {
        free(n->log[i].body);
        json_decref(n->log[i].headers);
    }
    free(n->registry);
    free(n->blobs);
    free(n);
}

static void add_header(const char *name, const char *value, void *arg)
{
    json_t *h = arg;
    char key[128];
    snprintf(key, sizeof key, "%s", name);
    for (char *p = key; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    json_t *s = json_string(value);
    if (s)
        json_object_set_new(h, key, s);
}

void sim_node_log_request(struct sim_node *n, struct httpd_req *r)
{
    n->requests++;
    struct sim_logged_request *e = &n->log[n->log_next];
    free(e->body);
    json_decref(e->headers);
    snprintf(e->method, sizeof e->method, "%s", httpd_req_method_name(r));
    snprintf(e->path, sizeof e->path, "%s", httpd_req_path(r));
    size_t len;
    const char *body = httpd_req_body(r, &len);
    if (len > LOG_BODY_MAX)
        len = LOG_BODY_MAX;
    e->body = strndup(body, len);
    e->headers = json_object();
    httpd_req_foreach_header(r, add_header, e->headers);
    e->at = time_wall();
    n->log_next = (n->log_next + 1) % SIM_REQUEST_LOG;
    if (n->log_count < SIM_REQUEST_LOG)
        n->log_count++;
}

struct sim_model_spec *sim_node_find_model(struct sim_node *n, const char *name, char *norm,
                                           size_t normlen)
{
    norm[0] = '\0';
    if (!name || model_name_normalize(name, norm, normlen) != 0) {
        norm[0] = '\0';
        return NULL;
    }
    return sim_machine_model(&n->machine, norm);
}

json_t *sim_model_details_json(const struct sim_model_spec *m)
{
    return json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "parent_model", "", "format", "gguf",
                     "family", m->family, "families", m->family, "parameter_size",
                     m->parameter_size, "quantization_level", m->quantization);
}

/* ---- control endpoints (/_sim/...) ---- */

static json_t *faults_json(const struct sim_node *n)
{
    json_t *a = json_array();
    for (int i = 0; i < n->faults.n; i++)
        json_array_append_new(a, sim_fault_to_json(&n->faults.items[i]));
    return a;
}

static void handle_fault(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    if (httpd_req_method(r) == HTTPD_DELETE) {
        n->faults.n = 0;
        sim_engine_set_slowdown(n->engine, 1);
    } else if (httpd_req_method(r) == HTTPD_POST) {
        size_t len;
        const char *body = httpd_req_body(r, &len);
        char err[256];
        json_t *o = jsonx_parse_body(body, len, err, sizeof err);
        struct sim_fault f;
        if (!o || sim_fault_from_json(o, &f, err, sizeof err) != 0) {
            json_decref(o);
            httpd_reply_error(r, 400, err);
            return;
        }
        json_decref(o);
        if (sim_faults_add(&n->faults, &f) != 0) {
            httpd_reply_error(r, 400, "too many faults; DELETE /_sim/fault first");
            return;
        }
        sim_engine_set_slowdown(n->engine, sim_faults_slowdown(&n->faults));
        LOG_INFO("node %s: fault injected: %s", n->machine.spec.name,
                 f.kind == SIM_FAULT_SLOW ? "slow" : f.message);
    }
    httpd_reply_json(r, 200, NULL, json_pack("{s:o}", "faults", faults_json(n)), false);
}

static void handle_state(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    struct sim_machine *m = &n->machine;
    double now = sim_engine_now(n->engine);
    sim_expire(m, now);
    json_t *runners = json_array();
    for (size_t i = 0; i < m->n_runners; i++) {
        struct sim_runner *ru = m->runners[i];
        json_t *slots = json_array();
        for (int s = 0; s < ru->parallel; s++)
            json_array_append_new(slots,
                                  json_pack("{s:b, s:I}", "busy", ru->slots[s].busy,
                                            "cached_tokens", (json_int_t)ru->slots[s].cache.n));
        json_array_append_new(
            runners,
            json_pack("{s:s, s:I, s:i, s:i, s:i, s:b, s:b, s:f, s:f, s:o}", "model", ru->model,
                      "num_ctx", (json_int_t)ru->num_ctx, "parallel", ru->parallel, "in_flight",
                      ru->in_flight, "generating", ru->generating, "loading", now < ru->ready_at,
                      "draining", ru->draining, "size_gb", ru->size_gb, "expires_in_s",
                      ru->in_flight ? -1.0 : ru->expires_at - now, "slots", slots));
    }
    struct sim_engine_stats st = sim_engine_stats(n->engine);
    /* The simulated machine as herd-node --metrics herd-sim reports it. */
    json_t *machine =
        json_pack("{s:f, s:f, s:f, s:f, s:i, s:s}", "memory_gb", m->spec.memory_gb,
                  "memory_used_gb", sim_memory_used(m), "vram_gb", m->spec.vram_gb,
                  "bandwidth_gbps", m->spec.bandwidth_gbps > 0 ? m->spec.bandwidth_gbps : 100.0,
                  "num_parallel", m->spec.num_parallel, "description",
                  m->spec.description[0] ? m->spec.description : "herd-sim machine");
    json_t *o = json_pack(
        "{s:s, s:i, s:f, s:f, s:o, s:i, s:i, s:i, s:i, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
        "s:o, s:f, s:o}",
        "node", m->spec.name, "port", n->port, "memory_gb", m->spec.memory_gb, "memory_used_gb",
        sim_memory_used(m), "runners", runners, "pending", sim_engine_pending(n->engine), "jobs",
        sim_engine_jobs(n->engine), "paused", sim_engine_paused(n->engine), "pulls",
        n->active_pulls, "stats", "requests", (json_int_t)n->requests, "loads",
        (json_int_t)st.loads, "reloads", (json_int_t)st.reloads, "evictions",
        (json_int_t)st.evictions, "completed", (json_int_t)st.completed, "rejected",
        (json_int_t)st.rejected, "cancelled", (json_int_t)st.cancelled, "faults", faults_json(n),
        "model_time", now, "machine", machine);
    httpd_reply_json(r, 200, NULL, o, false);
}

static void handle_requests(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    if (httpd_req_method(r) == HTTPD_DELETE) {
        n->log_count = 0;
        n->log_next = 0;
        httpd_reply_json(r, 200, NULL, json_pack("{s:[]}", "requests"), false);
        return;
    }
    json_t *a = json_array();
    size_t start = (n->log_next + SIM_REQUEST_LOG - n->log_count) % SIM_REQUEST_LOG;
    for (size_t i = 0; i < n->log_count; i++) {
        struct sim_logged_request *e = &n->log[(start + i) % SIM_REQUEST_LOG];
        json_error_t je;
        json_t *body = e->body && *e->body ? json_loads(e->body, 0, &je) : NULL;
        json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:o, s:f}", "method", e->method, "path",
                                           e->path, "body",
                                           body ? body : json_string(e->body ? e->body : ""),
                                           "headers", json_incref(e->headers), "at", e->at));
    }
    httpd_reply_json(r, 200, NULL, json_pack("{s:o}", "requests", a), false);
}

void sim_control_routes(struct sim_node *n)
{
    httpd_route(n->httpd, HTTPD_GET | HTTPD_POST | HTTPD_DELETE, "/_sim/fault", handle_fault, n);
    httpd_route(n->httpd, HTTPD_GET, "/_sim/state", handle_state, n);
    httpd_route(n->httpd, HTTPD_GET | HTTPD_DELETE, "/_sim/requests", handle_requests, n);
}
