/* Feeds the SSE framer arbitrary bytes, whole and in pieces: both must give the same events
 * (or the same refusal), every event within the bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sse.h"

#define MAX_EVENT 128

struct out {
    char buf[1 << 16];
    size_t len;
};

static int collect(const struct sse_event *ev, void *arg)
{
    struct out *o = arg;
    if (ev->data_len > MAX_EVENT || ev->data[ev->data_len] != 0)
        abort();
    size_t t = strlen(ev->type), id = strlen(ev->id);
    if (o->len + t + id + ev->data_len + 3 <= sizeof o->buf) {
        memcpy(o->buf + o->len, ev->type, t);
        o->len += t;
        o->buf[o->len++] = 0;
        memcpy(o->buf + o->len, ev->id, id);
        o->len += id;
        o->buf[o->len++] = 0;
        memcpy(o->buf + o->len, ev->data, ev->data_len);
        o->len += ev->data_len;
        o->buf[o->len++] = 0;
    }
    return 0;
}

static int run(const uint8_t *d, size_t n, size_t step, struct out *o, int *mid)
{
    struct sse_framer f;
    sse_framer_init(&f, MAX_EVENT);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += step) {
        size_t k = n - i < step ? n - i : step;
        rc = sse_framer_feed(&f, (const char *)d + i, k, collect, o);
    }
    *mid = sse_framer_mid_event(&f);
    sse_framer_free(&f);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] % 13 + 1;
    data++;
    size--;
    static struct out whole, pieces;
    whole.len = pieces.len = 0;
    int mid1, mid2;
    int rc1 = run(data, size, size ? size : 1, &whole, &mid1);
    int rc2 = run(data, size, step, &pieces, &mid2);
    if (rc1 != rc2)
        abort();
    if (rc1 == 0 && (whole.len != pieces.len || memcmp(whole.buf, pieces.buf, whole.len) != 0))
        abort();
    if (rc1 == 0 && mid1 != mid2)
        abort();
    return 0;
}
