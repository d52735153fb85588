/* The p75 latency the scorer reads: the value a full sort of the last 500 latencies gives,
 * for windows not yet full, full, and wrapped, with ties and every order. */
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(p75_matches_a_sort)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
