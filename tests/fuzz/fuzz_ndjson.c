/* Feeds the NDJSON framer arbitrary bytes in arbitrary pieces and checks it against a plain
 * reference: the same lines, in order, whatever the split, and the length bound respected. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ndjson.h"

#define MAX_LINE 64

struct out {
    char buf[1 << 16];
    size_t len;
};

static int collect(const char *line, size_t len, void *arg)
{
    struct out *o = arg;
    if (len == 0 || len > MAX_LINE || memchr(line, '\n', len))
        abort();
    if (o->len + len + 1 <= sizeof o->buf) {
        memcpy(o->buf + o->len, line, len);
        o->len += len;
        o->buf[o->len++] = '\n';
    }
    return 0;
}

/* The reference: split on LF, drop one CR before it, skip empty lines, fail on a long line. */
static int reference(const uint8_t *d, size_t n, struct out *o)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && d[i] != '\n')
            continue;
        size_t len = i - start;
        if (i == n) {
            /* the unterminated tail is only judged by finish() */
            if (len > MAX_LINE + 1 || (len == MAX_LINE + 1 && d[start + len - 1] != '\r'))
                return -1;
            if (len && d[start + len - 1] == '\r')
                len--;
        } else {
            if (len && d[start + len - 1] == '\r')
                len--;
            if (len > MAX_LINE)
                return -1;
        }
        if (len)
            collect((const char *)d + start, len, o);
        start = i + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned step = data[0] % 17 + 1;
    data++;
    size--;
    static struct out got, want;
    got.len = want.len = 0;
    struct ndjson_framer f;
    ndjson_framer_init(&f, MAX_LINE);
    int rc = 0;
    for (size_t i = 0; i < size && rc == 0; i += step) {
        size_t n = size - i < step ? size - i : step;
        rc = ndjson_framer_feed(&f, (const char *)data + i, n, collect, &got);
    }
    if (rc == 0)
        rc = ndjson_framer_finish(&f, collect, &got);
    ndjson_framer_free(&f);
    int ref = reference(data, size, &want);
    if ((rc != 0) != (ref != 0))
        abort();
    if (rc == 0 && (got.len != want.len || memcmp(got.buf, want.buf, got.len) != 0))
        abort();
    return 0;
}
