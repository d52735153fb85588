/* analytics: the dashboard's figures from the hourly summaries of request_traces. */
#include "coord/analytics.h"
#include "coord/sql_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The figures every grouping reports, summed from the hourly summaries (trace_store.c). */
#define AGG                                                                                        \
    "SUM(requests) AS requests, SUM(completed) AS completed, SUM(failed) AS failed,"               \
    " ROUND(SUM(lat_sum) / NULLIF(SUM(lat_n), 0), 1) AS avg_latency_ms,"                           \
    " ROUND(SUM(ttft_sum) / NULLIF(SUM(ttft_n), 0), 1) AS avg_ttft_ms,"                            \
    " SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens"

/* Tokens per second seen by clients: completion tokens over the whole time of the completed
 * requests that produced them (a non-streamed reply has no useful first-token time to split
 * it by). */
#define TPS "ROUND(SUM(gen_tokens) * 1000.0 / NULLIF(SUM(gen_ms), 0), 1) AS tokens_per_s"

#define DAY "strftime('%Y-%m-%d', hour, 'unixepoch')"

/* Windows start on the hour: the summaries are hourly. */
static double window_start(double now, double seconds)
{
    return seconds <= 0 ? 0 : floor((now - seconds) / 3600) * 3600;
}

/* Runs sql with the doubles bound in order; each row becomes an object keyed by column name.
 * NULL when the statement fails. */
static json_t *query(sqlite3 *db, const char *sql, const double *binds, int n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    for (int i = 0; i < n; i++)
        sqlite3_bind_double(st, i + 1, binds[i]);
    return sql_json_rows(st, NULL);
}

/* Moves each child row into the "list" array of the parent whose key matches (the key field
 * is removed from the child). Children are taken over; parents keep their order. */
static void attach(json_t *parents, json_t *children, const char *key, const char *list)
{
    size_t i;
    json_t *p;
    json_array_foreach (parents, i, p)
        json_object_set_new(p, list, json_array());
    json_t *c;
    json_array_foreach (children, i, c) {
        const char *k = json_string_value(json_object_get(c, key));
        size_t j;
        json_array_foreach (parents, j, p) {
            const char *pk = json_string_value(json_object_get(p, key));
            if (k && pk && strcmp(k, pk) == 0) {
                json_object_del(c, key);
                json_array_append(json_object_get(p, list), c);
                break;
            }
        }
    }
    json_decref(children);
}

json_t *analytics_overview(sqlite3 *db, double now)
{
    static const char *const names[] = {"last_24h", "last_7d", "all_time"};
    const double since[] = {window_start(now, 86400), window_start(now, 7 * 86400), 0};
    json_t *out = json_object();
    for (int i = 0; i < 3; i++) {
        json_t *rows = query(db,
                             "SELECT COALESCE(SUM(requests), 0) AS requests,"
                             " COALESCE(SUM(completed), 0) AS completed,"
                             " COALESCE(SUM(failed), 0) AS failed,"
                             " ROUND(SUM(lat_sum) / NULLIF(SUM(lat_n), 0), 1) AS avg_latency_ms,"
                             " ROUND(SUM(ttft_sum) / NULLIF(SUM(ttft_n), 0), 1) AS avg_ttft_ms,"
                             " COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,"
                             " COALESCE(SUM(completion_tokens), 0) AS completion_tokens,"
                             " COALESCE(SUM(requests - completed - failed), 0) AS other,"
                             " COUNT(DISTINCT model) AS models, COUNT(DISTINCT node_id) AS nodes"
                             " FROM traces_hourly WHERE hour >= ?",
                             &since[i], 1);
        if (!rows) {
            json_decref(out);
            return NULL;
        }
        json_object_set(out, names[i], json_array_get(rows, 0));
        json_decref(rows);
    }
    return out;
}

json_t *analytics_trends(sqlite3 *db, double now, int hours)
{
    double current = floor(now / 3600) * 3600;
    double first = current - (hours - 1) * 3600.0;
    json_t *rows = query(
        db, "SELECT hour, " AGG " FROM traces_hourly WHERE hour >= ? GROUP BY hour ORDER BY hour",
        &first, 1);
    if (!rows)
        return NULL;
    json_t *buckets = json_array();
    size_t next = 0;
    for (int h = 0; h < hours; h++) {
        json_int_t start = (json_int_t)(first + h * 3600.0);
        json_t *row = json_array_get(rows, next);
        if (row && json_integer_value(json_object_get(row, "hour")) == start) {
            json_array_append(buckets, row);
            next++;
        } else {
            json_array_append_new(buckets, json_pack("{s:I, s:i, s:i, s:i, s:n, s:n, s:i, s:i}",
                                                     "hour", start, "requests", 0, "completed", 0,
                                                     "failed", 0, "avg_latency_ms", "avg_ttft_ms",
                                                     "prompt_tokens", 0, "completion_tokens", 0));
        }
    }
    json_decref(rows);
    return json_pack("{s:i, s:o}", "hours", hours, "buckets", buckets);
}

