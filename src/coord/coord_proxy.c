/* coord_proxy: the inference API's endpoints. Each request is read once (model, fallback
 * chain, what it needs, its size, tags, the headers for the node) and handed to fwd, which
 * routes, queues and relays it. */
#include "coord/coord_model_api.h"
#include "coord/coord_proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jsonx.h"
#include "coord/fwd.h"
#include "coord/model_class.h"
#include "coord/request_tags.h"

static const struct fwd_endpoint endpoints[] = {
    {"/api/chat", API_CHAT, false, true, false},
    {"/api/generate", API_GENERATE, false, true, false},
    {"/api/embed", API_EMBED, false, true, true},
    {"/api/embeddings", API_EMBEDDINGS, false, true, true},
    {"/api/show", API_SHOW, false, false, false},
    {"/v1/chat/completions", API_OAI_CHAT, true, true, false},
    {"/v1/completions", API_OAI_COMPLETIONS, true, true, false},
    {"/v1/embeddings", API_OAI_EMBEDDINGS, true, true, true},
};

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
    struct fwd_request *rq = arg;
    if (hop_by_hop(name) || rq->n_headers >= FWD_MAX_HEADERS)
        return;
    size_t n = strlen(name) + strlen(value) + 3;
    char *h = malloc(n);
    if (!h)
        return;
    snprintf(h, n, "%s: %s", name, value);
    rq->headers[rq->n_headers++] = h;
}

/* Reads the fallback chain: the model, then fallback_models. 0, or -1 with a message. */
static int read_chain(struct fwd_request *rq, const json_t *body, char *err, size_t errlen)
{
    const struct fwd_endpoint *rt = rq->endpoint;
    const json_t *fb = json_object_get(body, "fallback_models");
    rq->n_chain = 1;
    if (!fb || json_is_null(fb))
        return 0;
    bool allowed = rt->api == API_CHAT || rt->api == API_GENERATE || rt->api == API_OAI_CHAT;
    bool ok = allowed && json_is_array(fb) && json_array_size(fb) <= (ROUTE_MAX_CHAIN - 1);
    size_t i;
    const json_t *m;
    json_array_foreach (fb, i, m) {
        if (!ok || !json_is_string(m) ||
            model_name_normalize(json_string_value(m), rq->chain[rq->n_chain], MODEL_NAME_MAX)) {
            ok = false;
            break;
        }
        rq->n_chain++;
    }
    if (!ok) {
        snprintf(err, errlen, "fallback_models must be a list of at most %d model names%s",
                 (ROUTE_MAX_CHAIN - 1),
                 !allowed ? " (on /api/chat, /api/generate and /v1/chat/completions)" : "");
        return -1;
    }
    return 0;
}

static void handle_inference(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    const char *path = httpd_req_path(r);
    const struct fwd_endpoint *rt = NULL;
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        if (strcmp(path, endpoints[i].path) == 0)
            rt = &endpoints[i];
    if (!rt) {
        httpd_reply_text(r, 404, "404 page not found");
        return;
    }
    if (c->draining) {
        httpd_reply_error(r, 503, "herd is shutting down; try again in a moment");
        return;
    }
    size_t len;
    const char *raw = httpd_req_body(r, &len);
    char err[512];
    json_t *body = jsonx_parse_body(raw, len, err, sizeof err);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        httpd_reply_error(r, 400, body ? "request body must be a JSON object" : err);
        return;
    }
    const char *sent = jsonx_str(body, "model");
    if (!sent && rt->api == API_SHOW)
        sent = jsonx_str(body, "name");
    if (!sent || !*sent) {
        json_decref(body);
        httpd_reply_error(r, 400, "model is required");
        return;
    }
    struct fwd_request rq;
    memset(&rq, 0, sizeof rq);
    rq.endpoint = rt;
    if (model_name_normalize(sent, rq.chain[0], sizeof rq.chain[0]) != 0) {
        snprintf(err, sizeof err, "invalid model name '%s'", sent);
        json_decref(body);
        httpd_reply_error(r, 400, err);
        return;
    }
    snprintf(rq.model_sent, sizeof rq.model_sent, "%s", sent);
    /* keep_alive 0 with nothing to generate unloads the model on every node, not one. */
    if ((rt->api == API_CHAT || rt->api == API_GENERATE) &&
        coord_model_api_is_unload(rt->path, body) &&
        coord_model_api_unload(c, r, rt->path, rq.chain[0], raw, len)) {
        json_decref(body);
        return;
    }
    if (read_chain(&rq, body, err, sizeof err) != 0) {
        json_decref(body);
        httpd_reply_error(r, 400, err);
        return;
    }
    rq.raw = malloc(len + 1);
    if (!rq.raw) {
        json_decref(body);
        httpd_reply_error(r, 503, "out of memory");
        return;
    }
    memcpy(rq.raw, raw, len);
    rq.raw[len] = '\0';
    rq.raw_len = len;
    /* fallback_models and metadata are herd's; Ollama does not get them. */
    rq.drop_extra = json_object_get(body, "fallback_models") || json_object_get(body, "metadata");
    /* An OpenAI stream carries token counts only if asked; herd asks, and keeps what that
     * adds to itself. */
    rq.add_usage = (rt->api == API_OAI_CHAT || rt->api == API_OAI_COMPLETIONS) &&
                   jsonx_bool_or(body, "stream", false) &&
                   !jsonx_bool_or(json_object_get(body, "stream_options"), "include_usage", false);
    int64_t num_ctx;
    if (!rt->openai && jsonx_int(json_object_get(body, "options"), "num_ctx", &num_ctx) == 0 &&
        num_ctx > 0)
        rq.num_ctx = num_ctx;
    rq.needs = model_request_needs(body, rt->embedding);
    rq.tokens = score_estimate_tokens(body);
    int64_t limit = 0;
    if (rt->openai) {
        if (jsonx_int(body, "max_completion_tokens", &limit) != 0)
            jsonx_int(body, "max_tokens", &limit);
    } else {
        jsonx_int(json_object_get(body, "options"), "num_predict", &limit);
    }
    rq.max_output = limit > 0 ? limit : 0;
    if (rt->queued && !rt->embedding) {
        rq.prefix = malloc(sizeof *rq.prefix);
        if (rq.prefix)
            prefix_key_of(body, rq.prefix); /* without it, routing knows no cache: no harm */
    }
    rq.tags = request_tags(body, httpd_req_header(r, "X-Herd-Tags"));
    snprintf(rq.client_ip, sizeof rq.client_ip, "%s", httpd_req_peer(r));
    snprintf(rq.app, sizeof rq.app, "%s", httpd_req_principal(r) ? httpd_req_principal(r) : "");
    json_decref(body); /* sent pointed into it */
    httpd_req_foreach_header(r, copy_header, &rq);
    fwd_start(c, r, &rq); /* the request is running, waiting, or already answered */
}

void coord_proxy_routes(struct coord *c)
{
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        httpd_route(c->httpd, HTTPD_POST, endpoints[i].path, handle_inference, c);
}
