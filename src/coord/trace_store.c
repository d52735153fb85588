#include "coord/trace_store.h"
#include "coord/sql_json.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

#define P75_WINDOW 500
#define QUEUE_MAX 100000 /* rows waiting for the writer; beyond that new ones are dropped */
#define SCHEMA_VERSION 3
#define TEXT_OF(x) #x
#define TEXT_OF_VALUE(x) TEXT_OF(x)

struct p75_entry {
    char key[300]; /* node_id \t model */
    double ring[P75_WINDOW];
    int n;
    int next;
    double p75;
};

struct trace_store {
    sqlite3 *db;     /* the writer thread's once it runs */
    sqlite3 *reader; /* read-only, the loop's: what trace_store_db() hands out */
    sqlite3_stmt *insert_trace;
    sqlite3_stmt *insert_latency;
    struct event *retention;
    int retention_days;
    int flush_ms;
    struct p75_entry *p75; /* the loop's */
    size_t n_p75;
    /* Shared with the writer thread, under mu. */
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t db_mu; /* one transaction at a time on db: the writer's, or a benchmark row */
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* rows, a flush asked for, retention due, or stop */
    pthread_cond_t written; /* the writer has written a batch */
    struct trace_row *rows; /* the queue */
    size_t n_rows;
    size_t cap_rows;
    uint64_t queued;  /* rows ever queued (dropped ones included) */
    uint64_t done;    /* rows ever written, failed or dropped */
    uint64_t dropped; /* rows dropped because the queue was full */
    bool flush_now, retention_due, stop;
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS request_traces ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " request_id TEXT NOT NULL, model TEXT NOT NULL, original_model TEXT NOT NULL,"
    " node_id TEXT NOT NULL, score REAL, scores_breakdown TEXT, status TEXT NOT NULL,"
    " latency_ms REAL, time_to_first_token_ms REAL, prompt_tokens INTEGER,"
    " completion_tokens INTEGER, retry_count INTEGER DEFAULT 0, fallback_used INTEGER DEFAULT 0,"
    " excluded_nodes TEXT, client_ip TEXT, original_format TEXT, error_message TEXT,"
    " timestamp REAL NOT NULL, tags TEXT, fallback_reason TEXT, context_action TEXT,"
    " auto_pulled INTEGER DEFAULT 0, app TEXT);"
    "CREATE INDEX IF NOT EXISTS idx_traces_request_id ON request_traces(request_id);"
    "CREATE INDEX IF NOT EXISTS idx_traces_timestamp ON request_traces(timestamp);"
    "CREATE INDEX IF NOT EXISTS idx_traces_model_timestamp ON request_traces(model, timestamp);"
    "CREATE INDEX IF NOT EXISTS idx_traces_node_model ON request_traces(node_id, model);"
    "CREATE INDEX IF NOT EXISTS idx_traces_tags ON request_traces(tags);"
    "CREATE TABLE IF NOT EXISTS latency_observations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, node_id TEXT NOT NULL, model_name TEXT NOT NULL,"
    " latency_ms REAL NOT NULL, tokens_generated INTEGER, timestamp REAL NOT NULL,"
    " prompt_tokens INTEGER, completion_tokens INTEGER);"
    "CREATE INDEX IF NOT EXISTS idx_latency_node_model ON latency_observations(node_id, "
    "model_name);"
    "CREATE INDEX IF NOT EXISTS idx_latency_timestamp ON latency_observations(timestamp);"
    "CREATE INDEX IF NOT EXISTS idx_latency_model_timestamp ON latency_observations(model_name, "
    "timestamp);"
    "CREATE TABLE IF NOT EXISTS benchmark_runs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT UNIQUE, timestamp REAL, duration_s REAL,"
    " total_requests INTEGER, total_failures INTEGER, total_prompt_tokens INTEGER,"
    " total_completion_tokens INTEGER, requests_per_sec REAL, tokens_per_sec REAL,"
    " latency_p50_ms REAL, latency_p95_ms REAL, latency_p99_ms REAL, ttft_p50_ms REAL,"
    " ttft_p95_ms REAL, ttft_p99_ms REAL, fleet_snapshot TEXT, per_model_results TEXT,"
    " per_node_results TEXT, peak_utilization TEXT, status TEXT, config TEXT);"
    "CREATE INDEX IF NOT EXISTS idx_benchmark_timestamp ON benchmark_runs(timestamp);";

/* Hourly summaries for the dashboard, kept by a trigger on every insert, so its figures read
 * a few thousand summary rows instead of every trace (on the event loop). The figures are
 * those of analytics.h: latency and first token of completed requests only; tokens of every
 * request; "gen" tokens and time of completed requests that reported tokens (tokens/s). */
#define ROLLUP_VALUES(T)                                                                           \
    "1, CASE WHEN " T ".status = 'completed' THEN 1 ELSE 0 END,"                                   \
    " CASE WHEN " T ".status = 'failed' THEN 1 ELSE 0 END,"                                        \
    " CASE WHEN " T ".status = 'completed' AND " T ".latency_ms >= 0 THEN " T ".latency_ms"        \
    "  ELSE 0 END,"                                                                                \
    " CASE WHEN " T ".status = 'completed' AND " T ".latency_ms >= 0 THEN 1 ELSE 0 END,"           \
    " CASE WHEN " T ".status = 'completed' AND " T ".time_to_first_token_ms >= 0"                  \
    "  THEN " T ".time_to_first_token_ms ELSE 0 END,"                                              \
    " CASE WHEN " T ".status = 'completed' AND " T ".time_to_first_token_ms >= 0 THEN 1 ELSE 0"    \
    "  END,"                                                                                       \
    " CASE WHEN " T ".prompt_tokens > 0 THEN " T ".prompt_tokens ELSE 0 END,"                      \
    " CASE WHEN " T ".completion_tokens > 0 THEN " T ".completion_tokens ELSE 0 END"
#define ROLLUP_ADD                                                                                 \
    " requests = requests + excluded.requests, completed = completed + excluded.completed,"        \
    " failed = failed + excluded.failed, lat_sum = lat_sum + excluded.lat_sum,"                    \
    " lat_n = lat_n + excluded.lat_n, ttft_sum = ttft_sum + excluded.ttft_sum,"                    \
    " ttft_n = ttft_n + excluded.ttft_n, prompt_tokens = prompt_tokens + excluded.prompt_tokens,"  \
    " completion_tokens = completion_tokens + excluded.completion_tokens"
#define GEN_COND(T)                                                                                \
    T ".status = 'completed' AND " T ".completion_tokens > 0 AND " T ".latency_ms > 0"

static const char *const rollup_schema =
    "CREATE TABLE IF NOT EXISTS traces_hourly (hour INTEGER NOT NULL, model TEXT NOT NULL,"
    " node_id TEXT NOT NULL, requests INTEGER NOT NULL, completed INTEGER NOT NULL,"
    " failed INTEGER NOT NULL, lat_sum REAL NOT NULL, lat_n INTEGER NOT NULL, ttft_sum REAL NOT "
    "NULL,"
    " ttft_n INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " lat_min REAL, lat_max REAL, gen_tokens INTEGER NOT NULL, gen_ms REAL NOT NULL,"
    " untagged INTEGER NOT NULL, PRIMARY KEY (hour, model, node_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tags_hourly (hour INTEGER NOT NULL, tag TEXT NOT NULL,"
    " requests INTEGER NOT NULL, completed INTEGER NOT NULL, failed INTEGER NOT NULL,"
    " lat_sum REAL NOT NULL, lat_n INTEGER NOT NULL, ttft_sum REAL NOT NULL, ttft_n INTEGER NOT "
    "NULL,"
    " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " PRIMARY KEY (hour, tag)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS traces_rollup AFTER INSERT ON request_traces BEGIN"
    " INSERT INTO traces_hourly VALUES (CAST(NEW.timestamp / 3600 AS INTEGER) * 3600, NEW.model,"
    "  NEW.node_id, " ROLLUP_VALUES(
        "NEW") ","
               "  CASE WHEN NEW.status = 'completed' AND NEW.latency_ms >= 0 THEN NEW.latency_ms "
               "END,"
               "  CASE WHEN NEW.status = 'completed' AND NEW.latency_ms >= 0 THEN NEW.latency_ms "
               "END,"
               "  CASE WHEN " GEN_COND(
                   "NEW") " THEN NEW.completion_tokens ELSE 0 END,"
                          "  CASE WHEN " GEN_COND(
                              "NEW") " THEN NEW.latency_ms ELSE 0 END,"
                                     "  CASE WHEN json_valid(NEW.tags) AND "
                                     "json_array_length(NEW.tags) > 0 THEN 0 ELSE 1 END)"
                                     " ON CONFLICT (hour, model, node_id) DO UPDATE SET" ROLLUP_ADD
                                     ","
                                     "  lat_min = CASE WHEN lat_min IS NULL OR excluded.lat_min < "
                                     "lat_min THEN excluded.lat_min"
                                     "   ELSE lat_min END,"
                                     "  lat_max = CASE WHEN lat_max IS NULL OR excluded.lat_max > "
                                     "lat_max THEN excluded.lat_max"
                                     "   ELSE lat_max END,"
                                     "  gen_tokens = gen_tokens + excluded.gen_tokens, gen_ms = "
                                     "gen_ms + excluded.gen_ms,"
                                     "  untagged = untagged + excluded.untagged;"
                                     " INSERT INTO tags_hourly SELECT CAST(NEW.timestamp / 3600 AS "
                                     "INTEGER) * 3600, j.value, " ROLLUP_VALUES(
                                         "NEW") " FROM json_each(CASE WHEN json_valid(NEW.tags) "
                                                "THEN NEW.tags"
                                                "  ELSE '[]' END) AS j WHERE j.type = 'text'"
                                                " ON CONFLICT (hour, tag) DO UPDATE SET" ROLLUP_ADD
                                                ";"
                                                " END;";

/* Summaries for traces written before the summaries existed (an older latency.db). */
static const char *const rollup_backfill =
    "INSERT INTO traces_hourly SELECT CAST(t.timestamp / 3600 AS INTEGER) * 3600 AS h, t.model,"
    " t.node_id, COUNT(*), SUM(CASE WHEN t.status = 'completed' THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN t.status = 'completed' AND t.latency_ms >= 0 THEN t.latency_ms ELSE 0 END),"
    " SUM(CASE WHEN t.status = 'completed' AND t.latency_ms >= 0 THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN t.status = 'completed' AND t.time_to_first_token_ms >= 0"
    "  THEN t.time_to_first_token_ms ELSE 0 END),"
    " SUM(CASE WHEN t.status = 'completed' AND t.time_to_first_token_ms >= 0 THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN t.prompt_tokens > 0 THEN t.prompt_tokens ELSE 0 END),"
    " SUM(CASE WHEN t.completion_tokens > 0 THEN t.completion_tokens ELSE 0 END),"
    " MIN(CASE WHEN t.status = 'completed' AND t.latency_ms >= 0 THEN t.latency_ms END),"
    " MAX(CASE WHEN t.status = 'completed' AND t.latency_ms >= 0 THEN t.latency_ms END),"
    " SUM(CASE WHEN " GEN_COND(
        "t") " THEN t.completion_tokens ELSE 0 END),"
             " SUM(CASE WHEN " GEN_COND(
                 "t") " THEN t.latency_ms ELSE 0 END),"
                      " SUM(CASE WHEN json_valid(t.tags) AND json_array_length(t.tags) > 0 THEN 0 "
                      "ELSE 1 END)"
                      " FROM request_traces AS t WHERE true GROUP BY h, t.model, t.node_id;"
                      "INSERT INTO tags_hourly SELECT CAST(t.timestamp / 3600 AS INTEGER) * 3600 "
                      "AS h, j.value,"
                      " COUNT(*), SUM(CASE WHEN t.status = 'completed' THEN 1 ELSE 0 END),"
                      " SUM(CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END),"
                      " SUM(CASE WHEN t.status = 'completed' AND t.latency_ms >= 0 THEN "
                      "t.latency_ms ELSE 0 END),"
                      " SUM(CASE WHEN t.status = 'completed' AND t.latency_ms >= 0 THEN 1 ELSE 0 "
                      "END),"
                      " SUM(CASE WHEN t.status = 'completed' AND t.time_to_first_token_ms >= 0"
                      "  THEN t.time_to_first_token_ms ELSE 0 END),"
                      " SUM(CASE WHEN t.status = 'completed' AND t.time_to_first_token_ms >= 0 "
                      "THEN 1 ELSE 0 END),"
                      " SUM(CASE WHEN t.prompt_tokens > 0 THEN t.prompt_tokens ELSE 0 END),"
                      " SUM(CASE WHEN t.completion_tokens > 0 THEN t.completion_tokens ELSE 0 END)"
                      " FROM request_traces AS t, json_each(CASE WHEN json_valid(t.tags) THEN "
                      "t.tags ELSE '[]' END)"
                      " AS j WHERE j.type = 'text' GROUP BY h, j.value;";

/* Demand by the model asked for (not the one that served: a fallback is not demand for the
 * model that answered), per hour, for the recommendations. Retried attempts are not counted:
 * the request's final row is. */
static const char *const demand_schema =
    "CREATE TABLE IF NOT EXISTS demand_hourly (hour INTEGER NOT NULL, model TEXT NOT NULL,"
    " requests INTEGER NOT NULL, unserved INTEGER NOT NULL, PRIMARY KEY (hour, model))"
    " WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS demand_rollup AFTER INSERT ON request_traces"
    " WHEN NEW.status != 'retried' BEGIN"
    " INSERT INTO demand_hourly VALUES (CAST(NEW.timestamp / 3600 AS INTEGER) * 3600,"
    "  NEW.original_model, 1, CASE WHEN NEW.node_id = '' THEN 1 ELSE 0 END)"
    "  ON CONFLICT (hour, model) DO UPDATE SET requests = requests + 1,"
    "  unserved = unserved + excluded.unserved;"
    " END;";
static const char *const demand_backfill =
    "INSERT INTO demand_hourly SELECT CAST(timestamp / 3600 AS INTEGER) * 3600 AS h,"
    " original_model, COUNT(*), SUM(node_id = '') FROM request_traces WHERE status != 'retried'"
    " GROUP BY h, original_model;";

static bool table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return found;
}

