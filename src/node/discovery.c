#include "node/discovery.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "net/mdns.h"
#include "net/mdns_browse.h"
#include "net/mdns_txt.h"
#include "node/agent.h"

#define FAILURES_BEFORE_LOOKING 3
#define LOOK_AGAIN_S 10.0    /* at most this often while heartbeats fail */
#define NOTHING_FOUND_S 10.0 /* warn once when nothing turned up this long */

struct known {
    bool used, up;
    char name[80];
    char url[300];
    double failed_at; /* monotonic; 0 = never */
};

struct discovery {
    struct agent *agent;
    struct mdns *m;
    struct mdns_browse *browse;
    char router_name[80];
    struct event *tick;
    struct known known[MDNS_BROWSE_MAX];
    char chosen[80];
    double started, looked_again;
    bool warned;
};

static struct known *known_get(struct discovery *d, const char *name, bool add)
{
    struct known *free_slot = NULL;
    for (int i = 0; i < MDNS_BROWSE_MAX; i++) {
        if (d->known[i].used && strcasecmp(d->known[i].name, name) == 0)
            return &d->known[i];
        if (!d->known[i].used && !free_slot)
            free_slot = &d->known[i];
    }
    if (!add || !free_slot)
        return NULL;
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->used = true;
    snprintf(free_slot->name, sizeof free_slot->name, "%s", name);
    return free_slot;
}

static void choose(struct discovery *d, struct known *k)
{
    char how[128];
    snprintf(how, sizeof how, "found by mDNS as '%s'", k->name);
    snprintf(d->chosen, sizeof d->chosen, "%s", k->name);
    agent_set_router(d->agent, k->url, how);
}

static void on_instance(enum mdns_browse_event ev, const struct mdns_instance *inst, void *arg)
{
    struct discovery *d = arg;
    if (d->router_name[0] && strcasecmp(d->router_name, inst->name) != 0) {
        if (ev == MDNS_INSTANCE_UP)
            LOG_DEBUG("mDNS: ignoring coordinator '%s' (--router-name is '%s')", inst->name,
                      d->router_name);
        return;
    }
    struct known *k = known_get(d, inst->name, ev == MDNS_INSTANCE_UP);
    if (!k)
        return;
    bool chosen = strcasecmp(d->chosen, k->name) == 0;
    if (ev == MDNS_INSTANCE_GONE) {
        k->up = false;
        if (chosen)
            LOG_INFO("mDNS: coordinator '%s' withdrew its advertisement; keeping %s until it or "
                     "another one answers",
                     k->name, k->url);
        return;
    }
    char tls[8] = "", ip[INET_ADDRSTRLEN];
    mdns_txt_get(inst->txt, inst->txt_len, "tls", tls, sizeof tls);
    inet_ntop(AF_INET, &inst->ip, ip, sizeof ip);
    char url[sizeof k->url];
    snprintf(url, sizeof url, "%s://%s:%u", strcmp(tls, "1") == 0 ? "https" : "http", ip,
             (unsigned)inst->port);
    if (!k->up || strcmp(url, k->url) != 0) {
        char version[32] = "";
        mdns_txt_get(inst->txt, inst->txt_len, "version", version, sizeof version);
        LOG_INFO("mDNS: coordinator '%s' at %s%s%s", k->name, url, version[0] ? ", version " : "",
                 version);
    }
    snprintf(k->url, sizeof k->url, "%s", url);
    k->up = true;
    /* The one in use moved, or there is none yet, or the one in use keeps failing. */
    if (chosen || !d->chosen[0] ||
        (agent_failures(d->agent) >= FAILURES_BEFORE_LOOKING && !k->failed_at))
        choose(d, k);
}

/* While heartbeats fail, ask the network again and try a coordinator that has not failed. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct discovery *d = arg;
    double now = time_mono();
    if (!d->chosen[0]) {
        if (!d->warned && now - d->started >= NOTHING_FOUND_S) {
            d->warned = true;
            LOG_WARN("mDNS: no coordinator%s%s%s found on the local network yet (is herd running "
                     "with mDNS on, on this network? --router-url sets it by hand); still "
                     "looking",
                     d->router_name[0] ? " named '" : "", d->router_name,
                     d->router_name[0] ? "'" : "");
        }
        return;
    }
    if (agent_failures(d->agent) < FAILURES_BEFORE_LOOKING) {
        struct known *k = known_get(d, d->chosen, false);
        if (k)
            k->failed_at = 0;
        return;
    }
    if (now - d->looked_again < LOOK_AGAIN_S)
        return;
    d->looked_again = now;
    struct known *cur = known_get(d, d->chosen, false);
    if (cur && !cur->failed_at)
        cur->failed_at = now;
    for (int i = 0; i < MDNS_BROWSE_MAX; i++) {
        struct known *k = &d->known[i];
        if (k->used && k->up && !k->failed_at && k != cur) {
            LOG_INFO("mDNS: coordinator '%s' does not answer; trying '%s'", d->chosen, k->name);
            choose(d, k);
            return;
        }
    }
    LOG_DEBUG("mDNS: coordinator '%s' does not answer; asking the network again", d->chosen);
    mdns_browse_refresh(d->browse);
}

struct discovery *discovery_start(struct event_base *base, struct agent *agent,
                                  const char *router_name, const char *lan_ip, char *err,
                                  size_t errlen)
{
    struct discovery *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->agent = agent;
    d->started = time_mono();
    if (router_name)
        snprintf(d->router_name, sizeof d->router_name, "%s", router_name);
    d->m = mdns_new(base, lan_ip, err, errlen);
    if (!d->m) {
        discovery_stop(d);
        return NULL;
    }
    d->browse = mdns_browse_new(d->m, HERD_MDNS_TYPE, on_instance, d);
    d->tick = event_new(base, -1, EV_PERSIST, on_tick, d);
    if (!d->browse || !d->tick) {
        snprintf(err, errlen, "out of memory");
        discovery_stop(d);
        return NULL;
    }
    struct timeval second = {1, 0};
    event_add(d->tick, &second);
    if (mdns_interfaces(d->m) == 0)
        LOG_WARN("mDNS: no multicast network interface is up yet; will look when one is");
    LOG_INFO("looking for the coordinator%s%s%s by mDNS (%s)", d->router_name[0] ? " '" : "",
             d->router_name, d->router_name[0] ? "'" : "", HERD_MDNS_TYPE);
    return d;
}

void discovery_stop(struct discovery *d)
{
    if (!d)
        return;
    if (d->tick)
        event_free(d->tick);
    mdns_browse_free(d->browse);
    mdns_free(d->m);
    free(d);
}
