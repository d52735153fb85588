#include "sim/sim_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/log.h"
#include "common/timeutil.h"

#define MIN_TICK_REAL_S 0.002 /* tokens due within this are sent together */

enum job_state {
    JOB_QUEUED,    /* in the pending (load) queue */
    JOB_LOADING,   /* attached to a runner that is still loading */
    JOB_SLOT_WAIT, /* waiting for a parallel slot */
    JOB_PREFILL,   /* processing the prompt */
    JOB_GENERATING,
    JOB_PAUSED,
    JOB_STALLED,
    JOB_FINISHING, /* reporting its outcome from the loop */
};

struct sim_job {
    struct sim_engine *e;
    TAILQ_ENTRY(sim_job) all;   /* every job */
    TAILQ_ENTRY(sim_job) queue; /* pending queue or slot waiters */
    bool in_queue;
    bool in_waiters;
    bool generating; /* counted in its runner's generating streams */
    enum job_state state;
    struct sim_job_params p;
    struct sim_job_callbacks cb;
    void *arg;
    struct sim_runner *runner;
    int slot;
    int64_t ctx;
    double credit;
    double last_tick;
    struct event *timer;
    struct sim_job_timing t;
    int error_status;
    char error_msg[160];
};

TAILQ_HEAD(job_list, sim_job);

struct sim_engine {
    struct event_base *base;
    struct sim_machine *m;
    double time_scale;
    double slowdown;
    double t0_real;
    struct job_list jobs;
    struct job_list pending;
    struct job_list waiters;
    int n_pending;
    int n_jobs;
    bool loader_busy;      /* a load is in progress: loads are serialised */
    double loader_free_at; /* model time the last load finishes */
    struct event *loader_timer;
    struct event *kick; /* runs the loader from the loop */
    struct sim_engine_stats stats;
};

static void job_step(evutil_socket_t fd, short what, void *arg);
static void loader_run(struct sim_engine *e);

double sim_engine_time_scale(const struct sim_engine *e)
{
    return e->time_scale;
}

double sim_engine_now(const struct sim_engine *e)
{
    return (time_mono() - e->t0_real) / e->time_scale;
}

/* Arms the job's timer for a delay in model seconds. */
static void job_after(struct sim_job *j, double model_s)
{
    struct timeval tv = time_tv(model_s * j->e->time_scale);
    evtimer_add(j->timer, &tv);
}

static void kick_loader(struct sim_engine *e)
{
    event_active(e->kick, EV_TIMEOUT, 1);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    loader_run(arg);
}

static void on_loader_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sim_engine *e = arg;
    e->loader_busy = false;
    loader_run(e);
}

struct sim_engine *sim_engine_new(struct event_base *base, struct sim_machine *m, double time_scale)
{
    struct sim_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->base = base;
    e->m = m;
    e->time_scale = time_scale > 0 ? time_scale : 1;
    e->slowdown = 1;
    e->t0_real = time_mono();
    TAILQ_INIT(&e->jobs);
    TAILQ_INIT(&e->pending);
    TAILQ_INIT(&e->waiters);
    e->loader_timer = evtimer_new(base, on_loader_timer, e);
    e->kick = evtimer_new(base, on_kick, e);
    if (!e->loader_timer || !e->kick) {
        sim_engine_free(e);
        return NULL;
    }
    return e;
}

static void job_free(struct sim_job *j)
{
    struct sim_engine *e = j->e;
    if (j->in_queue) {
        TAILQ_REMOVE(&e->pending, j, queue);
        e->n_pending--;
    }
    if (j->in_waiters)
        TAILQ_REMOVE(&e->waiters, j, queue);
    TAILQ_REMOVE(&e->jobs, j, all);
    e->n_jobs--;
    if (j->timer)
        event_free(j->timer);
    sim_tokens_free(&j->p.prompt);
    sim_tokens_free(&j->p.output);
    free(j);
}

void sim_engine_free(struct sim_engine *e)
{
    if (!e)
        return;
    while (!TAILQ_EMPTY(&e->jobs))
        job_free(TAILQ_FIRST(&e->jobs));
    if (e->loader_timer)
        event_free(e->loader_timer);
    if (e->kick)
        event_free(e->kick);
    free(e);
}

void sim_engine_set_slowdown(struct sim_engine *e, double factor)
{
    e->slowdown = factor > 0 ? factor : 1;
}

int sim_engine_pending(const struct sim_engine *e)
{
    return e->n_pending;
}

