/* sim_openai: the OpenAI-compatible API of a simulated node. Like Ollama, it translates each
 * request into a native one and the native reply back into OpenAI's shape. */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "sim/sim_openai.h"
#include "sim/sim_call.h"
#include "sim/sim_embed.h"
#include "sim/sim_native.h"

/* Sampling fields shared by chat and completions, into native options. */
static void copy_options(json_t *body, json_t *options)
{
    json_t *v;
    if ((v = json_object_get(body, "max_tokens")) && json_is_integer(v))
        json_object_set(options, "num_predict", v);
    if ((v = json_object_get(body, "seed")) && json_is_integer(v))
        json_object_set(options, "seed", v);
    if ((v = json_object_get(body, "stop")) && !json_is_null(v)) {
        if (json_is_string(v))
            json_object_set_new(options, "stop", json_pack("[O]", v));
        else
            json_object_set(options, "stop", v);
    }
    static const char *const passthrough[] = {"frequency_penalty", "presence_penalty"};
    for (size_t i = 0; i < 2; i++)
        if ((v = json_object_get(body, passthrough[i])) && json_is_number(v))
            json_object_set(options, passthrough[i], v);
    v = json_object_get(body, "temperature");
    json_object_set_new(options, "temperature",
                        json_is_number(v) ? json_deep_copy(v) : json_real(1.0));
    v = json_object_get(body, "top_p");
    json_object_set_new(options, "top_p",
                        json_is_number(v) && json_number_value(v) != 0 ? json_deep_copy(v)
                                                                       : json_real(1.0));
}

/* Converts one OpenAI message to Ollama's shape. Returns NULL with err set on bad input. */
static json_t *convert_message(json_t *m, json_t *all, char *err, size_t errlen)
{
    if (!json_is_object(m)) {
        snprintf(err, errlen, "each message must be an object");
        return NULL;
    }
    const char *role = jsonx_str_or(m, "role", "user");
    json_t *out = json_pack("{s:s}", "role", role);
    json_t *content = json_object_get(m, "content");
    json_t *images = json_array();
    if (json_is_string(content)) {
        json_object_set(out, "content", content);
    } else if (json_is_array(content)) {
        struct hbuf text;
        hbuf_init(&text, 64 * 1024 * 1024);
        size_t i;
        json_t *part;
        json_array_foreach (content, i, part) {
            const char *type = jsonx_str_or(part, "type", "");
            if (strcmp(type, "text") == 0) {
                hbuf_append_str(&text, jsonx_str_or(part, "text", ""));
            } else if (strcmp(type, "image_url") == 0) {
                json_t *iu = json_object_get(part, "image_url");
                const char *url = json_is_string(iu) ? json_string_value(iu) : jsonx_str(iu, "url");
                if (!url || strncmp(url, "data:", 5) != 0) {
                    snprintf(err, errlen,
                             "image URLs are not currently supported, please use "
                             "base64 encoded data instead");
                    hbuf_free(&text);
                    json_decref(images);
                    json_decref(out);
                    return NULL;
                }
                const char *comma = strchr(url, ',');
                json_array_append_new(images, json_string(comma ? comma + 1 : ""));
            }
        }
        json_object_set_new(out, "content", json_string(text.data ? text.data : ""));
        hbuf_free(&text);
    } else {
        json_object_set_new(out, "content", json_string(""));
    }
    if (json_array_size(images))
        json_object_set(out, "images", images);
    json_decref(images);
    json_t *calls = json_object_get(m, "tool_calls");
    if (json_is_array(calls)) {
        json_t *native = json_array();
        size_t i;
        json_t *tc;
        json_array_foreach (calls, i, tc) {
            json_t *fn = json_object_get(tc, "function");
            const char *args = jsonx_str_or(fn, "arguments", "{}");
            json_error_t je;
            json_t *parsed = json_loads(args, JSON_DECODE_ANY, &je);
            if (!parsed) {
                snprintf(err, errlen, "invalid tool call arguments");
                json_decref(native);
                json_decref(out);
                return NULL;
            }
            json_array_append_new(native, json_pack("{s:s, s:{s:i, s:s, s:o}}", "id",
                                                    jsonx_str_or(tc, "id", ""), "function", "index",
                                                    (int)i, "name", jsonx_str_or(fn, "name", ""),
                                                    "arguments", parsed));
        }
        json_object_set_new(out, "tool_calls", native);
    }
    /* A tool result names its call; Ollama wants the tool's name. */
    const char *call_id = jsonx_str(m, "tool_call_id");
    if (call_id) {
        json_object_set_new(out, "tool_call_id", json_string(call_id));
        size_t i, k;
        json_t *prev, *tc;
        json_array_foreach (all, i, prev) {
            json_array_foreach (json_object_get(prev, "tool_calls"), k, tc) {
                if (strcmp(jsonx_str_or(tc, "id", ""), call_id) == 0)
                    json_object_set_new(
                        out, "tool_name",
                        json_string(jsonx_str_or(json_object_get(tc, "function"), "name", "")));
            }
        }
    }
    return out;
}

