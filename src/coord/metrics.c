#include "coord/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/hbuf.h"

#define RENDER_MAX (64 * 1024 * 1024)

struct series {
    struct series *hnext;
    int family;
    char *labels; /* rendered: a="x",b="y" (may be "") */
    double value;
    uint64_t *counts; /* histogram: per bucket, not cumulative */
    double sum;
    uint64_t count;
};

struct family {
    const char *name;
    const char *help;
    enum metric_type type;
    double *buckets;
    size_t n_buckets;
    struct series **series; /* in creation order */
    size_t n_series, cap_series;
};

struct metrics {
    struct family *fam;
    size_t n_fam;
    struct series **table;
    size_t n_table; /* power of two */
    size_t n_series, max_series;
    uint64_t dropped;
};

struct metrics *metrics_new(size_t max_series)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->n_table = 1024;
    m->table = calloc(m->n_table, sizeof *m->table);
    if (!m->table) {
        free(m);
        return NULL;
    }
    m->max_series = max_series;
    return m;
}

static void series_free(struct series *s)
{
    free(s->labels);
    free(s->counts);
    free(s);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_fam; i++) {
        for (size_t j = 0; j < m->fam[i].n_series; j++)
            series_free(m->fam[i].series[j]);
        free(m->fam[i].series);
        free(m->fam[i].buckets);
    }
    free(m->fam);
    free(m->table);
    free(m);
}

int metrics_family(struct metrics *m, const char *name, enum metric_type type, const char *help,
                   const double *buckets, size_t n_buckets)
{
    struct family *p = realloc(m->fam, (m->n_fam + 1) * sizeof *p);
    if (!p)
        return -1;
    m->fam = p;
    struct family *f = &m->fam[m->n_fam];
    memset(f, 0, sizeof *f);
    f->name = name;
    f->help = help;
    f->type = type;
    if (type == METRIC_HISTOGRAM && n_buckets) {
        f->buckets = malloc(n_buckets * sizeof *f->buckets);
        if (!f->buckets)
            return -1;
        memcpy(f->buckets, buckets, n_buckets * sizeof *buckets);
        f->n_buckets = n_buckets;
    }
    return (int)m->n_fam++;
}

static int render_labels(const char *const *labels, struct hbuf *out)
{
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        if (i)
            hbuf_append(out, ",", 1);
        hbuf_append_str(out, labels[i]);
        hbuf_append(out, "=\"", 2);
        for (const char *v = labels[i + 1]; *v; v++) {
            if (*v == '\\')
                hbuf_append(out, "\\\\", 2);
            else if (*v == '"')
                hbuf_append(out, "\\\"", 2);
            else if (*v == '\n')
                hbuf_append(out, "\\n", 2);
            else
                hbuf_append(out, v, 1);
        }
        if (hbuf_append(out, "\"", 1))
            return -1;
    }
    return 0;
}

static size_t hash_of(int family, const char *labels)
{
    return (size_t)hash_str(labels, (uint64_t)family);
}

static void grow_table(struct metrics *m)
{
    size_t n = m->n_table * 2;
    struct series **t = calloc(n, sizeof *t);
    if (!t)
        return;
    for (size_t i = 0; i < m->n_table; i++) {
        struct series *s = m->table[i];
        while (s) {
            struct series *next = s->hnext;
            size_t b = hash_of(s->family, s->labels) & (n - 1);
            s->hnext = t[b];
            t[b] = s;
            s = next;
        }
    }
    free(m->table);
    m->table = t;
    m->n_table = n;
}

static struct series *find(struct metrics *m, int family, const char *const *labels)
{
    if (family < 0 || (size_t)family >= m->n_fam)
        return NULL;
    struct hbuf key;
    hbuf_init(&key, 4096);
    if (render_labels(labels, &key)) {
        hbuf_free(&key);
        return NULL;
    }
    const char *k = key.data ? key.data : "";
    size_t b = hash_of(family, k) & (m->n_table - 1);
    for (struct series *s = m->table[b]; s; s = s->hnext)
        if (s->family == family && strcmp(s->labels, k) == 0) {
            hbuf_free(&key);
            return s;
        }
    struct family *f = &m->fam[family];
    if (m->n_series >= m->max_series) {
        m->dropped++;
        hbuf_free(&key);
        return NULL;
    }
    struct series *s = calloc(1, sizeof *s);
    if (s)
        s->labels = strdup(k);
    if (s && f->type == METRIC_HISTOGRAM)
        s->counts = calloc(f->n_buckets + 1, sizeof *s->counts);
    hbuf_free(&key);
    if (f->n_series == f->cap_series) {
        size_t cap = f->cap_series ? f->cap_series * 2 : 8;
        struct series **p = realloc(f->series, cap * sizeof *p);
        if (p) {
            f->series = p;
            f->cap_series = cap;
        }
    }
    if (!s || !s->labels || (f->type == METRIC_HISTOGRAM && !s->counts) ||
        f->n_series == f->cap_series) {
        if (s)
            series_free(s);
        return NULL;
    }
    s->family = family;
    f->series[f->n_series++] = s;
    s->hnext = m->table[b];
    m->table[b] = s;
    if (++m->n_series > m->n_table)
        grow_table(m);
    return s;
}