int sim_engine_jobs(const struct sim_engine *e)
{
    return e->n_jobs;
}

int sim_engine_paused(const struct sim_engine *e)
{
    int n = 0;
    const struct sim_job *j;
    TAILQ_FOREACH (j, &e->jobs, all)
        n += j->state == JOB_PAUSED;
    return n;
}

struct sim_engine_stats sim_engine_stats(const struct sim_engine *e)
{
    return e->stats;
}

const struct sim_job_timing *sim_job_timing(const struct sim_job *j)
{
    return &j->t;
}

int64_t sim_job_num_ctx(const struct sim_job *j)
{
    return j->ctx;
}

/* Gives the job's slot and runner back; wakes whoever waits for them. */
static void job_release(struct sim_job *j, bool completed)
{
    struct sim_engine *e = j->e;
    struct sim_runner *r = j->runner;
    if (!r)
        return;
    double now = sim_engine_now(e);
    if (j->slot >= 0) {
        struct sim_slot *s = &r->slots[j->slot];
        /* The slot now caches this prompt, and the output if it was all produced. */
        sim_tokens_free(&s->cache);
        s->cache = j->p.prompt;
        sim_tokens_init(&j->p.prompt);
        if (completed && j->p.output.n) {
            size_t need = s->cache.n + j->p.output.n;
            uint32_t *ids = realloc(s->cache.ids, need * sizeof *ids);
            if (ids) {
                memcpy(ids + s->cache.n, j->p.output.ids, j->p.output.n * sizeof *ids);
                s->cache.ids = ids;
                s->cache.n = need;
                s->cache.cap = need;
            }
        }
        s->busy = false;
        j->slot = -1;
    }
    if (j->generating) {
        r->generating--;
        j->generating = false;
    }
    sim_runner_release(r, now);
    j->runner = NULL;
    /* A freed slot goes to the first request waiting for this runner. */
    struct sim_job *w;
    TAILQ_FOREACH (w, &e->waiters, queue) {
        if (w->runner == r) {
            event_active(w->timer, EV_TIMEOUT, 1);
            break;
        }
    }
    kick_loader(e);
}

static void finish(struct sim_job *j)
{
    j->state = JOB_FINISHING;
    event_active(j->timer, EV_TIMEOUT, 1);
}

static void fail(struct sim_job *j, int status, const char *msg)
{
    j->error_status = status;
    snprintf(j->error_msg, sizeof j->error_msg, "%s", msg);
    finish(j);
}

static void attach(struct sim_job *j, struct sim_runner *r)
{
    struct sim_engine *e = j->e;
    j->runner = r;
    r->in_flight++;
    if (j->p.has_keep_alive)
        r->keep_alive_s = j->p.keep_alive_s;
    double now = sim_engine_now(e);
    if (now < r->ready_at) {
        j->state = JOB_LOADING;
        j->t.loaded_model = true;
        job_after(j, r->ready_at - now);
    } else {
        j->state = JOB_LOADING;
        event_active(j->timer, EV_TIMEOUT, 1);
    }
}

