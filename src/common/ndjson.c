#include "common/ndjson.h"

#include <errno.h>
#include <string.h>

void ndjson_framer_init(struct ndjson_framer *f, size_t max_line)
{
    /* +1: the CR that may precede the LF is held until the LF shows whether it ends the line */
    hbuf_init(&f->partial, max_line + 1);
    f->max_line = max_line;
    f->failed = false;
}

void ndjson_framer_free(struct ndjson_framer *f)
{
    if (f)
        hbuf_free(&f->partial);
}

static int emit_line(const char *line, size_t len, ndjson_line_cb cb, void *arg)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    return cb(line, len, arg);
}

int ndjson_framer_feed(struct ndjson_framer *f, const char *data, size_t len, ndjson_line_cb cb,
                       void *arg)
{
    if (f->failed)
        return -EMSGSIZE;
    while (len) {
        const char *nl = memchr(data, '\n', len);
        if (!nl) {
            int rc = hbuf_append(&f->partial, data, len);
            /* One byte past the limit is only allowed if it is the CR of a CRLF. */
            if (rc == -EMSGSIZE ||
                (f->partial.len > f->max_line && f->partial.data[f->partial.len - 1] != '\r')) {
                f->failed = true;
                return -EMSGSIZE;
            }
            return rc;
        }
        size_t piece = (size_t)(nl - data);
        int rc;
        if (f->partial.len == 0) {
            /* The common case: the whole line is in this read, no copy. */
            size_t line_len = piece && data[piece - 1] == '\r' ? piece - 1 : piece;
            if (line_len > f->max_line) {
                f->failed = true;
                return -EMSGSIZE;
            }
            rc = emit_line(data, piece, cb, arg);
        } else {
            rc = hbuf_append(&f->partial, data, piece);
            if (rc == -EMSGSIZE ||
                (f->partial.len > f->max_line && f->partial.data[f->partial.len - 1] != '\r')) {
                f->failed = true;
                return -EMSGSIZE;
            }
            if (rc)
                return rc;
            rc = emit_line(f->partial.data, f->partial.len, cb, arg);
            hbuf_reset(&f->partial);
        }
        data = nl + 1;
        len -= piece + 1;
        if (rc)
            return rc;
    }
    return 0;
}

int ndjson_framer_finish(struct ndjson_framer *f, ndjson_line_cb cb, void *arg)
{
    if (f->failed)
        return -EMSGSIZE;
    if (f->partial.len == 0)
        return 0;
    if (f->partial.len > f->max_line && f->partial.data[f->partial.len - 1] != '\r') {
        f->failed = true;
        return -EMSGSIZE;
    }
    int rc = emit_line(f->partial.data, f->partial.len, cb, arg);
    hbuf_reset(&f->partial);
    return rc;
}

size_t ndjson_framer_pending(const struct ndjson_framer *f)
{
    return f->partial.len;
}
