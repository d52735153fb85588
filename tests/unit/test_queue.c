#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "coord/queue.h"

static int admitted[16];
static int n_admitted;

struct req {
    struct fq_waiter w; /* first: the callback gets it back */
    int id;
};

static void on_admit(struct fq_waiter *w)
{
    admitted[n_admitted++] = ((struct req *)w)->id;
}

static void bound_holds_and_order_is_kept(void **state)
{
    (void)state;
    struct queue_set s;
    queue_set_init(&s, 3);
    struct fleet_queue *q = queue_get(&s, "a", "m:7b");
    assert_ptr_equal(queue_get(&s, "a", "m:7b"), q);
    queue_set_concurrency(q, 2);
    struct req r[6];
    memset(r, 0, sizeof r);
    n_admitted = 0;
    for (int i = 0; i < 6; i++) {
        r[i].id = i;
        r[i].w.admit = on_admit;
    }
    assert_int_equal(queue_enter(&s, q, &r[0].w), 1);
    assert_int_equal(queue_enter(&s, q, &r[1].w), 1);
    assert_int_equal(queue_enter(&s, q, &r[2].w), 0); /* N slots: the rest wait */
    assert_int_equal(queue_enter(&s, q, &r[3].w), 0);
    assert_int_equal(queue_enter(&s, q, &r[4].w), 0);
    assert_int_equal(queue_enter(&s, q, &r[5].w), -EBUSY); /* beyond max pending */
    assert_int_equal(queue_depth(&s, "a", "m:7b"), 5);
    assert_int_equal(q->in_flight, 2);
    assert_int_equal(q->pending, 3);

    queue_withdraw(q, &r[3].w); /* a waiting client leaves */
    assert_int_equal(q->pending, 2);
    queue_leave(q, &r[0].w, FQ_COMPLETED, 100, 10, 20);
    assert_int_equal(n_admitted, 1);
    assert_int_equal(admitted[0], 2); /* in arrival order */
    queue_leave(q, &r[1].w, FQ_FAILED, -1, -1, -1);
    assert_int_equal(admitted[1], 4);
    assert_int_equal(q->in_flight, 2);
    assert_int_equal(q->pending, 0);
    queue_leave(q, &r[2].w, FQ_DISCONNECTED, -1, -1, -1);
    queue_leave(q, &r[4].w, FQ_COMPLETED, 300, 5, 5);
    assert_int_equal(q->in_flight, 0);
    assert_int_equal(q->completed, 2);
    assert_int_equal(q->failed, 1);
    assert_int_equal(q->disconnected, 1);
    assert_true(q->latency_ms_sum == 400 && q->latency_n == 2);
    assert_int_equal(q->prompt_tokens_sum, 15);
    assert_int_equal(queue_depth(&s, "b", "m:7b"), 0);
    queue_set_free(&s);
}

static void more_slots_admit_waiters(void **state)
{
    (void)state;
    struct queue_set s;
    queue_set_init(&s, 10);
    struct fleet_queue *q = queue_get(&s, "a", "m");
    struct req r[3];
    memset(r, 0, sizeof r);
    n_admitted = 0;
    for (int i = 0; i < 3; i++) {
        r[i].id = i;
        r[i].w.admit = on_admit;
    }
    assert_int_equal(queue_enter(&s, q, &r[0].w), 1);
    assert_int_equal(queue_enter(&s, q, &r[1].w), 0);
    assert_int_equal(queue_enter(&s, q, &r[2].w), 0);
    queue_set_concurrency(q, 3);
    assert_int_equal(n_admitted, 2);
    assert_int_equal(q->in_flight, 3);
    /* Lowering the bound cuts nothing: running requests finish and only then fit it. */
    queue_set_concurrency(q, 1);
    queue_leave(q, &r[0].w, FQ_COMPLETED, -1, -1, -1);
    assert_int_equal(q->in_flight, 2);
    queue_set_free(&s);
}

/* The predicted work of what waits and what runs follows each request in and out. */
static void predicted_work_is_kept(void **state)
{
    (void)state;
    struct queue_set s;
    queue_set_init(&s, 10);
    struct fleet_queue *q = queue_get(&s, "a", "m");
    struct req r[3];
    memset(r, 0, sizeof r);
    n_admitted = 0;
    for (int i = 0; i < 3; i++) {
        r[i].id = i;
        r[i].w.admit = on_admit;
        r[i].w.work_s = 1.5 * (i + 1); /* 1.5, 3, 4.5 */
    }
    assert_int_equal(queue_enter(&s, q, &r[0].w), 1);
    assert_int_equal(queue_enter(&s, q, &r[1].w), 0);
    assert_int_equal(queue_enter(&s, q, &r[2].w), 0);
    assert_true(q->work_running_s == 1.5 && q->work_waiting_s == 7.5);
    queue_withdraw(q, &r[2].w);
    assert_true(q->work_waiting_s == 3);
    queue_leave(q, &r[0].w, FQ_COMPLETED, -1, -1, -1); /* r[1] runs now */
    assert_true(q->work_running_s == 3 && q->work_waiting_s == 0);
    queue_leave(q, &r[1].w, FQ_FAILED, -1, -1, -1);
    assert_true(q->work_running_s == 0 && q->work_waiting_s == 0);
    queue_set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bound_holds_and_order_is_kept),
        cmocka_unit_test(more_slots_admit_waiters),
        cmocka_unit_test(predicted_work_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
