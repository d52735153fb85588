/* ndjson: splits a byte stream into lines (Ollama's native streaming format).
 *
 * Bytes arrive in pieces of any size; a line may be split across any number of pieces. Lines
 * end with LF; a CR before the LF is dropped; empty lines are skipped. A line longer than the
 * framer's maximum is rejected and the framer stays failed, because a stream that produced
 * one cannot be trusted to be re-synchronised. */
#ifndef HERD_NDJSON_H
#define HERD_NDJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "common/hbuf.h"

/* Called for each complete line, without its terminator. line is borrowed for the call only
 * and is NOT NUL-terminated. Return 0 to go on, or any non-zero value to stop feeding: that
 * value is returned by ndjson_framer_feed. */
typedef int (*ndjson_line_cb)(const char *line, size_t len, void *arg);

struct ndjson_framer {
    struct hbuf partial; /* bytes of a line whose end has not arrived yet */
    size_t max_line;
    bool failed;
};

/* Prepares a framer for lines of at most max_line bytes (terminator excluded). */
void ndjson_framer_init(struct ndjson_framer *f, size_t max_line);

/* Releases the framer's buffer. Accepts NULL. */
void ndjson_framer_free(struct ndjson_framer *f);

/* Feeds bytes. Calls cb for every line they complete. Returns 0, -EMSGSIZE when a line
 * passes max_line (and on every later call), -ENOMEM, or the callback's non-zero value. */
int ndjson_framer_feed(struct ndjson_framer *f, const char *data, size_t len, ndjson_line_cb cb,
                       void *arg);

/* End of stream: delivers a last line that had no terminator. Same returns as feed. */
int ndjson_framer_finish(struct ndjson_framer *f, ndjson_line_cb cb, void *arg);

/* Bytes held for a line not yet complete. */
size_t ndjson_framer_pending(const struct ndjson_framer *f);

#endif
