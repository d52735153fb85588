/* sim_native: Ollama's native API on a simulated node. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hbuf.h"
#include "common/jsonx.h"
#include "common/keep_alive.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sim/sim_native.h"
#include "sim/sim_call.h"
#include "sim/sim_embed.h"
#include "sim/sim_server.h"

#define IMAGE_TOKENS 256

/* Models /api/pull can fetch when no registry list is given, with their sizes in GB. */
static const struct sim_registry_entry builtin_registry[] = {
    {"llama3.2:latest", 2.0},
    {"llama3.2:1b", 1.3},
    {"llama3.1:8b", 4.9},
    {"llama3.3:70b", 42.5},
    {"qwen2.5:0.5b", 0.4},
    {"qwen2.5:7b", 4.7},
    {"qwen2.5:14b", 9.0},
    {"qwen2.5:32b", 20.0},
    {"qwen2.5-coder:7b", 4.7},
    {"qwen3:8b", 5.2},
    {"qwen3:32b", 20.0},
    {"mistral:latest", 4.1},
    {"gemma3:4b", 3.3},
    {"gemma3:27b", 17.0},
    {"deepseek-r1:7b", 4.7},
    {"phi4:latest", 9.1},
    {"nomic-embed-text:latest", 0.27},
    {"all-minilm:latest", 0.046},
    {"mxbai-embed-large:latest", 0.67},
};

static void reply_text_ok(struct httpd_req *r, void *arg)
{
    (void)arg;
    httpd_reply_text(r, 200, "Ollama is running");
}

static void handle_version(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    httpd_reply_json(r, 200, NULL, json_pack("{s:s}", "version", n->machine.spec.version), false);
}

static int cmp_modified_desc(const void *a, const void *b)
{
    const struct sim_model_spec *x = *(const struct sim_model_spec *const *)a;
    const struct sim_model_spec *y = *(const struct sim_model_spec *const *)b;
    if (x->modified_at != y->modified_at)
        return x->modified_at < y->modified_at ? 1 : -1;
    return strcmp(x->name, y->name);
}

static void handle_tags(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    struct sim_machine *m = &n->machine;
    const struct sim_model_spec **sorted = calloc(m->n_models + 1, sizeof *sorted);
    for (size_t i = 0; sorted && i < m->n_models; i++)
        sorted[i] = &m->models[i];
    if (sorted)
        qsort(sorted, m->n_models, sizeof *sorted, cmp_modified_desc);
    json_t *models = json_array();
    for (size_t i = 0; sorted && i < m->n_models; i++) {
        const struct sim_model_spec *s = sorted[i];
        char ts[64];
        time_rfc3339_local(s->modified_at, ts, sizeof ts);
        json_array_append_new(models,
                              json_pack("{s:s, s:s, s:s, s:I, s:s, s:o, s:o}", "name", s->name,
                                        "model", s->name, "modified_at", ts, "size",
                                        (json_int_t)sim_gb_bytes(s->size_gb), "digest", s->digest,
                                        "details", sim_model_details_json(s), "capabilities",
                                        model_caps_to_json(s->caps)));
    }
    free(sorted);
    httpd_reply_json(r, 200, NULL, json_pack("{s:o}", "models", models), false);
}

static int cmp_runner_expiry_desc(const void *a, const void *b)
{
    const struct sim_runner *x = *(const struct sim_runner *const *)a;
    const struct sim_runner *y = *(const struct sim_runner *const *)b;
    if (x->expires_at != y->expires_at)
        return x->expires_at < y->expires_at ? 1 : -1;
    return strcmp(x->model, y->model);
}

