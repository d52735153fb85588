#include "common/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int secret_sha256_hex(const void *data, size_t len, char out[SECRET_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -1;
    to_hex(md, n, out);
    return 0;
}

int secret_hmac_hex(const char *key, const struct secret_part *parts, size_t n,
                    char out[SECRET_SHA256_HEX])
{
    int rc = -1;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!ctx || EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) != 1)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (parts[i].len && EVP_MAC_update(ctx, parts[i].data, parts[i].len) != 1)
            goto out;
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t len = 0;
    if (EVP_MAC_final(ctx, md, &len, sizeof md) != 1 || len != 32)
        goto out;
    to_hex(md, len, out);
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

bool secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

int secret_new_key(char *out, size_t outlen)
{
    unsigned char b[24];
    if (outlen < 5 + 2 * sizeof b + 1 || RAND_bytes(b, sizeof b) != 1)
        return -1;
    memcpy(out, "herd_", 5);
    to_hex(b, sizeof b, out + 5);
    return 0;
}
