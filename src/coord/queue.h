/* queue: one queue per node:model with a real concurrency bound.
 *
 * At most `concurrency` requests run on a node:model at once (the node's parallel slots);
 * the others wait here in arrival order, up to max_pending, and are admitted as slots free.
 * The depth the scorer sees (pending + in flight) is therefore the truth. */
#ifndef HERD_QUEUE_H
#define HERD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "coord/registry.h"

struct fq_waiter;
/* Called when a waiting request gets its slot (it now counts as in flight). */
typedef void (*fq_admit_cb)(struct fq_waiter *w);

struct fq_waiter {
    TAILQ_ENTRY(fq_waiter) link;
    fq_admit_cb admit;
    bool waiting;
    double work_s; /* its predicted service time (prefill and decode), set before it enters */
};

struct fleet_queue {
    char node_id[NODE_ID_MAX];
    char model[MODEL_NAME_MAX];
    int concurrency;
    int in_flight;
    int pending;
    double work_waiting_s; /* predicted service time of the requests waiting */
    double work_running_s; /* and of those running (whole, not what is left of it) */
    TAILQ_HEAD(, fq_waiter) waiters;
    long completed, failed, disconnected;
    double latency_ms_sum;
    long latency_n;
    int64_t prompt_tokens_sum, completion_tokens_sum;
};

struct queue_set {
    struct fleet_queue **q;
    size_t n;
    int max_pending;
};

void queue_set_init(struct queue_set *s, int max_pending);
void queue_set_free(struct queue_set *s);

/* The queue of node:model, created on first use (NULL only when out of memory). */
struct fleet_queue *queue_get(struct queue_set *s, const char *node_id, const char *model);
/* The queue of node:model if it exists. */
struct fleet_queue *queue_find(const struct queue_set *s, const char *node_id, const char *model);
/* pending + in flight of node:model (0 when it has no queue). */
int queue_depth(const struct queue_set *s, const char *node_id, const char *model);

/* Asks for a slot. Returns 1 when one is free (the request is now in flight), 0 when it
 * waits (w->admit will be called), -EBUSY when max_pending are already waiting. */
int queue_enter(struct queue_set *s, struct fleet_queue *q, struct fq_waiter *w);
/* A waiting request leaves without running (its client went away). */
void queue_withdraw(struct fleet_queue *q, struct fq_waiter *w);

enum fq_outcome { FQ_COMPLETED, FQ_FAILED, FQ_DISCONNECTED };
/* The running request w ends; the next waiter, if any, is admitted (its callback runs inside
 * this call). latency_ms < 0 and tokens < 0 are not counted. */
void queue_leave(struct fleet_queue *q, const struct fq_waiter *w, enum fq_outcome outcome,
                 double latency_ms, int64_t prompt_tokens, int64_t completion_tokens);
/* Changes the bound (a node reported other parallel slots); admits waiters if it grew. */
void queue_set_concurrency(struct fleet_queue *q, int concurrency);

#endif