static void handle_ps(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    struct sim_machine *m = &n->machine;
    double now = sim_engine_now(n->engine);
    sim_expire(m, now);
    struct sim_runner **sorted = calloc(m->n_runners + 1, sizeof *sorted);
    for (size_t i = 0; sorted && i < m->n_runners; i++)
        sorted[i] = m->runners[i];
    if (sorted)
        qsort(sorted, m->n_runners, sizeof *sorted, cmp_runner_expiry_desc);
    json_t *models = json_array();
    double wall_now = time_wall();
    double scale = 1; /* expiry shown in wall time, as Ollama shows it */
    for (size_t i = 0; sorted && i < m->n_runners; i++) {
        struct sim_runner *ru = sorted[i];
        struct sim_model_spec spec;
        struct sim_model_spec *disk = sim_machine_model(m, ru->model);
        if (disk)
            spec = *disk;
        else
            sim_catalog_describe(ru->model, ru->model_size_gb, &spec);
        double expires = ru->keep_alive_s < 0 ? wall_now + SIM_FOREVER_S
                         : ru->in_flight      ? wall_now + ru->keep_alive_s * scale
                                              : wall_now + (ru->expires_at - now) * scale;
        char ts[64];
        time_rfc3339_local(expires, ts, sizeof ts);
        int64_t size = sim_gb_bytes(ru->size_gb);
        double vram = m->spec.vram_gb;
        int64_t size_vram = vram < 0 ? size : (int64_t)fmin((double)size, vram * 1e9);
        json_array_append_new(models, json_pack("{s:s, s:s, s:I, s:s, s:o, s:s, s:I, s:I}", "name",
                                                ru->model, "model", ru->model, "size",
                                                (json_int_t)size, "digest", spec.digest, "details",
                                                sim_model_details_json(&spec), "expires_at", ts,
                                                "size_vram", (json_int_t)size_vram,
                                                "context_length", (json_int_t)ru->num_ctx));
    }
    free(sorted);
    httpd_reply_json(r, 200, NULL, json_pack("{s:o}", "models", models), false);
}

static const char *model_field(const json_t *body)
{
    const char *m = jsonx_str(body, "model");
    if (!m || !*m)
        m = jsonx_str(body, "name");
    return m;
}

static void handle_show(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    const char *name = model_field(body);
    char norm[SIM_NAME_MAX];
    struct sim_model_spec *s = sim_node_find_model(n, name, norm, sizeof norm);
    if (!name || !*name) {
        httpd_reply_error(r, 400, "model is required");
    } else if (!s) {
        char msg[300];
        snprintf(msg, sizeof msg, "model '%s' not found", norm[0] ? norm : name);
        httpd_reply_error(r, 404, msg);
    } else {
        char key[64], ts[64];
        time_rfc3339_local(s->modified_at, ts, sizeof ts);
        json_t *info = json_object();
        json_object_set_new(info, "general.architecture", json_string(s->family));
        json_object_set_new(info, "general.parameter_count",
                            json_integer((json_int_t)(s->size_gb / 0.6 * 1e9)));
        snprintf(key, sizeof key, "%s.context_length", s->family);
        json_object_set_new(info, key, json_integer((json_int_t)s->context_length));
        snprintf(key, sizeof key, "%s.embedding_length", s->family);
        json_object_set_new(info, key, json_integer(s->embedding_length));
        char modelfile[512];
        snprintf(modelfile, sizeof modelfile,
                 "# Modelfile generated by \"ollama show\"\nFROM %s\nTEMPLATE {{ .Prompt }}\n",
                 s->name);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "license",
                              "simulated model, no licence", "modelfile", modelfile, "parameters",
                              "stop \"<|end|>\"", "template", "{{ .Prompt }}", "details",
                              sim_model_details_json(s), "model_info", info, "capabilities",
                              model_caps_to_json(s->caps), "modified_at", ts);
        httpd_reply_json(r, 200, NULL, o, false);
    }
    json_decref(body);
}

static void handle_delete(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    const char *name = model_field(body);
    char norm[SIM_NAME_MAX];
    struct sim_fault f;
    if (!name || !*name) {
        httpd_reply_error(r, 400, "model is required");
    } else if (model_name_normalize(name, norm, sizeof norm) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "name \"%s\" is invalid", name);
        httpd_reply_error(r, 400, msg);
    } else if (sim_faults_take(&n->faults, norm, "/api/delete", &f) && f.kind == SIM_FAULT_FAIL) {
        httpd_reply_error(r, f.status, f.message);
    } else if (sim_machine_remove_model(&n->machine, norm) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "model '%s' not found", name);
        httpd_reply_error(r, 404, msg);
    } else {
        LOG_INFO("node %s: deleted %s", n->machine.spec.name, norm);
        httpd_reply(r, 200, NULL, NULL, 0);
    }
    json_decref(body);
}

