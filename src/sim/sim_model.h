/* sim_model: the performance model of one simulated machine, as pure functions of its state
 * and the time (model seconds). No I/O and no clock: sim_engine drives it from the loop, the
 * unit tests drive it directly.
 *
 * What it models, after Ollama's scheduler: models on disk; runners (loaded models) with their
 * context size, keep-alive expiry and parallel slots; the memory budget and the maximum number
 * of loaded models, with eviction of idle runners first; load time from size and disk speed;
 * the num_ctx reload rule; per-stream generation speed that drops as streams share a runner;
 * and a prefix cache per slot. */
#ifndef HERD_SIM_MODEL_H
#define HERD_SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/sim_catalog.h"
#include "sim/sim_text.h"

#define SIM_FOREVER_S 9.2e9 /* keep_alive < 0: about 292 years, as Ollama shows it */

struct sim_machine_spec {
    char name[64];
    double memory_gb;           /* budget for loaded models (VRAM, or unified memory) */
    double vram_gb;             /* GPU memory for size_vram; < 0: unified, all on GPU */
    double disk_gbps;           /* model load speed */
    double bandwidth_gbps;      /* memory bandwidth: sets the default generation speed */
    double speed;               /* multiplier on every speed (1 = as derived) */
    double pull_gbps;           /* download speed for /api/pull */
    double load_overhead_s;     /* fixed part of a load */
    double parallel_efficiency; /* 0..1: aggregate speed with k streams = 1 + e(k-1) */
    int num_parallel;           /* OLLAMA_NUM_PARALLEL */
    int max_loaded;             /* OLLAMA_MAX_LOADED_MODELS */
    int max_queue;              /* OLLAMA_MAX_QUEUE */
    double keep_alive_s;        /* OLLAMA_KEEP_ALIVE */
    int64_t context_length;     /* OLLAMA_CONTEXT_LENGTH; 0 = by VRAM tier */
    char version[32];           /* reported by /api/version */
    char description[128];      /* free text: "RTX 4090 (24 GB VRAM) in a 64 GB PC" */
};

struct sim_slot {
    bool busy;
    struct sim_tokens cache; /* what this slot last processed: prompt and output */
};

struct sim_runner {
    char model[SIM_NAME_MAX];
    double model_size_gb; /* weights */
    double size_gb;       /* weights + KV cache: what it occupies */
    int64_t num_ctx;      /* per-slot context it was started with */
    int parallel;
    double ready_at;     /* load finishes (model time) */
    double keep_alive_s; /* < 0 forever, 0 unload when idle */
    double expires_at;   /* meaningful when in_flight == 0 */
    int in_flight;       /* requests attached: waiting for a slot or running */
    int generating;      /* slots producing tokens right now */
    bool draining;       /* to be unloaded when idle (reload or eviction) */
    struct sim_slot *slots;
};

struct sim_machine {
    struct sim_machine_spec spec;
    struct sim_model_spec *models; /* on disk */
    size_t n_models;
    struct sim_runner **runners; /* loaded or loading */
    size_t n_runners;
};

/* Prepares a machine with no models. */
void sim_machine_init(struct sim_machine *m, const struct sim_machine_spec *spec);
/* Frees models and runners. Accepts NULL. */
void sim_machine_free(struct sim_machine *m);

/* Adds (or replaces) a model on disk. 0 or -ENOMEM. */
int sim_machine_add_model(struct sim_machine *m, const struct sim_model_spec *spec);
/* Removes a model from disk (a loaded runner stays until it expires). 0 or -ENOENT. */
int sim_machine_remove_model(struct sim_machine *m, const char *name);
/* The model on disk with this normalised name, or NULL. */
struct sim_model_spec *sim_machine_model(const struct sim_machine *m, const char *name);

/* Default context when a request sets none: context_length, else 4096 / 32768 / 262144 by
 * VRAM (under 23 GiB / under 47 GiB / more), capped at the model's trained context. */
int64_t sim_default_num_ctx(const struct sim_machine *m, const struct sim_model_spec *model);
/* Context a request runs with: its num_ctx (capped at the trained context, at least 4) or the
 * default. requested <= 0 means none. */
int64_t sim_effective_num_ctx(const struct sim_machine *m, const struct sim_model_spec *model,
                              int64_t requested);
/* Parallel slots of a runner of this model: 1 for embedding models. */
int sim_runner_parallel(const struct sim_machine *m, const struct sim_model_spec *model);
/* Memory a runner of this model occupies with this context and parallelism. */
double sim_runner_size_gb(const struct sim_model_spec *model, int64_t num_ctx, int parallel);
/* Seconds to load a model. */
double sim_load_seconds(const struct sim_machine *m, const struct sim_model_spec *model);
/* Base speeds of a model on this machine, tokens per second. */
double sim_gen_tps(const struct sim_machine *m, const struct sim_model_spec *model);
double sim_prompt_tps(const struct sim_machine *m, const struct sim_model_spec *model);
/* Speed of one stream when k streams share a runner. */
double sim_stream_rate(const struct sim_machine *m, double base_tps, int k);

/* The runner a request for model with this effective context may join: loaded or loading, not
 * draining, same context. NULL if none. */
struct sim_runner *sim_runner_for(const struct sim_machine *m, const char *model, int64_t ctx);
/* Any runner of the model that is not draining (for the reload decision). */
struct sim_runner *sim_runner_any(const struct sim_machine *m, const char *model);
/* Memory used by runners. */
double sim_memory_used(const struct sim_machine *m);
/* Whether a new runner of size_gb can be added now (memory and count). */
bool sim_has_room(const struct sim_machine *m, double size_gb);
/* The runner to evict to make room: idle ones first (shortest keep-alive, then name), else
 * the busy one with the shortest keep-alive. -1 when there is none. */
int sim_pick_victim(const struct sim_machine *m);

/* Loads a new runner (it is ready at now + load time). Returns it, or NULL on ENOMEM. */
struct sim_runner *sim_runner_start(struct sim_machine *m, const struct sim_model_spec *model,
                                    int64_t num_ctx, double keep_alive_s, double now);
/* Removes and frees runner i. */
void sim_runner_remove(struct sim_machine *m, size_t i);
/* Index of a runner, or -1. */
int sim_runner_index(const struct sim_machine *m, const struct sim_runner *r);
/* Removes runners that are idle and past their expiry, or idle and draining. Returns how
 * many. */
int sim_expire(struct sim_machine *m, double now);
/* A request left runner r: updates in-flight and expiry. */
void sim_runner_release(struct sim_runner *r, double now);

/* Common prefix length of two token sequences. */
size_t sim_prefix_match(const struct sim_tokens *a, const struct sim_tokens *b);
/* The free slot whose cache shares the longest prefix with prompt (lowest index on ties);
 * -1 when all are busy. *matched gets the shared length. */
int sim_pick_slot(const struct sim_runner *r, const struct sim_tokens *prompt, size_t *matched);

#endif
