/* metrics: counters, gauges and histograms with labels, written in Prometheus's text format
 * (version 0.0.4). Pure: the coordinator feeds it (coord_metrics.c).
 *
 * A family is declared once (name, type, help, buckets); its series are created on first use
 * from their label pairs. The number of series is bounded: past the bound a new series is
 * not created and herd_metrics_series_dropped_total counts it, so a flood of made-up model
 * names cannot grow memory without end. */
#ifndef HERD_METRICS_H
#define HERD_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;

/* NULL when out of memory. Free with metrics_free. */
struct metrics *metrics_new(size_t max_series);
void metrics_free(struct metrics *m);

/* Declares a family; returns its id (>= 0) or -1. name and help are borrowed (string
 * literals). buckets: the histogram's upper bounds, increasing (copied); +Inf is added. */
int metrics_family(struct metrics *m, const char *name, enum metric_type type, const char *help,
                   const double *buckets, size_t n_buckets);

/* labels: "name", "value", "name", "value", ..., NULL (values are escaped when written). */
void metrics_add(struct metrics *m, int family, const char *const *labels, double v);
void metrics_set(struct metrics *m, int family, const char *const *labels, double v);
void metrics_observe(struct metrics *m, int family, const char *const *labels, double v);
/* Drops every series of a family (gauges rebuilt at each scrape). */
void metrics_reset(struct metrics *m, int family);

/* The whole exposition; malloc'ed, the caller frees. NULL when out of memory. */
char *metrics_render(const struct metrics *m, size_t *len);

/* Series dropped at the bound so far. */
uint64_t metrics_dropped(const struct metrics *m);

#endif
