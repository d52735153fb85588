/* httpc: outgoing HTTP on the program's event loop, over libcurl's multi interface.
 *
 * One httpc per loop. Each transfer streams: the body arrives through on_data as libcurl
 * receives it (de-chunked). A consumer whose own client is slow calls httpc_pause and later
 * httpc_resume, so a slow client holds back its upstream instead of filling memory.
 *
 * Ownership: httpc_start returns a transfer owned by httpc. It ends in exactly one of two
 * ways: on_done is called (the transfer is freed when it returns), or the owner calls
 * httpc_cancel (no callback is called after that; it is freed from the loop). Callbacks may
 * start new transfers: one started inside libcurl's processing is added from the loop. */
#ifndef HERD_HTTPC_H
#define HERD_HTTPC_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/hbuf.h"

struct httpc;
struct httpc_req;

struct httpc_opts {
    const char *method; /* "GET" (default), "POST", "DELETE", "HEAD", ... */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, may be NULL */
    const void *body;           /* copied; may be NULL */
    size_t body_len;
    long connect_timeout_ms; /* default 5000 */
    long idle_timeout_ms;    /* fail when no byte arrives this long while not paused;
                                0 = never (a model may take minutes to load) */
    long total_timeout_ms;   /* 0 = no limit */
};

struct httpc_callbacks {
    /* The status line and headers have arrived (before any body byte). May be NULL. */
    void (*on_response)(struct httpc_req *q, long status, void *arg);
    /* Body bytes, borrowed for the call. May be NULL (body discarded). */
    void (*on_data)(struct httpc_req *q, const char *data, size_t len, void *arg);
    /* The transfer ended: rc 0 when the whole response arrived, else a negative errno
     * (-ECONNREFUSED, -ETIMEDOUT, -ECONNRESET, -EPROTO, ...) with a message. */
    void (*on_done)(struct httpc_req *q, int rc, const char *err, void *arg);
};

/* Creates a client on base. NULL on failure. */
struct httpc *httpc_new(struct event_base *base);

/* https:// transfers from now on verify servers against the PEM CA certificates in path
 * (copied; NULL or "": the system's CAs). Verification is never turned off: a server that
 * fails it fails the transfer with -EACCES and libcurl's reason ("SSL certificate problem:
 * ..."). */
void httpc_set_ca_file(struct httpc *c, const char *path);

/* Cancels every transfer (no callbacks) and frees the client. Accepts NULL. */
void httpc_free(struct httpc *c);

/* Starts a transfer. cb is copied; arg is passed to every callback. NULL on failure (bad
 * options or out of memory); no callback is called then. */
struct httpc_req *httpc_start(struct httpc *c, const struct httpc_opts *o,
                              const struct httpc_callbacks *cb, void *arg);

/* Stops delivering body bytes until httpc_resume; takes effect before the next delivery. */
void httpc_pause(struct httpc_req *q);

/* Resumes delivery. Must not be called from inside one of q's own callbacks. */
void httpc_resume(struct httpc_req *q);

/* True while paused. */
bool httpc_paused(const struct httpc_req *q);

/* Ends the transfer early; no callback of q is called afterwards. Safe from any callback. */
void httpc_cancel(struct httpc_req *q);

/* The response status (0 before it is known). */
long httpc_status(const struct httpc_req *q);

/* A response header, or NULL; borrowed until the callback returns. */
const char *httpc_header(struct httpc_req *q, const char *name);

/* Transfers in progress. */
size_t httpc_active(const struct httpc *c);

/* ---- whole-response convenience ---- */

/* Called with the complete body (borrowed for the call). rc as for on_done. */
typedef void (*httpc_fetch_cb)(long status, const char *body, size_t len, int rc, const char *err,
                               void *arg);

/* Runs a transfer and collects up to max_body bytes (more fails with -EMSGSIZE). Returns the
 * transfer (which may be cancelled with httpc_cancel) or NULL. */
struct httpc_req *httpc_fetch(struct httpc *c, const struct httpc_opts *o, size_t max_body,
                              httpc_fetch_cb cb, void *arg);

#endif
