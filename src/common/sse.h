/* sse: splits a byte stream into server-sent events (the OpenAI streaming format).
 *
 * Follows the event-stream rules: lines end with CRLF, LF or CR (a CRLF may be split across
 * reads); a leading byte-order mark is dropped; "data" lines of one event are joined with LF;
 * "event" and "id" are kept; comments (lines starting with ':') and unknown fields are
 * ignored; a blank line dispatches the event unless it has no data. An event larger than the
 * framer's maximum is rejected and the framer stays failed. */
#ifndef HERD_SSE_H
#define HERD_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/hbuf.h"

struct sse_event {
    const char *type; /* "message" when the event named none; NUL-terminated */
    const char *data; /* joined data lines, NUL-terminated (a NUL byte inside is data) */
    size_t data_len;
    const char *id; /* last event id seen on the stream, "" when none; NUL-terminated */
};

/* Called for each complete event; ev and its strings are borrowed for the call only. Return 0
 * to go on, or any non-zero value to stop: that value is returned by sse_framer_feed. */
typedef int (*sse_event_cb)(const struct sse_event *ev, void *arg);

struct sse_framer {
    struct hbuf line; /* the line being read */
    struct hbuf data; /* data of the event being assembled */
    struct hbuf type; /* its event type */
    struct hbuf id;   /* last event id */
    size_t max_event; /* bound on one line and on one event's data */
    bool after_cr;    /* the previous byte was a CR: a following LF belongs to it */
    bool started;     /* past the optional byte-order mark */
    bool failed;
};

/* Prepares a framer for events of at most max_event bytes of data. */
void sse_framer_init(struct sse_framer *f, size_t max_event);

/* Releases the framer's buffers. Accepts NULL. */
void sse_framer_free(struct sse_framer *f);

/* Feeds bytes; calls cb for each event they complete. Returns 0, -EMSGSIZE (also on every
 * later call), -ENOMEM, or the callback's non-zero value. */
int sse_framer_feed(struct sse_framer *f, const char *p, size_t len, sse_event_cb cb, void *arg);

/* True when bytes of an event that has not been dispatched are held: at the end of a stream
 * this means the stream was cut inside an event (which the rules say to discard). */
bool sse_framer_mid_event(const struct sse_framer *f);

#endif
