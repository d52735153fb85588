#include "common/sse.h"

#include <errno.h>
#include <string.h>

#define SSE_FIELD_MAX 256 /* event type and id are short by nature */

void sse_framer_init(struct sse_framer *f, size_t max_event)
{
    hbuf_init(&f->line, max_event + 16); /* room for the "data: " prefix */
    hbuf_init(&f->data, max_event);
    hbuf_init(&f->type, SSE_FIELD_MAX);
    hbuf_init(&f->id, SSE_FIELD_MAX);
    f->max_event = max_event;
    f->after_cr = false;
    f->started = false;
    f->failed = false;
}

void sse_framer_free(struct sse_framer *f)
{
    if (!f)
        return;
    hbuf_free(&f->line);
    hbuf_free(&f->data);
    hbuf_free(&f->type);
    hbuf_free(&f->id);
}

static int dispatch(struct sse_framer *f, sse_event_cb cb, void *arg)
{
    int rc = 0;
    if (f->data.len > 0) {
        /* The last data line's LF is not part of the data. */
        f->data.len--;
        f->data.data[f->data.len] = '\0';
        struct sse_event ev = {
            .type = f->type.len ? f->type.data : "message",
            .data = f->data.data,
            .data_len = f->data.len,
            .id = f->id.len ? f->id.data : "",
        };
        rc = cb(&ev, arg);
    }
    hbuf_reset(&f->data);
    hbuf_reset(&f->type);
    return rc;
}

static int process_line(struct sse_framer *f, const char *line, size_t len, sse_event_cb cb,
                        void *arg)
{
    if (len == 0)
        return dispatch(f, cb, arg);
    if (line[0] == ':')
        return 0;
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = colon ? len - name_len - 1 : 0;
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }
    int rc = 0;
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        rc = hbuf_append(&f->data, value, value_len);
        if (!rc)
            rc = hbuf_append(&f->data, "\n", 1);
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        hbuf_reset(&f->type);
        rc = hbuf_append(&f->type, value, value_len);
    } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
        if (!memchr(value, '\0', value_len)) {
            hbuf_reset(&f->id);
            rc = hbuf_append(&f->id, value, value_len);
        }
    }
    /* "retry" and unknown fields are ignored. */
    if (rc == -EMSGSIZE)
        f->failed = true;
    return rc;
}

int sse_framer_feed(struct sse_framer *f, const char *p, size_t len, sse_event_cb cb, void *arg)
{
    if (f->failed)
        return -EMSGSIZE;
    if (!f->started) {
        /* The byte-order mark may itself arrive split; hold bytes until it can be decided. */
        static const char bom[] = "\xEF\xBB\xBF";
        size_t have = f->line.len;
        while (len && have < 3) {
            if ((unsigned char)p[0] != (unsigned char)bom[have])
                break;
            hbuf_append(&f->line, p, 1);
            p++;
            len--;
            have++;
        }
        if (have == 3) {
            hbuf_reset(&f->line);
            f->started = true;
        } else if (len) {
            f->started = true; /* not a mark: the held bytes are ordinary line bytes */
        } else {
            return 0;
        }
    }
    while (len) {
        if (f->after_cr) {
            f->after_cr = false;
            if (p[0] == '\n') {
                p++;
                len--;
                continue;
            }
        }
        const char *end = p;
        const char *stop = p + len;
        while (end < stop && *end != '\n' && *end != '\r')
            end++;
        size_t piece = (size_t)(end - p);
        if (end == stop) {
            int rc = hbuf_append(&f->line, p, piece);
            if (rc == -EMSGSIZE)
                f->failed = true;
            return rc;
        }
        int rc;
        if (f->line.len == 0) {
            if (piece > f->line.max) {
                f->failed = true;
                return -EMSGSIZE;
            }
            rc = process_line(f, p, piece, cb, arg);
        } else {
            rc = hbuf_append(&f->line, p, piece);
            if (rc == -EMSGSIZE)
                f->failed = true;
            if (!rc)
                rc = process_line(f, f->line.data, f->line.len, cb, arg);
            hbuf_reset(&f->line);
        }
        f->after_cr = *end == '\r';
        p = end + 1;
        len -= piece + 1;
        if (rc)
            return rc;
    }
    return 0;
}

bool sse_framer_mid_event(const struct sse_framer *f)
{
    return f->line.len > 0 || f->data.len > 0;
}