/* Creates one summary table and its trigger; fills it once from the traces when it is new. */
static int prepare_summary(sqlite3 *db, const char *table, const char *schema_sql,
                           const char *backfill_sql, char **msg)
{
    if (table_exists(db, table))
        return sqlite3_exec(db, schema_sql, NULL, NULL, msg);
    double t0 = time_mono();
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, schema_sql, NULL, NULL, msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, backfill_sql, NULL, NULL, msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, msg);
    else
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == SQLITE_OK && time_mono() - t0 > 0.5)
        LOG_INFO("latency.db: %s built from the existing traces in %.1f s", table,
                 time_mono() - t0);
    return rc;
}

/* Creates the summaries; fills them once from the traces of an older database. */
static int prepare_rollups(sqlite3 *db, char **msg)
{
    int rc = prepare_summary(db, "traces_hourly", rollup_schema, rollup_backfill, msg);
    if (rc == SQLITE_OK)
        rc = prepare_summary(db, "demand_hourly", demand_schema, demand_backfill, msg);
    return rc;
}

static void row_free(struct trace_row *r)
{
    free(r->scores_breakdown);
    free(r->excluded_nodes);
    free(r->error_message);
    free(r->tags);
}

/* The k-th smallest of v[0..n) (0-based), reordering v: Hoare's selection, linear on
 * average. It runs once per finished request, so a full sort of the window costs too much. */
