/* Feeds the request-head counter arbitrary bytes, whole and in pieces cut where the input
 * says: the state, the bytes and lines counted and the request line kept must not depend on
 * how the bytes arrived, and the counts must stay within what was fed and the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max_bytes = 16 + data[0] * 4; /* small limits, so that both are reached */
    size_t max_lines = data[1] % 16;
    uint8_t cut = data[2] ? data[2] : 1;
    data += 3;
    size -= 3;
    struct http_head whole, pieces;
    http_head_begin(&whole, max_bytes, max_lines);
    http_head_begin(&pieces, max_bytes, max_lines);
    http_head_feed(&whole, data, size);
    for (size_t at = 0; at < size;) {
        size_t n = size - at < cut ? size - at : cut;
        http_head_feed(&pieces, data + at, n);
        at += n;
    }
    if (whole.state != pieces.state || whole.bytes != pieces.bytes || whole.lines != pieces.lines ||
        strcmp(whole.line0, pieces.line0) != 0)
        abort();
    if (whole.bytes > size || strlen(whole.line0) >= sizeof whole.line0)
        abort();
    if (whole.state == HTTP_HEAD_READING &&
        (whole.bytes > max_bytes || whole.lines > max_lines + 1))
        abort();
    return 0;
}
