#include "common/model_name.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int model_name_normalize(const char *in, char *out, size_t outlen)
{
    if (!in)
        return -EINVAL;
    while (*in == ' ')
        in++;
    static const char *const prefixes[] = {"registry.ollama.ai/library/", "registry.ollama.ai/"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncasecmp(in, prefixes[i], n) == 0) {
            in += n;
            break;
        }
    }
    size_t len = strlen(in);
    while (len && in[len - 1] == ' ')
        len--;
    if (len == 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c == ' ' || c == '"' || c == '\\')
            return -EINVAL;
    }
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++)
        if (in[i] == '/')
            slash = in + i;
    const char *base = slash ? slash + 1 : in;
    size_t base_len = len - (size_t)(base - in);
    bool has_tag = memchr(base, ':', base_len) != NULL;
    if (base_len == 0 || base[0] == ':' || (has_tag && base[base_len - 1] == ':'))
        return -EINVAL;
    int n = snprintf(out, outlen, "%.*s%s", (int)len, in, has_tag ? "" : ":latest");
    if (n < 0 || (size_t)n >= outlen)
        return -EINVAL;
    /* Names match case-insensitively; keep one canonical case. */
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}
