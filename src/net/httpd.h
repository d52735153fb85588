/* httpd: the HTTP server of every herd program, a wrapper over libevent's evhttp.
 *
 * evhttp has traps that this file handles once, for everyone:
 *  - A client that disconnects while its reply is unfinished leaves a detached request that
 *    nobody frees; here the owner is told (close callback) and the request is freed.
 *  - evhttp only notices a disconnect while it is writing; here a watcher also notices one
 *    while the handler is still waiting (a queued request, a model loading).
 *  - The connection close callback outlives the request on keep-alive connections; here it is
 *    unhooked when the reply ends.
 *  - evhttp's read timeout also cuts a reply in progress (a model slow to load or to produce a
 *    token); here the read timeout applies only to idle connections and header reads, and a
 *    reply is only cut when the client accepts no bytes for write_stall_timeout.
 *  - evhttp buffers output without limit; here httpd_stream_write reports when the client is
 *    slow so the producer can pause, and calls back when the output has drained.
 *  - Size limits are set (evhttp's defaults are unbounded); error bodies are JSON.
 *  - evhttp has no notion of a connection's life; here every connection is tracked from accept
 *    to close, so that clients get limits per address, a deadline for sending their headers
 *    (slowloris), and a limit on the size and number of headers with a JSON error.
 *
 * Ownership: a handler receives a request that the server owns. The handler (or code it hands
 * the request to) must finish it exactly once, with httpd_reply*() or httpd_stream_end(); the
 * request is freed then and must not be used again. If the client goes away first, the close
 * callback (if set) is called and the request is freed when it returns. */
#ifndef HERD_HTTPD_H
#define HERD_HTTPD_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/httpd_types.h"

struct httpd;
struct httpd_req;

enum httpd_method {
    HTTPD_GET = 1 << 0,
    HTTPD_POST = 1 << 1,
    HTTPD_HEAD = 1 << 2,
    HTTPD_PUT = 1 << 3,
    HTTPD_DELETE = 1 << 4,
    HTTPD_OPTIONS = 1 << 5,
    HTTPD_PATCH = 1 << 6,
    HTTPD_OTHER = 1 << 7,
};

typedef void (*httpd_handler)(struct httpd_req *r, void *arg);
typedef void (*httpd_event_cb)(struct httpd_req *r, void *arg);
/* Runs before a route's handler: returns true to go on, or false after finishing r itself (a
 * refused request). */
typedef bool (*httpd_gate_fn)(struct httpd_req *r, void *arg);
/* Told of every request when it is finished: status is what was answered (0 when the client
 * left first, or the reply was aborted before it started). */
typedef void (*httpd_done_fn)(struct httpd_req *r, int status, void *arg);

/* Creates a server on base. limits may be NULL for the defaults (zero fields take defaults
 * too). Returns NULL on allocation failure. Free with httpd_free. Sets SIGPIPE to be ignored
 * (a write to a closed connection must fail, not kill the program). */
struct httpd *httpd_new(struct event_base *base, const struct httpd_limits *limits);

/* Closes the listeners and every connection; requests in progress get their close callback.
 * Accepts NULL. */
void httpd_free(struct httpd *h);

/* Serves HTTPS from now on with the PEM certificate chain and private key at these paths.
 * Returns 0, or -1 with the reason in err (file unreadable, key does not match...). */
int httpd_use_tls(struct httpd *h, const char *cert_file, const char *key_file, char *err,
                  size_t errlen);

/* Sets the gate run before every route's handler (NULL: none). */
void httpd_set_gate(struct httpd *h, httpd_gate_fn fn, void *arg);
/* Sets how errors look (httpd_reply_error, and the server's own: limits, broken heads): fn
 * builds the body for a request's path and status, and says its content type. NULL: the
 * default, {"error": msg} as application/json. */
void httpd_set_error_format(struct httpd *h, httpd_error_fn fn, void *arg);
/* Sets the observer of finished requests (NULL: none). */
void httpd_set_done(struct httpd *h, httpd_done_fn fn, void *arg);

void httpd_get_stats(const struct httpd *h, struct httpd_stats *out);

/* Listens on host:port (port 0 picks a free port, written to *bound_port if not NULL).
 * Returns 0 or a negative errno. */
int httpd_listen(struct httpd *h, const char *host, int port, int *bound_port);

/* Adds a route: methods is a mask of enum httpd_method; path is exact ("/api/tags") or a
 * prefix ending in '*' ("/v1/models/" followed by a star). First match wins. A path that matches
 * with another method gets 405; no match gets 404 (both plain text, as Ollama answers). 0 or
 * -ENOMEM. */
