/* capacity: learns when this machine is usually free, and how much of it the fleet may use.
 *
 * The week has 168 hourly slots (Monday 00:00 local time is slot 0). Each heartbeat adds the
 * owner's CPU and memory use to the current slot as decayed sums (half-life 15 days), so the
 * state is small and old habits fade. A decision combines the slot's history (weighted by how
 * much of it exists), the current load and its two-minute trend into an availability score
 * 0..1, which maps to a mode and a memory ceiling the coordinator respects. A new machine is
 * usable at once: with no history the score comes from the current load alone.
 *
 * Pure: every function takes the time as an argument, so tests drive a fake clock. */
#ifndef HERD_CAPACITY_H
#define HERD_CAPACITY_H

#include <jansson.h>
#include <stdbool.h>

#define CAP_SLOTS 168
#define CAP_RECENT_MAX 64 /* samples kept for the trend and the high-CPU pause */

struct cap_slot {
    double cpu_sum, mem_sum; /* decayed sums of percent x hours */
    double hours;            /* decayed hours observed */
    double updated;          /* wall time the sums were last decayed to */
};

struct cap_sample {
    double t, cpu;
};

struct capacity {
    struct cap_slot slots[CAP_SLOTS];
    double first_observation; /* wall time, 0 before any */
    double last_observation;
    double last_mem_pct;   /* memory use at the last observation */
    double high_cpu_since; /* start of the current run of CPU above 85 %, 0 if none */
    struct cap_sample recent[CAP_RECENT_MAX];
    int n_recent, recent_head;
    unsigned observations; /* since start-up, to pace saving */
};

enum cap_override_mode { CAP_OVERRIDE_NONE, CAP_OVERRIDE_FULL, CAP_OVERRIDE_PAUSED };

struct cap_override {
    enum cap_override_mode mode;
    double until; /* wall time it ends; 0 = until cleared */
};

struct cap_decision {
    const char *mode;   /* full, learned_high, learned_medium, learned_low, paused */
    const char *reason; /* why, for the dashboard and logs */
    double ceiling_gb;  /* memory the fleet may use on this machine */
    double score;       /* availability 0..1 */
    bool override_active;
    double learning_confidence; /* 0..1: how much history there is */
    double days_observed;
};

/* The slot of a wall time, in the local time zone: weekday (Monday 0) x 24 + hour. */
int capacity_slot_index(double epoch);

/* Empties the model. */
void capacity_init(struct capacity *c);

/* Adds one observation: the owner's CPU use (percent, Ollama's own work excluded) and memory
 * use (percent of total) at wall time now. */
void capacity_observe(struct capacity *c, double now, double cpu_pct, double mem_pct);

/* The decision for now, for a machine with mem_total_gb of memory. o may be NULL; an expired
 * override counts as none. Order: a manual override, then a sustained-high-CPU pause (above
 * 85 % for two minutes), then the learned score. */
struct cap_decision capacity_decide(const struct capacity *c, double now, double mem_total_gb,
                                    const struct cap_override *o);

/* Sets d's mode, ceiling and reason from d->score (reference §6): below 0.2 paused (no
 * memory), below 0.4 learned_low (1/8 of memory, at most 16 GB), below 0.6 learned_medium
 * (1/4, at most 32 GB), below 0.8 learned_high (1/2, at most 64 GB), else full (80 %).
 * hist_cpu (the slot's mean CPU) tells a busy slot from a busy moment in the reason. */
void capacity_map_score(struct cap_decision *d, double total_gb, double hist_cpu);

/* The slot's decayed history as of now: mean CPU percent and hours observed. */
void capacity_slot_history(const struct capacity *c, int slot, double now, double *mean_cpu,
                           double *hours);

/* The decision as the heartbeat's "capacity" block; a new reference. */
json_t *capacity_decision_json(const struct cap_decision *d);

/* The learned state as JSON for the state file; a new reference. */
json_t *capacity_to_json(const struct capacity *c);

/* Restores state from capacity_to_json's output. 0, or -EINVAL (c is then empty). */
int capacity_from_json(struct capacity *c, const json_t *o);

/* An override as JSON, and back ("full" / "paused" / "auto"). */
json_t *cap_override_to_json(const struct cap_override *o);
int cap_override_from_json(struct cap_override *o, const json_t *v);
/* "full", "paused", "auto" to a mode; -EINVAL for anything else. */
int cap_override_parse(const char *s, enum cap_override_mode *out);

#endif
