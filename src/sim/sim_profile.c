#include "sim/sim_profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"

int sim_parse_model_arg(const char *arg, struct sim_model_spec *out, char *err, size_t errlen)
{
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg) {
        snprintf(err, errlen, "'%s': expected NAME=SIZE_GB, for example qwen2.5:7b=4.7", arg);
        return -EINVAL;
    }
    char name[SIM_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    char *end;
    double gb = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || !(gb > 0 && gb < 10000)) {
        snprintf(err, errlen, "'%s': the size must be a number of GB above 0", arg);
        return -EINVAL;
    }
    char norm[SIM_NAME_MAX];
    if (model_name_normalize(name, norm, sizeof norm) != 0) {
        snprintf(err, errlen, "'%s': invalid model name", name);
        return -EINVAL;
    }
    sim_catalog_describe(norm, gb, out);
    return 0;
}

int sim_parse_token_range(const char *arg, int *min, int *max)
{
    char *end;
    long a = strtol(arg, &end, 10);
    if (end == arg || a < 0 || a > 10000000)
        return -EINVAL;
    long b = a;
    if (*end == '-') {
        const char *p = end + 1;
        b = strtol(p, &end, 10);
        if (end == p || b < a || b > 10000000)
            return -EINVAL;
    }
    if (*end)
        return -EINVAL;
    *min = (int)a;
    *max = (int)b;
    return 0;
}

