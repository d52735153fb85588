/* secret: the small cryptographic pieces herd needs, over OpenSSL: SHA-256 of API keys,
 * HMAC-SHA-256 of heartbeats, constant-time comparison and random keys. */
#ifndef HERD_SECRET_H
#define HERD_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_SHA256_HEX 65 /* 64 hex digits and the NUL */

/* SHA-256 of data as lower-case hex into out[SECRET_SHA256_HEX]. 0 or -1. */
int secret_sha256_hex(const void *data, size_t len, char out[SECRET_SHA256_HEX]);

/* HMAC-SHA-256 over the concatenation of n parts (each a pointer and a length), keyed by key,
 * as lower-case hex into out[SECRET_SHA256_HEX]. 0 or -1. */
struct secret_part {
    const void *data;
    size_t len;
};
int secret_hmac_hex(const char *key, const struct secret_part *parts, size_t n,
                    char out[SECRET_SHA256_HEX]);

/* Whether the strings are equal, in time that depends only on their lengths. */
bool secret_equal(const char *a, const char *b);

/* A new random API key, "herd_" and 48 hex digits, into out (at least 54 bytes). 0 or -1. */
int secret_new_key(char *out, size_t outlen);

#endif
