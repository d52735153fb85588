#include "sim/sim_text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
    r->s = seed ^ 0x9E3779B97F4A7C15ULL;
}

uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double sim_rng_unit(struct sim_rng *r)
{
    return (double)(sim_rng_next(r) >> 11) / 9007199254740992.0;
}

uint64_t sim_hash(uint64_t h, const void *p, size_t len)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void sim_tokens_init(struct sim_tokens *t)
{
    t->ids = NULL;
    t->n = 0;
    t->cap = 0;
}

void sim_tokens_free(struct sim_tokens *t)
{
    if (!t)
        return;
    free(t->ids);
    sim_tokens_init(t);
}

static int push_id(struct sim_tokens *t, uint32_t id)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        uint32_t *p = realloc(t->ids, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        t->ids = p;
        t->cap = cap;
    }
    t->ids[t->n++] = id;
    return 0;
}

/* Walks the tokens of a text: up to 8 non-space bytes and the whitespace after them. Keeping
 * whitespace at the end of tokens makes tokenize(a + b) == tokenize(a) + tokenize(b) whenever
 * a ends in whitespace, which is what lets a conversation's next turn share its prefix. */
static int for_each_token(const char *text, size_t len,
                          int (*fn)(const char *p, size_t n, void *arg), void *arg)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && !isspace((unsigned char)text[i]) && i - start < 8)
            i++;
        if (i == len || isspace((unsigned char)text[i]))
            while (i < len && isspace((unsigned char)text[i]))
                i++;
        int rc = fn(text + start, i - start, arg);
        if (rc)
            return rc;
    }
    return 0;
}

static int add_token(const char *p, size_t n, void *arg)
{
    return push_id(arg, (uint32_t)sim_hash(SIM_HASH_INIT, p, n));
}

int sim_tokenize_append(struct sim_tokens *t, const char *text, size_t len)
{
    return for_each_token(text, len, add_token, t);
}

int sim_tokens_append_blob(struct sim_tokens *t, const char *data, size_t len, size_t count)
{
    uint64_t h = sim_hash(SIM_HASH_INIT, data, len < 4096 ? len : 4096);
    for (size_t i = 0; i < count; i++) {
        int rc = push_id(t, (uint32_t)(h + i * 0x9E3779B9u));
        if (rc)
            return rc;
    }
    return 0;
}

static int count_token(const char *p, size_t n, void *arg)
{
    (void)p;
    (void)n;
    (*(size_t *)arg)++;
    return 0;
}

size_t sim_token_count(const char *text, size_t len)
{
    size_t n = 0;
    for_each_token(text, len, count_token, &n);
    return n;
}

static const char *const words[] = {
    "the",    "herd",    "moves",   "across", "a",        "quiet",  "valley", "while",
    "each",   "machine", "answers", "with",   "its",      "own",    "voice",  "and",
    "models", "wake",    "when",    "called", "tokens",   "flow",   "like",   "water",
    "over",   "stones",  "in",      "order",  "patience", "brings", "speed",  "to",
    "those",  "who",     "wait",    "for",    "memory",   "fits",   "work",   "is",
    "shared", "fairly",  "between", "many",   "nodes",    "as",     "light",  "falls",
};

void sim_next_word(struct sim_rng *r, struct hbuf *out, int index)
{
    const char *w = words[sim_rng_next(r) % (sizeof words / sizeof words[0])];
    if (index > 0)
        hbuf_append(out, " ", 1);
    if (index == 0) {
        char cap[32];
        snprintf(cap, sizeof cap, "%s", w);
        cap[0] = (char)toupper((unsigned char)cap[0]);
        hbuf_append_str(out, cap);
    } else {
        hbuf_append_str(out, w);
    }
    if (index > 0 && sim_rng_next(r) % 11 == 0)
        hbuf_append(out, ".", 1);
}

static json_t *value_for(const json_t *schema, struct sim_rng *r, int depth)
{
    const json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en) && json_array_size(en) > 0)
        return json_deep_copy(json_array_get(en, 0));
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!type)
        type = json_is_object(json_object_get(schema, "properties")) ? "object" : "string";
    if (strcmp(type, "integer") == 0)
        return json_integer(1 + (json_int_t)(sim_rng_next(r) % 9));
    if (strcmp(type, "number") == 0)
        return json_real(1.5);
    if (strcmp(type, "boolean") == 0)
        return json_true();
    if (strcmp(type, "array") == 0) {
        json_t *a = json_array();
        const json_t *items = json_object_get(schema, "items");
        if (json_is_object(items) && depth < 4)
            json_array_append_new(a, value_for(items, r, depth + 1));
        return a;
    }
    if (strcmp(type, "object") == 0) {
        json_t *o = json_object();
        const json_t *props = json_object_get(schema, "properties");
        const char *key;
        json_t *sub;
        if (json_is_object(props) && depth < 4)
            json_object_foreach ((json_t *)props, key, sub)
                json_object_set_new(o, key, value_for(sub, r, depth + 1));
        return o;
    }
    return json_string("example");
}

json_t *sim_tool_arguments(const json_t *parameters, struct sim_rng *r)
{
    if (!json_is_object(parameters))
        return json_object();
    return value_for(parameters, r, 0);
}

json_t *sim_json_for_schema(const json_t *schema, struct sim_rng *r)
{
    if (json_is_object(schema) && json_is_object(json_object_get(schema, "properties")))
        return value_for(schema, r, 0);
    struct hbuf text;
    hbuf_init(&text, 1024);
    for (int i = 0; i < 6; i++)
        sim_next_word(r, &text, i);
    json_t *o = json_pack("{s:s}", "response", text.data ? text.data : "");
    hbuf_free(&text);
    return o;
}

void sim_embedding(const char *text, size_t len, float *v, int dim, int normalize)
{
    struct sim_rng r;
    sim_rng_seed(&r, sim_hash(SIM_HASH_INIT, text, len));
    double sum = 0;
    for (int i = 0; i < dim; i++) {
        double x = sim_rng_unit(&r) * 2.0 - 1.0;
        v[i] = (float)x;
        sum += x * x;
    }
    double norm = sqrt(sum);
    if (normalize && norm > 0)
        for (int i = 0; i < dim; i++)
            v[i] = (float)(v[i] / norm);
}