/* ---- pull ---- */

struct pull {
    struct sim_node *node;
    struct httpd_req *req;
    struct event *timer;
    struct sim_model_spec spec;
    bool stream;
    bool found;
    bool already;
    int step;       /* 0 manifest, 1 progress, 2 verifying, 3 writing, 4 success */
    double total_s; /* model seconds to download */
    double started; /* model time */
    double tick_s;
};

static void pull_free(struct pull *p)
{
    if (p->timer)
        event_free(p->timer);
    p->node->active_pulls--;
    free(p);
}

static void pull_line(struct pull *p, json_t *o)
{
    if (!p->stream) {
        json_decref(o);
        return;
    }
    struct hbuf b;
    hbuf_init(&b, 4096);
    jsonx_dump_append(o, &b);
    hbuf_append(&b, "\n", 1);
    json_decref(o);
    httpd_stream_write(p->req, b.data, b.len);
    hbuf_free(&b);
}

static void pull_progress(struct pull *p, int64_t total, int64_t completed)
{
    char status[64], digest[80];
    snprintf(status, sizeof status, "pulling %.12s", p->spec.digest);
    snprintf(digest, sizeof digest, "sha256:%s", p->spec.digest);
    json_t *o = json_pack("{s:s, s:s, s:I}", "status", status, "digest", digest, "total",
                          (json_int_t)total);
    if (completed > 0)
        json_object_set_new(o, "completed", json_integer((json_int_t)completed));
    pull_line(p, o);
}

static void pull_step(evutil_socket_t fd, short what, void *arg);

static void pull_schedule(struct pull *p, double model_s, double time_scale)
{
    double real = model_s * time_scale;
    struct timeval tv = time_tv(real);
    evtimer_add(p->timer, &tv);
}

static void pull_client_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct pull *p = arg;
    LOG_INFO("node %s: pull of %s cancelled by the client", p->node->machine.spec.name,
             p->spec.name);
    pull_free(p);
}

static double node_time_scale(const struct sim_node *n);

static void pull_step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pull *p = arg;
    struct sim_node *n = p->node;
    double ts = node_time_scale(n);
    int64_t total = sim_gb_bytes(p->spec.size_gb);
    switch (p->step) {
    case 0:
        pull_line(p, json_pack("{s:s}", "status", "pulling manifest"));
        if (!p->found) {
            httpd_req_on_close(p->req, NULL, NULL);
            if (p->stream) {
                pull_line(p,
                          json_pack("{s:s}", "error", "pull model manifest: file does not exist"));
                httpd_stream_end(p->req);
            } else {
                httpd_reply_error(p->req, 500, "pull model manifest: file does not exist");
            }
            pull_free(p);
            return;
        }
        p->step = 1;
        p->started = sim_engine_now(n->engine);
        if (p->already) {
            pull_progress(p, total, total);
            p->step = 2;
        }
        pull_schedule(p, p->already ? 0 : p->tick_s, ts);
        return;
    case 1: {
        double done = (sim_engine_now(n->engine) - p->started) / p->total_s;
        if (done >= 1) {
            pull_progress(p, total, total);
            p->step = 2;
            pull_schedule(p, 0, ts);
        } else {
            pull_progress(p, total, (int64_t)((double)total * done));
            pull_schedule(p, p->tick_s, ts);
        }
        return;
    }
    case 2:
        pull_line(p, json_pack("{s:s}", "status", "verifying sha256 digest"));
        pull_line(p, json_pack("{s:s}", "status", "writing manifest"));
        p->spec.modified_at = time_wall();
        sim_machine_add_model(&n->machine, &p->spec);
        LOG_INFO("node %s: pulled %s (%.1f GB)", n->machine.spec.name, p->spec.name,
                 p->spec.size_gb);
        httpd_req_on_close(p->req, NULL, NULL);
        if (p->stream) {
            pull_line(p, json_pack("{s:s}", "status", "success"));
            httpd_stream_end(p->req);
        } else {
            httpd_reply_json(p->req, 200, NULL, json_pack("{s:s}", "status", "success"), false);
        }
        pull_free(p);
        return;
    }
}

