#include "common/node_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

const char *node_auth_result_text(enum node_auth_result r)
{
    switch (r) {
    case NODE_AUTH_OK:
        return "ok";
    case NODE_AUTH_MISSING:
        return "heartbeat is not signed (this coordinator requires the fleet's node secret)";
    case NODE_AUTH_BAD_TIMESTAMP:
        return "heartbeat timestamp is not a number of milliseconds";
    case NODE_AUTH_BAD_MAC:
        return "heartbeat signature does not match (wrong node secret, or the heartbeat was "
               "altered)";
    case NODE_AUTH_STALE:
        return "heartbeat timestamp is too far from the coordinator's clock (replayed, or the "
               "clocks disagree)";
    case NODE_AUTH_REPLAY:
        return "heartbeat was already received (replayed)";
    }
    return "?";
}

static int mac_hex(const char *secret, const char *ts, const void *body, size_t len,
                   char out[SECRET_SHA256_HEX])
{
    struct secret_part parts[] = {{"v1\n", 3}, {ts, strlen(ts)}, {"\n", 1}, {body, len}};
    return secret_hmac_hex(secret, parts, sizeof parts / sizeof parts[0], out);
}

int node_auth_sign(const char *secret, int64_t ts_ms, const void *body, size_t len,
                   char sig[NODE_AUTH_SIG_LEN])
{
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)ts_ms);
    char hex[SECRET_SHA256_HEX];
    if (mac_hex(secret, ts, body, len, hex) != 0)
        return -1;
    snprintf(sig, NODE_AUTH_SIG_LEN, "v1=%s", hex);
    return 0;
}

static bool seen_has(const struct node_auth_seen *s, const char *mac, int64_t now_ms,
                     int64_t max_skew_ms)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ts_ms[i] >= now_ms - 2 * max_skew_ms && strcmp(s->mac[i], mac) == 0)
            return true;
    return false;
}

static void seen_add(struct node_auth_seen *s, const char *mac, int64_t ts_ms)
{
    snprintf(s->mac[s->next], sizeof s->mac[s->next], "%s", mac);
    s->ts_ms[s->next] = ts_ms;
    s->next = (s->next + 1) % NODE_AUTH_SEEN_MAX;
    if (s->n < NODE_AUTH_SEEN_MAX)
        s->n++;
}

enum node_auth_result node_auth_verify(const char *secret, const char *ts_header,
                                       const char *sig_header, const void *body, size_t len,
                                       int64_t now_ms, int64_t max_skew_ms,
                                       struct node_auth_seen *seen, int64_t *ts_ms)
{
    if (!ts_header || !sig_header)
        return NODE_AUTH_MISSING;
    char *end = NULL;
    errno = 0;
    long long ts = strtoll(ts_header, &end, 10);
    if (errno || end == ts_header || *end || ts <= 0)
        return NODE_AUTH_BAD_TIMESTAMP;
    if (ts_ms)
        *ts_ms = ts;
    char hex[SECRET_SHA256_HEX];
    if (strncmp(sig_header, "v1=", 3) != 0 || mac_hex(secret, ts_header, body, len, hex) != 0 ||
        !secret_equal(sig_header + 3, hex))
        return NODE_AUTH_BAD_MAC;
    if (ts < now_ms - max_skew_ms || ts > now_ms + max_skew_ms)
        return NODE_AUTH_STALE;
    if (seen) {
        if (seen_has(seen, hex, now_ms, max_skew_ms))
            return NODE_AUTH_REPLAY;
        seen_add(seen, hex, ts);
    }
    return NODE_AUTH_OK;
}
