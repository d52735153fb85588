#include "net/http_head.h"

#include <string.h>

void http_head_begin(struct http_head *h, size_t max_bytes, size_t max_lines)
{
    memset(h, 0, sizeof *h);
    h->max_bytes = max_bytes;
    h->max_lines = max_lines;
}

enum http_head_state http_head_feed(struct http_head *h, const unsigned char *p, size_t n)
{
    /* Limits are checked at every byte, so that the outcome does not depend on how the bytes
     * were cut into reads. The request line is not a header: max_lines headers make
     * max_lines + 1 lines. */
    for (size_t i = 0; i < n && h->state == HTTP_HEAD_READING; i++) {
        h->bytes++;
        if (h->lines == 0 && h->line0_len + 1 < sizeof h->line0 && p[i] != '\r' && p[i] != '\n') {
            h->line0[h->line0_len++] = (char)p[i];
            h->line0[h->line0_len] = '\0';
        }
        if (p[i] == '\n') {
            if (h->line_len == 0 && h->lines > 0)
                h->state = HTTP_HEAD_DONE;
            else if (h->line_len > 0)
                h->lines++;
            h->line_len = 0;
        } else if (p[i] != '\r') {
            h->line_len++;
        }
        if (h->state != HTTP_HEAD_READING)
            break;
        if (h->lines > h->max_lines + 1)
            h->state = HTTP_HEAD_TOO_MANY;
        else if (h->bytes > h->max_bytes)
            h->state = HTTP_HEAD_TOO_LARGE;
    }
    return h->state;
}
