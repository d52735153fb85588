/* node_auth: heartbeats signed with the fleet's node secret, so that no host without it can
 * join the fleet or speak for a node.
 *
 * A signed heartbeat carries two headers:
 *   X-Herd-Timestamp: milliseconds since the Unix epoch when it was sent
 *   X-Herd-Signature: v1=<hex HMAC-SHA-256(secret, "v1\n" + timestamp + "\n" + body)>
 * The coordinator accepts it when the MAC matches, the timestamp is within the allowed clock
 * skew of its own clock, and that signature was not seen before (replay). Pure, apart from
 * OpenSSL. */
#ifndef HERD_NODE_AUTH_H
#define HERD_NODE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define NODE_AUTH_TS_HEADER "X-Herd-Timestamp"
#define NODE_AUTH_SIG_HEADER "X-Herd-Signature"
#define NODE_AUTH_SIG_LEN 80 /* "v1=" + 64 hex + NUL, with room */

enum node_auth_result {
    NODE_AUTH_OK = 0,
    NODE_AUTH_MISSING,       /* no signature headers */
    NODE_AUTH_BAD_TIMESTAMP, /* not a number */
    NODE_AUTH_BAD_MAC,       /* wrong secret, or the body or timestamp was changed */
    NODE_AUTH_STALE,         /* timestamp outside the allowed skew */
    NODE_AUTH_REPLAY,        /* this exact heartbeat was accepted before */
};

/* Why a heartbeat was refused, for logs and the reply ("signature does not match"). */
const char *node_auth_result_text(enum node_auth_result r);

/* Signs body sent at ts_ms: sig gets "v1=<hex>". 0 or -1. */
int node_auth_sign(const char *secret, int64_t ts_ms, const void *body, size_t len,
                   char sig[NODE_AUTH_SIG_LEN]);

/* Signatures accepted recently, to refuse a replay within the skew window. Bounded: the
 * oldest is forgotten first (the coordinator also requires each node's timestamps to
 * increase, which covers a replay of a forgotten one). */
#define NODE_AUTH_SEEN_MAX 4096
struct node_auth_seen {
    char mac[NODE_AUTH_SEEN_MAX][65];
    int64_t ts_ms[NODE_AUTH_SEEN_MAX];
    size_t next;
    size_t n;
};

/* Checks a heartbeat. ts_header and sig_header may be NULL (missing). seen may be NULL (no
 * replay check); an accepted signature is added to it. *ts_ms gets the timestamp when it
 * parsed. */
enum node_auth_result node_auth_verify(const char *secret, const char *ts_header,
                                       const char *sig_header, const void *body, size_t len,
                                       int64_t now_ms, int64_t max_skew_ms,
                                       struct node_auth_seen *seen, int64_t *ts_ms);

#endif
