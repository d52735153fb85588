#include "net/mdns_service.h"
#include "net/mdns_lib.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "net/mdns_txt.h"

#define TTL_HOST 120   /* RFC 6762 §10: records with a host name */
#define TTL_OTHER 4500 /* everything else */
#define MAX_RENAMES 50
#define TXT_MAX 1024

struct mdns_service {
    struct mdns *m;
    struct event *rename; /* deferred: libmdnsd calls us while it parses */
    char type[128];       /* "_fleet-manager._tcp.local." */
    char base_instance[64];
    char base_host[64];
    char instance[80]; /* label in use */
    char full[256];    /* "instance._fleet-manager._tcp.local." */
    char host[128];    /* "herd-studio.local." */
    uint16_t port;
    unsigned char txt[TXT_MAX];
    size_t txt_len;
    int renames;
    bool clash;
    mdns_record_t *ptr, *srv, *txtr, *a, *disco;
};

/* A DNS label of at most max bytes, without dots (a label cannot hold one unescaped). */
static void label_copy(char *out, size_t outlen, const char *in, size_t max)
{
    size_t n = 0;
    for (; in[n] && n < max && n + 1 < outlen; n++)
        out[n] = in[n] == '.' ? '-' : in[n];
    out[n] = '\0';
}

static bool same_name(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* Someone else's answer for one of our unique names, with other data: a clash. Our own
 * packets come back through multicast loopback with the same data, goodbyes (TTL 0) only
 * withdraw, and the known answers of a query are a cache's memory (of a coordinator that
 * crashed, say), not a claim. */
static void on_record(const struct resource *r, void *arg)
{
    struct mdns_service *s = arg;
    if (!r->name || r->ttl == 0 || s->clash || !mdns_reading_response(s->m))
        return;
    bool clash = false;
    if (same_name(r->name, s->full) && r->type == QTYPE_SRV)
        clash = r->known.srv.port != s->port || !same_name(r->known.srv.name, s->host);
    else if (same_name(r->name, s->full) && r->type == QTYPE_TXT)
        clash = r->rdlength != s->txt_len || (r->rdata && memcmp(r->rdata, s->txt, s->txt_len));
    else if (same_name(r->name, s->host) && r->type == QTYPE_A)
        clash = r->known.a.ip.s_addr != mdns_address(s->m).s_addr;
    if (clash) {
        s->clash = true;
        event_active(s->rename, 0, 0);
    }
}

/* libmdnsd found the clash itself while probing; it drops the record after this returns. */
static void on_conflict(char *name, int type, void *arg)
{
    struct mdns_service *s = arg;
    if (type == QTYPE_SRV && same_name(name, s->full))
        s->srv = NULL;
    else if (type == QTYPE_TXT && same_name(name, s->full))
        s->txtr = NULL;
    else if (type == QTYPE_A && same_name(name, s->host))
        s->a = NULL;
    s->clash = true;
    event_active(s->rename, 0, 0);
}

static void withdraw(struct mdns_service *s)
{
    mdns_daemon_t *d = mdns_daemon(s->m);
    mdns_record_t **all[] = {&s->ptr, &s->srv, &s->txtr, &s->a};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i])
            mdnsd_done(d, *all[i]);
        *all[i] = NULL;
    }
}

static void publish(struct mdns_service *s)
{
    mdns_daemon_t *d = mdns_daemon(s->m);
    if (s->renames == 0) {
        snprintf(s->instance, sizeof s->instance, "%s", s->base_instance);
        snprintf(s->host, sizeof s->host, "%s.local.", s->base_host);
    } else {
        snprintf(s->instance, sizeof s->instance, "%.56s (%d)", s->base_instance, s->renames + 1);
        snprintf(s->host, sizeof s->host, "%.56s-%d.local.", s->base_host, s->renames + 1);
    }
    snprintf(s->full, sizeof s->full, "%s.%s", s->instance, s->type);

    s->ptr = mdnsd_shared(d, s->type, QTYPE_PTR, TTL_OTHER);
    mdnsd_set_host(d, s->ptr, s->full);
    s->srv = mdnsd_unique(d, s->full, QTYPE_SRV, TTL_HOST, on_conflict, s);
    mdnsd_set_srv(d, s->srv, 0, 0, s->port, s->host);
    s->txtr = mdnsd_unique(d, s->full, QTYPE_TXT, TTL_OTHER, on_conflict, s);
    mdnsd_set_raw(d, s->txtr, (const char *)s->txt, (unsigned short)s->txt_len);
    s->a = mdnsd_unique(d, s->host, QTYPE_A, TTL_HOST, on_conflict, s);
    mdnsd_set_ip(d, s->a, mdns_address(s->m));
    if (!s->disco) {
        s->disco = mdnsd_shared(d, DISCO_NAME, QTYPE_PTR, TTL_OTHER);
        mdnsd_set_host(d, s->disco, s->type);
    }
    mdns_kick(s->m);
}

static void on_rename(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mdns_service *s = arg;
    char was[sizeof s->instance];
    snprintf(was, sizeof was, "%s", s->instance);
    withdraw(s);
    if (++s->renames >= MAX_RENAMES) {
        LOG_ERROR("mDNS: '%s' and the next %d names are all taken; not advertising", was,
                  MAX_RENAMES);
        mdns_kick(s->m);
        return;
    }
    s->clash = false;
    publish(s);
    LOG_WARN("mDNS: another machine on the network uses the name '%s'; advertising as '%s'", was,
             s->instance);
}

struct mdns_service *mdns_service_new(struct mdns *m, const struct mdns_service_opts *opts,
                                      char *err, size_t errlen)
{
    if (!opts->type || !opts->instance || !*opts->instance || !opts->host_label ||
        !*opts->host_label) {
        snprintf(err, errlen, "mDNS service needs a type, an instance name and a host name");
        return NULL;
    }
    struct mdns_service *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->m = m;
    s->port = opts->port;
    snprintf(s->type, sizeof s->type, "%s.local.", opts->type);
    label_copy(s->base_instance, sizeof s->base_instance, opts->instance, 63);
    label_copy(s->base_host, sizeof s->base_host, opts->host_label, 60);
    s->txt_len = mdns_txt_build(opts->txt, s->txt, sizeof s->txt);
    s->rename = event_new(mdns_base(m), -1, 0, on_rename, s);
    if (s->txt_len == 0 || !s->rename) {
        snprintf(err, errlen, s->rename ? "TXT entries too long" : "out of memory");
        mdns_service_free(s);
        return NULL;
    }
    mdnsd_register_receive_callback(mdns_daemon(m), on_record, s);
    publish(s);
    return s;
}

const char *mdns_service_instance(const struct mdns_service *s)
{
    return s->instance;
}

void mdns_service_free(struct mdns_service *s)
{
    if (!s)
        return;
    mdnsd_register_receive_callback(mdns_daemon(s->m), NULL, NULL);
    withdraw(s);
    if (s->disco)
        mdnsd_done(mdns_daemon(s->m), s->disco);
    /* Send the goodbyes now: libmdnsd keeps a withdrawn record (and our callback on it)
     * until it is sent. */
    mdns_kick(s->m);
    if (s->rename)
        event_free(s->rename);
    free(s);
}
