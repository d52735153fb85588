/* coord_models: the dashboard's model lifecycle: every model on every node
 * (/dashboard/api/model-management), pulls onto a node and deletes from it (POST
 * /dashboard/api/pull and /dashboard/api/delete), and where models should be
 * (/dashboard/api/recommendations). Every pull and delete is logged with who asked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/model_name.h"
#include "common/timeutil.h"
#include "coord/analytics.h"
#include "coord/coord_manage.h"
#include "coord/coord_models.h"
#include "coord/coord_pull.h"
#include "coord/recommend.h"
#include "coord/trace_store.h"

/* Reads {"model"|"name", "node_id"} of a POST body; false after replying 400 or 404. */
static bool read_target(struct httpd_req *r, struct coord *c, json_t **body, char *model,
                        size_t model_len, struct node **node, bool node_required)
{
    size_t len;
    const char *raw = httpd_req_body(r, &len);
    char err[512];
    *body = jsonx_parse_body(raw, len, err, sizeof err);
    if (!*body) {
        httpd_reply_error(r, 400, err);
        return false;
    }
    const char *name = jsonx_str(*body, "model");
    if (!name)
        name = jsonx_str(*body, "name");
    const char *node_id = jsonx_str(*body, "node_id");
    if (!name || !*name) {
        httpd_reply_error(r, 400, "model is required");
        return false;
    }
    if (model_name_normalize(name, model, model_len) != 0) {
        snprintf(err, sizeof err, "name \"%s\" is invalid", name);
        httpd_reply_error(r, 400, err);
        return false;
    }
    *node = NULL;
    if (!node_id && !node_required)
        return true;
    if (!node_id || !*node_id) {
        httpd_reply_error(r, 400, "node_id is required");
        return false;
    }
    *node = registry_find(&c->registry, node_id);
    if (!*node) {
        snprintf(err, sizeof err, "node '%s' is not in the fleet", node_id);
        httpd_reply_error(r, 404, err);
        return false;
    }
    return true;
}

/* ---- model-management ---- */

static const json_t *use_of(const json_t *uses, const char *node_id, const char *model)
{
    size_t i;
    const json_t *u;
    json_array_foreach (uses, i, u)
        if (strcmp(jsonx_str_or(u, "node_id", ""), node_id) == 0 &&
            strcmp(jsonx_str_or(u, "model", ""), model) == 0)
            return u;
    return NULL;
}

static json_t *model_row(struct coord *c, const struct node *n, const struct node_model *m,
                         const json_t *uses)
{
    const struct node_model *loaded = node_loaded_model(n, m->name);
    const struct fleet_queue *q = queue_find(&c->queues, n->id, m->name);
    const json_t *u = use_of(uses, n->id, m->name);
    double size = m->size_gb > 0 ? m->size_gb : loaded ? loaded->size_gb : 0;
    json_t *o =
        json_pack("{s:s, s:f, s:b, s:i, s:i, s:b, s:I}", "model", m->name, "size_gb", size,
                  "loaded", loaded != NULL, "in_flight", q ? q->in_flight : 0, "queued",
                  q ? q->pending : 0, "pulling", coord_pulling(c, m->name, n->id), "requests_30d",
                  (json_int_t)(u ? json_integer_value(json_object_get(u, "requests")) : 0));
    json_object_set_new(o, "last_used",
                        u ? json_deep_copy(json_object_get(u, "last_used")) : json_null());
    if (loaded && loaded->context_length > 0)
        json_object_set_new(o, "context_length", json_integer(loaded->context_length));
    return o;
}

