/* hbuf: a growable byte buffer with a hard maximum set at creation.
 *
 * Every buffer in herd has a bound; this is the one type that enforces it. The bytes are
 * always followed by a NUL that is not counted in len, so text can be used as a C string. */
#ifndef HERD_HBUF_H
#define HERD_HBUF_H

#include <stdarg.h>
#include <stddef.h>

struct hbuf {
    char *data; /* NULL until the first append; NUL-terminated when not NULL */
    size_t len;
    size_t cap;
    size_t max; /* len never exceeds this */
};

/* Prepares an empty buffer that will refuse to grow past max bytes. Allocates nothing. */
void hbuf_init(struct hbuf *b, size_t max);

/* Frees the storage; the buffer is empty and reusable afterwards. Accepts NULL. */
void hbuf_free(struct hbuf *b);

/* Empties the buffer but keeps its storage. */
void hbuf_reset(struct hbuf *b);

/* Appends len bytes. Returns 0, -EMSGSIZE if the result would pass max (nothing appended),
 * or -ENOMEM. */
int hbuf_append(struct hbuf *b, const void *p, size_t len);

/* Appends a C string. Same returns as hbuf_append. */
int hbuf_append_str(struct hbuf *b, const char *s);

/* Appends formatted text. Same returns as hbuf_append. */
int hbuf_printf(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hbuf_vprintf(struct hbuf *b, const char *fmt, va_list ap);

/* Drops the first n bytes (all if n >= len). */
void hbuf_consume(struct hbuf *b, size_t n);

/* Hands the storage to the caller (caller frees with free()); the buffer is left empty.
 * Returns an empty allocated string rather than NULL when nothing was appended, or NULL on
 * allocation failure. */
char *hbuf_take(struct hbuf *b, size_t *len_out);

#endif