static const struct sim_registry_entry *registry_find(const struct sim_node *n, const char *norm)
{
    for (size_t i = 0; i < n->n_registry; i++)
        if (strcmp(n->registry[i].name, norm) == 0)
            return &n->registry[i];
    for (size_t i = 0; i < sizeof builtin_registry / sizeof builtin_registry[0]; i++)
        if (strcmp(builtin_registry[i].name, norm) == 0)
            return &builtin_registry[i];
    return NULL;
}

static void handle_pull(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    const char *name = model_field(body);
    char norm[SIM_NAME_MAX];
    if (!name || !*name || model_name_normalize(name, norm, sizeof norm) != 0) {
        json_decref(body);
        httpd_reply_error(r, 400, name && *name ? "invalid model name" : "model is required");
        return;
    }
    struct sim_fault f;
    if (sim_faults_take(&n->faults, norm, "/api/pull", &f) && f.kind == SIM_FAULT_FAIL) {
        json_decref(body);
        httpd_reply_error(r, f.status, f.message);
        return;
    }
    struct pull *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(body);
        httpd_reply_error(r, 500, "out of memory");
        return;
    }
    p->node = n;
    p->req = r;
    p->stream = jsonx_bool_or(body, "stream", true);
    json_decref(body);
    n->active_pulls++;
    p->timer = evtimer_new(n->base, pull_step, p);
    struct sim_model_spec *have = sim_machine_model(&n->machine, norm);
    const struct sim_registry_entry *reg = registry_find(n, norm);
    if (have) {
        p->spec = *have;
        p->found = p->already = true;
    } else if (reg) {
        sim_catalog_describe(reg->name, reg->size_gb, &p->spec);
        p->found = true;
    } else {
        snprintf(p->spec.name, sizeof p->spec.name, "%s", norm);
    }
    double gbps = n->machine.spec.pull_gbps > 0 ? n->machine.spec.pull_gbps : 0.1;
    p->total_s = p->spec.size_gb / gbps * sim_faults_slowdown(&n->faults);
    if (p->total_s <= 0)
        p->total_s = 0.01;
    /* About every 60 ms like Ollama, but at most 200 progress lines. */
    p->tick_s = fmax(0.06, p->total_s / 200);
    httpd_req_on_close(r, pull_client_gone, p);
    if (p->stream)
        httpd_stream_start(r, 200, "application/x-ndjson");
    pull_schedule(p, 0, node_time_scale(n));
}

/* ---- inference ---- */

static double node_time_scale(const struct sim_node *n)
{
    return sim_engine_time_scale(n->engine);
}

/* Checks an integer option; Ollama answers 500 for a wrong type. */
static int int_option(const json_t *options, const char *key, int64_t *out, char *err,
                      size_t errlen)
{
    int rc = jsonx_int(options, key, out);
    if (rc == -EINVAL) {
        snprintf(err, errlen, "option \"%s\" must be of type integer", key);
        return 500;
    }
    return 0;
}

static int float_option(const json_t *options, const char *key, char *err, size_t errlen)
{
    const json_t *v = json_object_get(options, key);
    if (v && !json_is_number(v) && !json_is_null(v)) {
        snprintf(err, errlen, "option \"%s\" must be of type float", key);
        return 500;
    }
    return 0;
}

/* Appends a message's text and images to the prompt rendering. */
static int render_message(const json_t *msg, struct hbuf *text, struct sim_tokens *images,
                          char *err, size_t errlen)
{
    if (!json_is_object(msg)) {
        snprintf(err, errlen, "each message must be an object");
        return 400;
    }
    const char *role = jsonx_str_or(msg, "role", "user");
    const json_t *content = json_object_get(msg, "content");
    if (content && !json_is_string(content) && !json_is_null(content)) {
        snprintf(err, errlen, "message content must be a string");
        return 400;
    }
    hbuf_printf(text, "<|%s|>\n%s", role,
                json_is_string(content) ? json_string_value(content) : "");
    const char *thinking = jsonx_str(msg, "thinking");
    if (thinking)
        hbuf_append_str(text, thinking);
    const json_t *calls = json_object_get(msg, "tool_calls");
    if (json_is_array(calls) && json_array_size(calls)) {
        char *s = json_dumps(calls, JSON_COMPACT);
        if (s)
            hbuf_append_str(text, s);
        free(s);
    }
    hbuf_append(text, "\n", 1);
    const json_t *imgs = json_object_get(msg, "images");
    size_t i;
    const json_t *img;
    json_array_foreach (imgs, i, img) {
        if (json_is_string(img))
            sim_tokens_append_blob(images, json_string_value(img), json_string_length(img),
                                   IMAGE_TOKENS);
    }
    return 0;
}

