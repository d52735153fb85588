/* mdns_service: advertises one DNS-SD service instance (RFC 6763) on an mdns endpoint.
 *
 * Publishes the PTR of the service type, the instance's SRV and TXT, the A record of the
 * host name behind it, and the PTR that lists the type under _services._dns-sd._udp. When
 * another machine answers for the instance or host name with different data (a name clash),
 * the service takes the next free name: "NAME (2)" and "HOST-2", then 3..., and logs it; the
 * same data from a restarted copy of ourselves is not a clash. */
#ifndef HERD_MDNS_SERVICE_H
#define HERD_MDNS_SERVICE_H

#include <stdint.h>

#include "net/mdns.h"

struct mdns_service;

struct mdns_service_opts {
    const char *type;       /* "_fleet-manager._tcp" */
    const char *instance;   /* "Fleet Manager Router" (dots become '-', cut to 63 bytes) */
    const char *host_label; /* "herd-studio": published as "herd-studio.local." */
    uint16_t port;
    const char *const *txt; /* "key=value" strings, NULL-terminated */
};

/* Starts advertising on m (borrowed; it must outlive the service). Everything in opts is
 * copied. NULL on bad options (err says why). */
struct mdns_service *mdns_service_new(struct mdns *m, const struct mdns_service_opts *opts,
                                      char *err, size_t errlen);

/* The instance name in use (after any renaming). Borrowed. */
const char *mdns_service_instance(const struct mdns_service *s);

/* Withdraws the records (goodbye packets go out with the next mdns_kick or mdns_free) and
 * frees the service. Accepts NULL. */
void mdns_service_free(struct mdns_service *s);

#endif
