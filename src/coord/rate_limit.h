/* rate_limit: requests per second per client (an API key's name, or an address when herd
 * has no keys), as token buckets. Pure: the caller passes the time.
 *
 * Each client may send `burst` requests at once and `rate` per second after that. A bucket
 * that has filled up again holds no information and is dropped by rate_limit_sweep; at most
 * RATE_LIMIT_MAX_CLIENTS are kept, beyond which new clients are let through (and counted). */
#ifndef HERD_RATE_LIMIT_H
#define HERD_RATE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATE_LIMIT_BUCKETS 1024
#define RATE_LIMIT_MAX_CLIENTS 65536

struct rate_bucket;

struct rate_limit {
    double rate;  /* tokens per second; 0 = no limit */
    double burst; /* bucket size */
    struct rate_bucket *table[RATE_LIMIT_BUCKETS];
    size_t n;
    uint64_t untracked; /* requests let through because the table was full */
};

/* rate 0 turns the limit off; burst below 1 counts as 1. */
void rate_limit_init(struct rate_limit *rl, double rate, double burst);
void rate_limit_free(struct rate_limit *rl);

/* Takes one token for who at time now (seconds). true: go on. false: over the limit, and
 * *retry_after gets the seconds until a token is there. */
bool rate_limit_take(struct rate_limit *rl, const char *who, double now, double *retry_after);

/* Forgets clients whose bucket is full again. */
void rate_limit_sweep(struct rate_limit *rl, double now);

#endif
