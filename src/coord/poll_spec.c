/* poll_spec: an Ollama herd polls, as the settings give it ("[NAME=]URL"). */
#include "coord/poll_spec.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "coord/node.h"

/* The host of a URL, as a node name ("mac-studio.local", "192.168.1.20"). */
static void url_host(const char *url, char *out, size_t outlen)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    if (*h == '[') {
        const char *end = strchr(h, ']');
        snprintf(out, outlen, "%.*s", end ? (int)(end - h - 1) : 0, h + 1);
        return;
    }
    size_t len = strcspn(h, ":/");
    snprintf(out, outlen, "%.*s", (int)len, h);
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || *p == '/' || *p == '=')
            return false;
    return true;
}

int poll_spec_parse(const char *spec, char *id, size_t idlen, char *url, size_t urllen, char *err,
                    size_t errlen)
{
    const char *eq = strchr(spec, '=');
    const char *scheme = strstr(spec, "://");
    const char *u = eq && (!scheme || eq < scheme) ? eq + 1 : spec;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        snprintf(err, errlen, "%s: the URL must start with http:// or https://", spec);
        return -1;
    }
    if (strlen(u) >= urllen || strlen(u) >= 200) {
        snprintf(err, errlen, "%s: the URL is too long", spec);
        return -1;
    }
    snprintf(url, urllen, "%s", u);
    size_t len = strlen(url);
    while (len && url[len - 1] == '/')
        url[--len] = '\0';
    if (u != spec)
        snprintf(id, idlen, "%.*s", (int)(eq - spec), spec);
    else
        url_host(url, id, idlen);
    if (!valid_name(id)) {
        snprintf(err, errlen, "%s: \"%s\" cannot name a node", spec, id);
        return -1;
    }
    return 0;
}

int poll_spec_check(const struct cfg_list *list, char *err, size_t errlen)
{
    for (size_t i = 0; i < list->n; i++) {
        char id[NODE_ID_MAX], url[256], other[NODE_ID_MAX], u2[256];
        if (poll_spec_parse(list->items[i], id, sizeof id, url, sizeof url, err, errlen) != 0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (poll_spec_parse(list->items[k], other, sizeof other, u2, sizeof u2, err, errlen) ==
                    0 &&
                strcmp(other, id) == 0) {
                snprintf(err, errlen, "%s: node %s is given twice", list->items[i], id);
                return -1;
            }
    }
    return 0;
}