static bool is_chat_api(enum sim_call_api api)
{
    return api == SIM_API_CHAT || api == SIM_API_OAI_CHAT;
}

/* Validates a native chat or generate body (OpenAI requests arrive here translated) and
 * prepares the call's reply and the job: model, capabilities, options, keep_alive, prompt
 * tokens. Returns 0, or an HTTP status with a message in err. */
static int prepare_job(struct sim_call *c, const json_t *body, struct sim_job_params *p, char *err,
                       size_t errlen)
{
    struct sim_node *n = c->node;
    bool chat = is_chat_api(c->api);
    const char *name = jsonx_str(body, "model");
    if (!name || !*name) {
        if (chat) {
            snprintf(err, errlen, "model is required");
            return 400;
        }
        snprintf(err, errlen, "model '' not found");
        return 404;
    }
    snprintf(c->model_echo, sizeof c->model_echo, "%s", name);
    char norm[SIM_NAME_MAX];
    struct sim_model_spec *spec = sim_node_find_model(n, name, norm, sizeof norm);
    if (!spec) {
        snprintf(err, errlen, "model '%s' not found", name);
        return 404;
    }
    if (!(spec->caps & MCAP_COMPLETION)) {
        snprintf(err, errlen, "\"%s\" does not support %s", name, chat ? "chat" : "generate");
        return 400;
    }
    /* think: true, false, or an effort level */
    const json_t *think = json_object_get(body, "think");
    bool thinking = (spec->caps & MCAP_THINKING) != 0;
    if (json_is_string(think)) {
        const char *t = json_string_value(think);
        if (strcmp(t, "low") && strcmp(t, "medium") && strcmp(t, "high") && strcmp(t, "max")) {
            snprintf(err, errlen,
                     "invalid think value: \"%s\" (must be \"high\", \"medium\", \"low\", "
                     "\"max\", true, or false)",
                     t);
            return 400;
        }
    }
    if ((json_is_true(think) || json_is_string(think)) && !thinking) {
        snprintf(err, errlen, "\"%s\" does not support thinking", name);
        return 400;
    }
    if (json_is_false(think))
        thinking = false;
    const json_t *tools = json_object_get(body, "tools");
    bool has_tools = json_is_array(tools) && json_array_size(tools) > 0;
    if (has_tools && !(spec->caps & MCAP_TOOLS)) {
        snprintf(err, errlen, "registry.ollama.ai/library/%s does not support tools", norm);
        return 400;
    }
    const json_t *options = json_object_get(body, "options");
    if (options && !json_is_object(options) && !json_is_null(options)) {
        snprintf(err, errlen, "options must be an object");
        return 400;
    }
    int64_t num_ctx = 0, num_predict = -1, seed = -1;
    int rc = int_option(options, "num_ctx", &num_ctx, err, errlen);
    if (!rc)
        rc = int_option(options, "num_predict", &num_predict, err, errlen);
    if (!rc)
        rc = int_option(options, "seed", &seed, err, errlen);
    if (!rc)
        rc = float_option(options, "temperature", err, errlen);
    if (!rc)
        rc = float_option(options, "top_p", err, errlen);
    if (rc)
        return rc;
    const json_t *ka = json_object_get(body, "keep_alive");
    if (ka && !json_is_null(ka)) {
        if (keep_alive_parse(ka, &p->keep_alive_s, err, errlen))
            return 400;
        p->has_keep_alive = true;
    }
    c->stream = jsonx_bool_or(body, "stream",
                              !(c->api == SIM_API_OAI_CHAT || c->api == SIM_API_OAI_COMPLETION));
    const json_t *format = json_object_get(body, "format");
    if (format && !(json_is_string(format) || json_is_object(format) || json_is_null(format))) {
        snprintf(err, errlen, "invalid format: expected \"json\" or a JSON schema");
        return 400;
    }
    if (json_is_null(format) || (json_is_string(format) && !*json_string_value(format)))
        format = NULL;

    /* The prompt as the model would see it. */
    struct hbuf text;
    hbuf_init(&text, 64 * 1024 * 1024);
    struct sim_tokens images;
    sim_tokens_init(&images);
    bool empty;
    const char *last_role = "user";
    if (chat) {
        const json_t *msgs = json_object_get(body, "messages");
        if (msgs && !json_is_array(msgs) && !json_is_null(msgs)) {
            hbuf_free(&text);
            snprintf(err, errlen, "messages must be an array");
            return 400;
        }
        if (has_tools) {
            char *s = json_dumps(tools, JSON_COMPACT);
            if (s)
                hbuf_printf(&text, "<|tools|>\n%s\n", s);
            free(s);
        }
        size_t i;
        const json_t *msg;
        json_array_foreach (msgs, i, msg) {
            rc = render_message(msg, &text, &images, err, errlen);
            if (rc) {
                hbuf_free(&text);
                sim_tokens_free(&images);
                return rc;
            }
            last_role = jsonx_str_or(msg, "role", "user");
        }
        empty = json_array_size(msgs) == 0;
        if (!empty)
            hbuf_append_str(&text, "<|assistant|>\n");
    } else {
        const char *prompt = jsonx_str_or(body, "prompt", "");
        const char *system = jsonx_str(body, "system");
        const char *suffix = jsonx_str(body, "suffix");
        if (suffix && *suffix && !(spec->caps & MCAP_INSERT)) {
            hbuf_free(&text);
            snprintf(err, errlen, "registry.ollama.ai/library/%s does not support insert", norm);
            return 400;
        }
        bool raw = jsonx_bool_or(body, "raw", false);
        if (raw &&
            (system || json_object_get(body, "template") || json_object_get(body, "context"))) {
            hbuf_free(&text);
            snprintf(err, errlen, "raw mode does not support template, system, or context");
            return 400;
        }
        if (system && !raw)
            hbuf_printf(&text, "<|system|>\n%s\n", system);
        hbuf_append_str(&text, prompt);
        if (suffix)
            hbuf_append_str(&text, suffix);
        const json_t *imgs = json_object_get(body, "images");
        size_t i;
        const json_t *img;
        json_array_foreach (imgs, i, img) {
            if (json_is_string(img))
                sim_tokens_append_blob(&images, json_string_value(img), json_string_length(img),
                                       IMAGE_TOKENS);
        }
        empty = *prompt == '\0';
        if (!raw)
            c->context = json_array();
    }
    p->model = *spec;
    p->num_ctx = num_ctx;
    if (empty) {
        /* Load only, or unload with keep_alive 0. */
        p->kind = SIM_JOB_LOAD;
        c->stream = false;
        c->load_only = true;
        hbuf_free(&text);
        sim_tokens_free(&images);
        json_decref(c->context);
        c->context = NULL;
        return 0;
    }
    p->kind = SIM_JOB_GENERATE;
    sim_tokenize_append(&p->prompt, text.data ? text.data : "", text.len);
    if (images.n) {
        uint32_t *ids = realloc(p->prompt.ids, (p->prompt.n + images.n) * sizeof *ids);
        if (ids) {
            memcpy(ids + p->prompt.n, images.ids, images.n * sizeof *ids);
            p->prompt.ids = ids;
            p->prompt.n += images.n;
            p->prompt.cap = p->prompt.n;
        }
    }
    sim_tokens_free(&images);

    /* The reply: deterministic for the request's seed, or for its prompt. */
    uint64_t rng_seed = seed >= 0 ? (uint64_t)seed * 2654435761ULL
                                  : sim_hash(SIM_HASH_INIT, text.data ? text.data : "", text.len);
    rng_seed ^= n->seed;
    hbuf_free(&text);
    struct sim_rng rng;
    sim_rng_seed(&rng, rng_seed);
    int span = n->max_tokens - n->min_tokens + 1;
    int natural = n->min_tokens + (int)(sim_rng_next(&rng) % (uint64_t)(span > 0 ? span : 1));
    int n_thinking = thinking ? (natural / 2 > 0 ? natural / 2 : 1) : 0;
    if (num_predict > 0 && num_predict < natural + n_thinking) {
        c->done_reason = "length";
        if (num_predict <= n_thinking) {
            n_thinking = (int)num_predict;
            natural = 0;
        } else {
            natural = (int)num_predict - n_thinking;
        }
    }
    const json_t *tool = NULL;
    if (has_tools && strcmp(last_role, "user") == 0)
        tool = json_array_get(tools, (size_t)(rng_seed % json_array_size(tools)));
    sim_call_plan(c, rng_seed, natural, n_thinking, tool, tool ? NULL : format);
    p->n_tokens = c->n_pieces;

    /* What the slot caches after the prompt: the reply as the next turn will show it. */
    struct hbuf out;
    hbuf_init(&out, 64 * 1024 * 1024);
    size_t reply_len;
    const char *reply = sim_call_text(c, c->n_thinking, c->n_pieces, &reply_len);
    hbuf_append(&out, reply, reply_len);
    if (c->tool_calls) {
        char *s = json_dumps(c->tool_calls, JSON_COMPACT);
        if (s)
            hbuf_append_str(&out, s);
        free(s);
    }
    hbuf_append(&out, "\n", 1);
    sim_tokenize_append(&p->output, out.data, out.len);
    hbuf_free(&out);
    if (c->context) {
        for (size_t i = 0; i < p->prompt.n; i++)
            json_array_append_new(c->context, json_integer(p->prompt.ids[i] % 128000));
        for (size_t i = 0; i < p->output.n; i++)
            json_array_append_new(c->context, json_integer(p->output.ids[i] % 128000));
    }
    return 0;
}