/* Serves the pending queue in order; one load at a time. */
static void loader_run(struct sim_engine *e)
{
    struct sim_machine *m = e->m;
    while (!e->loader_busy && !TAILQ_EMPTY(&e->pending)) {
        struct sim_job *j = TAILQ_FIRST(&e->pending);
        double now = sim_engine_now(e);
        sim_expire(m, now);
        struct sim_runner *r = sim_runner_for(m, j->p.model.name, j->ctx);
        if (!r) {
            int parallel = sim_runner_parallel(m, &j->p.model);
            double need = sim_runner_size_gb(&j->p.model, j->ctx, parallel);
            if (need > m->spec.memory_gb) {
                TAILQ_REMOVE(&e->pending, j, queue);
                j->in_queue = false;
                e->n_pending--;
                char msg[160];
                snprintf(msg, sizeof msg,
                         "model requires more system memory (%.1f GiB) than is available "
                         "(%.1f GiB)",
                         need * 1e9 / 1073741824.0, m->spec.memory_gb * 1e9 / 1073741824.0);
                fail(j, 500, msg);
                continue;
            }
            /* A runner of this model with another context must go first (the reload). */
            struct sim_runner *old = sim_runner_any(m, j->p.model.name);
            if (old && !old->draining) {
                old->draining = true;
                e->stats.reloads++;
            }
            sim_expire(m, now);
            while (!sim_has_room(m, need)) {
                int v = sim_pick_victim(m);
                if (v < 0)
                    break;
                struct sim_runner *victim = m->runners[v];
                if (victim->in_flight == 0 && now >= victim->ready_at) {
                    sim_runner_remove(m, (size_t)v);
                    e->stats.evictions++;
                    continue;
                }
                /* Wait for the victim's requests to end (release kicks the loader). */
                victim->draining = true;
                return;
            }
            for (size_t i = 0; i < m->n_runners; i++)
                if (m->runners[i]->draining && strcmp(m->runners[i]->model, j->p.model.name) == 0)
                    return; /* the old context is still in use */
            double ka = j->p.has_keep_alive ? j->p.keep_alive_s : m->spec.keep_alive_s;
            r = sim_runner_start(m, &j->p.model, j->ctx, ka, now);
            if (!r) {
                TAILQ_REMOVE(&e->pending, j, queue);
                j->in_queue = false;
                e->n_pending--;
                fail(j, 500, "out of memory starting the runner");
                continue;
            }
            /* Loads follow each other in model time even when the loop wakes up late; the
             * slow-down fault stretches them too. */
            double start = now > e->loader_free_at ? now : e->loader_free_at;
            r->ready_at = start + (r->ready_at - now) * e->slowdown;
            r->expires_at = r->keep_alive_s < 0 ? r->expires_at : r->ready_at + r->keep_alive_s;
            e->loader_free_at = r->ready_at;
            e->stats.loads++;
            e->loader_busy = true;
            struct timeval tv = time_tv((r->ready_at - now) * e->time_scale);
            evtimer_add(e->loader_timer, &tv);
        }
        TAILQ_REMOVE(&e->pending, j, queue);
        j->in_queue = false;
        e->n_pending--;
        attach(j, r);
    }
}

static void start_generating(struct sim_job *j, double now)
{
    j->state = JOB_GENERATING;
    j->runner->generating++;
    j->generating = true;
    j->credit = 1.0; /* the first token follows the prompt at once */
    j->last_tick = now;
    j->t.first_token = 0;
    event_active(j->timer, EV_TIMEOUT, 1);
}

static void emit_due(struct sim_job *j, double now)
{
    struct sim_engine *e = j->e;
    struct sim_runner *r = j->runner;
    double base = sim_gen_tps(e->m, &j->p.model);
    double rate = sim_stream_rate(e->m, base, r->generating > 0 ? r->generating : 1) / e->slowdown;
    j->credit += (now - j->last_tick) * rate;
    j->last_tick = now;
    int remaining = j->p.n_tokens - j->t.tokens;
    int n = (int)floor(j->credit);
    if (n > remaining)
        n = remaining;
    if (n > 0) {
        j->credit -= n;
        if (j->t.tokens == 0)
            j->t.first_token = now;
        int first = j->t.tokens;
        j->t.tokens += n;
        /* Timers fire late and in bursts; the reported durations follow the model instead. */
        j->t.eval_s += n / rate;
        enum sim_flow flow =
            j->cb.on_tokens ? j->cb.on_tokens(j, first, n, j->arg) : SIM_FLOW_GO_ON;
        if (flow == SIM_FLOW_STOP) {
            job_release(j, false);
            e->stats.cancelled++;
            job_free(j);
            return;
        }
        if (flow == SIM_FLOW_STALL) {
            j->state = JOB_STALLED;
            return;
        }
        if (flow == SIM_FLOW_PAUSE) {
            j->state = JOB_PAUSED;
            return;
        }
    }
    if (j->t.tokens >= j->p.n_tokens) {
        j->t.done = now;
        finish(j);
        return;
    }
    double wait = (1.0 - j->credit) / rate;
    double min_wait = MIN_TICK_REAL_S / e->time_scale;
    job_after(j, wait > min_wait ? wait : min_wait);
}

