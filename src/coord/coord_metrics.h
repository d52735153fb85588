/* coord_metrics: GET /metrics, herd's counters in Prometheus's text format (docs/metrics.md).
 * Counters are fed as requests end; node and queue gauges are read at each scrape. */
#ifndef HERD_COORD_METRICS_H
#define HERD_COORD_METRICS_H

struct coord;
struct coord_metrics;
struct trace_row;

/* Registers GET /metrics on c's server. NULL when out of memory. */
struct coord_metrics *coord_metrics_new(struct coord *c);
/* Accepts NULL. */
void coord_metrics_free(struct coord_metrics *m);

/* One attempt of a request ended as row says (the row written to the traces); api is the
 * route's path ("/api/chat"). Accepts a NULL m. */
void coord_metrics_request(struct coord_metrics *m, const struct trace_row *row, const char *api);
/* A request was cancelled because its node stopped sending (the reaper). */
void coord_metrics_reaped(struct coord_metrics *m);

#endif
