/* coord_tags: the fleet's models as one Ollama lists them. */
#include "coord/coord_tags.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/timeutil.h"
#include "coord/coord_catalog.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

static bool routable(const struct node *n)
{
    return n->status != NODE_OFFLINE && !n->draining;
}

/* Ollama's details when no node gave its own. */
static json_t *blank_details(const char *parameter_size, const char *quantization)
{
    return json_pack("{s:s, s:s, s:s, s:[], s:s, s:s}", "parent_model", "", "format", "gguf",
                     "family", "", "families", "parameter_size",
                     parameter_size ? parameter_size : "", "quantization_level",
                     quantization ? quantization : "");
}

/* One model of the fleet. */
struct listed {
    char name[MODEL_NAME_MAX];
    json_t *nodes;       /* [node ids that hold it] */
    json_t *loaded_on;   /* [node ids where it is loaded] */
    json_t *digests;     /* {node id: digest} from the nodes' own lists */
    const json_t *entry; /* the first node's /api/tags entry (borrowed), or NULL */
    double size_gb;      /* when no node gave its entry */
};

struct listing {
    struct listed *m;
    size_t n, cap;
    json_t *index; /* {name: position in m} */
};

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        json_decref(l->m[i].nodes);
        json_decref(l->m[i].loaded_on);
        json_decref(l->m[i].digests);
    }
    free(l->m);
    json_decref(l->index);
}

static struct listed *listing_get(struct listing *l, const char *name)
{
    json_t *at = json_object_get(l->index, name);
    if (at)
        return &l->m[json_integer_value(at)];
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct listed *grown = realloc(l->m, cap * sizeof *grown);
        if (!grown)
            return NULL;
        l->m = grown;
        l->cap = cap;
    }
    struct listed *e = &l->m[l->n];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->nodes = json_array();
    e->loaded_on = json_array();
    e->digests = json_object();
    json_object_set_new(l->index, name, json_integer((json_int_t)l->n));
    l->n++;
    return e;
}

static void add_model(struct listing *l, const struct node *n, const struct node_model *m,
                      bool loaded)
{
    struct listed *e = listing_get(l, m->name);
    if (!e)
        return;
    if (loaded) {
        json_array_append_new(e->loaded_on, json_string(n->id));
        if (m->size_gb > 0 && e->size_gb <= 0)
            e->size_gb = m->size_gb;
        if (json_object_get(e->digests, n->id))
            return; /* listed on disk too */
    } else if (m->size_gb > 0) {
        e->size_gb = m->size_gb;
    }
    if (!json_object_get(e->digests, n->id)) {
        json_array_append_new(e->nodes, json_string(n->id));
        const json_t *own = coord_catalog_entry(n, m->name);
        const char *digest = jsonx_str(own, "digest");
        json_object_set_new(e->digests, n->id, json_string(digest ? digest : ""));
        if (own && !e->entry)
            e->entry = own;
    }
}

/* Every model on a routable node, once, in the order the nodes list them. */
static void listing_build(struct coord *c, struct listing *l)
{
    memset(l, 0, sizeof *l);
    l->index = json_object();
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        if (!routable(n))
            continue;
        for (size_t k = 0; k < n->n_available; k++)
            add_model(l, n, &n->available[k], false);
        for (size_t k = 0; k < n->n_loaded; k++)
            add_model(l, n, &n->loaded[k], true);
    }
}

/* Whether the nodes that gave a digest do not all give the same. */
static bool digests_differ(const json_t *digests)
{
    const char *first = NULL, *key;
    json_t *v;
    json_object_foreach ((json_t *)digests, key, v) {
        const char *d = json_string_value(v);
        if (!d || !*d)
            continue;
        if (first && strcmp(first, d) != 0)
            return true;
        first = d;
    }
    return false;
}

static double entry_modified(const json_t *entry)
{
    double t = 0;
    return time_parse_rfc3339(jsonx_str(entry, "modified_at"), &t) == 0 ? t : 0;
}

static int cmp_modified_desc(const void *a, const void *b)
{
    const json_t *p = *(json_t *const *)a, *q = *(json_t *const *)b;
    double x = json_real_value(json_object_get(p, "_t"));
    double y = json_real_value(json_object_get(q, "_t"));
    if (x != y)
        return x < y ? 1 : -1;
    return strcmp(jsonx_str_or(p, "name", ""), jsonx_str_or(q, "name", "")); /* as Ollama */
}

/* Sorts objects by their "_t" member, latest first (then by name), and removes it. */
static json_t *sorted_by_time(json_t *a)
{
    size_t n = json_array_size(a);
    json_t **v = calloc(n + 1, sizeof *v);
    json_t *out = json_array();
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(a, i);
    if (v)
        qsort(v, n, sizeof *v, cmp_modified_desc);
    for (size_t i = 0; v && i < n; i++) {
        json_object_del(v[i], "_t");
        json_array_append(out, v[i]);
    }
    free(v);
    json_decref(a);
    return out;
}

/* /api/tags' entry for a model: the node's own, with the nodes that hold it. */
static json_t *tags_entry(const struct listed *e, const char *now)
{
    json_t *o;
    if (e->entry) {
        o = json_deep_copy(e->entry);
    } else {
        o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", e->name, "model", e->name,
                      "modified_at", now, "size", (json_int_t)(e->size_gb * GIB), "digest", "",
                      "details", blank_details(NULL, NULL));
    }
    json_t *details = json_object_get(o, "details");
    if (!json_is_object(details)) {
        details = blank_details(NULL, NULL);
        json_object_set_new(o, "details", details);
    }
    /* herd's own fields; the details keep the ones the first herd gave. */
    json_object_set(details, "fleet_nodes", e->nodes);
    json_object_set(details, "loaded_on", e->loaded_on);
    json_object_set(o, "fleet_nodes", e->nodes);
    if (digests_differ(e->digests))
        json_object_set(o, "fleet_digests", e->digests);
    json_object_set_new(o, "_t", json_real(e->entry ? entry_modified(e->entry) : time_wall()));
    return o;
}