json_t *analytics_models(sqlite3 *db, double now, int days)
{
    double since = window_start(now, days * 86400.0);
    json_t *models = query(db,
                           "SELECT model, " AGG ", ROUND(MIN(lat_min), 1) AS min_latency_ms,"
                           " ROUND(MAX(lat_max), 1) AS max_latency_ms, " TPS
                           " FROM traces_hourly WHERE hour >= ?"
                           " GROUP BY model ORDER BY requests DESC, model LIMIT 500",
                           &since, 1);
    json_t *nodes =
        query(db,
              "SELECT model, node_id, " AGG ", " TPS " FROM traces_hourly WHERE hour >= ?"
              " GROUP BY model, node_id ORDER BY requests DESC, node_id",
              &since, 1);
    json_t *daily = query(db,
                          "SELECT model, " DAY " AS day, SUM(requests) AS requests,"
                          " ROUND(SUM(lat_sum) / NULLIF(SUM(lat_n), 0), 1) AS avg_latency_ms,"
                          " SUM(completion_tokens) AS completion_tokens"
                          " FROM traces_hourly WHERE hour >= ? GROUP BY model, day"
                          " ORDER BY day",
                          &since, 1);
    if (!models || !nodes || !daily) {
        json_decref(models);
        json_decref(nodes);
        json_decref(daily);
        return NULL;
    }
    attach(models, nodes, "model", "nodes");
    attach(models, daily, "model", "daily");
    return json_pack("{s:i, s:o}", "days", days, "models", models);
}

json_t *analytics_usage(sqlite3 *db, double now, int days)
{
    double since = window_start(now, days * 86400.0);
    json_t *usage =
        query(db,
              "SELECT " DAY " AS day, node_id, model, " AGG " FROM traces_hourly WHERE hour >= ?"
              " GROUP BY day, node_id, model ORDER BY day DESC, requests DESC"
              " LIMIT 10000",
              &since, 1);
    if (!usage)
        return NULL;
    /* ttft is not part of this view */
    size_t i;
    json_t *u;
    json_array_foreach (usage, i, u)
        json_object_del(u, "avg_ttft_ms");
    return json_pack("{s:i, s:o}", "days", days, "usage", usage);
}

json_t *analytics_tags(sqlite3 *db, double now, int days)
{
    double since = window_start(now, days * 86400.0);
    json_t *tags = query(db,
                         "SELECT tag, " AGG " FROM tags_hourly WHERE hour >= ?"
                         " GROUP BY tag ORDER BY requests DESC, tag LIMIT 1000",
                         &since, 1);
    json_t *daily = query(db,
                          "SELECT tag, " DAY " AS day, SUM(requests) AS requests,"
                          " SUM(failed) AS failed FROM tags_hourly WHERE hour >= ?"
                          " GROUP BY tag, day ORDER BY day",
                          &since, 1);
    json_t *untagged = query(db,
                             "SELECT COALESCE(SUM(untagged), 0) AS n FROM traces_hourly"
                             " WHERE hour >= ?",
                             &since, 1);
    if (!tags || !daily || !untagged) {
        json_decref(tags);
        json_decref(daily);
        json_decref(untagged);
        return NULL;
    }
    attach(tags, daily, "tag", "daily");
    json_t *out = json_pack("{s:i, s:O, s:o}", "days", days, "untagged",
                            json_object_get(json_array_get(untagged, 0), "n"), "tags", tags);
    json_decref(untagged);
    return out;
}

