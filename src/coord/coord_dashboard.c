/* coord_dashboard: the dashboard's JSON API under /dashboard/api/. Errors are in Ollama's
 * shape ({"error": "..."}), like the rest of herd's own API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "coord/analytics.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "coord/coord_dashboard.h"
#include "coord/coord_api.h"
#include "coord/dashboard_assets.h"
#include "coord/coord_poll.h"
#include "coord/health.h"
#include "coord/registry.h"
#include "coord/runtime_settings.h"
#include "coord/trace_store.h"

static void reply(struct httpd_req *r, json_t *o)
{
    if (!o) {
        httpd_reply_error(r, 500, "latency.db could not be read; see herd's log");
        return;
    }
    httpd_reply_json(r, 200, NULL, o, false);
}

static void handle_traces(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    long limit;
    if (httpd_query_long(r, "limit", 50, 1, 10000, &limit))
        reply(r, trace_store_recent(c->traces, (int)limit));
}

static void handle_overview(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    json_t *o = analytics_overview(trace_store_db(c->traces), time_wall());
    if (o) {
        json_object_set_new(o, "fleet", coord_fleet_summary(c));
        json_object_set_new(o, "uptime_s", json_real(time_wall() - c->started));
        json_object_set_new(o, "timestamp", json_real(time_wall()));
    }
    reply(r, o);
}

static void handle_trends(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    long hours;
    if (httpd_query_long(r, "hours", 24, 1, 90 * 24, &hours))
        reply(r, analytics_trends(trace_store_db(c->traces), time_wall(), (int)hours));
}

/* models, usage and tags take ?days=N (1..90, default 7). */
static void handle_days(struct httpd_req *r, void *arg,
                        json_t *(*fn)(sqlite3 *db, double now, int days))
{
    struct coord *c = arg;
    long days;
    if (httpd_query_long(r, "days", 7, 1, 90, &days))
        reply(r, fn(trace_store_db(c->traces), time_wall(), (int)days));
}

static void handle_models(struct httpd_req *r, void *arg)
{
    handle_days(r, arg, analytics_models);
}

static void handle_usage(struct httpd_req *r, void *arg)
{
    handle_days(r, arg, analytics_usage);
}

static void handle_tags(struct httpd_req *r, void *arg)
{
    handle_days(r, arg, analytics_tags);
}

