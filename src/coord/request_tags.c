#include "coord/request_tags.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Adds one tag (len bytes at s), trimmed and cut, unless it is empty, known or one too many. */
static void add(json_t *tags, const char *s, size_t len)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0 || json_array_size(tags) >= REQUEST_TAGS_MAX)
        return;
    if (len > REQUEST_TAG_LEN) {
        len = REQUEST_TAG_LEN;
        while (len && ((unsigned char)s[len] & 0xC0) == 0x80) /* inside a UTF-8 sequence */
            len--;
    }
    json_t *t = json_stringn(s, len);
    if (!t) /* not valid UTF-8 */
        return;
    size_t i;
    json_t *v;
    json_array_foreach (tags, i, v) {
        if (json_equal(v, t)) {
            json_decref(t);
            return;
        }
    }
    json_array_append_new(tags, t);
}

char *request_tags(const json_t *body, const char *header)
{
    json_t *tags = json_array();
    if (!tags)
        return NULL;
    const json_t *list = json_object_get(json_object_get(body, "metadata"), "tags");
    size_t i;
    const json_t *v;
    json_array_foreach (list, i, v) {
        if (json_is_string(v))
            add(tags, json_string_value(v), json_string_length(v));
    }
    for (const char *p = header; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        add(tags, p, n);
        p = comma ? comma + 1 : p + n;
    }
    const json_t *user = json_object_get(body, "user");
    if (json_is_string(user) && json_string_length(user) > 0) {
        char tag[REQUEST_TAG_LEN + 8];
        snprintf(tag, sizeof tag, "user:%s", json_string_value(user));
        add(tags, tag, strlen(tag));
    }
    char *out = json_array_size(tags) ? json_dumps(tags, JSON_COMPACT) : NULL;
    json_decref(tags);
    return out;
}