int analytics_recent_traffic(sqlite3 *db, double since, struct health_traffic *out)
{
    memset(out, 0, sizeof *out);
    json_t *rows = query(db,
                         "SELECT COALESCE(SUM(status != 'retried'), 0) AS requests,"
                         " COALESCE(SUM(status = 'failed'), 0) AS failed,"
                         " COALESCE(SUM(status = 'retried'), 0) AS retried,"
                         " COALESCE(SUM(fallback_reason = 'vram'), 0) AS vram,"
                         " COALESCE(SUM(context_action IS NOT NULL AND status != 'retried'), 0)"
                         " AS context,"
                         " COALESCE(SUM(error_message LIKE '%sent nothing%'), 0) AS reaped"
                         " FROM request_traces WHERE timestamp >= ?",
                         &since, 1);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT model, COUNT(*) AS n FROM request_traces WHERE timestamp >= ?"
             " AND time_to_first_token_ms > %.0f GROUP BY model ORDER BY n DESC LIMIT 1",
             HEALTH_COLD_LOAD_MS);
    json_t *cold = query(db, sql, &since, 1);
    if (!rows || !cold) {
        json_decref(rows);
        json_decref(cold);
        return -EIO;
    }
    json_t *r = json_array_get(rows, 0);
    out->requests = (long)json_integer_value(json_object_get(r, "requests"));
    out->failed = (long)json_integer_value(json_object_get(r, "failed"));
    out->retried = (long)json_integer_value(json_object_get(r, "retried"));
    out->vram_fallbacks = (long)json_integer_value(json_object_get(r, "vram"));
    out->context_actions = (long)json_integer_value(json_object_get(r, "context"));
    out->reaped = (long)json_integer_value(json_object_get(r, "reaped"));
    json_t *c = json_array_get(cold, 0);
    if (c) {
        snprintf(out->thrash_model, sizeof out->thrash_model, "%s",
                 json_string_value(json_object_get(c, "model")));
        out->thrash_loads = (long)json_integer_value(json_object_get(c, "n"));
    }
    json_decref(rows);
    json_decref(cold);
    return 0;
}

/* The exact time of the last request of each pair whose last hour is `hour`. */
static void refine_last_used(sqlite3 *db, json_t *rows, double hour)
{
    json_t *exact =
        query(db,
              "SELECT node_id, model, MAX(timestamp) AS t FROM request_traces"
              " WHERE timestamp >= ?1 AND timestamp < ?1 + 3600 GROUP BY node_id, model",
              &hour, 1);
    size_t i, k;
    json_t *row, *e;
    json_array_foreach (rows, i, row) {
        if (json_number_value(json_object_get(row, "last_hour")) != hour)
            continue;
        json_array_foreach (exact, k, e)
            if (json_equal(json_object_get(e, "node_id"), json_object_get(row, "node_id")) &&
                json_equal(json_object_get(e, "model"), json_object_get(row, "model")))
                json_object_set(row, "last_used", json_object_get(e, "t"));
    }
    json_decref(exact);
}

#define REFINE_MAX_HOURS 64

json_t *analytics_model_use(sqlite3 *db, double now, int days)
{
    double since = window_start(now, (double)days * 86400);
    json_t *rows = query(db,
                         "SELECT node_id, model, SUM(CASE WHEN hour >= ?1 THEN requests ELSE 0 END)"
                         " AS requests, MAX(hour) AS last_hour, MAX(hour) AS last_used"
                         " FROM traces_hourly WHERE node_id != '' GROUP BY node_id, model"
                         " ORDER BY last_hour DESC",
                         &since, 1);
    if (!rows)
        return NULL;
    /* Rows come newest first: the distinct hours are refined in that order, so the most
     * recent uses (the ones a reader compares) are exact. */
    double done[REFINE_MAX_HOURS];
    int n_done = 0;
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        double h = json_number_value(json_object_get(row, "last_hour"));
        bool seen = false;
        for (int k = 0; k < n_done; k++)
            seen = seen || done[k] == h;
        if (seen)
            continue;
        if (n_done == REFINE_MAX_HOURS)
            break;
        done[n_done++] = h;
        refine_last_used(db, rows, h);
    }
    json_array_foreach (rows, i, row)
        json_object_del(row, "last_hour");
    return rows;
}

json_t *analytics_demand(sqlite3 *db, double now)
{
    double since[2] = {window_start(now, 7 * 86400), window_start(now, 86400)};
    return query(db,
                 "SELECT model, SUM(requests) AS requests_7d,"
                 " SUM(CASE WHEN hour >= ?2 THEN requests ELSE 0 END) AS requests_24h,"
                 " SUM(unserved) AS unserved_7d FROM demand_hourly WHERE hour >= ?1"
                 " GROUP BY model ORDER BY requests_7d DESC",
                 since, 2);
}
