#include "net/mdns.h"
#include "net/mdns_lib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "net/netaddr.h"

#define MDNS_PORT 5353
#define MDNS_GROUP "224.0.0.251"
/* Largest packet libmdnsd builds; below a typical MTU so nothing fragments. */
#define MDNS_FRAME 1400
/* Packets read (and packets sent) per wake-up: a flood cannot hold the loop. */
#define MDNS_BATCH 64
#define MDNS_RECHECK_S 30

struct mdns {
    struct event_base *base;
    mdns_daemon_t *d;
    int fd;
    struct event *readable;
    struct event *wake;    /* when libmdnsd asks to run next */
    struct event *recheck; /* interfaces and address, every MDNS_RECHECK_S */
    struct in_addr addr;
    bool addr_given;
    int interfaces;
    struct message *msg;
    unsigned char *packet; /* MAX_PACKET_LEN: message_parse may read that far */
    size_t packet_used;    /* bytes of the last packet, zeroed before the next one */
    bool in_response;      /* the packet being processed is a response */
};

static void rearm(struct mdns *m);

static void send_queued(struct mdns *m)
{
    struct in_addr ip;
    unsigned short port;
    for (int i = 0; i < MDNS_BATCH && mdnsd_out(m->d, m->msg, &ip, &port); i++) {
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = ip};
        /* libmdnsd gives the multicast port in network order and a unicast reply's port as
         * mdnsd_in received it (host order). */
        to.sin_port = ip.s_addr == inet_addr(MDNS_GROUP) ? htons(MDNS_PORT) : htons(port);
        int len = message_packet_len(m->msg);
        if (sendto(m->fd, message_packet(m->msg), (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&to,
                   sizeof to) < 0)
            LOG_DEBUG("mDNS: send to %s failed: %s", inet_ntoa(ip), strerror(errno));
    }
}

static void rearm(struct mdns *m)
{
    struct timeval *tv = mdnsd_sleep(m->d);
    struct timeval wait = *tv;
    /* Never sleep longer than a second: cache expiry and retries are checked in mdnsd_out. */
    if (wait.tv_sec >= 1) {
        wait.tv_sec = 1;
        wait.tv_usec = 0;
    }
    evtimer_add(m->wake, &wait);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mdns *m = arg;
    send_queued(m);
    rearm(m);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct mdns *m = arg;
    for (int i = 0; i < MDNS_BATCH; i++) {
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(fd, m->packet, MAX_PACKET_LEN, MSG_DONTWAIT, (struct sockaddr *)&from,
                             &fromlen);
        if (n < 0)
            break;
        if ((size_t)n < m->packet_used)
            memset(m->packet + n, 0, m->packet_used - (size_t)n);
        m->packet_used = (size_t)n;
        if (n < 12 || fromlen < sizeof from)
            continue;
        memset(m->msg, 0, sizeof *m->msg);
        if (message_parse(m->msg, m->packet) != 0)
            continue;
        m->in_response = m->msg->header.qr;
        mdnsd_in(m->d, m->msg, from.sin_addr, ntohs(from.sin_port));
        /* Responders put the SRV, TXT and A records of a PTR answer in the additional
         * section; libmdnsd reads answers only, so hand it those as answers too. */
        if (m->msg->header.qr && m->msg->arcount) {
            m->msg->an = m->msg->ar;
            m->msg->ancount = m->msg->arcount;
            mdnsd_in(m->d, m->msg, from.sin_addr, ntohs(from.sin_port));
        }
        m->in_response = false;
    }
    send_queued(m);
    rearm(m);
}

/* Joins the group on every IPv4 interface that is up and multicast-capable; EADDRINUSE means
 * already joined. */
static void join_interfaces(struct mdns *m)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) != 0)
        return;
    int joined = 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP) || !(i->ifa_flags & IFF_MULTICAST))
            continue;
        struct ip_mreqn mr = {.imr_address = ((struct sockaddr_in *)i->ifa_addr)->sin_addr,
                              .imr_ifindex = (int)if_nametoindex(i->ifa_name)};
        mr.imr_multiaddr.s_addr = inet_addr(MDNS_GROUP);
        if (setsockopt(m->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) == 0) {
            joined++;
            LOG_DEBUG("mDNS: joined %s on %s", MDNS_GROUP, i->ifa_name);
        } else if (errno == EADDRINUSE) {
            joined++;
        }
    }
    freeifaddrs(ifs);
    if (joined > m->interfaces)
        LOG_INFO("mDNS: listening on %d interface%s", joined, joined == 1 ? "" : "s");
    m->interfaces = joined;
}

