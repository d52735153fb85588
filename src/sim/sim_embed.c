/* sim_embed: embedding requests (/api/embed, /api/embeddings, /v1/embeddings). */
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sim/sim_embed.h"
#include "sim/sim_call.h"

struct embed_call {
    struct sim_node *node;
    struct httpd_req *req;
    struct sim_job *job;
    struct sim_embed_request er;
    double entry;
};

static void embed_free(struct embed_call *c)
{
    json_decref(c->er.inputs);
    free(c);
}

static int dims_of(const struct embed_call *c)
{
    int dim = c->er.model.embedding_length > 0 ? c->er.model.embedding_length : 768;
    if (c->er.dimensions > 0 && c->er.dimensions < dim)
        dim = c->er.dimensions;
    return dim;
}

/* One vector: normalised for /api/embed and OpenAI, raw for the legacy endpoint. Vectors cut
 * to fewer dimensions are normalised again, as Ollama does. */
static void vector_for(const struct embed_call *c, const char *text, float *v, int dim)
{
    int full = c->er.model.embedding_length > 0 ? c->er.model.embedding_length : 768;
    float *tmp = malloc((size_t)full * sizeof *tmp);
    if (!tmp) {
        memset(v, 0, (size_t)dim * sizeof *v);
        return;
    }
    sim_embedding(text, strlen(text), tmp, full, c->er.api != SIM_EMBED_LEGACY);
    double sum = 0;
    for (int i = 0; i < dim; i++) {
        v[i] = tmp[i];
        sum += (double)v[i] * v[i];
    }
    if (c->er.api != SIM_EMBED_LEGACY && dim < full && sum > 0)
        for (int i = 0; i < dim; i++)
            v[i] = (float)(v[i] / sqrt(sum));
    if (c->er.api == SIM_EMBED_LEGACY)
        for (int i = 0; i < dim; i++)
            v[i] *= 4.0f; /* not normalised, like the legacy endpoint's raw values */
    free(tmp);
}

static json_t *float_array(const float *v, int dim)
{
    json_t *a = json_array();
    for (int i = 0; i < dim; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *base64_vector(const float *v, int dim)
{
    /* Little-endian float32, which is what x86 and ARM hold in memory. */
    size_t bytes = (size_t)dim * 4;
    unsigned char *out = malloc(4 * ((bytes + 2) / 3) + 1);
    if (!out)
        return json_string("");
    EVP_EncodeBlock(out, (const unsigned char *)v, (int)bytes);
    json_t *s = json_string((const char *)out);
    free(out);
    return s;
}

static void on_done(struct sim_job *j, void *arg)
{
    struct embed_call *c = arg;
    const struct sim_job_timing *t = sim_job_timing(j);
    int dim = dims_of(c);
    float *v = malloc((size_t)dim * sizeof *v);
    json_t *vectors = json_array();
    size_t i;
    const json_t *s;
    json_array_foreach (c->er.inputs, i, s) {
        vector_for(c, json_string_value(s), v, dim);
        if (c->er.api == SIM_EMBED_OPENAI)
            json_array_append_new(
                vectors, json_pack("{s:s, s:o, s:i}", "object", "embedding", "embedding",
                                   c->er.base64 ? base64_vector(v, dim) : float_array(v, dim),
                                   "index", (int)i));
        else
            json_array_append_new(vectors, float_array(v, dim));
    }
    free(v);
    double load = t->attached - t->arrived;
    if (load < 0.001)
        load = 0.001;
    json_t *o;
    switch (c->er.api) {
    case SIM_EMBED_NATIVE:
        o = json_pack("{s:s, s:o}", "model", c->er.model_echo, "embeddings", vectors);
        if (json_array_size(c->er.inputs)) {
            json_object_set_new(o, "total_duration",
                                json_integer((json_int_t)((t->done - c->entry + 0.001) * 1e9)));
            json_object_set_new(o, "load_duration", json_integer((json_int_t)(load * 1e9)));
            json_object_set_new(o, "prompt_eval_count", json_integer(t->prompt_tokens));
        }
        httpd_reply_json(c->req, 200, NULL, o, false);
        break;
    case SIM_EMBED_LEGACY: {
        json_t *first = json_array_get(vectors, 0);
        o = json_pack("{s:O}", "embedding", first ? first : json_array());
        json_decref(vectors);
        httpd_reply_json(c->req, 200, NULL, o, false);
        break;
    }
    case SIM_EMBED_OPENAI:
    default:
        o = json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", vectors, "model",
                      c->er.model_echo, "usage", "prompt_tokens", t->prompt_tokens, "total_tokens",
                      t->prompt_tokens);
        httpd_reply_json(c->req, 200, "application/json", o, true);
        break;
    }
    embed_free(c);
}

static void on_error(struct sim_job *j, int status, const char *msg, void *arg)
{
    (void)j;
    struct embed_call *c = arg;
    httpd_reply_error(c->req, status, msg);
    embed_free(c);
}

static void on_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    struct embed_call *c = arg;
    if (c->job)
        sim_job_cancel(c->job);
    embed_free(c);
}