/* The job's timer: moves it to its next state. */
static void job_step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sim_job *j = arg;
    struct sim_engine *e = j->e;
    double now = sim_engine_now(e);
    switch (j->state) {
    case JOB_QUEUED:
        break;
    case JOB_LOADING:
        if (now < j->runner->ready_at) {
            job_after(j, j->runner->ready_at - now);
            break;
        }
        /* A job that waited for a load got its runner when the load ended (model time). */
        j->t.attached = j->t.loaded_model ? fmax(j->runner->ready_at, j->t.arrived) : now;
        if (j->p.kind == SIM_JOB_LOAD) {
            j->t.done = now;
            finish(j);
            break;
        }
        j->state = JOB_SLOT_WAIT;
        /* fall through */
    case JOB_SLOT_WAIT: {
        size_t matched = 0;
        int slot = sim_pick_slot(j->runner, &j->p.prompt, &matched);
        if (slot < 0) {
            if (!j->in_waiters) {
                TAILQ_INSERT_TAIL(&e->waiters, j, queue);
                j->in_waiters = true;
            }
            break;
        }
        if (j->in_waiters) {
            TAILQ_REMOVE(&e->waiters, j, queue);
            j->in_waiters = false;
        }
        j->slot = slot;
        j->runner->slots[slot].busy = true;
        j->t.slot = now;
        j->t.prompt_tokens = (int)j->p.prompt.n;
        j->t.cached_tokens = (int)matched;
        size_t fresh = j->p.prompt.n > matched ? j->p.prompt.n - matched : 0;
        if (fresh == 0 && j->p.prompt.n > 0)
            fresh = 1; /* even a fully cached prompt evaluates its last token */
        j->t.prompt_s = (double)fresh / sim_prompt_tps(e->m, &j->p.model) * e->slowdown;
        j->state = JOB_PREFILL;
        job_after(j, j->t.prompt_s);
        break;
    }
    case JOB_PREFILL:
        if (j->p.kind == SIM_JOB_EMBED || j->p.n_tokens <= 0) {
            j->t.done = now;
            finish(j);
            break;
        }
        start_generating(j, now);
        break;
    case JOB_GENERATING:
        emit_due(j, now);
        break;
    case JOB_PAUSED:
    case JOB_STALLED:
        break;
    case JOB_FINISHING: {
        bool ok = j->error_status == 0;
        job_release(j, ok);
        if (ok) {
            e->stats.completed++;
            if (j->cb.on_done)
                j->cb.on_done(j, j->arg);
        } else {
            if (j->error_status == 503)
                e->stats.rejected++;
            if (j->cb.on_error)
                j->cb.on_error(j, j->error_status, j->error_msg, j->arg);
        }
        job_free(j);
        break;
    }
    }
}

struct sim_job *sim_job_submit(struct sim_engine *e, struct sim_job_params *p,
                               const struct sim_job_callbacks *cb, void *arg)
{
    struct sim_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->timer = evtimer_new(e->base, job_step, j);
    if (!j->timer) {
        free(j);
        return NULL;
    }
    j->e = e;
    j->p = *p;
    sim_tokens_init(&p->prompt);
    sim_tokens_init(&p->output);
    j->cb = *cb;
    j->arg = arg;
    j->slot = -1;
    TAILQ_INSERT_TAIL(&e->jobs, j, all);
    e->n_jobs++;
    struct sim_machine *m = e->m;
    double now = sim_engine_now(e);
    j->t.arrived = now;
    j->ctx = sim_effective_num_ctx(m, &j->p.model, j->p.num_ctx);
    sim_expire(m, now);
    struct sim_runner *r = sim_runner_for(m, j->p.model.name, j->ctx);
    if (r) {
        attach(j, r); /* the fast path: no queue */
        return j;
    }
    int max_queue = m->spec.max_queue > 0 ? m->spec.max_queue : 512;
    if (e->n_pending >= max_queue) {
        fail(j, 503, "server busy, please try again.  maximum pending requests exceeded");
        return j;
    }
    j->state = JOB_QUEUED;
    TAILQ_INSERT_TAIL(&e->pending, j, queue);
    j->in_queue = true;
    e->n_pending++;
    kick_loader(e);
    return j;
}

void sim_job_cancel(struct sim_job *j)
{
    if (!j)
        return;
    j->e->stats.cancelled++;
    job_release(j, false);
    job_free(j);
}

void sim_job_resume(struct sim_job *j)
{
    if (j->state != JOB_PAUSED)
        return;
    j->state = JOB_GENERATING;
    j->last_tick = sim_engine_now(j->e); /* a paused stream earns no credit */
    event_active(j->timer, EV_TIMEOUT, 1);
}

void sim_engine_unload(struct sim_engine *e, const char *model)
{
    struct sim_machine *m = e->m;
    for (size_t i = 0; i < m->n_runners; i++)
        if (strcmp(m->runners[i]->model, model) == 0)
            m->runners[i]->keep_alive_s = 0;
    sim_expire(m, sim_engine_now(e));
}