int httpd_route(struct httpd *h, unsigned methods, const char *path, httpd_handler fn, void *arg);

/* Requests being handled right now (tests and drain logic use it). */
size_t httpd_active_requests(const struct httpd *h);

/* Replies finished by their handler whose bytes are still being written to the client. A
 * client that disconnects during that time is not subtracted, so a drain waiting for this to
 * reach zero needs a deadline too. */
size_t httpd_flushing(const struct httpd *h);

/* ---- request (all strings borrowed until the request is finished) ---- */

enum httpd_method httpd_req_method(const struct httpd_req *r);
const char *httpd_req_method_name(const struct httpd_req *r);
/* The path as sent, percent-encoding kept, without the query. */
const char *httpd_req_path(const struct httpd_req *r);
/* A decoded query parameter, or NULL. */
const char *httpd_req_query(struct httpd_req *r, const char *key);
/* A request header (case-insensitive name), or NULL. */
const char *httpd_req_header(const struct httpd_req *r, const char *name);
/* Calls fn for each request header in order. */
void httpd_req_foreach_header(const struct httpd_req *r,
                              void (*fn)(const char *name, const char *value, void *arg),
                              void *arg);
/* The body, NUL-terminated (the NUL is not counted); "" with *len 0 when there is none. */
const char *httpd_req_body(const struct httpd_req *r, size_t *len);
/* The client's address ("127.0.0.1"). */
const char *httpd_req_peer(const struct httpd_req *r);
/* The server this request came to. */
struct httpd *httpd_req_server(const struct httpd_req *r);
/* Time the request arrived (monotonic seconds). */
double httpd_req_started(const struct httpd_req *r);
/* Whether it came over TLS. */
bool httpd_req_tls(const struct httpd_req *r);
/* Who sent it, as the gate established (a key's name), or NULL. The gate sets it (copied, cut
 * to 63 bytes). */
void httpd_req_set_principal(struct httpd_req *r, const char *name);
const char *httpd_req_principal(const struct httpd_req *r);

/* Called once if the client disconnects before the request is finished. The request is freed
 * right after cb returns: cb must drop every reference to it. */
void httpd_req_on_close(struct httpd_req *r, httpd_event_cb cb, void *arg);

/* ---- reply ---- */

/* Adds a response header; call before httpd_reply*() or httpd_stream_start(). */
void httpd_add_header(struct httpd_req *r, const char *name, const char *value);

/* Sends a whole reply and finishes the request. body may be NULL when len is 0. A HEAD
 * request gets the headers (with the body's Content-Length) and no body. */
void httpd_reply(struct httpd_req *r, int status, const char *content_type, const void *body,
                 size_t len);
/* Replies with v serialised compactly; steals the reference. extra_newline appends '\n' (the
 * OpenAI layer's encoder ends bodies with one). */
void httpd_reply_json(struct httpd_req *r, int status, const char *content_type, json_t *v,
                      bool extra_newline);
/* Replies with plain text ("text/plain; charset=utf-8"). */
void httpd_reply_text(struct httpd_req *r, int status, const char *text);
/* Reads the integer query parameter name into *out: def when absent, else a number in
 * min..max. false after answering r with a 400 that says so. */
bool httpd_query_long(struct httpd_req *r, const char *name, long def, long min, long max,
                      long *out);

/* Replies with an error in the shape the server's error format gives r's path. */
void httpd_reply_error(struct httpd_req *r, int status, const char *msg);

/* Starts a streamed reply (chunked transfer encoding). */
void httpd_stream_start(struct httpd_req *r, int status, const char *content_type);
/* Queues bytes for the client. Returns 0, or 1 when the queued output is above the high-water
 * mark: the producer should pause until the drain callback. */
int httpd_stream_write(struct httpd_req *r, const void *data, size_t len);
/* Bytes queued for the client and not yet written to the socket. */
size_t httpd_stream_pending(const struct httpd_req *r);
/* Called once, the next time the queued output has been written out after a write returned 1
 * (or at once from the loop if it already has). */
void httpd_stream_on_drain(struct httpd_req *r, httpd_event_cb cb, void *arg);
/* Ends a streamed reply and finishes the request. */
void httpd_stream_end(struct httpd_req *r);
/* Drops the client connection without a proper end (the client sees a cut stream) and
 * finishes the request. No close callback is called. */
void httpd_abort(struct httpd_req *r);

#endif
