/* coord_model_api: Ollama's model-management endpoints through herd. */
#include "coord/coord_model_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/keep_alive.h"
#include "common/log.h"
#include "common/model_name.h"
#include "common/timeutil.h"
#include "coord/coord_manage.h"
#include "coord/coord_pull.h"

#define BLOB_MAX_REPLY (64 * 1024)
#define BLOB_PREFIX "/api/blobs/"
#define BLOB_PLACES_MAX 256
#define BLOB_PLACE_TTL_S 3600.0
#define UPLOAD_SESSION_S 600.0

/* Where a blob went, so that the create that uses it goes there too. */
struct blob_place {
    char digest[72];
    char node_id[NODE_ID_MAX];
    char peer[64];
    double at; /* monotonic */
};

struct coord_model_api {
    struct blob_place blobs[BLOB_PLACES_MAX];
    int n_blobs;
};

/* ---- unload ---- */

bool coord_model_api_is_unload(const char *path, const json_t *body)
{
    const json_t *ka = json_object_get(body, "keep_alive");
    double seconds = -1;
    char err[160];
    if (!ka || keep_alive_parse(ka, &seconds, err, sizeof err) != 0)
        return false;
    /* As Ollama decides: a chat compares whole seconds, a generate the duration. */
    if (strcmp(path, "/api/chat") == 0)
        return (long)seconds == 0 && json_array_size(json_object_get(body, "messages")) == 0;
    if (strcmp(path, "/api/generate") == 0) {
        const char *prompt = jsonx_str(body, "prompt");
        return seconds == 0 && (!prompt || !*prompt);
    }
    return false;
}

static int named_nodes(struct coord *c, struct httpd_req *r, const struct node **out, int max);
static int holders(struct coord *c, const char *model, const struct node **out, int max);

bool coord_model_api_unload(struct coord *c, struct httpd_req *r, const char *path,
                            const char *model, const char *body, size_t len)
{
    const struct node *nodes[MANAGE_TARGETS_MAX];
    int n = named_nodes(c, r, nodes, MANAGE_TARGETS_MAX);
    if (n < 0)
        return true; /* answered */
    if (n == 0) {
        for (size_t i = 0; i < c->registry.n && n < MANAGE_TARGETS_MAX; i++) {
            const struct node *node = c->registry.nodes[i];
            if (node_ready(node) && node_loaded_model(node, model))
                nodes[n++] = node;
        }
    }
    /* Loaded nowhere: one node that has it answers as Ollama does for an idle model. */
    if (n == 0 && holders(c, model, nodes, MANAGE_TARGETS_MAX) > 0)
        n = 1;
    if (n == 0)
        return false;
    struct manage_ask a = {
        .kind = MANAGE_UNLOAD, .model = model, .path = path, .body = body, .body_len = len};
    char err[512];
    int status = coord_manage_start(c, r, &a, nodes, n, err, sizeof err);
    if (status)
        httpd_reply_error(r, status, err);
    return true;
}

/* ---- the Ollama API ---- */

/* The nodes named by X-Herd-Node ("all", or names separated by commas) into out; 0 when the
 * header is absent; -1 after answering r (an unknown node, one not ready). */
