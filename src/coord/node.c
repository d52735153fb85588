#include "coord/node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void node_clear_models(struct node *n)
{
    free(n->loaded);
    free(n->available);
    n->loaded = NULL;
    n->available = NULL;
    n->n_loaded = n->n_available = 0;
}

void node_free(struct node *n)
{
    if (!n)
        return;
    node_clear_models(n);
    free(n->unloaded);
    json_decref(n->payload);
    json_decref(n->catalog);
    free(n);
}

const struct node_model *node_loaded_model(const struct node *n, const char *model)
{
    for (size_t i = 0; i < n->n_loaded; i++)
        if (strcmp(n->loaded[i].name, model) == 0)
            return &n->loaded[i];
    return NULL;
}

bool node_has_model(const struct node *n, const char *model)
{
    if (node_loaded_model(n, model))
        return true;
    for (size_t i = 0; i < n->n_available; i++)
        if (strcmp(n->available[i].name, model) == 0)
            return true;
    return false;
}

unsigned node_model_caps(const struct node *n, const char *model)
{
    const struct node_model *m = node_loaded_model(n, model);
    if (m && m->caps)
        return m->caps;
    for (size_t i = 0; i < n->n_available; i++)
        if (strcmp(n->available[i].name, model) == 0)
            return n->available[i].caps;
    return 0;
}

int node_add_available(struct node *n, const char *model)
{
    if (node_has_model(n, model))
        return 0;
    struct node_model *a = realloc(n->available, (n->n_available + 1) * sizeof *a);
    if (!a)
        return -ENOMEM;
    n->available = a;
    memset(&a[n->n_available], 0, sizeof *a);
    snprintf(a[n->n_available].name, MODEL_NAME_MAX, "%s", model);
    n->n_available++;
    return 0;
}

void node_remove_model(struct node *n, const char *model)
{
    for (size_t i = 0; i < n->n_available; i++)
        if (strcmp(n->available[i].name, model) == 0) {
            memmove(&n->available[i], &n->available[i + 1],
                    (n->n_available - i - 1) * sizeof *n->available);
            n->n_available--;
            break;
        }
    node_forget_loaded(n, model);
}

void node_forget_loaded(struct node *n, const char *model)
{
    for (size_t i = 0; i < n->n_loaded; i++)
        if (strcmp(n->loaded[i].name, model) == 0) {
            memmove(&n->loaded[i], &n->loaded[i + 1], (n->n_loaded - i - 1) * sizeof *n->loaded);
            n->n_loaded--;
            break;
        }
}

double node_unloaded_at(const struct node *n, const char *model)
{
    for (size_t i = 0; i < n->n_unloaded; i++)
        if (strcmp(n->unloaded[i].name, model) == 0)
            return n->unloaded[i].at;
    return 0;
}

double node_disk_gb(const struct node *n, const char *key)
{
    const json_t *v = json_object_get(json_object_get(n->payload, "disk"), key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

double node_available_gb(const struct node *n)
{
    double avail = n->has_memory ? n->mem_available_gb : 0;
    if (n->capacity.present && n->capacity.ceiling_gb > 0 && n->capacity.ceiling_gb < avail)
        avail = n->capacity.ceiling_gb;
    return avail;
}

const char *node_status_name(enum node_status s)
{
    return s == NODE_ONLINE ? "online" : s == NODE_DEGRADED ? "degraded" : "offline";
}

const char *node_pressure_name(enum node_pressure p)
{
    return p == PRESSURE_NORMAL ? "normal" : p == PRESSURE_WARN ? "warn" : "critical";
}

bool node_ready(const struct node *n)
{
    return n->status != NODE_OFFLINE && !n->draining && (!n->has_ollama || n->ollama_up);
}

const char *node_unready_reason(const struct node *n)
{
    return n->draining                 ? "draining"
           : n->status == NODE_OFFLINE ? "offline"
                                       : "without a running Ollama";
}
