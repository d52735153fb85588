/* netaddr: this machine's addresses as the local network sees them. */
#ifndef HERD_NETADDR_H
#define HERD_NETADDR_H

#include <stddef.h>

/* Writes the IPv4 address of the interface the default route uses (found without sending a
 * packet), else the first non-loopback IPv4 address of an interface that is up, else
 * "127.0.0.1", into out (at least 16 bytes). */
void netaddr_lan_ipv4(char *out, size_t outlen);

#endif