static double kth_smallest(double *v, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

static struct p75_entry *p75_find(struct trace_store *s, const char *node, const char *model,
                                  bool create)
{
    char key[300];
    snprintf(key, sizeof key, "%s\t%s", node, model);
    for (size_t i = 0; i < s->n_p75; i++)
        if (strcmp(s->p75[i].key, key) == 0)
            return &s->p75[i];
    if (!create)
        return NULL;
    struct p75_entry *p = realloc(s->p75, (s->n_p75 + 1) * sizeof *p);
    if (!p)
        return NULL;
    s->p75 = p;
    struct p75_entry *e = &s->p75[s->n_p75++];
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    return e;
}

static void p75_add(struct trace_store *s, const char *node, const char *model, double ms)
{
    struct p75_entry *e = p75_find(s, node, model, true);
    if (!e)
        return;
    e->ring[e->next] = ms;
    e->next = (e->next + 1) % P75_WINDOW;
    if (e->n < P75_WINDOW)
        e->n++;
    double v[P75_WINDOW];
    memcpy(v, e->ring, (size_t)e->n * sizeof *v);
    int idx = (int)(e->n * 0.75);
    if (idx >= e->n)
        idx = e->n - 1;
    e->p75 = kth_smallest(v, e->n, idx);
}

double trace_store_p75(struct trace_store *s, const char *node_id, const char *model)
{
    struct p75_entry *e = s ? p75_find(s, node_id, model, false) : NULL;
    return e ? e->p75 : 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_num_or_null(sqlite3_stmt *st, int i, double v)
{
    if (v >= 0)
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_int_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Writes rows in one transaction and frees them (writer thread). */
static int write_batch(struct trace_store *s, struct trace_row *rows, size_t n)
{
    double t0 = time_mono();
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        struct trace_row *r = &rows[i];
        sqlite3_stmt *st = s->insert_trace;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, r->request_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, r->original_model[0] ? r->original_model : r->model, -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, r->node_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 5, r->score);
        bind_text_or_null(st, 6, r->scores_breakdown);
        sqlite3_bind_text(st, 7, trace_status_name(r->status), -1, SQLITE_STATIC);
        bind_num_or_null(st, 8, r->latency_ms);
        bind_num_or_null(st, 9, r->ttft_ms);
        bind_int_or_null(st, 10, r->prompt_tokens);
        bind_int_or_null(st, 11, r->completion_tokens);
        sqlite3_bind_int(st, 12, r->retry_count);
        sqlite3_bind_int(st, 13, r->fallback_used);
        sqlite3_bind_text(st, 14, r->excluded_nodes ? r->excluded_nodes : "[]", -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 15, r->client_ip, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 16, r->original_format, -1, SQLITE_STATIC);
        bind_text_or_null(st, 17, r->error_message);
        sqlite3_bind_double(st, 18, r->timestamp);
        bind_text_or_null(st, 19, r->tags);
        bind_text_or_null(st, 20, r->fallback_reason);
        bind_text_or_null(st, 21, r->context_action);
        sqlite3_bind_int(st, 22, r->auto_pulled);
        bind_text_or_null(st, 23, r->app[0] ? r->app : NULL);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sqlite3_errcode(s->db);
        if (rc == SQLITE_OK && r->status == TRACE_COMPLETED && r->latency_ms >= 0) {
            sqlite3_stmt *lt = s->insert_latency;
            sqlite3_reset(lt);
            sqlite3_bind_text(lt, 1, r->node_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(lt, 2, r->model, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(lt, 3, r->latency_ms);
            bind_int_or_null(lt, 4, r->completion_tokens);
            sqlite3_bind_double(lt, 5, r->timestamp);
            bind_int_or_null(lt, 6, r->prompt_tokens);
            bind_int_or_null(lt, 7, r->completion_tokens);
            if (sqlite3_step(lt) != SQLITE_DONE)
                rc = sqlite3_errcode(s->db);
        }
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        LOG_ERROR("latency.db: writing %zu trace rows failed: %s", n, sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (size_t i = 0; i < n; i++)
        row_free(&rows[i]);
    LOG_DEBUG("latency.db: wrote %zu rows in %.1f ms", n, (time_mono() - t0) * 1000);
    return rc == SQLITE_OK ? 0 : -EIO;
}

static void apply_retention(struct trace_store *s);

/* The writer thread: every flush interval (or when asked), the queued rows in one
 * transaction; the hourly retention. The loop only appends to the queue. */
static void *writer_main(void *arg)
{
    struct trace_store *s = arg;
    struct trace_row *batch = NULL;
    size_t batch_cap = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (!s->stop && !s->flush_now && !s->retention_due) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            long ns = until.tv_nsec + (long)(s->flush_ms % 1000) * 1000000L;
            until.tv_sec += s->flush_ms / 1000 + ns / 1000000000L;
            until.tv_nsec = ns % 1000000000L;
            pthread_cond_timedwait(&s->wake, &s->mu, &until);
        }
        bool stop = s->stop, retention = s->retention_due;
        s->flush_now = s->retention_due = false;
        /* Take the queue whole, leaving the empty batch array in its place. */
        struct trace_row *rows = s->rows;
        size_t n = s->n_rows, cap = s->cap_rows;
        s->rows = batch;
        s->cap_rows = batch_cap;
        s->n_rows = 0;
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_lock(&s->db_mu);
        if (n)
            write_batch(s, rows, n);
        if (retention)
            apply_retention(s);
        pthread_mutex_unlock(&s->db_mu);
        batch = rows;
        batch_cap = cap;
        pthread_mutex_lock(&s->mu);
        s->done += n;
        pthread_cond_broadcast(&s->written);
        if (stop && s->n_rows == 0)
            break;
    }
    pthread_mutex_unlock(&s->mu);
    free(batch);
    return NULL;
}

int trace_store_flush(struct trace_store *s)
{
    if (!s || !s->writer_started)
        return 0;
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->queued;
    if (s->done < target) {
        s->flush_now = true;
        pthread_cond_signal(&s->wake);
        while (s->done < target)
            pthread_cond_wait(&s->written, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

uint64_t trace_store_dropped(struct trace_store *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->dropped;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void apply_retention(struct trace_store *s)
{
    double cutoff = time_wall() - (double)s->retention_days * 86400;
    char sql[512];
    snprintf(sql, sizeof sql,
             "DELETE FROM request_traces WHERE timestamp < %.3f;"
             "DELETE FROM latency_observations WHERE timestamp < %.3f;"
             "DELETE FROM traces_hourly WHERE hour < %.0f;"
             "DELETE FROM tags_hourly WHERE hour < %.0f;"
             "DELETE FROM demand_hourly WHERE hour < %.0f;",
             cutoff, cutoff, cutoff - 3600, cutoff - 3600, cutoff - 3600);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        LOG_WARN("latency.db: retention failed: %s", sqlite3_errmsg(s->db));
}

static void on_retention(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct trace_store *s = arg;
    pthread_mutex_lock(&s->mu);
    s->retention_due = true; /* the writer deletes, off the loop */
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

static void load_p75(struct trace_store *s)
{
    static const char *const sql =
        "SELECT node_id, model_name, latency_ms FROM (SELECT node_id, model_name, latency_ms,"
        " timestamp, ROW_NUMBER() OVER (PARTITION BY node_id, model_name ORDER BY timestamp"
        " DESC) AS rn FROM latency_observations) WHERE rn <= 500 ORDER BY timestamp ASC";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW)
        p75_add(s, (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1), sqlite3_column_double(st, 2));
    sqlite3_finalize(st);
}

/* Columns added since the first schema (and absent from databases of the Python project). */
static const struct {
    const char *table, *column, *type;
} added_columns[] = {
    {"request_traces", "fallback_reason", "TEXT"},
    {"request_traces", "context_action", "TEXT"},
    {"request_traces", "auto_pulled", "INTEGER DEFAULT 0"},
    {"request_traces", "app", "TEXT"},    /* the name of the API key the client used */
    {"benchmark_runs", "status", "TEXT"}, /* completed or cancelled */
    {"benchmark_runs", "config", "TEXT"}, /* what the run was asked to do */
};

static bool has_column(sqlite3 *db, const char *table, const char *column)
{
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    sqlite3_stmt *st;
    bool found = false;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    while (!found && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        found = name && strcmp(name, column) == 0;
    }
    sqlite3_finalize(st);
    return found;
}

static int add_missing_columns(sqlite3 *db)
{
    for (size_t i = 0; i < sizeof added_columns / sizeof added_columns[0]; i++) {
        if (has_column(db, added_columns[i].table, added_columns[i].column))
            continue;
        char sql[160];
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", added_columns[i].table,
                 added_columns[i].column, added_columns[i].type);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            LOG_ERROR("latency.db: cannot add column %s.%s: %s", added_columns[i].table,
                      added_columns[i].column, sqlite3_errmsg(db));
            return -EIO;
        }
    }
    return 0;
}

struct trace_store *trace_store_open(struct event_base *base, const char *path, int flush_ms,
                                     int retention_days, char *err, size_t errlen)
{
    struct trace_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->db_mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->written, NULL);
    s->retention_days = retention_days;
    s->flush_ms = flush_ms > 0 ? flush_ms : 1;
    /* Full mutex: the writer thread and a benchmark's row (on the loop) share this one. */
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        trace_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    int version = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &msg) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        trace_store_close(s);
        return NULL;
    }
    if (prepare_rollups(s->db, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        trace_store_close(s);
        return NULL;
    }
    /* Readers get a connection of their own that cannot write: every write is this file's. */
    if (sqlite3_open_v2(path, &s->reader, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 s->reader ? sqlite3_errmsg(s->reader) : "cannot open for reading");
        trace_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->reader, 5000);
    if (version > SCHEMA_VERSION)
        LOG_WARN("%s: schema version %d is newer than this herd's %d", path, version,
                 SCHEMA_VERSION);
    else if (add_missing_columns(s->db) == 0)
        sqlite3_exec(s->db, "PRAGMA user_version = " TEXT_OF_VALUE(SCHEMA_VERSION), NULL, NULL,
                     NULL);
    if (sqlite3_prepare_v2(
            s->db,
            "INSERT INTO request_traces (request_id, model, original_model, node_id, score,"
            " scores_breakdown, status, latency_ms, time_to_first_token_ms, prompt_tokens,"
            " completion_tokens, retry_count, fallback_used, excluded_nodes, client_ip,"
            " original_format, error_message, timestamp, tags, fallback_reason, context_action,"
            " auto_pulled, app) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, &s->insert_trace, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT INTO latency_observations (node_id, model_name, latency_ms,"
                           " tokens_generated, timestamp, prompt_tokens, completion_tokens)"
                           " VALUES (?,?,?,?,?,?,?)",
                           -1, &s->insert_latency, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
        trace_store_close(s);
        return NULL;
    }
    apply_retention(s);
    load_p75(s);
    s->retention = event_new(base, -1, EV_PERSIST, on_retention, s);
    struct timeval hour = time_tv(3600);
    if (!s->retention || event_add(s->retention, &hour)) {
        snprintf(err, errlen, "cannot start the retention timer");
        trace_store_close(s);
        return NULL;
    }
    /* From here on the write connection is the writer thread's alone. */
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        trace_store_close(s);
        return NULL;
    }
    s->writer_started = true;
    return s;
}

void trace_store_close(struct trace_store *s)
{
    if (!s)
        return;
    if (s->writer_started) { /* it writes what is queued, then ends */
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->writer, NULL);
    }
    if (s->retention)
        event_free(s->retention);
    sqlite3_finalize(s->insert_trace);
    sqlite3_finalize(s->insert_latency);
    sqlite3_close(s->db);
    sqlite3_close(s->reader);
    for (size_t i = 0; i < s->n_rows; i++)
        row_free(&s->rows[i]);
    free(s->rows);
    free(s->p75);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->db_mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->written);
    free(s);
}

const char *trace_status_name(enum trace_status st)
{
    static const char *const names[] = {"completed", "failed", "incomplete", "retried",
                                        "client_disconnected"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "failed";
}

void trace_store_add(struct trace_store *s, struct trace_row *row)
{
    if (row->status == TRACE_COMPLETED && row->latency_ms >= 0)
        p75_add(s, row->node_id, row->model, row->latency_ms);
    pthread_mutex_lock(&s->mu);
    s->queued++;
    bool full = s->n_rows >= QUEUE_MAX;
    if (!full && s->n_rows == s->cap_rows) {
        size_t cap = s->cap_rows ? s->cap_rows * 2 : 256;
        struct trace_row *p = realloc(s->rows, cap * sizeof *p);
        if (p) {
            s->rows = p;
            s->cap_rows = cap;
        }
        full = !p;
    }
    uint64_t dropped = 0;
    if (full) {
        /* The disk cannot keep up: the proxy does not wait for it. Counted, in /metrics. */
        dropped = ++s->dropped;
        s->done++;
    } else {
        s->rows[s->n_rows++] = *row;
        memset(row, 0, sizeof *row);
    }
    pthread_mutex_unlock(&s->mu);
    if (full) {
        if (dropped % 1000 == 1)
            LOG_WARN("latency.db: %llu trace rows dropped so far: the disk does not keep up",
                     (unsigned long long)dropped);
        row_free(row);
    }
}

json_t *trace_store_recent(struct trace_store *s, int limit)
{
    trace_store_flush(s);
    json_t *arr = json_array();
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->reader,
                           "SELECT request_id, model, original_model, node_id, score,"
                           " scores_breakdown, status, latency_ms, time_to_first_token_ms,"
                           " prompt_tokens, completion_tokens, retry_count, fallback_used,"
                           " excluded_nodes, client_ip, original_format, error_message,"
                           " timestamp, tags, fallback_reason, context_action, auto_pulled, app"
                           " FROM request_traces ORDER BY id DESC LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return arr;
    sqlite3_bind_int(st, 1, limit);
    static const char *const json_columns[] = {"scores_breakdown", "excluded_nodes", "tags", NULL};
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = sql_json_row(st, json_columns);
        static const char *const flags[] = {"fallback_used", "auto_pulled"};
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
            if (json_is_integer(json_object_get(o, flags[k])))
                json_object_set_new(o, flags[k],
                                    json_boolean(json_integer_value(json_object_get(o, flags[k]))));
        json_array_append_new(arr, o);
    }
    sqlite3_finalize(st);
    return arr;
}

struct sqlite3 *trace_store_db(struct trace_store *s)
{
    trace_store_flush(s);
    return s->reader;
}

static int add_bench_run(struct trace_store *s, const struct trace_bench_run *run, char *err,
                         size_t errlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            s->db,
            "INSERT INTO benchmark_runs (run_id, timestamp, duration_s, total_requests,"
            " total_failures, total_prompt_tokens, total_completion_tokens, requests_per_sec,"
            " tokens_per_sec, latency_p50_ms, latency_p95_ms, latency_p99_ms, ttft_p50_ms,"
            " ttft_p95_ms, ttft_p99_ms, fleet_snapshot, per_model_results, per_node_results,"
            " peak_utilization, status, config) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
            " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(s->db));
        return -EIO;
    }
    static const char *const nums[] = {
        "total_requests",   "total_failures", "total_prompt_tokens", "total_completion_tokens",
        "requests_per_sec", "tokens_per_sec", "latency_p50_ms",      "latency_p95_ms",
        "latency_p99_ms",   "ttft_p50_ms",    "ttft_p95_ms",         "ttft_p99_ms"};
    sqlite3_bind_text(st, 1, run->run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 2, run->timestamp);
    sqlite3_bind_double(st, 3, run->duration_s);
    for (int i = 0; i < 12; i++) {
        const json_t *v = json_object_get(run->summary, nums[i]);
        if (json_is_integer(v))
            sqlite3_bind_int64(st, 4 + i, json_integer_value(v));
        else if (json_is_number(v))
            sqlite3_bind_double(st, 4 + i, json_number_value(v));
        else
            sqlite3_bind_null(st, 4 + i);
    }
    const json_t *texts[] = {run->snapshot, json_object_get(run->summary, "per_model"),
                             json_object_get(run->summary, "per_node"), run->peak};
    for (int i = 0; i < 4; i++) {
        char *text = json_dumps(texts[i], JSON_COMPACT | JSON_ENCODE_ANY);
        sqlite3_bind_text(st, 16 + i, text ? text : "null", -1, SQLITE_TRANSIENT);
        free(text);
    }
    sqlite3_bind_text(st, 20, run->status, -1, SQLITE_TRANSIENT);
    char *config = json_dumps(run->config, JSON_COMPACT);
    sqlite3_bind_text(st, 21, config ? config : "null", -1, SQLITE_TRANSIENT);
    free(config);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    if (rc)
        snprintf(err, errlen, "%s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc;
}

int trace_store_add_bench_run(struct trace_store *s, const struct trace_bench_run *run, char *err,
                              size_t errlen)
{
    pthread_mutex_lock(&s->db_mu); /* once per benchmark: it may wait for one batch */
    int rc = add_bench_run(s, run, err, errlen);
    pthread_mutex_unlock(&s->db_mu);
    return rc;
}
