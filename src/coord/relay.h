/* relay: a node's reply on its way to the client, in its own framing (NDJSON, SSE or one
 * whole body), read beside the bytes for what the trace needs: whether the final chunk came,
 * an error, and the token counts. The bytes are relayed as they came, except that usage herd
 * asked for on the client's behalf is taken out of an OpenAI stream. No sockets: what goes to
 * the client goes through the writer it is given. */
#ifndef HERD_RELAY_H
#define HERD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hbuf.h"
#include "common/ndjson.h"
#include "common/sse.h"

enum relay_framing { RELAY_WHOLE, RELAY_NDJSON, RELAY_SSE };

/* Writes bytes to the client; returns nonzero when the client's queue is past its mark (the
 * producer should pause). */
typedef int (*relay_write_fn)(void *arg, const void *data, size_t len);

struct relay {
    relay_write_fn write;
    void *arg;
    enum relay_framing framing;
    bool strip_usage; /* the usage herd asked for stays with herd */
    bool framer_ok;   /* the framer has not given up (a line over its limit) */
    struct ndjson_framer nd;
    struct sse_framer sse;
    struct hbuf whole; /* a non-streamed reply, for its token counts (bounded) */
    bool slow;         /* the client passed its mark during the last feed */
    /* What the reply said. */
    bool saw_done;
    bool saw_error;
    int64_t prompt_tokens; /* -1 until known */
    int64_t completion_tokens;
    /* Durations Ollama reported on its final chunk, in seconds; -1 until known. */
    double prompt_s, output_s, load_s, total_s;
    char error[2048]; /* the node's error message, "" when none */
};

/* Sets r up to relay through write(arg, ...); strip_usage as above. relay_free releases it. */
void relay_init(struct relay *r, bool strip_usage, relay_write_fn write, void *arg);
/* Frees the framers and buffers. Accepts a relay never initialised if zeroed. */
void relay_free(struct relay *r);

/* A new reply begins (a new attempt): its framing from its Content-Type (NULL: a whole
 * body); what an earlier reply said is forgotten. */
void relay_begin(struct relay *r, const char *content_type);

/* Relays a piece of the reply and notes what it says. Returns 1 when the client is slow. */
int relay_feed(struct relay *r, const char *data, size_t len);

/* The reply ended: reads its last line or its whole body. */
void relay_finish(struct relay *r);

/* Writes an error in the reply's own framing, for a stream that broke after it started (an
 * NDJSON {"error"} line, an SSE error event; nothing for a whole body). */
void relay_write_error(struct relay *r, const char *msg);

#endif
