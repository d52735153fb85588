#include "coord/request_body.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

bool request_body_edited(const struct request_body_edits *e)
{
    return e->model || e->strip_ctx || e->drop_extra || e->add_usage;
}

int request_body_edit(const char *raw, size_t raw_len, const struct request_body_edits *e,
                      char **out, size_t *out_len)
{
    json_error_t je;
    json_t *o = json_loadb(raw, raw_len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    if (e->model)
        json_object_set_new(o, "model", json_string(e->model));
    if (e->strip_ctx) {
        json_t *opts = json_object_get(o, "options");
        json_object_del(opts, "num_ctx");
        if (json_is_object(opts) && json_object_size(opts) == 0)
            json_object_del(o, "options");
    }
    if (e->drop_extra) {
        json_object_del(o, "fallback_models");
        json_object_del(o, "metadata");
    }
    if (e->add_usage) {
        json_t *so = json_object_get(o, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(o, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return -1;
    *out = text;
    *out_len = strlen(text);
    return 0;
}
