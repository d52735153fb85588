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

/* splitmix64's finaliser: a well-spread number from a counter (random choices that must be
 * the same for the same counter). */
static inline uint64_t hash_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

#endif
