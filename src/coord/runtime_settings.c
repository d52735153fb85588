#include "coord/runtime_settings.h"

#include <stdlib.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coord/poll_spec.h"

/* The JSON key and the option of the settings table it stands for. */
static const struct {
    const char *key;
    const char *option;
} runtime[] = {
    {"auto_pull", "auto-pull"},
    {"vram_fallback", "vram-fallback"},
    {"context_protection", "context-protection"},
    {"max_retries", "max-retries"},
};
enum { N_RUNTIME = sizeof runtime / sizeof runtime[0] };

static const struct cfg_option *option_named(const char *name)
{
    for (size_t i = 0; i < coord_config_spec.n_options; i++)
        if (strcmp(coord_config_spec.options[i].name, name) == 0)
            return &coord_config_spec.options[i];
    return NULL;
}

json_t *runtime_settings_json(const struct coord_settings *s)
{
    static const char *const modes[] = {"strip", "warn", "passthrough"};
    int mode = s->context_protection >= 0 && s->context_protection < 3 ? s->context_protection : 0;
    json_t *ollama = json_array();
    for (size_t i = 0; i < s->ollama.n; i++)
        json_array_append_new(ollama, json_string(s->ollama.items[i]));
    return json_pack("{s:b, s:b, s:s, s:I, s:o}", "auto_pull", s->auto_pull, "vram_fallback",
                     s->vram_fallback, "context_protection", modes[mode], "max_retries",
                     (json_int_t)s->max_retries, "ollama", ollama);
}

/* The value as the text its flag would take, or false when its JSON type is wrong. */
static bool as_text(const struct cfg_option *o, const json_t *v, char *out, size_t outlen)
{
    switch (o->type) {
    case CFG_BOOL:
        if (!json_is_boolean(v))
            return false;
        snprintf(out, outlen, "%s", json_is_true(v) ? "true" : "false");
        return true;
    case CFG_INT:
        if (!json_is_integer(v))
            return false;
        snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
        return true;
    case CFG_ENUM:
        if (!json_is_string(v))
            return false;
        snprintf(out, outlen, "%s", json_string_value(v));
        return true;
    default:
        return false;
    }
}

#define OLLAMA_MAX 64

/* "ollama": an array of "[NAME=]URL" strings, each valid, no name twice. */
static int check_ollama(const json_t *v, char *err, size_t errlen)
{
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n > OLLAMA_MAX) {
        snprintf(err, errlen, "ollama must be an array of at most %d \"[NAME=]URL\" strings",
                 OLLAMA_MAX);
        return -1;
    }
    char *items[OLLAMA_MAX];
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            snprintf(err, errlen, "ollama[%zu] must be a string", i);
            return -1;
        }
        items[i] = (char *)json_string_value(e);
    }
    struct cfg_list list = {.items = items, .n = n};
    char why[400];
    if (poll_spec_check(&list, why, sizeof why) != 0) {
        snprintf(err, errlen, "ollama: %s", why);
        return -1;
    }
    return 0;
}

/* Replaces the list with v's strings (checked). */
static void set_ollama(struct cfg_list *l, const json_t *v)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
    size_t n = json_array_size(v);
    char **items = n ? calloc(n, sizeof *items) : NULL;
    for (size_t i = 0; items && i < n; i++) {
        items[l->n] = strdup(json_string_value(json_array_get(v, i)));
        if (items[l->n])
            l->n++;
    }
    l->items = items;
}

int runtime_settings_apply(struct coord_settings *s, const json_t *changes, char *err,
                           size_t errlen)
{
    if (!json_is_object(changes)) {
        snprintf(err, errlen, "settings must be a JSON object");
        return -EINVAL;
    }
    /* Check everything on a copy first: all or nothing. The runtime options own no memory. */
    struct coord_settings trial = *s;
    const char *key;
    const json_t *v;
    const json_t *ollama = NULL;
    json_object_foreach ((json_t *)changes, key, v) {
        if (strcmp(key, "ollama") == 0) {
            if (check_ollama(v, err, errlen) != 0)
                return -EINVAL;
            ollama = v;
            continue;
        }
        const struct cfg_option *o = NULL;
        for (size_t i = 0; i < N_RUNTIME && !o; i++)
            if (strcmp(runtime[i].key, key) == 0)
                o = option_named(runtime[i].option);
        if (!o) {
            snprintf(err, errlen,
                     "'%s' cannot be changed at run time (auto_pull, vram_fallback, "
                     "context_protection, max_retries, ollama can)",
                     key);
            return -EINVAL;
        }
        char text[64], why[256];
        if (!as_text(o, v, text, sizeof text)) {
            snprintf(err, errlen, "%s must be %s", key,
                     o->type == CFG_BOOL  ? "true or false"
                     : o->type == CFG_INT ? "an integer"
                                          : o->choices);
            return -EINVAL;
        }
        if (cfg_set(o, &trial, text, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s", why);
            return -EINVAL;
        }
    }
    *s = trial;
    if (ollama)
        set_ollama(&s->ollama, ollama);
    return 0;
}

int runtime_settings_save(const struct coord_settings *s, const char *data_dir)
{
    char path[4200], tmp[4210];
    snprintf(path, sizeof path, "%s/settings.json", data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    json_t *o = runtime_settings_json(s);
    int rc = json_dump_file(o, tmp, JSON_INDENT(2)) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
    json_decref(o);
    if (rc)
        unlink(tmp);
    return rc ? rc : 0;
}

int runtime_settings_load(struct coord_settings *s, const char *data_dir, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/settings.json", data_dir);
    if (access(path, F_OK) != 0)
        return 0;
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) {
        snprintf(err, errlen, "%s: %s", path, je.text);
        return -EINVAL;
    }
    char why[300];
    int rc = runtime_settings_apply(s, o, why, sizeof why);
    if (rc)
        snprintf(err, errlen, "%s: %s", path, why);
    json_decref(o);
    return rc;
}