void metrics_add(struct metrics *m, int family, const char *const *labels, double v)
{
    struct series *s = find(m, family, labels);
    if (s)
        s->value += v;
}

void metrics_set(struct metrics *m, int family, const char *const *labels, double v)
{
    struct series *s = find(m, family, labels);
    if (s)
        s->value = v;
}

void metrics_observe(struct metrics *m, int family, const char *const *labels, double v)
{
    struct series *s = find(m, family, labels);
    if (!s || !s->counts)
        return;
    const struct family *f = &m->fam[family];
    size_t i = 0;
    while (i < f->n_buckets && v > f->buckets[i])
        i++;
    s->counts[i]++;
    s->sum += v;
    s->count++;
}

void metrics_reset(struct metrics *m, int family)
{
    if (family < 0 || (size_t)family >= m->n_fam)
        return;
    struct family *f = &m->fam[family];
    for (size_t j = 0; j < f->n_series; j++) {
        struct series *s = f->series[j];
        size_t b = hash_of(s->family, s->labels) & (m->n_table - 1);
        struct series **pp = &m->table[b];
        while (*pp && *pp != s)
            pp = &(*pp)->hnext;
        if (*pp)
            *pp = s->hnext;
        series_free(s);
        m->n_series--;
    }
    f->n_series = 0;
}

uint64_t metrics_dropped(const struct metrics *m)
{
    return m->dropped;
}

static void put_number(struct hbuf *out, double v)
{
    char num[64];
    if (isinf(v))
        snprintf(num, sizeof num, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        snprintf(num, sizeof num, "NaN");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(num, sizeof num, "%.0f", v);
    else
        snprintf(num, sizeof num, "%.17g", v);
    hbuf_append_str(out, num);
}

static void put_sample(struct hbuf *out, const char *name, const char *suffix, const char *labels,
                       const char *extra, double v)
{
    hbuf_append_str(out, name);
    hbuf_append_str(out, suffix);
    bool any = labels[0] || extra;
    if (any) {
        hbuf_append(out, "{", 1);
        hbuf_append_str(out, labels);
        if (extra) {
            if (labels[0])
                hbuf_append(out, ",", 1);
            hbuf_append_str(out, extra);
        }
        hbuf_append(out, "}", 1);
    }
    hbuf_append(out, " ", 1);
    put_number(out, v);
    hbuf_append(out, "\n", 1);
}

static int by_labels(const void *a, const void *b)
{
    return strcmp((*(struct series *const *)a)->labels, (*(struct series *const *)b)->labels);
}

char *metrics_render(const struct metrics *m, size_t *len)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    struct hbuf out;
    hbuf_init(&out, RENDER_MAX);
    for (size_t i = 0; i < m->n_fam; i++) {
        const struct family *f = &m->fam[i];
        hbuf_printf(&out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                    types[f->type]);
        struct series **sorted = malloc((f->n_series ? f->n_series : 1) * sizeof *sorted);
        if (!sorted)
            break;
        if (f->n_series) {
            memcpy(sorted, f->series, f->n_series * sizeof *sorted);
            qsort(sorted, f->n_series, sizeof *sorted, by_labels);
        }
        for (size_t j = 0; j < f->n_series; j++) {
            const struct series *s = sorted[j];
            if (f->type != METRIC_HISTOGRAM) {
                put_sample(&out, f->name, "", s->labels, NULL, s->value);
                continue;
            }
            uint64_t cum = 0;
            for (size_t k = 0; k <= f->n_buckets; k++) {
                cum += s->counts[k];
                char le[48];
                if (k < f->n_buckets)
                    snprintf(le, sizeof le, "le=\"%g\"", f->buckets[k]);
                else
                    snprintf(le, sizeof le, "le=\"+Inf\"");
                put_sample(&out, f->name, "_bucket", s->labels, le, (double)cum);
            }
            put_sample(&out, f->name, "_sum", s->labels, NULL, s->sum);
            put_sample(&out, f->name, "_count", s->labels, NULL, (double)s->count);
        }
        free(sorted);
    }
    return hbuf_take(&out, len);
}
