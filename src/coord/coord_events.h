/* coord_events: GET /dashboard/events, the dashboard's live view. A server-sent-events stream
 * that sends what /fleet/status answers at once and then every two seconds. At most
 * EVENTS_CLIENTS_MAX streams; a client that does not keep up misses updates instead of making
 * herd buffer them (the next update says everything anyway). */
#ifndef HERD_COORD_EVENTS_H
#define HERD_COORD_EVENTS_H

#define EVENTS_CLIENTS_MAX 32
#define EVENTS_PERIOD_S 2.0

struct coord;
struct coord_events;

/* Registers the route on c's server. NULL on out of memory. */
struct coord_events *coord_events_new(struct coord *c);

/* Ends every stream and frees. Accepts NULL. Call after the server stopped or from shutdown. */
void coord_events_free(struct coord_events *e);

#endif
