/* The libmdnsd headers include "config.h" from the library's own build; these are the only
 * definitions they read. */
#ifndef HERD_LIBMDNSD_CONFIG_H
#define HERD_LIBMDNSD_CONFIG_H
#define HAVE_NETINET_IN_H 1
#define HAVE_SYS_SOCKET_H 1
#endif
