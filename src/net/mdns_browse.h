/* mdns_browse: finds the instances of one DNS-SD service type on an mdns endpoint and
 * resolves each to an address, a port and its TXT data.
 *
 * Browses the type's PTR records, then asks for each instance's SRV and TXT and for the A
 * record of the SRV's host (libmdnsd does not take records from a reply's additional
 * section, so each is asked for). While no instance is resolved the question is asked again,
 * at growing intervals (1 s up to 30 s); mdns_browse_refresh asks again at once. The owner
 * hears about changes from the loop, never from inside libmdnsd, so its callback may do
 * anything, including freeing the browser. */
#ifndef HERD_MDNS_BROWSE_H
#define HERD_MDNS_BROWSE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/mdns.h"

#define MDNS_BROWSE_MAX 32 /* instances followed at once; more are ignored */

struct mdns_instance {
    char name[80];  /* the instance label: "Fleet Manager Router" */
    char host[256]; /* the SRV target: "herd-studio.local." */
    uint16_t port;
    struct in_addr ip;
    unsigned char txt[512];
    size_t txt_len;
};

enum mdns_browse_event {
    MDNS_INSTANCE_UP,   /* resolved, or its address, port or TXT changed */
    MDNS_INSTANCE_GONE, /* withdrawn (goodbye) or no longer resolvable */
};

typedef void (*mdns_browse_cb)(enum mdns_browse_event ev, const struct mdns_instance *inst,
                               void *arg);

struct mdns_browse;

/* Starts browsing type ("_fleet-manager._tcp") on m (borrowed; it must outlive the browser).
 * inst passed to cb is borrowed for the call. NULL on out of memory. */
struct mdns_browse *mdns_browse_new(struct mdns *m, const char *type, mdns_browse_cb cb, void *arg);

/* Asks the network again now (the coordinator stopped answering, say). */
void mdns_browse_refresh(struct mdns_browse *b);

/* Stops (drops its questions) and frees. Accepts NULL. */
void mdns_browse_free(struct mdns_browse *b);

#endif
