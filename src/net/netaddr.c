#include "net/netaddr.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

void netaddr_lan_ipv4(char *out, size_t outlen)
{
    snprintf(out, outlen, "127.0.0.1");
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        /* connect() on a UDP socket only picks the route and source address. */
        struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(1)};
        inet_pton(AF_INET, "10.255.255.255", &dst.sin_addr);
        struct sockaddr_in me;
        socklen_t len = sizeof me;
        if (connect(fd, (struct sockaddr *)&dst, sizeof dst) == 0 &&
            getsockname(fd, (struct sockaddr *)&me, &len) == 0 && me.sin_addr.s_addr != 0) {
            inet_ntop(AF_INET, &me.sin_addr, out, (socklen_t)outlen);
            close(fd);
            return;
        }
        close(fd);
    }
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, (socklen_t)outlen);
        break;
    }
    freeifaddrs(ifs);
}
