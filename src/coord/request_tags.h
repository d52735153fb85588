/* request_tags: the tags a request carries, for per-app analytics. Pure.
 *
 * Three sources, merged in this order without duplicates: the body's metadata.tags (a list
 * of strings), the X-Herd-Tags header (comma-separated), and the OpenAI "user" field, which
 * becomes "user:<value>". Tags are trimmed; empty ones are dropped; at most
 * REQUEST_TAGS_MAX are kept, each cut to REQUEST_TAG_LEN bytes (on a character boundary). */
#ifndef HERD_REQUEST_TAGS_H
#define HERD_REQUEST_TAGS_H

#include <jansson.h>

#define REQUEST_TAGS_MAX 16
#define REQUEST_TAG_LEN 64

/* The tags of a request as a JSON array text (malloc'ed, the caller frees), or NULL when it
 * has none. body may be NULL; header is X-Herd-Tags or NULL. */
char *request_tags(const json_t *body, const char *header);

#endif
