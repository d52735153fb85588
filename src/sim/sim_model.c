#include "sim/sim_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

void sim_machine_init(struct sim_machine *m, const struct sim_machine_spec *spec)
{
    memset(m, 0, sizeof *m);
    m->spec = *spec;
}

static void runner_free(struct sim_runner *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->parallel; i++)
        sim_tokens_free(&r->slots[i].cache);
    free(r->slots);
    free(r);
}

void sim_machine_free(struct sim_machine *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_runners; i++)
        runner_free(m->runners[i]);
    free(m->runners);
    free(m->models);
    m->runners = NULL;
    m->models = NULL;
    m->n_runners = 0;
    m->n_models = 0;
}

struct sim_model_spec *sim_machine_model(const struct sim_machine *m, const char *name)
{
    for (size_t i = 0; i < m->n_models; i++)
        if (strcmp(m->models[i].name, name) == 0)
            return &m->models[i];
    return NULL;
}

int sim_machine_add_model(struct sim_machine *m, const struct sim_model_spec *spec)
{
    struct sim_model_spec *have = sim_machine_model(m, spec->name);
    if (have) {
        *have = *spec;
        return 0;
    }
    struct sim_model_spec *p = realloc(m->models, (m->n_models + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    m->models = p;
    m->models[m->n_models++] = *spec;
    return 0;
}

int sim_machine_remove_model(struct sim_machine *m, const char *name)
{
    for (size_t i = 0; i < m->n_models; i++) {
        if (strcmp(m->models[i].name, name) == 0) {
            memmove(&m->models[i], &m->models[i + 1], (m->n_models - i - 1) * sizeof *m->models);
            m->n_models--;
            return 0;
        }
    }
    return -ENOENT;
}

int64_t sim_default_num_ctx(const struct sim_machine *m, const struct sim_model_spec *model)
{
    int64_t ctx = m->spec.context_length;
    if (ctx <= 0) {
        double vram_gib = (m->spec.vram_gb < 0 ? m->spec.memory_gb : m->spec.vram_gb) * 1e9 / GIB;
        ctx = vram_gib < 23 ? 4096 : vram_gib < 47 ? 32768 : 262144;
    }
    if (model && model->context_length > 0 && ctx > model->context_length)
        ctx = model->context_length;
    return ctx < 4 ? 4 : ctx;
}

int64_t sim_effective_num_ctx(const struct sim_machine *m, const struct sim_model_spec *model,
                              int64_t requested)
{
    if (requested <= 0)
        return sim_default_num_ctx(m, model);
    if (model->context_length > 0 && requested > model->context_length)
        requested = model->context_length;
    return requested < 4 ? 4 : requested;
}

int sim_runner_parallel(const struct sim_machine *m, const struct sim_model_spec *model)
{
    if (model->caps & MCAP_EMBEDDING)
        return 1;
    return m->spec.num_parallel > 0 ? m->spec.num_parallel : 1;
}

double sim_runner_size_gb(const struct sim_model_spec *model, int64_t num_ctx, int parallel)
{
    /* KV cache grows with context and slots: about 9 MB per 1k tokens per GB of weights
     * (qwen2.5 7B: 57 KB a token; llama3.3 70B: 320 KB a token, at f16). */
    double kv = model->size_gb * 0.009 * ((double)num_ctx / 1024.0) * parallel;
    return model->size_gb + kv;
}

static double speed(const struct sim_machine *m)
{
    return m->spec.speed > 0 ? m->spec.speed : 1.0;
}

double sim_load_seconds(const struct sim_machine *m, const struct sim_model_spec *model)
{
    double disk = m->spec.disk_gbps > 0 ? m->spec.disk_gbps : 2.0;
    return (m->spec.load_overhead_s + model->size_gb / disk) / speed(m);
}

double sim_gen_tps(const struct sim_machine *m, const struct sim_model_spec *model)
{
    if (model->gen_tps > 0)
        return model->gen_tps * speed(m);
    /* Decoding is bound by memory bandwidth: each token reads the weights once. */
    double bw = m->spec.bandwidth_gbps > 0 ? m->spec.bandwidth_gbps : 100.0;
    double size = model->size_gb > 0.05 ? model->size_gb : 0.05;
    return 0.7 * bw / size * speed(m);
}

double sim_prompt_tps(const struct sim_machine *m, const struct sim_model_spec *model)
{
    if (model->prompt_tps > 0)
        return model->prompt_tps * speed(m);
    /* Prefill is compute bound, and runs many tokens per weight read. */
    return sim_gen_tps(m, model) * 25.0;
}

double sim_stream_rate(const struct sim_machine *m, double base_tps, int k)
{
    if (k <= 1)
        return base_tps;
    double e = m->spec.parallel_efficiency;
    if (e < 0)
        e = 0;
    if (e > 1)
        e = 1;
    return base_tps * (1.0 + e * (k - 1)) / k;
}

struct sim_runner *sim_runner_for(const struct sim_machine *m, const char *model, int64_t ctx)
{
    for (size_t i = 0; i < m->n_runners; i++) {
        struct sim_runner *r = m->runners[i];
        if (!r->draining && r->num_ctx == ctx && strcmp(r->model, model) == 0)
            return r;
    }
    return NULL;
}

struct sim_runner *sim_runner_any(const struct sim_machine *m, const char *model)
{
    for (size_t i = 0; i < m->n_runners; i++) {
        struct sim_runner *r = m->runners[i];
        if (!r->draining && strcmp(r->model, model) == 0)
            return r;
    }
    return NULL;
}

double sim_memory_used(const struct sim_machine *m)
{
    double used = 0;
    for (size_t i = 0; i < m->n_runners; i++)
        used += m->runners[i]->size_gb;
    return used;
}

bool sim_has_room(const struct sim_machine *m, double size_gb)
{
    int max = m->spec.max_loaded > 0 ? m->spec.max_loaded : 3;
    if ((int)m->n_runners >= max)
        return false;
    return sim_memory_used(m) + size_gb <= m->spec.memory_gb + 1e-9;
}

int sim_pick_victim(const struct sim_machine *m)
{
    int best = -1;
    bool best_idle = false;
    for (size_t i = 0; i < m->n_runners; i++) {
        const struct sim_runner *r = m->runners[i];
        bool idle = r->in_flight == 0;
        double ka = r->keep_alive_s < 0 ? SIM_FOREVER_S : r->keep_alive_s;
        if (best < 0) {
            best = (int)i;
            best_idle = idle;
            continue;
        }
        const struct sim_runner *b = m->runners[best];
        double bka = b->keep_alive_s < 0 ? SIM_FOREVER_S : b->keep_alive_s;
        bool better;
        if (idle != best_idle)
            better = idle;
        else if (ka != bka)
            better = ka < bka;
        else
            better = strcmp(r->model, b->model) < 0;
        if (better) {
            best = (int)i;
            best_idle = idle;
        }
    }
    return best;
}

struct sim_runner *sim_runner_start(struct sim_machine *m, const struct sim_model_spec *model,
                                    int64_t num_ctx, double keep_alive_s, double now)
{
    struct sim_runner *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->parallel = sim_runner_parallel(m, model);
    r->slots = calloc((size_t)r->parallel, sizeof *r->slots);
    struct sim_runner **p = realloc(m->runners, (m->n_runners + 1) * sizeof *p);
    if (!r->slots || !p) {
        free(r->slots);
        free(r);
        if (p)
            m->runners = p;
        return NULL;
    }
    m->runners = p;
    for (int i = 0; i < r->parallel; i++)
        sim_tokens_init(&r->slots[i].cache);
    snprintf(r->model, sizeof r->model, "%s", model->name);
    r->model_size_gb = model->size_gb;
    r->num_ctx = num_ctx;
    r->size_gb = sim_runner_size_gb(model, num_ctx, r->parallel);
    r->ready_at = now + sim_load_seconds(m, model);
    r->keep_alive_s = keep_alive_s;
    r->expires_at = keep_alive_s < 0 ? now + SIM_FOREVER_S : r->ready_at + keep_alive_s;
    m->runners[m->n_runners++] = r;
    return r;
}

void sim_runner_remove(struct sim_machine *m, size_t i)
{
    if (i >= m->n_runners)
        return;
    runner_free(m->runners[i]);
    memmove(&m->runners[i], &m->runners[i + 1], (m->n_runners - i - 1) * sizeof *m->runners);
    m->n_runners--;
}

int sim_runner_index(const struct sim_machine *m, const struct sim_runner *r)
{
    for (size_t i = 0; i < m->n_runners; i++)
        if (m->runners[i] == r)
            return (int)i;
    return -1;
}

int sim_expire(struct sim_machine *m, double now)
{
    int n = 0;
    for (size_t i = 0; i < m->n_runners;) {
        struct sim_runner *r = m->runners[i];
        bool loading = now < r->ready_at;
        if (r->in_flight == 0 && !loading &&
            (r->draining || r->keep_alive_s == 0 || now >= r->expires_at)) {
            sim_runner_remove(m, i);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

void sim_runner_release(struct sim_runner *r, double now)
{
    if (r->in_flight > 0)
        r->in_flight--;
    if (r->in_flight == 0)
        r->expires_at = r->keep_alive_s < 0 ? now + SIM_FOREVER_S : now + r->keep_alive_s;
}

size_t sim_prefix_match(const struct sim_tokens *a, const struct sim_tokens *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    size_t i = 0;
    while (i < n && a->ids[i] == b->ids[i])
        i++;
    return i;
}

int sim_pick_slot(const struct sim_runner *r, const struct sim_tokens *prompt, size_t *matched)
{
    int best = -1;
    size_t best_match = 0;
    for (int i = 0; i < r->parallel; i++) {
        if (r->slots[i].busy)
            continue;
        size_t m = sim_prefix_match(&r->slots[i].cache, prompt);
        if (best < 0 || m > best_match) {
            best = i;
            best_match = m;
        }
    }
    if (matched)
        *matched = best < 0 ? 0 : best_match;
    return best;
}
