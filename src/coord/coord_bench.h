/* coord_bench: the dashboard's benchmarks: concurrent streamed chats through herd's own port,
 * progress, cancel, results in benchmark_runs. */
#ifndef HERD_COORD_BENCH_H
#define HERD_COORD_BENCH_H

#include "coord/coord.h"

/* Registers /dashboard/api/benchmarks[/...] on c's server. NULL when out of memory. */
struct coord_bench *coord_bench_new(struct coord *c);
/* Ends a running benchmark (cancelled; its results so far are saved). Accepts NULL. */
void coord_bench_stop(struct coord_bench *b);
/* Cancels its requests and frees it. Accepts NULL. */
void coord_bench_free(struct coord_bench *b);

#endif