#define GROW(arr, n, item)                                                                         \
    do {                                                                                           \
        void *p_ = realloc((arr), ((n) + 1) * sizeof *(arr));                                      \
        if (!p_)                                                                                   \
            return -ENOMEM;                                                                        \
        (arr) = p_;                                                                                \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

int sim_config_add_model(struct sim_node_config *c, const struct sim_model_spec *m)
{
    for (size_t i = 0; i < c->n_models; i++) {
        if (strcmp(c->models[i].name, m->name) == 0) {
            c->models[i] = *m;
            return 0;
        }
    }
    GROW(c->models, c->n_models, *m);
    return 0;
}

int sim_config_add_loaded(struct sim_node_config *c, const char *name)
{
    void *p = realloc(c->loaded, (c->n_loaded + 1) * sizeof *c->loaded);
    if (!p)
        return -ENOMEM;
    c->loaded = p;
    snprintf(c->loaded[c->n_loaded++], SIM_NAME_MAX, "%s", name);
    return 0;
}

int sim_config_add_registry(struct sim_node_config *c, const char *name, double size_gb)
{
    struct sim_registry_entry e;
    if (model_name_normalize(name, e.name, sizeof e.name) != 0)
        return -EINVAL;
    e.size_gb = size_gb;
    GROW(c->registry, c->n_registry, e);
    return 0;
}

int sim_config_add_fault(struct sim_node_config *c, const struct sim_fault *f)
{
    GROW(c->faults, c->n_faults, *f);
    return 0;
}

static void *dup_array(const void *src, size_t n, size_t size)
{
    if (!n)
        return NULL;
    void *p = malloc(n * size);
    if (p)
        memcpy(p, src, n * size);
    return p;
}

int sim_config_copy(struct sim_node_config *dst, const struct sim_node_config *src)
{
    *dst = *src;
    dst->models = dup_array(src->models, src->n_models, sizeof *src->models);
    dst->loaded = dup_array(src->loaded, src->n_loaded, sizeof *src->loaded);
    dst->registry = dup_array(src->registry, src->n_registry, sizeof *src->registry);
    dst->faults = dup_array(src->faults, src->n_faults, sizeof *src->faults);
    if ((src->n_models && !dst->models) || (src->n_loaded && !dst->loaded) ||
        (src->n_registry && !dst->registry) || (src->n_faults && !dst->faults)) {
        sim_config_free(dst);
        return -ENOMEM;
    }
    return 0;
}

void sim_config_free(struct sim_node_config *c)
{
    free(c->models);
    free(c->loaded);
    free(c->registry);
    free(c->faults);
    c->models = NULL;
    c->loaded = NULL;
    c->registry = NULL;
    c->faults = NULL;
    c->n_models = c->n_loaded = c->n_registry = c->n_faults = 0;
}

/* Number fields of a machine in a profile, with their bounds. */
struct num_field {
    const char *key;
    size_t offset; /* in struct sim_machine_spec */
    bool integer;
    double min, max;
};

static const struct num_field machine_fields[] = {
    {"memory_gb", offsetof(struct sim_machine_spec, memory_gb), false, 0.1, 100000},
    {"vram_gb", offsetof(struct sim_machine_spec, vram_gb), false, -1, 100000},
    {"disk_gbps", offsetof(struct sim_machine_spec, disk_gbps), false, 0.001, 1000},
    {"bandwidth_gbps", offsetof(struct sim_machine_spec, bandwidth_gbps), false, 0.1, 100000},
    {"speed", offsetof(struct sim_machine_spec, speed), false, 0.001, 1000},
    {"pull_gbps", offsetof(struct sim_machine_spec, pull_gbps), false, 0.0001, 1000},
    {"load_overhead_s", offsetof(struct sim_machine_spec, load_overhead_s), false, 0, 3600},
    {"parallel_efficiency", offsetof(struct sim_machine_spec, parallel_efficiency), false, 0, 1},
    {"keep_alive_s", offsetof(struct sim_machine_spec, keep_alive_s), false, -1, 1e9},
    {"num_parallel", offsetof(struct sim_machine_spec, num_parallel), true, 1, 256},
    {"max_loaded", offsetof(struct sim_machine_spec, max_loaded), true, 1, 256},
    {"max_queue", offsetof(struct sim_machine_spec, max_queue), true, 1, 1000000},
    {"context_length", offsetof(struct sim_machine_spec, context_length), true, 0, 10000000},
};

static int apply_node_fields(const json_t *o, struct sim_node_config *c, const char *where,
                             char *err, size_t errlen)
{
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s: expected an object", where);
        return -EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)o, key, v) {
        const struct num_field *nf = NULL;
        for (size_t i = 0; i < sizeof machine_fields / sizeof machine_fields[0]; i++)
            if (strcmp(key, machine_fields[i].key) == 0)
                nf = &machine_fields[i];
        if (nf) {
            if (!json_is_number(v) || json_number_value(v) < nf->min ||
                json_number_value(v) > nf->max) {
                snprintf(err, errlen, "%s: %s must be a number in %g..%g", where, key, nf->min,
                         nf->max);
                return -EINVAL;
            }
            char *field = (char *)&c->machine + nf->offset;
            if (nf->integer) {
                if (strcmp(key, "context_length") == 0)
                    *(int64_t *)field = (int64_t)json_number_value(v);
                else
                    *(int *)field = (int)json_number_value(v);
            } else {
                *(double *)field = json_number_value(v);
            }
        } else if (strcmp(key, "name") == 0 && json_is_string(v)) {
            snprintf(c->machine.name, sizeof c->machine.name, "%s", json_string_value(v));
        } else if (strcmp(key, "ollama_version") == 0 && json_is_string(v)) {
            snprintf(c->machine.version, sizeof c->machine.version, "%s", json_string_value(v));
        } else if (strcmp(key, "host") == 0 && json_is_string(v)) {
            snprintf(c->host, sizeof c->host, "%s", json_string_value(v));
        } else if (strcmp(key, "port") == 0 && json_is_integer(v) && json_integer_value(v) >= 0 &&
                   json_integer_value(v) <= 65535) {
            c->port = (int)json_integer_value(v);
        } else if (strcmp(key, "seed") == 0 && json_is_integer(v)) {
            c->seed = (uint64_t)json_integer_value(v);
        } else if (strcmp(key, "tokens") == 0 && json_is_string(v)) {
            if (sim_parse_token_range(json_string_value(v), &c->min_tokens, &c->max_tokens)) {
                snprintf(err, errlen, "%s: tokens must be \"MIN-MAX\"", where);
                return -EINVAL;
            }
        } else if (strcmp(key, "models") == 0 && json_is_array(v)) {
            size_t i;
            json_t *m;
            json_array_foreach (v, i, m) {
                struct sim_model_spec spec;
                if (json_is_string(m)) {
                    if (sim_parse_model_arg(json_string_value(m), &spec, err, errlen))
                        return -EINVAL;
                } else if (json_is_object(m) && jsonx_str(m, "name")) {
                    double gb = 0;
                    if (jsonx_num(m, "size_gb", &gb) || gb <= 0) {
                        snprintf(err, errlen, "%s: model %s needs size_gb", where,
                                 jsonx_str(m, "name"));
                        return -EINVAL;
                    }
                    char norm[SIM_NAME_MAX];
                    if (model_name_normalize(jsonx_str(m, "name"), norm, sizeof norm)) {
                        snprintf(err, errlen, "%s: invalid model name %s", where,
                                 jsonx_str(m, "name"));
                        return -EINVAL;
                    }
                    sim_catalog_describe(norm, gb, &spec);
                    double d;
                    if (jsonx_num(m, "gen_tps", &d) == 0)
                        spec.gen_tps = d;
                    if (jsonx_num(m, "prompt_tps", &d) == 0)
                        spec.prompt_tps = d;
                    int64_t ctx;
                    if (jsonx_int(m, "context_length", &ctx) == 0)
                        spec.context_length = ctx;
                    const json_t *caps = json_object_get(m, "capabilities");
                    if (json_is_array(caps)) {
                        spec.caps = 0;
                        size_t k;
                        json_t *cap;
                        json_array_foreach (caps, k, cap)
                            spec.caps |= model_cap_parse(
                                json_string_value(cap) ? json_string_value(cap) : "");
                    }
                    if (jsonx_bool_or(m, "loaded", false) && sim_config_add_loaded(c, spec.name))
                        return -ENOMEM;
                } else {
                    snprintf(err, errlen, "%s: each model is \"NAME=GB\" or {name, size_gb}",
                             where);
                    return -EINVAL;
                }
                if (sim_config_add_model(c, &spec))
                    return -ENOMEM;
            }
        } else if (strcmp(key, "loaded") == 0 && json_is_array(v)) {
            size_t i;
            json_t *m;
            json_array_foreach (v, i, m)
                if (json_is_string(m) && sim_config_add_loaded(c, json_string_value(m)))
                    return -ENOMEM;
        } else if (strcmp(key, "registry") == 0 && json_is_array(v)) {
            size_t i;
            json_t *m;
            json_array_foreach (v, i, m) {
                struct sim_model_spec spec;
                if (!json_is_string(m) ||
                    sim_parse_model_arg(json_string_value(m), &spec, err, errlen))
                    return -EINVAL;
                if (sim_config_add_registry(c, spec.name, spec.size_gb))
                    return -ENOMEM;
            }
        } else if (strcmp(key, "faults") == 0 && json_is_array(v)) {
            size_t i;
            json_t *f;
            json_array_foreach (v, i, f) {
                struct sim_fault fault;
                int rc = json_is_string(f)
                             ? sim_fault_parse_spec(json_string_value(f), &fault, err, errlen)
                             : sim_fault_from_json(f, &fault, err, errlen);
                if (rc)
                    return -EINVAL;
                if (sim_config_add_fault(c, &fault))
                    return -ENOMEM;
            }
        } else if (strcmp(key, "description") == 0 && json_is_string(v)) {
            /* free text for people; herd-node --metrics herd-sim reports it as the chip */
            snprintf(c->machine.description, sizeof c->machine.description, "%s",
                     json_string_value(v));
        } else {
            snprintf(err, errlen, "%s: unknown or malformed field '%s'", where, key);
            return -EINVAL;
        }
    }
    return 0;
}