static void handle_tags(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    struct listing l;
    listing_build(c, &l);
    char now[64];
    time_rfc3339_local(time_wall(), now, sizeof now);
    json_t *models = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(models, tags_entry(&l.m[i], now));
    listing_free(&l);
    httpd_reply_json(r, 200, NULL, json_pack("{s:o}", "models", sorted_by_time(models)), false);
}

/* /api/ps: each loaded model once, as the node with the latest expiry runs it, with every
 * node it is loaded on. */
static void handle_ps(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    json_t *by_name = json_object();
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        const json_t *loaded =
            json_object_get(json_object_get(n->payload, "ollama"), "models_loaded");
        if (!routable(n))
            continue;
        for (size_t k = 0; k < n->n_loaded; k++) {
            const struct node_model *m = &n->loaded[k];
            /* The heartbeat's own entry: exact sizes, expiry, quantisation. */
            const json_t *hb = NULL;
            size_t j;
            const json_t *v;
            json_array_foreach (loaded, j, v) {
                char norm[MODEL_NAME_MAX];
                const char *nm = jsonx_str(v, "name");
                if (nm && model_name_normalize(nm, norm, sizeof norm) == 0 &&
                    strcmp(norm, m->name) == 0)
                    hb = v;
            }
            double expires = 0;
            const char *exp = jsonx_str(hb, "expires_at");
            if (exp)
                time_parse_rfc3339(exp, &expires);
            json_t *have = json_object_get(by_name, m->name);
            if (have) {
                json_array_append_new(json_object_get(have, "fleet_nodes"), json_string(n->id));
                if (json_real_value(json_object_get(have, "_t")) >= expires)
                    continue;
            }
            const json_t *own = coord_catalog_entry(n, m->name);
            double size = 0, vram = 0;
            if (jsonx_num(hb, "size", &size) != 0)
                size = m->size_gb * GIB;
            if (jsonx_num(hb, "size_vram", &vram) != 0 && jsonx_num(hb, "size_vram_gb", &vram) == 0)
                vram *= GIB;
            const json_t *details = json_object_get(own, "details");
            json_t *o = json_pack(
                "{s:s, s:s, s:I, s:s, s:o, s:I, s:s, s:f}", "name", m->name, "model", m->name,
                "size", (json_int_t)size, "digest", jsonx_str_or(own, "digest", ""), "details",
                json_is_object(details)
                    ? json_deep_copy(details)
                    : blank_details(jsonx_str(hb, "parameter_size"), jsonx_str(hb, "quantization")),
                "size_vram", (json_int_t)vram, "fleet_node", n->id, "_t", expires);
            if (exp)
                json_object_set_new(o, "expires_at", json_string(exp));
            if (m->context_length > 0)
                json_object_set_new(o, "context_length", json_integer(m->context_length));
            if (have)
                json_object_set(o, "fleet_nodes", json_object_get(have, "fleet_nodes"));
            else
                json_object_set_new(o, "fleet_nodes", json_pack("[s]", n->id));
            json_object_set_new(by_name, m->name, o);
        }
    }
    json_t *models = json_array();
    const char *key;
    json_t *o;
    json_object_foreach (by_name, key, o)
        json_array_append(models, o);
    json_decref(by_name);
    httpd_reply_json(r, 200, NULL, json_pack("{s:o}", "models", sorted_by_time(models)), false);
}

static json_t *openai_model(const struct listed *e, const char *id)
{
    double created = e->entry ? entry_modified(e->entry) : 0;
    return json_pack("{s:s, s:s, s:I, s:s, s:O}", "id", id, "object", "model", "created",
                     (json_int_t)(created > 0 ? created : time_wall()), "owned_by", "library",
                     "fleet_nodes", e->nodes);
}

static void handle_models(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    struct listing l;
    listing_build(c, &l);
    json_t *data = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(data, openai_model(&l.m[i], l.m[i].name));
    listing_free(&l);
    httpd_reply_json(r, 200, "application/json",
                     json_pack("{s:s, s:o}", "object", "list", "data", data), true);
}

static void handle_model(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    char *id = evhttp_uridecode(httpd_req_path(r) + strlen("/v1/models/"), 0, NULL);
    char norm[MODEL_NAME_MAX];
    struct listing l;
    listing_build(c, &l);
    const json_t *at = id && model_name_normalize(id, norm, sizeof norm) == 0
                           ? json_object_get(l.index, norm)
                           : NULL;
    if (!at) {
        char msg[400];
        snprintf(msg, sizeof msg, "model '%s' not found", id ? id : "");
        httpd_reply_error(r, 404, msg);
    } else {
        httpd_reply_json(r, 200, "application/json", openai_model(&l.m[json_integer_value(at)], id),
                         true);
    }
    listing_free(&l);
    free(id);
}

void coord_tags_routes(struct coord *c)
{
    struct httpd *h = c->httpd;
    httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/api/tags", handle_tags, c);
    httpd_route(h, HTTPD_GET, "/api/ps", handle_ps, c);
    httpd_route(h, HTTPD_GET, "/v1/models", handle_models, c);
    httpd_route(h, HTTPD_GET, "/v1/models/*", handle_model, c);
}
