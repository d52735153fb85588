#include "common/jsonx.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *jsonx_str(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *jsonx_str_or(const json_t *obj, const char *key, const char *def)
{
    const char *s = jsonx_str(obj, key);
    return s ? s : def;
}

int jsonx_int(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v))
        return -ENOENT;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 9.2e18) {
            *out = (int64_t)d;
            return 0;
        }
    }
    return -EINVAL;
}

int jsonx_num(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v))
        return -ENOENT;
    if (!json_is_number(v))
        return -EINVAL;
    *out = json_number_value(v);
    return 0;
}

bool jsonx_bool_or(const json_t *obj, const char *key, bool def)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *jsonx_parse_body(const char *body, size_t len, char *err, size_t errlen)
{
    if (!body || len == 0) {
        snprintf(err, errlen, "missing request body");
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(body, len, 0, &je);
    if (!v) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    return v;
}

struct dump_ctx {
    struct hbuf *out;
    int rc;
};

static int dump_cb(const char *buffer, size_t size, void *data)
{
    struct dump_ctx *c = data;
    c->rc = hbuf_append(c->out, buffer, size);
    return c->rc ? -1 : 0;
}

int jsonx_dump_append(const json_t *v, struct hbuf *out)
{
    struct dump_ctx c = {out, 0};
    if (json_dump_callback(v, dump_cb, &c, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        return c.rc ? c.rc : -ENOMEM;
    return 0;
}

char *jsonx_dump(const json_t *v, size_t *len_out)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && len_out)
        *len_out = strlen(s);
    return s;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

size_t jsonx_utf8_sanitize(char *s)
{
    size_t replaced = 0;
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            *p++ = '?';
            replaced++;
        } else {
            p += n;
        }
    }
    return replaced;
}