static int named_nodes(struct coord *c, struct httpd_req *r, const struct node **out, int max)
{
    const char *h = httpd_req_header(r, "X-Herd-Node");
    if (!h || !*h)
        return 0;
    char msg[400];
    int n = 0;
    if (strcmp(h, "all") == 0) {
        for (size_t i = 0; i < c->registry.n && n < max; i++)
            if (node_ready(c->registry.nodes[i]))
                out[n++] = c->registry.nodes[i];
        if (!n) {
            httpd_reply_error(r, 503, "no node of the fleet is ready");
            return -1;
        }
        return n;
    }
    const char *p = h;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (!len)
            break;
        char name[NODE_ID_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        p += len;
        struct node *node = registry_find(&c->registry, name);
        if (!node) {
            snprintf(msg, sizeof msg, "node '%s' is not in the fleet (X-Herd-Node)", name);
            httpd_reply_error(r, 404, msg);
            return -1;
        }
        if (!node_ready(node)) {
            snprintf(msg, sizeof msg, "node %s cannot change its models now: it is %s", node->id,
                     node_unready_reason(node));
            httpd_reply_error(r, 503, msg);
            return -1;
        }
        bool dup = false;
        for (int i = 0; i < n; i++)
            dup |= out[i] == node;
        if (!dup && n < max)
            out[n++] = node;
    }
    if (!n)
        httpd_reply_error(r, 400, "X-Herd-Node names no node");
    return n ? n : -1;
}

/* The ready nodes that hold model, into out. */
static int holders(struct coord *c, const char *model, const struct node **out, int max)
{
    int n = 0;
    for (size_t i = 0; i < c->registry.n && n < max; i++) {
        const struct node *node = c->registry.nodes[i];
        if (node_ready(node) && node_has_model(node, model))
            out[n++] = node;
    }
    return n;
}

/* The body as a JSON object and its model (the "model" field, or "name", or key) normalised
 * into model. NULL after answering 400. */
static json_t *read_body(struct httpd_req *r, const char *key, char *model, size_t len)
{
    size_t n;
    const char *raw = httpd_req_body(r, &n);
    char err[512];
    json_t *body = jsonx_parse_body(raw, n, err, sizeof err);
    if (!body) {
        httpd_reply_error(r, 400, err);
        return NULL;
    }
    const char *name = key ? jsonx_str(body, key) : jsonx_str(body, "model");
    if (!key && (!name || !*name))
        name = jsonx_str(body, "name");
    if (!name || !*name) {
        snprintf(err, sizeof err, "%s is required", key ? key : "model");
        httpd_reply_error(r, 400, err);
    } else if (model_name_normalize(name, model, len) != 0) {
        snprintf(err, sizeof err, "%s \"%s\" is invalid", key ? key : "name", name);
        httpd_reply_error(r, 400, err);
    } else {
        return body;
    }
    json_decref(body);
    return NULL;
}

static void start_or_refuse(struct coord *c, struct httpd_req *r, const struct manage_ask *a,
                            const struct node **nodes, int n)
{
    char err[512];
    int status = coord_manage_start(c, r, a, nodes, n, err, sizeof err);
    if (status)
        httpd_reply_error(r, status, err);
}

static void handle_pull(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    char model[MODEL_NAME_MAX];
    json_t *body = read_body(r, NULL, model, sizeof model);
    if (!body)
        return;
    struct manage_ask a = {.kind = MANAGE_PULL,
                           .model = model,
                           .stream = jsonx_bool_or(body, "stream", true),
                           .insecure = jsonx_bool_or(body, "insecure", false)};
    json_decref(body);
    const struct node *nodes[MANAGE_TARGETS_MAX];
    int n = named_nodes(c, r, nodes, MANAGE_TARGETS_MAX);
    if (n < 0)
        return;
    if (n == 0)
        n = holders(c, model, nodes, MANAGE_TARGETS_MAX);
    if (n == 0 && (nodes[0] = coord_pull_target(c, model)))
        n = 1;
    if (n == 0) {
        char err[300];
        snprintf(err, sizeof err, "no node has the memory to take %s", model);
        httpd_reply_error(r, 503, err);
        return;
    }
    start_or_refuse(c, r, &a, nodes, n);
}