static void handle_health(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    struct health_traffic t;
    double now = time_wall();
    if (analytics_recent_traffic(trace_store_db(c->traces), now - 3600, &t) != 0) {
        reply(r, NULL);
        return;
    }
    size_t n = c->registry.n;
    struct health_node *nodes = calloc(n ? n : 1, sizeof *nodes);
    if (!nodes) {
        httpd_reply_error(r, 503, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct node *nd = c->registry.nodes[i];
        nodes[i] = (struct health_node){
            .id = nd->id,
            .status = nd->status == NODE_OFFLINE    ? HEALTH_OFFLINE
                      : nd->status == NODE_DEGRADED ? HEALTH_DEGRADED
                                                    : HEALTH_ONLINE,
            .draining = nd->draining,
            .reports_ollama = nd->has_ollama,
            .ollama_up = nd->ollama_up,
            .has_memory = nd->has_memory,
            .pressure = nd->pressure == PRESSURE_CRITICAL ? HEALTH_PRESSURE_CRITICAL
                        : nd->pressure == PRESSURE_WARN   ? HEALTH_PRESSURE_WARN
                                                          : HEALTH_PRESSURE_NORMAL,
            .disk_available_gb = node_disk_gb(nd, "available_gb"),
            .disk_total_gb = node_disk_gb(nd, "total_gb"),
            .ollama_version = nd->ollama_version,
        };
    }
    json_t *o = health_report(nodes, n, &t, now);
    free(nodes);
    reply(r, o);
}

static json_t *settings_json(struct coord *c)
{
    return json_pack("{s:o, s:o}", "runtime", runtime_settings_json(c->settings), "config",
                     cfg_to_json(&coord_config_spec, c->settings, c->cfg_sources));
}

/* GET: the runtime toggles and the whole configuration. POST {"auto_pull": false, ...}:
 * changes toggles at once (all or nothing) and saves them for the next start. */
static void handle_settings(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    if (httpd_req_method(r) == HTTPD_GET) {
        httpd_reply_json(r, 200, NULL, settings_json(c), false);
        return;
    }
    size_t len;
    const char *raw = httpd_req_body(r, &len);
    char err[512];
    json_t *body = jsonx_parse_body(raw, len, err, sizeof err);
    /* With node enrollment on, a machine joins only with the node secret: an Ollama to poll
     * is added by the admin alone, not by whoever reaches the dashboard. */
    const char *who = httpd_req_principal(r);
    if (body && json_object_get(body, "ollama") && c->settings->node_secret &&
        *c->settings->node_secret && (!who || strcmp(who, "admin") != 0)) {
        json_decref(body);
        httpd_reply_error(r, 403,
                          "node enrollment is on (a node secret is set): only the admin key may "
                          "change the Ollamas herd polls");
        return;
    }
    if (!body || runtime_settings_apply(c->settings, body, err, sizeof err) != 0) {
        json_decref(body);
        httpd_reply_error(r, 400, err);
        return;
    }
    /* The Ollamas herd polls follow the list at once. */
    if (json_object_get(body, "ollama") && coord_poll_reload(c, err, sizeof err) != 0)
        LOG_WARN("the Ollamas to poll could not all be applied: %s", err);
    char *changes = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    LOG_INFO("settings changed from the dashboard by %s: %s", httpd_req_peer(r),
             changes ? changes : "?");
    free(changes);
    json_decref(body);
    int rc = runtime_settings_save(c->settings, c->settings->data_dir);
    if (rc)
        LOG_WARN("cannot save %s/settings.json (%s): the change lasts until herd stops",
                 c->settings->data_dir, strerror(-rc));
    json_t *o = settings_json(c);
    json_object_set_new(o, "saved", json_boolean(rc == 0));
    httpd_reply_json(r, 200, NULL, o, false);
}

static const struct dashboard_asset *asset(const char *path)
{
    for (const struct dashboard_asset *a = dashboard_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

static void send_asset(struct httpd_req *r, const struct dashboard_asset *a)
{
    /* Revalidated on every load, so a new herd's page is never mixed with an old script. */
    httpd_add_header(r, "Cache-Control", "no-cache");
    httpd_add_header(r, "X-Content-Type-Options", "nosniff");
    httpd_reply(r, 200, a->type, a->data, a->len);
}

/* Every tab is the same page; its script draws the tab the path names. */
static void handle_page(struct httpd_req *r, void *arg)
{
    (void)arg;
    send_asset(r, asset("/dashboard/static/index.html"));
}

static void handle_static(struct httpd_req *r, void *arg)
{
    (void)arg;
    const struct dashboard_asset *a = asset(httpd_req_path(r));
    if (!a) {
        httpd_reply_text(r, 404, "404 page not found");
        return;
    }
    send_asset(r, a);
}

void coord_dashboard_routes(struct coord *c)
{
    struct httpd *h = c->httpd;
    httpd_route(h, HTTPD_GET, "/dashboard/api/traces", handle_traces, c);
    httpd_route(h, HTTPD_GET, "/dashboard/api/overview", handle_overview, c);
    httpd_route(h, HTTPD_GET, "/dashboard/api/trends", handle_trends, c);
    httpd_route(h, HTTPD_GET, "/dashboard/api/models", handle_models, c);
    httpd_route(h, HTTPD_GET, "/dashboard/api/usage", handle_usage, c);
    httpd_route(h, HTTPD_GET, "/dashboard/api/tags", handle_tags, c);
    httpd_route(h, HTTPD_GET, "/dashboard/api/apps", handle_tags, c); /* the seed's alias */
    httpd_route(h, HTTPD_GET | HTTPD_POST, "/dashboard/api/settings", handle_settings, c);
    httpd_route(h, HTTPD_GET, "/dashboard/api/health", handle_health, c);
    static const char *const pages[] = {"/dashboard",
                                        "/dashboard/",
                                        "/dashboard/trends",
                                        "/dashboard/models",
                                        "/dashboard/apps",
                                        "/dashboard/tags",
                                        "/dashboard/benchmarks",
                                        "/dashboard/health",
                                        "/dashboard/recommendations",
                                        "/dashboard/settings"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
        httpd_route(h, HTTPD_GET | HTTPD_HEAD, pages[i], handle_page, c);
    httpd_route(h, HTTPD_GET | HTTPD_HEAD, "/dashboard/static/*", handle_static, c);
}
