/* progress_merge: several nodes' progress lines as one. */
#include "coord/progress_merge.h"

#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"

void progress_merge_init(struct progress_merge *m, int n)
{
    memset(m, 0, sizeof *m);
    m->n = n < 1 ? 1 : n > PMERGE_SOURCES_MAX ? PMERGE_SOURCES_MAX : n;
    for (int i = 0; i < PMERGE_SOURCES_MAX; i++)
        m->last_layer[i] = -1;
}

static uint64_t bit(int src)
{
    return (uint64_t)1 << src;
}

/* Sources that are still working or have succeeded: the ones whose progress counts. */
static uint64_t counted(const struct progress_merge *m)
{
    uint64_t all = m->n == 64 ? ~(uint64_t)0 : bit(m->n) - 1;
    return all & ~m->failed;
}

static void layer_done(struct progress_merge *m, int layer, int src)
{
    if (layer >= 0)
        m->layers[layer].completed[src] = m->layers[layer].total;
}

/* The least completed of a layer over the counted sources. */
static int64_t layer_least(const struct progress_merge *m, const struct pmerge_layer *l)
{
    uint64_t c = counted(m);
    int64_t least = l->total;
    for (int i = 0; i < m->n; i++)
        if ((c & bit(i)) && l->completed[i] < least)
            least = l->completed[i];
    return least;
}

/* Writes the status lines every counted source has reached, in the order they came. */
static void flush_statuses(struct progress_merge *m, json_t *out)
{
    uint64_t c = counted(m);
    for (int i = 0; i < m->n_statuses; i++) {
        struct pmerge_status *s = &m->statuses[i];
        if (s->written)
            continue;
        /* A source that succeeded has passed every status it will send. */
        uint64_t need = c & ~(m->ended & ~m->failed);
        if ((s->reached & need) != need || !c)
            break; /* the order of statuses is kept */
        s->written = true;
        json_array_append_new(out, json_pack("{s:s}", "status", s->text));
    }
}

static void on_status(struct progress_merge *m, int src, const char *text, json_t *out)
{
    /* Past the download: every layer of this source is complete. */
    for (int i = 0; i < m->n_layers; i++)
        layer_done(m, i, src);
    int i;
    for (i = 0; i < m->n_statuses; i++)
        if (strcmp(m->statuses[i].text, text) == 0)
            break;
    if (i == m->n_statuses) {
        if (m->n_statuses == PMERGE_STATUSES_MAX)
            return;
        snprintf(m->statuses[i].text, sizeof m->statuses[i].text, "%s", text);
        m->n_statuses++;
    }
    m->statuses[i].reached |= bit(src);
    flush_statuses(m, out);
}

static void on_progress(struct progress_merge *m, int src, const char *status, const char *digest,
                        int64_t total, int64_t completed, json_t *out)
{
    int i;
    for (i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].digest, digest) == 0)
            break;
    if (i == m->n_layers) {
        if (m->n_layers == PMERGE_LAYERS_MAX)
            return;
        memset(&m->layers[i], 0, sizeof m->layers[i]);
        snprintf(m->layers[i].digest, sizeof m->layers[i].digest, "%s", digest);
        m->n_layers++;
    }
    struct pmerge_layer *l = &m->layers[i];
    if (total > l->total)
        l->total = total;
    if (m->last_layer[src] != i)
        layer_done(m, m->last_layer[src], src); /* it moved on to the next layer */
    m->last_layer[src] = i;
    l->completed[src] = completed < 0 ? 0 : completed > total ? total : completed;
    /* Statuses reached before this layer started are written first. */
    flush_statuses(m, out);
    int64_t least = layer_least(m, l);
    json_t *o = json_pack("{s:s, s:s, s:I}", "status", status, "digest", digest, "total",
                          (json_int_t)l->total);
    if (least > 0)
        json_object_set_new(o, "completed", json_integer((json_int_t)least));
    json_array_append_new(out, o);
}

void progress_merge_line(struct progress_merge *m, int src, const json_t *line, json_t *out)
{
    if (src < 0 || src >= m->n || (m->ended & bit(src)))
        return;
    const char *err = jsonx_str(line, "error");
    if (err) {
        progress_merge_fail(m, src, err, out);
        return;
    }
    const char *status = jsonx_str(line, "status");
    if (!status)
        return;
    if (strcmp(status, "success") == 0) {
        for (int i = 0; i < m->n_layers; i++)
            layer_done(m, i, src);
        m->ended |= bit(src);
        flush_statuses(m, out);
        return;
    }
    const char *digest = jsonx_str(line, "digest");
    int64_t total = 0, completed = 0;
    if (digest && jsonx_int(line, "total", &total) == 0 && total > 0) {
        jsonx_int(line, "completed", &completed);
        on_progress(m, src, status, digest, total, completed, out);
        return;
    }
    on_status(m, src, status, out);
}

void progress_merge_fail(struct progress_merge *m, int src, const char *error, json_t *out)
{
    if (src < 0 || src >= m->n || (m->ended & bit(src)))
        return;
    m->ended |= bit(src);
    m->failed |= bit(src);
    snprintf(m->error[src], sizeof m->error[src], "%s", error && *error ? error : "failed");
    flush_statuses(m, out);
}

bool progress_merge_done(const struct progress_merge *m)
{
    uint64_t all = m->n == 64 ? ~(uint64_t)0 : bit(m->n) - 1;
    return (m->ended & all) == all;
}

const char *progress_merge_error(const struct progress_merge *m, int src)
{
    if (src < 0 || src >= m->n || !(m->failed & bit(src)))
        return NULL;
    return m->error[src];
}