static void handle_chat(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    char err[300];
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        json_decref(body);
        httpd_reply_error(r, 400, "[] is too short - 'messages'");
        return;
    }
    json_t *native = json_object();
    if (json_object_get(body, "model"))
        json_object_set(native, "model", json_object_get(body, "model"));
    json_t *out_msgs = json_array();
    size_t i;
    json_t *m;
    json_array_foreach (msgs, i, m) {
        json_t *c = convert_message(m, msgs, err, sizeof err);
        if (!c) {
            json_decref(out_msgs);
            json_decref(native);
            json_decref(body);
            httpd_reply_error(r, 400, err);
            return;
        }
        json_array_append_new(out_msgs, c);
    }
    json_object_set_new(native, "messages", out_msgs);
    json_object_set_new(native, "stream", json_boolean(jsonx_bool_or(body, "stream", false)));
    json_t *options = json_object();
    copy_options(body, options);
    json_object_set_new(native, "options", options);
    json_t *tools = json_object_get(body, "tools");
    if (json_is_array(tools))
        json_object_set(native, "tools", tools);
    json_t *rf = json_object_get(body, "response_format");
    const char *rft = jsonx_str(rf, "type");
    if (rft && strcmp(rft, "json_object") == 0)
        json_object_set_new(native, "format", json_string("json"));
    else if (rft && strcmp(rft, "json_schema") == 0)
        json_object_set(native, "format",
                        json_object_get(json_object_get(rf, "json_schema"), "schema"));
    const char *effort = jsonx_str(body, "reasoning_effort");
    if (!effort)
        effort = jsonx_str(json_object_get(body, "reasoning"), "effort");
    if (effort) {
        if (strcmp(effort, "none") == 0)
            json_object_set_new(native, "think", json_false());
        else if (strcmp(effort, "minimal") == 0)
            json_object_set_new(native, "think", json_string("low"));
        else if (!strcmp(effort, "low") || !strcmp(effort, "medium") || !strcmp(effort, "high") ||
                 !strcmp(effort, "max"))
            json_object_set_new(native, "think", json_string(effort));
        else if (!strcmp(effort, "xhigh") || !strcmp(effort, "ultra"))
            json_object_set_new(native, "think", json_string("max"));
        else {
            snprintf(err, sizeof err, "invalid reasoning value: '%s'", effort);
            json_decref(native);
            json_decref(body);
            httpd_reply_error(r, 400, err);
            return;
        }
    }
    json_t *so = json_object_get(body, "stream_options");
    if (so)
        json_object_set(native, "stream_options", so);
    json_decref(body);
    sim_generate_request(n, r, SIM_API_OAI_CHAT, native);
}

static void handle_completions(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    json_t *prompt = json_object_get(body, "prompt");
    if (!json_is_string(prompt)) {
        json_decref(body);
        httpd_reply_error(r, 400, "prompt must be a string");
        return;
    }
    json_t *native = json_pack("{s:O}", "prompt", prompt);
    if (json_object_get(body, "model"))
        json_object_set(native, "model", json_object_get(body, "model"));
    json_object_set_new(native, "stream", json_boolean(jsonx_bool_or(body, "stream", false)));
    json_t *options = json_object();
    copy_options(body, options);
    json_object_set_new(native, "options", options);
    json_t *suffix = json_object_get(body, "suffix");
    if (json_is_string(suffix))
        json_object_set(native, "suffix", suffix);
    json_t *so = json_object_get(body, "stream_options");
    if (so)
        json_object_set(native, "stream_options", so);
    json_decref(body);
    sim_generate_request(n, r, SIM_API_OAI_COMPLETION, native);
}

