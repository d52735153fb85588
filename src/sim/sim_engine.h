/* sim_engine: runs inference requests on one simulated machine in (scaled) real time.
 *
 * It follows Ollama's scheduler: a request for a loaded model with the same context joins its
 * runner at once; anything that needs a load or reload waits in a bounded pending queue
 * (503 when full) that one loader serves in order, evicting idle runners (and waiting for
 * busy ones) to make room; a request that has a runner waits for one of its parallel slots;
 * then it pays prompt time for the part of its prompt the slot has not cached, and produces
 * tokens at a speed that drops while other streams share the runner.
 *
 * Time: the engine works in model seconds; one model second lasts time_scale real seconds.
 * Every duration it reports is in model seconds. */
#ifndef HERD_SIM_ENGINE_H
#define HERD_SIM_ENGINE_H

#include <event2/event.h>
#include <stdbool.h>

#include "sim/sim_model.h"
#include "sim/sim_text.h"

struct sim_engine;
struct sim_job;

enum sim_job_kind {
    SIM_JOB_GENERATE, /* prompt, then n_tokens tokens */
    SIM_JOB_EMBED,    /* prompt only */
    SIM_JOB_LOAD,     /* make sure the model is loaded, nothing else */
};

/* What the HTTP layer wants after a batch of tokens. */
enum sim_flow {
    SIM_FLOW_GO_ON,
    SIM_FLOW_PAUSE, /* the client is slow: no more tokens until sim_job_resume */
    SIM_FLOW_STALL, /* pretend the runner hangs: no more tokens, slot kept, until cancel */
    SIM_FLOW_STOP,  /* the HTTP layer dropped the job: the engine releases and frees it */
};

struct sim_job_callbacks {
    /* Tokens [first, first + count) were produced. */
    enum sim_flow (*on_tokens)(struct sim_job *j, int first, int count, void *arg);
    /* The job finished (all tokens produced, or the embedding or load is done). The job is
     * freed when this returns. */
    void (*on_done)(struct sim_job *j, void *arg);
    /* The job failed before producing anything (503 queue full, 500 cannot load). The job is
     * freed when this returns. */
    void (*on_error)(struct sim_job *j, int status, const char *msg, void *arg);
};

struct sim_job_params {
    enum sim_job_kind kind;
    struct sim_model_spec model; /* copied */
    int64_t num_ctx;             /* requested; 0 = default */
    bool has_keep_alive;
    double keep_alive_s;
    struct sim_tokens prompt; /* taken over by the job */
    struct sim_tokens output; /* taken over: what the slot caches after the prompt */
    int n_tokens;             /* tokens to produce (GENERATE) */
};

/* Timings of a job, model seconds. */
struct sim_job_timing {
    double arrived;
    double attached; /* got a ready runner: arrived..attached is Ollama's load_duration */
    double slot;     /* got a slot */
    double prompt_s; /* prompt processing */
    double first_token;
    double done;
    double eval_s; /* modelled generation time of the tokens so far */
    int prompt_tokens;
    int cached_tokens; /* prompt tokens the slot already had */
    int tokens;        /* produced so far */
    bool loaded_model; /* this job waited for a load */
};

/* Creates an engine for machine m (borrowed; must outlive the engine). time_scale > 0. */
struct sim_engine *sim_engine_new(struct event_base *base, struct sim_machine *m,
                                  double time_scale);
/* Cancels every job without callbacks and frees the engine. Accepts NULL. */
void sim_engine_free(struct sim_engine *e);

/* Real seconds per model second. */
double sim_engine_time_scale(const struct sim_engine *e);
/* Model time now. */
double sim_engine_now(const struct sim_engine *e);
/* Slow-down factor (fault injection): every delay is multiplied by it; 1 = normal. */
void sim_engine_set_slowdown(struct sim_engine *e, double factor);
/* Requests waiting for a load, and all jobs in the engine. */
int sim_engine_pending(const struct sim_engine *e);
int sim_engine_jobs(const struct sim_engine *e);
/* Jobs paused because their client reads slowly. */
int sim_engine_paused(const struct sim_engine *e);
/* Counters since start: loads, evictions, completed jobs, 503s. */
struct sim_engine_stats {
    long loads, reloads, evictions, completed, rejected, cancelled;
};
struct sim_engine_stats sim_engine_stats(const struct sim_engine *e);

/* Submits a job; p's token sequences are taken over. Callbacks come from the loop, never
 * from inside this call. Returns the job, or NULL on allocation failure. */
struct sim_job *sim_job_submit(struct sim_engine *e, struct sim_job_params *p,
                               const struct sim_job_callbacks *cb, void *arg);
/* Withdraws a job (the client went away): frees its slot and its place, no callback. */
void sim_job_cancel(struct sim_job *j);
/* Resumes a paused job. */
void sim_job_resume(struct sim_job *j);
/* Timings so far. */
const struct sim_job_timing *sim_job_timing(const struct sim_job *j);
/* Context the job runs with. */
int64_t sim_job_num_ctx(const struct sim_job *j);

/* Unloads a model now if idle, or as soon as it is (keep_alive 0). */
void sim_engine_unload(struct sim_engine *e, const char *model);

#endif
