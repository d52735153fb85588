/* breaker: circuit breaking per node:model. Pure: the caller gives the time.
 *
 * A node:model that fails BREAKER_FAILURES times in a row (a transport error, a server error,
 * a stall) is ejected: no request goes to it for a backoff that starts at one second and
 * doubles at each failed probe, up to a minute. When the backoff ends it is half open: one
 * request may go (the probe) while the others keep away; its success closes the breaker, its
 * failure ejects it again for twice as long. A success at any time resets the count. */
#ifndef HERD_BREAKER_H
#define HERD_BREAKER_H

#include <stdbool.h>
#include <stddef.h>

#include "coord/node.h"

#define BREAKER_FAILURES 3
#define BREAKER_FIRST_BACKOFF_S 1.0
#define BREAKER_MAX_BACKOFF_S 60.0
#define BREAKER_MAX_ENTRIES 1024

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker_entry {
    char node_id[NODE_ID_MAX];
    char model[MODEL_NAME_MAX];
    int failures;       /* in a row */
    double backoff_s;   /* of the last ejection */
    double open_until;  /* ejected until then (monotonic seconds); 0 when closed */
    bool probing;       /* half open, and the probe is under way */
    double probe_since; /* when the probe went */
};

struct breaker_table {
    struct breaker_entry e[BREAKER_MAX_ENTRIES];
    size_t n;
};

/* An empty table (every breaker closed). */
void breaker_init(struct breaker_table *t);

/* The state of node:model at now. */
enum breaker_state breaker_state(const struct breaker_table *t, const char *node_id,
                                 const char *model, double now);

/* Whether a request may go to node:model at now: closed, or half open with no probe out. */
bool breaker_allows(const struct breaker_table *t, const char *node_id, const char *model,
                    double now);

/* A request goes to node:model: when half open, it is the probe. */
void breaker_attempt(struct breaker_table *t, const char *node_id, const char *model, double now);

/* The request succeeded: the breaker closes. */
void breaker_success(struct breaker_table *t, const char *node_id, const char *model);

/* The request failed: one more in a row; ejects node:model at the threshold, or at once when
 * it was the probe. Returns true when it was ejected by this failure. */
bool breaker_failure(struct breaker_table *t, const char *node_id, const char *model, double now);

#endif