static void handle_model_management(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    json_t *uses = analytics_model_use(trace_store_db(c->traces), time_wall(), REC_UNUSED_DAYS);
    if (!uses) {
        httpd_reply_error(r, 500, "latency.db could not be read; see herd's log");
        return;
    }
    json_t *nodes = json_array();
    double total_gb = 0;
    int total_models = 0;
    for (size_t i = 0; i < c->registry.n; i++) {
        const struct node *n = c->registry.nodes[i];
        json_t *models = json_array();
        double on_disk = 0;
        for (size_t k = 0; k < n->n_available; k++) {
            json_array_append_new(models, model_row(c, n, &n->available[k], uses));
            on_disk += n->available[k].size_gb;
        }
        /* A loaded model the node does not list on disk still belongs in the table. */
        for (size_t k = 0; k < n->n_loaded; k++) {
            bool listed = false;
            for (size_t j = 0; j < n->n_available; j++)
                listed = listed || strcmp(n->available[j].name, n->loaded[k].name) == 0;
            if (!listed)
                json_array_append_new(models, model_row(c, n, &n->loaded[k], uses));
        }
        total_gb += on_disk;
        total_models += (int)json_array_size(models);
        json_t *o =
            json_pack("{s:s, s:s, s:b, s:b, s:f, s:o}", "node_id", n->id, "status",
                      node_status_name(n->status), "ollama_up", !n->has_ollama || n->ollama_up,
                      "draining", n->draining, "models_gb", on_disk, "models", models);
        double free_gb = node_disk_gb(n, "available_gb"), disk_total = node_disk_gb(n, "total_gb");
        json_object_set_new(o, "disk_free_gb", free_gb >= 0 ? json_real(free_gb) : json_null());
        json_object_set_new(o, "disk_total_gb",
                            disk_total >= 0 ? json_real(disk_total) : json_null());
        json_array_append_new(nodes, o);
    }
    json_decref(uses);
    httpd_reply_json(r, 200, NULL,
                     json_pack("{s:o, s:o, s:{s:i, s:i, s:f}, s:f}", "nodes", nodes, "pulls",
                               coord_pulls_json(c), "totals", "nodes", (int)c->registry.n, "models",
                               total_models, "size_gb", total_gb, "timestamp", time_wall()),
                     false);
}

/* ---- pull ---- */

/* POST {"model", "node_id", "stream"}: pulls the model onto that node (or, without node_id,
 * onto the node with the most memory to offer). Streams the node's progress unless stream is
 * false. */
static void handle_pull(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    json_t *body;
    char model[MODEL_NAME_MAX];
    struct node *n;
    if (!read_target(r, c, &body, model, sizeof model, &n, false)) {
        json_decref(body);
        return;
    }
    bool stream = jsonx_bool_or(body, "stream", true);
    json_decref(body);
    char err[512];
    if (n && !node_ready(n)) {
        snprintf(err, sizeof err, "node %s cannot pull now: it is %s", n->id,
                 node_unready_reason(n));
        httpd_reply_error(r, 503, err);
        return;
    }
    const struct node *target = n ? n : coord_pull_target(c, model);
    int status = 0;
    if (!target) {
        snprintf(
            err, sizeof err, "no node has the memory to take %s (about %.1f GB)", model,
            score_model_size(model, (const struct node *const *)c->registry.nodes, c->registry.n));
        status = 503;
    } else if (coord_pulling(c, model, target->id)) {
        snprintf(err, sizeof err, "%s is already being pulled onto %s", model, target->id);
        status = 409;
    } else {
        struct manage_ask a = {
            .kind = MANAGE_PULL, .model = model, .stream = stream, .dashboard = true};
        status = coord_manage_start(c, r, &a, &target, 1, err, sizeof err);
    }
    if (status) {
        LOG_WARN("dashboard: %s asked to pull %s onto %s: refused: %s", httpd_req_peer(r), model,
                 target ? target->id : "the best node", err);
        httpd_reply_error(r, status, err);
    }
}

/* ---- delete ---- */

/* POST {"model", "node_id", "force"}: deletes the model from that node. A model that is
 * loaded, serving or waited for, or being pulled, is refused (409) unless force is true
 * (a pull always is: the node would be writing what it deletes). A loaded model deleted by
 * force is unloaded first. */