/* What a chat or generate request turns out to be. */
enum native_plan {
    NATIVE_GENERATE, /* a job that generates */
    NATIVE_LOAD,     /* an empty prompt: load the model (or unload it with keep_alive 0) */
    NATIVE_REFUSED,  /* invalid: *status and err say why */
};

static enum native_plan native_prepare(struct sim_call *c, const json_t *body,
                                       struct sim_job_params *p, int *status, char *err,
                                       size_t errlen)
{
    *status = prepare_job(c, body, p, err, errlen);
    if (*status)
        return NATIVE_REFUSED;
    return p->kind == SIM_JOB_LOAD ? NATIVE_LOAD : NATIVE_GENERATE;
}

static void reply_unload(struct sim_call *c)
{
    char ts[64];
    time_rfc3339_utc(time_wall(), ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s}", "model", c->model_echo, "created_at", ts);
    if (is_chat_api(c->api))
        json_object_set_new(o, "message",
                            json_pack("{s:s, s:s}", "role", "assistant", "content", ""));
    else
        json_object_set_new(o, "response", json_string(""));
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string("unload"));
    httpd_reply_json(c->req, 200, NULL, o, false);
    c->req = NULL;
    sim_call_free(c);
}

void sim_generate_request(struct sim_node *n, struct httpd_req *r, enum sim_call_api api,
                          json_t *body)
{
    struct sim_call *c = sim_call_new(n, r, api);
    if (!c) {
        json_decref(body);
        httpd_reply_error(r, 500, "out of memory");
        return;
    }
    struct sim_job_params p;
    memset(&p, 0, sizeof p);
    sim_tokens_init(&p.prompt);
    sim_tokens_init(&p.output);
    char err[512];
    int status = 0;
    enum native_plan plan = native_prepare(c, body, &p, &status, err, sizeof err);
    if (plan != NATIVE_REFUSED && (api == SIM_API_OAI_CHAT || api == SIM_API_OAI_COMPLETION)) {
        const json_t *so = json_object_get(body, "stream_options");
        c->include_usage = jsonx_bool_or(so, "include_usage", false);
    }
    json_decref(body);
    if (plan == NATIVE_REFUSED) {
        sim_tokens_free(&p.prompt);
        sim_tokens_free(&p.output);
        sim_call_fail(c, status, err);
        return;
    }
    if (plan == NATIVE_LOAD && p.has_keep_alive && p.keep_alive_s == 0) {
        sim_engine_unload(n->engine, p.model.name);
        reply_unload(c);
        return;
    }
    sim_call_run(c, &p);
}

