/* trace_store: latency.db, the record of every routing decision and its outcome.
 *
 * Tables (SQLite, WAL): request_traces (one row per attempt and outcome, the columns of the
 * Python project so its queries keep working), latency_observations (one row per completed
 * request), benchmark_runs. Rows go into a bounded queue that a writer thread of this module
 * writes in one transaction every flush interval, with the hourly retention: the event loop
 * never waits for the disk to record a request. When the queue is full (the disk does not keep
 * up) new rows are dropped, counted (trace_store_dropped, /metrics) and logged, and the proxy
 * goes on. The p75 latency of the last 500 completed requests of each node:model is kept in
 * memory, on the loop, for the scorer. */
#ifndef HERD_TRACE_STORE_H
#define HERD_TRACE_STORE_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct trace_store;

/* How a request (or one attempt of it) ended: the status column of request_traces. */
enum trace_status {
    TRACE_COMPLETED,
    TRACE_FAILED,
    TRACE_INCOMPLETE,          /* the stream ended before its final chunk */
    TRACE_RETRIED,             /* an attempt that failed before its first chunk */
    TRACE_CLIENT_DISCONNECTED, /* the client left first */
};

/* "completed", "failed", "incomplete", "retried", "client_disconnected". */
const char *trace_status_name(enum trace_status s);

struct trace_row {
    char request_id[40];
    char model[160];
    char original_model[160];
    char node_id[128];
    double score;
    char *scores_breakdown; /* JSON text; owned by the row */
    enum trace_status status;
    double latency_ms;     /* < 0: unknown */
    double ttft_ms;        /* < 0: unknown */
    int64_t prompt_tokens; /* < 0: unknown */
    int64_t completion_tokens;
    int retry_count;
    bool fallback_used;
    const char *fallback_reason; /* "fallback_models", "vram", "context"; static, may be NULL */
    const char *context_action;  /* "stripped", "warned", "moved", "upgraded", "overflow"; static,
                                    may be NULL */
    bool auto_pulled;            /* the model was pulled for this request */
    char *excluded_nodes;        /* JSON array text, owned; NULL = "[]" */
    char client_ip[64];
    const char *original_format; /* "ollama" or "openai" */
    char *error_message;         /* owned, may be NULL */
    double timestamp;            /* wall time */
    char *tags;                  /* JSON array text, owned; NULL = none */
    char app[64];                /* the API key's name ("" without keys) */
};

/* Opens (creating or migrating) path and starts the writer thread, which writes every
 * flush_ms. NULL with a message on failure. */
struct trace_store *trace_store_open(struct event_base *base, const char *path, int flush_ms,
                                     int retention_days, char *err, size_t errlen);
/* Stops the writer once it has written what is queued, and closes. Accepts NULL. */
void trace_store_close(struct trace_store *s);

/* Queues a trace row (its owned strings are taken over). A completed row also adds a latency
 * observation for node:model and updates the p75. */
void trace_store_add(struct trace_store *s, struct trace_row *row);
/* Waits until the writer has written (or dropped) every row queued so far: for readers that
 * must see them (the dashboard's queries), never on a request's path. Returns 0. */
int trace_store_flush(struct trace_store *s);
/* Rows dropped since start because the queue was full. */
uint64_t trace_store_dropped(struct trace_store *s);

/* p75 latency (ms) of the last 500 completed requests of node:model; 0 when none. */
double trace_store_p75(struct trace_store *s, const char *node_id, const char *model);

/* The newest traces (flushing first), as a JSON array of objects, newest first. */
json_t *trace_store_recent(struct trace_store *s, int limit);

/* A finished dashboard benchmark, for benchmark_runs. Borrowed for the call. */
struct trace_bench_run {
    const char *run_id;
    double timestamp; /* wall time it started */
    double duration_s;
    const json_t *summary; /* bench_summary(): totals, rates, percentiles, per_model, per_node */
    const json_t *snapshot;
    const json_t *peak;
    const json_t *config;
    const char *status; /* "completed", "cancelled" */
};

/* Writes a benchmark's row now (one when a run ends). 0, or -EIO with SQLite's reason in err. */
int trace_store_add_bench_run(struct trace_store *s, const struct trace_bench_run *run, char *err,
                              size_t errlen);

/* A read-only connection to the database, after writing what is batched, for queries
 * (analytics, the dashboard). Borrowed; it cannot write. */
struct sqlite3 *trace_store_db(struct trace_store *s);

#endif
