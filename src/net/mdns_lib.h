/* mdns_lib: libmdnsd's API for the mdns modules only. Its header pulls in <syslog.h>, whose
 * LOG_DEBUG and LOG_INFO priorities would collide with our logging macros; the modules that
 * use libmdnsd include this first, and common/log.h after it. */
#ifndef HERD_MDNS_LIB_H
#define HERD_MDNS_LIB_H

#include <libmdnsd/mdnsd.h>

#undef LOG_DEBUG
#undef LOG_INFO

#endif