static void handle_delete(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    char model[MODEL_NAME_MAX], err[400];
    json_t *body = read_body(r, NULL, model, sizeof model);
    if (!body)
        return;
    json_decref(body);
    const struct node *nodes[MANAGE_TARGETS_MAX];
    int n = named_nodes(c, r, nodes, MANAGE_TARGETS_MAX);
    if (n < 0)
        return;
    if (n == 0 && (n = holders(c, model, nodes, MANAGE_TARGETS_MAX)) == 0) {
        snprintf(err, sizeof err, "model '%s' not found", model);
        httpd_reply_error(r, 404, err);
        return;
    }
    struct manage_ask a = {.kind = MANAGE_DELETE, .model = model};
    start_or_refuse(c, r, &a, nodes, n);
}

static void handle_copy(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    char src[MODEL_NAME_MAX], dst[MODEL_NAME_MAX], err[400];
    json_t *body = read_body(r, "source", src, sizeof src);
    if (!body)
        return;
    const char *dest = jsonx_str(body, "destination");
    if (!dest || !*dest || model_name_normalize(dest, dst, sizeof dst) != 0) {
        if (dest && *dest)
            snprintf(err, sizeof err, "destination \"%s\" is invalid", dest);
        else
            snprintf(err, sizeof err, "destination is required");
        httpd_reply_error(r, 400, err);
        json_decref(body);
        return;
    }
    char sent[MODEL_NAME_MAX];
    snprintf(sent, sizeof sent, "%s", jsonx_str(body, "source"));
    json_decref(body);
    const struct node *nodes[MANAGE_TARGETS_MAX];
    int n = named_nodes(c, r, nodes, MANAGE_TARGETS_MAX);
    if (n < 0)
        return;
    if (n == 0 && (n = holders(c, src, nodes, MANAGE_TARGETS_MAX)) == 0) {
        snprintf(err, sizeof err, "model \"%s\" not found", sent);
        httpd_reply_error(r, 404, err);
        return;
    }
    struct manage_ask a = {.kind = MANAGE_COPY, .model = src, .dest = dst};
    start_or_refuse(c, r, &a, nodes, n);
}

/* The node the blob with this digest went to (or, for a new one, the one this client's last
 * upload went to), or NULL. */
static const struct blob_place *blob_place(struct coord *c, const char *digest, const char *peer)
{
    struct coord_model_api *m = c->model_api;
    const struct blob_place *session = NULL;
    double now = time_mono();
    for (int i = 0; i < m->n_blobs; i++) {
        const struct blob_place *b = &m->blobs[i];
        if (digest && strcmp(b->digest, digest) == 0 && now - b->at < BLOB_PLACE_TTL_S)
            return b;
        if (peer && strcmp(b->peer, peer) == 0 && now - b->at < UPLOAD_SESSION_S &&
            (!session || b->at > session->at))
            session = b;
    }
    return session;
}

static void blob_remember(struct coord *c, const char *digest, const char *node_id,
                          const char *peer)
{
    struct coord_model_api *m = c->model_api;
    int slot = -1;
    for (int i = 0; i < m->n_blobs && slot < 0; i++)
        if (strcmp(m->blobs[i].digest, digest) == 0)
            slot = i;
    if (slot < 0 && m->n_blobs < BLOB_PLACES_MAX)
        slot = m->n_blobs++;
    if (slot < 0) { /* full: the oldest goes */
        slot = 0;
        for (int i = 1; i < m->n_blobs; i++)
            if (m->blobs[i].at < m->blobs[slot].at)
                slot = i;
    }
    struct blob_place *b = &m->blobs[slot];
    snprintf(b->digest, sizeof b->digest, "%s", digest);
    snprintf(b->node_id, sizeof b->node_id, "%s", node_id);
    snprintf(b->peer, sizeof b->peer, "%s", peer);
    b->at = time_mono();
}

