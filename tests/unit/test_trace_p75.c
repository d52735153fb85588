/* The p75 latency the scorer reads: the value a full sort of the last 500 latencies gives,
 * for windows not yet full, full, and wrapped, with ties and every order. The writer thread:
 * every row queued is written, a flush makes them visible to readers, a close writes the
 * rest. */
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "coord/trace_store.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p75 by sorting the last min(n, 500) values. */
static double sorted_p75(const double *all, int n)
{
    int from = n > 500 ? n - 500 : 0, k = n - from;
    double *v = malloc((size_t)k * sizeof *v);
    memcpy(v, all + from, (size_t)k * sizeof *v);
    qsort(v, (size_t)k, sizeof *v, cmp);
    double p = v[(int)(k * 0.75) < k ? (int)(k * 0.75) : k - 1];
    free(v);
    return p;
}

static void p75_matches_a_sort(void **state)
{
    (void)state;
    char dir[] = "/tmp/herd-p75-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/latency.db", dir);
    struct event_base *base = event_base_new();
    char err[200];
    struct trace_store *s = trace_store_open(base, path, 1000, 0, err, sizeof err);
    assert_non_null(s);
    assert_true(trace_store_p75(s, "a", "m") == 0); /* none yet */
    static double all[1300];
    unsigned x = 12345;
    for (int i = 0; i < 1300; i++) {
        x = x * 1103515245u + 12345u;
        /* Rising, falling, random, and runs of ties. */
        all[i] = i < 300 ? i : i < 600 ? 900 - i : i < 1000 ? (double)(x % 1000) : (double)(i / 50);
        struct trace_row row = {.status = TRACE_COMPLETED,
                                .latency_ms = all[i],
                                .ttft_ms = -1,
                                .prompt_tokens = -1,
                                .completion_tokens = -1};
        snprintf(row.node_id, sizeof row.node_id, "a");
        snprintf(row.model, sizeof row.model, "m");
        snprintf(row.request_id, sizeof row.request_id, "r%d", i);
        trace_store_add(s, &row);
        assert_true(trace_store_p75(s, "a", "m") == sorted_p75(all, i + 1));
    }
    assert_true(trace_store_p75(s, "b", "m") == 0); /* another node:model has its own */
    trace_store_close(s);
    event_base_free(base);
    unlink(path);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}

static long count(struct trace_store *s, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(trace_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void add_rows(struct trace_store *s, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        struct trace_row row = {.status = i % 3 ? TRACE_COMPLETED : TRACE_FAILED,
                                .latency_ms = i % 3 ? 10.0 + i % 7 : -1,
                                .ttft_ms = -1,
                                .prompt_tokens = -1,
                                .completion_tokens = -1,
                                .timestamp = 1.7e9 + i,
                                .original_format = "ollama"};
        snprintf(row.node_id, sizeof row.node_id, "n%d", i % 4);
        snprintf(row.model, sizeof row.model, "m");
        snprintf(row.request_id, sizeof row.request_id, "r%d", i);
        row.error_message = i % 3 ? NULL : strdup("boom"); /* taken over by the store */
        trace_store_add(s, &row);
    }
}

static void the_writer_writes_every_row(void **state)
{
    (void)state;
    char dir[] = "/tmp/herd-writer-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/latency.db", dir);
    struct event_base *base = event_base_new();
    char err[200];
    /* A long interval: only the flush and the close make the writer write. */
    struct trace_store *s = trace_store_open(base, path, 60000, 36500, err, sizeof err);
    assert_non_null(s);
    add_rows(s, 0, 5000);
    assert_int_equal(trace_store_flush(s), 0);
    assert_int_equal(count(s, "SELECT count(*) FROM request_traces"), 5000);
    assert_int_equal(count(s, "SELECT count(*) FROM latency_observations"), 5000 - 1667);
    assert_int_equal(count(s, "SELECT count(*) FROM request_traces WHERE error_message = 'boom'"),
                     1667);
    add_rows(s, 5000, 777);
    assert_int_equal(trace_store_dropped(s), 0);
    trace_store_close(s); /* without a flush: the writer writes them before it ends */
    s = trace_store_open(base, path, 60000, 36500, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(count(s, "SELECT count(*) FROM request_traces"), 5777);
    trace_store_close(s);
    event_base_free(base);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[80];
        snprintf(f, sizeof f, "%s%s", path, suffix[i]);
        unlink(f);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(p75_matches_a_sort),
                                       cmocka_unit_test(the_writer_writes_every_row)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
