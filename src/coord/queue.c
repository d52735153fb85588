#include "coord/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void queue_set_init(struct queue_set *s, int max_pending)
{
    memset(s, 0, sizeof *s);
    s->max_pending = max_pending > 0 ? max_pending : 1;
}

void queue_set_free(struct queue_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->q[i]);
    free(s->q);
    s->q = NULL;
    s->n = 0;
}

struct fleet_queue *queue_find(const struct queue_set *s, const char *node_id, const char *model)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->q[i]->node_id, node_id) == 0 && strcmp(s->q[i]->model, model) == 0)
            return s->q[i];
    return NULL;
}

struct fleet_queue *queue_get(struct queue_set *s, const char *node_id, const char *model)
{
    struct fleet_queue *q = queue_find(s, node_id, model);
    if (q)
        return q;
    q = calloc(1, sizeof *q);
    struct fleet_queue **arr = realloc(s->q, (s->n + 1) * sizeof *arr);
    if (!q || !arr) {
        free(q);
        if (arr)
            s->q = arr;
        return NULL;
    }
    s->q = arr;
    snprintf(q->node_id, sizeof q->node_id, "%s", node_id);
    snprintf(q->model, sizeof q->model, "%s", model);
    q->concurrency = 1;
    TAILQ_INIT(&q->waiters);
    s->q[s->n++] = q;
    return q;
}

int queue_depth(const struct queue_set *s, const char *node_id, const char *model)
{
    const struct fleet_queue *q = queue_find(s, node_id, model);
    return q ? q->pending + q->in_flight : 0;
}

int queue_enter(struct queue_set *s, struct fleet_queue *q, struct fq_waiter *w)
{
    if (q->in_flight < q->concurrency && q->pending == 0) {
        q->in_flight++;
        q->work_running_s += w->work_s;
        return 1;
    }
    if (q->pending >= s->max_pending)
        return -EBUSY;
    TAILQ_INSERT_TAIL(&q->waiters, w, link);
    w->waiting = true;
    q->pending++;
    q->work_waiting_s += w->work_s;
    return 0;
}

void queue_withdraw(struct fleet_queue *q, struct fq_waiter *w)
{
    if (!w->waiting)
        return;
    TAILQ_REMOVE(&q->waiters, w, link);
    w->waiting = false;
    q->pending--;
    q->work_waiting_s = q->pending ? q->work_waiting_s - w->work_s : 0;
}

static void admit_waiters(struct fleet_queue *q)
{
    while (q->in_flight < q->concurrency && !TAILQ_EMPTY(&q->waiters)) {
        struct fq_waiter *w = TAILQ_FIRST(&q->waiters);
        TAILQ_REMOVE(&q->waiters, w, link);
        w->waiting = false;
        q->pending--;
        q->in_flight++;
        q->work_waiting_s = q->pending ? q->work_waiting_s - w->work_s : 0;
        q->work_running_s += w->work_s;
        w->admit(w);
    }
}

void queue_leave(struct fleet_queue *q, const struct fq_waiter *w, enum fq_outcome outcome,
                 double latency_ms, int64_t prompt_tokens, int64_t completion_tokens)
{
    if (q->in_flight > 0)
        q->in_flight--;
    /* Sums of floating point drift: an empty set of requests is exactly zero work. */
    q->work_running_s = q->in_flight ? q->work_running_s - w->work_s : 0;
    switch (outcome) {
    case FQ_COMPLETED:
        q->completed++;
        if (latency_ms >= 0) {
            q->latency_ms_sum += latency_ms;
            q->latency_n++;
        }
        if (prompt_tokens > 0)
            q->prompt_tokens_sum += prompt_tokens;
        if (completion_tokens > 0)
            q->completion_tokens_sum += completion_tokens;
        break;
    case FQ_FAILED:
        q->failed++;
        break;
    case FQ_DISCONNECTED:
        q->disconnected++;
        break;
    }
    admit_waiters(q);
}

void queue_set_concurrency(struct fleet_queue *q, int concurrency)
{
    q->concurrency = concurrency > 0 ? concurrency : 1;
    admit_waiters(q);
}