/* The nodes a create with these files goes to: the node every one of its blobs went to. */
static int blob_targets(struct coord *c, const json_t *files, const struct node **out)
{
    const char *name;
    const json_t *v;
    const char *node_id = NULL;
    json_object_foreach ((json_t *)files, name, v) {
        const struct blob_place *b =
            json_is_string(v) ? blob_place(c, json_string_value(v), NULL) : NULL;
        if (!b || !json_is_string(v) || strcmp(b->digest, json_string_value(v)) != 0)
            return 0;
        if (node_id && strcmp(node_id, b->node_id) != 0)
            return 0;
        node_id = b->node_id;
    }
    struct node *n = node_id ? registry_find(&c->registry, node_id) : NULL;
    if (!n || !node_ready(n))
        return 0;
    out[0] = n;
    return 1;
}

static void handle_create(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    char model[MODEL_NAME_MAX], from[MODEL_NAME_MAX], err[400];
    json_t *body = read_body(r, NULL, model, sizeof model);
    if (!body)
        return;
    const char *from_sent = jsonx_str(body, "from");
    const json_t *files = json_object_get(body, "files");
    bool stream = jsonx_bool_or(body, "stream", true);
    const struct node *nodes[MANAGE_TARGETS_MAX];
    int n = named_nodes(c, r, nodes, MANAGE_TARGETS_MAX);
    if (n < 0) {
        json_decref(body);
        return;
    }
    if (n == 0 && json_is_object(files) && json_object_size(files) > 0) {
        n = blob_targets(c, files, nodes);
        if (n == 0) {
            httpd_reply_error(r, 400,
                              "the files' blobs were not uploaded through herd to one node; "
                              "upload them again, or name the node with X-Herd-Node");
            json_decref(body);
            return;
        }
    } else if (n == 0 && from_sent && *from_sent) {
        if (model_name_normalize(from_sent, from, sizeof from) == 0)
            n = holders(c, from, nodes, MANAGE_TARGETS_MAX);
        if (n == 0) {
            snprintf(err, sizeof err, "model '%s' not found", from_sent);
            httpd_reply_error(r, 404, err);
            json_decref(body);
            return;
        }
    } else if (n == 0) {
        httpd_reply_error(r, 400, "neither 'from' or 'files' was specified");
        json_decref(body);
        return;
    }
    json_decref(body);
    size_t len;
    const char *raw = httpd_req_body(r, &len);
    struct manage_ask a = {
        .kind = MANAGE_CREATE, .model = model, .body = raw, .body_len = len, .stream = stream};
    start_or_refuse(c, r, &a, nodes, n);
}

static void handle_push(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    char model[MODEL_NAME_MAX], err[400];
    json_t *body = read_body(r, NULL, model, sizeof model);
    if (!body)
        return;
    bool stream = jsonx_bool_or(body, "stream", true);
    json_decref(body);
    const struct node *nodes[MANAGE_TARGETS_MAX];
    int n = named_nodes(c, r, nodes, MANAGE_TARGETS_MAX);
    if (n < 0)
        return;
    if (n == 0 && holders(c, model, nodes, MANAGE_TARGETS_MAX) > 0)
        n = 1; /* one copy is enough for a registry */
    if (n == 0) {
        snprintf(err, sizeof err, "model '%s' not found", model);
        httpd_reply_error(r, 404, err);
        return;
    }
    size_t len;
    const char *raw = httpd_req_body(r, &len);
    struct manage_ask a = {
        .kind = MANAGE_PUSH, .model = model, .body = raw, .body_len = len, .stream = stream};
    start_or_refuse(c, r, &a, nodes, 1);
}

/* ---- blobs: proxied to the node the following create will use ---- */

struct blob_call {
    struct coord *c;
    struct httpd_req *r; /* NULL once its client left */
    struct httpc_req *up;
    char digest[72];
    char node_id[NODE_ID_MAX];
    char peer[64];
    bool post;
};

static void blob_call_free(struct blob_call *b)
{
    if (b->r)
        httpd_req_on_close(b->r, NULL, NULL);
    free(b);
}

static void on_blob_client_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct blob_call *b = arg;
    b->r = NULL;
    if (b->up)
        httpc_cancel(b->up);
    free(b);
}