static json_t *model_object(const struct sim_model_spec *s, const char *id)
{
    const char *slash = strchr(s->name, '/');
    char owner[SIM_NAME_MAX] = "library";
    if (slash)
        snprintf(owner, sizeof owner, "%.*s", (int)(slash - s->name), s->name);
    return json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                     (json_int_t)s->modified_at, "owned_by", owner);
}

static void handle_models(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    struct sim_machine *m = &n->machine;
    if (m->n_models == 0) {
        httpd_reply_json(r, 200, "application/json",
                         json_pack("{s:s, s:n}", "object", "list", "data"), true);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < m->n_models; i++)
        json_array_append_new(data, model_object(&m->models[i], m->models[i].name));
    httpd_reply_json(r, 200, "application/json",
                     json_pack("{s:s, s:o}", "object", "list", "data", data), true);
}

static void handle_model(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    const char *raw = httpd_req_path(r) + strlen("/v1/models/");
    char *id = evhttp_uridecode(raw, 0, NULL);
    char norm[SIM_NAME_MAX];
    struct sim_model_spec *s = sim_node_find_model(n, id, norm, sizeof norm);
    if (!s) {
        char msg[400];
        snprintf(msg, sizeof msg, "model '%s' not found", norm[0] ? norm : id ? id : "");
        free(id);
        httpd_reply_error(r, 404, msg);
        return;
    }
    httpd_reply_json(r, 200, "application/json", model_object(s, id), true);
    free(id);
}

static void handle_embeddings(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    struct sim_embed_request er;
    memset(&er, 0, sizeof er);
    er.api = SIM_EMBED_OPENAI;
    er.truncate = true;
    char err[300] = "";
    int rc = 0;
    const char *name = jsonx_str(body, "model");
    char norm[SIM_NAME_MAX];
    struct sim_model_spec *spec = sim_node_find_model(n, name, norm, sizeof norm);
    json_t *input = json_object_get(body, "input");
    const char *enc = jsonx_str_or(body, "encoding_format", "float");
    if (!name || !*name) {
        rc = 400;
        snprintf(err, sizeof err, "model is required");
    } else if (strcmp(enc, "float") != 0 && strcmp(enc, "base64") != 0) {
        rc = 400;
        snprintf(err, sizeof err,
                 "Invalid value for 'encoding_format' = %s. Supported values: ['float', "
                 "'base64'].",
                 enc);
    } else if (!spec) {
        rc = 404;
        snprintf(err, sizeof err, "model \"%s\" not found, try pulling it first", name);
    } else if (json_is_string(input)) {
        er.inputs = json_pack("[O]", input);
    } else if (json_is_array(input) && json_array_size(input) > 0) {
        er.inputs = json_array();
        size_t i;
        json_t *s;
        json_array_foreach (input, i, s) {
            if (!json_is_string(s)) {
                rc = 400;
                snprintf(err, sizeof err, "invalid input");
                break;
            }
            json_array_append(er.inputs, s);
        }
    } else {
        rc = 400;
        snprintf(err, sizeof err, "invalid input");
    }
    if (!rc) {
        snprintf(er.model_echo, sizeof er.model_echo, "%s", name);
        er.model = *spec;
        er.base64 = strcmp(enc, "base64") == 0;
        int64_t d;
        if (jsonx_int(body, "dimensions", &d) == 0)
            er.dimensions = (int)d;
    }
    json_decref(body);
    if (rc) {
        json_decref(er.inputs);
        httpd_reply_error(r, rc, err);
        return;
    }
    sim_embed_run(n, r, &er);
}

void sim_openai_routes(struct sim_node *n)
{
    struct httpd *h = n->httpd;
    httpd_route(h, HTTPD_POST, "/v1/chat/completions", handle_chat, n);
    httpd_route(h, HTTPD_POST, "/v1/completions", handle_completions, n);
    httpd_route(h, HTTPD_POST, "/v1/embeddings", handle_embeddings, n);
    httpd_route(h, HTTPD_GET, "/v1/models", handle_models, n);
    httpd_route(h, HTTPD_GET, "/v1/models/*", handle_model, n);
}
