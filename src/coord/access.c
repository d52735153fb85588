#include "coord/access.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

void access_free(struct access *a)
{
    if (!a)
        return;
    free(a->keys);
    memset(a, 0, sizeof *a);
}

static bool valid_name(const char *s, size_t len)
{
    if (len == 0 || len >= ACCESS_NAME_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static bool valid_hash(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return false;
    return true;
}

static int add_key(struct access *a, const char *name, size_t name_len, const char *key, bool admin,
                   bool hashed_only, char *err, size_t errlen)
{
    if (!valid_name(name, name_len)) {
        snprintf(err, errlen, "key name '%.*s' must be 1-63 letters, digits, '.', '_' or '-'",
                 (int)(name_len < 80 ? name_len : 80), name);
        return -1;
    }
    for (size_t i = 0; i < a->n; i++)
        if (strlen(a->keys[i].name) == name_len && strncmp(a->keys[i].name, name, name_len) == 0) {
            snprintf(err, errlen, "key name '%.*s' is used twice", (int)name_len, name);
            return -1;
        }
    struct access_key k = {.admin = admin};
    memcpy(k.name, name, name_len);
    if (strncmp(key, "sha256:", 7) == 0) {
        if (!valid_hash(key + 7)) {
            snprintf(err, errlen, "key '%s': sha256: must be followed by 64 hex digits", k.name);
            return -1;
        }
        for (int i = 0; i < 64; i++)
            k.hash[i] = (char)tolower((unsigned char)key[7 + i]);
    } else if (hashed_only) {
        snprintf(err, errlen,
                 "key '%s' is written in clear; store its hash instead (NAME:sha256:HEX, as "
                 "`herd --new-key NAME` prints it)",
                 k.name);
        return -1;
    } else {
        if (strlen(key) < 16) {
            snprintf(err, errlen, "key '%s' is too short (at least 16 characters)", k.name);
            return -1;
        }
        if (secret_sha256_hex(key, strlen(key), k.hash) != 0) {
            snprintf(err, errlen, "cannot hash key '%s'", k.name);
            return -1;
        }
    }
    struct access_key *p = realloc(a->keys, (a->n + 1) * sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->keys = p;
    a->keys[a->n++] = k;
    if (admin)
        a->have_admin = true;
    else
        a->n_client++;
    return 0;
}

int access_add(struct access *a, const char *spec, bool admin, char *err, size_t errlen)
{
    if (admin)
        return add_key(a, "admin", 5, spec, true, false, err, errlen);
    const char *colon = strchr(spec, ':');
    if (!colon) {
        snprintf(err, errlen, "API key entries are NAME:KEY or NAME:sha256:HEX (one has no ':')");
        return -1;
    }
    return add_key(a, spec, (size_t)(colon - spec), colon + 1, false, false, err, errlen);
}

/* Copies s[0..len) without surrounding blanks into out. */
static void trimmed(const char *s, size_t len, char *out, size_t outlen)
{
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, s, len);
    out[len] = '\0';
}

int access_add_list(struct access *a, const char *list, char *err, size_t errlen)
{
    const char *p = list;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[512];
        trimmed(p, len, item, sizeof item);
        if (item[0] && access_add(a, item, false, err, errlen) != 0)
            return -1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

int access_add_file_text(struct access *a, const char *text, const char *origin, char *err,
                         size_t errlen)
{
    int line = 0;
    const char *p = text;
    while (*p) {
        line++;
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char item[512];
        trimmed(p, len, item, sizeof item);
        if (item[0] && item[0] != '#') {
            const char *colon = strchr(item, ':');
            char why[256];
            if (!colon) {
                snprintf(err, errlen, "%s line %d: expected NAME:sha256:HEX", origin, line);
                return -1;
            }
            if (add_key(a, item, (size_t)(colon - item), colon + 1, false, true, why, sizeof why) !=
                0) {
                snprintf(err, errlen, "%s line %d: %s", origin, line, why);
                return -1;
            }
        }
        p = nl ? nl + 1 : p + len;
    }
    return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum access_need access_need_for(const char *path, bool read)
{
    if (strcmp(path, "/") == 0 || strcmp(path, "/api/version") == 0)
        return ACCESS_OPEN;
    if (strcmp(path, "/heartbeat") == 0)
        return ACCESS_NODE;
    if (starts_with(path, "/dashboard/api/"))
        return read ? ACCESS_CLIENT : ACCESS_ADMIN;
    if (strcmp(path, "/dashboard/events") == 0)
        return ACCESS_CLIENT;
    if (strcmp(path, "/dashboard") == 0 || starts_with(path, "/dashboard/"))
        return ACCESS_OPEN; /* the page and its files; the page asks for a key */
    /* Ollama's model management, should herd ever pass it on. */
    static const char *const admin_paths[] = {"/api/pull", "/api/push",   "/api/delete",
                                              "/api/copy", "/api/create", "/api/blobs/"};
    for (size_t i = 0; i < sizeof admin_paths / sizeof admin_paths[0]; i++)
        if (starts_with(path, admin_paths[i]))
            return ACCESS_ADMIN;
    return ACCESS_CLIENT;
}

const char *access_bearer(const char *authorization, char *out, size_t outlen)
{
    if (!authorization)
        return NULL;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer", 6) != 0 || authorization[6] != ' ')
        return NULL;
    const char *t = authorization + 7;
    size_t len = strlen(t);
    char tmp[512];
    if (len >= sizeof tmp)
        return NULL;
    trimmed(t, len, tmp, sizeof tmp);
    if (!tmp[0] || strlen(tmp) >= outlen)
        return NULL;
    snprintf(out, outlen, "%s", tmp);
    return out;
}

enum access_verdict access_check(const struct access *a, enum access_need need,
                                 const char *authorization, const struct access_key **who)
{
    *who = NULL;
    if (need == ACCESS_OPEN || need == ACCESS_NODE)
        return ACCESS_ALLOW;
    /* Nothing configured: the fleet is open (a trusted network); herd warns at start. */
    if (a->n == 0)
        return ACCESS_ALLOW;
    char token[512];
    const struct access_key *match = NULL;
    if (access_bearer(authorization, token, sizeof token)) {
        char hash[SECRET_SHA256_HEX];
        if (secret_sha256_hex(token, strlen(token), hash) == 0)
            for (size_t i = 0; i < a->n; i++)
                if (secret_equal(a->keys[i].hash, hash))
                    match = &a->keys[i];
    }
    *who = match;
    if (need == ACCESS_CLIENT) {
        if (a->n_client == 0 && !match)
            return ACCESS_ALLOW; /* only an admin key is set: reads stay open */
        if (match)
            return ACCESS_ALLOW;
        return authorization ? ACCESS_UNKNOWN_KEY : ACCESS_NO_KEY;
    }
    /* ACCESS_ADMIN */
    if (match && match->admin)
        return ACCESS_ALLOW;
    if (!a->have_admin)
        return match ? ACCESS_ADMIN_DISABLED : (authorization ? ACCESS_UNKNOWN_KEY : ACCESS_NO_KEY);
    if (match)
        return ACCESS_NOT_ADMIN;
    return authorization ? ACCESS_UNKNOWN_KEY : ACCESS_NO_KEY;
}

const char *access_verdict_text(enum access_verdict v)
{
    switch (v) {
    case ACCESS_ALLOW:
        return "allowed";
    case ACCESS_NO_KEY:
        return "this herd needs an API key: send Authorization: Bearer <key>";
    case ACCESS_UNKNOWN_KEY:
        return "invalid API key";
    case ACCESS_NOT_ADMIN:
        return "this action changes the fleet and needs the admin key";
    case ACCESS_ADMIN_DISABLED:
        return "this action changes the fleet and needs the admin key, and none is configured "
               "(set FLEET_ADMIN_KEY)";
    }
    return "?";
}
