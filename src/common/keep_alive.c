/* keep_alive: Ollama's keep_alive value, as its clients write it. */
#include "common/keep_alive.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's time.ParseDuration, for the units Ollama users write. */
static int parse_go_duration(const char *s, double *out)
{
    const char *p = s;
    int sign = 1;
    if (*p == '-' || *p == '+') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    if (strcmp(p, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (!*p)
        return -EINVAL;
    double total = 0;
    bool any_unit = false;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -EINVAL;
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            return -EINVAL;
        p = end;
        double unit;
        if (strncmp(p, "ns", 2) == 0) {
            unit = 1e-9;
            p += 2;
        } else if (strncmp(p, "us", 2) == 0) {
            unit = 1e-6;
            p += 2;
        } else if (strncmp(p, "\xC2\xB5s", 3) == 0) {
            unit = 1e-6;
            p += 3;
        } else if (strncmp(p, "ms", 2) == 0) {
            unit = 1e-3;
            p += 2;
        } else if (*p == 's') {
            unit = 1;
            p++;
        } else if (*p == 'm') {
            unit = 60;
            p++;
        } else if (*p == 'h') {
            unit = 3600;
            p++;
        } else {
            return any_unit || *p ? -EINVAL : -ENOENT;
        }
        any_unit = true;
        total += v * unit;
    }
    *out = sign * total;
    return 0;
}

int keep_alive_parse(const json_t *v, double *seconds, char *err, size_t errlen)
{
    if (json_is_number(v)) {
        *seconds = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int rc = parse_go_duration(s, seconds);
        if (rc == 0)
            return 0;
        if (rc == -ENOENT)
            snprintf(err, errlen, "time: missing unit in duration \"%s\"", s);
        else
            snprintf(err, errlen, "time: invalid duration \"%s\"", s);
        return -EINVAL;
    }
    snprintf(err, errlen, "keep_alive must be a number of seconds or a duration string");
    return -EINVAL;
}
