#include "net/mdns_txt.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

size_t mdns_txt_build(const char *const *pairs, unsigned char *out, size_t outlen)
{
    size_t used = 0;
    for (size_t i = 0; pairs && pairs[i]; i++) {
        size_t n = strlen(pairs[i]);
        if (n == 0)
            continue;
        if (n > 255 || used + 1 + n > outlen)
            return 0;
        out[used++] = (unsigned char)n;
        memcpy(out + used, pairs[i], n);
        used += n;
    }
    if (used == 0) {
        if (outlen < 1)
            return 0;
        out[used++] = 0;
    }
    return used;
}

bool mdns_txt_get(const unsigned char *rdata, size_t len, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    size_t at = 0;
    while (at < len) {
        size_t n = rdata[at++];
        if (n > len - at)
            return false;
        const unsigned char *e = rdata + at;
        at += n;
        if (n < klen || strncasecmp((const char *)e, key, klen) != 0)
            continue;
        if (n == klen) {
            if (outlen)
                out[0] = '\0';
            return true;
        }
        if (e[klen] != '=')
            continue;
        if (outlen)
            snprintf(out, outlen, "%.*s", (int)(n - klen - 1), (const char *)e + klen + 1);
        return true;
    }
    return false;
}
