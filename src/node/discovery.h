/* discovery: herd-node finds its coordinator by mDNS.
 *
 * Browses _fleet-manager._tcp on the local network and hands the agent the URL of the
 * coordinator it picks: the one named --router-name, or else the first one resolved. It keeps
 * browsing: a coordinator that comes back at another address or port is followed, and when
 * heartbeats keep failing it asks the network again and moves to another coordinator if one
 * answers. A coordinator that says goodbye keeps its address (it is probably restarting)
 * until another one appears. */
#ifndef HERD_DISCOVERY_H
#define HERD_DISCOVERY_H

#include <event2/event.h>
#include <stddef.h>

struct agent;
struct discovery;

/* Starts on base for agent (borrowed; both must outlive the discovery). router_name: only a
 * coordinator with this instance name (case-insensitive), NULL or "" = any. lan_ip: the
 * interface to use (NULL or "" = the one with the default route). NULL with a message in err
 * when the mDNS socket cannot be opened. */
struct discovery *discovery_start(struct event_base *base, struct agent *agent,
                                  const char *router_name, const char *lan_ip, char *err,
                                  size_t errlen);

/* Stops browsing and frees. Accepts NULL. */
void discovery_stop(struct discovery *d);

#endif
