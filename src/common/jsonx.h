/* jsonx: small helpers over jansson for reading request bodies and writing replies. */
#ifndef HERD_JSONX_H
#define HERD_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hbuf.h"

/* The string member key of obj, or NULL when absent or not a string. Borrowed from obj. */
const char *jsonx_str(const json_t *obj, const char *key);

/* The string member key of obj, or def. Borrowed. */
const char *jsonx_str_or(const json_t *obj, const char *key, const char *def);

/* Reads an integer member (a JSON integer, or a real with no fraction). Returns 0 and sets
 * *out, -ENOENT when absent or null, -EINVAL when of another type. */
int jsonx_int(const json_t *obj, const char *key, int64_t *out);

/* Reads a number member (integer or real). Same returns as jsonx_int. */
int jsonx_num(const json_t *obj, const char *key, double *out);

/* Reads a boolean member. Returns its value, or def when absent or not a boolean. */
bool jsonx_bool_or(const json_t *obj, const char *key, bool def);

/* Parses a request body. On failure returns NULL and writes a message for a 400 reply
 * ("invalid JSON at line 1 column 5: ..." or "missing request body"). The caller owns the
 * returned reference. */
json_t *jsonx_parse_body(const char *body, size_t len, char *err, size_t errlen);

/* Serialises v compactly into out (appending). Returns 0, -EMSGSIZE or -ENOMEM. */
int jsonx_dump_append(const json_t *v, struct hbuf *out);

/* Serialises v compactly into a new string the caller frees with free(); NULL on failure. */
char *jsonx_dump(const json_t *v, size_t *len_out);

/* Replaces every byte that is not part of a valid UTF-8 sequence with '?', in place, so the
 * text can go into JSON. Returns the number of bytes replaced. */
size_t jsonx_utf8_sanitize(char *s);

#endif
