#include "coord/breaker.h"

#include <stdio.h>
#include <string.h>

/* A probe that never reports back (its request is still running) lets another go after this. */
#define PROBE_TIMEOUT_S 30.0

void breaker_init(struct breaker_table *t)
{
    t->n = 0;
}

static const struct breaker_entry *find(const struct breaker_table *t, const char *node_id,
                                        const char *model)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].node_id, node_id) == 0 && strcmp(t->e[i].model, model) == 0)
            return &t->e[i];
    return NULL;
}

/* The entry of node:model, made when new. When the table is full, a closed one with no
 * failures makes room; when none is, NULL (that breaker stays closed: the safe side). */
static struct breaker_entry *entry(struct breaker_table *t, const char *node_id, const char *model)
{
    struct breaker_entry *e = (struct breaker_entry *)find(t, node_id, model);
    if (e)
        return e;
    if (t->n < BREAKER_MAX_ENTRIES) {
        e = &t->e[t->n++];
    } else {
        for (size_t i = 0; i < t->n && !e; i++)
            if (t->e[i].failures == 0 && t->e[i].open_until == 0)
                e = &t->e[i];
        if (!e)
            return NULL;
    }
    memset(e, 0, sizeof *e);
    snprintf(e->node_id, sizeof e->node_id, "%s", node_id);
    snprintf(e->model, sizeof e->model, "%s", model);
    return e;
}

enum breaker_state breaker_state(const struct breaker_table *t, const char *node_id,
                                 const char *model, double now)
{
    const struct breaker_entry *e = find(t, node_id, model);
    if (!e || e->open_until == 0)
        return BREAKER_CLOSED;
    return now < e->open_until ? BREAKER_OPEN : BREAKER_HALF_OPEN;
}

bool breaker_allows(const struct breaker_table *t, const char *node_id, const char *model,
                    double now)
{
    switch (breaker_state(t, node_id, model, now)) {
    case BREAKER_CLOSED:
        return true;
    case BREAKER_OPEN:
        return false;
    case BREAKER_HALF_OPEN: {
        const struct breaker_entry *e = find(t, node_id, model);
        return !e->probing || now - e->probe_since > PROBE_TIMEOUT_S;
    }
    }
    return true;
}

void breaker_attempt(struct breaker_table *t, const char *node_id, const char *model, double now)
{
    if (breaker_state(t, node_id, model, now) != BREAKER_HALF_OPEN)
        return;
    struct breaker_entry *e = entry(t, node_id, model);
    e->probing = true;
    e->probe_since = now;
}

void breaker_success(struct breaker_table *t, const char *node_id, const char *model)
{
    struct breaker_entry *e = (struct breaker_entry *)find(t, node_id, model);
    if (!e)
        return;
    e->failures = 0;
    e->open_until = 0;
    e->backoff_s = 0;
    e->probing = false;
}

bool breaker_failure(struct breaker_table *t, const char *node_id, const char *model, double now)
{
    struct breaker_entry *e = entry(t, node_id, model);
    if (!e)
        return false;
    e->failures++;
    bool probe = e->open_until > 0 && now >= e->open_until;
    if (!probe && (e->open_until > 0 || e->failures < BREAKER_FAILURES))
        return false; /* still counting, or already ejected */
    e->backoff_s = probe && e->backoff_s > 0 ? e->backoff_s * 2 : BREAKER_FIRST_BACKOFF_S;
    if (e->backoff_s > BREAKER_MAX_BACKOFF_S)
        e->backoff_s = BREAKER_MAX_BACKOFF_S;
    e->open_until = now + e->backoff_s;
    e->probing = false;
    return true;
}
