/* sim_faults: faults injected into a simulated node, at start (--fault) or while it runs
 * (POST /_sim/fault), so tests can break a node on purpose. */
#ifndef HERD_SIM_FAULTS_H
#define HERD_SIM_FAULTS_H

#include <jansson.h>
#include <stdbool.h>

#define SIM_MAX_FAULTS 16

enum sim_fault_kind {
    SIM_FAULT_FAIL,       /* answer with an error status before anything is produced */
    SIM_FAULT_DROP,       /* close the connection after `after` chunks (0: before any byte) */
    SIM_FAULT_STALL,      /* stop sending after `after` chunks and hold the connection */
    SIM_FAULT_QUEUE_FULL, /* Ollama's 503 "server busy" */
    SIM_FAULT_SLOW,       /* every delay of the node multiplied by `factor` */
};

struct sim_fault {
    enum sim_fault_kind kind;
    int status;        /* FAIL: HTTP status (default 500) */
    char message[256]; /* FAIL: error text */
    int after;         /* DROP, STALL: chunks sent first */
    double factor;     /* SLOW */
    char model[160];   /* only requests for this model (normalised); "" = any */
    char path[64];     /* only this path; "" = any inference path */
    int count;         /* requests it applies to; -1 = until cleared */
};

struct sim_fault_set {
    struct sim_fault items[SIM_MAX_FAULTS];
    int n;
};

/* Parses "fail[:STATUS]", "drop:N", "stall:N", "queue-full", "slow:FACTOR", each optionally
 * followed by "@MODEL". Returns 0 or -EINVAL with a message. */
int sim_fault_parse_spec(const char *spec, struct sim_fault *out, char *err, size_t errlen);

/* Parses the JSON body of POST /_sim/fault. Returns 0 or -EINVAL with a message. */
int sim_fault_from_json(const json_t *o, struct sim_fault *out, char *err, size_t errlen);

/* The fault as JSON. New reference. */
json_t *sim_fault_to_json(const struct sim_fault *f);

/* Adds a fault. 0, or -ENOSPC when the set is full. */
int sim_faults_add(struct sim_fault_set *s, const struct sim_fault *f);

/* Finds the first per-request fault (not SLOW) that applies to a request for model on path,
 * uses up one of its count, and copies it to out. Returns true when one applies. */
bool sim_faults_take(struct sim_fault_set *s, const char *model, const char *path,
                     struct sim_fault *out);

/* The node-wide slow-down factor (1 when no SLOW fault is set). */
double sim_faults_slowdown(const struct sim_fault_set *s);

#endif
