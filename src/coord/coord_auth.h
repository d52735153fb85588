/* coord_auth: herd's front door. Checks every request's API key against what its path needs
 * (access.c), applies the rate limit per key (rate_limit.c), checks heartbeats against the
 * node secret (node_auth.c), and writes the audit log (audit_log.c). */
#ifndef HERD_COORD_AUTH_H
#define HERD_COORD_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/httpd.h"

struct coord;
struct coord_auth;

/* Sets up the keys, limits and audit log from c's settings and installs the gate on c's
 * server. NULL with the reason in err (a bad key, an unreadable keys file...). Free with
 * coord_auth_free. */
struct coord_auth *coord_auth_new(struct coord *c, char *err, size_t errlen);
/* Accepts NULL. */
void coord_auth_free(struct coord_auth *a);

/* Checks a heartbeat's signature when a node secret is set. Returns 0 to go on (*ts_ms gets
 * the signed timestamp, 0 when unsigned); otherwise it has answered r (401), logged and
 * audited the refusal, and returns -1. body is the parsed heartbeat (for the node it claims). */
int coord_auth_heartbeat(struct coord_auth *a, struct httpd_req *r, const json_t *body,
                         int64_t *ts_ms);

/* Counters for /metrics. */
struct coord_auth_stats {
    uint64_t refused;      /* 401 and 403 */
    uint64_t rate_limited; /* 429 from the rate limit */
    uint64_t heartbeats_refused;
};
void coord_auth_get_stats(const struct coord_auth *a, struct coord_auth_stats *out);

#endif