/* /api/chat and /api/generate. */
static void handle_generating(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    bool chat = strcmp(httpd_req_path(r), "/api/chat") == 0;
    json_t *body = sim_read_body(r); /* replies and frees r on failure */
    if (body)
        sim_generate_request(n, r, chat ? SIM_API_CHAT : SIM_API_GENERATE, body);
}

static void handle_embed(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    bool legacy = strcmp(httpd_req_path(r), "/api/embeddings") == 0;
    struct sim_embed_request er;
    memset(&er, 0, sizeof er);
    er.api = legacy ? SIM_EMBED_LEGACY : SIM_EMBED_NATIVE;
    char err[300];
    int rc = 0;
    const char *name = jsonx_str(body, "model");
    char norm[SIM_NAME_MAX];
    struct sim_model_spec *spec = sim_node_find_model(n, name, norm, sizeof norm);
    if (!name || !*name) {
        rc = 400;
        snprintf(err, sizeof err, "model is required");
    } else if (!spec) {
        rc = 404;
        snprintf(err, sizeof err, "model \"%s\" not found, try pulling it first", name);
    }
    if (!rc) {
        snprintf(er.model_echo, sizeof er.model_echo, "%s", name);
        er.model = *spec;
        json_t *input = json_object_get(body, legacy ? "prompt" : "input");
        er.inputs = json_array();
        if (json_is_string(input)) {
            if (json_string_length(input) > 0)
                json_array_append(er.inputs, input);
        } else if (json_is_array(input)) {
            size_t i;
            json_t *s;
            json_array_foreach (input, i, s) {
                if (!json_is_string(s)) {
                    rc = 400;
                    snprintf(err, sizeof err, "invalid input type");
                    break;
                }
                json_array_append(er.inputs, s);
            }
        } else if (input && !json_is_null(input)) {
            rc = 400;
            snprintf(err, sizeof err, "invalid input type");
        }
    }
    int64_t v;
    if (!rc && jsonx_int(body, "dimensions", &v) == 0)
        er.dimensions = (int)v;
    if (!rc)
        er.truncate = jsonx_bool_or(body, "truncate", true);
    const json_t *ka = json_object_get(body, "keep_alive");
    if (!rc && ka && !json_is_null(ka)) {
        if (keep_alive_parse(ka, &er.keep_alive_s, err, sizeof err))
            rc = 400;
        else
            er.has_keep_alive = true;
    }
    if (!rc)
        rc = int_option(json_object_get(body, "options"), "num_ctx", &er.num_ctx, err, sizeof err);
    json_decref(body);
    if (rc) {
        json_decref(er.inputs);
        httpd_reply_error(r, rc, err);
        return;
    }
    sim_embed_run(n, r, &er);
}

void sim_native_routes(struct sim_node *n)
{
    struct httpd *h = n->httpd;
    httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/", reply_text_ok, n);
    httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/api/version", handle_version, n);
    httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/api/tags", handle_tags, n);
    httpd_route(h, HTTPD_GET, "/api/ps", handle_ps, n);
    httpd_route(h, HTTPD_POST, "/api/show", handle_show, n);
    httpd_route(h, HTTPD_POST, "/api/pull", handle_pull, n);
    httpd_route(h, HTTPD_DELETE, "/api/delete", handle_delete, n);
    httpd_route(h, HTTPD_POST, "/api/chat", handle_generating, n);
    httpd_route(h, HTTPD_POST, "/api/generate", handle_generating, n);
    httpd_route(h, HTTPD_POST, "/api/embed", handle_embed, n);
    httpd_route(h, HTTPD_POST, "/api/embeddings", handle_embed, n);
}
