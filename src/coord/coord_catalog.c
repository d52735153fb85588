/* coord_catalog: the nodes' own lists of their models, fetched when they change. */
#include "coord/coord_catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/model_name.h"

#define CATALOG_MAX_BODY (8 * 1024 * 1024)
#define CATALOG_MAX_MODELS 4096
#define CATALOG_TIMEOUT_MS 10000

struct catalog_fetch {
    LIST_ENTRY(catalog_fetch) link;
    struct coord_catalog *k;
    struct httpc_req *up;
    char node_id[NODE_ID_MAX];
    char sig[65];
};

struct coord_catalog {
    struct coord *c;
    LIST_HEAD(, catalog_fetch) fetches;
};

struct coord_catalog *coord_catalog_new(struct coord *c)
{
    struct coord_catalog *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->c = c;
    LIST_INIT(&k->fetches);
    return k;
}

static void fetch_free(struct catalog_fetch *f)
{
    LIST_REMOVE(f, link);
    if (f->up)
        httpc_cancel(f->up);
    free(f);
}

void coord_catalog_free(struct coord_catalog *k)
{
    if (!k)
        return;
    struct catalog_fetch *f;
    while ((f = LIST_FIRST(&k->fetches)))
        fetch_free(f);
    free(k);
}

/* The entries of an /api/tags body by normalised name, or NULL when it is not one. */
static json_t *parse_tags(const char *body, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    const json_t *models = json_object_get(root, "models");
    if (!json_is_array(models)) {
        json_decref(root);
        return NULL;
    }
    json_t *by_name = json_object();
    size_t i;
    json_t *m;
    json_array_foreach (models, i, m) {
        const char *name = jsonx_str(m, "name");
        if (!name || !*name)
            name = jsonx_str(m, "model");
        char norm[MODEL_NAME_MAX];
        if (i >= CATALOG_MAX_MODELS || !json_is_object(m) || !name ||
            model_name_normalize(name, norm, sizeof norm) != 0)
            continue;
        json_object_set(by_name, norm, m);
    }
    json_decref(root);
    return by_name;
}

/* Two nodes with different models under one name serve different answers for it: said once,
 * when the list that shows it arrives (the listings name both digests). */
static void warn_different_models(const struct coord *c, const struct node *n)
{
    const char *name;
    json_t *mine;
    json_object_foreach (n->catalog, name, mine) {
        const char *digest = jsonx_str(mine, "digest");
        for (size_t i = 0; digest && *digest && i < c->registry.n; i++) {
            const struct node *other = c->registry.nodes[i];
            const char *theirs =
                other == n ? NULL : jsonx_str(coord_catalog_entry(other, name), "digest");
            if (theirs && *theirs && strcmp(theirs, digest) != 0) {
                LOG_WARN("nodes %s and %s hold different models under the name %s (digests "
                         "%.12s and %.12s): requests for it may get either; pull it again on "
                         "one of them to make them the same",
                         n->id, other->id, name, digest, theirs);
                break;
            }
        }
    }
}

static void on_fetched(long status, const char *body, size_t len, int rc, const char *err,
                       void *arg)
{
    struct catalog_fetch *f = arg;
    f->up = NULL;
    struct node *n = registry_find(&f->k->c->registry, f->node_id);
    json_t *catalog = rc == 0 && status == 200 ? parse_tags(body, len) : NULL;
    if (!catalog) {
        /* Tried again at its next heartbeat. */
        LOG_WARN("node %s: its list of models could not be read: %s", f->node_id,
                 rc              ? (err ? err : "transfer failed")
                 : status != 200 ? "HTTP error"
                                 : "not Ollama's /api/tags");
    } else if (n) {
        json_decref(n->catalog);
        n->catalog = catalog;
        catalog = NULL;
        snprintf(n->catalog_sig, sizeof n->catalog_sig, "%s", f->sig);
        warn_different_models(f->k->c, n);
    }
    json_decref(catalog);
    fetch_free(f);
}

void coord_catalog_heard(struct coord *c, struct node *n)
{
    struct coord_catalog *k = c->catalog;
    if (!k || !n->ollama_up || !n->tags_sig[0] || strcmp(n->tags_sig, n->catalog_sig) == 0 ||
        !n->url[0])
        return;
    struct catalog_fetch *f;
    LIST_FOREACH (f, &k->fetches, link)
        if (strcmp(f->node_id, n->id) == 0)
            return; /* the next heartbeat compares again */
    f = calloc(1, sizeof *f);
    if (!f)
        return;
    f->k = k;
    snprintf(f->node_id, sizeof f->node_id, "%s", n->id);
    snprintf(f->sig, sizeof f->sig, "%s", n->tags_sig);
    char url[320];
    snprintf(url, sizeof url, "%s/api/tags", n->url);
    struct httpc_opts o = {
        .url = url,
        .connect_timeout_ms = (long)(c->settings->connect_timeout * 1000),
        .total_timeout_ms = CATALOG_TIMEOUT_MS,
    };
    LIST_INSERT_HEAD(&k->fetches, f, link);
    f->up = httpc_fetch(c->httpc, &o, CATALOG_MAX_BODY, on_fetched, f);
    if (!f->up)
        fetch_free(f);
}

const json_t *coord_catalog_entry(const struct node *n, const char *model)
{
    return n->catalog ? json_object_get(n->catalog, model) : NULL;
}