static void handle_delete(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    json_t *body;
    char model[MODEL_NAME_MAX];
    struct node *n;
    if (!read_target(r, c, &body, model, sizeof model, &n, true)) {
        json_decref(body);
        return;
    }
    bool force = jsonx_bool_or(body, "force", false);
    json_decref(body);
    char err[600];
    if (!node_ready(n)) {
        snprintf(err, sizeof err, "node %s cannot delete now: it is %s", n->id,
                 node_unready_reason(n));
        httpd_reply_error(r, 503, err);
        return;
    }
    if (coord_pulling(c, model, n->id)) {
        snprintf(err, sizeof err, "%s is being pulled onto %s; delete it when the pull ends", model,
                 n->id);
        httpd_reply_error(r, 409, err);
        return;
    }
    if (!node_has_model(n, model)) {
        snprintf(err, sizeof err, "node %s has no model '%s'", n->id, model);
        httpd_reply_error(r, 404, err);
        return;
    }
    const struct fleet_queue *q = queue_find(&c->queues, n->id, model);
    int busy = q ? q->in_flight + q->pending : 0;
    bool loaded = node_loaded_model(n, model) != NULL;
    if ((loaded || busy) && !force) {
        snprintf(err, sizeof err,
                 "%s is %s on %s; wait until it is idle, or send \"force\": true to delete it "
                 "anyway",
                 model,
                 busy ? (loaded ? "loaded and serving requests" : "serving requests") : "loaded",
                 n->id);
        LOG_INFO("dashboard: %s asked to delete %s from %s: refused (in use)", httpd_req_peer(r),
                 model, n->id);
        httpd_reply_error(r, 409, err);
        return;
    }
    /* A loaded model deleted by force is unloaded first, so that its memory is free too. */
    struct manage_ask a = {.kind = MANAGE_DELETE,
                           .model = model,
                           .dashboard = true,
                           .unload_first = loaded,
                           .forced = force && (loaded || busy)};
    const struct node *target = n;
    int status = coord_manage_start(c, r, &a, &target, 1, err, sizeof err);
    if (status)
        httpd_reply_error(r, status, err);
}

/* ---- recommendations ---- */

static double estimate_size(const char *model, void *arg)
{
    struct coord *c = arg;
    return score_model_size(model, (const struct node *const *)c->registry.nodes, c->registry.n);
}

static void handle_recommendations(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    double now = time_wall();
    sqlite3 *db = trace_store_db(c->traces);
    json_t *demand_rows = analytics_demand(db, now);
    json_t *use_rows = analytics_model_use(db, now, REC_UNUSED_DAYS);
    size_t nd = json_array_size(demand_rows), nu = json_array_size(use_rows), nn = c->registry.n;
    struct rec_demand *demand = calloc(nd ? nd : 1, sizeof *demand);
    struct rec_use *uses = calloc(nu ? nu : 1, sizeof *uses);
    struct rec_node *nodes = calloc(nn ? nn : 1, sizeof *nodes);
    json_t *plan = NULL;
    if (demand_rows && use_rows && demand && uses && nodes) {
        for (size_t i = 0; i < nd; i++) {
            const json_t *o = json_array_get(demand_rows, i);
            snprintf(demand[i].model, sizeof demand[i].model, "%s", jsonx_str_or(o, "model", ""));
            jsonx_int(o, "requests_7d", &demand[i].requests_7d);
            jsonx_int(o, "requests_24h", &demand[i].requests_24h);
            jsonx_int(o, "unserved_7d", &demand[i].unserved_7d);
        }
        for (size_t i = 0; i < nu; i++) {
            const json_t *o = json_array_get(use_rows, i);
            uses[i].node_id = jsonx_str_or(o, "node_id", "");
            uses[i].model = jsonx_str_or(o, "model", "");
            jsonx_int(o, "requests", &uses[i].requests);
            jsonx_num(o, "last_used", &uses[i].last_used);
        }
        for (size_t i = 0; i < nn; i++) {
            const struct node *n = c->registry.nodes[i];
            nodes[i] = (struct rec_node){
                .node = n,
                .usable = score_node_usable(n) == SCORE_ELIGIBLE,
                .disk_free_gb = node_disk_gb(n, "available_gb"),
            };
        }
        plan = recommend_plan(nodes, nn, demand, nd, uses, nu, estimate_size, c);
    }
    free(demand);
    free(uses);
    free(nodes);
    json_decref(demand_rows);
    json_decref(use_rows);
    if (!plan) {
        httpd_reply_error(r, 500, "latency.db could not be read; see herd's log");
        return;
    }
    json_object_set_new(plan, "generated_at", json_real(now));
    json_object_set_new(plan, "window_days", json_integer(7));
    httpd_reply_json(r, 200, NULL, plan, false);
}

void coord_models_routes(struct coord *c)
{
    struct httpd *h = c->httpd;
    httpd_route(h, HTTPD_GET, "/dashboard/api/model-management", handle_model_management, c);
    httpd_route(h, HTTPD_POST, "/dashboard/api/pull", handle_pull, c);
    httpd_route(h, HTTPD_POST, "/dashboard/api/delete", handle_delete, c);
    httpd_route(h, HTTPD_GET, "/dashboard/api/recommendations", handle_recommendations, c);
}
