#include "sim/sim_faults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "sim/sim_catalog.h"

static const char *const kind_names[] = {"fail", "drop", "stall", "queue_full", "slow"};

static int kind_parse(const char *s, enum sim_fault_kind *out)
{
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum sim_fault_kind)i;
            return 0;
        }
    }
    if (strcmp(s, "queue-full") == 0) {
        *out = SIM_FAULT_QUEUE_FULL;
        return 0;
    }
    return -EINVAL;
}

static void defaults(struct sim_fault *f)
{
    memset(f, 0, sizeof *f);
    f->status = 500;
    snprintf(f->message, sizeof f->message, "injected failure");
    f->factor = 1;
    f->count = -1;
}

static int set_model(struct sim_fault *f, const char *model, char *err, size_t errlen)
{
    if (!model || !*model)
        return 0;
    if (model_name_normalize(model, f->model, sizeof f->model) != 0) {
        snprintf(err, errlen, "invalid model name '%s'", model);
        return -EINVAL;
    }
    return 0;
}

static int check(struct sim_fault *f, char *err, size_t errlen)
{
    if (f->kind == SIM_FAULT_FAIL && (f->status < 400 || f->status > 599)) {
        snprintf(err, errlen, "fail status must be 400..599");
        return -EINVAL;
    }
    if ((f->kind == SIM_FAULT_DROP || f->kind == SIM_FAULT_STALL) && f->after < 0) {
        snprintf(err, errlen, "after must be >= 0");
        return -EINVAL;
    }
    if (f->kind == SIM_FAULT_SLOW && !(f->factor > 0 && f->factor <= 1000)) {
        snprintf(err, errlen, "slow factor must be in (0, 1000]");
        return -EINVAL;
    }
    return 0;
}

int sim_fault_parse_spec(const char *spec, struct sim_fault *out, char *err, size_t errlen)
{
    defaults(out);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (set_model(out, at + 1, err, errlen))
            return -EINVAL;
    }
    char *colon = strchr(buf, ':');
    if (colon)
        *colon = '\0';
    if (kind_parse(buf, &out->kind)) {
        snprintf(err, errlen, "unknown fault '%s' (fail, drop, stall, queue-full, slow)", buf);
        return -EINVAL;
    }
    if (colon) {
        char *end;
        double v = strtod(colon + 1, &end);
        if (end == colon + 1 || *end) {
            snprintf(err, errlen, "fault '%s': '%s' is not a number", buf, colon + 1);
            return -EINVAL;
        }
        if (out->kind == SIM_FAULT_FAIL)
            out->status = (int)v;
        else if (out->kind == SIM_FAULT_SLOW)
            out->factor = v;
        else
            out->after = (int)v;
    } else if (out->kind == SIM_FAULT_SLOW) {
        out->factor = 4;
    }
    return check(out, err, errlen);
}

int sim_fault_from_json(const json_t *o, struct sim_fault *out, char *err, size_t errlen)
{
    defaults(out);
    const char *kind = jsonx_str(o, "kind");
    if (!kind || kind_parse(kind, &out->kind)) {
        snprintf(err, errlen, "kind must be one of fail, drop, stall, queue_full, slow");
        return -EINVAL;
    }
    int64_t v;
    double d;
    if (jsonx_int(o, "status", &v) == 0)
        out->status = (int)v;
    if (jsonx_int(o, "after", &v) == 0)
        out->after = (int)v;
    if (jsonx_int(o, "count", &v) == 0)
        out->count = v == 0 ? -1 : (int)v;
    if (jsonx_num(o, "factor", &d) == 0)
        out->factor = d;
    const char *msg = jsonx_str(o, "message");
    if (msg)
        snprintf(out->message, sizeof out->message, "%s", msg);
    const char *path = jsonx_str(o, "path");
    if (path)
        snprintf(out->path, sizeof out->path, "%s", path);
    if (set_model(out, jsonx_str(o, "model"), err, errlen))
        return -EINVAL;
    return check(out, err, errlen);
}

json_t *sim_fault_to_json(const struct sim_fault *f)
{
    json_t *o = json_pack("{s:s, s:i}", "kind", kind_names[f->kind], "count", f->count);
    if (f->kind == SIM_FAULT_FAIL) {
        json_object_set_new(o, "status", json_integer(f->status));
        json_object_set_new(o, "message", json_string(f->message));
    }
    if (f->kind == SIM_FAULT_DROP || f->kind == SIM_FAULT_STALL)
        json_object_set_new(o, "after", json_integer(f->after));
    if (f->kind == SIM_FAULT_SLOW)
        json_object_set_new(o, "factor", json_real(f->factor));
    if (f->model[0])
        json_object_set_new(o, "model", json_string(f->model));
    if (f->path[0])
        json_object_set_new(o, "path", json_string(f->path));
    return o;
}

int sim_faults_add(struct sim_fault_set *s, const struct sim_fault *f)
{
    if (s->n >= SIM_MAX_FAULTS)
        return -ENOSPC;
    s->items[s->n++] = *f;
    return 0;
}

static bool is_inference_path(const char *path)
{
    static const char *const paths[] = {
        "/api/chat",       "/api/generate", "/api/embed", "/api/embeddings", "/v1/chat/completions",
        "/v1/completions", "/v1/embeddings"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (strcmp(path, paths[i]) == 0)
            return true;
    return false;
}

bool sim_faults_take(struct sim_fault_set *s, const char *model, const char *path,
                     struct sim_fault *out)
{
    for (int i = 0; i < s->n; i++) {
        struct sim_fault *f = &s->items[i];
        if (f->kind == SIM_FAULT_SLOW)
            continue;
        if (f->model[0] && (!model || strcmp(f->model, model) != 0))
            continue;
        if (f->path[0] ? strcmp(f->path, path) != 0 : !is_inference_path(path))
            continue;
        *out = *f;
        if (f->count > 0 && --f->count == 0) {
            memmove(f, f + 1, (size_t)(s->n - i - 1) * sizeof *f);
            s->n--;
        }
        return true;
    }
    return false;
}

double sim_faults_slowdown(const struct sim_fault_set *s)
{
    double factor = 1;
    for (int i = 0; i < s->n; i++)
        if (s->items[i].kind == SIM_FAULT_SLOW)
            factor *= s->items[i].factor;
    return factor;
}