static void on_blob_done(long status, const char *body, size_t len, int rc, const char *err,
                         void *arg)
{
    struct blob_call *b = arg;
    b->up = NULL;
    char msg[400];
    if (rc != 0) {
        snprintf(msg, sizeof msg, "node %s could not be reached: %s", b->node_id,
                 err ? err : "transfer failed");
        httpd_reply_error(b->r, 502, msg);
    } else {
        if (status == 200 || status == 201)
            blob_remember(b->c, b->digest, b->node_id, b->peer);
        httpd_add_header(b->r, "X-Fleet-Node", b->node_id);
        httpd_reply(b->r, (int)status, len ? "application/json; charset=utf-8" : NULL, body, len);
    }
    b->r = NULL;
    blob_call_free(b);
}

static void handle_blob(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    const char *digest = httpd_req_path(r) + strlen(BLOB_PREFIX);
    if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64 ||
        strspn(digest + 7, "0123456789abcdef") != 64) {
        httpd_reply_error(r, 400, "invalid digest format");
        return;
    }
    const struct node *nodes[MANAGE_TARGETS_MAX];
    int n = named_nodes(c, r, nodes, 1);
    if (n < 0)
        return;
    if (n == 0) {
        const struct blob_place *p = blob_place(c, digest, httpd_req_peer(r));
        struct node *known = p ? registry_find(&c->registry, p->node_id) : NULL;
        if (known && node_ready(known))
            nodes[n++] = known;
    }
    if (n == 0 && (nodes[0] = coord_pull_target(c, "")))
        n = 1;
    if (n == 0) {
        httpd_reply_error(r, 503, "no node of the fleet can take a new model now");
        return;
    }
    struct blob_call *b = calloc(1, sizeof *b);
    if (!b) {
        httpd_reply_error(r, 503, "out of memory");
        return;
    }
    b->c = c;
    b->r = r;
    b->post = httpd_req_method(r) == HTTPD_POST;
    snprintf(b->digest, sizeof b->digest, "%s", digest);
    snprintf(b->node_id, sizeof b->node_id, "%s", nodes[0]->id);
    snprintf(b->peer, sizeof b->peer, "%s", httpd_req_peer(r));
    char url[400];
    snprintf(url, sizeof url, "%s%s%s", nodes[0]->url, BLOB_PREFIX, digest);
    size_t len = 0;
    const char *data = b->post ? httpd_req_body(r, &len) : NULL;
    struct httpc_opts o = {
        .method = b->post ? "POST" : "HEAD",
        .url = url,
        .body = data,
        .body_len = len,
        .connect_timeout_ms = (long)(c->settings->connect_timeout * 1000),
        .idle_timeout_ms = 60000,
    };
    b->up = httpc_fetch(c->httpc, &o, BLOB_MAX_REPLY, on_blob_done, b);
    if (!b->up) {
        b->r = NULL;
        blob_call_free(b);
        httpd_reply_error(r, 503, "cannot reach the node");
        return;
    }
    httpd_req_on_close(r, on_blob_client_gone, b);
}

int coord_model_api_routes(struct coord *c)
{
    c->model_api = calloc(1, sizeof *c->model_api);
    if (!c->model_api)
        return -ENOMEM;
    struct httpd *h = c->httpd;
    httpd_route(h, HTTPD_POST, "/api/pull", handle_pull, c);
    httpd_route(h, HTTPD_DELETE, "/api/delete", handle_delete, c);
    httpd_route(h, HTTPD_POST, "/api/copy", handle_copy, c);
    httpd_route(h, HTTPD_POST, "/api/create", handle_create, c);
    httpd_route(h, HTTPD_POST, "/api/push", handle_push, c);
    httpd_route(h, HTTPD_HEAD | HTTPD_POST, BLOB_PREFIX "*", handle_blob, c);
    return 0;
}

void coord_model_api_free(struct coord *c)
{
    free(c->model_api);
    c->model_api = NULL;
}
