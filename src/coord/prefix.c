#include "coord/prefix.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

/* Cuts text into blocks as it comes. */
struct builder {
    struct prefix_key *k;
    char block[PREFIX_BLOCK];
    size_t used;
};

static void add(struct builder *b, const char *s, size_t len)
{
    b->k->chars += len;
    while (len > 0 && b->k->n < PREFIX_MAX_BLOCKS) {
        size_t take = PREFIX_BLOCK - b->used < len ? PREFIX_BLOCK - b->used : len;
        memcpy(b->block + b->used, s, take);
        b->used += take;
        s += take;
        len -= take;
        if (b->used == PREFIX_BLOCK) {
            uint64_t before = b->k->n ? b->k->h[b->k->n - 1] : 0;
            b->k->h[b->k->n++] = hash_bytes(b->block, PREFIX_BLOCK, before);
            b->used = 0;
        }
    }
}

static void add_str(struct builder *b, const json_t *v)
{
    if (json_is_string(v))
        add(b, json_string_value(v), json_string_length(v));
}

/* A message's content: a string, or OpenAI's parts (their text). */
static void add_content(struct builder *b, const json_t *content)
{
    if (json_is_string(content)) {
        add_str(b, content);
        return;
    }
    size_t i;
    const json_t *part;
    json_array_foreach (content, i, part)
        add_str(b, json_object_get(part, "text"));
}

void prefix_key_of(const json_t *body, struct prefix_key *out)
{
    memset(out, 0, sizeof *out);
    struct builder b = {.k = out};
    add_str(&b, json_object_get(body, "system"));
    add_str(&b, json_object_get(body, "prompt"));
    size_t i;
    const json_t *m;
    json_array_foreach (json_object_get(body, "messages"), i, m) {
        add_str(&b, json_object_get(m, "role"));
        add(&b, "\n", 1);
        add_content(&b, json_object_get(m, "content"));
        add(&b, "\n", 1);
    }
}

void prefix_index_init(struct prefix_index *x)
{
    memset(x, 0, sizeof *x);
}

void prefix_index_free(struct prefix_index *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->e[i]);
    free(x->e);
    memset(x, 0, sizeof *x);
}

static struct prefix_entry *find(const struct prefix_index *x, const char *node_id,
                                 const char *model)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->e[i]->node_id, node_id) == 0 && strcmp(x->e[i]->model, model) == 0)
            return x->e[i];
    return NULL;
}

/* Leading blocks two prompts share. */
static size_t common(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb, k = 0;
    while (k < n && a[k] == b[k])
        k++;
    return k;
}

/* The most leading blocks any remembered prompt of e shares with key. */
static size_t best_shared(const struct prefix_entry *e, const struct prefix_key *key)
{
    size_t best = 0;
    for (int i = 0; i < e->n_slots; i++) {
        size_t k = common(e->slots[i].h, e->slots[i].n, key->h, key->n);
        best = k > best ? k : best;
    }
    return best;
}

double prefix_match(const struct prefix_index *x, const char *node_id, const char *model,
                    const struct prefix_key *key)
{
    const struct prefix_entry *e = key && key->chars > 0 ? find(x, node_id, model) : NULL;
    if (!e)
        return 0;
    size_t shared = best_shared(e, key);
    double share = (double)(shared * PREFIX_BLOCK) / (double)key->chars;
    return share > 1 ? 1 : share;
}

size_t prefix_blocks(const struct prefix_index *x, const char *node_id, const char *model)
{
    const struct prefix_entry *e = find(x, node_id, model);
    size_t n = 0;
    for (int i = 0; e && i < e->n_slots; i++)
        n += e->slots[i].n;
    return n;
}

int prefix_remember(struct prefix_index *x, const char *node_id, const char *model, int slots,
                    const struct prefix_key *key)
{
    if (key->n == 0)
        return 0; /* shorter than a block: nothing worth remembering */
    struct prefix_entry *e = find(x, node_id, model);
    if (!e) {
        if (x->n == PREFIX_MAX_QUEUES) {
            size_t old = 0;
            for (size_t i = 1; i < x->n; i++)
                if (x->e[i]->used < x->e[old]->used)
                    old = i;
            e = x->e[old];
        } else {
            e = malloc(sizeof *e);
            struct prefix_entry **arr = realloc(x->e, (x->n + 1) * sizeof *arr);
            if (!e || !arr) {
                free(e);
                if (arr)
                    x->e = arr;
                return -ENOMEM;
            }
            x->e = arr;
            x->e[x->n++] = e;
        }
        memset(e, 0, sizeof *e);
        snprintf(e->node_id, sizeof e->node_id, "%s", node_id);
        snprintf(e->model, sizeof e->model, "%s", model);
    }
    e->used = ++x->clock;
    int cap = slots < 1 ? 1 : slots > PREFIX_MAX_SLOTS ? PREFIX_MAX_SLOTS : slots;
    if (e->n_slots > cap)
        e->n_slots = cap; /* the node has fewer slots now */
    /* The slot it continues (its whole prompt is a prefix of key), else a free one, else the
     * least recently used. */
    struct prefix_slot *s = NULL;
    for (int i = 0; i < e->n_slots && !s; i++)
        if (e->slots[i].n > 0 &&
            common(e->slots[i].h, e->slots[i].n, key->h, key->n) == e->slots[i].n)
            s = &e->slots[i];
    if (!s && e->n_slots < cap)
        s = &e->slots[e->n_slots++];
    if (!s) {
        s = &e->slots[0];
        for (int i = 1; i < e->n_slots; i++)
            if (e->slots[i].used < s->used)
                s = &e->slots[i];
    }
    memcpy(s->h, key->h, key->n * sizeof key->h[0]);
    s->n = key->n;
    s->used = x->clock;
    return 0;
}

void prefix_forget_node(struct prefix_index *x, const char *node_id)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->e[i]->node_id, node_id) == 0)
            x->e[i]->n_slots = 0;
}