static void on_stalled_gone(struct httpd_req *r, void *arg)
{
    (void)r;
    embed_free(arg);
}

void sim_embed_run(struct sim_node *n, struct httpd_req *r, struct sim_embed_request *er)
{
    struct embed_call *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(er->inputs);
        httpd_reply_error(r, 500, "out of memory");
        return;
    }
    c->node = n;
    c->req = r;
    c->er = *er;
    c->entry = sim_engine_now(n->engine);

    struct sim_job_params p;
    memset(&p, 0, sizeof p);
    p.model = er->model;
    p.num_ctx = er->num_ctx;
    p.has_keep_alive = er->has_keep_alive;
    p.keep_alive_s = er->keep_alive_s;
    p.kind = json_array_size(er->inputs) ? SIM_JOB_EMBED : SIM_JOB_LOAD;
    int64_t ctx = sim_effective_num_ctx(&n->machine, &er->model, er->num_ctx);
    size_t i;
    const json_t *s;
    json_array_foreach (er->inputs, i, s) {
        size_t before = p.prompt.n;
        sim_tokenize_append(&p.prompt, json_string_value(s), json_string_length(s));
        if (!er->truncate && (int64_t)(p.prompt.n - before) > ctx) {
            sim_tokens_free(&p.prompt);
            httpd_reply_error(r, 400, "the input length exceeds the context length");
            embed_free(c);
            return;
        }
    }

    struct sim_fault f;
    if (sim_faults_take(&n->faults, er->model.name, httpd_req_path(r), &f)) {
        if (f.kind == SIM_FAULT_FAIL || f.kind == SIM_FAULT_QUEUE_FULL) {
            sim_tokens_free(&p.prompt);
            httpd_reply_error(r, f.kind == SIM_FAULT_FAIL ? f.status : 503,
                              f.kind == SIM_FAULT_FAIL
                                  ? f.message
                                  : "server busy, please try again.  maximum pending requests "
                                    "exceeded");
            embed_free(c);
            return;
        }
        if (f.kind == SIM_FAULT_DROP) {
            sim_tokens_free(&p.prompt);
            httpd_abort(r);
            embed_free(c);
            return;
        }
        if (f.kind == SIM_FAULT_STALL) {
            sim_tokens_free(&p.prompt);
            httpd_req_on_close(r, on_stalled_gone, c);
            return;
        }
    }
    static const struct sim_job_callbacks callbacks = {NULL, on_done, on_error};
    httpd_req_on_close(r, on_gone, c);
    c->job = sim_job_submit(n->engine, &p, &callbacks, c);
    if (!c->job) {
        httpd_req_on_close(r, NULL, NULL);
        httpd_reply_error(r, 500, "out of memory");
        embed_free(c);
    }
}
