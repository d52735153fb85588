/* httpd_types: the types httpd's server and its connection table share (limits, counters,
 * the error format). */
#ifndef HERD_HTTPD_TYPES_H
#define HERD_HTTPD_TYPES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct httpd_limits {
    size_t max_header_bytes;      /* request line plus headers; default 64 KiB: more gets 431
                                     and the connection closed, as soon as it arrives */
    size_t max_header_count;      /* header lines; default 100: more gets 431 likewise */
    double header_timeout_s;      /* from a request's first byte to the end of its headers;
                                     default 10: then 408 and the connection is closed */
    size_t max_conns_per_addr;    /* open connections from one client address; default 0 = no
                                     limit: requests on the connections beyond it get 429 */
    size_t max_body_bytes;        /* default 64 MiB (images travel in bodies) */
    double idle_timeout_s;        /* idle keep-alive connection and header reads; default 60 */
    double write_stall_timeout_s; /* a client that takes no bytes this long is dropped; 300 */
    size_t stream_high_water;     /* queued output above which writers should pause; 256 KiB */
};

/* Open client connections, and how many were refused or cut by a limit since the start. */
struct httpd_stats {
    size_t connections;
    uint64_t accepted;
    uint64_t refused_conn_limit; /* requests answered 429 for too many connections */
    uint64_t header_timeouts;    /* connections cut for not finishing their headers */
    uint64_t header_too_large;   /* requests answered 431 */
};

/* An error body as an API writes it. */
struct httpd_error_body {
    json_t *json;             /* a new reference */
    const char *content_type; /* static */
    bool newline;             /* a newline after the JSON */
};
/* Builds the error body for a request to path into *out. */
typedef void (*httpd_error_fn)(void *arg, const char *path, int status, const char *msg,
                               struct httpd_error_body *out);

#endif