static void set_address(struct mdns *m, struct in_addr addr)
{
    if (addr.s_addr == m->addr.s_addr)
        return;
    char before[INET_ADDRSTRLEN] = "", after[INET_ADDRSTRLEN];
    if (m->addr.s_addr)
        inet_ntop(AF_INET, &m->addr, before, sizeof before);
    inet_ntop(AF_INET, &addr, after, sizeof after);
    m->addr = addr;
    setsockopt(m->fd, IPPROTO_IP, IP_MULTICAST_IF, &addr, sizeof addr);
    mdnsd_set_address(m->d, addr);
    if (before[0])
        LOG_INFO("mDNS: this machine's address changed from %s to %s", before, after);
}

static void on_recheck(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mdns *m = arg;
    join_interfaces(m);
    if (!m->addr_given) {
        char ip[INET_ADDRSTRLEN];
        netaddr_lan_ipv4(ip, sizeof ip);
        struct in_addr a;
        if (inet_pton(AF_INET, ip, &a) == 1)
            set_address(m, a);
    }
    mdns_kick(m);
}

static int open_socket(char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int on = 1;
    unsigned char ttl = 255, loop = 1; /* RFC 6762 §11: TTL 255; loop: peers on this host */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(MDNS_PORT)};
    if (bind(fd, (struct sockaddr *)&any, sizeof any) != 0) {
        snprintf(err, errlen, "cannot bind UDP port %d: %s", MDNS_PORT, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

struct mdns *mdns_new(struct event_base *base, const char *lan_ip, char *err, size_t errlen)
{
    struct in_addr addr = {0};
    bool given = lan_ip && *lan_ip;
    char detected[INET_ADDRSTRLEN];
    if (!given) {
        netaddr_lan_ipv4(detected, sizeof detected);
        lan_ip = detected;
    }
    if (inet_pton(AF_INET, lan_ip, &addr) != 1) {
        snprintf(err, errlen, "'%s' is not an IPv4 address", lan_ip);
        return NULL;
    }
    int fd = open_socket(err, errlen);
    if (fd < 0)
        return NULL;
    struct mdns *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->base = base;
    m->fd = fd;
    m->addr_given = given;
    m->msg = calloc(1, sizeof *m->msg);
    m->packet = calloc(1, MAX_PACKET_LEN);
    m->d = mdnsd_new(QCLASS_IN, MDNS_FRAME);
    if (getenv("HERD_MDNS_TRACE"))
        mdnsd_log_level("debug");
    m->readable = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, m);
    m->wake = evtimer_new(base, on_wake, m);
    m->recheck = event_new(base, -1, EV_PERSIST, on_recheck, m);
    if (!m->msg || !m->packet || !m->d || !m->readable || !m->wake || !m->recheck) {
        snprintf(err, errlen, "out of memory");
        mdns_free(m);
        return NULL;
    }
    set_address(m, addr);
    join_interfaces(m);
    event_add(m->readable, NULL);
    struct timeval every = {MDNS_RECHECK_S, 0};
    event_add(m->recheck, &every);
    rearm(m);
    return m;
}

mdns_daemon_t *mdns_daemon(struct mdns *m)
{
    return m->d;
}

struct event_base *mdns_base(const struct mdns *m)
{
    return m->base;
}

struct in_addr mdns_address(const struct mdns *m)
{
    return m->addr;
}

bool mdns_reading_response(const struct mdns *m)
{
    return m->in_response;
}

int mdns_interfaces(const struct mdns *m)
{
    return m->interfaces;
}

void mdns_ask(struct mdns *m, const char *name, int type)
{
    memset(m->msg, 0, sizeof *m->msg);
    message_qd(m->msg, (char *)name, (unsigned short)type, QCLASS_IN);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(MDNS_PORT)};
    to.sin_addr.s_addr = inet_addr(MDNS_GROUP);
    int len = message_packet_len(m->msg);
    if (sendto(m->fd, message_packet(m->msg), (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&to,
               sizeof to) < 0)
        LOG_DEBUG("mDNS: question for %s not sent: %s", name, strerror(errno));
}

void mdns_kick(struct mdns *m)
{
    send_queued(m);
    rearm(m);
}

void mdns_free(struct mdns *m)
{
    if (!m)
        return;
    if (m->d) {
        if (m->msg && m->fd >= 0) {
            mdnsd_shutdown(m->d);
            send_queued(m);
        }
        mdnsd_free(m->d);
    }
    if (m->readable)
        event_free(m->readable);
    if (m->wake)
        event_free(m->wake);
    if (m->recheck)
        event_free(m->recheck);
    if (m->fd >= 0)
        close(m->fd);
    free(m->msg);
    free(m->packet);
    free(m);
}
