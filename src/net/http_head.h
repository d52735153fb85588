/* http_head: counts a request head's bytes and lines as they arrive, until its blank line,
 * and keeps the start of its request line (to answer in the API's shape). Only counting:
 * evhttp parses the head. Pure; fed whatever pieces the socket gives. */
#ifndef HERD_HTTP_HEAD_H
#define HERD_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

enum http_head_state {
    HTTP_HEAD_READING = 0, /* the head has not ended */
    HTTP_HEAD_DONE,        /* its blank line came: the rest is body */
    HTTP_HEAD_TOO_LARGE,   /* more bytes than max_bytes before the blank line */
    HTTP_HEAD_TOO_MANY,    /* more header lines than max_lines */
};

struct http_head {
    size_t max_bytes;
    size_t max_lines;
    enum http_head_state state;
    size_t bytes; /* of the head, counted up to where it ended or broke a limit */
    size_t lines; /* non-empty lines, the request line included */
    size_t line_len;
    char line0[24]; /* the start of the request line ("POST /v1/chat/..."), NUL-terminated */
    size_t line0_len;
};

/* Starts counting a new head with these limits. */
void http_head_begin(struct http_head *h, size_t max_bytes, size_t max_lines);

/* Counts n more bytes of the head; bytes after its end (or after a limit broke) are not looked
 * at. Returns the state. */
enum http_head_state http_head_feed(struct http_head *h, const unsigned char *p, size_t n);

#endif
