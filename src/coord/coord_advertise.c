/* coord_advertise: herd's mDNS advertisement. */
#include "coord/coord_advertise.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "net/mdns.h"
#include "net/mdns_service.h"

struct coord_advert {
    struct mdns *m;
    struct mdns_service *service;
};

struct coord_advert *coord_advertise_start(struct event_base *loop, const struct coord_settings *s,
                                           int port)
{
    if (strncmp(s->host, "127.", 4) == 0 || strcmp(s->host, "::1") == 0 ||
        strcmp(s->host, "localhost") == 0) {
        LOG_INFO("mDNS: not advertising (listening on %s only)", s->host);
        return NULL;
    }
    char err[256];
    const char *addr = s->mdns_address && *s->mdns_address ? s->mdns_address : NULL;
    struct in_addr bound;
    if (!addr && inet_pton(AF_INET, s->host, &bound) == 1 && bound.s_addr != INADDR_ANY)
        addr = s->host; /* bound to one address: advertise that one */
    struct mdns *m = mdns_new(loop, addr, err, sizeof err);
    if (!m) {
        LOG_WARN("mDNS: cannot advertise herd (%s); nodes need --router-url", err);
        return NULL;
    }
    char host[64] = "", label[80], port_txt[24], version_txt[48];
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "host");
    host[strcspn(host, ".")] = '\0';
    snprintf(label, sizeof label, "herd-%s", host);
    for (char *p = label; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '-';
    snprintf(port_txt, sizeof port_txt, "port=%d", port);
    snprintf(version_txt, sizeof version_txt, "version=%s", HERD_VERSION);
    /* What a node or client must bring: TLS (https), an API key, the node secret. */
    bool tls = s->tls_cert && *s->tls_cert;
    bool auth = (s->api_keys && *s->api_keys) || (s->api_keys_file && *s->api_keys_file);
    bool enroll = s->node_secret && *s->node_secret;
    const char *txt[] = {version_txt,
                         port_txt,
                         "api=ollama,openai",
                         tls ? "tls=1" : "tls=0",
                         auth ? "auth=1" : "auth=0",
                         enroll ? "enroll=1" : "enroll=0",
                         NULL};
    struct mdns_service_opts o = {.type = HERD_MDNS_TYPE,
                                  .instance = s->mdns_service_name,
                                  .host_label = label,
                                  .port = (uint16_t)port,
                                  .txt = txt};
    struct coord_advert *ad = calloc(1, sizeof *ad);
    if (!ad) {
        LOG_WARN("mDNS: cannot advertise herd: out of memory");
        mdns_free(m);
        return NULL;
    }
    ad->m = m;
    ad->service = mdns_service_new(m, &o, err, sizeof err);
    if (!ad->service) {
        LOG_WARN("mDNS: cannot advertise herd: %s", err);
        coord_advertise_stop(ad);
        return NULL;
    }
    char ip[INET_ADDRSTRLEN];
    struct in_addr a = mdns_address(m);
    inet_ntop(AF_INET, &a, ip, sizeof ip);
    LOG_INFO("mDNS: advertising '%s' (%s) at %s:%d", mdns_service_instance(ad->service),
             HERD_MDNS_TYPE, ip, port);
    if (mdns_interfaces(m) == 0)
        LOG_WARN("mDNS: no multicast network interface is up yet; will advertise when one is");
    return ad;
}

void coord_advertise_stop(struct coord_advert *ad)
{
    if (!ad)
        return;
    mdns_service_free(ad->service);
    mdns_free(ad->m);
    free(ad);
}
