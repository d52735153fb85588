/* Feeds libmdnsd arbitrary packets the way herd and herd-node do (src/net/mdns.c): parsed
 * into a message, processed by a daemon that publishes a service and browses for one (also
 * with the additional records as answers), then everything it wants to send is drained. Any
 * host on the LAN can send such packets, so none may crash or hang the program. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/mdns_lib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mdns_daemon_t *d;
static struct message *msg;
static unsigned char *packet;
static volatile size_t sink;

static int answer(mdns_answer_t *a, void *arg)
{
    (void)arg;
    sink += a->ttl + a->rdlen + (a->name ? strlen(a->name) : 0) +
            (a->rdname ? strlen(a->rdname) : 0) + a->srv.port;
    return 0;
}

static void received(const struct resource *r, void *arg)
{
    (void)arg;
    sink += r->ttl + r->rdlength + (r->name ? strlen(r->name) : 0);
    if (r->type == QTYPE_SRV && r->known.srv.name)
        sink += strlen(r->known.srv.name);
}

static void conflict(char *name, int type, void *arg)
{
    (void)arg;
    sink += strlen(name) + (size_t)type;
}

static void setup(void)
{
    d = mdnsd_new(QCLASS_IN, 1400);
    msg = calloc(1, sizeof *msg);
    packet = calloc(1, MAX_PACKET_LEN);
    struct in_addr ip;
    inet_pton(AF_INET, "10.0.0.1", &ip);
    mdnsd_set_address(d, ip);
    const char *full = "Fleet Manager Router._fleet-manager._tcp.local.";
    mdns_record_t *r = mdnsd_shared(d, "_fleet-manager._tcp.local.", QTYPE_PTR, 4500);
    mdnsd_set_host(d, r, full);
    r = mdnsd_unique(d, full, QTYPE_SRV, 120, conflict, NULL);
    mdnsd_set_srv(d, r, 0, 0, 11435, "herd-test.local.");
    r = mdnsd_unique(d, full, QTYPE_TXT, 4500, conflict, NULL);
    mdnsd_set_raw(d, r, "\x0dversion=0.1.0", 14);
    r = mdnsd_unique(d, "herd-test.local.", QTYPE_A, 120, conflict, NULL);
    mdnsd_set_ip(d, r, ip);
    mdnsd_query(d, "_fleet-manager._tcp.local.", QTYPE_PTR, answer, NULL);
    mdnsd_query(d, full, QTYPE_SRV, answer, NULL);
    mdnsd_query(d, "herd-test.local.", QTYPE_A, answer, NULL);
    mdnsd_register_receive_callback(d, received, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!d)
        setup();
    if (size < 12 || size > 9000)
        return 0;
    memset(packet, 0, MAX_PACKET_LEN);
    memcpy(packet, data, size);
    memset(msg, 0, sizeof *msg);
    if (message_parse(msg, packet) != 0)
        return 0;
    struct in_addr from;
    inet_pton(AF_INET, "10.0.0.2", &from);
    mdnsd_in(d, msg, from, (unsigned short)(5353 + (data[0] & 1)));
    if (msg->header.qr && msg->arcount) {
        msg->an = msg->ar;
        msg->ancount = msg->arcount;
        mdnsd_in(d, msg, from, 5353);
    }
    struct in_addr to;
    unsigned short port;
    for (int i = 0; i < 64 && mdnsd_out(d, msg, &to, &port); i++)
        sink += (size_t)message_packet_len(msg);
    return 0;
}
