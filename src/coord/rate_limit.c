#include "coord/rate_limit.h"
#include "common/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rate_bucket {
    struct rate_bucket *next;
    double tokens;
    double updated;
    char who[72];
};

void rate_limit_init(struct rate_limit *rl, double rate, double burst)
{
    memset(rl, 0, sizeof *rl);
    rl->rate = rate > 0 ? rate : 0;
    rl->burst = burst < 1 ? 1 : burst;
}

void rate_limit_free(struct rate_limit *rl)
{
    for (size_t i = 0; i < RATE_LIMIT_BUCKETS; i++) {
        struct rate_bucket *b = rl->table[i];
        while (b) {
            struct rate_bucket *next = b->next;
            free(b);
            b = next;
        }
        rl->table[i] = NULL;
    }
    rl->n = 0;
}

static unsigned slot(const char *s)
{
    return (unsigned)(hash_str(s, 0) % RATE_LIMIT_BUCKETS);
}

static void refill(const struct rate_limit *rl, struct rate_bucket *b, double now)
{
    if (now > b->updated) {
        b->tokens += (now - b->updated) * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->updated = now;
    }
}

bool rate_limit_take(struct rate_limit *rl, const char *who, double now, double *retry_after)
{
    *retry_after = 0;
    if (rl->rate <= 0)
        return true;
    unsigned i = slot(who);
    struct rate_bucket *b = rl->table[i];
    while (b && strcmp(b->who, who) != 0)
        b = b->next;
    if (!b) {
        if (rl->n >= RATE_LIMIT_MAX_CLIENTS)
            rate_limit_sweep(rl, now);
        b = rl->n < RATE_LIMIT_MAX_CLIENTS ? calloc(1, sizeof *b) : NULL;
        if (!b) {
            rl->untracked++;
            return true;
        }
        snprintf(b->who, sizeof b->who, "%s", who);
        b->tokens = rl->burst;
        b->updated = now;
        b->next = rl->table[i];
        rl->table[i] = b;
        rl->n++;
    }
    refill(rl, b, now);
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return true;
    }
    *retry_after = (1 - b->tokens) / rl->rate;
    return false;
}

void rate_limit_sweep(struct rate_limit *rl, double now)
{
    for (size_t i = 0; i < RATE_LIMIT_BUCKETS; i++) {
        struct rate_bucket **pp = &rl->table[i];
        while (*pp) {
            struct rate_bucket *b = *pp;
            refill(rl, b, now);
            if (b->tokens >= rl->burst) {
                *pp = b->next;
                free(b);
                rl->n--;
            } else
                pp = &b->next;
        }
    }
}