int sim_profile_parse(const json_t *root, const struct sim_node_config *base, struct sim_fleet *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *nodes = json_object_get(root, "nodes");
    const json_t *defaults = json_object_get(root, "defaults");
    struct sim_node_config start;
    if (sim_config_copy(&start, base))
        return -ENOMEM;
    if (defaults && apply_node_fields(defaults, &start, "defaults", err, errlen)) {
        sim_config_free(&start);
        return -EINVAL;
    }
    size_t count = json_is_array(nodes) ? json_array_size(nodes) : 1;
    if (json_is_array(nodes) && count == 0) {
        sim_config_free(&start);
        snprintf(err, errlen, "the profile has no nodes");
        return -EINVAL;
    }
    out->nodes = calloc(count, sizeof *out->nodes);
    if (!out->nodes) {
        sim_config_free(&start);
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *node = json_is_array(nodes) ? json_array_get(nodes, i) : root;
        struct sim_node_config *c = &out->nodes[out->n];
        if (sim_config_copy(c, &start)) {
            sim_config_free(&start);
            return -ENOMEM;
        }
        out->n++;
        char where[96];
        snprintf(where, sizeof where, "node %zu", i + 1);
        const char *name = jsonx_str(node, "name");
        if (name)
            snprintf(where, sizeof where, "node %s", name);
        json_t *fields = json_deep_copy(node);
        if (!json_is_array(nodes)) {
            json_object_del(fields, "defaults");
            json_object_del(fields, "nodes");
        }
        int rc = apply_node_fields(fields, c, where, err, errlen);
        json_decref(fields);
        if (rc) {
            sim_config_free(&start);
            return rc;
        }
        if (!name && json_is_array(nodes))
            snprintf(c->machine.name, sizeof c->machine.name, "sim%zu", i + 1);
        /* Nodes of a fleet without a port of their own take consecutive ports. */
        if (count > 1 && !json_object_get(node, "port") && base->port != 0)
            c->port = base->port + (int)i;
    }
    sim_config_free(&start);
    return 0;
}

int sim_profile_load(const char *path, const struct sim_node_config *base, struct sim_fleet *out,
                     char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        memset(out, 0, sizeof *out);
        snprintf(err, errlen, "%s: line %d: %s", path, je.line, je.text);
        return -EINVAL;
    }
    int rc = sim_profile_parse(root, base, out, err, errlen);
    json_decref(root);
    return rc;
}

void sim_fleet_free(struct sim_fleet *f)
{
    for (size_t i = 0; i < f->n; i++)
        sim_config_free(&f->nodes[i]);
    free(f->nodes);
    f->nodes = NULL;
    f->n = 0;
}
