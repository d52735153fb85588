/* ollama_state: parsers for Ollama's own description of its models. */
#include "common/ollama_state.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define MODELS_MAX 4096

static double gb2(double bytes)
{
    return round(bytes / GIB * 100) / 100;
}

void ollama_state_clear(struct ollama_state *s)
{
    json_decref(s->loaded);
    json_decref(s->available);
    s->loaded = s->available = NULL;
    s->up = false;
}

/* The "models" array of a body, or NULL with a reason. The caller owns *root. */
static const json_t *models_of(const char *body, size_t len, json_t **root, char *err,
                               size_t errlen)
{
    *root = jsonx_parse_body(body, len, err, errlen);
    if (!*root)
        return NULL;
    const json_t *m = json_object_get(*root, "models");
    if (!json_is_array(m)) {
        snprintf(err, errlen, "no \"models\" array in the answer");
        json_decref(*root);
        *root = NULL;
        return NULL;
    }
    return m;
}

static const char *model_name(const json_t *m)
{
    const char *n = jsonx_str(m, "name");
    if (!n || !*n)
        n = jsonx_str(m, "model");
    return n && *n ? n : NULL;
}

int ollama_parse_ps(const char *body, size_t len, json_t **out, char *err, size_t errlen)
{
    json_t *root;
    const json_t *models = models_of(body, len, &root, err, errlen);
    if (!models)
        return -EINVAL;
    json_t *a = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach (models, i, m) {
        const char *name = model_name(m);
        if (!name || i >= MODELS_MAX)
            continue;
        double size = 0, vram = 0;
        int64_t ctx = 0;
        jsonx_num(m, "size", &size);
        /* Bytes as Ollama gives them (for the fleet's /api/ps), GiB for the scores. */
        json_t *e = json_pack("{s:s, s:f, s:I}", "name", name, "size_gb", gb2(size), "size",
                              (json_int_t)size);
        if (jsonx_num(m, "size_vram", &vram) == 0) {
            json_object_set_new(e, "size_vram_gb", json_real(gb2(vram)));
            json_object_set_new(e, "size_vram", json_integer((json_int_t)vram));
        }
        if (jsonx_int(m, "context_length", &ctx) == 0 && ctx > 0)
            json_object_set_new(e, "context_length", json_integer(ctx));
        const json_t *d = json_object_get(m, "details");
        const char *ps = jsonx_str(d, "parameter_size"), *q = jsonx_str(d, "quantization_level");
        if (ps && *ps)
            json_object_set_new(e, "parameter_size", json_string(ps));
        if (q && *q)
            json_object_set_new(e, "quantization", json_string(q));
        const char *exp = jsonx_str(m, "expires_at");
        if (exp && *exp)
            json_object_set_new(e, "expires_at", json_string(exp));
        json_array_append_new(a, e);
    }
    json_decref(root);
    *out = a;
    return 0;
}

int ollama_parse_tags(const char *body, size_t len, json_t **out, char *err, size_t errlen)
{
    json_t *root;
    const json_t *models = models_of(body, len, &root, err, errlen);
    if (!models)
        return -EINVAL;
    json_t *a = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach (models, i, m) {
        const char *name = model_name(m);
        if (!name || i >= MODELS_MAX)
            continue;
        double size = 0;
        jsonx_num(m, "size", &size);
        json_t *e = json_pack("{s:s, s:f}", "name", name, "size_gb", gb2(size));
        const json_t *caps = json_object_get(m, "capabilities");
        if (json_is_array(caps)) {
            json_t *c = json_array();
            size_t k;
            const json_t *v;
            json_array_foreach (caps, k, v) {
                if (json_is_string(v))
                    json_array_append(c, (json_t *)v);
            }
            json_object_set_new(e, "capabilities", c);
        }
        json_array_append_new(a, e);
    }
    json_decref(root);
    *out = a;
    return 0;
}

int ollama_parse_version(const char *body, size_t len, char *out, size_t outlen)
{
    char err[128];
    json_t *root = jsonx_parse_body(body, len, err, sizeof err);
    const char *v = jsonx_str(root, "version");
    int rc = v && *v && strlen(v) < outlen ? 0 : -EINVAL;
    if (rc == 0)
        snprintf(out, outlen, "%s", v);
    json_decref(root);
    return rc;
}
