/* mdns: one mDNS endpoint on the program's event loop, over libmdnsd.
 *
 * A UDP socket on port 5353 (shared with other responders on the machine), joined to
 * 224.0.0.251 on every IPv4 interface that is up and multicast-capable; what it sends leaves
 * through the interface of the LAN address. libmdnsd does the protocol (probing, announcing,
 * answering, caching, goodbyes); this module feeds it packets, sends what it produces, and
 * wakes it when it asks to be. Interfaces that appear later are joined within 30 s, and a
 * changed LAN address (when none was given) is followed.
 *
 * Callers publish records and register queries on mdns_daemon() directly, then call
 * mdns_kick so that what they queued goes out at once. libmdnsd calls answer and conflict
 * callbacks while it reads packets: those callbacks must not add or remove records or
 * queries themselves, only note what to do and do it from a deferred event. */
#ifndef HERD_MDNS_H
#define HERD_MDNS_H

#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* The DNS-SD service type herd advertises and herd-node looks for. */
#define HERD_MDNS_TYPE "_fleet-manager._tcp"

struct mdns;
struct mdns_daemon; /* libmdnsd's mdns_daemon_t (net/mdns_lib.h) */

/* Opens the endpoint on base. lan_ip is the IPv4 address to announce and to send from (NULL
 * or "" = netaddr_lan_ipv4, re-checked every 30 s). NULL with a message in err when the socket
 * cannot be opened. Joining no interface is not an error (see mdns_interfaces). */
struct mdns *mdns_new(struct event_base *base, const char *lan_ip, char *err, size_t errlen);

/* The libmdnsd daemon, owned by m. */
struct mdns_daemon *mdns_daemon(struct mdns *m);

/* The loop m runs on. */
struct event_base *mdns_base(const struct mdns *m);

/* The LAN address in use (network byte order). */
struct in_addr mdns_address(const struct mdns *m);

/* While libmdnsd processes a received packet (in its callbacks): whether the packet is a
 * response, whose answers come from their owner, rather than a query, whose "known answers"
 * are only what the asker has cached (perhaps from a machine that is gone). */
bool mdns_reading_response(const struct mdns *m);

/* How many interfaces the socket has joined the mDNS group on. */
int mdns_interfaces(const struct mdns *m);

/* Multicasts one question (name, QTYPE_*) now. Answers reach the libmdnsd query registered
 * for that name and type. (Re-asking this way, rather than dropping and re-adding a query,
 * because libmdnsd 0.12 corrupts memory when a query is removed.) */
void mdns_ask(struct mdns *m, const char *name, int type);

/* Sends what libmdnsd has queued and re-arms its timer; call after publishing or querying. */
void mdns_kick(struct mdns *m);

/* Says goodbye for every published record (TTL 0, sent at once), then frees everything.
 * Accepts NULL. */
void mdns_free(struct mdns *m);

#endif
