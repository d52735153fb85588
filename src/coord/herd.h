/* herd: the coordinator assembled: its core (coord) and every part that serves on it (the
 * fleet API, the inference API, the dashboard, model management, benchmarks, the live stream,
 * keys and limits, metrics), wired together. */
#ifndef HERD_HERD_H
#define HERD_HERD_H

#include "coord/coord.h"

/* Builds the whole coordinator on base from settings (borrowed, must outlive it). NULL with a
 * message on failure. */
struct coord *herd_new(struct event_base *base, struct coord_settings *settings, char *err,
                       size_t errlen);
/* Stops and frees every part, then the core. Accepts NULL. */
void herd_free(struct coord *c);

#endif
