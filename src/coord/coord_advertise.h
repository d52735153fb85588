/* coord_advertise: herd announces itself as _fleet-manager._tcp by mDNS so that herd-node finds
 * it without configuration. TXT: version, port, api, tls, auth. */
#ifndef HERD_COORD_ADVERTISE_H
#define HERD_COORD_ADVERTISE_H

#include <event2/event.h>

#include "coord/coord.h"

struct coord_advert;

/* Starts advertising the coordinator listening on port, under s->mdns_service_name (s is
 * borrowed only during the call). A coordinator bound to a loopback address cannot be reached
 * from the network, so it is not advertised; nor is one without a multicast socket. Both
 * return NULL after a log line: herd runs on, and nodes can use --router-url. */
struct coord_advert *coord_advertise_start(struct event_base *base, const struct coord_settings *s,
                                           int port);

/* Says goodbye on the network and frees. Accepts NULL. */
void coord_advertise_stop(struct coord_advert *ad);

#endif
