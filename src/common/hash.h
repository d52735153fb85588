/* hash: FNV-1a over a C string, for the small hash tables of herd (per-address connection
 * counts, rate-limit buckets, metric series). Not for anything an attacker must not guess. */
#ifndef HERD_HASH_H
#define HERD_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 of s, started from seed (mix a second key into it; 0 for none). */
static inline uint64_t hash_str(const char *s, uint64_t seed)
{
    uint64_t x = 1469598103934665603ULL ^ seed;
    for (; *s; s++)
        x = (x ^ (unsigned char)*s) * 1099511628211ULL;
    return x;
}

/* FNV-1a 64 of n bytes, started from seed. */
static inline uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t x = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++)
        x = (x ^ b[i]) * 1099511628211ULL;
    return x;
}

#endif
